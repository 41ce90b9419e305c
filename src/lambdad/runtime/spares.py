"""Spare Node.js processes: started ahead of time, handed a function at its cold start.

Node cannot fork a warm zygote, and its own start-up (exec, loading libnode, V8 and the runtime
module) is most of a Node cold start. A spare is an environment whose node already started and
waits on its channel; a cold start sends it the function's variables (the SETUP frame) and it
only has to import the handler. The first Node cold start per executable primes one; each use
starts the next in the background.

Sound only where nothing the function configures is read while node starts: a function setting
NODE_OPTIONS, an exec wrapper, the dynamic loader's or locale variables gets a fresh process.
While the sandbox is on, spares are not used: an environment's code mounts, uid and limits are
set before its program starts, and handing them to a running process needs the sandbox's help.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from lambdad.runtime.environment import Environment, EnvState
from lambdad.supervisor import TaskSet

log = logging.getLogger("lambdad.spares")

# Read by node (or the loader) at start-up, so a running process cannot take them on.
STARTUP_VARIABLES = ("NODE_", "UV_", "LD_", "LC_", "LANG", "OPENSSL_", "SSL_CERT_", "AWS_LAMBDA_EXEC_WRAPPER")


def can_take_over(variables: dict[str, str]) -> bool:
    return not any(key.startswith(STARTUP_VARIABLES) for key in variables)


class Spares:
    def __init__(self, per_executable: int, spawn: Callable[[str], Awaitable[Environment]]) -> None:
        self.per_executable = per_executable
        self._spawn = spawn
        self._ready: dict[str, list[Environment]] = {}
        self._starting: dict[str, int] = {}
        self._tasks = TaskSet("spare Node.js processes")
        self.handed_out = 0

    def take(self, executable: str) -> Environment | None:
        """A started spare for this node executable, or None; either way the next one is started."""
        ready = self._ready.get(executable, [])
        spare = None
        while ready:
            candidate = ready.pop()
            if candidate.state is EnvState.STARTING:
                spare = candidate
                break
        self._refill(executable)
        if spare is not None:
            self.handed_out += 1
        return spare

    def _refill(self, executable: str) -> None:
        missing = self.per_executable - len(self._ready.get(executable, ())) - self._starting.get(executable, 0)
        for _ in range(max(0, missing)):
            self._starting[executable] = self._starting.get(executable, 0) + 1
            self._tasks.spawn(self._start(executable))

    async def _start(self, executable: str) -> None:
        try:
            env = await self._spawn(executable)
        except Exception as exc:  # a failed spare only costs the next cold start its speed-up
            log.warning("could not start a spare Node.js process (%s): %s", executable, exc)
            return
        finally:
            self._starting[executable] -= 1
        self._ready.setdefault(executable, []).append(env)

    async def aclose(self) -> None:
        await self._tasks.aclose()
        envs = [env for ready in self._ready.values() for env in ready]
        self._ready.clear()
        for env in envs:
            env.kill()
        await asyncio.gather(*(env.wait_exited(2.0) for env in envs))
