"""Asynchronous invocation: a durable queue of accepted events, a dispatcher, retries, outcomes.

An event is accepted (202) only once its row is committed. The dispatcher keeps an in-memory
schedule of due times loaded from the table, runs due events through the normal invoke path, and
deletes a row only after its final outcome was delivered, so a `kill -9` at any moment re-runs the
event at the next start (at-least-once, as AWS promises).

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

from lambdad.control.functions import FunctionVersion
from lambdad.control.records import EventInvokeConfig
from lambdad.errors import ApiError, RequestTooLargeException, ResourceNotFoundException, TooManyRequestsException
from lambdad.invoke.invoker import InvokeMeta, InvokeResult
from lambdad.store import Store

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
    state TEXT
);
"""

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 6 * 3600
_NO_CONFIG = EventInvokeConfig(0.0)  # a function without one: AWS defaults
# Throttled events poll for capacity; a short ceiling keeps a local queue responsive.
THROTTLE_BACKOFF_MAX = 5.0


@dataclass(slots=True)
class AsyncEvent:
    id: str
    account: str
    function_name: str
    qualifier: str | None
    payload: bytes
    received: float
    attempts: int
    next_at: float
    throttles: int = 0
    #: the last response, for failure records when the age limit ends retries
    last: InvokeResult | None = None


Resolve = Callable[[str, str, str | None], tuple[FunctionVersion, str]]
Run = Callable[[FunctionVersion, bytes, InvokeMeta], Awaitable[InvokeResult]]
# Delivers an event's final outcome; returns the names of the deliveries that failed (metric names).
Outcome = Callable[[AsyncEvent, FunctionVersion, str, InvokeResult | None], Awaitable[list[str]]]
#: AWS's CloudWatch metrics of failed outcome deliveries, counted in `statistics()`
DELIVERY_METRICS = ("DestinationDeliveryFailures", "DeadLetterErrors")


class AsyncQueue:
    """The durable half: events accepted, stored, scheduled by due time (the dispatcher runs them)."""

    def __init__(self, store: Store, max_payload_bytes: int) -> None:
        self.store = store
        self.max_payload_bytes = max_payload_bytes
        self._heap: list[tuple[float, str]] = []
        self._events: dict[str, AsyncEvent] = {}
        self._wake = asyncio.Event()
        self.accepted = 0
        self.completed = 0
        store.ensure_schema(SCHEMA)

    def load(self) -> int:
        """Schedule every stored event (those running at a crash run again)."""
        rows = self.store.all("SELECT id, account, function_name, qualifier, payload, received, attempts, "
                              "next_at FROM async_events")
        for r in rows:
            ev = AsyncEvent(r["id"], r["account"], r["function_name"], r["qualifier"], bytes(r["payload"]),
                            r["received"], r["attempts"], r["next_at"])
            self._schedule(ev)
        return len(rows)

    def accept(self, account: str, function_name: str, qualifier: str | None, payload: bytes,
               request_id: str | None = None) -> str:
        """Store the event durably and schedule it; returns its request id (the 202's x-amzn-RequestId).
        An event over the asynchronous payload limit is refused as AWS refuses it."""
        if len(payload) > self.max_payload_bytes:
            raise RequestTooLargeException(
                f"Request must be smaller than {self.max_payload_bytes} bytes for the InvokeFunction operation")
        event_id = request_id or str(uuid.uuid4())
        now = time.time()
        self.store.execute(
            "INSERT INTO async_events (id, account, function_name, qualifier, payload, received, attempts, "
            "next_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
            (event_id, account, function_name, qualifier, payload, now, now))
        self._schedule(AsyncEvent(event_id, account, function_name, qualifier, payload, now, 0, now))
        self.accepted += 1
        return event_id

    def _schedule(self, ev: AsyncEvent) -> None:
        self._events[ev.id] = ev
        heapq.heappush(self._heap, (ev.next_at, ev.id))
        self._wake.set()

    def pop_due(self, now: float) -> AsyncEvent | None:
        while self._heap and self._heap[0][0] <= now:
            _, event_id = heapq.heappop(self._heap)
            ev = self._events.get(event_id)
            if ev is not None:
                return ev
        return None

    async def wait_for_work(self) -> None:
        """Until the next event is due or a new one arrives."""
        self._wake.clear()
        timeout = max(0.0, self._heap[0][0] - time.time()) if self._heap else None
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    def reschedule(self, ev: AsyncEvent, next_at: float, *, durable: bool) -> None:
        ev.next_at = next_at
        if durable:  # only a consumed attempt must survive a restart; throttle back-off need not
            self.store.execute("UPDATE async_events SET attempts=?, next_at=? WHERE id=?",
                               (ev.attempts, ev.next_at, ev.id))
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
                 max_parallel: int = 256) -> None:
        self.queue = queue
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
                while (ev := self.queue.pop_due(time.time())) is not None:
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
            fv, invoked_arn = self.resolve(ev.account, ev.function_name, ev.qualifier)
        except ResourceNotFoundException:
            # The function is gone: AWS drops such events (nothing left to retry against).
            await self._finish(ev, None, "FunctionDeleted", None)
            return
        cfg = self._config(fv, ev.qualifier)
        max_age = DEFAULT_MAX_AGE if cfg.maximum_event_age_s is None else cfg.maximum_event_age_s
        max_retries = DEFAULT_RETRIES if cfg.maximum_retry_attempts is None else cfg.maximum_retry_attempts
        if time.time() - ev.received > max_age:
            await self._finish(ev, fv, "EventAgeExceeded", ev.last)
            return
        meta = InvokeMeta(invoked_arn, request_id=ev.id)
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
        if time.time() + delay - ev.received > max_age:
            await self._finish(ev, fv, "EventAgeExceeded", result)
            return
        self._retry_later(ev, consume=True, delay=delay)

    def _retry_later(self, ev: AsyncEvent, *, consume: bool, delay: float | None = None) -> None:
        if delay is None:
            ev.throttles += 1
            delay = min(THROTTLE_BACKOFF_MAX, 0.05 * (2 ** min(ev.throttles, 10))) * random.uniform(0.5, 1.0)
        self.queue.reschedule(ev, time.time() + delay, durable=consume)

    async def _finish(self, ev: AsyncEvent, fv: FunctionVersion | None, condition: str,
                      result: InvokeResult | None) -> None:
        if fv is not None:
            for metric in await self.on_outcome(ev, fv, condition, result):
                self.delivery_failures[metric] = self.delivery_failures.get(metric, 0) + 1
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
