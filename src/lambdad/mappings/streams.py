"""Stream mappings (DynamoDB Streams, Kinesis): one reader per shard, in order, checkpointed.

A reader starts after its shard's checkpoint (the last sequence number processed, in the engine's
`esm_checkpoints` table) or, without one, at the mapping's StartingPosition. Each batch is retried
until it succeeds, its records are older than MaximumRecordAgeInSeconds, or MaximumRetryAttempts
retries failed; BisectBatchOnFunctionError splits a failing batch in two and retries each half.
Records given up on are described to DestinationConfig.OnFailure (AWS's invocation record, with the
batch's shard and sequence range) and then checkpointed past, so a poisoned record does not stop the
shard forever. With ReportBatchItemFailures the checkpoint advances to just before the first failed
record and the retry starts there.

Not built yet: ParallelizationFactor above 1 (a shard is processed one batch at a time) and
TumblingWindowInSeconds (accepted, validated, shown; no state is carried between invocations).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from lambdad.clock import Clock
from lambdad.errors import ApiError, LambdadError, TooManyRequestsException
from lambdad.invoke.invoker import InvokeMeta, InvokeResult
from lambdad.mappings.filters import RecordFilter
from lambdad.mappings.outcomes import Counters, Resolve, Run, failed_items
from lambdad.mappings.records import EventSourceMapping, StreamOptions
from lambdad.mappings.registry import Mappings
from lambdad.mappings.source import StreamRecord, StreamSource
from lambdad.store import StoreError
from lambdad.supervisor import TaskSet

log = logging.getLogger("lambdad.mappings")

SCHEMA = """
CREATE TABLE IF NOT EXISTS esm_checkpoints (
    uuid TEXT NOT NULL,
    shard TEXT NOT NULL,
    sequence TEXT NOT NULL,
    PRIMARY KEY (uuid, shard)
);
"""
SHARD_REFRESH = 5.0
READ_WAIT = 1.0
RETRY_BACKOFF = (0.1, 10.0)

#: (account, destination ARN, record JSON) -> delivered; raises when it cannot be
SendFailure = Callable[[str, str, bytes], Awaitable[None]]


class Host(Protocol):
    """What a runner uses of the engine that owns it (engine.py's MappingEngine)."""

    mappings: Mappings
    clock: Clock
    tasks: TaskSet
    send_failure: SendFailure | None

    resolve: Resolve
    run: Run


class StreamRunner:
    def __init__(self, engine: Host, mapping: EventSourceMapping, source: StreamSource) -> None:
        self.engine = engine
        self.mapping = mapping
        self.source = source
        self.filter = RecordFilter(mapping.filters, "data" if mapping.kind == "kinesis" else None,
                                   base64_data=mapping.kind == "kinesis")
        self.counters = Counters()
        self.last_result = "No records processed"
        self.last_error = ""
        self.stopping = False
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._main: asyncio.Task[None] | None = None

    @property
    def pollers(self) -> int:
        return len(self._readers)

    @property
    def options(self) -> StreamOptions:
        return self.mapping.stream or StreamOptions()

    def update(self, mapping: EventSourceMapping) -> None:
        if mapping.filters != self.mapping.filters:
            self.filter = RecordFilter(mapping.filters, self.filter.data_field, base64_data=self.filter.base64_data)
        self.mapping = mapping

    def start(self) -> None:
        self._main = self.engine.tasks.spawn(self._watch_shards(), name=f"esm-shards-{self.mapping.uuid}")

    async def stop(self) -> None:
        self.stopping = True
        tasks = [t for t in (self._main, *self._readers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- shards ---------------------------------------------------------------------------------
    async def _watch_shards(self) -> None:
        while not self.stopping:
            try:
                for shard in self.source.shards(self.mapping.source_arn):
                    if shard not in self._readers:
                        self._readers[shard] = self.engine.tasks.spawn(
                            self._read_shard(shard), name=f"esm-shard-{self.mapping.uuid}-{shard}")
            except (LambdadError, StoreError) as exc:
                self._problem(exc)
            await self.engine.clock.sleep(SHARD_REFRESH)

    def checkpoint(self, shard: str) -> str | None:
        row = self.engine.mappings.store.one("SELECT sequence FROM esm_checkpoints WHERE uuid=? AND shard=?",
                                             (self.mapping.uuid, shard))
        return str(row["sequence"]) if row is not None else None

    def _save_checkpoint(self, shard: str, sequence: str) -> None:
        self.engine.mappings.store.execute(
            "INSERT INTO esm_checkpoints (uuid, shard, sequence) VALUES (?,?,?) ON CONFLICT (uuid, shard) "
            "DO UPDATE SET sequence=excluded.sequence", (self.mapping.uuid, shard, sequence))

    async def _read_shard(self, shard: str) -> None:
        s = self.options
        iterator: str | None = self.source.iterator(self.mapping.source_arn, shard, s.starting_position,
                                                    s.starting_position_timestamp, self.checkpoint(shard))
        while iterator is not None and not self.stopping:
            batch = await self.source.read(iterator, self.mapping.batch_size, READ_WAIT)
            iterator = batch.next_iterator
            if batch.records:
                await self._deliver(shard, batch.records)

    # -- one batch, until it is done with -----------------------------------------------------------
    async def _deliver(self, shard: str, records: list[StreamRecord]) -> None:
        parts = [records]
        attempts = 0
        backoff = RETRY_BACKOFF[0]
        while parts and not self.stopping:
            part = parts[0]
            s = self.options
            if s.maximum_record_age_s != -1:
                now = self.engine.clock.time()
                expired = [r for r in part if now - r.arrival > s.maximum_record_age_s]
                if expired:
                    await self._give_up(shard, expired, "RecordAgeExceeded", attempts, None)
                    part = [r for r in part if r not in expired]
            wanted = [r for r in part if self.filter.matches(r.event)]
            self.counters.filtered += len(part) - len(wanted)
            if not wanted:
                self._advance(shard, part)
                parts.pop(0)
                continue
            result = await self._invoke(wanted)
            if result is None:  # throttled or unreachable: the same batch again, no attempt used
                await self.engine.clock.sleep(backoff)
                backoff = min(RETRY_BACKOFF[1], backoff * 2)
                continue
            self.counters.invocations += 1
            failed = failed_items(result, [r.sequence for r in wanted], self.mapping.reports_item_failures)
            if not failed:
                self.counters.processed += len(wanted)
                self.last_result = "OK"
                self._advance(shard, part)
                parts.pop(0)
                attempts = 0
                continue
            self.last_result = "PROBLEM: Function call failed"
            # The first failed record and everything after it are retried; what precedes it is done.
            first = min(i for i, r in enumerate(wanted) if r.sequence in failed)
            done = wanted[:first]
            if done:
                self.counters.processed += len(done)
                self._advance(shard, done)
            rest = [r for r in part if _after_or_at(r, wanted[first])]
            attempts += 1
            if s.maximum_retry_attempts != -1 and attempts > s.maximum_retry_attempts:
                self.counters.failed += len(rest)
                await self._give_up(shard, rest, "RetryAttemptsExhausted", attempts, result)
                self._advance(shard, rest)
                parts.pop(0)
                attempts = 0
                continue
            if s.bisect_on_error and len(rest) > 1:
                half = len(rest) // 2
                parts[0:1] = [rest[:half], rest[half:]]
            else:
                parts[0] = rest
            await self.engine.clock.sleep(backoff)
            backoff = min(RETRY_BACKOFF[1], backoff * 2)

    def _advance(self, shard: str, records: list[StreamRecord]) -> None:
        if records:
            self._save_checkpoint(shard, records[-1].sequence)

    async def _invoke(self, records: list[StreamRecord]) -> InvokeResult | None:
        m = self.mapping
        payload = json.dumps(self.source.wrap(m.source_arn, records)).encode()
        self.counters.in_flight += len(records)
        try:
            fv, invoked_arn = self.engine.resolve(m.account, m.region, m.function_name, m.qualifier)
            return await self.engine.run(fv, payload, InvokeMeta(invoked_arn))
        except TooManyRequestsException:
            self.counters.throttles += 1
            self.last_result = "PROBLEM: Lambda function throttled"
            return None
        except ApiError as exc:
            self._problem(exc)
            return None
        finally:
            self.counters.in_flight -= len(records)

    async def _give_up(self, shard: str, records: list[StreamRecord], condition: str, attempts: int,
                       result: InvokeResult | None) -> None:
        """Describe the records to the OnFailure destination (AWS's record), if there is one."""
        target = self.options.on_failure
        if not target or not records or self.engine.send_failure is None:
            return
        m = self.mapping
        info_key = "KinesisBatchInfo" if m.kind == "kinesis" else "DDBStreamBatchInfo"
        record: dict[str, Any] = {
            "requestContext": {"requestId": str(uuidlib.uuid4()), "functionArn": m.function_arn,
                               "condition": condition, "approximateInvokeCount": attempts},
            "responseContext": {"statusCode": 200, "executedVersion": result.executed_version if result else "$LATEST",
                                "functionError": (result.function_error if result else None) or ""},
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.engine.clock.time())),
            info_key: {"shardId": shard, "startSequenceNumber": records[0].sequence,
                       "endSequenceNumber": records[-1].sequence,
                       "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
                       "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
                       "batchSize": len(records), "streamArn": m.source_arn},
        }
        try:
            await self.engine.send_failure(m.account, target, json.dumps(record).encode())
        except (LambdadError, StoreError) as exc:
            log.warning("event source mapping %s: on-failure record not delivered to %s: %s", m.uuid, target, exc)

    def _problem(self, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if error != self.last_error:  # the server log says why a mapping is stuck (health shows no ARNs)
            log.warning("event source mapping %s: %s", self.mapping.uuid, error)
        self.last_error = error
        self.last_result = f"PROBLEM: {exc}"

    def statistics(self) -> dict[str, Any]:
        c = self.counters
        return {"state": self.mapping.state, "pollers": self.pollers, "in_flight": c.in_flight,
                "processed": c.processed, "invocations": c.invocations, "failed": c.failed, "filtered": c.filtered,
                "throttles": c.throttles, "last_result": self.last_result}


def _seq_key(sequence: str) -> tuple[int, int | str]:
    return (0, int(sequence)) if sequence.isdigit() else (1, sequence)


def _after_or_at(record: StreamRecord, first: StreamRecord) -> bool:
    return _seq_key(record.sequence) >= _seq_key(first.sequence)


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))
