"""A SnapStart template: one environment of a published version, initialized once, forked into many.

The zygote spawns a template like any environment (its own namespaces, uid, /tmp and cgroups; spec
"snapstart": "template") but with a SOCK_SEQPACKET channel. The template reads its SETUP, imports
the handler, runs the before-snapshot hooks (snapshot_restore_py, reverse order of registration),
freezes the collector's view of what init built and answers INIT_DONE. From then on it only forks:

  server -> template   FORK {id, log_stream} + the new environment's channel and log pipe
  fork -> server       HELLO on its own channel: the server reads the fork's pid from the kernel
                       (SO_PASSCRED), moves it into cgroups of its own, then sends its SETUP
  fork                 fresh variables (credentials), after-restore hooks in order of registration,
                       INIT_DONE {init_ms: what restoring cost in here}, then the invoke loop
  template -> server   EXITED {id, code, signal} when it reaps a fork

The template is pid 1 of its pid namespace: it reaps its forks and their orphans, and when it
ends, the kernel ends every fork with it. It never runs an invocation itself.

What forks share with their template (and so with each other) cannot be separated after the fork
without privileges they must never have: the uid, the mount namespace (so /tmp and its capacity),
the pid, ipc, uts and network namespaces. Each fork makes itself non-dumpable, so its siblings (same
uid) cannot read its memory, descriptors or environment through /proc or ptrace.
"""

import ctypes
import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback

import frames
import snapshot_restore_py

PR_SET_DUMPABLE = 4
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved once, in the zygote


def serve(spec, sock):
    """Initialize once, then fork environments on request. Never returns."""
    import python_runtime as rt  # loaded by the zygote before any environment existed

    _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # its forks share its uid: none may read its memory (nor they each other's)
    msg = sock.recv(1 << 20)
    if len(msg) < frames.HEADER.size or frames.HEADER.unpack_from(msg)[1] != frames.SETUP:
        os._exit(1)
    rt.enter(spec, json.loads(msg[frames.HEADER.size:])["env"])
    send = sock.sendall
    handler, init_ms = rt.initialize(spec, send)
    t0 = time.perf_counter()
    try:
        for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
            func(*args, **kwargs)
    except SystemExit as exc:
        rt._exit(exc)
    except Exception as exc:
        rt.init_failed(rt._error_payload(exc), send)
    init_ms += (time.perf_counter() - t0) * 1000.0
    sys.stdout.flush()
    sys.stderr.flush()
    # What init built is shared with every fork: keep the collector from touching (copying) it there.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    send(frames.pack_json(frames.INIT_DONE, {"init_ms": init_ms}))
    _fork_loop(spec, sock, handler)


def _fork_loop(spec, sock, handler):
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "ctl")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    forks = {}  # pid -> environment id
    while True:
        for key, _ in sel.select():
            if key.data == "wake":
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
                _reap(sock, forks)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 2)
            except (BlockingIOError, InterruptedError):
                continue
            if not msg:
                os._exit(0)  # the server let go of this version: every fork ends with us
            kind = frames.HEADER.unpack_from(msg)[1]
            if kind == frames.FORK and len(fds) == 2:
                request = json.loads(msg[frames.HEADER.size:])
                sys.stdout.flush()
                sys.stderr.flush()
                try:
                    pid = os.fork()
                except OSError:
                    pid = -1  # closing the descriptors below tells the server
                if pid == 0:
                    try:
                        _become(spec, request, fds, handler, sock, sel, (wake_r, wake_w))
                    except BaseException:
                        traceback.print_exc()
                        sys.stderr.flush()
                    finally:
                        os._exit(1)
                if pid > 0:
                    forks[pid] = request["id"]
            for fd in fds:
                os.close(fd)


def _reap(sock, forks):
    for pid, _status, fields in frames.reaped_children():
        env_id = forks.pop(pid, None)
        if env_id is None:
            continue  # an orphan of some fork: reaped because we are pid 1 here
        try:
            sock.sendall(frames.pack_json(frames.EXITED, {"id": env_id, **fields}))
        except OSError:
            pass


def _become(spec, request, fds, handler, ctl, sel, wake):
    """In the fork: drop the template's descriptors, wait for our cgroups, restore, then serve."""
    import python_runtime as rt

    t0 = time.perf_counter()
    sel.close()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in wake:
        os.close(fd)
    os.setsid()
    chan_fd, log_fd = fds
    ctl.detach()  # fd 3: the template's channel, replaced by ours just below
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.dup2(chan_fd, 3)
    for fd in fds:
        if fd > 3:
            os.close(fd)
    _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    sock = socket.socket(fileno=3)
    send = sock.sendall
    send(frames.pack(frames.HELLO, b""))
    rfile = sock.makefile("rb", buffering=1 << 16)
    waited = time.perf_counter()
    frame = frames.read_frame(rfile)  # sent once we are in our own cgroups: no user code runs before
    if frame is None or frame[0] != frames.SETUP:
        os._exit(1)
    t1 = time.perf_counter()
    os.environ.update(json.loads(frame[1])["env"])
    spec = dict(spec, id=request["id"], log_stream=request["log_stream"])
    try:
        for func, args, kwargs in list(snapshot_restore_py.get_after_restore()):
            func(*args, **kwargs)
    except SystemExit as exc:
        rt._exit(exc)
    except Exception as exc:
        rt.init_failed(rt._error_payload(exc), send)
    sys.stdout.flush()
    sys.stderr.flush()
    # What restoring cost in here (Billed Restore Duration): the fork itself and the hooks, not the wait.
    restore_ms = (waited - t0 + time.perf_counter() - t1) * 1000.0
    send(frames.pack_json(frames.INIT_DONE, {"init_ms": restore_ms}))
    rt.invoke_loop(spec, handler, rfile, send)
