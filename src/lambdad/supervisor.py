"""The owner of every background loop of the server (reapers, flushers, dispatchers, sweepers).

A loop is a coroutine meant to run until cancelled. If one returns or raises, the supervisor logs it
with its traceback, counts it (`statistics()`, shown on the health endpoint) and starts it again after
a short delay; a loop that keeps failing (more than `max_restarts` within `window` seconds) is given up
and `on_fatal` is called, which stops the server: work is never silently gone. `aclose()` cancels and
awaits them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lambdad.clock import SYSTEM, Clock

log = logging.getLogger("lambdad.supervisor")

Loop = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Supervised:
    name: str
    loop: Loop
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    failures: list[float] = field(default_factory=list)
    last_error: str = ""
    given_up: bool = False


class Supervisor:
    def __init__(self, *, on_fatal: Callable[[str, BaseException], None] | None = None,
                 restart_delay: float = 0.5, max_restarts: int = 5, window: float = 60.0,
                 clock: Clock = SYSTEM) -> None:
        self.on_fatal = on_fatal
        self.restart_delay = restart_delay
        self.max_restarts = max_restarts
        self.window = window
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
            now = self.clock.monotonic()
            entry.failures = [t for t in entry.failures if now - t < self.window] + [now]
            if len(entry.failures) > self.max_restarts:
                entry.given_up = True
                log.critical("background loop %s failed %d times in %.0f s: giving up", entry.name,
                             len(entry.failures), self.window)
                if self.on_fatal is not None:
                    self.on_fatal(entry.name, error)
                return
            entry.restarts += 1
            await self.clock.sleep(self.restart_delay)

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
