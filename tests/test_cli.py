"""The AWS CLI against lambdad, and lambdad's own commands, run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from lambdad import __version__
from lambdad.config import SETTINGS
from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, ROLE, SECRET_KEY, make_zip, unique

AWS = str(Path(sys.executable).parent / "aws")
SERVICE_ERROR_EXIT = (254, 255)  # how the AWS CLI exits on an error the service answered (v2: 254, v1: 255)


def client_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDAD_"))}
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1",
                "PYTHONPATH": os.pathsep.join(sys.path)})
    env.update(extra)
    return env


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=client_env(), timeout=120, check=False, **kwargs)


def aws(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return run([AWS, "lambda", *args, "--endpoint-url", server.endpoint, "--output", "json"])


def lambdad(*args: str, server: Any = None) -> subprocess.CompletedProcess[str]:
    endpoint = ["--endpoint-url", server.endpoint] if server is not None else []
    return run([sys.executable, "-m", "lambdad", *args, *endpoint])


# -- the AWS CLI ----------------------------------------------------------------------------------------
def test_aws_cli_function_lifecycle(server: Any, tmp_path: Path) -> None:
    name = unique("cli")
    package = tmp_path / "fn.zip"
    package.write_bytes(make_zip({"app.py": "def handler(event, context):\n    return {'got': event}\n"}))
    created = aws(server, "create-function", "--function-name", name, "--runtime", "python3.12", "--handler",
                  "app.handler", "--role", ROLE, "--zip-file", f"fileb://{package}")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["FunctionName"] == name

    waited = aws(server, "wait", "function-active-v2", "--function-name", name)
    assert waited.returncode == 0, waited.stderr

    out_file = tmp_path / "out.json"
    invoked = aws(server, "invoke", "--function-name", name, "--payload", '{"a": 1}', str(out_file))
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads(out_file.read_text()) == {"got": {"a": 1}}

    listed = aws(server, "list-functions")
    assert listed.returncode == 0, listed.stderr
    assert name in [f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]]

    got = aws(server, "get-function", "--function-name", name)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["Configuration"]["State"] == "Active"

    deleted = aws(server, "delete-function", "--function-name", name)
    assert deleted.returncode == 0, deleted.stderr

    missing = aws(server, "get-function", "--function-name", name)
    assert missing.returncode in SERVICE_ERROR_EXIT
    assert ("An error occurred (ResourceNotFoundException) when calling the GetFunction operation: "
            f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}") in missing.stderr


def test_aws_cli_reports_validation_errors(server: Any, tmp_path: Path) -> None:
    package = tmp_path / "fn.zip"
    package.write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))
    bad = aws(server, "create-function", "--function-name", unique("cli"), "--runtime", "python3.7", "--handler",
              "app.handler", "--role", ROLE, "--zip-file", f"fileb://{package}")
    assert bad.returncode in SERVICE_ERROR_EXIT
    assert "(InvalidParameterValueException)" in bad.stderr
    assert "The runtime parameter of python3.7 is no longer supported" in bad.stderr


# -- lambdad's own commands --------------------------------------------------------------------------
def test_version() -> None:
    done = lambdad("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"lambdad {__version__}"


def test_serve_help_lists_every_setting() -> None:
    done = lambdad("serve", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for setting in SETTINGS:
        assert setting.flag in text, setting.name
        assert setting.env_var in text, setting.name


def test_deploy_invoke_ls(server: Any, tmp_path: Path) -> None:
    name = unique("deploy")
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "app.py").write_text("from lib.words import word\n\ndef handler(event, context):\n"
                                "    return {'word': word(), 'event': event}\n")
    (src / "lib" / "__init__.py").write_text("")
    (src / "lib" / "words.py").write_text("def word():\n    return 'first'\n")

    created = lambdad("deploy", str(src), "--name", name, "--handler", "app.handler", server=server)
    assert created.returncode == 0, created.stderr
    assert "packaging" in created.stdout and f"creating {name}" in created.stdout
    assert f"{name} is ready" in created.stdout
    lam = server.client()
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["Role"] == f"arn:aws:iam::{ACCOUNT}:role/lambdad-deploy"
    assert cfg["Runtime"] == "python3.12"

    invoked = lambdad("invoke", name, "--payload", '{"n": 1}', server=server)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"word": "first", "event": {"n": 1}}

    (src / "lib" / "words.py").write_text("def word():\n    return 'second'\n")
    updated = lambdad("deploy", str(src), "--name", name, "--handler", "app.handler", "--memory", "256",
                      server=server)
    assert updated.returncode == 0, updated.stderr
    assert f"updating {name}" in updated.stdout
    after = lam.get_function_configuration(FunctionName=name)
    assert (after["MemorySize"], after["Runtime"]) == (256, "python3.12")

    event_file = tmp_path / "event.json"
    event_file.write_text('{"from": "file"}')
    from_file = lambdad("invoke", name, "--payload", f"@{event_file}", server=server)
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout) == {"word": "second", "event": {"from": "file"}}

    listing = lambdad("ls", server=server)
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "RUNTIME", "MEMORY", "TIMEOUT"]
    assert any(row.split()[:3] == [name, "python3.12", "256"] for row in rows)


def test_invoke_errors(server: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("def handler(event, context):\n    raise RuntimeError('nope')\n")
    name = unique("fails")
    assert lambdad("deploy", str(src), "--name", name, "--handler", "app.handler", server=server).returncode == 0
    failed = lambdad("invoke", name, server=server)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorMessage"] == "nope"
    missing = lambdad("invoke", unique("missing"), server=server)
    assert missing.returncode == 1
    assert "ResourceNotFoundException" in missing.stderr
    not_json = lambdad("invoke", name, "--payload", "{oops", server=server)
    assert not_json.returncode == 1
    assert "--payload is not JSON" in not_json.stderr
    not_a_dir = lambdad("deploy", str(tmp_path / "nowhere"), "--name", name, "--handler", "a.b", server=server)
    assert not_a_dir.returncode == 1
    assert "is not a directory" in not_a_dir.stderr


def test_logs_and_follow(server: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("def handler(event, context):\n    print('marker', event['n'])\n    return 1\n")
    name = unique("logs")
    assert lambdad("deploy", str(src), "--name", name, "--handler", "app.handler", server=server).returncode == 0
    assert lambdad("invoke", name, "--payload", '{"n": 1}', server=server).returncode == 0

    printed = lambdad("logs", name, server=server)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert "marker 1" in lines
    assert any(line.startswith("START RequestId: ") for line in lines)
    assert any(line.startswith("REPORT RequestId: ") for line in lines)

    follower = subprocess.Popen([sys.executable, "-m", "lambdad", "logs", name, "--follow", "--endpoint-url",
                                 server.endpoint], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=client_env())
    seen: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [seen.put(line.rstrip("\n")) for line in follower.stdout or []],
                              daemon=True)
    reader.start()
    try:
        assert _wait_for(seen, "marker 1"), "the follower prints what is already there"
        assert lambdad("invoke", name, "--payload", '{"n": 2}', server=server).returncode == 0
        assert _wait_for(seen, "marker 2"), "and streams what comes later"
    finally:
        follower.kill()
        follower.wait(10)


def _wait_for(lines: queue.Queue[str], wanted: str) -> bool:
    while True:
        try:
            if lines.get(timeout=30) == wanted:
                return True
        except queue.Empty:
            return False
