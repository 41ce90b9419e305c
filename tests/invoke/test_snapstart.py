"""SnapStart through boto3: published versions restored from an initialized template.

What the REPORT lines, the configuration and the handlers themselves say is asserted; never how long
anything took (performance lives in benchmarks/).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import Server, create_function, host_pids_of_uid, memory_cgroup, wait_until

SNAP = {"ApplyOn": "PublishedVersions"}

CODE = r'''
import os, random, time
from snapshot_restore_py import register_after_restore, register_before_snapshot

time.sleep(float(os.environ.get("SLOW_INIT", "0")))  # a slow init: restoring must not repeat it
fixed = random.Random(42)    # state captured in the snapshot, the same in every fork
fresh = random.Random(42)    # reseeded by an after-restore hook
hooks = []
state = {"mine": []}


@register_before_snapshot
def first_registered():
    hooks.append("before-1")


def second_registered():
    hooks.append("before-2")
    print("before snapshot hook ran")


register_before_snapshot(second_registered)


@register_after_restore
def reseed():
    fresh.seed()
    hooks.append("after-1")
    state["restored_in"] = open("/proc/self/cgroup").read()


def with_args(tag, suffix=""):
    hooks.append(tag + suffix)


register_after_restore(with_args, "after-2", suffix="!")


def handler(event, context):
    op = event.get("op")
    if op == "tmp-write":
        with open("/tmp/" + event["file"], "w") as f:
            f.write("x")
    if op == "remember":
        state["mine"].append(event["value"])
    if op == "peek":
        found = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    with open("/proc/%s/environ" % pid, "rb") as f:
                        found[pid] = "readable"
                except OSError as exc:
                    found[pid] = exc.__class__.__name__
        return {"peek": found}
    if op == "alloc":
        blocks = [b"\1" * (1 << 20) for _ in range(event["mb"])]
        return len(blocks)
    time.sleep(event.get("sleep", 0))
    return {
        "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "log_env": [k for k in ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME") if k in os.environ],
        "stream": context.log_stream_name,
        "hooks": hooks,
        "fixed": fixed.random(),
        "fresh": fresh.random(),
        "mine": state["mine"],
        "tmp": sorted(os.listdir("/tmp")),
        "uid": os.getuid(),
        "pid": os.getpid(),
        "cgroup": open("/proc/self/cgroup").read(),
        "restored_in": state.get("restored_in"),
        "has_key": bool(os.environ.get("AWS_ACCESS_KEY_ID")),
    }
'''

sandboxed = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def publish(lam: Any, name: str, wait: bool = True) -> dict[str, Any]:
    out = lam.publish_version(FunctionName=name)
    if wait:
        lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=out["Version"],
                                                        WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
    return out


def snapstart_function(lam: Any, code: str = CODE, **kwargs: Any) -> tuple[str, str]:
    name = create_function(lam, code, SnapStart=SNAP, **kwargs)
    return name, publish(lam, name)["Version"]


def invoke(lam: Any, name: str, qualifier: str | None = None, **event: Any) -> tuple[Any, str]:
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail", **kwargs)
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body, base64.b64decode(resp["LogResult"]).decode()


def report_of(logs: str) -> str:
    return next(line for line in logs.splitlines() if line.startswith("REPORT "))


def wait_state(lam: Any, name: str, version: str, state: str) -> dict[str, Any]:
    """Poll the version until it reaches `state`: a wait for an event, not a timing check."""
    deadline = time.monotonic() + 60
    while True:
        cfg = lam.get_function_configuration(FunctionName=name, Qualifier=version)
        if cfg["State"] == state:
            return cfg
        assert cfg["State"] == "Pending" and time.monotonic() < deadline, cfg
        time.sleep(0.05)


def concurrently(lam: Any, name: str, version: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(len(events)) as pool:
        return [body for body, _ in pool.map(lambda e: invoke(lam, name, version, **e), events)]


# -- configuration ------------------------------------------------------------------------------------
def test_configuration_round_trip_and_optimization_status(lam: Any) -> None:
    name = create_function(lam, CODE)
    assert lam.get_function_configuration(FunctionName=name)["SnapStart"] == {"ApplyOn": "None",
                                                                             "OptimizationStatus": "Off"}
    before = publish(lam, name)
    assert before["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert before["State"] == "Active"

    updated = lam.update_function_configuration(FunctionName=name, SnapStart=SNAP)
    assert updated["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})

    published = publish(lam, name, wait=False)
    # As on AWS: the version answers at once, Pending while its snapshot is made.
    assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert (published["State"], published["StateReasonCode"], published["LastUpdateStatus"]) == \
        ("Pending", "Creating", "InProgress")
    active = wait_state(lam, name, published["Version"], "Active")
    assert active["LastUpdateStatus"] == "Successful"
    assert "StateReasonCode" not in active and active["RevisionId"] != published["RevisionId"]
    assert active["SnapStart"]["OptimizationStatus"] == "On"

    # $LATEST and the version published before stay Off; so does a qualified $LATEST.
    for qualifier in (None, "$LATEST"):
        kwargs = {"Qualifier": qualifier} if qualifier else {}
        assert lam.get_function_configuration(FunctionName=name, **kwargs)["SnapStart"] == {
            "ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    assert lam.get_function_configuration(FunctionName=name, Qualifier=before["Version"])["SnapStart"][
        "OptimizationStatus"] == "Off"

    lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    off = publish(lam, name, wait=False)
    assert off["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"} and off["State"] == "Active"

    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "invalidOption"})
    assert error(exc) == (400, "ValidationException", "1 validation error detected: Value 'invalidOption' at "
                          "'snapStart.applyOn' failed to satisfy constraint: Member must satisfy enum value set: "
                          "[PublishedVersions, None]")


# -- restoring ----------------------------------------------------------------------------------------
def test_slow_init_is_restored_not_repeated(lam: Any, server: Server) -> None:
    name, version = snapstart_function(lam, Environment={"Variables": {"SLOW_INIT": "0.5"}})
    body, logs = invoke(lam, name, version)
    report = report_of(logs)
    assert re.search(r"\tRestore Duration: [\d.]+ ms\tBilled Restore Duration: \d+ ms", report), report
    assert "Init Duration" not in report
    assert body["init"] == "snap-start"
    assert body["log_env"] == []  # not available in SnapStart functions, as on AWS
    assert body["has_key"]  # credentials of the execution role reach each restored environment

    again, logs = invoke(lam, name, version)  # warm: the same environment, no restore
    assert again["stream"] == body["stream"] and "Restore Duration" not in report_of(logs)

    # The init (the sleep, the before-snapshot hooks) ran once, in the template, logged with its duration.
    logs_client, group = server.client("logs"), f"/aws/lambda/{name}"
    streams = [s["logStreamName"] for s in logs_client.describe_log_streams(logGroupName=group)["logStreams"]]
    template_lines = [e["message"] for s in streams if s != body["stream"]
                      for e in logs_client.get_log_events(logGroupName=group, logStreamName=s)["events"]]
    assert sum("before snapshot hook ran" in line for line in template_lines) == 1
    assert any(re.match(r"INIT_REPORT Init Duration: [\d.]+ ms", line) for line in template_lines), template_lines


def test_hooks_before_snapshot_once_after_restore_in_each_environment(lam: Any) -> None:
    name, version = snapstart_function(lam)
    first, second = concurrently(lam, name, version, [{"sleep": 0.5}, {"sleep": 0.5}])
    assert first["stream"] != second["stream"], "two concurrent invocations, two environments"
    for body in (first, second):
        # before-snapshot hooks ran once, in reverse order of registration, before the fork;
        # after-restore hooks once per environment, in order of registration, with their arguments
        assert body["hooks"] == ["before-2", "before-1", "after-1", "after-2!"]
        assert body["init"] == "snap-start"
    # Forks of one snapshot: a random generator made at init continues identically in each ...
    assert first["fixed"] == second["fixed"]
    # ... unless an after-restore hook reseeds it, which is what the hooks are for.
    assert first["fresh"] != second["fresh"]


@pytest.mark.parametrize("runtime", ["python3.9", "python3.13"])
def test_oldest_and_newest_python_restore(lam: Any, runtime: str) -> None:
    name, version = snapstart_function(lam, runtime=runtime)
    body, logs = invoke(lam, name, version)
    assert body["init"] == "snap-start" and body["hooks"] == ["before-2", "before-1", "after-1", "after-2!"]
    assert "Restore Duration" in report_of(logs)


def test_latest_is_never_restored(lam: Any) -> None:
    name, _version = snapstart_function(lam)
    body, logs = invoke(lam, name)
    assert body["init"] == "on-demand" and body["hooks"] == []
    assert "Init Duration" in report_of(logs) and "Restore Duration" not in report_of(logs)
    body, logs = invoke(lam, name, "$LATEST")
    assert body["init"] == "on-demand"


def test_aliases_restore_their_version(lam: Any) -> None:
    name, version = snapstart_function(lam)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    body, logs = invoke(lam, name, "live")
    assert body["init"] == "snap-start" and "Restore Duration" in report_of(logs)


def test_restored_environments_keep_their_own_state(lam: Any) -> None:
    """Module state changed after restore stays in its environment. What forks of one template share
    (they cannot be separated without privileges a fork must never hold): /tmp, the uid and the pid
    namespace. Other versions and functions see none of it, and a fork's memory, descriptors and
    environment stay unreadable to its siblings."""
    name, version = snapstart_function(lam)
    a, b = concurrently(lam, name, version, [{"op": "remember", "value": "a", "sleep": 0.6},
                                             {"op": "remember", "value": "b", "sleep": 0.6}])
    assert a["stream"] != b["stream"]
    assert {tuple(a["mine"]), tuple(b["mine"])} == {("a",), ("b",)}

    # Shared by environments of this version: /tmp (one template, one mount namespace) ...
    marker = "from-" + a["stream"].rsplit("]", 1)[1]
    writer, reader = concurrently(lam, name, version, [{"op": "tmp-write", "file": marker, "sleep": 0.8},
                                                      {"sleep": 0.4}])
    assert writer["stream"] != reader["stream"] and marker in reader["tmp"]
    # ... one uid, and a pid namespace where siblings are visible, though not readable.
    if os.geteuid() == 0:
        assert a["uid"] == b["uid"] >= 990000
        assert a["cgroup"] != b["cgroup"], "each environment has cgroups of its own"
        assert a["restored_in"] == a["cgroup"], "joined before any of its code ran"
        peeks = concurrently(lam, name, version, [{"op": "peek", "sleep": 0.5}, {"op": "peek", "sleep": 0.5}])
        siblings = {pid: how for body in peeks for pid, how in body["peek"].items()}
        assert "1" in siblings, "the template is pid 1 of their namespace"
        assert set(siblings.values()) == {"PermissionError"}, siblings

    # Nothing of it reaches another version of the function, or its $LATEST.
    lam.update_function_configuration(FunctionName=name, Description="another version")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    other = publish(lam, name)["Version"]
    assert marker not in invoke(lam, name, other)[0]["tmp"]
    assert marker not in invoke(lam, name)[0]["tmp"]


# -- failures -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("code,latest_fails", [
    ("raise RuntimeError('init failed')\n\ndef handler(event, context):\n    return 1\n", True),
    ("from snapshot_restore_py import register_before_snapshot\n\n@register_before_snapshot\ndef hook():\n"
     "    raise ValueError('no snapshot today')\n\ndef handler(event, context):\n    return 1\n", False),
], ids=["init", "before-snapshot-hook"])
def test_init_failure_marks_the_version_failed(lam: Any, code: str, latest_fails: bool) -> None:
    name = create_function(lam, code, SnapStart=SNAP)
    version = publish(lam, name, wait=False)["Version"]
    with pytest.raises(WaiterError):
        lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version,
                                                        WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
    cfg = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    assert (cfg["State"], cfg["StateReasonCode"], cfg["LastUpdateStatus"], cfg["LastUpdateStatusReasonCode"]) == \
        ("Failed", "FunctionError", "Failed", "FunctionError")
    assert cfg["StateReason"]
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert error(exc) == (409, "ResourceConflictException", "The operation cannot be performed at this time. "
                          "The function is currently in the following state: Failed")
    # $LATEST initializes as usual: only a failing init fails there, hooks do not run
    assert ("FunctionError" in lam.invoke(FunctionName=name, Payload=b"{}")) is latest_fails


def test_failing_after_restore_hook_is_a_snapstart_exception(lam: Any, server: Server) -> None:
    code = ("from snapshot_restore_py import register_after_restore\n\n@register_after_restore\ndef hook():\n"
            "    raise ConnectionError('database unreachable')\n\ndef handler(event, context):\n    return 1\n")
    name, version = snapstart_function(lam, code)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    status, code_, message = error(exc)
    assert (status, code_) == (400, "SnapStartException") and "afterRestore()" in message
    logs = server.client("logs")
    lines = [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]]
    assert any("ConnectionError: database unreachable" in line for line in lines), lines
    assert any(line.startswith("RESTORE_REPORT") for line in lines), lines


def test_memory_limit_holds_in_restored_environments(lam: Any) -> None:
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    name, version = snapstart_function(lam, MemorySize=128)
    resp = lam.invoke(FunctionName=name, Qualifier=version, Payload=json.dumps({"op": "alloc", "mb": 300}))
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read())["errorType"] == "Runtime.OutOfMemory"
    body, logs = invoke(lam, name, version)  # the template is untouched: the next one is restored again
    assert body["init"] == "snap-start" and "Restore Duration" in report_of(logs)


# -- lifecycle: nothing left behind ---------------------------------------------------------------------
@sandboxed
@pytest.mark.parametrize("what", ["version", "function"])
def test_deleting_the_version_or_function_ends_its_template(lam: Any, what: str) -> None:
    name, version = snapstart_function(lam)
    body, _ = invoke(lam, name, version)
    cgroup = memory_cgroup(body)
    # the template, the environment it restored, and one fork parked for the next restore
    assert wait_until(lambda: len(host_pids_of_uid(body["uid"])) >= 3), host_pids_of_uid(body["uid"])
    assert os.path.isdir(cgroup)
    latest, _ = invoke(lam, name)
    if what == "version":
        lam.delete_function(FunctionName=name, Qualifier=version)
    else:
        lam.delete_function(FunctionName=name)
    assert wait_until(lambda: not host_pids_of_uid(body["uid"])), host_pids_of_uid(body["uid"])
    assert wait_until(lambda: not os.path.exists(cgroup))
    if what == "version":  # $LATEST's environment lives on
        assert invoke(lam, name)[0]["stream"] == latest["stream"]


@sandboxed
def test_restart_restores_again_and_stop_leaves_nothing(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client()
    name, version = snapstart_function(lam)
    before, _ = invoke(lam, name, version)
    fresh_server.stop(signal.SIGTERM)
    assert fresh_server.proc is not None and fresh_server.proc.returncode is not None
    assert not host_pids_of_uid(before["uid"])
    assert not os.path.exists(memory_cgroup(before))

    fresh_server.start()  # Active survives the restart; the template is made again on first use
    lam = fresh_server.client()
    assert lam.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Active"
    after, logs = invoke(lam, name, version)
    assert after["init"] == "snap-start" and "Restore Duration" in report_of(logs)
    assert after["hooks"] == ["before-2", "before-1", "after-1", "after-2!"]
    fresh_server.stop(signal.SIGTERM)
    assert not host_pids_of_uid(after["uid"])
    assert not os.path.exists(memory_cgroup(after))



def test_a_snapshot_interrupted_by_a_crash_is_made_at_the_next_start(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, CODE, SnapStart=SNAP, Environment={"Variables": {"SLOW_INIT": "1"}})
    version = publish(lam, name, wait=False)["Version"]
    assert lam.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Pending"
    fresh_server.stop(signal.SIGKILL)  # while the template is still initializing
    fresh_server.start()
    lam = fresh_server.client()
    assert wait_state(lam, name, version, "Active")["LastUpdateStatus"] == "Successful"
    body, logs = invoke(lam, name, version)
    assert body["init"] == "snap-start" and "Restore Duration" in report_of(logs)
    fresh_server.stop(signal.SIGTERM)
