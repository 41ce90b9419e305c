"""The external-library workflows as users write them: install into the package folder, zip, deploy.

    pip install requests -t . && zip -r function.zip .
    npm install axios && zip -r function.zip .

Both fetch real packages from the registries (PyPI, npm).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROLE, unique
from tests.runtime.conftest import invoke


def zip_dir(root: Path) -> bytes:
    """`zip -r function.zip .`, keeping the file modes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())
    return buf.getvalue()


def create(lam: Any, package: bytes, runtime: str, handler: str) -> str:
    name = unique("lib")
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Code={"ZipFile": package},
                        Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return name


def test_pip_install_requests_into_the_package(lam: Any, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-compile", "requests", "-t", str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"pip could not reach PyPI: {proc.stderr[-800:]}")
    (tmp_path / "app.py").write_text(
        "import requests\n\n"
        "def handler(event, context):\n"
        "    return {'version': requests.__version__, 'file': requests.__file__,\n"
        "            'session': type(requests.Session()).__name__}\n")
    name = create(lam, zip_dir(tmp_path), "python3.12", "app.handler")
    payload, error, _ = invoke(lam, name, {})
    assert error is None, payload
    installed = next(tmp_path.glob("requests-*.dist-info")).name.removesuffix(".dist-info").split("-")[1]
    assert payload["version"] == installed
    assert payload["session"] == "Session"
    assert "/requests/__init__.py" in payload["file"]


@pytest.mark.skipif(not shutil.which("npm") or not shutil.which("node"), reason="node and npm are needed")
def test_npm_install_axios_into_the_package(lam: Any, tmp_path: Path) -> None:
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "axios"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "npm_config_update_notifier": "false"})
    if proc.returncode != 0:
        pytest.skip(f"npm could not reach the registry: {proc.stderr[-800:]}")
    (tmp_path / "index.js").write_text(
        "const axios = require('axios');\n"
        "exports.handler = async () => ({ version: axios.VERSION, get: typeof axios.get,\n"
        "  resolved: require.resolve('axios') });\n")
    (tmp_path / "esm.mjs").write_text(
        "import axios from 'axios';\n"
        "export const handler = async () => ({ version: axios.VERSION, get: typeof axios.get });\n")
    package = zip_dir(tmp_path)
    installed = json.loads((tmp_path / "node_modules/axios/package.json").read_text())["version"]

    name = create(lam, package, "nodejs20.x", "index.handler")
    payload, error, _ = invoke(lam, name, {})
    assert error is None, payload
    assert payload["version"] == installed and payload["get"] == "function"
    assert "/node_modules/axios/" in payload["resolved"]

    name = create(lam, package, "nodejs20.x", "esm.handler")
    payload, error, _ = invoke(lam, name, {})
    assert error is None, payload
    assert payload == {"version": installed, "get": "function"}
