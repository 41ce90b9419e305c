"""FunctionPool and PoolManager with a fake environment class and a fake clock: warm reuse (most
recently used first), retirement when the revision changes, idle reaping, the age limit, and the
freezer's timer (the real Environment's, on the fake clock)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from lambdad.clock import FakeClock
from lambdad.runtime.environment import Environment, EnvState
from lambdad.runtime.pool import FunctionPool, PoolManager

KEY = ("000000000000", "fn", "$LATEST")


class FakeEnvironment:
    """What the pool uses of an environment: state, times, thaw, kill and the freeze timer."""

    def __init__(self, n: int, clock: FakeClock) -> None:
        self.id = f"env-{n}"
        self.state = EnvState.IDLE
        self.clock = clock
        self.created = self.last_used = clock.monotonic()
        self.ready = True
        self.killed = False
        self.thawed = 0
        self.freeze_delays: list[float] = []

    def thaw(self) -> None:
        self.thawed += 1

    async def wait_ready(self) -> bool:
        return self.state is EnvState.IDLE

    def kill(self) -> None:
        self.killed = True
        self.state = EnvState.DEAD

    def schedule_freeze(self, delay: float) -> None:
        self.freeze_delays.append(delay)

    async def wait_exited(self, timeout: float) -> None:
        return None

    def __repr__(self) -> str:
        return self.id


class Factory:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.made: list[FakeEnvironment] = []

    async def __call__(self, init_type: str) -> Any:
        env = FakeEnvironment(len(self.made), self.clock)
        self.made.append(env)
        return env


async def take(pool: FunctionPool) -> tuple[FakeEnvironment, bool]:
    env, cold = await pool.acquire()
    return cast(FakeEnvironment, env), cold


def back(pool: FunctionPool, env: FakeEnvironment) -> None:
    pool.release(cast(Environment, env))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_idle_environments_are_reused_most_recently_used_first() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        factory = Factory(clock)
        pool = FunctionPool(KEY, "r1", factory, freeze_after=0.1, clock=clock)
        (a, cold_a), (b, cold_b) = await take(pool), await take(pool)
        assert cold_a and cold_b and len(factory.made) == 2
        back(pool, a)
        back(pool, b)
        assert a.freeze_delays == [0.1] and b.freeze_delays == [0.1], "a released environment is scheduled to freeze"
        env, cold = await take(pool)
        assert env is b and not cold and b.thawed == 1, "the last released, thawed before use"
        env, cold = await take(pool)
        assert env is a and not cold
        env, cold = await take(pool)
        assert cold and len(factory.made) == 3
        s = pool.statistics()
        assert (s.environments, s.idle, s.busy, s.cold_starts, s.warm_starts) == (3, 0, 3, 3, 2)

    run(scenario())


def test_an_environment_that_died_idle_is_not_handed_out() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        pool = FunctionPool(KEY, "r1", Factory(clock), clock=clock)
        a, _ = await take(pool)
        back(pool, a)
        a.kill()
        env, cold = await take(pool)
        assert env is not a and cold and pool.idle == []

    run(scenario())


def test_a_new_revision_retires_the_pool() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        manager = PoolManager(idle_timeout=600, clock=clock)
        factory = Factory(clock)
        old = manager.pool(KEY, "r1", factory)
        assert manager.pool(KEY, "r1", factory) is old, "same revision, same pool"
        idle, _ = await take(old)
        busy, _ = await take(old)
        back(old, idle)
        new = manager.pool(KEY, "r2", factory)
        assert new is not old and old.retired
        assert idle.killed, "idle environments of the old revision go at once"
        assert not busy.killed, "a busy one finishes its invocation"
        back(old, busy)
        assert busy.killed and old.environments == set(), "and is discarded when released"
        env, cold = await take(new)
        assert cold and env not in (idle, busy)

    run(scenario())


def test_idle_environments_are_reaped_after_the_idle_timeout() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        manager = PoolManager(idle_timeout=600, clock=clock)
        pool = manager.pool(KEY, "r1", Factory(clock))
        early, _ = await take(pool)
        late, _ = await take(pool)
        back(pool, early)
        await clock.advance(300)
        late.last_used = clock.monotonic()
        back(pool, late)
        reaper = asyncio.create_task(manager.run_reaper())
        try:
            # The reaper looks every 30 s (idle_timeout / 4, at most 30): at 630 s early has been idle
            # 630 s, late 330 s.
            await clock.advance(331)
            assert early.killed and not late.killed
            assert pool.idle == [late]
            await clock.advance(300)
            assert late.killed and pool.idle == [] and pool.environments == set()
        finally:
            reaper.cancel()
            await asyncio.gather(reaper, return_exceptions=True)

    run(scenario())


def test_an_environment_past_its_maximum_age_is_not_reused() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        pool = FunctionPool(KEY, "r1", Factory(clock), max_age=3600, clock=clock)
        a, _ = await take(pool)
        back(pool, a)
        await clock.advance(3601)
        env, cold = await take(pool)
        assert cold and env is not a and a.killed

    run(scenario())


def test_the_freezer_freezes_after_the_idle_delay_counted_from_the_last_use(tmp_path: Path) -> None:
    """The real Environment's freeze timer on the fake clock: re-armed from last_used, not per call."""
    async def scenario() -> list[bytes]:
        clock = FakeClock()
        freezer = tmp_path / "cgroup.freeze"
        freezer.write_bytes(b"0")
        writes: list[bytes] = []
        env = Environment("env-0", {}, lambda *a: None, clock=clock)
        env.freezer = (str(freezer), b"1", b"0")
        env.state = EnvState.IDLE
        env.schedule_freeze(10.0)
        await clock.advance(6)
        env.last_used = clock.monotonic()  # used again at 6 s: the timer firing at 10 s re-arms to 16 s
        env.schedule_freeze(10.0)
        await clock.advance(5)
        writes.append(freezer.read_bytes())
        assert not env.frozen
        await clock.advance(5)
        writes.append(freezer.read_bytes())
        assert env.frozen
        env.thaw()
        writes.append(freezer.read_bytes())
        assert not env.frozen
        env.schedule_freeze(10.0)  # a claimed environment released again freezes again
        await clock.advance(10)
        writes.append(freezer.read_bytes())
        return writes

    assert run(scenario()) == [b"0", b"1", b"0", b"1"]


def test_an_environment_that_died_while_idle_is_dropped_not_counted_busy() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        factory = Factory(clock)
        pool = FunctionPool(KEY, "r1", factory, freeze_after=0.1, clock=clock)
        a, _ = await take(pool)
        back(pool, a)
        a.state = EnvState.DEAD  # its process ended while it sat idle
        b, cold = await take(pool)
        assert cold and b is not a
        stats = pool.statistics()
        assert (stats.environments, stats.idle, stats.busy) == (1, 0, 1)
        assert a.killed
    run(scenario())
