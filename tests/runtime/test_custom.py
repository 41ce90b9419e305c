"""Custom runtimes (`provided*`): a shell script using only curl, and AWS's own runtime interface
clients (awslambdaric for Python, aws-lambda-ric for Node.js) run unmodified as the bootstrap."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import deploy, invoke

pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="the shell runtime needs curl")

# The shape of AWS's tutorial runtime: bash and curl, the handler a shell function.
SHELL_BOOTSTRAP = r'''#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
source "$LAMBDA_TASK_ROOT/$(echo "$_HANDLER" | cut -d. -f1).sh"
FN="$(echo "$_HANDLER" | cut -d. -f2)"
COUNT=0
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  COUNT=$((COUNT + 1))
  if RESPONSE=$("$FN" "$EVENT" "$COUNT"); then
    curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/response" -d "$RESPONSE"
  else
    curl -sS -o /dev/null -H "Lambda-Runtime-Function-Error-Type: Shell.Failed" "$API/invocation/$REQUEST_ID/error" \
      -d "{\"errorMessage\": \"handler failed\", \"errorType\": \"Shell.Failed\"}"
  fi
done
'''

SHELL_FUNCTION = r'''handler () {
  EVENT="$1"
  echo "shell got $EVENT" >&2
  case "$EVENT" in
    *fail*) return 1 ;;
    *sleep*) sleep 30 ;;
  esac
  echo "{\"echo\": $EVENT, \"count\": $2, \"function\": \"$AWS_LAMBDA_FUNCTION_NAME\"}"
}
'''


def test_shell_runtime_with_curl(lam: Any) -> None:
    name = deploy(lam, {"bootstrap": SHELL_BOOTSTRAP, "function.sh": SHELL_FUNCTION}, runtime="provided.al2023",
                  Timeout=1)
    payload, error, tail = invoke(lam, name, {"a": 1})
    assert error is None
    assert payload == {"echo": {"a": 1}, "count": 1, "function": name}
    assert 'shell got {"a": 1}' in tail
    assert "Init Duration" in tail
    payload, error, tail = invoke(lam, name, {"b": 2})
    assert payload["count"] == 2, "the bootstrap's loop (warm state) goes on"
    assert "Init Duration" not in tail

    payload, error, _ = invoke(lam, name, {"fail": True})
    assert error == "Unhandled"
    assert payload == {"errorMessage": "handler failed", "errorType": "Shell.Failed"}

    payload, error, tail = invoke(lam, name, {"sleep": True})
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in tail
    payload, error, _ = invoke(lam, name, {"c": 3})
    assert error is None and payload["count"] == 1, "a timed-out environment is replaced"


# -- awslambdaric: AWS's Python runtime interface client ------------------------------------------
PY_HANDLER = '''import time

count = 0

def handler(event, context):
    global count
    count += 1
    print("python says", event)
    if event.get("fail"):
        raise ValueError("no good")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"count": count, "request_id": context.aws_request_id, "function": context.function_name,
            "left_ms": context.get_remaining_time_in_millis()}
'''


@pytest.fixture(scope="module")
def awslambdaric_function(lam: Any, awslambdaric_files: dict[str, bytes]) -> str:
    python = shutil.which("python3", path="/usr/bin:/bin")
    if not python:
        pytest.skip("no system python3 for the awslambdaric bootstrap")
    files: dict[str, str | bytes] = dict(awslambdaric_files)
    files["bootstrap"] = f'#!/bin/sh\nexec {python} -m awslambdaric "$_HANDLER"\n'
    files["app.py"] = PY_HANDLER
    return deploy(lam, files, runtime="provided.al2023", handler="app.handler", Timeout=1)


def test_awslambdaric_answers_and_keeps_warm_state(lam: Any, awslambdaric_function: str) -> None:
    resp = lam.invoke(FunctionName=awslambdaric_function, Payload=b'{"x": 1}')
    first = json.loads(resp["Payload"].read())
    assert first["request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert first["function"] == awslambdaric_function
    assert 0 < first["left_ms"] <= 1000
    second, error, tail = invoke(lam, awslambdaric_function, {"x": 2})
    assert error is None and second["count"] == first["count"] + 1
    assert "python says {'x': 2}" in tail


def test_awslambdaric_reports_errors(lam: Any, awslambdaric_function: str) -> None:
    payload, error, tail = invoke(lam, awslambdaric_function, {"fail": True})
    assert error == "Unhandled"
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "no good"
    assert any("raise ValueError" in frame for frame in payload["stackTrace"])
    assert "[ERROR] ValueError: no good" in tail


def test_awslambdaric_times_out(lam: Any, awslambdaric_function: str) -> None:
    payload, error, tail = invoke(lam, awslambdaric_function, {"sleep": 30})
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", payload["errorMessage"])
    assert "python says {'sleep': 30}" in tail
    after, error, _ = invoke(lam, awslambdaric_function, {})
    assert error is None and after["count"] == 1


def test_awslambdaric_import_error(lam: Any, awslambdaric_files: dict[str, bytes]) -> None:
    python = shutil.which("python3", path="/usr/bin:/bin")
    files: dict[str, str | bytes] = dict(awslambdaric_files)
    files["bootstrap"] = f'#!/bin/sh\nexec {python} -m awslambdaric "$_HANDLER"\n'
    files["app.py"] = "import not_installed_anywhere\n"
    name = deploy(lam, files, runtime="provided.al2023", handler="app.handler")
    payload, error, tail = invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'not_installed_anywhere'" in payload["errorMessage"]
    assert "Error Type: Runtime.ImportModuleError" in tail


# -- aws-lambda-ric: AWS's Node.js runtime interface client ----------------------------------------
NODE_HANDLER = '''let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log("node says", event);
  if (event.fail) throw new TypeError("bad type");
  if (event.sleep) await new Promise((resolve) => setTimeout(resolve, event.sleep));
  if (event.crash) {
    setTimeout(() => { throw new Error("uncaught"); }, 0);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return { count, requestId: context.awsRequestId, function: context.functionName };
};
'''


# Its fixture builds the npm package's native code on first use (~35 s idle, minutes on a loaded machine).
@pytest.mark.timeout(900)
def test_aws_lambda_ric(lam: Any, aws_lambda_ric: Path) -> None:
    files: dict[str, str | bytes] = {
        f"node_modules/aws-lambda-ric/{part}": (aws_lambda_ric / part).read_bytes()
        for part in ("index.mjs", "package.json", "rapid-client.node")}
    files["bootstrap"] = '#!/bin/sh\nexec node node_modules/aws-lambda-ric/index.mjs "$_HANDLER"\n'
    files["index.js"] = NODE_HANDLER
    name = deploy(lam, files, runtime="provided.al2023", handler="index.handler", Timeout=1)

    first, error, tail = invoke(lam, name, {"n": 1})
    assert error is None and first["count"] == 1 and first["function"] == name
    assert re.search(r"\t" + first["requestId"] + r"\tINFO\tnode says \{ n: 1 \}", tail)
    second, _, _ = invoke(lam, name, {"n": 2})
    assert second["count"] == 2

    payload, error, _ = invoke(lam, name, {"fail": True})
    assert error == "Unhandled"
    assert payload["errorType"] == "TypeError" and payload["errorMessage"] == "bad type"
    assert payload["trace"][0] == "TypeError: bad type"

    payload, error, _ = invoke(lam, name, {"sleep": 30000})
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    after, error, _ = invoke(lam, name, {})
    assert error is None and after["count"] == 1

    # This client leaves an uncaught exception to Node, which exits: the next one starts afresh.
    payload, error, tail = invoke(lam, name, {"crash": True})
    assert error == "Unhandled" and payload["errorType"] == "Runtime.ExitError"
    assert "Error: uncaught" in tail
    after, error, _ = invoke(lam, name, {})
    assert error is None and after["count"] == 1
