"""The cgroup v2 code paths of the guest sandbox, on this host's (controller-less) unified hierarchy.

This host runs cgroup v1 for its controllers, so memory.max / pids.max cannot be exercised here, but
v2's core files can: joining, cgroup.freeze (what the server writes for idle environments),
cgroup.kill (how the zygote kills an environment's tree) and removal afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GUEST = Path(__file__).resolve().parents[2] / "src" / "lambdad" / "runtime" / "guest"
UNIFIED = Path("/sys/fs/cgroup/unified")

SCRIPT = r'''
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import sandbox

parent = sys.argv[2]
os.mkdir(parent)
try:
    sandbox._enabled = True
    sandbox._cg_version = 2
    sandbox._cg_dirs.update({"": parent})
    sandbox.before_fork({"id": "envv2", "uid": 0, "memory_mb": 256})
    cg = os.path.join(parent, "envv2")
    assert os.path.isdir(cg), os.listdir(parent)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        sandbox._write(cg + "/cgroup.procs", b"0")
        os.write(w, b"in")
        while True:
            os.write(w, b".")
            time.sleep(0.01)
    assert os.read(r, 2) == b"in"
    assert open(cg + "/cgroup.procs").read().split() == [str(pid)]
    # freeze as the server does: no more ticks while frozen
    sandbox._write(cg + "/cgroup.freeze", b"1")
    deadline = time.time() + 5
    while "frozen 1" not in open(cg + "/cgroup.events").read() and time.time() < deadline:
        time.sleep(0.01)
    assert "frozen 1" in open(cg + "/cgroup.events").read()
    os.set_blocking(r, False)
    try:
        os.read(r, 65536)
    except BlockingIOError:
        pass
    time.sleep(0.2)
    try:
        ticks = os.read(r, 65536)
    except BlockingIOError:
        ticks = b""
    assert ticks == b"", ticks
    # kill while frozen: cgroup.kill plus the thaw in sandbox.kill
    sandbox.kill("envv2", pid)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    assert sandbox.on_exit("envv2", status) == {}
    deadline = time.time() + 5
    while sandbox.housekeeping() and time.time() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(cg)
    print("ok")
finally:
    sandbox._closing[0] = True
    for entry in os.listdir(parent):
        if os.path.isdir(os.path.join(parent, entry)):
            os.rmdir(os.path.join(parent, entry))
    os.rmdir(parent)
'''


@pytest.mark.skipif(os.geteuid() != 0 or not (UNIFIED / "cgroup.subtree_control").exists(),
                    reason="needs root and a cgroup2 mount at /sys/fs/cgroup/unified")
def test_v2_join_freeze_kill_and_remove() -> None:
    parent = UNIFIED / f"lambdad-v2test-{os.getpid()}"
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(GUEST), str(parent)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert not parent.exists()
