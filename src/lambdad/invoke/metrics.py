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
            self.values[value] = self.values.get(value, 0.0) + 1


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
        self._dims: dict[tuple[str, str], list[Dims]] = {}
        #: cumulative counts by (account, region, function, metric), for /metrics (Prometheus)
        self.counters: dict[tuple[str, str, str, str], float] = {}
        self.duration_sum: dict[tuple[str, str, str], float] = {}

    # -- recording (the hot path) --------------------------------------------------------------------
    def _dim_sets(self, arn: str, executed_version: str | None) -> tuple[str, str, str, list[Dims]]:
        region, account, name, qualifier = _parse_arn(arn)
        cache_key = (arn, executed_version or "")
        sets = self._dims.get(cache_key)
        if sets is None:
            sets = [(), (("FunctionName", name),)]
            if qualifier is not None:
                resource = f"{name}:{qualifier}"
                sets.append((("FunctionName", name), ("Resource", resource)))
                if executed_version is not None and not qualifier.isdigit() and qualifier != "$LATEST":
                    sets.append((("ExecutedVersion", executed_version), ("FunctionName", name),
                                 ("Resource", resource)))
            if len(self._dims) > 10_000:  # ARNs come and go; the cache must not grow forever
                self._dims.clear()
            self._dims[cache_key] = sets
        return region, account, name, sets

    def _add(self, account: str, region: str, metric: str, sets: list[Dims], value: float) -> None:
        minute = int(self.clock.time() // 60 * 60)
        unit = _UNITS.get(metric, "Count")
        keep = metric in _WITH_VALUES
        if keep:
            value = round(value, 2)
        for dims in sets:
            key = (account, region, metric, dims, unit, minute)
            stat = self._pending.get(key)
            if stat is None:
                stat = self._pending[key] = Stat()
            stat.add(value, keep)

    def _count(self, account: str, region: str, name: str, metric: str, value: float = 1.0) -> None:
        key = (account, region, name, metric)
        self.counters[key] = self.counters.get(key, 0.0) + value

    def invoked(self, arn: str, executed_version: str, error: bool, duration_ms: float | None) -> None:
        region, account, name, sets = self._dim_sets(arn, executed_version)
        self._add(account, region, "Invocations", sets, 1.0)
        self._add(account, region, "Errors", sets, 1.0 if error else 0.0)
        self._count(account, region, name, "Invocations")
        if error:
            self._count(account, region, name, "Errors")
        if duration_ms is not None:
            self._add(account, region, "Duration", sets, duration_ms)
            key = (account, region, name)
            self.duration_sum[key] = self.duration_sum.get(key, 0.0) + duration_ms / 1000.0

    def throttled(self, arn: str) -> None:
        region, account, name, sets = self._dim_sets(arn, None)
        self._add(account, region, "Throttles", sets, 1.0)
        self._count(account, region, name, "Throttles")

    def concurrency(self, arn: str, function_in_flight: int, account_in_flight: int,
                    unreserved_in_flight: int | None) -> None:
        region, account, _, sets = self._dim_sets(arn, None)
        self._add(account, region, "ConcurrentExecutions", sets[:1], float(account_in_flight))
        self._add(account, region, "ConcurrentExecutions", sets[1:], float(function_in_flight))
        if unreserved_in_flight is not None:
            self._add(account, region, "UnreservedConcurrentExecutions", sets[:1], float(unreserved_in_flight))

    def provisioned_utilization(self, arn: str, used: int, provisioned: int) -> None:
        if provisioned > 0:
            region, account, _, sets = self._dim_sets(arn, None)
            self._add(account, region, "ProvisionedConcurrencyUtilization", sets[1:], used / provisioned)

    def async_event(self, arn: str, metric: str, value: float = 1.0) -> None:
        """AsyncEventsReceived, AsyncEventAge (ms), AsyncEventsDropped, DeadLetterErrors,
        DestinationDeliveryFailures."""
        region, account, name, sets = self._dim_sets(arn, None)
        self._add(account, region, metric, sets, value)
        if metric != "AsyncEventAge":
            self._count(account, region, name, metric, value)

    # -- flushing ------------------------------------------------------------------------------------
    def drain(self) -> list[Sample]:
        pending, self._pending = self._pending, {}
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
        delay = self.flush_interval
        try:
            while True:
                await self.clock.sleep(delay)
                try:
                    self.flush()
                    delay = self.flush_interval
                except StoreError as exc:
                    if delay == self.flush_interval:
                        log.warning("Lambda metrics not written yet: %s", exc)
                    delay = min(delay * 2, 60.0)
        finally:
            try:
                self.flush()
            except StoreError:
                pass

    def function_totals(self) -> Iterator[tuple[tuple[str, str, str, str], float]]:
        yield from self.counters.items()
