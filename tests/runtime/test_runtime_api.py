"""The HTTP Runtime API, seen from a custom runtime: a `provided.al2023` bootstrap written against it.

The bootstrap below is a small runtime in stdlib Python that does what the test's event asks:
answer, report errors, break the protocol on purpose, or try to reach another environment's API.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
import uuid
from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION
from tests.runtime.conftest import deploy, invoke

PROBE = r'''#!/usr/bin/python3
import http.client, json, os, socket, sys, time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.split(":")
BASE = "/2018-06-01/runtime/"


def call(method, path, body=None, headers=None, address=None):
    host, port = (address or API).split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(method, BASE + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def respond(rid, obj):
    return call("POST", "invocation/%s/response" % rid, json.dumps(obj))


def raw_exchange(request, body=None, first_timeout=5.0):
    """Send a request by hand; returns the first bytes the server answers before and after the body."""
    s = socket.create_connection((HOST, int(PORT)))
    s.settimeout(first_timeout)
    s.sendall(request)
    try:
        interim = s.recv(4096).decode()
    except socket.timeout:
        interim = "(nothing)"
    if body is not None:
        s.settimeout(30)
        s.sendall(body)
        final = s.recv(4096).decode()
    else:
        final = ""
    s.close()
    return interim, final


mode = os.environ.get("PROBE_INIT", "")
print("probe init", mode, flush=True)
if mode == "init-error":
    print(call("POST", "init/error", json.dumps({"errorMessage": "bad config", "errorType": "Custom.ConfigError",
                                                 "stackTrace": ["line 1"]}),
               {"Lambda-Runtime-Function-Error-Type": "Custom.ConfigError"})[0], flush=True)
    sys.exit(3)
if mode.startswith("exit-"):
    sys.exit(int(mode[5:]))

count = 0
late = []  # what happened after an answer was already sent; reported with the next one
while True:
    status, headers, body = call("GET", "invocation/next")
    rid = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body)
    count += 1
    action = event.get("action", "echo")
    if action == "echo":
        respond(rid, {"event": event, "count": count, "headers": headers, "status": status, "api": API,
                      "uid": os.getuid(), "late": late})
        late = []
    elif action == "log":
        print("line one", flush=True)
        sys.stderr.write("line two on stderr\n")
        sys.stderr.flush()
        respond(rid, "logged")
    elif action == "error":
        call("POST", "invocation/%s/error" % rid,
             json.dumps({"errorMessage": "it broke", "errorType": "Custom.Broken", "stackTrace": ["a", "b"]}),
             {"Lambda-Runtime-Function-Error-Type": "Custom.Broken"})
    elif action == "error-raw":
        call("POST", "invocation/%s/error" % rid, "plain words", {"Lambda-Runtime-Function-Error-Type": "Custom.Plain"})
    elif action == "misbehave":
        seen = {}
        s, _, b = call("POST", "invocation/%s/response" % event["other"], "{}")
        seen["other_id"] = [s, json.loads(b)]
        s, _, b = call("POST", "invocation/not-a-request/error", "{}")
        seen["unknown_id"] = [s, json.loads(b)]
        seen["wrong_method"] = call("GET", "invocation/%s/response" % rid)[0]
        seen["unknown_path"] = call("GET", "invocation/next/now")[0]
        seen["outside_prefix"] = call("GET", "/../../2020-01-01/extension/register")[0]
        s, _, b = call("POST", "init/error", "{}")
        seen["init_error_after_init"] = [s, json.loads(b)["errorType"]]
        respond(rid, seen)
        s, _, b = respond(rid, "again")
        late.append(["answer_twice", s, json.loads(b)["errorType"]])
    elif action == "continue":
        payload = json.dumps({"pad": "x" * 2000}).encode()
        head = ("POST %sinvocation/%s/response HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (BASE, rid, API, len(payload))).encode()
        interim, final = raw_exchange(head, payload)
        late.append(["continue", interim.split("\r\n")[0], final.split("\r\n")[0]])
    elif action == "chunked":
        body = b'{"chunked": true}'
        head = ("POST %sinvocation/%s/response HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                % (BASE, rid, API)).encode()
        interim, _ = raw_exchange(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        late.append(["chunked", interim.split("\r\n")[0]])
    elif action == "huge-head":
        head = ("GET %sinvocation/next HTTP/1.1\r\nHost: %s\r\nX-Pad: %s\r\n\r\n"
                % (BASE, API, "p" * 100000)).encode()
        try:
            interim, _ = raw_exchange(head)
        except OSError as exc:
            interim = type(exc).__name__
        respond(rid, interim.split("\r\n")[0])
    elif action == "big":
        s, _, b = call("POST", "invocation/%s/response" % rid, b"[" + b"1," * (event["bytes"] // 2) + b"1]")
        late.append(["big", s, json.loads(b)])
    elif action == "sleep":
        time.sleep(event["seconds"])
        respond(rid, "woke")
    elif action == "exit":
        sys.exit(event["code"])
    elif action == "error-exit":
        call("POST", "invocation/%s/error" % rid, json.dumps({"errorMessage": "last words", "errorType": "Bye"}))
        sys.exit(1)
    elif action == "steal":
        try:
            s, h, b = call("GET", "invocation/next", address=event["target"])
            outcome = "got %s %s" % (s, h.get("lambda-runtime-aws-request-id"))
        except Exception as exc:
            outcome = "refused: %s" % type(exc).__name__
        respond(rid, outcome)
'''


@pytest.fixture(scope="module")
def probe(lam: Any) -> str:
    return deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023", Timeout=5)


def test_next_carries_the_invocation_and_awss_headers(lam: Any, probe: str) -> None:
    context = {"custom": {"k": "v"}, "env": {"e": "1"}, "client": {"installation_id": "i-1"}}
    before_ms = time.time() * 1000
    resp = lam.invoke(FunctionName=probe, Payload=json.dumps({"hello": "world"}),
                      ClientContext=base64.b64encode(json.dumps(context).encode()).decode())
    out = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp
    headers = out["headers"]
    assert out["status"] == 200
    assert out["event"] == {"hello": "world"}
    assert headers["lambda-runtime-aws-request-id"] == resp["ResponseMetadata"]["RequestId"]
    assert headers["lambda-runtime-invoked-function-arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{probe}"
    assert before_ms < int(headers["lambda-runtime-deadline-ms"]) <= time.time() * 1000 + 5000
    assert headers["lambda-runtime-trace-id"].startswith("Root=1-")
    assert json.loads(headers["lambda-runtime-client-context"]) == context
    assert headers["content-type"] == "application/json"
    assert "lambda-runtime-cognito-identity" not in headers
    # host:port only, as AWS gives it (no scheme); on loopback
    assert re.fullmatch(r"127\.0\.0\.1:\d+", out["api"]), out["api"]


def test_warm_environment_serves_the_next_invocations(lam: Any, probe: str) -> None:
    first, _, _ = invoke(lam, probe, {"n": 1})
    second, _, _ = invoke(lam, probe, {"n": 2}, Qualifier="$LATEST")
    assert second["count"] == first["count"] + 1
    assert second["api"] == first["api"]
    assert second["headers"]["lambda-runtime-invoked-function-arn"].endswith(f"function:{probe}:$LATEST")


def test_error_report_is_the_invocations_result(lam: Any, probe: str) -> None:
    payload, error, _ = invoke(lam, probe, {"action": "error"})
    assert error == "Unhandled"
    assert payload == {"errorMessage": "it broke", "errorType": "Custom.Broken", "stackTrace": ["a", "b"]}
    payload, error, _ = invoke(lam, probe, {"action": "error-raw"})
    assert error == "Unhandled"
    assert payload == {"errorType": "Custom.Plain", "errorMessage": "plain words"}
    after, error, _ = invoke(lam, probe, {})
    assert error is None and after["count"] > 1, "an error report keeps the environment"


def test_protocol_mistakes_get_awss_answers_and_do_not_break_the_environment(lam: Any, probe: str) -> None:
    other = str(uuid.uuid4())
    seen, error, _ = invoke(lam, probe, {"action": "misbehave", "other": other})
    assert error is None
    assert seen["other_id"] == [400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}]
    assert seen["unknown_id"][0] == 400
    assert seen["wrong_method"] == 405
    assert seen["unknown_path"] == 404
    assert seen["outside_prefix"] == 404
    assert seen["init_error_after_init"] == [403, "InvalidStateTransition"]
    follow, _, _ = invoke(lam, probe, {})
    assert ["answer_twice", 403, "InvalidStateTransition"] in follow["late"]


def test_expect_continue_and_chunked_bodies(lam: Any, probe: str) -> None:
    payload, error, _ = invoke(lam, probe, {"action": "continue"})
    assert error is None and payload == {"pad": "x" * 2000}
    payload, error, _ = invoke(lam, probe, {"action": "chunked"})
    assert error is None and payload == {"chunked": True}
    report, _, _ = invoke(lam, probe, {})
    assert ["continue", "HTTP/1.1 100 Continue", "HTTP/1.1 202 Accepted"] in report["late"]
    assert ["chunked", "HTTP/1.1 202 Accepted"] in report["late"]


def test_oversized_request_head_is_refused(lam: Any, probe: str) -> None:
    payload, error, _ = invoke(lam, probe, {"action": "huge-head"})
    assert error is None
    assert payload in ("HTTP/1.1 400 Bad Request", "ConnectionResetError", "BrokenPipeError"), payload
    after, error, _ = invoke(lam, probe, {})
    assert error is None and after["count"] > 1


def test_response_over_the_limit(lam: Any, probe: str) -> None:
    payload, error, _ = invoke(lam, probe, {"action": "big", "bytes": 7 * 1024 * 1024})
    assert error == "Unhandled"
    assert payload == {"errorType": "Function.ResponseSizeTooLarge", "errorMessage":
                       "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}
    report, error, _ = invoke(lam, probe, {})
    assert error is None
    assert ["big", 413, {"errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                         "errorType": "RequestEntityTooLarge"}] in report["late"]


def test_stdout_and_stderr_are_the_function_log(lam: Any, probe: str) -> None:
    payload, _, tail = invoke(lam, probe, {"action": "log"})
    assert payload == "logged"
    lines = tail.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("START RequestId:"))
    end = next(i for i, line in enumerate(lines) if line.startswith("END RequestId:"))
    assert "line one" in lines[start:end] and "line two on stderr" in lines[start:end]


def test_timeout_kills_the_environment_and_the_next_one_starts_cold(lam: Any) -> None:
    name = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2", Timeout=1)
    first, _, _ = invoke(lam, name, {})
    payload, error, tail = invoke(lam, name, {"action": "sleep", "seconds": 30})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", payload["errorMessage"])
    assert "Task timed out after 1.00 seconds" in tail
    after, error, tail = invoke(lam, name, {})
    assert error is None and after["count"] == 1 and after["api"] != first["api"]
    assert "Init Duration" in tail


def test_runtime_exit_during_an_invocation(lam: Any) -> None:
    name = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2", Timeout=5)
    payload, error, _ = invoke(lam, name, {"action": "exit", "code": 2})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(r"RequestId: \S+ Error: Runtime exited with error: exit status 2", payload["errorMessage"])
    payload, error, _ = invoke(lam, name, {"action": "exit", "code": 0})
    assert re.fullmatch(r"RequestId: \S+ Error: Runtime exited without providing a reason", payload["errorMessage"])
    after, error, _ = invoke(lam, name, {})
    assert error is None and after["count"] == 1


def test_runtime_that_answers_then_exits_is_not_handed_another_invocation(lam: Any) -> None:
    name = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023", Timeout=5)
    payload, error, _ = invoke(lam, name, {"action": "error-exit"})
    assert error == "Unhandled" and payload == {"errorMessage": "last words", "errorType": "Bye"}
    for _ in range(3):
        after, error, _ = invoke(lam, name, {})
        assert error is None
    assert after["count"] == 3


def test_init_error_reported_by_the_runtime(lam: Any) -> None:
    name = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023",
                  Environment={"Variables": {"PROBE_INIT": "init-error"}})
    payload, error, tail = invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload == {"errorMessage": "bad config", "errorType": "Custom.ConfigError", "stackTrace": ["line 1"]}
    assert "probe init init-error" in tail, "what the runtime printed during init is in the log"
    assert "Status: error\tError Type: Custom.ConfigError" in tail


@pytest.mark.parametrize(("code", "message"), [
    ("1", r"Runtime exited with error: exit status 1"),
    ("0", r"Runtime exited without providing a reason"),
])
def test_runtime_exit_during_init(lam: Any, code: str, message: str) -> None:
    name = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023",
                  Environment={"Variables": {"PROBE_INIT": f"exit-{code}"}})
    payload, error, tail = invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(rf"RequestId: \S+ Error: {message}", payload["errorMessage"])
    assert "Error Type: Runtime.ExitError" in tail


def test_missing_bootstrap(lam: Any) -> None:
    name = deploy(lam, {"function.sh": "echo hi\n"}, runtime="provided.al2023")
    payload, error, _ = invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"
    assert re.fullmatch(r"RequestId: \S+ Error: Couldn't find valid bootstrap\(s\): \[\S*/bootstrap /opt/bootstrap\]",
                        payload["errorMessage"]), payload["errorMessage"]


def test_bootstrap_that_cannot_be_executed(lam: Any) -> None:
    name = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023", executable=())
    payload, error, _ = invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"
    assert re.fullmatch(r"RequestId: \S+ Error: fork/exec \S*/bootstrap: permission denied", payload["errorMessage"])


# -- isolation --------------------------------------------------------------------------------------
def test_an_environment_cannot_answer_another_ones_invocation(lam: Any, probe: str) -> None:
    """Request ids are only good on their own environment's listener."""
    victim = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023")
    mine = lam.invoke(FunctionName=victim, Payload=b"{}")
    victim_id = mine["ResponseMetadata"]["RequestId"]
    seen, _, _ = invoke(lam, probe, {"action": "misbehave", "other": victim_id})
    assert seen["other_id"][0] == 400
    again, error, _ = invoke(lam, victim, {})
    assert error is None and again["count"] == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="connecting as another uid needs root")
def test_a_connection_from_another_uid_is_refused(lam: Any, probe: str) -> None:
    """The listener asks the kernel who is connecting and refuses everybody but its environment."""
    address = invoke(lam, probe, {})[0]["api"]
    host, port = address.split(":")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read_fd)
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket()
            s.settimeout(5)
            s.connect((host, int(port)))
            s.sendall(f"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())
            try:
                answer = s.recv(100) or b"(closed)"
            except OSError as exc:
                answer = f"({type(exc).__name__})".encode()
            os.write(write_fd, answer)
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as f:
        answer = f.read()
    assert answer in (b"(closed)", b"(ConnectionResetError)"), answer
    after, error, _ = invoke(lam, probe, {})
    assert error is None and after["api"] == address


def test_an_environment_cannot_fetch_another_ones_invocations(lam: Any, probe: str) -> None:
    victim = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023")
    target = invoke(lam, victim, {})[0]
    me = invoke(lam, probe, {})[0]
    if me["uid"] == target["uid"]:
        pytest.skip("environments share one uid here (sandbox off): the per-uid check cannot tell them apart")
    outcome, _, _ = invoke(lam, probe, {"action": "steal", "target": target["api"]})
    assert outcome.startswith("refused"), outcome
    again, error, _ = invoke(lam, victim, {})
    assert error is None and again["count"] == 2


def test_an_exited_runtime_leaves_no_listener_behind(lam: Any) -> None:
    """The environment's Runtime API listener closes with its process (it used to stay open: its
    close was in a hook the base class never called, which mypy found)."""
    name = deploy(lam, {"bootstrap": PROBE}, runtime="provided.al2023", Timeout=5)
    first, error, _ = invoke(lam, name, {})
    assert error is None
    host, port = first["api"].split(":")
    with socket.create_connection((host, int(port)), timeout=5):
        pass  # open while the environment lives
    _, error, _ = invoke(lam, name, {"action": "exit", "code": 2})
    assert error == "Unhandled"
    deadline = time.monotonic() + 10  # the exit report may land just after the invoke's answer
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=5):
                pass
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "the dead environment's listener still accepts connections"
        time.sleep(0.05)
