"""The zygote: a fork-server per interpreter with the runtime and common stdlib pre-imported.

Started once per interpreter by the server (`python -s zygote.py CTL_FD`, from this directory). It
speaks SOCK_SEQPACKET frames on CTL_FD: first SETUP {config} (never on the command line, which every
environment inherits as its /proc/1/cmdline); then SPAWN {spec} with two descriptors (the
environment's channel and its log pipe) -> fork -> SPAWNED {id, pid}; KILL {id}; and it reports
EXITED {id, code, signal} when it reaps a child. Each child closes every descriptor that is not its
own, enters its sandbox, and becomes an execution environment: python_runtime.run, or, when the spec
has "exec", the program it names (Node.js, a custom runtime's bootstrap), so the same sandbox wraps
every runtime.
"""

import gc
import json
import os
import selectors
import signal
import socket
import sys
import traceback

import frames
import python_runtime
import sandbox

# Modules handlers commonly import; importing them here makes them free for every environment
# (copy-on-write shared pages) instead of costing each cold start.
PRELOAD = (
    "asyncio", "base64", "collections", "copy", "csv", "dataclasses", "datetime", "decimal", "enum",
    "functools", "gzip", "hashlib", "hmac", "http.client", "io", "itertools", "logging", "math",
    "random", "re", "string", "struct", "tempfile", "threading", "time", "typing", "urllib.parse",
    "urllib.request", "uuid", "zlib", "email.utils", "concurrent.futures",
)


def _preload(extra):
    for name in PRELOAD + tuple(extra):
        try:
            __import__(name)
        except Exception:
            pass


def _close_inherited(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _child(spec, chan_fd, log_fd):
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.dup2(chan_fd, 3)
    _close_inherited({0, 1, 2, 3})
    sandbox.enter(spec)
    if spec.get("exec"):
        _exec(spec, spec["exec"])
    python_runtime.run(spec, 3)


def _exec(spec, how):
    """Replace this process with the environment's program; never returns.

    how = {"argv": [...], "search": [paths] (argv[0] becomes the first that exists), "wrapper": path
    (AWS_LAMBDA_EXEC_WRAPPER, run in front of argv), "channel": keep fd 3 (the framed channel) open}.
    A program that cannot start is reported as EXEC_FAILED in the words AWS uses (its init uses
    Go's os/exec, hence "fork/exec PATH: permission denied").
    """
    argv = list(how["argv"])
    search = how.get("search")
    if search:
        found = [p for p in search if os.path.isfile(p)]
        if not found:
            _exec_failed("Runtime.InvalidEntrypoint",
                         "Couldn't find valid bootstrap(s): [{0}]".format(" ".join(search)))
        argv[0] = found[0]
    wrapper = how.get("wrapper")
    if wrapper:
        argv.insert(0, wrapper)
    env = spec.get("env")
    if env is None:  # the variables came over the channel (the first frame) rather than in the spec
        env = json.loads(_read_frame_exactly(3)[1])["env"]
    os.set_inheritable(3, bool(how.get("channel")))
    os.chdir(spec["task_root"])
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        if wrapper:
            # AWS's runtimes start the wrapper from a shell script: the shell's error, status 127.
            os.write(2, "{0}: {1}\n".format(wrapper, exc.strerror).encode())
            os._exit(127)
        _exec_failed("Runtime.InvalidEntrypoint",
                     "fork/exec {0}: {1}".format(argv[0], (exc.strerror or str(exc)).lower()))


def _read_frame_exactly(fd):
    """One frame, not a byte more: what follows belongs to the program about to be exec'd."""
    def read(n):
        data = b""
        while len(data) < n:
            chunk = os.read(fd, n - len(data))
            if not chunk:
                os._exit(1)  # the server went away before the environment started
            data += chunk
        return data
    length, kind = frames.HEADER.unpack(read(frames.HEADER.size))
    return kind, read(length)


def _exec_failed(error_type, reason):
    os.write(3, frames.pack_json(frames.EXEC_FAILED, {"errorType": error_type, "reason": reason}))
    os._exit(127)


def _read_config(ctl):
    msg = ctl.recv(1 << 20)
    if not msg:
        sys.exit(0)  # the server went away before configuring us
    kind = frames.HEADER.unpack_from(msg)[1]
    if kind != frames.SETUP:
        raise SystemExit("zygote: expected the SETUP frame first, got kind {0}".format(kind))
    return json.loads(msg[frames.HEADER.size:])


def main():
    sys.path[:] = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
    os.chdir("/")  # started from its own directory (a relative script name in the command line)
    ctl = socket.socket(fileno=int(sys.argv[1]))
    config = _read_config(ctl)
    _preload(config.get("preload", ()))
    sandbox_status = sandbox.prepare_zygote(config.get("sandbox") or {}) or {}
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()  # keep the collector from dirtying shared pages in every child

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    children = {}  # pid -> env id
    by_id = {}  # env id -> pid
    sel = selectors.DefaultSelector()
    sel.register(ctl, selectors.EVENT_READ, "ctl")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    ctl.sendall(frames.pack_json(frames.READY, {"pid": os.getpid(), "python": sys.version.split()[0],
                                                "sandbox": sandbox_status}))

    wait = sandbox.work_delay()  # the sandbox's deferred work (releases, ready-made slots) runs when idle
    while True:
        events = sel.select(wait)
        for key, _ in events:
            if key.data == "wake":
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
                _reap(ctl, children, by_id)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 4)
            except (BlockingIOError, InterruptedError):
                continue
            if not msg:
                _retire_spares()
                _shutdown(children)
                return
            kind = frames.HEADER.unpack_from(msg)[1]
            body = json.loads(msg[frames.HEADER.size:])
            if kind == frames.SPAWN:
                _spawn(ctl, body, fds, children, by_id)
            elif kind == frames.KILL:
                pid = by_id.get(body["id"])
                if pid is not None:
                    sandbox.kill(body["id"], pid)
                for fd in fds:
                    os.close(fd)
        # Only after a quiet moment, so it never competes with a cold start for the CPU.
        if not events:
            wait = sandbox.housekeeping()
            _top_up_spares(ctl)
        else:
            wait = sandbox.work_delay()
        if len(_spares) < SPARES:
            wait = QUIET if wait is None else min(wait, QUIET)


# -- spare children --------------------------------------------------------------------------------
# Forking this process is the largest part of a cold start (page tables for its whole heap). A
# spare is a child forked ahead of time, in a quiet moment, that waits for its spec; a SPAWN hands
# the spec to a spare and answers at once. A spare holds nothing of any function until then.
SPARES = 1
QUIET = 0.005  # seconds without requests before a spare is forked
_spares: "list[tuple[int, socket.socket]]" = []  # [(pid, socket to it)]


def _top_up_spares(ctl):
    """Fork one spare if fewer than SPARES wait (called when the zygote is idle)."""
    if len(_spares) >= SPARES:
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = sandbox.fork({})
    except OSError:
        ours.close()
        theirs.close()
        return
    if pid == 0:
        try:
            signal.set_wakeup_fd(-1)
            ctl.close()
            ours.close()
            for _, other in _spares:
                other.close()
            msg, fds, _flags, _addr = socket.recv_fds(theirs, 1 << 20, 4)
            if not msg or len(fds) != 2:
                os._exit(0)  # the zygote is gone, or retired this spare
            theirs.close()
            job = json.loads(msg)
            sandbox.adopt(job["spec"]["id"], job["record"])
        except BaseException:
            os._exit(127)
        _become_environment(job["spec"], fds)
    theirs.close()
    _spares.append((pid, ours))


def _hand_to_spare(spec, fds):
    """The pid of a spare now running this spec, or None when no spare could take it."""
    while _spares:
        pid, sock = _spares.pop()
        job = json.dumps({"spec": spec, "record": sandbox.record(spec["id"])}).encode()
        try:
            socket.send_fds(sock, [job], fds)
        except OSError:
            continue  # it died: the reaper collects it
        finally:
            sock.close()
        return pid
    return None


def _retire_spares():
    for _, sock in _spares:
        sock.close()  # each sees EOF and exits
    del _spares[:]


def _become_environment(spec, fds):
    """In a forked child: run as the environment; never returns (a failure exits 127)."""
    try:
        _child(spec, fds[0], fds[1])
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(127)
    os._exit(0)


def _spawn(ctl, spec, fds, children, by_id):
    env_id = spec["id"]
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        ctl.sendall(frames.pack_json(frames.SPAWN_FAILED, {"id": env_id, "error": "expected 2 fds"}))
        return
    try:
        sandbox.before_fork(spec)
        pid = _hand_to_spare(spec, fds)
        if pid is None:
            pid = sandbox.fork(spec)
    except Exception as exc:
        for fd in fds:
            os.close(fd)
        sandbox.on_exit(env_id)
        ctl.sendall(frames.pack_json(frames.SPAWN_FAILED, {"id": env_id, "error": str(exc)}))
        return
    if pid == 0:
        _become_environment(spec, fds)
    for fd in fds:
        os.close(fd)
    children[pid] = env_id
    by_id[env_id] = pid
    sandbox.after_fork(spec, pid)
    ctl.sendall(frames.pack_json(frames.SPAWNED, {"id": env_id, "pid": pid}))


def _reap(ctl, children, by_id):
    for pid, status, fields in frames.reaped_children():
        env_id = children.pop(pid, None)
        if env_id is None:
            continue  # a spare that ended, or nothing of ours
        by_id.pop(env_id, None)
        report = {"id": env_id, "pid": pid, **fields}
        report.update(sandbox.on_exit(env_id, status) or {})  # e.g. "oom": true when the memory cgroup killed it
        try:
            ctl.sendall(frames.pack_json(frames.EXITED, report))
        except OSError:
            pass


def _shutdown(children):
    for pid, env_id in list(children.items()):
        sandbox.kill(env_id, pid)
    for pid, env_id in list(children.items()):
        frames.wait_exit(pid)
        sandbox.on_exit(env_id)
    sandbox.shutdown()


if __name__ == "__main__":
    main()
