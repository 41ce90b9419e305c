"""The Python runtime as a function sees it, and failures as AWS reports them, through boto3's Invoke."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, create_function

ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
ERROR_KEYS = {"errorMessage", "errorType", "requestId", "stackTrace"}


def invoke(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """(response without the stream, decoded payload)."""
    payload = b"{}" if event is None else json.dumps(event).encode()
    resp = lam.invoke(FunctionName=name, Payload=payload, **kwargs)
    body = resp.pop("Payload").read()
    return resp, json.loads(body) if body else None


def tail(resp: dict[str, Any]) -> str:
    return base64.b64decode(resp["LogResult"]).decode()


def request_id(resp: dict[str, Any]) -> str:
    return resp["ResponseMetadata"]["RequestId"]


# -- handlers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("files", "handler", "module"), [
    ({"app.py": "def handler(e, c):\n    return __name__\n"}, "app.handler", "app"),
    ({"pkg/__init__.py": "", "pkg/mod.py": "def run(e, c):\n    return __name__\n"}, "pkg.mod.run", "pkg.mod"),
    ({"src/lambda_function.py": "def main(e, c):\n    return __name__\n"}, "src/lambda_function.main",
     "src.lambda_function"),
    ({"a/b/deep.py": "def fn(e, c):\n    return __name__\n"}, "a/b/deep.fn", "a.b.deep"),
], ids=["mod.fn", "pkg.mod.fn", "dir/mod.fn", "dir/dir/mod.fn"])
def test_handler_forms(lam: Any, files: dict[str, str], handler: str, module: str) -> None:
    name = create_function(lam, files, handler=handler)
    resp, out = invoke(lam, name)
    assert "FunctionError" not in resp
    assert out == module, "a path handler is imported as a dotted module, as AWS's runtime does"


CONTEXT_CODE = """
import os

def handler(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env, "app_title": cc.client and cc.client.app_title},
        "remaining": context.get_remaining_time_in_millis(),
        "env_stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
    }
"""


def test_context_object(lam: Any) -> None:
    name = create_function(lam, CONTEXT_CODE, MemorySize=256, Timeout=7)
    client_context = {"custom": {"foo": "bar"}, "env": {"fizz": "buzz"}, "client": {"app_title": "demo"}}
    resp, ctx = invoke(lam, name, ClientContext=base64.b64encode(json.dumps(client_context).encode()).decode())
    assert ctx["aws_request_id"] == request_id(resp)
    assert ctx["function_name"] == name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == ARN_PREFIX + name
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", ctx["log_stream_name"])
    assert ctx["env_stream"] == ctx["log_stream_name"]
    assert ctx["identity"] == [None, None]
    assert ctx["client_context"] == {"custom": {"foo": "bar"}, "env": {"fizz": "buzz"}, "app_title": "demo"}
    assert 0 < ctx["remaining"] <= 7000

    _, plain = invoke(lam, name, Qualifier="$LATEST")
    assert plain["client_context"] is None
    assert plain["invoked_function_arn"] == f"{ARN_PREFIX}{name}:$LATEST"
    assert plain["aws_request_id"] != ctx["aws_request_id"]


ENV_CODE = """
import os

def handler(event, context):
    return {"env": dict(os.environ), "cwd": os.getcwd()}
"""


def test_environment_variables(lam: Any, server: Any) -> None:
    name = create_function(lam, ENV_CODE, MemorySize=192, Environment={"Variables": {"GREETING": "hi",
                                                                                      "MODE": "test"}})
    _, out = invoke(lam, name)
    env = out["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == out["cwd"]
    assert env["LAMBDA_RUNTIME_DIR"]
    assert re.fullmatch(r"[\w.\-]+:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["AWS_ENDPOINT_URL"] == server.endpoint
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert (env["LANG"], env["TZ"]) == ("en_US.UTF-8", ":UTC")
    assert env["GREETING"] == "hi" and env["MODE"] == "test"
    # The execution role's temporary credentials, never the server's root keys.
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_ACCESS_KEY_ID"] != ACCESS_KEY
    for key, value in env.items():
        assert ACCESS_KEY not in value and SECRET_KEY not in value, key
        assert not key.startswith("LAMBDAD_"), key

    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "hello"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    _, changed = invoke(lam, name)
    assert changed["env"]["GREETING"] == "hello"
    assert "MODE" not in changed["env"]


BOTO3_CODE = """
import os
import boto3

def handler(event, context):
    client = boto3.client("lambda")
    me = client.get_function_configuration(FunctionName=os.environ["AWS_LAMBDA_FUNCTION_NAME"])
    return {"arn": me["FunctionArn"], "boto3": boto3.__version__}
"""


def test_boto3_inside_a_function_reaches_lambdad(lam: Any) -> None:
    name = create_function(lam, BOTO3_CODE, Timeout=30)
    resp, out = invoke(lam, name)
    assert "FunctionError" not in resp, out
    assert out["arn"] == ARN_PREFIX + name
    assert out["boto3"]


# -- failures -----------------------------------------------------------------------------------------
def test_unhandled_exception(lam: Any) -> None:
    name = create_function(lam, "def handler(event, context):\n    raise ValueError('Handler fails')\n")
    resp, err = invoke(lam, name, LogType="Tail")
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-function-error"] == "Unhandled"
    assert set(err) == ERROR_KEYS
    assert (err["errorType"], err["errorMessage"]) == ("ValueError", "Handler fails")
    assert err["requestId"] == request_id(resp)
    assert len(err["stackTrace"]) == 1, "only the user's frames, as AWS shows"
    assert err["stackTrace"][0].endswith("line 2, in handler\n    raise ValueError('Handler fails')\n")
    assert "[ERROR] ValueError: Handler fails" in tail(resp)


@pytest.mark.parametrize(("files", "handler", "error_type", "message"), [
    ({"app.py": "import not_installed_anywhere\n"}, "app.handler", "Runtime.ImportModuleError",
     "Unable to import module 'app': No module named 'not_installed_anywhere'"),
    ({"app.py": "x = 1\n"}, "missing.handler", "Runtime.ImportModuleError",
     "Unable to import module 'missing': No module named 'missing'"),
    ({"app.py": "def handler(event, context)\n    return 1\n"}, "app.handler", "Runtime.UserCodeSyntaxError",
     None),
    ({"app.py": "raise Exception('Runtime startup fails')\n"}, "app.handler", "Exception", "Runtime startup fails"),
], ids=["import-error", "missing-module", "syntax-error", "init-exception"])
def test_init_errors(lam: Any, files: dict[str, str], handler: str, error_type: str, message: str | None) -> None:
    name = create_function(lam, files, handler=handler)
    for _ in range(2):  # every invoke retries init, and fails the same way
        resp, err = invoke(lam, name, LogType="Tail")
        assert resp["FunctionError"] == "Unhandled"
        assert set(err) == ERROR_KEYS
        assert err["errorType"] == error_type
        assert err["requestId"] == ""
        if message:
            assert err["errorMessage"] == message
        log = tail(resp)
        assert f"[ERROR] {error_type}: " in log
        assert f"Phase: init\tStatus: error\tError Type: {error_type}" in log
        assert f"START RequestId: {request_id(resp)} Version: $LATEST" in log
    if error_type == "Runtime.UserCodeSyntaxError":
        assert err["errorMessage"].startswith("Syntax error in module 'app': ")
        assert err["stackTrace"][0].endswith(" Line 1\n    def handler(event, context)")
    if error_type == "Exception":
        assert err["stackTrace"][-1].endswith("raise Exception('Runtime startup fails')\n")
        assert "python_runtime" not in "".join(err["stackTrace"])


def test_handler_not_found_is_reported_per_invoke(lam: Any) -> None:
    name = create_function(lam, "def other(event, context):\n    return 1\n")
    resp, err = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert err == {"errorMessage": "Handler 'handler' missing on module 'app'", "errorType": "Runtime.HandlerNotFound",
                   "requestId": request_id(resp), "stackTrace": []}


COUNTER_CODE = """
import os, time

count = 0

def handler(event, context):
    global count
    count += 1
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit") is not None:
        os._exit(event["exit"])
    if event.get("sys_exit") is not None:
        import sys
        sys.exit(event["sys_exit"])
    return {"count": count, "env": context.log_stream_name}
"""


def test_timeout_replaces_the_environment(lam: Any) -> None:
    name = create_function(lam, COUNTER_CODE, Timeout=1)
    _, first = invoke(lam, name)
    _, second = invoke(lam, name)
    assert (first["count"], second["count"]) == (1, 2), "warm reuse keeps module state"
    assert first["env"] == second["env"]
    resp, err = invoke(lam, name, {"sleep": 5}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert err == {"errorType": "Sandbox.Timedout",
                   "errorMessage": f"RequestId: {request_id(resp)} Error: Task timed out after 1.00 seconds"}
    assert f"{request_id(resp)} Task timed out after 1.00 seconds" in tail(resp)
    assert tail(resp).splitlines()[-1].endswith("\tStatus: timeout")
    _, fresh = invoke(lam, name)
    assert fresh["count"] == 1, "the timed-out environment was destroyed; module state starts over"
    assert fresh["env"] != first["env"]


@pytest.mark.parametrize(("event", "reason"), [
    ({"exit": 3}, "Runtime exited with error: exit status 3"),
    ({"sys_exit": 4}, "Runtime exited with error: exit status 4"),
    ({"sys_exit": 0}, "Runtime exited without providing a reason"),
], ids=["os._exit(3)", "sys.exit(4)", "sys.exit(0)"])
def test_process_exit(lam: Any, event: dict[str, int], reason: str) -> None:
    name = create_function(lam, COUNTER_CODE)
    _, before = invoke(lam, name)
    resp, err = invoke(lam, name, event, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert err == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id(resp)} Error: {reason}"}
    assert tail(resp).splitlines()[-1].endswith("\tStatus: error\tError Type: Runtime.ExitError")
    _, after = invoke(lam, name)
    assert after["count"] == 1 and after["env"] != before["env"]


def test_marshal_error_and_decimal(lam: Any) -> None:
    code = ("import decimal\n\ndef handler(event, context):\n    if event.get('set'):\n        return {1, 2}\n"
            "    return {'price': decimal.Decimal('1.5'), 'qty': decimal.Decimal('3')}\n")
    name = create_function(lam, code)
    resp, err = invoke(lam, name, {"set": True})
    assert resp["FunctionError"] == "Unhandled"
    assert err == {"errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
                   "errorType": "Runtime.MarshalError", "requestId": request_id(resp), "stackTrace": []}
    _, ok = invoke(lam, name)
    assert ok == {"price": 1.5, "qty": 3}


def test_return_none_and_non_object_events(lam: Any) -> None:
    name = create_function(lam, "def handler(event, context):\n    return None if event == 'none' else event\n")
    resp = lam.invoke(FunctionName=name, Payload=b'"none"')
    assert resp["Payload"].read() == b"null"
    for event in ([1, "two"], 3.5, "text", None, True):
        _, out = invoke(lam, name, event if event is not None else None)
        assert out == (event if event is not None else {})


def test_invalid_json_payload(lam: Any) -> None:
    name = create_function(lam, COUNTER_CODE)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{'not': json}")
    err = exc.value.response
    assert err["Error"]["Code"] == "InvalidRequestContentException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"].startswith("Could not parse request body into json")


def test_dry_run_does_not_run_the_function(lam: Any) -> None:
    name = create_function(lam, COUNTER_CODE)
    resp = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert resp["StatusCode"] == 204
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert resp["Payload"].read() == b""
    _, out = invoke(lam, name)
    assert out["count"] == 1


# -- logs ---------------------------------------------------------------------------------------------
def test_log_tail(lam: Any) -> None:
    code = ("def handler(event, context):\n    print('hello from the handler')\n"
            "    print('x' * event.get('n', 0))\n    return 1\n")
    name = create_function(lam, code, MemorySize=128)
    resp, _ = invoke(lam, name, LogType="Tail")
    rid = request_id(resp)
    lines = tail(resp).splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert "hello from the handler" in lines
    assert lines[-2] == f"END RequestId: {rid}"
    assert re.fullmatch(rf"REPORT RequestId: {rid}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms\t", lines[-1])
    warm, _ = invoke(lam, name, LogType="Tail")
    assert "Init Duration" not in tail(warm), "Init Duration only on a cold start"
    assert "LogResult" not in lam.invoke(FunctionName=name, Payload=b"{}")

    big, _ = invoke(lam, name, {"n": 10000}, LogType="Tail")
    raw = base64.b64decode(big["LogResult"])
    assert len(raw) == 4096, "X-Amz-Log-Result carries exactly the last 4 KB"
    report = next(line for line in raw.decode().splitlines() if line.startswith("REPORT"))
    full = "\n".join(["x" * 10000, f"END RequestId: {request_id(big)}", report]) + "\n"
    assert raw == full.encode()[-4096:]


def test_cli_logs_show_init_duration_on_cold_starts_only(lam: Any, server: Any) -> None:
    name = create_function(lam, COUNTER_CODE, Timeout=1)
    invoke(lam, name)
    invoke(lam, name)
    invoke(lam, name, {"exit": 1})  # the next invoke is a cold start again
    invoke(lam, name)
    out = _lambdad(server, "logs", name)
    reports = [line for line in out.splitlines() if line.startswith("REPORT RequestId:")]
    assert len(reports) == 4
    assert ["Init Duration" in r for r in reports] == [True, False, False, True]


def _lambdad(server: Any, *args: str) -> str:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": REGION, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "lambdad", *args, "--endpoint-url", server.endpoint],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- interpreters -------------------------------------------------------------------------------------
VERSION_CODE = "import sys\n\ndef handler(event, context):\n    return '%d.%d' % sys.version_info[:2]\n"


@pytest.mark.parametrize("minor", ["3.9", "3.10", "3.11", "3.12", "3.13"])
def test_each_runtime_runs_on_its_own_interpreter(lam: Any, minor: str) -> None:
    name = create_function(lam, VERSION_CODE, runtime=f"python{minor}")
    resp, out = invoke(lam, name, LogType="Tail")
    assert out == minor
    assert "lambdad: no local interpreter" not in tail(resp)


def test_interpreter_of_another_minor_is_noted_once_per_environment(fresh_server: Any) -> None:
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    interpreter = os.path.realpath(Path(sys.base_prefix) / "bin" / f"python{mine}")
    runtime = "python3.13" if mine != "3.13" else "python3.12"
    fresh_server.extra_args = ["--python-interpreters", f"{runtime}={interpreter}"]
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, VERSION_CODE, runtime=runtime)
    cold, out = invoke(lam, name, LogType="Tail")
    assert out == mine
    note = f"lambdad: no local interpreter for {runtime}; running it on Python {mine} ({interpreter})"
    assert tail(cold).splitlines()[0] == note
    warm, _ = invoke(lam, name, LogType="Tail")
    assert "no local interpreter" not in tail(warm)
    invoke(lam, name, {"unused": True})
    again, _ = invoke(lam, name, LogType="Tail")
    assert "no local interpreter" not in tail(again), "said once per environment"
