"""What a user created survives a clean stop (SIGTERM) and a kill -9 of the server on the same data dir."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from typing import Any

import httpx
import pytest

from tests.conftest import create_function, make_zip, unique

CODE = """
import os

calls = 0

def handler(event, context):
    global calls
    calls += 1
    print("marker", event.get("marker"))
    return {"version": VERSION, "calls": calls, "env": context.log_stream_name, "greeting": os.environ.get("GREETING")}
"""


def code(version: int) -> str:
    return f"VERSION = {version}\n" + CODE


def invoke(lam: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert "FunctionError" not in resp
    return json.loads(resp["Payload"].read())


def log_messages(server: Any, name: str) -> list[str]:
    logs = server.client("logs")
    return [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]]


def snapshot(lam: Any, name: str) -> dict[str, Any]:
    got = lam.get_function(FunctionName=name)
    got.pop("ResponseMetadata")
    location = got["Code"].pop("Location")
    return {"function": got, "zip": httpx.get(location, timeout=10).content,
            "concurrency": lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")}


def build_state(server: Any) -> tuple[Any, dict[str, Any]]:
    """Functions with code, configuration, tags, concurrency and logs; returns (client, what to expect)."""
    lam = server.client()
    kept = create_function(lam, code(1), name=unique("kept"), Tags={"team": "core"}, MemorySize=256,
                           Environment={"Variables": {"GREETING": "hi"}})
    lam.update_function_configuration(FunctionName=kept, Description="changed", Timeout=9)
    lam.get_waiter("function_updated_v2").wait(FunctionName=kept, WaiterConfig={"Delay": 0.2})
    lam.update_function_code(FunctionName=kept, ZipFile=make_zip({"app.py": code(2)}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=kept, WaiterConfig={"Delay": 0.2})
    lam.put_function_concurrency(FunctionName=kept, ReservedConcurrentExecutions=7)
    first = invoke(lam, kept, {"marker": "before-restart"})
    assert (first["version"], first["greeting"]) == (2, "hi")
    gone = create_function(lam, code(1), name=unique("gone"))
    lam.delete_function(FunctionName=gone)
    # Reading the logs back proves they reached the store before the server is stopped.
    assert "marker before-restart" in log_messages(server, kept)
    return lam, {"kept": kept, "gone": gone, "snapshot": snapshot(lam, kept), "env": first["env"],
                 "account": lam.get_account_settings()["AccountUsage"]}


def check_state(server: Any, expected: dict[str, Any]) -> None:
    lam = server.client()
    kept = expected["kept"]
    assert snapshot(lam, kept) == expected["snapshot"]
    assert lam.list_tags(Resource=expected["snapshot"]["function"]["Configuration"]["FunctionArn"])["Tags"] == {
        "team": "core"}
    names = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert kept in names and expected["gone"] not in names
    assert lam.get_account_settings()["AccountUsage"] == expected["account"]
    assert "marker before-restart" in log_messages(server, kept)
    after = invoke(lam, kept, {"marker": "after-restart"})
    assert (after["version"], after["greeting"], after["calls"]) == (2, "hi", 1)
    assert after["env"] != expected["env"], "a new environment after the restart"
    assert "marker after-restart" in log_messages(server, kept)


def descendants(pid: int) -> set[int]:
    """Host pids of a process's descendants (environments live in their own pid namespaces, so a
    function cannot name its host pid; the test finds them from the outside)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def wait_gone(pids: set[int]) -> bool:
    for _ in range(200):
        alive = set()
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.add(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_state_survives_restart(fresh_server: Any, stop_signal: int) -> None:
    fresh_server.start()
    _, expected = build_state(fresh_server)
    assert fresh_server.proc is not None
    workers = descendants(fresh_server.proc.pid)
    assert workers, "the server runs its environments in child processes"
    fresh_server.stop(stop_signal)
    if stop_signal == signal.SIGTERM:
        assert fresh_server.proc is not None and fresh_server.proc.returncode == 0, fresh_server.log_text()[-2000:]
        assert "lambdad stopped" in fresh_server.log_text()
    assert wait_gone(workers), "the server's zygotes and environments do not outlive it"
    fresh_server.start()
    check_state(fresh_server, expected)
    fresh_server.stop(signal.SIGKILL)
    fresh_server.start()
    check_state(fresh_server, expected)


def test_function_settings_stored_before_typed_records_load(fresh_server: Any) -> None:
    """A data dir whose `functions.meta` was written by a server before the typed records (the JSON keys
    below, exactly as that server wrote them) restarts with every setting in place."""
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, code(1), name=unique("old"))
    number = lam.publish_version(FunctionName=name)["Version"]
    fresh_server.stop()
    db = sqlite3.connect(fresh_server.data_dir / "lambdad.db")
    row = db.execute("SELECT meta FROM functions WHERE name=?", (name,)).fetchone()
    fingerprint = json.loads(row[0])["published"]["fingerprint"]
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    dlq = "arn:aws:sqs:us-east-1:000000000000:gone"
    before = {
        "next_version": 5, "tags": {"team": "core"}, "created": 1700000000.5, "reserved_concurrency": 3,
        "published": {"fingerprint": fingerprint, "version": number},
        "event_invoke_configs": {"$LATEST": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 120,
                                             "LastModified": 1700000001.0,
                                             "DestinationConfig": {"OnFailure": {"Destination": dlq}}}},
        "url_configs": {"$LATEST": {"UrlId": "a" * 32, "AuthType": "NONE",
                                    "CreationTime": "2024-01-31T12:34:56.789+0000",
                                    "LastModifiedTime": "2024-02-01T00:00:00.000+0000", "Created": 1700000003.0,
                                    "Cors": {"AllowOrigins": ["https://example.com"]}}},
        "policies": {"": {"statements": [
            {"Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": "lambda:InvokeFunction", "Resource": arn},
            {"Sid": "url", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": arn,
             "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
            {"Sid": "url-invoke", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
             "Resource": arn, "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}},
        ], "revision": "rev-before"}},
    }
    with db:
        db.execute("UPDATE functions SET meta=? WHERE name=?", (json.dumps(before), name))
    db.close()

    fresh_server.start()
    lam = fresh_server.client()
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core"}
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 3
    eic = lam.get_function_event_invoke_config(FunctionName=name)
    assert (eic["MaximumRetryAttempts"], eic["MaximumEventAgeInSeconds"]) == (1, 120)
    assert eic["DestinationConfig"] == {"OnFailure": {"Destination": dlq}}
    url = lam.get_function_url_config(FunctionName=name)
    assert url["AuthType"] == "NONE" and url["Cors"]["AllowOrigins"] == ["https://example.com"]
    assert url["CreationTime"] == "2024-01-31T12:34:56.789+0000"
    policy = lam.get_policy(FunctionName=name)
    assert policy["RevisionId"] == "rev-before" and json.loads(policy["Policy"])["Statement"][0]["Sid"] == "sns"
    # Nothing changed since the publish: the same version; a change publishes the stored counter's next.
    assert lam.publish_version(FunctionName=name)["Version"] == number
    lam.update_function_configuration(FunctionName=name, Description="changed")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert lam.publish_version(FunctionName=name)["Version"] == "5"
    # The URL still routes (found by its stored id) and invokes the function.
    host = f"{'a' * 32}.lambda-url.us-east-1.localhost:{fresh_server.port}"
    got = httpx.get(f"http://127.0.0.1:{fresh_server.port}/", headers={"Host": host}, timeout=30)
    assert got.status_code == 200 and json.loads(got.text)["version"] == 1, got.text
