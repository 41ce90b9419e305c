"""SnapStart templates, server side: one initialized environment of a version, forked into new ones.

A template is spawned by the version's zygote like any environment (its own namespaces, uid, /tmp,
cgroups), but over a SOCK_SEQPACKET channel that can carry descriptors: it initializes once and
then forks on request (the protocol is in guest/template.py). For each new environment the server
makes its channel and log pipe and sends them with a FORK request. The fork's first words are a
HELLO on its channel, read with SO_PASSCRED: the kernel states the sender's pid, which no process
can forge. The server checks that pid is a child of the template, moves it into cgroups of its own
(memory limit, pids limit, CPU weight, freezer: the limits every environment has), and only then
sends the fork its SETUP (fresh credentials); the fork runs the after-restore hooks, answers
INIT_DONE and is an ordinary Environment from there.

Ends: a fork's exit is seen through a pidfd (reliable, whatever the template says); its exit status
comes from the template, which reaps it. Killing a fork kills everything in its cgroups. A retired
template ends when its last fork has; when a template ends, the kernel ends its forks (it is pid 1
of their pid namespace).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import socket
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdad.errors import LambdadError
from lambdad.runtime.environment import Environment, EnvState, InitFailed
from lambdad.runtime.guest import frames
from lambdad.runtime.launcher import Launcher, LaunchError
from lambdad.runtime.spec import FunctionSpec
from lambdad.runtime.zygote import Zygote, ZygoteError

log = logging.getLogger("lambdad.snapstart")

_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid
_HELLO = frames.pack(frames.HELLO, b"")
#: Lambda does not give SnapStart functions these (one snapshot serves many log streams).
NOT_IN_SNAPSTART = ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")
#: How long a fork's exit waits for the template's report of its exit status before going without.
EXIT_REPORT_WAIT = 0.2
#: After a restore took the parked fork, the next one is parked this much later (off the busy moment).
PARK_DELAY = 0.01
PARK_TIMEOUT = 10.0


class TemplateFailed(LambdadError):
    """The template's init failed: AWS's error payload (empty when it died or timed out) and its logs."""

    def __init__(self, payload: bytes, logs: bytes, init_ms: float, *, timed_out: bool = False,
                 exit_info: dict[str, Any] | None = None) -> None:
        super().__init__("SnapStart init failed")
        self.payload = payload
        self.logs = logs
        self.init_ms = init_ms
        self.timed_out = timed_out
        self.exit_info = exit_info or {}


class RestoreFailed(LambdadError):
    """A fork did not restore: an after-restore hook failed (payload), it timed out, or it died."""

    def __init__(self, env: RestoredEnvironment, error: InitFailed, restore_ms: float) -> None:
        super().__init__("restore failed")
        self.env = env
        self.payload = error.payload
        # what the fork wrote (a hook's traceback): wait_init may have taken it already (InitFailed.logs)
        self.logs = getattr(error, "logs", b"") + env.take_logs()
        self.timed_out = bool((error.exit_info or {}).get("timeout"))
        self.restore_ms = restore_ms


class RestoredEnvironment(Environment):
    """An environment forked from a template: its first REPORT shows Restore Duration, not Init Duration."""

    def __init__(self, env_id: str, spec: dict[str, Any], kill_fn: Any) -> None:
        super().__init__(env_id, spec, kill_fn)
        #: from the FORK request to the fork's INIT_DONE (Lambda's Restore Duration)
        self.restore_ms = 0.0
        #: what restoring cost inside the fork: the runtime and the after-restore hooks
        self.billed_restore_ms = 0.0


@dataclass(slots=True, eq=False)
class _Fork:
    env: RestoredEnvironment
    pid: int
    pidfd: int
    cgroups: list[str]
    exited: bool = False
    report: dict[str, Any] | None = None
    timer: asyncio.TimerHandle | None = None


class Template:
    def __init__(self, launcher: Launcher, fv: FunctionSpec, code_dir: str, opt_dir: str | None,
                 park: bool = True) -> None:
        self.launcher = launcher
        self.park = park  # keep a fork parked for the next restore
        self.sandbox = launcher.sandbox
        self.fv = fv
        self.code_dir = code_dir
        self.opt_dir = opt_dir
        self.id = uuid.uuid4().hex
        self.created = time.monotonic()
        self.spec: dict[str, Any] = {}
        self.pid = 0
        self.init_ms = 0.0
        self.alive = False
        self.retired = False
        self.forks: dict[str, _Fork] = {}
        self._zygote: Zygote | None = None
        self._sock: socket.socket | None = None
        self._log_fd = -1
        self._log_buf = bytearray()
        self._init: asyncio.Future[tuple[int, bytes]] | None = None
        self._exited: asyncio.Future[None] | None = None
        self._outbox: collections.deque[tuple[bytes, list[int]]] = collections.deque()
        self._drain_timer: asyncio.TimerHandle | None = None
        #: one fork kept parked (forked, in its cgroups, waiting for its SETUP) for the next restore
        self._spare: asyncio.Task[RestoredEnvironment] | None = None
        self._refill: asyncio.TimerHandle | None = None
        self._exit_report: dict[str, Any] = {}
        #: called once the template process is gone
        self.on_closed: Callable[[Template], None] | None = None

    @property
    def closed(self) -> bool:
        return self._exited is None or self._exited.done()

    # -- init --------------------------------------------------------------------------------
    async def start(self, timeout: float) -> None:
        """Spawn the template and wait for its init; raises TemplateFailed (or LaunchError)."""
        loop = asyncio.get_running_loop()
        launcher, fv = self.launcher, self.fv
        spec = launcher.build_spec(fv, self.code_dir, self.id, "snap-start", self.opt_dir)
        variables = spec.pop("env")
        for name in NOT_IN_SNAPSTART:
            variables.pop(name, None)
        spec["snapstart"] = "template"
        self.spec = spec
        try:
            self._zygote = await launcher.zygote_for(launcher.interpreter_for(fv.runtime))
        except BaseException:
            self.sandbox.release_uid(spec["uid"])
            raise
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log_r, log_w = os.pipe()
        ours.setblocking(False)
        os.set_blocking(log_r, False)
        self._sock, self._log_fd = ours, log_r
        self._init = loop.create_future()
        self._exited = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        loop.add_reader(log_r, self._drain_logs)
        # The variables (credentials, the function's secrets) go over the template's own channel.
        ours.send(frames.pack_json(frames.SETUP, {"env": variables}))
        started = time.perf_counter()
        try:
            self.pid = await self._zygote.spawn(spec, theirs.fileno(), log_w, self._on_exit)
        except ZygoteError as exc:
            self._on_exit({"id": self.id, "code": None, "signal": None})
            raise LaunchError(str(exc)) from exc
        finally:
            theirs.close()
            os.close(log_w)
        self.alive = not self._exited.done()  # its exit report may have come in with SPAWNED
        try:
            kind, body = await asyncio.wait_for(asyncio.shield(self._init), timeout)
        except TimeoutError:
            self.close()
            raise TemplateFailed(b"", self.take_logs(), timeout * 1000.0, timed_out=True) from None
        if kind == frames.INIT_DONE:
            try:
                self.init_ms = float(json.loads(body)["init_ms"])
            except (ValueError, KeyError, TypeError):
                self.init_ms = (time.perf_counter() - started) * 1000.0
            if self.park:
                self._refill_now()
            return
        self.close()
        info = await self._exit_info()
        raise TemplateFailed(body if kind == frames.INIT_ERROR else b"", self.take_logs(),
                             (time.perf_counter() - started) * 1000.0, exit_info=info)

    async def _exit_info(self) -> dict[str, Any]:
        assert self._exited is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), 2.0)
        except TimeoutError:
            pass
        return self._exit_report

    # -- forking -----------------------------------------------------------------------------
    async def fork(self, variables: dict[str, str], timeout: float) -> RestoredEnvironment:
        """A new environment of this version, restored from the template (raises RestoreFailed)."""
        if not self.alive or self.retired:
            raise LaunchError("the SnapStart template of this version is gone")
        started = time.perf_counter()
        env = await self._take_parked(timeout)
        self._refill_later()
        env.send_setup(variables)  # the fork runs the after-restore hooks from here
        try:
            await env.wait_init(timeout)
        except InitFailed as exc:
            raise RestoreFailed(env, exc, (time.perf_counter() - started) * 1000.0) from None
        except BaseException:  # cancelled: nobody will ever use it
            env.kill()
            raise
        env.billed_restore_ms = env.init_ms
        env.restore_ms = (time.perf_counter() - started) * 1000.0
        return env

    async def _take_parked(self, timeout: float) -> RestoredEnvironment:
        """The parked fork when there is one (or one being parked), else a fork parked now."""
        task, self._spare = self._spare, None
        if task is not None:
            try:
                env = await task
            except LaunchError as exc:
                log.debug("parked fork of %s lost: %s", self.fv.arn, exc)
            else:
                if env.state is not EnvState.DEAD:
                    return env
        return await self._park(timeout)

    def _refill_later(self) -> None:
        """Park the next fork once this restore (and the invocation right after it) had the CPU."""
        if self.park and self._refill is None and self._spare is None:
            self._refill = asyncio.get_running_loop().call_later(PARK_DELAY, self._refill_now)

    def _refill_now(self) -> None:
        self._refill = None
        if self.alive and not self.retired and self._spare is None:
            self._spare = asyncio.get_running_loop().create_task(self._park(PARK_TIMEOUT))
            self._spare.add_done_callback(_retrieve)

    def _drop_spare(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            self._refill = None
        task, self._spare = self._spare, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is None:
            task.result().kill()

    async def _park(self, timeout: float) -> RestoredEnvironment:
        """Fork the template up to where the fork waits for its SETUP: in cgroups of its own, attached,
        no user code run since the snapshot. A restore is then the SETUP and the after-restore hooks."""
        loop = asyncio.get_running_loop()
        env_id = uuid.uuid4().hex
        log_stream = time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{self.fv.version}]{env_id}"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        log_r, log_w = os.pipe()
        self._send(frames.pack_json(frames.FORK, {"id": env_id, "log_stream": log_stream}), [theirs.detach(), log_w])
        pidfd = -1
        cgroups: list[str] = []
        try:
            pid, uid = await asyncio.wait_for(_hello(ours), timeout)
            pidfd = self._claim(pid, uid)
            cgroups = self.sandbox.make_cgroups(env_id, int(self.spec.get("memory_mb") or 128))
            self.sandbox.join_cgroups(cgroups, pid)  # before the fork runs any user code
        except BaseException as exc:
            ours.close()
            os.close(log_r)
            if pidfd >= 0:
                _kill_quietly(pidfd)
                os.close(pidfd)
            self.sandbox.remove_cgroups(cgroups)
            if isinstance(exc, OSError):  # TimeoutError included
                raise LaunchError(f"cannot fork the SnapStart template: {exc or 'timed out'}") from exc
            raise
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
        env = RestoredEnvironment(env_id, dict(self.spec, id=env_id, log_stream=log_stream), self._kill_fork)
        env.pid = pid
        env.created = self.created  # what init captured (a client's credentials) is as old as the template
        env.freezer = self.sandbox.freezer(env_id) if cgroups else None
        env.max_response = self.launcher.max_runtime_response
        rec = self.forks[env_id] = _Fork(env, pid, pidfd, cgroups)
        loop.add_reader(pidfd, self._on_fork_exit, rec)
        try:
            await env.attach(ours, log_r)
        except BaseException:
            env.kill()
            ours.close()
            raise
        return env

    def _claim(self, pid: int, uid: int) -> int:
        """A pidfd of the process that said HELLO, once it is known to be a child of this template."""
        if pid <= 0 or (self.sandbox.enabled and uid != self.spec["uid"]):
            raise LaunchError(f"unexpected HELLO from pid {pid} uid {uid}")
        pidfd = os.pidfd_open(pid)
        if _ppid(pid) != self.pid:  # checked after the pidfd pinned the process
            os.close(pidfd)
            raise LaunchError(f"pid {pid} is not a fork of the template")
        return pidfd

    def _kill_fork(self, env_id: str) -> None:
        rec = self.forks.get(env_id)
        if rec is None or rec.exited:
            return
        self.sandbox.kill_cgroups(rec.cgroups)
        _kill_quietly(rec.pidfd)
        if not rec.cgroups:  # no cgroups: the fork leads a session (and process group) of its own
            try:
                os.killpg(rec.pid, signal.SIGKILL)
            except OSError:
                pass

    def _on_fork_exit(self, rec: _Fork) -> None:
        asyncio.get_running_loop().remove_reader(rec.pidfd)
        rec.exited = True
        if rec.report is not None or not self.alive:
            self._finish(rec)
        else:
            rec.timer = asyncio.get_running_loop().call_later(EXIT_REPORT_WAIT, self._finish, rec)

    def _finish(self, rec: _Fork) -> None:
        if self.forks.get(rec.env.id) is not rec:
            return
        del self.forks[rec.env.id]
        if rec.timer is not None:
            rec.timer.cancel()
        info: dict[str, Any] = {"id": rec.env.id, "pid": rec.pid, "code": None, "signal": signal.SIGKILL}
        if rec.report is not None:
            code, sig = rec.report.get("code"), rec.report.get("signal")
            info.update(code=code if isinstance(code, int) else None, signal=sig if isinstance(sig, int) else None)
        if rec.cgroups:
            if self.sandbox.oom_killed(rec.cgroups):
                info["oom"] = True
            self.sandbox.kill_cgroups(rec.cgroups)  # what it started ends with it, as an environment's tree
            self._remove_cgroups(rec.cgroups, 100)
        os.close(rec.pidfd)
        rec.env.on_exit(info)
        if self.retired and not self.forks:
            self.close()

    def _remove_cgroups(self, paths: list[str], tries: int) -> None:
        left = self.sandbox.remove_cgroups(paths)
        if left and tries > 0:  # a task still exiting; at worst the server's cleanup removes them
            asyncio.get_running_loop().call_later(0.05, self._remove_cgroups, left, tries - 1)

    # -- the template's channel -------------------------------------------------------------------
    def _on_readable(self) -> None:
        sock = self._sock
        while sock is not None:
            try:
                msg = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                msg = b""
            if len(msg) < frames.HEADER.size:
                self._channel_closed()
                return
            kind = frames.HEADER.unpack_from(msg)[1]
            body = msg[frames.HEADER.size:]
            if kind == frames.EXITED:
                try:  # the template ran the function's code: trust nothing it says beyond its own forks
                    report = json.loads(body)
                    rec = self.forks.get(str(report["id"]))
                except (ValueError, KeyError, TypeError):
                    continue
                if rec is not None:
                    rec.report = report
                    if rec.exited:
                        self._finish(rec)
            elif kind in (frames.INIT_DONE, frames.INIT_ERROR) and self._init is not None and not self._init.done():
                self._init.set_result((kind, body))

    def _channel_closed(self) -> None:
        if self._sock is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._sock.fileno())
            loop.remove_writer(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._outbox_clear()
        if self._init is not None and not self._init.done():
            self._init.set_result((-1, b""))

    def _send(self, msg: bytes, fds: list[int]) -> None:
        """Send now, or queue behind earlier requests while the template's queue is full (as the zygote
        client does). The queue owns the descriptors and closes them once they are sent; when the
        template is gone they are closed unsent, and the fork's channel sees EOF at once."""
        if self._sock is None:
            _close_all(fds)
            return
        if not self._outbox:
            try:
                socket.send_fds(self._sock, [msg], fds)
            except BlockingIOError:
                loop = asyncio.get_running_loop()
                loop.add_writer(self._sock.fileno(), self._drain_outbox)
                self._drain_timer = loop.call_later(0.002, self._drain_outbox)
            except OSError:
                _close_all(fds)
                return
            else:
                _close_all(fds)
                return
        self._outbox.append((msg, fds))

    def _drain_outbox(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self._sock
        while self._outbox and sock is not None:
            msg, fds = self._outbox[0]
            try:
                socket.send_fds(sock, [msg], fds)
            except BlockingIOError:
                if self._drain_timer is None or self._drain_timer.when() <= loop.time():
                    self._drain_timer = loop.call_later(0.002, self._drain_outbox)
                return
            except OSError:
                self._outbox_clear()
                break
            self._outbox.popleft()
            _close_all(fds)
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if sock is not None:
            loop.remove_writer(sock.fileno())

    def _outbox_clear(self) -> None:
        while self._outbox:
            _close_all(self._outbox.popleft()[1])

    # -- logs of the template itself (its init) ---------------------------------------------------
    def _drain_logs(self) -> None:
        while self._log_fd >= 0:
            try:
                chunk = os.read(self._log_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                asyncio.get_running_loop().remove_reader(self._log_fd)
                os.close(self._log_fd)
                self._log_fd = -1
                return
            self._log_buf += chunk
            if len(self._log_buf) > 4 * 1024 * 1024:
                del self._log_buf[: len(self._log_buf) - 1024 * 1024]

    def take_logs(self) -> bytes:
        self._drain_logs()
        out = bytes(self._log_buf)
        self._log_buf.clear()
        return out

    # -- ending -------------------------------------------------------------------------------------
    def _on_exit(self, info: dict[str, Any]) -> None:
        """The zygote reaped the template (its forks died with it: their pid namespace ended)."""
        self.alive = False
        self.retired = True
        self._drop_spare()
        self._exit_report = info
        self.sandbox.release_uid(self.spec.get("uid", 0))
        self._drain_logs()
        loop = asyncio.get_running_loop()
        for rec in list(self.forks.values()):
            if rec.exited:
                self._finish(rec)
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(None)
        if self.on_closed is not None:
            self.on_closed(self)
        if self._init is not None and not self._init.done():
            # its last words (an INIT_ERROR) may still be on their way on the other socket
            loop.call_later(0.5, self._channel_closed)
        else:
            self._channel_closed()

    def retire(self) -> None:
        """No new forks; the template ends when its last fork has."""
        self.retired = True
        self._drop_spare()
        if not self.forks:
            self.close()

    def close(self) -> None:
        """End the template and every fork of it now."""
        self.retired = True
        self._drop_spare()
        for env_id in list(self.forks):
            self._kill_fork(env_id)
        if self.alive and self._zygote is not None:
            self._zygote.kill(self.id)

    async def wait_closed(self, timeout: float = 5.0) -> None:
        if self._exited is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), timeout)
            except TimeoutError:
                pass


async def _hello(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process that sent the HELLO, as the kernel states them."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[bytes, list[Any]]] = loop.create_future()

    def readable() -> None:
        try:
            data, ancillary, _flags, _addr = sock.recvmsg(len(_HELLO), socket.CMSG_SPACE(_UCRED.size))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not fut.done():
            fut.set_result((data, ancillary))

    loop.add_reader(sock.fileno(), readable)
    try:
        data, ancillary = await fut
    finally:
        loop.remove_reader(sock.fileno())
    if data != _HELLO:
        raise LaunchError("the fork ended before it started" if not data else "the fork spoke out of turn")
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(value) >= _UCRED.size:
            pid, uid, _gid = _UCRED.unpack_from(value)
            return pid, uid
    raise LaunchError("the fork's HELLO came without credentials")


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return -1
    return int(stat.rsplit(b")", 1)[1].split()[1])  # after "pid (comm)": state, ppid


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A parked fork nobody took failed (the template ended meanwhile): nothing to report."""
    if not task.cancelled():
        task.exception()


def _kill_quietly(pidfd: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
