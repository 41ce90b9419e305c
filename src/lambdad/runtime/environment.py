"""One execution environment as the server sees it: a framed channel, a log pipe, a lifecycle.

An environment only runs invocations; the scheduler (invoke/) decides when, where and how long.
Everything the environment reports arrives as (kind, body) events in the framed protocol's terms
(INIT_DONE, INIT_ERROR, RESULT, ERROR, EXEC_FAILED); built-in runtimes send them as frames, and
runtime_api.HttpRuntimeEnvironment turns HTTP Runtime API calls into the same events, so the
invoker, pools and timeouts treat both kinds alike.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from lambdad.runtime.guest import frames


class EnvState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass(slots=True)
class Outcome:
    """What one invocation produced. kind is 'result', 'error', 'timeout' or 'exit'."""

    kind: str
    body: bytes
    max_rss_kib: int = 0
    exit_info: dict[str, Any] | None = None


class InitFailed(Exception):
    """The environment did not finish init. payload: the runtime's own error report (JSON), if any;
    exit_info: how it ended otherwise ({"timeout": True}, the exit status, or {"error_type", "reason"}
    when the platform could not start it)."""

    def __init__(self, payload: bytes, exit_info: dict[str, Any] | None = None, logs: bytes = b"") -> None:
        super().__init__("init failed")
        self.payload = payload
        self.exit_info = exit_info
        self.logs = logs  # what it wrote during init (a traceback, the runtime's own report)


class _Channel(asyncio.Protocol):
    def __init__(self, env: Environment) -> None:
        self.env = env
        self.reader = frames.FrameReader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            batch = self.reader.feed(data)
        except ValueError:
            self.env.kill()
            return
        for kind, body in batch:
            self.env._on_frame(kind, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.env._on_channel_closed()


class Environment:
    def __init__(self, env_id: str, spec: dict[str, Any], kill_fn: Any) -> None:
        self.id = env_id
        self.spec = spec
        self.pid = 0
        self.state = EnvState.STARTING
        self.created = time.monotonic()
        self.last_used = self.created
        self.init_ms = 0.0
        self.invocations = 0
        self.exit_info: dict[str, Any] | None = None
        self._kill_fn = kill_fn
        self._channel: _Channel | None = None
        self._log_fd = -1
        self._log_buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        # Events that arrived while nobody waited (INIT_DONE can beat the launcher's wait_init).
        self._events: collections.deque[tuple[int, bytes]] = collections.deque()
        self._exited = asyncio.get_running_loop().create_future()
        self.frozen = False

    # -- set-up by the launcher -------------------------------------------------------------
    async def attach(self, sock: Any, log_fd: int) -> None:
        loop = asyncio.get_running_loop()
        _, self._channel = await loop.create_unix_connection(lambda: _Channel(self), sock=sock)
        self._log_fd = log_fd
        os.set_blocking(log_fd, False)
        loop.add_reader(log_fd, self._drain_logs)

    def send_setup(self, variables: dict[str, str]) -> None:
        """The environment's variables, its first frame (buffered until it reads them)."""
        assert self._channel is not None and self._channel.transport is not None
        self._channel.transport.write(frames.pack_json(frames.SETUP, {"env": variables}))

    async def wait_init(self, timeout: float) -> None:
        """Wait for the handler import to finish; raise InitFailed with AWS's payload if it fails."""
        kind, body = await self._next_frame(timeout)
        if kind == frames.INIT_DONE:
            self.init_ms = json.loads(body)["init_ms"]
            self.state = EnvState.IDLE
            return
        self.kill()
        logs = self.take_logs()
        if kind == frames.INIT_ERROR:
            raise InitFailed(body, logs=logs)
        if kind == frames.EXEC_FAILED:
            failed = json.loads(body)
            raise InitFailed(b"", {"error_type": failed["errorType"], "reason": failed["reason"]}, logs)
        if kind == -2:
            raise InitFailed(b"", {"timeout": True}, logs)
        raise InitFailed(b"", self.exit_info, logs)

    # -- invocations ------------------------------------------------------------------------
    async def invoke(self, header: dict[str, Any], payload: bytes, timeout: float) -> Outcome:
        self.state = EnvState.BUSY
        self.invocations += 1
        self._events.clear()  # nothing from an earlier invocation may answer this one
        self._deliver(header, payload)
        kind, body = await self._next_frame(timeout)
        self.last_used = time.monotonic()
        if kind == frames.RESULT or kind == frames.ERROR or kind == frames.FATAL:
            (rss,) = frames.U32.unpack_from(body)
            if kind == frames.FATAL:
                self.kill()  # it is on its way out: no later invocation may be handed to it
            else:
                self.state = EnvState.IDLE
            return Outcome("result" if kind == frames.RESULT else "error", body[4:], rss)
        if kind == -2:
            self.kill()
            return Outcome("timeout", b"")
        return Outcome("exit", b"", exit_info=self.exit_info)

    @property
    def ready(self) -> bool:
        """The runtime is waiting for work (a framed runtime is, as soon as it answered)."""
        return True

    async def wait_ready(self) -> bool:
        """Wait until the runtime waits for work; False if it died or never got there."""
        return self.state is EnvState.IDLE

    def _deliver(self, header: dict[str, Any], payload: bytes) -> None:
        """Hand one invocation to the runtime (here: an INVOKE frame on the channel)."""
        assert self._channel is not None and self._channel.transport is not None
        self._channel.transport.write(frames.pack_invoke(header, payload))

    async def _next_frame(self, timeout: float) -> tuple[int, bytes]:
        """(kind, body); kind -1 when the environment died, -2 on timeout."""
        if self._events:
            return self._events.popleft()
        if self.state is EnvState.DEAD:
            return -1, b""
        loop = asyncio.get_running_loop()
        self._waiter = fut = loop.create_future()
        handle = loop.call_later(timeout, self._on_timeout, fut)
        try:
            return await fut
        finally:
            handle.cancel()
            self._waiter = None

    def _on_timeout(self, fut: asyncio.Future[tuple[int, bytes]]) -> None:
        if not fut.done():
            fut.set_result((-2, b""))

    def _on_frame(self, kind: int, body: bytes) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result((kind, body))
        elif self.state is not EnvState.DEAD:
            self._events.append((kind, body))

    # -- logs -------------------------------------------------------------------------------
    def _drain_logs(self) -> None:
        while True:
            try:
                chunk = os.read(self._log_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                asyncio.get_running_loop().remove_reader(self._log_fd)
                return
            self._log_buf += chunk
            if len(self._log_buf) > 4 * 1024 * 1024:  # a runaway logger cannot eat the server
                del self._log_buf[: len(self._log_buf) - 1024 * 1024]

    def take_logs(self) -> bytes:
        """Everything written so far. The runtime flushes before answering, so this is complete."""
        if self._log_fd >= 0:
            self._drain_logs()
        out = bytes(self._log_buf)
        self._log_buf.clear()
        return out

    # -- death ------------------------------------------------------------------------------
    def _on_channel_closed(self) -> None:
        # The process may still be exiting; its exit report (with the status) follows shortly.
        if self.state is not EnvState.DEAD and self._waiter is None:
            self.kill()

    def on_exit(self, info: dict[str, Any]) -> None:
        """Called by the zygote client when the process was reaped."""
        self.exit_info = info
        self.state = EnvState.DEAD
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result((-1, b""))
        if not self._exited.done():
            self._exited.set_result(None)
        self._close_fds()

    def kill(self) -> None:
        if self.state is not EnvState.DEAD:
            self.state = EnvState.DEAD
            self._kill_fn(self.id)

    async def wait_exited(self, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), timeout)
        except TimeoutError:
            pass

    def _close_fds(self) -> None:
        if self._log_fd >= 0:
            loop = asyncio.get_running_loop()
            try:
                # Pick up the last words (a traceback) before closing.
                self._drain_logs()
                loop.remove_reader(self._log_fd)
            except (ValueError, RuntimeError):
                pass
            os.close(self._log_fd)
            self._log_fd = -1
        if self._channel is not None and self._channel.transport is not None:
            self._channel.transport.close()
