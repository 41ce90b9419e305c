"""Helpers for runtime tests: functions with executable files, logs, packages from the registries."""

from __future__ import annotations

import base64
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROLE, make_zip, unique
from tests.runtime import node_ric


def deploy(lam: Any, files: dict[str, str | bytes], *, runtime: str, handler: str = "function.handler",
           executable: tuple[str, ...] = ("bootstrap",), name: str | None = None, **kwargs: Any) -> str:
    """Create a function from files (those named in `executable` get mode 0755) and wait for it."""
    name = name or unique(runtime.split(".")[0])
    modes = {path: 0o755 for path in files if path in executable or path.endswith(".so")
             or path.endswith(".node")}
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                        Code={"ZipFile": make_zip(files, modes)}, **kwargs)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return name


def invoke(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[Any, str | None, str]:
    """(decoded payload, FunctionError, log tail) of one synchronous invocation."""
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({} if event is None else event), LogType="Tail",
                      **kwargs)
    raw = resp["Payload"].read()
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = raw
    return payload, resp.get("FunctionError"), base64.b64decode(resp.get("LogResult", "")).decode()


def dist_files(*dists: str) -> dict[str, bytes]:
    """The installed files of Python distributions, as a deployment package would hold them."""
    out: dict[str, bytes] = {}
    for dist in dists:
        for f in importlib.metadata.files(dist) or ():
            path = str(f)
            if "__pycache__" in path or ".dist-info" in path:
                continue
            out[path] = Path(str(f.locate())).read_bytes()
    return out


@pytest.fixture(scope="session")
def awslambdaric_files() -> dict[str, bytes]:
    """awslambdaric (AWS's Python runtime interface client) and its dependencies, from the test extras."""
    pytest.importorskip("awslambdaric", reason="awslambdaric is in the test extras: pip install -e '.[test]'")
    return dist_files("awslambdaric", "simplejson", "snapshot-restore-py")


@pytest.fixture(scope="session")
def aws_lambda_ric() -> Path:
    """AWS's Node.js runtime interface client, built once per version into a cache outside the clone
    (node_ric.py; the build starts in the background when the session collects a test using this)."""
    if not node_ric.available():
        pytest.skip("node and npm are needed for aws-lambda-ric")
    error = node_ric.background.result()
    if error:
        pytest.skip(error)
    return node_ric.package_dir()
