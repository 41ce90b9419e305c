"""What an environment's life leaves behind in the server: descriptors, cgroups, host paths.

Each test performs what a function (or a crash) does and looks at the server from the host.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, create_function, make_zip, memory_cgroup, unique, wait_until
from tests.runtime.conftest import deploy, invoke

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")

# A stdlib-only custom runtime: answers every invocation with its event.
ECHO_BOOTSTRAP = r'''#!/usr/bin/python3
import http.client, os

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    resp = conn.getresponse()
    event = resp.read()
    rid = resp.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=event)
    conn.getresponse().read()
'''

CRASHING_BOOTSTRAP = "#!/bin/sh\necho crashing >&2\nexit 3\n"

LIFETIMES = 50  # of each kind: 100 environment lifetimes in all
FD_SLACK = 8  # descriptors the server may open lazily meanwhile (a log database page, a pool's timer)


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _settled_fds(pid: int, bound: int) -> int:
    """The server's descriptor count once the last environment's are closed (that happens after its exit)."""
    wait_until(lambda: _fds(pid) <= bound, timeout=10)
    return _fds(pid)


# -- finding: retired custom-runtime environments kept their Runtime API listener open ---------------
def test_custom_runtime_environments_leave_no_descriptors(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client()
    assert fresh_server.proc is not None
    pid = fresh_server.proc.pid

    crashing = deploy(lam, {"bootstrap": CRASHING_BOOTSTRAP}, runtime="provided.al2")
    echo = deploy(lam, {"bootstrap": ECHO_BOOTSTRAP}, runtime="provided.al2",
                  Environment={"Variables": {"GENERATION": "0"}})
    # Warm up: the zygote, the log writer and the connection pools exist before counting.
    _, error, _ = invoke(lam, crashing)
    assert error == "Unhandled"
    assert invoke(lam, echo, {"n": 0})[0] == {"n": 0}
    before = _fds(pid)

    for _ in range(LIFETIMES):  # a bootstrap that dies at once: every invoke is a new environment
        payload, error, _ = invoke(lam, crashing)
        assert error == "Unhandled" and payload["errorType"] == "Runtime.ExitError", payload
    after_crashes = _settled_fds(pid, before + FD_SLACK)
    assert after_crashes <= before + FD_SLACK, (before, after_crashes)

    for n in range(1, LIFETIMES + 1):  # each new configuration retires the environment of the last one
        lam.update_function_configuration(FunctionName=echo, Environment={"Variables": {"GENERATION": str(n)}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=echo, WaiterConfig={"Delay": 0.1})
        assert invoke(lam, echo, {"n": n})[0] == {"n": n}
    after_retires = _settled_fds(pid, before + FD_SLACK)
    assert after_retires <= before + FD_SLACK, (before, after_retires)


def test_a_renamed_lifecycle_hook_cannot_go_unnoticed() -> None:
    """The leak above came from a base hook renamed under its override; now such a class fails to load."""
    from lambdad.runtime.environment import Environment, override
    from lambdad.runtime.runtime_api import HttpRuntimeEnvironment

    assert "release_resources" in vars(HttpRuntimeEnvironment)
    assert getattr(HttpRuntimeEnvironment.release_resources, "__override__", False)
    with pytest.raises(TypeError, match="overrides nothing"):
        class _Stale(Environment):
            @override
            def _close_fds(self) -> None:  # the old name of the hook
                pass


# -- finding: each zygote death left its cgroup directories (ready-made slots, its environments') ----
CGROUP_PROBE = """
def handler(event, context):
    return {"cgroup": open("/proc/self/cgroup").read()}
"""


def _instance_cgroups(server: Server) -> list[str]:
    tags = re.findall(r"sandbox: instance (lambdad-\d+)", server.log_text())
    assert tags, server.log_text()[-2000:]
    found = []
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        instance = hierarchy / tags[-1]
        if instance.is_dir():
            found += [str(d) for d in instance.iterdir() if d.is_dir()]
    return sorted(found)


def _zygotes(server: Server) -> list[int]:
    assert server.proc is not None
    pid = server.proc.pid
    children = []
    for entry in Path("/proc").iterdir():  # the zygotes are the server's only child processes
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm)": state, ppid, ...
            if int(fields[1]) == pid and fields[0] != "Z":
                children.append(int(entry.name))
    return children


@needs_root
def test_a_killed_zygote_leaves_no_cgroups(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, CGROUP_PROBE)
    env_cgroup = os.path.basename(memory_cgroup(json.loads(lam.invoke(FunctionName=name)["Payload"].read())))
    for round_ in range(3):
        zygotes = _zygotes(fresh_server)
        assert zygotes, round_
        # Its ready-made slots (named after it) and its idle, frozen environment's cgroups exist ...
        slots = f"/slot-{zygotes[0]}-"
        assert wait_until(lambda slots=slots: any(slots in d for d in _instance_cgroups(fresh_server)))
        assert any(d.endswith("/" + env_cgroup) for d in _instance_cgroups(fresh_server))
        for pid in zygotes:
            os.kill(pid, signal.SIGKILL)
        # ... and go with it, while a new zygote and environment take over. An invoke racing the kill
        # may still meet the old environment (answering, or dying as it answers): invoke until a new one does.
        for _attempt in range(5):
            resp = lam.invoke(FunctionName=name)
            payload = json.loads(resp["Payload"].read())
            if "FunctionError" not in resp and not memory_cgroup(payload).endswith("/" + env_cgroup):
                break
            assert "FunctionError" not in resp or payload.get("errorType") == "Runtime.ExitError", payload
        assert "FunctionError" not in resp and not memory_cgroup(payload).endswith("/" + env_cgroup), (
            payload, zygotes, _zygotes(fresh_server))

        def gone(zygotes: list[int] = zygotes, env_cgroup: str = env_cgroup) -> bool:
            left = _instance_cgroups(fresh_server)
            return not [d for d in left if d.endswith("/" + env_cgroup)
                        or any(f"/slot-{pid}-" in d for pid in zygotes)]
        assert wait_until(gone), _instance_cgroups(fresh_server)
        env_cgroup = os.path.basename(memory_cgroup(payload))
    assert fresh_server.proc is not None and fresh_server.proc.poll() is None


# -- finding: host paths and the zygote's configuration were readable from inside -----------------
PATHS_PROBE = """
import os, sys


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("latin-1")
    except OSError as exc:
        return "unreadable: %s" % exc


def handler(event, context):
    seen = {path: _read(path) for path in ("/proc/self/mountinfo", "/proc/1/cmdline", "/proc/1/environ",
                                           "/proc/self/cmdline", "/proc/self/environ")}
    seen["argv"] = " ".join(sys.argv)
    seen["layer"] = _read("/opt/layer.txt")
    seen["code"] = _read("/var/task/app.py")[:40]
    return seen
"""


@needs_root
def test_no_host_path_or_zygote_configuration_is_visible_inside(server: Server, lam: Any) -> None:
    import boto3

    import lambdad.runtime.guest as guest

    layer = lam.publish_layer_version(LayerName=unique("paths"), Content={"ZipFile": make_zip({"layer.txt": "L1"})},
                                      CompatibleRuntimes=["python3.12"])["LayerVersionArn"]
    name = create_function(lam, PATHS_PROBE, Layers=[layer])
    seen = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert seen["layer"] == "L1" and seen["code"].startswith("\nimport os"), seen  # still mounted, read-only
    assert " /var/task " in seen["/proc/self/mountinfo"] and " /opt " in seen["/proc/self/mountinfo"]
    data_dir = str(server.data_dir)
    secrets = {
        "the data dir": data_dir, "its real path": os.path.realpath(data_dir),
        "the run dir (lock, stage)": "/run/lambdad", "config keys": '"stage"', "the lock": "instance-",
        "the /tmp image": "store-", "lambdad's guest runtimes": str(Path(guest.__file__).resolve().parent),
        "the runtime's libraries": str(Path(boto3.__file__).resolve().parent.parent),
    }
    for what, text in seen.items():
        for secret, value in secrets.items():
            assert value not in text, f"{secret} ({value}) shows in {what}: {text[:3000]}"
