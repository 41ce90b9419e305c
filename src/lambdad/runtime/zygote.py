"""Server side of a zygote: starts the fork-server for one interpreter and asks it for environments."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambdad.errors import LambdadError
from lambdad.runtime.guest import frames

log = logging.getLogger("lambdad.zygote")

GUEST_DIR = Path(__file__).resolve().parent / "guest"

ExitListener = Callable[[dict[str, Any]], None]
#: called once when a zygote has died: (the zygote, the ids of environments whose cgroups it may have held)
DeathListener = Callable[["Zygote", list[str]], None]

# Environments that exited lately: their cgroups may still be waiting in the zygote's release queue
# (it releases within milliseconds of a quiet moment), so a zygote killed meanwhile leaves them.
_RECENT_EXITS = 256


class ZygoteError(LambdadError):
    """The zygote could not start or could not fork an environment."""


class Zygote:
    def __init__(self, interpreter: str, config: dict[str, Any], on_death: DeathListener | None = None) -> None:
        self.interpreter = interpreter
        self.config = config
        self.python_version = ""
        #: what the zygote's sandbox set-up reported (guest/sandbox.py prepare_zygote)
        self.sandbox_status: dict[str, Any] = {}
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._pending: dict[str, asyncio.Future[int]] = {}
        self._exit_listeners: dict[str, ExitListener] = {}
        self._outbox: collections.deque[tuple[bytes, list[int]]] = collections.deque()
        self._drain_timer: asyncio.TimerHandle | None = None
        self._recent_exits: collections.deque[str] = collections.deque(maxlen=_RECENT_EXITS)
        self._on_death = on_death
        self.alive = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Every environment is a fork of this process, so its command line is what /proc/1/cmdline
            # shows inside: no host paths there (the script by its name, from its directory) and no
            # configuration (it comes as the first frame on the control socket).
            self._proc = subprocess.Popen(
                [self.interpreter, "-s", "-E", "-B", "zygote.py", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, cwd=GUEST_DIR,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            )
            ours.sendall(frames.pack_json(frames.SETUP, self.config))
        except OSError as exc:
            if self._proc is not None:
                self._proc.kill()
                self._proc.wait()
            ours.close()
            raise ZygoteError(f"cannot start {self.interpreter}: {exc}") from exc
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        try:
            hello = await asyncio.wait_for(self._ready, 30)
        except (TimeoutError, ZygoteError) as exc:
            await self.aclose()
            raise ZygoteError(f"zygote for {self.interpreter} did not start: {exc}") from exc
        self.pid = hello["pid"]
        self.python_version = hello["python"]
        self.sandbox_status = hello.get("sandbox") or {}
        self.alive = True
        log.debug("zygote %s ready (Python %s, pid %d)", self.interpreter, self.python_version, self.pid)

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                msg = self._sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                msg = b""
            if not msg:
                self._on_dead()
                return
            _length, kind = frames.HEADER.unpack_from(msg)
            body = json.loads(msg[frames.HEADER.size:])
            if kind == frames.READY and self._ready and not self._ready.done():
                self._ready.set_result(body)
            elif kind == frames.SPAWNED:
                fut = self._pending.pop(body["id"], None)
                if fut and not fut.done():
                    fut.set_result(body["pid"])
            elif kind == frames.SPAWN_FAILED:
                fut = self._pending.pop(body["id"], None)
                if fut and not fut.done():
                    fut.set_exception(ZygoteError(body["error"]))
            elif kind == frames.EXITED:
                self._recent_exits.append(body["id"])
                listener = self._exit_listeners.pop(body["id"], None)
                if listener:
                    listener(body)

    def _on_dead(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            asyncio.get_running_loop().remove_writer(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._outbox.clear()
        was_alive, self.alive = self.alive, False
        owned = [*self._exit_listeners, *self._recent_exits]
        err = ZygoteError(f"zygote for {self.interpreter} exited")
        if self._ready and not self._ready.done():
            self._ready.set_exception(err)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        for env_id, listener in list(self._exit_listeners.items()):
            listener({"id": env_id, "code": None, "signal": 9, "zygote_died": True})
        self._exit_listeners.clear()
        if was_alive and self._on_death is not None:
            self._on_death(self, owned)

    async def wait_reaped(self, timeout: float = 5.0) -> None:
        """Until its process is gone (reaped here), killing it if it is still there after `timeout`."""
        proc = self._proc
        if proc is None:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        while proc.poll() is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    async def spawn(self, spec: dict[str, Any], channel_fd: int, log_fd: int,
                    on_exit: ExitListener) -> int:
        """Fork an environment; the descriptors are duplicated into it. Returns its pid."""
        if not self.alive or self._sock is None:
            raise ZygoteError("zygote is not running")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[spec["id"]] = fut
        self._exit_listeners[spec["id"]] = on_exit
        try:
            self._send(frames.pack_json(frames.SPAWN, spec), [channel_fd, log_fd])
        except OSError as exc:
            self._pending.pop(spec["id"], None)
            self._exit_listeners.pop(spec["id"], None)
            raise ZygoteError(f"cannot reach zygote: {exc}") from exc
        try:
            return await fut
        except ZygoteError:
            self._exit_listeners.pop(spec["id"], None)
            raise

    def kill(self, env_id: str) -> None:
        if self.alive and self._sock is not None:
            try:
                self._send(frames.pack_json(frames.KILL, {"id": env_id}), [])
            except OSError:
                pass

    def _send(self, msg: bytes, fds: list[int]) -> None:
        """Send now, or queue behind earlier messages when the socket is full: a burst of spawns
        fills the zygote's queue (a seqpacket peer takes at most net.unix.max_dgram_qlen messages,
        10 by default) faster than it forks. The queue drains when the socket polls writable and,
        because that wake-up is not reliably signalled for a full seqpacket peer, on a short timer."""
        assert self._sock is not None
        if not self._outbox:
            try:
                socket.send_fds(self._sock, [msg], fds) if fds else self._sock.send(msg)
                return
            except BlockingIOError:
                loop = asyncio.get_running_loop()
                loop.add_writer(self._sock.fileno(), self._drain_outbox)
                self._drain_timer = loop.call_later(0.002, self._drain_outbox)
        self._outbox.append((msg, fds))

    def _drain_outbox(self) -> None:
        sock = self._sock
        while self._outbox and sock is not None:
            msg, fds = self._outbox[0]
            try:
                socket.send_fds(sock, [msg], fds) if fds else sock.send(msg)
            except BlockingIOError:
                if self._drain_timer is None or self._drain_timer.when() <= asyncio.get_running_loop().time():
                    self._drain_timer = asyncio.get_running_loop().call_later(0.002, self._drain_outbox)
                return
            except OSError:
                self._outbox.clear()  # the zygote is gone; _on_dead fails the waiters
                break
            self._outbox.popleft()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if sock is not None:
            asyncio.get_running_loop().remove_writer(sock.fileno())

    async def aclose(self) -> None:
        if self._sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
                asyncio.get_running_loop().remove_writer(self._sock.fileno())
            except (ValueError, RuntimeError):
                pass
            self._outbox.clear()
            self._sock.close()
            self._sock = None
        self.alive = False
        proc = self._proc
        if proc is not None and proc.poll() is None:
            # Closing the socket tells the zygote to kill its children and exit.
            for _ in range(100):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
