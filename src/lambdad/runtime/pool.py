"""Environment pools: one per function version, warm reuse, retirement on change, idle reaping.

A pool may also hold provisioned environments (provisioned concurrency): started ahead of any
request with init type `provisioned-concurrency`, kept out of idle reaping, served before on-demand
ones. The pool only keeps them; invoke/provisioned.py decides how many there should be
(`provisioned_target`) and is told through `on_provisioned_lost` when one dies below the target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lambdad.clock import SYSTEM, Clock
from lambdad.runtime.environment import Environment, EnvState

log = logging.getLogger("lambdad.pool")

Factory = Callable[[str], Awaitable[Environment]]  # init type -> a started environment
#: (account, region, function, version): one pool per version of a function in a region
PoolKey = tuple[str, str, str, str]


@dataclass(slots=True)
class PoolStats:
    environments: int
    idle: int
    busy: int
    cold_starts: int
    warm_starts: int
    provisioned: int = 0


class FunctionPool:
    """Environments of one function version at one revision."""

    def __init__(self, key: PoolKey, revision: str, factory: Factory,
                 freeze_after: float = -1.0, max_age: float = float("inf"), *, clock: Clock = SYSTEM) -> None:
        self.key = key
        self.clock = clock
        self.revision = revision
        self.factory = factory
        self.freeze_after = freeze_after
        self.max_age = max_age
        self.idle: list[Environment] = []
        self.environments: set[Environment] = set()
        self.retired = False
        self.cold_starts = 0
        self.warm_starts = 0
        self.provisioned: set[Environment] = set()
        self._idle_provisioned: list[Environment] = []
        self.provisioned_target = 0
        self.on_provisioned_lost: Callable[[FunctionPool], None] | None = None

    async def acquire(self) -> tuple[Environment, bool]:
        """An idle warm environment (most recently used first) or a new one; (env, cold)."""
        idle = self.idle
        while idle:
            env = idle.pop()
            # An HTTP runtime is ready again only once it asks for the next invocation.
            if env.state is EnvState.IDLE:
                if self.clock.monotonic() - env.created > self.max_age:
                    self.discard(env)
                    continue
                env.thaw()
                if not (env.ready or await env.wait_ready()):
                    self.discard(env)  # it ended instead of asking for more work
                    continue
                self.warm_starts += 1
                return env, False
            self.discard(env)  # died while idle: not left in `environments`, where it would count as busy
        self.cold_starts += 1
        env = await self.factory("on-demand")
        self.environments.add(env)
        return env, True

    def take_provisioned(self) -> Environment | None:
        """An idle provisioned environment, if one is free (never starts one)."""
        idle = self._idle_provisioned
        while idle:
            env = idle.pop()
            if env.state is EnvState.IDLE:
                env.thaw()
                self.warm_starts += 1
                return env
            self.discard(env)  # died while idle
        return None

    def add_provisioned(self, env: Environment) -> None:
        self.environments.add(env)
        self.provisioned.add(env)
        self._idle_provisioned.append(env)

    @property
    def busy_provisioned(self) -> int:
        """Provisioned environments serving an invocation now (ProvisionedConcurrencyUtilization)."""
        return len(self.provisioned) - len(self._idle_provisioned)

    def live_provisioned(self) -> int:
        return sum(1 for env in self.provisioned if env.state is not EnvState.DEAD)

    def trim_provisioned(self) -> None:
        """Stop idle provisioned environments above the target (busy ones stop when released)."""
        while len(self.provisioned) > self.provisioned_target and self._idle_provisioned:
            env = self._idle_provisioned.pop()
            env.kill()
            self.environments.discard(env)
            self.provisioned.discard(env)

    def release(self, env: Environment) -> None:
        if env in self.provisioned:
            if env.state is EnvState.IDLE and not self.retired and len(self.provisioned) <= self.provisioned_target:
                self._idle_provisioned.append(env)
                env.schedule_freeze(self.freeze_after)
            else:
                self.discard(env)
        elif env.state is EnvState.IDLE and not self.retired:
            self.idle.append(env)
            env.schedule_freeze(self.freeze_after)
        else:
            self.discard(env)

    def discard(self, env: Environment) -> None:
        env.kill()
        self.environments.discard(env)
        if env in self.idle:
            self.idle.remove(env)
        if env in self.provisioned:
            self.provisioned.discard(env)
            if env in self._idle_provisioned:
                self._idle_provisioned.remove(env)
            if not self.retired and len(self.provisioned) < self.provisioned_target and self.on_provisioned_lost:
                self.on_provisioned_lost(self)

    def retire(self) -> None:
        """Stop reuse; idle environments go now, busy ones when they finish."""
        self.retired = True
        for env in (*self.idle, *self._idle_provisioned):
            env.kill()
            self.environments.discard(env)
            self.provisioned.discard(env)
        self.idle.clear()
        self._idle_provisioned.clear()

    def reap(self, older_than: float) -> int:
        keep = []
        reaped = 0
        for env in self.idle:
            if env.last_used < older_than or env.state is not EnvState.IDLE:
                env.kill()
                self.environments.discard(env)
                reaped += 1
            else:
                keep.append(env)
        self.idle[:] = keep
        return reaped

    def statistics(self) -> PoolStats:
        idle = len(self.idle) + len(self._idle_provisioned)
        return PoolStats(len(self.environments), idle, len(self.environments) - idle, self.cold_starts,
                         self.warm_starts, len(self.provisioned))


class PoolManager:
    def __init__(self, idle_timeout: float, freeze_after: float = -1.0, max_age: float = float("inf"), *,
                 clock: Clock = SYSTEM) -> None:
        """`max_age`: an environment older than this is not reused (its execution-role credentials
        could expire during an invocation); a new one gets fresh credentials."""
        self.idle_timeout = idle_timeout
        self.freeze_after = freeze_after
        self.max_age = max_age
        self.clock = clock
        self.pools: dict[PoolKey, FunctionPool] = {}
        self._retired: list[FunctionPool] = []

    def pool(self, key: PoolKey, revision: str, factory: Factory) -> FunctionPool:
        pool = self.pools.get(key)
        if pool is not None and pool.revision == revision:
            return pool
        if pool is not None:
            pool.retire()
        new = self.pools[key] = FunctionPool(key, revision, factory, self.freeze_after, self.max_age, clock=self.clock)
        if pool is not None and pool.provisioned_target and pool.on_provisioned_lost is not None:
            # What runs changed under provisioned environments: the new pool needs its own.
            new.provisioned_target = pool.provisioned_target
            new.on_provisioned_lost = pool.on_provisioned_lost
            new.on_provisioned_lost(new)
        return new

    def retire(self, account: str, region: str, name: str, version: str | None) -> None:
        for key in [k for k in self.pools if k[:3] == (account, region, name)
                    and (version is None or k[3] == version)]:
            self.pools.pop(key).retire()

    async def run_reaper(self) -> None:
        interval = max(0.5, min(30.0, self.idle_timeout / 4))
        while True:
            await self.clock.sleep(interval)
            cutoff = self.clock.monotonic() - self.idle_timeout
            for pool in list(self.pools.values()):
                if pool.reap(cutoff):
                    log.debug("reaped idle environments of %s", pool.key)

    async def aclose(self) -> None:
        envs: list[Environment] = []
        for pool in self.pools.values():
            envs.extend(pool.environments)
            for env in list(pool.environments):
                env.kill()
        self.pools.clear()
        await asyncio.gather(*(env.wait_exited(2.0) for env in envs))

    def statistics(self) -> dict[str, Any]:
        total = PoolStats(0, 0, 0, 0, 0)
        for pool in self.pools.values():
            s = pool.statistics()
            total.environments += s.environments
            total.idle += s.idle
            total.busy += s.busy
            total.cold_starts += s.cold_starts
            total.warm_starts += s.warm_starts
            total.provisioned += s.provisioned
        return {"pools": len(self.pools), "environments": total.environments, "idle": total.idle,
                "busy": total.busy, "cold_starts": total.cold_starts, "warm_starts": total.warm_starts,
                "provisioned": total.provisioned}
