"""The Node.js runtimes (those with their Node.js installed: nodejs20.x here) through boto3, held to what
the Python runtime does: context, warm state, errors, timeouts, logs, init errors."""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION
from tests.runtime.conftest import deploy, invoke

pytestmark = pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t(\S+)\t([A-Z]+)\t(.*)$")

# The same function in the four ways people write it. count proves the environment stays warm.
BODY = '''
  count += 1;
  if (event.fail === "throw") throw new RangeError("out of range");
  if (event.fail === "string") throw "just a string";
  if (event.sleep) await new Promise((resolve) => setTimeout(resolve, event.sleep));
  console.log("handling", event);
  console.error("to stderr");
  console.warn("careful");
  return {
    count, event, functionName: context.functionName, functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId, logGroupName: context.logGroupName, logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(), waits: context.callbackWaitsForEmptyEventLoop,
    clientContext: context.clientContext || null, node: process.version,
    env: { execution: process.env.AWS_EXECUTION_ENV, taskRoot: process.env.LAMBDA_TASK_ROOT,
           handler: process.env._HANDLER },
  };
'''
CALLBACK_BODY = '''
  count += 1;
  if (event.fail === "throw") throw new RangeError("out of range");
  if (event.fail === "string") return callback("just a string");
  if (event.fail === "callback") return callback(new RangeError("out of range"));
  console.log("handling", event);
  console.error("to stderr");
  console.warn("careful");
  const answer = () => callback(null, {
    count, event, functionName: context.functionName, functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId, logGroupName: context.logGroupName, logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(), waits: context.callbackWaitsForEmptyEventLoop,
    clientContext: context.clientContext || null, node: process.version,
    env: { execution: process.env.AWS_EXECUTION_ENV, taskRoot: process.env.LAMBDA_TASK_ROOT,
           handler: process.env._HANDLER },
  });
  if (event.sleep) setTimeout(answer, event.sleep); else answer();
'''

STYLES = {
    "async-cjs": ({"index.js": f"let count = 0;\nexports.handler = async (event, context) => {{{BODY}}};\n"},
                  "index.handler"),
    "callback-cjs": ({"index.js": f"let count = 0;\nexports.handler = (event, context, callback) => {{"
                                  f"{CALLBACK_BODY}}};\n"}, "index.handler"),
    "async-mjs": ({"app.mjs": f"let count = 0;\nexport const handler = async (event, context) => {{{BODY}}};\n"},
                  "app.handler"),
    "esm-package-js": ({"src/fn.js": f"let count = 0;\nexport async function run(event, context) {{{BODY}}}\n",
                       "package.json": '{"type": "module"}'}, "src/fn.run"),
}


@pytest.fixture(scope="module", params=sorted(STYLES))
def style(request: pytest.FixtureRequest, lam: Any) -> tuple[str, str]:
    files, handler = STYLES[request.param]
    return request.param, deploy(lam, files, runtime="nodejs20.x", handler=handler, Timeout=1, MemorySize=256)


def test_context_and_warm_state(lam: Any, style: tuple[str, str]) -> None:
    kind, name = style
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"x": [1, 2]}))
    first = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp
    assert first["event"] == {"x": [1, 2]}
    assert first["functionName"] == name
    assert first["functionVersion"] == "$LATEST"
    assert first["invokedFunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert first["memoryLimitInMB"] == "256"
    assert first["awsRequestId"] == resp["ResponseMetadata"]["RequestId"]
    assert first["logGroupName"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\]\w+", first["logStreamName"])
    assert 0 < first["remaining"] <= 1000
    assert first["waits"] is True
    assert first["env"]["execution"] == "AWS_Lambda_nodejs20.x"
    assert first["env"]["handler"] == STYLES[kind][1]
    second, error, _ = invoke(lam, name, {}, Qualifier="$LATEST")
    assert error is None
    assert second["count"] == first["count"] + 1, "module state survives between invocations"
    assert second["invokedFunctionArn"].endswith(":$LATEST")
    assert second["logStreamName"] == first["logStreamName"]


def test_console_lines_in_lambda_format(lam: Any, style: tuple[str, str]) -> None:
    _, name = style
    resp = lam.invoke(FunctionName=name, Payload=b'{"say": "multi\\nline"}', LogType="Tail")
    request_id = resp["ResponseMetadata"]["RequestId"]
    lines = base64.b64decode(resp["LogResult"]).decode().splitlines()
    mine = [m.groups() for m in map(LINE.match, lines) if m]
    assert [(rid, level, text) for _, rid, level, text in mine] == [
        (request_id, "INFO", "handling { say: 'multi\\nline' }"),
        (request_id, "ERROR", "to stderr"),
        (request_id, "WARN", "careful"),
    ]
    assert lines[0].startswith(f"START RequestId: {request_id}")
    assert lines[-2] == f"END RequestId: {request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


def test_errors(lam: Any, style: tuple[str, str]) -> None:
    kind, name = style
    payload, error, tail = invoke(lam, name, {"fail": "throw"})
    assert error == "Unhandled"
    assert payload["errorType"] == "RangeError" and payload["errorMessage"] == "out of range"
    assert payload["trace"][0] == "RangeError: out of range"
    assert any("at " in frame for frame in payload["trace"][1:])
    assert re.search(r"\tERROR\tInvoke Error \t\{\"errorType\":\"RangeError\",\"errorMessage\":\"out of range\","
                     r"\"stack\":\[", tail)
    payload, error, _ = invoke(lam, name, {"fail": "string"})
    assert error == "Unhandled"
    assert payload == {"errorType": "string", "errorMessage": "just a string", "trace": []}
    if kind.startswith("callback"):
        payload, error, _ = invoke(lam, name, {"fail": "callback"})
        assert error == "Unhandled" and payload["errorType"] == "RangeError"
    after, error, _ = invoke(lam, name, {})
    assert error is None and after["count"] > 1, "handled errors keep the environment"


def test_timeout(lam: Any, style: tuple[str, str]) -> None:
    _, name = style
    before, _, _ = invoke(lam, name, {})
    payload, error, tail = invoke(lam, name, {"sleep": 30000})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", payload["errorMessage"])
    assert "Task timed out after 1.00 seconds" in tail
    after, error, tail = invoke(lam, name, {})
    assert error is None and after["count"] == 1 and after["logStreamName"] != before["logStreamName"]
    assert "Init Duration" in tail


def test_client_context(lam: Any, style: tuple[str, str]) -> None:
    _, name = style
    context = {"custom": {"team": "blue"}, "env": {"locale": "en"}}
    resp = lam.invoke(FunctionName=name, Payload=b"{}",
                      ClientContext=base64.b64encode(json.dumps(context).encode()).decode())
    assert json.loads(resp["Payload"].read())["clientContext"] == context


# -- callback semantics ----------------------------------------------------------------------------
WAITS = '''
exports.handler = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = event.waits;
  setTimeout(() => console.log("timer fired"), 300);
  callback(null, "answered");
};
'''


@pytest.mark.parametrize(("waits", "fired"), [(True, True), (False, False)])
def test_callback_waits_for_empty_event_loop(lam: Any, waits: bool, fired: bool) -> None:
    name = deploy(lam, {"index.js": WAITS}, runtime="nodejs20.x", handler="index.handler")
    payload, error, tail = invoke(lam, name, {"waits": waits})
    assert error is None and payload == "answered"
    assert ("timer fired" in tail) is fired


def test_callback_never_called_answers_null_when_the_loop_empties(lam: Any) -> None:
    name = deploy(lam, {"index.js": "exports.handler = (e, c, cb) => { setTimeout(() => {}, 10); };"},
                  runtime="nodejs20.x", handler="index.handler")
    payload, error, _ = invoke(lam, name, {})
    assert error is None and payload is None


def test_multi_line_message_stays_one_log_event(lam: Any) -> None:
    name = deploy(lam, {"index.js": "exports.handler = async () => { console.info('first\\nsecond'); };"},
                  runtime="nodejs20.x", handler="index.handler")
    _, _, tail = invoke(lam, name, {})
    assert re.search(r"\tINFO\tfirst\rsecond$", tail, re.M)


def test_gc_is_exposed_as_on_lambda(lam: Any) -> None:
    name = deploy(lam, {"index.js": "exports.handler = async () => { gc(); return typeof global.gc; };"},
                  runtime="nodejs20.x", handler="index.handler")
    payload, error, _ = invoke(lam, name, {})
    assert error is None and payload == "function"


def test_undefined_result_is_null(lam: Any) -> None:
    name = deploy(lam, {"index.mjs": "export const handler = async () => {};"}, runtime="nodejs20.x",
                  handler="index.handler")
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    assert resp["Payload"].read() == b"null"


def test_uncaught_exception_fails_the_invocation_and_the_environment(lam: Any) -> None:
    code = '''let count = 0;
exports.handler = async (event) => {
  count += 1;
  if (event.crash) { setTimeout(() => { throw new Error("from a timer"); }, 0);
                     await new Promise((r) => setTimeout(r, 5000)); }
  return count;
};'''
    name = deploy(lam, {"index.js": code}, runtime="nodejs20.x", handler="index.handler", Timeout=10)
    assert invoke(lam, name, {})[0] == 1
    payload, error, _ = invoke(lam, name, {"crash": True})
    assert error == "Unhandled"
    assert payload["errorType"] == "Error" and payload["errorMessage"] == "from a timer"
    assert invoke(lam, name, {})[0] == 1, "the environment was replaced"


# -- init errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("files", "handler", "error_type", "message"), [
    ({"index.js": "exports.other = () => 1;"}, "index.handler", "Runtime.HandlerNotFound",
     r"index\.handler is undefined or not exported"),
    ({"index.js": "exports.handler = 42;"}, "index.handler", "Runtime.HandlerNotFound",
     r"index\.handler is not a function"),
    ({"index.js": "exports.handler = async () => 1;"}, "missing.handler", "Runtime.ImportModuleError",
     r"Error: Cannot find module 'missing'\nRequire stack:\n- \S+"),
    ({"index.js": "const axios = require('axios');\nexports.handler = async () => 1;"}, "index.handler",
     "Runtime.ImportModuleError", r"Error: Cannot find module 'axios'\nRequire stack:\n- \S+index\.js(\n.*)*"),
    ({"index.mjs": "import x from 'not-there';\nexport const handler = async () => x;"}, "index.handler",
     "Runtime.ImportModuleError", r"Error \[ERR_MODULE_NOT_FOUND\]: Cannot find package 'not-there' .*"),
    ({"index.js": "exports.handler = async () => {;"}, "index.handler", "Runtime.UserCodeSyntaxError",
     r"SyntaxError: .+"),
    ({"index.js": "throw new Error('cannot start');"}, "index.handler", "Error", r"cannot start"),
    ({"index.js": "exports.handler = async () => 1;"}, "index", "Runtime.MalformedHandlerName", r"Bad handler"),
])
def test_init_errors(lam: Any, files: dict[str, str], handler: str, error_type: str, message: str) -> None:
    name = deploy(lam, files, runtime="nodejs20.x", handler=handler)
    payload, error, tail = invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == error_type
    assert re.fullmatch(message, payload["errorMessage"]), payload["errorMessage"]
    assert isinstance(payload["trace"], list)
    assert re.search(r"\tundefined\tERROR\tUncaught Exception \t\{\"errorType\":\"" + re.escape(error_type), tail)
    assert f"Status: error\tError Type: {error_type}" in tail


def test_exec_wrapper(lam: Any) -> None:
    wrapper = ('#!/bin/sh\n'
               'echo "wrapped: $(basename "$1") ... $(for a in "$@"; do basename -- "$a"; done | grep mjs)"\n'
               'export FROM_WRAPPER=yes\nexec "$@"\n')
    name = deploy(lam, {"index.js": "exports.handler = async () => process.env.FROM_WRAPPER;", "wrap.sh": wrapper},
                  runtime="nodejs20.x", handler="index.handler", executable=("wrap.sh",),
                  Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "./wrap.sh"}})
    payload, error, tail = invoke(lam, name, {})
    assert error is None and payload == "yes"
    assert re.search(r"wrapped: node\S* \.\.\. node_runtime\.mjs", tail), tail


def test_exec_wrapper_missing(lam: Any) -> None:
    name = deploy(lam, {"index.js": "exports.handler = async () => 1;"}, runtime="nodejs20.x",
                  handler="index.handler", Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/nope/wrapper"}})
    payload, error, _ = invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(r"RequestId: \S+ Error: Runtime exited with error: exit status 127", payload["errorMessage"])


def test_the_node_runtime_over_the_http_runtime_api(lam: Any) -> None:
    """lambdad's Node runtime also runs as a plain custom runtime, talking HTTP instead of frames."""
    from lambdad.runtime.runtimes import NODE_RUNTIME

    code = '''let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  if (event.crash) { setTimeout(() => { throw new Error("from a timer"); }, 0);
                     await new Promise((r) => setTimeout(r, 5000)); }
  if (event.fail) throw new Error("failed");
  return { count, id: context.awsRequestId, left: context.getRemainingTimeInMillis() };
};'''
    name = deploy(lam, {"bootstrap": "#!/bin/sh\nexec node node_runtime.mjs\n", "index.js": code,
                        "node_runtime.mjs": NODE_RUNTIME.read_bytes()},
                  runtime="provided.al2023", handler="index.handler", Timeout=10)
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    first = json.loads(resp["Payload"].read())
    assert first["count"] == 1 and first["id"] == resp["ResponseMetadata"]["RequestId"]
    assert 0 < first["left"] <= 10000
    payload, error, _ = invoke(lam, name, {"fail": True})
    assert error == "Unhandled" and payload["errorMessage"] == "failed"
    assert invoke(lam, name, {})[0]["count"] == 3
    payload, error, _ = invoke(lam, name, {"crash": True})
    assert error == "Unhandled" and payload["errorMessage"] == "from a timer"
    assert invoke(lam, name, {})[0]["count"] == 1, "it reported the error, exited, and was replaced"


# -- spare processes (runtime/spares.py) -----------------------------------------------------------
REPORTER = '''const started = Date.now() - process.uptime() * 1000;
exports.handler = async () => ({ started, env: process.env, cwd: process.cwd(), paths: module.paths.length,
                                 tz: new Date(0).getTimezoneOffset() });
'''


def test_a_spare_process_takes_on_only_its_own_function(lam: Any) -> None:
    first = deploy(lam, {"index.js": REPORTER}, runtime="nodejs20.x", handler="index.handler",
                   Environment={"Variables": {"SECRET_OF_FIRST": "a"}})
    invoke(lam, first, {})  # a Node cold start: the next one can be a spare
    served_by_spare = False
    for attempt in range(5):  # a spare may still be starting (other tests take them too)
        time.sleep(0.2 * attempt)
        created_at = time.time() * 1000
        second = deploy(lam, {"index.js": REPORTER}, runtime="nodejs20.x", handler="index.handler",
                        Environment={"Variables": {"MINE": "b"}})
        out, error, tail = invoke(lam, second, {})
        assert error is None
        env = out["env"]
        assert "SECRET_OF_FIRST" not in env and env["MINE"] == "b"
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == second and env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
        assert env["_HANDLER"] == "index.handler" and "node20" in env["NODE_PATH"]
        assert out["cwd"] == env["LAMBDA_TASK_ROOT"] and out["tz"] == 0
        assert "Init Duration" in tail
        if env["LAMBDA_TASK_ROOT"] == "/var/task":
            pytest.skip("sandboxed: spare processes are off")
        if out["started"] < created_at:  # its node started before the function existed
            served_by_spare = True
            break
    assert served_by_spare


def test_node_options_get_a_fresh_process(lam: Any) -> None:
    """NODE_OPTIONS is read while node starts, so such a function never gets a spare."""
    code = "exports.handler = async () => { const f = (n) => n ? f(n - 1) : x.y; return f(20); };"
    warm_up = deploy(lam, {"index.js": REPORTER}, runtime="nodejs20.x", handler="index.handler")
    invoke(lam, warm_up, {})
    name = deploy(lam, {"index.js": code}, runtime="nodejs20.x", handler="index.handler",
                  Environment={"Variables": {"NODE_OPTIONS": "--stack-trace-limit=2"}})
    payload, error, _ = invoke(lam, name, {})
    assert error == "Unhandled" and payload["errorType"] == "ReferenceError"
    assert len(payload["trace"]) == 3, payload["trace"]
