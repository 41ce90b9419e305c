"""Lambda's size limits answer with AWS's error types, statuses and messages (recorded from AWS)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, create_function, unique

MB = 1024 * 1024


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_sync_request_payload_limit(lam: Any) -> None:
    name = create_function(lam, "def handler(event, context):\n    return len(event['x'])\n")
    fits = json.dumps({"x": "a" * (6 * MB - 20)})
    assert json.loads(lam.invoke(FunctionName=name, Payload=fits)["Payload"].read()) == 6 * MB - 20
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=json.dumps({"x": "a" * (6 * MB)}))
    assert error_of(exc) == ("RequestTooLargeException", 413,
                             "Request must be smaller than 6291456 bytes for the InvokeFunction operation")


def test_response_payload_limit(lam: Any) -> None:
    name = create_function(lam, "def handler(event, context):\n    return 'a' * event['n']\n")
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 6 * MB + 200}))
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read()) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}
    small = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 10}))
    assert "FunctionError" not in small, "the environment keeps serving"


TOO_LARGE = {"errorType": "Function.ResponseSizeTooLarge",
             "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0])


def test_error_payload_limit(fresh_server: Server) -> None:
    """An error is a response too (issue 12, finding 9): 40 MB of exception message came back whole,
    after the server had buffered all of it."""
    fresh_server.start()
    lam = fresh_server.client("lambda")
    name = create_function(lam, "def handler(event, context):\n"
                                "    if event.get('n'):\n"
                                "        raise Exception('E' * event['n'])\n"
                                "    return 'ok'\n", MemorySize=512, Timeout=60)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"ok"'
    assert fresh_server.proc is not None
    before = _peak_rss_kib(fresh_server.proc.pid)
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 40 << 20}))
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read()) == TOO_LARGE
    grown_mib = (_peak_rss_kib(fresh_server.proc.pid) - before) / 1024
    assert grown_mib < 30, f"the server's peak memory grew {grown_mib:.0f} MiB: it buffered the 40 MB error"
    # Just over the limit is refused too; just under passes whole; the environment keeps serving.
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 6 * MB + 200}))
    assert json.loads(resp["Payload"].read()) == TOO_LARGE
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 5 * MB}))
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read())["errorMessage"] == "E" * (5 * MB)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"ok"'


def test_init_error_payload_limit(lam: Any) -> None:
    name = create_function(lam, "raise Exception('E' * (40 << 20))\n", wait=False, MemorySize=512)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    resp = lam.invoke(FunctionName=name)
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read()) == TOO_LARGE


def test_zipped_size_limit(lam: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        zf.writestr("blob.bin", os.urandom(50 * MB + 1024))  # incompressible
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=unique(), Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": buf.getvalue()})
    assert error_of(exc) == ("RequestEntityTooLargeException", 413, "Zipped size must be smaller than 52428800 bytes")


def test_unzipped_size_limit(lam: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        zf.writestr("zeros.bin", bytes(250 * MB + 1))  # tiny zipped, too large unzipped
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=unique(), Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": buf.getvalue()})
    assert error_of(exc) == ("InvalidParameterValueException", 400,
                             "Unzipped size must be smaller than 262144000 bytes")
