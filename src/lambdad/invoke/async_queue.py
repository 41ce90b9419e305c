"""Asynchronous invocation: a durable queue of accepted events, a dispatcher, retries, outcomes.

An event is accepted (202) only once its row is committed. The dispatcher keeps an in-memory
schedule of due times loaded from the table, runs due events through the normal invoke path, and
deletes a row only after its final outcome was delivered, so a `kill -9` at any moment re-runs the
event at the next start (at-least-once, as AWS promises).

Ownership comes from leases on the rows (the store's `claim`), so several nodes may share the table:
a node leases the events it accepts (in the same INSERT, so the fast path costs no extra write),
renews the leases it holds before they run out (`maintain`, every third of a lease), and claims due
events whose lease ran out (their node died). At start it frees the leases under its own node id (the
previous process with that id is dead: the data dir's lock says so) and claims everything free. The
in-memory heap only says when to wake up; an event whose lease was lost is dropped from it.

Retries follow AWS: a function error consumes one of `MaximumRetryAttempts` (default 2), waiting
`base_delay` then `2 * base_delay` (AWS: about 1 then 2 minutes); throttles and system errors are
retried with a growing back-off without consuming attempts, until `MaximumEventAgeInSeconds`
(default 6 h) has passed. The final outcome goes to the OnSuccess/OnFailure destinations and, for
failures, to the function's dead-letter queue.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lambdad.clock import SYSTEM, Clock
from lambdad.control.functions import FunctionVersion
from lambdad.control.records import EventInvokeConfig
from lambdad.errors import ApiError, RequestTooLargeException, ResourceNotFoundException, TooManyRequestsException
from lambdad.invoke.invoker import InvokeMeta, InvokeResult
from lambdad.invoke.metrics import LambdaMetrics
from lambdad.store import LEASE_COLUMNS, Store, StoreError

log = logging.getLogger("lambdad.async")

SCHEMA = """
CREATE TABLE IF NOT EXISTS async_events (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    function_name TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    received REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    state TEXT,
    lease_owner TEXT,
    lease_until REAL
);
"""
TABLE = "async_events"
#: How long a lease lasts unrenewed: how soon another node runs a dead node's events.
LEASE_SECONDS = 60.0
CLAIM_BATCH = 500

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 6 * 3600
_NO_CONFIG = EventInvokeConfig(0.0)  # a function without one: AWS defaults
# Throttled events poll for capacity; a short ceiling keeps a local queue responsive.
THROTTLE_BACKOFF_MAX = 5.0


@dataclass(slots=True)
class AsyncEvent:
    id: str
    account: str
    region: str
    function_name: str
    qualifier: str | None
    payload: bytes
    received: float
    attempts: int
    next_at: float
    throttles: int = 0
    #: the last response, for failure records when the age limit ends retries
    last: InvokeResult | None = None
    #: until when this node's lease on the row lasts (the store's clock: seconds since the epoch)
    lease_until: float = 0.0


Resolve = Callable[[str, str, str, str | None], tuple[FunctionVersion, str]]  # account, region, name, qualifier
Run = Callable[[FunctionVersion, bytes, InvokeMeta], Awaitable[InvokeResult]]
# Delivers an event's final outcome; returns the names of the deliveries that failed (metric names).
Outcome = Callable[[AsyncEvent, FunctionVersion, str, InvokeResult | None], Awaitable[list[str]]]
#: AWS's CloudWatch metrics of failed outcome deliveries, counted in `statistics()`
DELIVERY_METRICS = ("DestinationDeliveryFailures", "DeadLetterErrors")


class AsyncQueue:
    """The durable half: events accepted, stored, scheduled by due time (the dispatcher runs them)."""

    def __init__(self, store: Store, max_payload_bytes: int, *, owner: str = "local",
                 lease_seconds: float = LEASE_SECONDS, clock: Clock = SYSTEM, metrics: LambdaMetrics | None = None,
                 default_region: str = "us-east-1") -> None:
        self.store = store
        self.metrics = metrics  # AsyncEventsReceived (invoke/metrics.py)
        #: the region of events stored before regions (their function is in the default region)
        self.default_region = default_region
        self.max_payload_bytes = max_payload_bytes
        #: this node's name on its leases (DataDir.node_id)
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._heap: list[tuple[float, str]] = []
        self._events: dict[str, AsyncEvent] = {}
        self._wake = asyncio.Event()
        self.accepted = 0
        self.completed = 0
        store.ensure_schema(SCHEMA)
        for column, decl in LEASE_COLUMNS:  # a data dir from before leases
            store.add_column(TABLE, column, decl)
        store.add_column(TABLE, "region", "TEXT NOT NULL DEFAULT ''")  # '': stored before regions (the default)

    def load(self) -> int:
        """Take and schedule every stored event no other live node holds (those running at a crash run
        again); how many."""
        self.store.release(TABLE, owner=self.owner)
        return self._claim(None)

    def _claim(self, due_before: float | None) -> int:
        taken = 0
        while True:
            rows = self.store.claim(TABLE, owner=self.owner, now=self.clock.time(), due_before=due_before,
                                    lease_seconds=self.lease_seconds, limit=CLAIM_BATCH)
            for r in rows:
                ev = self._events.get(r["id"])
                if ev is not None:  # ours already, its lease had run out: held again
                    ev.lease_until = r["lease_until"]
                    continue
                self._schedule(AsyncEvent(r["id"], r["account"], r["region"] or self.default_region,
                                          r["function_name"], r["qualifier"],
                                          bytes(r["payload"]), r["received"], r["attempts"], r["next_at"],
                                          lease_until=r["lease_until"]))
                taken += 1
            if len(rows) < CLAIM_BATCH:
                return taken

    def maintain(self) -> int:
        """Renew the leases that end within half a lease (forgetting events another node took after
        ours ran out) and claim due events nobody holds; how many were claimed."""
        now = self.clock.time()
        short = [ev.id for ev in self._events.values() if ev.lease_until - now < self.lease_seconds / 2]
        if short:
            until = now + self.lease_seconds
            held = self.store.renew(TABLE, owner=self.owner, keys=short, until=until)
            for event_id in short:
                if event_id in held:
                    self._events[event_id].lease_until = until
                else:
                    self._lost(event_id)
        return self._claim(now)

    async def run_leases(self) -> None:
        while True:
            await self.clock.sleep(self.lease_seconds / 3)
            try:
                self.maintain()
            except StoreError as exc:  # a locked database: the next round renews with time to spare
                log.warning("async event leases not renewed: %s", exc)

    def _lost(self, event_id: str) -> None:
        ev = self._events.pop(event_id, None)
        if ev is not None:
            ev.lease_until = 0.0  # a running one that is retried must win its lease back first
            log.warning("async event %s is now run by another node (this one's lease ran out)", event_id)

    def accept(self, account: str, region: str, function_name: str, qualifier: str | None, payload: bytes,
               request_id: str | None = None) -> str:
        """Store the event durably and schedule it; returns its request id (the 202's x-amzn-RequestId).
        An event over the asynchronous payload limit is refused as AWS refuses it."""
        if len(payload) > self.max_payload_bytes:
            raise RequestTooLargeException(
                f"Request must be smaller than {self.max_payload_bytes} bytes for the InvokeFunction operation")
        event_id = request_id or str(uuid.uuid4())
        now = self.clock.time()
        lease_until = now + self.lease_seconds
        self.store.execute(
            "INSERT INTO async_events (id, account, region, function_name, qualifier, payload, received, attempts, "
            "next_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (event_id, account, region, function_name, qualifier, payload, now, now, self.owner, lease_until))
        self._schedule(AsyncEvent(event_id, account, region, function_name, qualifier, payload, now, 0, now,
                                  lease_until=lease_until))
        self.accepted += 1
        if self.metrics is not None:
            self.metrics.async_event(f"arn:aws:lambda:{region}:{account}:function:{function_name}"
                                     + (f":{qualifier}" if qualifier else ""), "AsyncEventsReceived")
        return event_id

    def _schedule(self, ev: AsyncEvent) -> None:
        self._events[ev.id] = ev
        heapq.heappush(self._heap, (ev.next_at, ev.id))
        self._wake.set()

    def pop_due(self, now: float) -> AsyncEvent | None:
        while self._heap and self._heap[0][0] <= now:
            _, event_id = heapq.heappop(self._heap)
            ev = self._events.get(event_id)
            if ev is None:
                continue
            if ev.lease_until <= now and not self._hold(ev, now):
                continue
            return ev
        return None

    def _hold(self, ev: AsyncEvent, now: float) -> bool:
        """Renew a lease that ran out before the event runs (maintain() lagged); False if it is lost."""
        try:
            held = self.store.renew(TABLE, owner=self.owner, keys=[ev.id], until=now + self.lease_seconds)
        except StoreError:
            heapq.heappush(self._heap, (now + 1.0, ev.id))  # a locked database: try again shortly
            return False
        if ev.id not in held:
            self._lost(ev.id)
            return False
        ev.lease_until = now + self.lease_seconds
        return True

    async def wait_for_work(self) -> None:
        """Until the next event is due or a new one arrives."""
        self._wake.clear()
        # The clock's timer, not wait_for's: a fake clock then decides when the next event is due.
        timer = None
        if self._heap:
            timer = self.clock.call_later(max(0.0, self._heap[0][0] - self.clock.time()), self._wake.set)
        try:
            await self._wake.wait()
        finally:
            if timer is not None:
                timer.cancel()

    def reschedule(self, ev: AsyncEvent, next_at: float, *, durable: bool) -> None:
        ev.next_at = next_at
        if durable:  # only a consumed attempt must survive a restart; throttle back-off need not
            # held until a lease past the retry, so that no renewal is needed while it waits
            lease_until = next_at + self.lease_seconds
            if not self.store.execute("UPDATE async_events SET attempts=?, next_at=?, lease_until=? "
                                      "WHERE id=? AND lease_owner=?",
                                      (ev.attempts, ev.next_at, lease_until, ev.id, self.owner)):
                self._lost(ev.id)
                return
            ev.lease_until = lease_until
        self._schedule(ev)

    def remove(self, ev: AsyncEvent) -> None:
        self.store.execute("DELETE FROM async_events WHERE id=?", (ev.id,))
        self._events.pop(ev.id, None)
        self.completed += 1

    @property
    def pending(self) -> int:
        return len(self._events)


class AsyncDispatcher:
    """The policy half: runs due events through the invoke path, retries, delivers outcomes."""

    def __init__(self, queue: AsyncQueue, resolve: Resolve, run: Run, on_outcome: Outcome, base_delay: float,
                 max_parallel: int = 256, *, clock: Clock | None = None, metrics: LambdaMetrics | None = None) -> None:
        self.queue = queue
        self.metrics = metrics  # AsyncEventAge, AsyncEventsDropped and the delivery failures (invoke/metrics.py)
        self.clock = clock if clock is not None else queue.clock  # one time for due times and ages
        self.resolve = resolve
        self.run = run
        self.on_outcome = on_outcome
        self.base_delay = base_delay
        self._slots = asyncio.Semaphore(max_parallel)
        self._running: set[asyncio.Task[None]] = set()
        self.delivery_failures = dict.fromkeys(DELIVERY_METRICS, 0)

    async def run_dispatcher(self) -> None:
        try:
            while True:
                while (ev := self.queue.pop_due(self.clock.time())) is not None:
                    await self._slots.acquire()
                    task = asyncio.create_task(self._process(ev))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                await self.queue.wait_for_work()
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    def _config(self, fv: FunctionVersion, qualifier: str | None) -> EventInvokeConfig:
        return fv.function.event_invoke_configs.get(qualifier or "$LATEST") or _NO_CONFIG

    async def _process(self, ev: AsyncEvent) -> None:
        try:
            await self._attempt(ev)
        except Exception:
            log.exception("async event %s failed unexpectedly; retrying later", ev.id)
            self._retry_later(ev, consume=False)
        finally:
            self._slots.release()

    async def _attempt(self, ev: AsyncEvent) -> None:
        try:
            fv, invoked_arn = self.resolve(ev.account, ev.region, ev.function_name, ev.qualifier)
        except ResourceNotFoundException:
            # The function is gone: AWS drops such events (nothing left to retry against).
            await self._finish(ev, None, "FunctionDeleted", None)
            return
        cfg = self._config(fv, ev.qualifier)
        max_age = DEFAULT_MAX_AGE if cfg.maximum_event_age_s is None else cfg.maximum_event_age_s
        max_retries = DEFAULT_RETRIES if cfg.maximum_retry_attempts is None else cfg.maximum_retry_attempts
        if self.clock.time() - ev.received > max_age:
            await self._finish(ev, fv, "EventAgeExceeded", ev.last)
            return
        meta = InvokeMeta(invoked_arn, request_id=ev.id)
        if self.metrics is not None:
            self.metrics.async_event(invoked_arn, "AsyncEventAge", (self.clock.time() - ev.received) * 1000.0)
        try:
            result = await self.run(fv, ev.payload, meta)
        except TooManyRequestsException:
            self._retry_later(ev, consume=False)
            return
        except ApiError as exc:
            log.warning("async event %s: %s; retrying", ev.id, exc.message)
            self._retry_later(ev, consume=False)
            return
        ev.last = result
        if result.function_error is None:
            await self._finish(ev, fv, "Success", result)
            return
        ev.attempts += 1
        if ev.attempts > max_retries:
            await self._finish(ev, fv, "RetriesExhausted", result)
            return
        delay = self.base_delay * (2 ** (ev.attempts - 1))
        if self.clock.time() + delay - ev.received > max_age:
            await self._finish(ev, fv, "EventAgeExceeded", result)
            return
        self._retry_later(ev, consume=True, delay=delay)

    def _retry_later(self, ev: AsyncEvent, *, consume: bool, delay: float | None = None) -> None:
        if delay is None:
            ev.throttles += 1
            delay = min(THROTTLE_BACKOFF_MAX, 0.05 * (2 ** min(ev.throttles, 10))) * random.uniform(0.5, 1.0)
        self.queue.reschedule(ev, self.clock.time() + delay, durable=consume)

    async def _finish(self, ev: AsyncEvent, fv: FunctionVersion | None, condition: str,
                      result: InvokeResult | None) -> None:
        if fv is not None:
            metrics = self.metrics
            arn = fv.function.latest.arn + (f":{ev.qualifier}" if ev.qualifier else "") if metrics else ""
            if metrics is not None and condition != "Success":
                metrics.async_event(arn, "AsyncEventsDropped")
            for metric in await self.on_outcome(ev, fv, condition, result):
                self.delivery_failures[metric] = self.delivery_failures.get(metric, 0) + 1
                if metrics is not None:
                    metrics.async_event(arn, metric)
        self.queue.remove(ev)

    def statistics(self) -> dict[str, int]:
        return {"pending": self.queue.pending, "running": len(self._running), "accepted": self.queue.accepted,
                "completed": self.queue.completed, **self.delivery_failures}


def invocation_record(ev: AsyncEvent, fv: FunctionVersion, condition: str,
                      result: InvokeResult | None) -> dict[str, Any]:
    """The destination record, in AWS's field order."""
    t = time.time()
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": fv.version}
    if result is not None and result.function_error:
        response["functionError"] = result.function_error
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z",
        "requestContext": {
            "requestId": ev.id,
            "functionArn": f"{fv.function.latest.arn}:{ev.qualifier or '$LATEST'}",
            "condition": condition,
            # attempts counts failed runs; a success is one more run
            "approximateInvokeCount": ev.attempts + 1 if condition == "Success" else ev.attempts,
        },
        "requestPayload": _json_or_text(ev.payload),
        "responseContext": response,
    }
    if result is not None:
        record["responsePayload"] = _json_or_text(result.payload)
    return record


def _json_or_text(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")
