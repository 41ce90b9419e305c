"""The owner of every background loop of the server (reapers, flushers, dispatchers, sweepers).

A loop is a coroutine meant to run until cancelled. If one returns or raises, the supervisor logs it
with its traceback, counts it (`statistics()`, shown on the health endpoint) and starts it again after
a delay that doubles with each failure in a row (0.5 s up to 30 s: a database locked by an operator for
a minute costs a few restarts, not the server); a loop that ran `healthy_after` seconds before failing
starts the count afresh. One that fails `max_failures` times in a row (minutes of failing) is given up
and `on_fatal` is called, which stops the server: work is never silently gone. `aclose()` cancels and
awaits them all. A component's short-lived work items go in its own `TaskSet` (same promise: failures
are logged, nothing outlives `aclose()`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from lambdad.clock import SYSTEM, Clock
from lambdad.store.errors import StoreError

log = logging.getLogger("lambdad.supervisor")

Loop = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Supervised:
    name: str
    loop: Loop
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    failures_in_a_row: int = 0
    last_error: str = ""
    given_up: bool = False


class Supervisor:
    def __init__(self, *, on_fatal: Callable[[str, BaseException], None] | None = None,
                 restart_delay: float = 0.5, max_delay: float = 30.0, max_failures: int = 20,
                 healthy_after: float = 60.0, clock: Clock = SYSTEM) -> None:
        self.on_fatal = on_fatal
        self.restart_delay = restart_delay
        self.max_delay = max_delay
        self.max_failures = max_failures
        self.healthy_after = healthy_after
        self.clock = clock
        self._loops: dict[str, _Supervised] = {}
        self._closing = False

    def start(self, name: str, loop: Loop) -> None:
        if name in self._loops:
            raise ValueError(f"a loop named {name!r} is already supervised")
        entry = self._loops[name] = _Supervised(name, loop)
        self._run(entry)

    def _run(self, entry: _Supervised) -> None:
        entry.task = asyncio.get_running_loop().create_task(self._guard(entry), name=entry.name)

    async def _guard(self, entry: _Supervised) -> None:
        while not self._closing:
            started = self.clock.monotonic()
            try:
                await entry.loop()
                error: BaseException = RuntimeError(f"background loop {entry.name} returned")
                log.error("background loop %s returned; restarting it", entry.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
                log.exception("background loop %s crashed; restarting it", entry.name)
            entry.last_error = f"{type(error).__name__}: {error}"
            if self.clock.monotonic() - started >= self.healthy_after:
                entry.failures_in_a_row = 0
            entry.failures_in_a_row += 1
            if entry.failures_in_a_row >= self.max_failures:
                entry.given_up = True
                log.critical("background loop %s failed %d times in a row: giving up", entry.name,
                             entry.failures_in_a_row)
                if self.on_fatal is not None:
                    self.on_fatal(entry.name, error)
                return
            entry.restarts += 1
            await self.clock.sleep(min(self.max_delay, self.restart_delay * 2 ** (entry.failures_in_a_row - 1)))

    def statistics(self) -> dict[str, dict[str, object]]:
        return {e.name: {"running": e.task is not None and not e.task.done(), "restarts": e.restarts,
                         "last_error": e.last_error, "given_up": e.given_up}
                for e in self._loops.values()}

    async def aclose(self) -> None:
        self._closing = True
        tasks = [e.task for e in self._loops.values() if e.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # _guard catches loop errors; anything here is the supervisor's own bug
                log.exception("supervised task %s failed while stopping", task.get_name())
        self._loops.clear()


class TaskSet:
    """The tasks of one component's own work items (a delivery, a reconcile, a spare process starting):
    each is kept until it is done, an exception it ends with is logged with its traceback (never lost
    unobserved), and `aclose()` cancels and awaits them all."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work, name=name or self.owner)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task %s failed", self.owner, task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # outcomes were logged by _done
        self._tasks.clear()


async def flush_periodically(flush: Callable[[], None], interval: float, *, max_delay: float, what: str,
                             clock: Clock = SYSTEM) -> None:
    """Call `flush` every `interval` seconds until cancelled, and once more on the way out (a loop for
    `Supervisor.start`). While the store refuses (`StoreError`: a locked database), try again after
    doubling delays up to `max_delay`, warning once per outage: what `flush` could not write stays
    with its owner until the store is back, so the work that produced it never waits."""
    delay = interval
    try:
        while True:
            await clock.sleep(delay)
            try:
                flush()
                delay = interval
            except StoreError as exc:
                if delay == interval:
                    log.warning("%s not written yet: %s", what, exc)
                delay = min(delay * 2, max_delay)
    finally:
        try:
            flush()
        except StoreError:
            pass  # still locked at close: nothing more to do
