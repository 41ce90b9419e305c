"""Environment pools: one per function version, warm reuse, retirement on change, idle reaping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lambdad.runtime.environment import Environment, EnvState

log = logging.getLogger("lambdad.pool")

Factory = Callable[[str], Awaitable[Environment]]  # init type -> a started environment


@dataclass(slots=True)
class PoolStats:
    environments: int
    idle: int
    busy: int
    cold_starts: int
    warm_starts: int


class FunctionPool:
    """Environments of one function version at one revision."""

    def __init__(self, key: tuple[str, str, str], revision: str, factory: Factory) -> None:
        self.key = key
        self.revision = revision
        self.factory = factory
        self.idle: list[Environment] = []
        self.environments: set[Environment] = set()
        self.retired = False
        self.cold_starts = 0
        self.warm_starts = 0

    async def acquire(self) -> tuple[Environment, bool]:
        """An idle warm environment (most recently used first) or a new one; (env, cold)."""
        idle = self.idle
        while idle:
            env = idle.pop()
            # An HTTP runtime is ready again only once it asks for the next invocation.
            if env.state is EnvState.IDLE and (env.ready or await env.wait_ready()):
                self.warm_starts += 1
                return env, False
        self.cold_starts += 1
        env = await self.factory("on-demand")
        self.environments.add(env)
        return env, True

    def release(self, env: Environment) -> None:
        if env.state is EnvState.IDLE and not self.retired:
            self.idle.append(env)
        else:
            self.discard(env)

    def discard(self, env: Environment) -> None:
        env.kill()
        self.environments.discard(env)
        if env in self.idle:
            self.idle.remove(env)

    def retire(self) -> None:
        """Stop reuse; idle environments go now, busy ones when they finish."""
        self.retired = True
        for env in self.idle:
            env.kill()
            self.environments.discard(env)
        self.idle.clear()

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
        return PoolStats(len(self.environments), len(self.idle), len(self.environments) - len(self.idle),
                         self.cold_starts, self.warm_starts)


class PoolManager:
    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.pools: dict[tuple[str, str, str], FunctionPool] = {}
        self._retired: list[FunctionPool] = []

    def pool(self, key: tuple[str, str, str], revision: str, factory: Factory) -> FunctionPool:
        pool = self.pools.get(key)
        if pool is not None and pool.revision == revision:
            return pool
        if pool is not None:
            pool.retire()
        pool = self.pools[key] = FunctionPool(key, revision, factory)
        return pool

    def retire(self, account: str, name: str, version: str | None) -> None:
        for key in [k for k in self.pools if k[0] == account and k[1] == name
                    and (version is None or k[2] == version)]:
            self.pools.pop(key).retire()

    async def run_reaper(self) -> None:
        interval = max(0.5, min(30.0, self.idle_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            cutoff = time.monotonic() - self.idle_timeout
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
        return {"pools": len(self.pools), "environments": total.environments, "idle": total.idle,
                "busy": total.busy, "cold_starts": total.cold_starts, "warm_starts": total.warm_starts}
