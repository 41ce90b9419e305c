"""The poller engine: runs every event source mapping this node holds, whatever its source.

    MappingEngine.run (supervised)   claims mappings by lease (store.claim), renews them, reconciles
      └── QueueRunner per mapping    1..limit pollers, scaling with the backlog
            └── poller               collect a batch -> filter -> invoke -> delete what succeeded
      └── StreamRunner per mapping   (streams.py) a reader per shard, checkpoints

A batch is collected until it holds BatchSize records, the batching window has passed, or it would
exceed the 6 MB invocation payload (the record that does not fit opens the next batch). Records no
filter matches are deleted without an invocation, as AWS does for SQS. The invocation is the
normal synchronous invoke path, so the function's reserved and the account's concurrency apply; a
throttle backs off and retries the same batch (its records kept hidden) instead of failing it.
While a batch runs, its records' visibility is extended, so a slow function does not see its own
batch delivered again. A function error fails the batch (its records become visible again when their
visibility timeout ends; the queue's redrive policy moves them to its dead-letter queue after
maxReceiveCount); with ReportBatchItemFailures only the records named fail.

Durability: a record is deleted only after the invocation that carried it succeeded, and only while
this poller still holds it (its receipt is the latest), so a `kill -9` at any moment loses nothing
(the record reappears and runs again: at least once, as AWS promises) and never deletes a copy
another receiver holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, cast

from lambdad.clock import SYSTEM, Clock
from lambdad.errors import ApiError, LambdadError, ResourceNotFoundException, TooManyRequestsException
from lambdad.invoke.invoker import InvokeMeta, InvokeResult
from lambdad.mappings.filters import RecordFilter
from lambdad.mappings.outcomes import Counters, Resolve, Run, failed_items
from lambdad.mappings.records import DELETING, STREAM_KINDS, EventSourceMapping
from lambdad.mappings.registry import TABLE, Mappings
from lambdad.mappings.source import QueueReader, QueueRecord, QueueSource, Source, StreamSource
from lambdad.mappings.streams import SCHEMA as CHECKPOINTS_SCHEMA
from lambdad.mappings.streams import SendFailure, StreamRunner
from lambdad.store import StoreError
from lambdad.supervisor import TaskSet

log = logging.getLogger("lambdad.mappings")

#: the invocation payload limit (synchronous invoke)
MAX_PAYLOAD = 6 * 1024 * 1024
_ENVELOPE = len(b'{"Records": []}')
#: a receive with nothing to do waits this long (SQS's longest poll); a send wakes it at once
LONG_POLL = 20.0
#: pollers per mapping without ScalingConfig (AWS scales SQS to 1,250; a single machine needs fewer)
DEFAULT_MAX_POLLERS = 100
#: at most one more poller per this many seconds while a backlog lasts (AWS adds pollers gradually too)
SCALE_UP_EVERY = 0.1
LEASE_SECONDS = 60.0
THROTTLE_BACKOFF = (0.05, 5.0)
PROBLEM_BACKOFF = (0.5, 30.0)



class QueueRunner:
    """The pollers of one queue mapping."""

    def __init__(self, engine: MappingEngine, mapping: EventSourceMapping, source: QueueSource) -> None:
        self.engine = engine
        self.mapping = mapping
        self.source = source
        self.filter = RecordFilter(mapping.filters, "body")
        self.counters = Counters()
        self.last_result = "No records processed"
        self.last_error = ""
        self.stopping = False
        self._reader: QueueReader | None = None
        self._pollers: set[asyncio.Task[None]] = set()
        self._receiving: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._scaled_at = 0.0

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def limit(self) -> int:
        return self.mapping.maximum_concurrency or self.engine.max_pollers

    def update(self, mapping: EventSourceMapping) -> None:
        """New settings apply from each poller's next batch."""
        if mapping.filters != self.mapping.filters:
            self.filter = RecordFilter(mapping.filters, "body")
        if mapping.source_arn != self.mapping.source_arn:
            self._reader = None
        self.mapping = mapping
        self._trim()

    def start(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        task = self.engine.tasks.spawn(self._poll(), name=f"esm-poller-{self.mapping.uuid}")
        self._pollers.add(task)
        task.add_done_callback(self._poller_done)

    def _poller_done(self, task: asyncio.Task[None]) -> None:
        self._pollers.discard(task)
        self._receiving.discard(task)
        if not self._pollers:
            if self.stopping:
                self._done.set()
            else:  # a poller ended through its own guard (a bug): keep one running
                self._spawn()

    @property
    def pollers(self) -> int:
        return len(self._pollers)

    def _trim(self) -> None:
        """Fewer pollers than running (a lower MaximumConcurrency): idle ones go first."""
        extra = len(self._pollers) - self.limit
        for task in list(self._receiving)[:max(0, extra)]:
            task.cancel()

    async def stop(self) -> None:
        """Stop polling now (receives are cancelled); invocations in progress finish and are acknowledged."""
        self.stopping = True
        for task in list(self._receiving):
            task.cancel()
        if self._pollers:
            await self._done.wait()

    def reader(self) -> QueueReader:
        if self._reader is None:
            self._reader = self.source.open(self.mapping.source_arn)
        return self._reader

    # -- one poller -----------------------------------------------------------------------------
    async def _poll(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        backoff = PROBLEM_BACKOFF[0]
        carry: list[QueueRecord] = []
        while not self.stopping:
            if len(self._pollers) > self.limit:
                return
            if not carry and not self._may_poll():
                # No function to run, or a role that may no longer read the queue: receive nothing
                # (a receive would count against the messages' maxReceiveCount), look again later.
                self._receiving.add(me)
                try:
                    await self.engine.clock.sleep(backoff)
                except asyncio.CancelledError:
                    if self.stopping or len(self._pollers) > self.limit:
                        return
                    raise
                finally:
                    self._receiving.discard(me)
                backoff = min(PROBLEM_BACKOFF[1], backoff * 2)
                continue
            self._receiving.add(me)
            try:
                batch, carry = await self._collect(carry)
            except asyncio.CancelledError:
                if self.stopping or len(self._pollers) > self.limit:
                    self._release(carry)
                    return
                raise
            except Exception as exc:  # the queue is gone, the store is locked... (or a bug: logged)
                self._receiving.discard(me)
                if not isinstance(exc, (LambdadError, StoreError)):
                    log.exception("event source mapping %s: receive failed", self.mapping.uuid)
                self._problem(exc)
                self._reader = None
                await self.engine.clock.sleep(backoff)
                backoff = min(PROBLEM_BACKOFF[1], backoff * 2)
                continue
            finally:
                self._receiving.discard(me)
            backoff = PROBLEM_BACKOFF[0]
            if not batch:
                if len(self._pollers) > 1:
                    return  # scale down: one poller is enough for an idle queue
                continue
            if not self._may_poll():  # revoked while this poller waited in its long poll: hand back
                self._release(batch + carry)
                carry = []
                continue
            self._scale_up()
            try:
                await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the mapping: logged, and the batch runs again
                log.exception("event source mapping %s: batch failed", self.mapping.uuid)
                self._problem(exc)
                await self.engine.clock.sleep(backoff)
        self._release(carry)

    def _may_poll(self) -> bool:
        """As AWS polls with the execution role: the function must exist and its role may still call the
        poller's APIs on the queue (a queue policy withdrawn, a role's policy narrowed: polling stops)."""
        m = self.mapping
        try:
            fv, _ = self.engine.resolve(m.account, m.region, m.function_name, m.qualifier)
        except ResourceNotFoundException as exc:
            self._problem(exc, "PROBLEM: Function not found")
            return False
        denied = self.source.denied_action(fv.role, m.function_name, m.source_arn)
        if denied is not None:
            error = f"the execution role may not call sqs:{denied} on {m.source_arn}"
            if error != self.last_error:
                log.warning("event source mapping %s: %s", m.uuid, error)
            self.last_error = error
            self.last_result = f"PROBLEM: The provided execution role does not have permissions to call {denied} on SQS"
            return False
        return True

    def _release(self, records: list[QueueRecord]) -> None:
        if records and self._reader is not None:
            try:
                self._reader.release(records)
            except (LambdadError, StoreError):
                pass  # they become visible when their visibility timeout ends

    def _scale_up(self) -> None:
        now = self.engine.clock.monotonic()
        if len(self._pollers) >= self.limit or self.stopping or now - self._scaled_at < SCALE_UP_EVERY:
            return
        self._scaled_at = now
        try:
            backlog = self.reader().backlog()
        except (LambdadError, StoreError):
            return
        if backlog > 0:
            self._spawn()

    async def _collect(self, carry: list[QueueRecord]) -> tuple[list[QueueRecord], list[QueueRecord]]:
        """(a batch, records received that do not fit it)."""
        m = self.mapping
        reader = self.reader()
        clock = self.engine.clock
        records = list(carry)
        deadline: float | None = clock.monotonic() + m.batching_window_s if records and m.batching_window_s else None
        # Records wait in the batch for up to the window: keep them hidden meanwhile, as a running batch.
        refreshed = clock.monotonic()
        while len(records) < m.batch_size and _payload(records) < MAX_PAYLOAD:
            if not records:
                wait = LONG_POLL
            elif deadline is not None:
                wait = deadline - clock.monotonic()
                if wait <= 0:
                    break
                half = reader.visibility_timeout / 2
                if half > 0:
                    if clock.monotonic() - refreshed >= half:
                        reader.extend(records, reader.visibility_timeout)
                        refreshed = clock.monotonic()
                    wait = min(wait, half)
            else:
                wait = 0.0
            got = await reader.receive(m.batch_size - len(records), wait)
            if got and not records:
                refreshed = clock.monotonic()
            if not got:
                if not records or deadline is None:
                    break
                continue
            if deadline is None and m.batching_window_s:
                deadline = clock.monotonic() + m.batching_window_s
            records.extend(got)
        size = _ENVELOPE
        for i, record in enumerate(records):
            size += record.size
            if size > MAX_PAYLOAD and i > 0:
                return records[:i], records[i:]
        return records, []

    async def _process(self, batch: list[QueueRecord]) -> None:
        m = self.mapping
        reader = self.reader()
        if self.filter:
            verdicts = [self.filter.matches(r.event) for r in batch]
            keep = [r for r, ok in zip(batch, verdicts, strict=True) if ok]
            dropped = [r for r, ok in zip(batch, verdicts, strict=True) if not ok]
            if dropped:
                reader.delete(dropped)
                self.counters.filtered += len(dropped)
            batch = keep
            if not batch:
                return
        payload = json.dumps({"Records": [r.event for r in batch]}).encode()
        self.counters.in_flight += len(batch)
        heartbeat = self.engine.tasks.spawn(self._heartbeat(reader, batch), name=f"esm-heartbeat-{m.uuid}")
        try:
            result = await self._invoke(m, payload)
        finally:
            heartbeat.cancel()
            self.counters.in_flight -= len(batch)
        if result is None:
            return  # not invoked (function gone, stopping): the records become visible again in time
        ids = [r.id for r in batch]
        failed = failed_items(result, ids, m.reports_item_failures)
        if failed and reader.fifo:
            failed = _fifo_failures(batch, failed)
        done = [r for r in batch if r.id not in failed]
        reader.delete(done)
        self.counters.invocations += 1
        self.counters.processed += len(done)
        self.counters.failed += len(batch) - len(done)
        self.last_result = "OK" if not failed else "PROBLEM: Function call failed"

    async def _invoke(self, m: EventSourceMapping, payload: bytes) -> InvokeResult | None:
        backoff = THROTTLE_BACKOFF[0]
        while True:
            try:
                fv, invoked_arn = self.engine.resolve(m.account, m.region, m.function_name, m.qualifier)
                return await self.engine.run(fv, payload, InvokeMeta(invoked_arn))
            except TooManyRequestsException:
                self.counters.throttles += 1
                self.last_result = "PROBLEM: Lambda function throttled"
                if self.stopping:
                    return None
                await self.engine.clock.sleep(backoff)
                backoff = min(THROTTLE_BACKOFF[1], backoff * 2)
            except ResourceNotFoundException as exc:
                self._problem(exc, "PROBLEM: Function not found")
                await self.engine.clock.sleep(PROBLEM_BACKOFF[0])
                return None
            except ApiError as exc:
                self._problem(exc)
                return None

    async def _heartbeat(self, reader: QueueReader, batch: list[QueueRecord]) -> None:
        """Keep a running batch hidden: every third of a visibility timeout, another visibility timeout."""
        while True:
            timeout = reader.visibility_timeout
            if timeout <= 0:
                return
            await self.engine.clock.sleep(timeout / 3)
            try:
                reader.extend(batch, timeout)
            except (LambdadError, StoreError) as exc:
                log.warning("event source mapping %s: visibility not extended: %s", self.mapping.uuid, exc)

    def _problem(self, exc: BaseException, result: str | None = None) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if error != self.last_error:  # the server log says why a mapping is stuck (health shows no ARNs)
            log.warning("event source mapping %s: %s", self.mapping.uuid, error)
        self.last_error = error
        self.last_result = result or f"PROBLEM: {exc}"

    def statistics(self) -> dict[str, Any]:
        c = self.counters
        return {"state": self.mapping.state, "pollers": self.pollers, "in_flight": c.in_flight,
                "processed": c.processed, "invocations": c.invocations, "failed": c.failed, "filtered": c.filtered,
                "throttles": c.throttles, "last_result": self.last_result}


def _payload(records: list[QueueRecord]) -> int:
    return _ENVELOPE + sum(r.size for r in records)


def _fifo_failures(batch: list[QueueRecord], failed: set[str]) -> set[str]:
    """In a FIFO batch, a failed record fails every later record of its group (their order must hold)."""
    out = set(failed)
    broken: set[str | None] = set()
    for r in batch:
        if r.group in broken:
            out.add(r.id)
        elif r.id in failed:
            broken.add(r.group)
    return out


class MappingEngine:
    def __init__(self, mappings: Mappings, sources: Mapping[str, Source], resolve: Resolve, run: Run, *,
                 owner: str, clock: Clock = SYSTEM, max_pollers: int = DEFAULT_MAX_POLLERS,
                 lease_seconds: float = LEASE_SECONDS, send_failure: SendFailure | None = None) -> None:
        self.mappings = mappings
        #: delivers a stream mapping's on-failure record to its destination (SQS, SNS)
        self.send_failure = send_failure
        self.sources = dict(sources)
        self.resolve = resolve
        self.run = run
        self.owner = owner
        self.clock = clock
        self.max_pollers = max_pollers
        self.lease_seconds = lease_seconds
        self.tasks = TaskSet("event-source-mappings")
        self.runners: dict[str, QueueRunner | StreamRunner] = {}
        self._held: set[str] = set()
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._settling: set[str] = set()
        mappings.store.ensure_schema(CHECKPOINTS_SCHEMA)
        mappings.add_listener(self._on_change)

    def _on_change(self, mapping: EventSourceMapping) -> None:
        self._dirty.add(mapping.uuid)
        self._wake.set()

    # -- the supervised loop ----------------------------------------------------------------------
    async def run_engine(self) -> None:
        store = self.mappings.store
        store.release(TABLE, owner=self.owner)  # this node id's previous process is dead (the data dir lock)
        self._dirty.update(m.uuid for m in self.mappings.all())
        next_maintain = 0.0
        while True:
            now = self.clock.monotonic()
            if now >= next_maintain:
                self._maintain()
                next_maintain = now + self.lease_seconds / 3
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            if dirty - self._held:
                self._claim()
            for uuid in dirty:
                self._reconcile(uuid)
            if self._dirty:
                continue
            # Woken by a change, or by the clock when the leases are due (a FakeClock in tests).
            timer = self.clock.call_later(max(0.01, next_maintain - self.clock.monotonic()), self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    def _claim(self) -> None:
        rows = self.mappings.store.claim(TABLE, owner=self.owner, now=self.clock.time(),
                                         lease_seconds=self.lease_seconds, limit=1000, key="uuid")
        for row in rows:
            if row["uuid"] not in self._held:
                self._held.add(row["uuid"])
                self.mappings.reload(row["uuid"])
                self._dirty.add(row["uuid"])

    def _maintain(self) -> None:
        """Renew our leases (a mapping another node took meanwhile stops here) and claim free ones."""
        store = self.mappings.store
        try:
            if self._held:
                kept = store.renew(TABLE, owner=self.owner, keys=sorted(self._held),
                                   until=self.clock.time() + self.lease_seconds, key="uuid")
                for uuid in self._held - kept:
                    self._held.discard(uuid)
                    self._dirty.add(uuid)
                for uuid in kept:  # changes made through another node's API
                    before = self.mappings.find(uuid)
                    after = self.mappings.reload(uuid)
                    if before is None or after is None or after.state != before.state:
                        self._dirty.add(uuid)
            self._claim()
        except StoreError as exc:  # a locked database: the next round renews with time to spare
            log.warning("event source mapping leases not renewed: %s", exc)

    def _reconcile(self, uuid: str) -> None:
        mapping = self.mappings.find(uuid)
        runner = self.runners.get(uuid)
        held = uuid in self._held
        if mapping is None or not held or mapping.state == DELETING or not mapping.polling:
            if runner is not None:
                self.runners.pop(uuid, None)
                self.tasks.spawn(self._stop_then_settle(runner, uuid if held else None), name=f"esm-stop-{uuid}")
            elif mapping is not None and held:
                self.mappings.settle(uuid)
            return
        if runner is None:
            source = self.sources.get(mapping.kind)
            if source is None:
                return
            runner = self._runner(mapping, source)
            self.runners[uuid] = runner
            runner.start()
        else:
            runner.update(mapping)
        settled = self.mappings.settle(uuid)
        if settled is not None:
            runner.update(settled)

    def _runner(self, mapping: EventSourceMapping, source: Source) -> QueueRunner | StreamRunner:
        if mapping.kind in STREAM_KINDS:
            return StreamRunner(self, mapping, cast(StreamSource, source))
        return QueueRunner(self, mapping, cast(QueueSource, source))

    async def _stop_then_settle(self, runner: QueueRunner | StreamRunner, uuid: str | None) -> None:
        await runner.stop()
        if uuid is not None:
            mapping = self.mappings.find(uuid)
            if mapping is not None and (mapping.state == DELETING or not mapping.polling):
                self.mappings.settle(uuid)
            else:
                self._dirty.add(uuid)  # enabled again meanwhile
                self._wake.set()

    async def aclose(self) -> None:
        for runner in list(self.runners.values()):
            runner.stopping = True
        await self.tasks.aclose()
        self.runners.clear()

    # -- observability --------------------------------------------------------------------------
    def runner_statistics(self, uuid: str) -> dict[str, Any] | None:
        runner = self.runners.get(uuid)
        return runner.statistics() if runner is not None else None

    def last_result(self, uuid: str) -> str | None:
        runner = self.runners.get(uuid)
        return runner.last_result if runner is not None else None

    def statistics(self) -> dict[str, Any]:
        """For /_lambdad/health, which anyone may read: counters and states by mapping UUID, no ARNs (a
        mapping's source and function are its owner's to see, through GetEventSourceMapping)."""
        everything = self.mappings.all()
        per: dict[str, Any] = {}
        for m in everything:
            stats = self.runner_statistics(m.uuid)
            per[m.uuid] = stats if stats is not None else {"state": m.state, "pollers": 0}
        return {"mappings": len(everything), "held": len(self._held), "running": len(self.runners),
                "pollers": sum(r.pollers for r in self.runners.values()),
                "in_flight": sum(r.counters.in_flight for r in self.runners.values()),
                "processed": sum(r.counters.processed for r in self.runners.values()),
                "by_mapping": per}
