"""Lambda's LoggingConfig: LogFormat JSON makes the Python and Node.js runtimes write Lambda's JSON
log lines (and the platform's lines become `platform.*` records), ApplicationLogLevel and
SystemLogLevel filter them, LogGroup sends the function's logs to a custom group."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, create_function, unique

PY = """
import logging
logger = logging.getLogger()
def handler(event, context):
    logger.debug("debug line")
    logger.info("info line")
    logger.warning("warn line")
    logger.error("error line", extra={"orderId": 42})
    print("plain print")
    return "ok"
"""

NODE = """
exports.handler = async () => {
  console.debug('debug line');
  console.info('info line');
  console.warn('warn line');
  console.error('error line');
  console.log({ structured: true });
  return 'ok';
};
"""


@pytest.fixture(scope="module")
def logs(server: Server) -> Any:
    return server.client("logs")


def messages(logs: Any, group: str) -> list[str]:
    return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_python_json_logs_and_levels(lam: Any, logs: Any) -> None:
    fn = create_function(lam, PY, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN",
                                                 "SystemLogLevel": "INFO"})
    cfg = lam.get_function_configuration(FunctionName=fn)["LoggingConfig"]
    assert cfg == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO",
                   "LogGroup": f"/aws/lambda/{fn}"}
    request_id = lam.invoke(FunctionName=fn, Payload=b"{}")["ResponseMetadata"]["RequestId"]
    lines = messages(logs, f"/aws/lambda/{fn}")
    records = json_lines(lines)
    app = [r for r in records if "level" in r]
    assert [r["message"] for r in app] == ["warn line", "error line"]  # below WARN filtered out
    error = app[1]
    assert error["level"] == "ERROR" and error["logger"] == "root" and error["requestId"] == request_id
    assert error["orderId"] == 42 and error["timestamp"].endswith("Z")
    assert "plain print" in lines  # print() stays plain text, as on Lambda
    platform = [r for r in records if "type" in r]
    assert [r["type"] for r in platform] == ["platform.start", "platform.report"]  # runtimeDone is DEBUG
    assert platform[0]["record"] == {"requestId": request_id, "version": "$LATEST"}
    report = platform[1]["record"]
    assert report["status"] == "success" and report["metrics"]["memorySizeMB"] == 128
    assert "initDurationMs" in report["metrics"] and report["metrics"]["billedDurationMs"] >= 1
    # A JSON filter pattern finds the JSON lines.
    found = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}", filterPattern='{ $.level = "ERROR" }')
    assert [json.loads(e["message"])["message"] for e in found["events"]] == ["error line"]


def test_system_log_level_debug_and_warn(lam: Any, logs: Any) -> None:
    fn = create_function(lam, PY, LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "DEBUG"})
    lam.invoke(FunctionName=fn, Payload=b"{}")
    records = json_lines(messages(logs, f"/aws/lambda/{fn}"))
    assert [r["type"] for r in records if "type" in r] == ["platform.start", "platform.runtimeDone",
                                                           "platform.report"]
    assert [r["message"] for r in records if "level" in r] == ["info line", "warn line", "error line"]
    lam.update_function_configuration(FunctionName=fn, LoggingConfig={"SystemLogLevel": "WARN",
                                                                      "ApplicationLogLevel": "DEBUG"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.2})
    before = len(messages(logs, f"/aws/lambda/{fn}"))
    lam.invoke(FunctionName=fn, Payload=b"{}")
    records = json_lines(messages(logs, f"/aws/lambda/{fn}")[before:])
    assert [r["type"] for r in records if "type" in r] == []
    assert [r["message"] for r in records if "level" in r] == ["debug line", "info line", "warn line", "error line"]


def test_node_json_logs(lam: Any, logs: Any) -> None:
    fn = create_function(lam, {"index.js": NODE}, handler="index.handler", runtime="nodejs20.x",
                         LoggingConfig={"LogFormat": "JSON"})
    lam.invoke(FunctionName=fn, Payload=b"{}")
    records = json_lines(messages(logs, f"/aws/lambda/{fn}"))
    app = [r for r in records if "level" in r]
    assert [r["level"] for r in app] == ["INFO", "WARN", "ERROR", "INFO"]  # INFO: debug dropped
    assert app[0]["message"] == "info line" and app[3]["message"] == {"structured": True}
    assert all(r["requestId"] and r["timestamp"].endswith("Z") for r in app)


def test_custom_log_group(lam: Any, logs: Any) -> None:
    group = "/custom/" + unique("grp")
    fn = create_function(lam, PY, LoggingConfig={"LogGroup": group})
    assert lam.get_function_configuration(FunctionName=fn)["LoggingConfig"] == {"LogFormat": "Text",
                                                                                  "LogGroup": group}
    lam.invoke(FunctionName=fn, Payload=b"{}")
    assert any(m.startswith("START RequestId:") for m in messages(logs, group))
    with pytest.raises(ClientError):
        logs.describe_log_streams(logGroupName=f"/aws/lambda/{fn}")


def test_text_format_keeps_classic_lines(lam: Any, logs: Any) -> None:
    fn = create_function(lam, PY)
    lam.invoke(FunctionName=fn, Payload=b"{}")
    lines = messages(logs, f"/aws/lambda/{fn}")
    assert any(m.startswith("[WARNING]\t") and m.endswith("warn line") for m in lines)
    assert any(m.startswith("REPORT RequestId:") for m in lines)


@pytest.mark.parametrize(("config", "code"), [
    ({"LogFormat": "XML"}, "ValidationException"),
    ({"LogFormat": "Text", "ApplicationLogLevel": "INFO"}, "InvalidParameterValueException"),
    ({"LogFormat": "JSON", "ApplicationLogLevel": "LOUD"}, "ValidationException"),
    ({"LogFormat": "JSON", "SystemLogLevel": "ERROR"}, "ValidationException"),
    ({"LogGroup": "bad group!"}, "ValidationException"),
])
def test_bad_logging_config_refused(lam: Any, config: dict[str, str], code: str) -> None:
    with pytest.raises(ClientError) as exc:
        create_function(lam, PY, LoggingConfig=config)
    assert exc.value.response["Error"]["Code"] == code
