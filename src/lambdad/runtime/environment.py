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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lambdad.clock import SYSTEM, Clock, TimerHandle
from lambdad.errors import LambdadError
from lambdad.runtime.guest import frames

_F = TypeVar("_F", bound=Callable[..., Any])


def override(method: _F) -> _F:
    """Marks a method that replaces one of a base class (typing.override, which Python 3.11 lacks).

    Environment checks the mark when a subclass is defined: a hook renamed in the base class makes
    the subclass fail to import instead of silently never being called.
    """
    method.__override__ = True  # type: ignore[attr-defined]
    return method


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


class InitFailed(LambdadError):
    """The environment did not finish init. payload: the runtime's own error report (JSON), if any;
    exit_info: how it ended otherwise ({"timeout": True}, the exit status, or {"error_type", "reason"}
    when the platform could not start it)."""

    def __init__(self, payload: bytes, exit_info: dict[str, Any] | None = None, logs: bytes = b"") -> None:
        super().__init__("init failed")
        self.payload = payload
        self.exit_info = exit_info
        self.logs = logs  # what it wrote during init (a traceback, the runtime's own report)


#: AWS's response limit: 6 MB plus 100 bytes of framing (the launcher sets each environment's).
DEFAULT_MAX_RESPONSE = 6 * 1024 * 1024 + 100
# Frames whose body is a payload under the limit: kind -> (bytes before the payload, reported as).
# RESULT, ERROR and FATAL start with the max-RSS; an oversized result is reported as an error.
_LIMITED = {frames.RESULT: (4, frames.ERROR), frames.ERROR: (4, frames.ERROR), frames.FATAL: (4, frames.FATAL),
            frames.INIT_ERROR: (0, frames.INIT_ERROR)}


def _too_large(limit: int) -> bytes:
    return json.dumps({"errorMessage": f"Response payload size exceeded maximum allowed payload size ({limit} "
                                       "bytes).", "errorType": "Function.ResponseSizeTooLarge"}).encode()


class _Channel(asyncio.Protocol):
    """The environment's frames. An answer (result or error) over the response limit is dropped
    as it streams in, never buffered, and reported as AWS does: Function.ResponseSizeTooLarge."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._skip = 0  # bytes still to drop of an oversized answer
        self._skipped: tuple[int, bytes] | None = None  # the frame that reports it, once dropped

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            if self._skip:
                return
            data = data[dropped:]
            assert self._skipped is not None
            self.env._on_frame(*self._skipped)
            self._skipped = None
        buf = self._buf
        buf += data
        offset, size, header = 0, len(buf), frames.HEADER.size
        limit = self.env.max_response
        while size - offset >= header:
            length, kind = frames.HEADER.unpack_from(buf, offset)
            prefix, report = _LIMITED.get(kind, (0, 0))
            if report and length - prefix > limit:
                if size - offset < header + prefix:
                    break  # the max-RSS is still on its way
                body = bytes(buf[offset + header:offset + header + prefix]) + _too_large(limit)
                available = min(size - offset - header, length)
                offset += header + available
                self._skip = length - available
                if self._skip:
                    self._skipped = (report, body)
                    break
                self.env._on_frame(report, body)
                continue
            if length > frames.MAX_FRAME:
                del buf[:]
                self.env.kill()
                return
            end = offset + header + length
            if end > size:
                break
            self.env._on_frame(kind, bytes(buf[offset + header:end]))
            offset = end
        if offset:
            del buf[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        self.env._on_channel_closed()


class Environment:
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, attr in vars(cls).items():
            marked = attr.fget if isinstance(attr, property) else attr
            if getattr(marked, "__override__", False) and not any(hasattr(base, name) for base in cls.__mro__[1:]):
                raise TypeError(f"{cls.__qualname__}.{name} is marked @override but overrides nothing")

    def __init__(self, env_id: str, spec: dict[str, Any], kill_fn: Any, *, clock: Clock = SYSTEM) -> None:
        self.id = env_id
        self.spec = spec
        self.pid = 0
        self.state = EnvState.STARTING
        self.clock = clock  # the freezer's timers and idle times (the pool reads them on the same clock)
        self.created = clock.monotonic()
        self.last_used = self.created
        self.init_ms = 0.0
        self.invocations = 0
        self.exit_info: dict[str, Any] | None = None
        self._kill_fn = kill_fn
        #: the largest result or error it may answer (bytes); bigger ones are refused unread
        self.max_response = DEFAULT_MAX_RESPONSE
        self._channel: _Channel | None = None
        self._log_fd = -1
        self._log_buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        # Frames that arrived while nobody waited (a fast init can answer before wait_init starts).
        self._frames: collections.deque[tuple[int, bytes]] = collections.deque()
        self._channel_closed = False
        self._exited = asyncio.get_running_loop().create_future()
        self.frozen = False
        #: (file, frozen value, thawed value) of its cgroup freezer, when the sandbox has one
        self.freezer: tuple[str, bytes, bytes] | None = None
        self._freeze_timer: TimerHandle | None = None
        self._claimed = False

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
            if self.state is not EnvState.DEAD:  # it may have answered, then died (its zygote killed)
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
        if self.state is EnvState.DEAD:
            return Outcome("exit", b"", exit_info=self.exit_info)
        self.state = EnvState.BUSY
        self.invocations += 1
        self._frames.clear()  # nothing from an earlier invocation may answer this one
        self._deliver(header, payload)
        kind, body = await self._next_frame(timeout)
        self.last_used = self.clock.monotonic()
        if kind == frames.RESULT or kind == frames.ERROR or kind == frames.FATAL:
            (rss,) = frames.U32.unpack_from(body)
            if kind == frames.FATAL:
                self.kill()  # it is on its way out: no later invocation may be handed to it
            elif self.state is not EnvState.DEAD:  # it may have answered and died before we got here
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
        if self._frames:
            return self._frames.popleft()
        if self._gone():
            return -1, b""
        loop = asyncio.get_running_loop()
        self._waiter = fut = loop.create_future()
        handle = loop.call_later(timeout, self._on_timeout, fut)
        try:
            return await fut
        finally:
            handle.cancel()
            self._waiter = None

    def _gone(self) -> bool:
        """Dead, and every frame it sent has been read (the channel reached EOF, or gave up on it)."""
        return self.state is EnvState.DEAD and self._channel_closed

    def _on_timeout(self, fut: asyncio.Future[tuple[int, bytes]]) -> None:
        if not fut.done():
            fut.set_result((-2, b""))

    def _on_frame(self, kind: int, body: bytes) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result((kind, body))
        elif self.state is not EnvState.DEAD:
            self._frames.append((kind, body))

    # -- freezer (idle environments do not run, as on Lambda) ---------------------------------
    def schedule_freeze(self, delay: float) -> None:
        """Freeze once it has been idle for `delay` seconds (no-op without a freezer). One timer
        per environment is re-armed from `last_used`, not one per invocation: a busy environment
        costs the hot path nothing here."""
        if self.freezer is None or delay < 0 or self.state is not EnvState.IDLE:
            return
        self._claimed = False
        if delay == 0:
            self.freeze()
        elif self._freeze_timer is None:
            self._freeze_timer = self.clock.call_later(delay, self._freeze_when_due, delay)

    def _freeze_when_due(self, delay: float) -> None:
        self._freeze_timer = None
        if self.state is not EnvState.IDLE or self._claimed:
            return  # in use (or about to be): its next release arms the timer again
        remaining = self.last_used + delay - self.clock.monotonic()
        if remaining > 0.001:
            self._freeze_timer = self.clock.call_later(remaining, self._freeze_when_due, delay)
        else:
            self.freeze()

    def freeze(self) -> None:
        if self.freezer is not None and not self.frozen and self.state is EnvState.IDLE:
            self.frozen = self._write_freezer(self.freezer[1])

    def thaw(self) -> None:
        """Before anything is sent to it. The kernel thaws synchronously."""
        self._claimed = True  # taken from the pool: no freeze until it is released again
        if self.frozen and self.freezer is not None:
            self._write_freezer(self.freezer[2])
            self.frozen = False

    def _write_freezer(self, value: bytes) -> bool:
        assert self.freezer is not None
        try:
            fd = os.open(self.freezer[0], os.O_WRONLY)
        except OSError:
            return False
        try:
            os.write(fd, value)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

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
    # The zygote's exit report and the channel's EOF arrive on different sockets in either order;
    # the environment counts as gone only when both are in, so a last frame (an init error sent just
    # before exiting) is never lost to the exit report overtaking it.
    def _on_channel_closed(self) -> None:
        self._channel_closed = True
        if self.state is EnvState.DEAD:
            self._wake_dead()
        elif self._waiter is None:
            self.kill()

    def on_exit(self, info: dict[str, Any]) -> None:
        """Called by the zygote client when the process was reaped."""
        self.exit_info = info
        self.state = EnvState.DEAD
        self.frozen = False
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
            self._freeze_timer = None
        if not self._exited.done():
            self._exited.set_result(None)
        self.release_resources()
        if self._channel_closed:
            self._wake_dead()
        else:  # a descendant may still hold the channel open: stop waiting for its EOF soon
            asyncio.get_running_loop().call_later(0.5, self._give_up_channel)

    def _give_up_channel(self) -> None:
        if not self._channel_closed:
            self._channel_closed = True
            if self._channel is not None and self._channel.transport is not None:
                self._channel.transport.close()
            self._wake_dead()

    def _wake_dead(self) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result((-1, b""))

    def kill(self) -> None:
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
            self._freeze_timer = None
        if self.state is not EnvState.DEAD:
            self.state = EnvState.DEAD
            self._kill_fn(self.id)  # the zygote thaws it before the kill can land

    async def wait_exited(self, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), timeout)
        except TimeoutError:
            pass

    def release_resources(self) -> None:
        """Close every descriptor the server holds for this environment (it has exited, or never
        started). The one lifecycle hook for that: subclasses that hold more (a listener) extend it
        with @override. Idempotent."""
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
