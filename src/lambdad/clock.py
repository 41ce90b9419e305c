"""Time as a collaborator: what the timers of the server (async retries and event age, the freezer,
keep-alive reaping, the supervisor's window) read and wait on.

Components take a `Clock` in their constructor (default `SYSTEM`), so a unit test can hand them a
`FakeClock` and prove a schedule (a retry after 60 s, an event that ages out after 6 h) in
microseconds, deterministically, instead of waiting on real timers.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (what is stored: an event's receipt, its due time)."""
        ...

    def monotonic(self) -> float:
        """Seconds for intervals (idle since, age of an environment)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> TimerHandle:
        """Run `callback(*args)` once `delay` seconds have passed (on the running event loop)."""
        ...


class SystemClock:
    """The real clocks and the running event loop's timers."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback, *args)


SYSTEM: Clock = SystemClock()


class ScaledClock:
    """The system clock running `speed` times faster from the moment it is made (EventBridge's
    `schedule_speed` setting: schedules and retries in seconds instead of minutes, by hand)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._wall0, self._mono0 = time.time(), time.monotonic()

    def time(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0) * self.speed

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay / self.speed, callback, *args)


class _FakeTimer:
    __slots__ = ("args", "callback", "cancelled")

    def __init__(self, callback: Callable[..., object], args: tuple[object, ...]) -> None:
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Time that moves only when a test says so. `advance(s)` runs, in due order, every timer and
    wakes every sleeper that falls due within `s` seconds, letting the event loop run what they
    started before moving on. Wall and monotonic time move together."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._start = start
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, _FakeTimer]] = []

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start + 1000.0

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> _FakeTimer:
        timer = _FakeTimer(callback, args)
        heapq.heappush(self._timers, (self._now + max(0.0, delay), next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    @property
    def pending(self) -> int:
        """Timers and sleepers not yet due (cancelled ones excluded)."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def next_due(self) -> float | None:
        """Seconds from now to the next live timer, if any."""
        live = [when for when, _, t in self._timers if not t.cancelled]
        return max(0.0, min(live) - self._now) if live else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing whatever falls due on the way, in order."""
        target = self._now + seconds
        await _settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback(*timer.args)
            await _settle()
        self._now = target
        await _settle()


async def _settle(rounds: int = 20) -> None:
    """Let the event loop run callbacks and tasks that are ready (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
