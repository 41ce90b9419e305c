"""The sandbox holds from inside a function: real server, real functions doing the attacks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, create_function, host_pids_of_uid, memory_cgroup, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")

PROBE = r'''
import errno, os, threading, time

ticks = []


def _err(exc):
    return {"errno": errno.errorcode.get(exc.errno, str(exc.errno)), "message": str(exc)}


def handler(event, context):
    op = event["op"]
    if op == "read":
        try:
            with open(event["path"], "rb") as f:
                return {"data": f.read(4096).decode("latin-1")}
        except OSError as exc:
            return _err(exc)
    if op == "listdir":
        try:
            return {"entries": sorted(os.listdir(event["path"]))}
        except OSError as exc:
            return _err(exc)
    if op == "write":
        try:
            with open(event["path"], "wb") as f:
                chunk = b"x" * (1 << 20)
                for _ in range(event.get("mb", 1)):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            return {"ok": True}
        except OSError as exc:
            return _err(exc)
    if op == "size":
        try:
            return {"size": os.path.getsize(event["path"])}
        except OSError as exc:
            return _err(exc)
    if op == "whoami":
        import pwd

        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
        try:
            name = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            name = None
        return {"uid": os.getuid(), "gid": os.getgid(), "name": name, "pid": os.getpid(),
                "no_new_privs": status["NoNewPrivs"].strip(), "cap_eff": status["CapEff"].strip(),
                "cgroup": open("/proc/self/cgroup").read(), "mountinfo": open("/proc/self/mountinfo").read()}
    if op == "environs":
        found = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    found[pid] = open("/proc/%s/environ" % pid, "rb").read().decode("latin-1")
                except OSError as exc:
                    found[pid] = _err(exc)
        return {"environs": found, "mine": dict(os.environ)}
    if op == "alloc":
        blocks = []
        for _ in range(event["mb"]):
            blocks.append(b"\1" * (1 << 20))
        return {"allocated": len(blocks)}
    if op == "forkbomb":
        n = 0
        while n < 5000:
            try:
                pid = os.fork()
            except OSError as exc:
                return {"forked": n, **_err(exc)}
            if pid == 0:
                time.sleep(600)
                os._exit(0)
            n += 1
        return {"forked": n}
    if op == "ticker":
        def tick():
            while True:
                ticks.append(time.monotonic())
                time.sleep(0.01)
        threading.Thread(target=tick, daemon=True).start()
        time.sleep(0.05)
        return {"started": True, "cgroup": open("/proc/self/cgroup").read()}
    if op == "ticks":
        # Wait (bounded) for the thread to tick again after this invocation began, then report its ticks.
        began = time.monotonic()
        while ticks[-1] <= began and time.monotonic() < began + 10:
            time.sleep(0.005)
        return {"ticks": [t for t in ticks if t >= event["since"]], "began": began}
    if op == "network":
        import socket

        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", event["port"]))
            return {"connected": True}
        except OSError as exc:
            return _err(exc)
        finally:
            s.close()
    if op == "userns":
        import ctypes, subprocess

        libc = ctypes.CDLL(None, use_errno=True)
        out = {"unshare": libc.unshare(0x10000000), "errno": errno.errorcode.get(ctypes.get_errno())}
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        out["subprocess"] = subprocess.run(["/bin/sh", "-c", "echo ok"], capture_output=True).stdout.decode()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        out["fork"] = os.waitpid(pid, 0)[1] >> 8
        return out
    if op == "scan":
        # Where else in this process's memory is the needle? (libc memmem in place: no copies.)
        import ctypes

        libc = ctypes.CDLL(None)
        libc.memmem.restype = ctypes.c_void_p
        libc.memmem.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)
        needle = event["a"].encode() + event["b"].encode()  # the only whole copy we make
        own = ctypes.cast(ctypes.c_char_p(needle), ctypes.c_void_p).value
        found = 0
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
        for fields in regions:
            if not fields[1].startswith("r") or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            pos = start
            while pos < end:
                hit = libc.memmem(pos, end - pos, needle, len(needle))
                if not hit:
                    break
                found += hit != own
                pos = hit + 1
        return {"found": found}
    raise ValueError(op)
'''


def call(lam: Any, name: str, **event: Any) -> dict[str, Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    body = json.loads(resp["Payload"].read())
    if resp.get("FunctionError"):
        return {"function_error": resp["FunctionError"], **body}
    return body


@pytest.fixture(scope="module")
def probe(lam: Any) -> str:
    return create_function(lam, PROBE, Environment={"Variables": {"PROBE_SECRET": "probe-secret-0451"}})


def test_host_files_and_the_data_dir_are_unreachable(lam: Any, probe: str, server: Server) -> None:
    data = str(server.data_dir)
    for path in (f"{data}/credentials", f"{data}/lambdad.db", "/etc/shadow", "/root/.bash_history",
                 f"{server.data_dir.parent}/server-{server.port}.log"):
        out = call(lam, probe, op="read", path=path)
        assert out.get("errno") in ("ENOENT", "EACCES"), (path, out)
    assert call(lam, probe, op="listdir", path=data)["errno"] == "ENOENT"
    assert call(lam, probe, op="listdir", path=str(server.data_dir / "code"))["errno"] == "ENOENT"
    root = call(lam, probe, op="listdir", path="/")["entries"]
    assert "home" not in root and "sys" not in root and "run" not in root
    # /etc holds only what a runtime needs; no shadow, no host keys
    etc = call(lam, probe, op="listdir", path="/etc")["entries"]
    assert "shadow" not in etc and "ssh" not in etc and "passwd" in etc
    # the server's root credentials are not in the function's environment
    mine = call(lam, probe, op="environs")["mine"]
    assert "LAMBDAD_ROOT_SECRET_ACCESS_KEY" not in mine
    assert not any(v == "test-root-secret-key-for-lambdad-tests-0001" for v in mine.values())
    # the only host filesystem paths mounted are read-only ones (the runtime, the code)
    for line in call(lam, probe, op="whoami")["mountinfo"].splitlines():
        target, options = line.split()[4], line.split()[5]
        assert target in ("/tmp", "/proc") or "ro" in options.split(","), line


def test_task_root_is_read_only_and_code_readable(lam: Any, probe: str) -> None:
    assert call(lam, probe, op="write", path="/var/task/evil.py")["errno"] == "EROFS"
    assert call(lam, probe, op="write", path="/usr/evil")["errno"] in ("EROFS", "EACCES")
    assert call(lam, probe, op="write", path="/opt/evil")["errno"] in ("EROFS", "EACCES")
    assert "def handler" in call(lam, probe, op="read", path="/var/task/app.py")["data"]


def test_no_user_namespaces_but_threads_and_processes_work(lam: Any, probe: str) -> None:
    out = call(lam, probe, op="userns")
    assert out == {"unshare": -1, "errno": "EPERM", "subprocess": "ok\n", "fork": 7}, out


def test_unprivileged_uid_without_capabilities(lam: Any, probe: str) -> None:
    me = call(lam, probe, op="whoami")
    assert me["uid"] != 0 and me["uid"] >= 990000
    assert me["gid"] == me["uid"]
    assert me["name"] and me["name"].startswith("sbx_user")
    assert me["no_new_privs"] == "1"
    assert int(me["cap_eff"], 16) == 0
    assert me["pid"] == 1, "own pid namespace"


@pytest.mark.parametrize("runtime", ["python3.9", "python3.13"])
def test_sandbox_works_on_every_interpreter(lam: Any, runtime: str) -> None:
    me = call(lam, create_function(lam, PROBE, runtime=runtime), op="whoami")
    assert me["pid"] == 1 and me["uid"] >= 990000 and me["no_new_privs"] == "1"


def test_cgroup_limits_follow_the_configuration(lam: Any) -> None:
    name = create_function(lam, PROBE, MemorySize=1769)
    me = call(lam, name, op="whoami")
    memory = Path(memory_cgroup(me))
    rel = memory.relative_to("/sys/fs/cgroup/memory")
    assert int((memory / "memory.limit_in_bytes").read_text()) == 1769 << 20
    assert (Path("/sys/fs/cgroup/pids") / rel / "pids.max").read_text().strip() == "1024"
    assert (Path("/sys/fs/cgroup/cpu") / rel / "cpu.shares").read_text().strip() == "1024", "1,769 MB = 1 vCPU"
    small = memory_cgroup(call(lam, create_function(lam, PROBE, MemorySize=128), op="whoami"))
    shares = Path("/sys/fs/cgroup/cpu") / Path(small).relative_to("/sys/fs/cgroup/memory") / "cpu.shares"
    assert shares.read_text().strip() == str(1024 * 128 // 1769)


def test_other_functions_tmp_and_environment_are_invisible(lam: Any, probe: str) -> None:
    assert call(lam, probe, op="write", path="/tmp/secret.txt") == {"ok": True}
    other = create_function(lam, PROBE)
    assert call(lam, other, op="read", path="/tmp/secret.txt")["errno"] == "ENOENT"
    assert call(lam, other, op="listdir", path="/tmp")["entries"] == []
    seen = call(lam, other, op="environs")
    assert list(seen["environs"]) == ["1"], "only its own processes are visible"
    everything = json.dumps(seen)
    assert "probe-secret-0451" not in everything
    assert "PROBE_SECRET" not in seen["mine"]
    # and they run as different uids
    assert call(lam, other, op="whoami")["uid"] != call(lam, probe, op="whoami")["uid"]


def test_secrets_of_one_function_never_reach_another_through_the_zygote(lam: Any) -> None:
    canary = "canary-" + uuid.uuid4().hex
    # long enough that no later allocation of the zygote would happen to overwrite every copy
    first = create_function(lam, PROBE, Environment={"Variables": {"SECRET": (canary + ";") * 60}})
    half = len(canary) // 2
    assert call(lam, first, op="scan", a=canary[:half], b=canary[half:])["found"] > 0, "the scan works"
    # every environment starts as a copy of the zygote's memory: the secret must never have been in it
    second = create_function(lam, PROBE)
    assert call(lam, second, op="scan", a=canary[:half], b=canary[half:]) == {"found": 0}


def test_memory_limit_kills_only_that_environment(lam: Any) -> None:
    name = create_function(lam, PROBE, MemorySize=128)
    out = call(lam, name, op="alloc", mb=400)
    assert out["function_error"] == "Unhandled"
    assert out["errorType"] == "Runtime.OutOfMemory"
    # the next invoke gets a fresh environment
    assert call(lam, name, op="alloc", mb=10) == {"allocated": 10}


def test_memory_limit_during_init_is_out_of_memory(lam: Any) -> None:
    name = create_function(lam, "hog = b'\\1' * (400 << 20)\n\ndef handler(event, context):\n    return 1\n",
                           MemorySize=128)
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read())["errorType"] == "Runtime.OutOfMemory"


def test_doctor_reports_each_protection(tmp_path: Path) -> None:
    def doctor(*flags: str) -> str:
        out = subprocess.run([sys.executable, "-m", "lambdad", "doctor", "--data-dir", str(tmp_path), *flags],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    on = doctor()
    for name in ("namespaces", "memory-cgroup", "pids-cgroup", "private-tmp", "unprivileged-uid", "freezer"):
        assert re.search(rf"{name}\s+active", on), on
    assert re.search(r"network-isolation\s+OFF", on)
    assert re.search(r"network-isolation\s+active", doctor("--sandbox-network", "none"))
    off = doctor("--sandbox", "false")
    assert re.search(r"namespaces\s+OFF\s+\(the sandbox setting is off\)", off), off
    assert not os.path.exists(tmp_path / "sandbox"), "doctor only looks"


def test_tmp_has_ephemeral_storage_capacity_and_does_not_count_as_memory(lam: Any) -> None:
    name = create_function(lam, PROBE, MemorySize=128, EphemeralStorage={"Size": 512})
    # 300 MB on /tmp of a 128 MB function: disk-backed, not charged as memory
    assert call(lam, name, op="write", path="/tmp/a", mb=300) == {"ok": True}
    assert call(lam, name, op="size", path="/tmp/a") == {"size": 300 << 20}, "kept across warm invokes"
    full = call(lam, name, op="write", path="/tmp/b", mb=300)
    assert full.get("errno") in ("ENOSPC", "EDQUOT"), full
    assert call(lam, name, op="size", path="/tmp/a") == {"size": 300 << 20}


def test_fork_bomb_is_contained(lam: Any, server: Server) -> None:
    name = create_function(lam, PROBE, MemorySize=1024, Timeout=60)
    out = call(lam, name, op="forkbomb")
    assert out.get("errno") == "EAGAIN", out
    assert out["forked"] < 1024
    assert httpx.get(f"{server.endpoint}/_lambdad/health").status_code == 200
    other = create_function(lam, PROBE)
    assert call(lam, other, op="whoami")["pid"] == 1
    lam.delete_function(FunctionName=name)


def test_background_threads_do_not_run_while_frozen(lam: Any) -> None:
    """A thread ticking every 10 ms records no tick inside a window the host saw frozen throughout.

    No scheduler timing is involved: the window is bounded by host reads of freezer.state (the
    environment and the test share CLOCK_MONOTONIC), and a thread that ran in it would have ticked.
    """
    name = create_function(lam, PROBE)
    started = call(lam, name, op="ticker")
    assert started["started"] is True
    state = Path(memory_cgroup(started).replace("/memory/", "/freezer/")) / "freezer.state"
    assert wait_until(lambda: state.read_text().strip() == "FROZEN"), "the server freezes idle environments"
    frozen_from = time.monotonic()  # after a read that said FROZEN
    frozen_until = frozen_from
    while frozen_until < frozen_from + 0.5:  # 50 sleeps of the thread; each read must still say FROZEN
        now = time.monotonic()
        assert state.read_text().strip() == "FROZEN"
        frozen_until = now  # before a read that said FROZEN
        time.sleep(0.02)
    out = call(lam, name, op="ticks", since=frozen_from - 5)
    ticks = out["ticks"]
    assert [t for t in ticks if frozen_from < t < frozen_until] == [], "a frozen environment's thread ran"
    assert any(t < frozen_from for t in ticks), "the thread ran before the freeze"
    assert any(t > out["began"] for t in ticks), "and runs again once thawed"


def test_network_none_per_function(lam: Any, server: Server) -> None:
    isolated = create_function(lam, PROBE, Environment={"Variables": {"LAMBDAD_NETWORK": "none"}})
    out = call(lam, isolated, op="network", port=server.port)
    assert out.get("errno") == "ECONNREFUSED", out
    shared = create_function(lam, PROBE)
    assert call(lam, shared, op="network", port=server.port) == {"connected": True}


# -- lifecycle: nothing left behind ---------------------------------------------------------------
def _cgroup_dirs(tag: str) -> list[str]:
    found = []
    for root in Path("/sys/fs/cgroup").iterdir():
        d = root / tag
        if d.is_dir():
            found.append(str(d))
    return found


def _tag(server: Server) -> str:
    m = re.findall(r"sandbox: instance (lambdad-\d+)", server.log_text())
    assert m, server.log_text()[-2000:]
    return m[-1]


def _loops_of(data_dir: Path) -> list[str]:
    found = []
    for dev in Path("/sys/block").glob("loop*"):
        try:
            backing = (dev / "loop" / "backing_file").read_text()
        except OSError:
            continue
        if str(data_dir) in backing:
            found.append(dev.name)
    return found


def test_deleting_a_function_removes_its_environments(lam: Any) -> None:
    name = create_function(lam, PROBE)
    me = call(lam, name, op="whoami")
    cgroup = memory_cgroup(me)
    assert os.path.isdir(cgroup) and host_pids_of_uid(me["uid"])
    freezer = Path(cgroup.replace("/memory/", "/freezer/")) / "freezer.state"
    assert wait_until(lambda: freezer.read_text().strip() == "FROZEN"), "idle environments are frozen"
    lam.delete_function(FunctionName=name)  # a frozen environment is thawed to be killed
    assert wait_until(lambda: not host_pids_of_uid(me["uid"]))
    assert wait_until(lambda: not os.path.exists(cgroup))


def test_stopping_the_server_leaves_nothing(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, PROBE)
    me = call(lam, name, op="whoami")
    tag = _tag(fresh_server)
    assert _cgroup_dirs(tag) and _loops_of(fresh_server.data_dir)
    fresh_server.stop(signal.SIGTERM)
    assert fresh_server.proc is not None and fresh_server.proc.returncode is not None
    assert not host_pids_of_uid(me["uid"])
    assert _cgroup_dirs(tag) == []
    assert wait_until(lambda: not _loops_of(fresh_server.data_dir))
    assert str(fresh_server.data_dir) not in Path("/proc/self/mountinfo").read_text()
    assert not list((fresh_server.data_dir / "sandbox").glob("*.img"))


def test_leftovers_of_a_killed_server_are_cleaned_at_next_start(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, PROBE)
    me = call(lam, name, op="whoami")
    cgroup = memory_cgroup(me)
    # kill -9 the server and its zygotes at once: nothing gets to clean up
    assert fresh_server.proc is not None
    zygotes = [int(p) for p in Path(f"/proc/{fresh_server.proc.pid}/task/{fresh_server.proc.pid}/children")
               .read_text().split()]
    fresh_server.proc.kill()
    for pid in zygotes:
        os.kill(pid, signal.SIGKILL)
    fresh_server.proc.wait()
    # environments die with their zygote (parent-death signal) ...
    assert wait_until(lambda: not host_pids_of_uid(me["uid"]))
    # ... and the next server removes what is left (any lambdad server starting on this host
    # removes the leftovers of dead instances, so another one may already have done it)
    fresh_server.start()
    assert wait_until(lambda: not os.path.exists(cgroup))
    assert call(fresh_server.client(), name, op="whoami")["uid"] >= 990000
    fresh_server.stop(signal.SIGTERM)
