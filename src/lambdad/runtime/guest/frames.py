"""The framed protocol between the server and an environment (and the server and a zygote).

A frame is `!IB` (body length, kind) followed by the body; the kinds are `Kind` below. One stream
socket per environment carries, in order: SETUP (absent when the spec carried the variables),
INIT_DONE or INIT_ERROR once, then INVOKE -> RESULT | ERROR pairs. When the environment is a
program the zygote execs (Node.js, a custom runtime's bootstrap), EXEC_FAILED may come instead of
INIT_DONE, and FATAL may answer an INVOKE instead of ERROR: the same body, and the runtime ends
itself right after (an uncaught exception), so the environment must not be reused. An environment
forked from a SnapStart template says HELLO first and waits for its SETUP (guest/template.py).

Bodies (the guest keeps plain dicts: it is Python 3.9+ stdlib only; this list is their one
definition). JSON objects unless said otherwise:

environment channel
  SETUP        server -> env   {"env": {name: value}}: the function's variables (secrets never pass
                               the zygote); also how a spare Node.js process learns whose it now is
  INIT_DONE    env -> server   {"init_ms": float}: the handler is loaded (or the snapshot restored)
  INIT_ERROR   env -> server   an AWS error payload {"errorMessage", "errorType", "requestId",
                               "stackTrace": [str]}; the process exits after it
  EXEC_FAILED  env -> server   {"errorType", "reason"}: the program could not be started
  INVOKE       server -> env   `!I` header length, the JSON header, then the payload bytes untouched
                               (the server never re-encodes a payload). Header: {"id": request id,
                               "arn": invoked ARN, "deadline": epoch ms, "trace": X-Amzn-Trace-Id,
                               "client_context"?: object, "identity"?: object}
  RESULT       env -> server   `!I` max-RSS in KiB, then the response bytes (the handler's JSON)
  ERROR, FATAL env -> server   `!I` max-RSS in KiB, then an AWS error payload as for INIT_ERROR
  HELLO        env -> server   empty: a fork of a SnapStart template, first on its channel
  FORK         server -> template  {"id": environment id, "log_stream"} with the fork's channel and
                               log pipe passed as fds
zygote control socket
  SPAWN        server -> zygote  the spawn spec, with the channel and log fds passed: {"id",
                               "function_name", "function_version", "handler", "memory_mb",
                               "timeout", "ephemeral_mb", "log_group", "log_stream", "task_root",
                               "code_dir", "opt_dir", "tmp_dir", "path_head": [str], "path_tail":
                               [str], "env"?: variables (absent: SETUP brings them), "exec"?: argv
                               of a program to exec, "uid", "hostname", "network", "snapstart"}
                               (runtime/launcher.py builds it; the sandbox reads its own keys)
  KILL         server -> zygote  {"id"}: end that environment's process tree
  READY        zygote -> server  {"pid", "python": version, "sandbox": which protections are active}
  SPAWNED      zygote -> server  {"id", "pid"}
  SPAWN_FAILED zygote -> server  {"id", "error": text}
  EXITED       zygote (or template) -> server  {"id", "pid"?, "code": exit status or None,
                               "signal": signal number or None, "oom"?: true when the memory cgroup
                               killed it}
"""

import enum
import json
import os
import struct

HEADER = struct.Struct("!IB")
U32 = struct.Struct("!I")


class Kind(enum.IntEnum):
    """Frame kinds (one byte; an ASCII letter, so a hex dump is readable). Bodies: the docstring."""

    # server -> environment
    INVOKE = ord("I")
    SETUP = ord("V")
    # environment -> server
    INIT_DONE = ord("D")
    INIT_ERROR = ord("F")
    RESULT = ord("R")
    ERROR = ord("E")
    EXEC_FAILED = ord("B")
    FATAL = ord("T")
    # SnapStart (guest/template.py): server -> template, and a fork's first frame to the server
    FORK = ord("C")
    HELLO = ord("H")
    # server -> zygote
    SPAWN = ord("S")
    KILL = ord("K")
    # zygote -> server
    SPAWNED = ord("P")
    SPAWN_FAILED = ord("Q")
    EXITED = ord("X")
    READY = ord("Y")


# The kinds by their names at module level, as callers have always written them (frames.INVOKE).
INVOKE, SETUP = Kind.INVOKE, Kind.SETUP
INIT_DONE, INIT_ERROR, RESULT, ERROR, EXEC_FAILED, FATAL = (
    Kind.INIT_DONE, Kind.INIT_ERROR, Kind.RESULT, Kind.ERROR, Kind.EXEC_FAILED, Kind.FATAL)
FORK, HELLO = Kind.FORK, Kind.HELLO
SPAWN, KILL = Kind.SPAWN, Kind.KILL
SPAWNED, SPAWN_FAILED, EXITED, READY = Kind.SPAWNED, Kind.SPAWN_FAILED, Kind.EXITED, Kind.READY

MAX_FRAME = 64 * 1024 * 1024


_EXITS = (os.CLD_EXITED, os.CLD_KILLED, os.CLD_DUMPED)


def reaped_children():
    """(pid, wait status, exit report fields) for every child that has exited, without blocking.
    The fields are the EXITED body's {"code", "signal"}: the exit status, or the signal that ended it.

    Only real exits: a child that made itself our ptrace tracee (PTRACE_TRACEME) has its stops
    reported to us whatever the flags (the kernel's rule for tracers), and a stopped child is still
    running; taking one for an exit once let a live environment's uid go to another account.
    """
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            return
        if info is None or info.si_pid == 0:
            return
        if info.si_code not in _EXITS:
            continue  # a ptrace-stop (CLD_TRAPPED) or a job-control stop: consumed, not an exit
        if info.si_code == os.CLD_EXITED:
            status, fields = (info.si_status & 0xFF) << 8, {"code": info.si_status, "signal": None}
        else:
            status = info.si_status | (0x80 if info.si_code == os.CLD_DUMPED else 0)
            fields = {"code": None, "signal": info.si_status}
        yield info.si_pid, status, fields


def wait_exit(pid):
    """Block until that child has exited (a stop, as above, is no exit)."""
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED)
        except ChildProcessError:
            return
        if info is None or info.si_code in _EXITS:
            return


def pack(kind, body):
    return HEADER.pack(len(body), kind) + body


def pack_json(kind, obj):
    return pack(kind, json.dumps(obj, separators=(",", ":")).encode())


def pack_invoke(header, payload):
    head = json.dumps(header, separators=(",", ":")).encode()
    return HEADER.pack(U32.size + len(head) + len(payload), INVOKE) + U32.pack(len(head)) + head + payload


def unpack_invoke(body):
    (n,) = U32.unpack_from(body, 0)
    start = U32.size
    return json.loads(body[start:start + n]), body[start + n:]


class FrameReader:
    """Incremental parser for a byte stream of frames (used by the asyncio side)."""

    __slots__ = ("_buf",)

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data):
        buf = self._buf
        buf += data
        frames = []
        offset = 0
        size = len(buf)
        while size - offset >= HEADER.size:
            length, kind = HEADER.unpack_from(buf, offset)
            if length > MAX_FRAME:
                raise ValueError("frame too large")
            end = offset + HEADER.size + length
            if end > size:
                break
            frames.append((kind, bytes(buf[offset + HEADER.size:end])))
            offset = end
        if offset:
            del buf[:offset]
        return frames


def read_frame(rfile):
    """Blocking read of one frame from a buffered binary file; None at EOF."""
    head = rfile.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    length, kind = HEADER.unpack(head)
    body = rfile.read(length) if length else b""
    if len(body) < length:
        return None
    return kind, body
