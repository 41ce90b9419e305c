"""Lambda's own metrics (`AWS/Lambda`): counted in memory as invocations end, written in batches.

The invoke path only adds to an in-memory aggregate per (metric, dimensions, minute): a dict lookup
and a few additions, never a store write. A supervised loop (`run_flusher`) hands what accumulated
to the sink (CloudWatch's metric store) every `flush_interval` seconds, and CloudWatch asks for a
flush before it reads (`flush`), so a query sees every invocation that has ended. The dimensions
are AWS's: each figure for the account (no dimension), by FunctionName, by FunctionName and
Resource (`name:alias` or `name:version`, for qualified invocations), and for an alias by
ExecutedVersion too. Cumulative totals per function are kept for Prometheus (`totals`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from lambdad.clock import SYSTEM, Clock
from lambdad.store.errors import StoreError
from lambdad.supervisor import flush_periodically

log = logging.getLogger("lambdad.invoke")

NAMESPACE = "AWS/Lambda"
Dims = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Stat:
    samples: float = 0.0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    values: dict[float, float] = field(default_factory=dict)

    def add(self, value: float, keep_value: bool) -> None:
        self.samples += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        if keep_value:
            values = self.values
            values[value] = values.get(value, 0.0) + 1


class Sample(NamedTuple):
    """One aggregated minute of one metric, as the sink stores it."""

    account: str
    region: str
    namespace: str
    name: str
    dims: Dims
    unit: str
    timestamp: float
    stat: Stat


Sink = Callable[[list[Sample]], None]
_Key = tuple[str, str, str, Dims, str, int]
_UNITS = {"Duration": "Milliseconds", "AsyncEventAge": "Milliseconds", "ConcurrentExecutions": "Count",
          "UnreservedConcurrentExecutions": "Count", "ProvisionedConcurrencyUtilization": "None"}
# Figures whose percentiles matter keep their values (rounded, so a minute holds few distinct ones).
_WITH_VALUES = frozenset(("Duration", "AsyncEventAge"))


def _parse_arn(arn: str) -> tuple[str, str, str, str | None]:
    """(region, account, function name, qualifier) of an invoked function ARN."""
    parts = arn.split(":")
    region, account, name = (parts[3], parts[4], parts[6]) if len(parts) >= 7 else ("", "", arn)
    return region, account, name, parts[7] if len(parts) > 7 else None


class LambdaMetrics:
    def __init__(self, *, clock: Clock = SYSTEM, flush_interval: float = 10.0) -> None:
        self.clock = clock
        self.flush_interval = flush_interval
        self.sink: Sink | None = None  # set once CloudWatch exists (the server's wiring)
        self._pending: dict[_Key, Stat] = {}
        self._slots: dict[tuple[str, str, str, int, int], list[Stat]] = {}
        self._targets: dict[tuple[str, str], tuple[str, str, str, list[Dims]]] = {}
        #: cumulative counts by (account, region, function, metric), for /metrics (Prometheus)
        self.counters: dict[tuple[str, str, str, str], float] = {}
        self.duration_sum: dict[tuple[str, str, str], float] = {}

    # -- recording (the hot path) --------------------------------------------------------------------
    # Each call finds the statistics it adds to with one lookup of a key of strings (whose hashes
    # Python caches): the slots of (ARN, executed version, metric, part, minute), built once a minute.
    def _target(self, arn: str, executed_version: str) -> tuple[str, str, str, list[Dims]]:
        cache_key = (arn, executed_version)
        found = self._targets.get(cache_key)
        if found is None:
            region, account, name, qualifier = _parse_arn(arn)
            sets: list[Dims] = [(), (("FunctionName", name),)]
            if qualifier is not None:
                resource = f"{name}:{qualifier}"
                sets.append((("FunctionName", name), ("Resource", resource)))
                if executed_version and not qualifier.isdigit() and qualifier != "$LATEST":
                    sets.append((("ExecutedVersion", executed_version), ("FunctionName", name),
                                 ("Resource", resource)))
            if len(self._targets) > 10_000:  # ARNs come and go; the cache must not grow forever
                self._targets.clear()
            found = self._targets[cache_key] = (account, region, name, sets)
        return found

    def _slot(self, arn: str, version: str, metric: str, part: int, minute: int) -> list[Stat]:
        """The statistics one figure adds to: part 0 every dimension set, 1 the account's only,
        2 all but the account's."""
        key = (arn, version, metric, part, minute)
        stats = self._slots.get(key)
        if stats is None:
            account, region, _, sets = self._target(arn, version)
            chosen = sets if part == 0 else sets[:1] if part == 1 else sets[1:]
            unit = _UNITS.get(metric, "Count")
            stats = []
            for dims in chosen:
                full = (account, region, metric, dims, unit, minute)
                stat = self._pending.get(full)
                if stat is None:
                    stat = self._pending[full] = Stat()
                stats.append(stat)
            self._slots[key] = stats
        return stats

    def _minute(self) -> int:
        return int(self.clock.time() // 60) * 60

    def _count(self, account: str, region: str, name: str, metric: str, value: float = 1.0) -> None:
        key = (account, region, name, metric)
        self.counters[key] = self.counters.get(key, 0.0) + value

    def invoked(self, arn: str, executed_version: str, error: bool, duration_ms: float | None) -> None:
        minute = self._minute()
        for stat in self._slot(arn, executed_version, "Invocations", 0, minute):
            stat.add(1.0, False)
        for stat in self._slot(arn, executed_version, "Errors", 0, minute):
            stat.add(1.0 if error else 0.0, False)
        account, region, name, _ = self._target(arn, executed_version)
        self._count(account, region, name, "Invocations")
        if error:
            self._count(account, region, name, "Errors")
        if duration_ms is not None:
            rounded = round(duration_ms, 2)  # a minute then holds few distinct values (percentiles)
            for stat in self._slot(arn, executed_version, "Duration", 0, minute):
                stat.add(rounded, True)
            key = (account, region, name)
            self.duration_sum[key] = self.duration_sum.get(key, 0.0) + duration_ms / 1000.0

    def throttled(self, arn: str) -> None:
        for stat in self._slot(arn, "", "Throttles", 0, self._minute()):
            stat.add(1.0, False)
        account, region, name, _ = self._target(arn, "")
        self._count(account, region, name, "Throttles")

    def concurrency(self, arn: str, function_in_flight: int, account_in_flight: int,
                    unreserved_in_flight: int | None) -> None:
        minute = self._minute()
        for stat in self._slot(arn, "", "ConcurrentExecutions", 1, minute):
            stat.add(float(account_in_flight), False)
        for stat in self._slot(arn, "", "ConcurrentExecutions", 2, minute):
            stat.add(float(function_in_flight), False)
        if unreserved_in_flight is not None:
            for stat in self._slot(arn, "", "UnreservedConcurrentExecutions", 1, minute):
                stat.add(float(unreserved_in_flight), False)

    def provisioned_utilization(self, arn: str, used: int, provisioned: int) -> None:
        if provisioned > 0:
            for stat in self._slot(arn, "", "ProvisionedConcurrencyUtilization", 2, self._minute()):
                stat.add(used / provisioned, False)

    def async_event(self, arn: str, metric: str, value: float = 1.0) -> None:
        """AsyncEventsReceived, AsyncEventAge (ms), AsyncEventsDropped, DeadLetterErrors,
        DestinationDeliveryFailures."""
        keep = metric in _WITH_VALUES
        for stat in self._slot(arn, "", metric, 0, self._minute()):
            stat.add(round(value, 2) if keep else value, keep)
        if metric != "AsyncEventAge":
            account, region, name, _ = self._target(arn, "")
            self._count(account, region, name, metric, value)

    # -- flushing ------------------------------------------------------------------------------------
    def drain(self) -> list[Sample]:
        pending, self._pending = self._pending, {}
        self._slots = {}
        return [Sample(account, region, NAMESPACE, metric, dims, unit, float(minute), stat)
                for (account, region, metric, dims, unit, minute), stat in pending.items()]

    def flush(self) -> None:
        """Hand what accumulated to the sink; kept for the next flush if the store refuses."""
        if self.sink is None or not self._pending:
            return
        samples = self.drain()
        try:
            self.sink(samples)
        except StoreError:
            for s in samples:  # merge back: nothing counted is lost while the store is unavailable
                key = (s.account, s.region, s.name, s.dims, s.unit, int(s.timestamp))
                stat = self._pending.get(key)
                if stat is None:
                    self._pending[key] = s.stat
                else:
                    stat.samples += s.stat.samples
                    stat.total += s.stat.total
                    stat.low, stat.high = min(stat.low, s.stat.low), max(stat.high, s.stat.high)
                    for v, c in s.stat.values.items():
                        stat.values[v] = stat.values.get(v, 0.0) + c
            raise

    async def run_flusher(self) -> None:
        await flush_periodically(self.flush, self.flush_interval, max_delay=60.0, what="Lambda metrics",
                                 clock=self.clock)

    def function_totals(self) -> Iterator[tuple[tuple[str, str, str, str], float]]:
        yield from self.counters.items()
