"""Fixtures: a real `lambdad serve` process on loopback, and real boto3 clients signed with its keys."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

ACCESS_KEY = "AKIATESTROOT00000001"
SECRET_KEY = "test-root-secret-key-for-lambdad-tests-0001"
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
LAMBDA_TRUST = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
                '{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')


def pytest_sessionstart(session: pytest.Session) -> None:
    """Every test starts lambdad processes (servers, `python -m lambdad` commands). Where bytecode is
    not written (PYTHONDONTWRITEBYTECODE), each of them would compile lambdad's sources again (~0.5 s
    of CPU a start); compiled once here, into the usual gitignored __pycache__, they are only read."""
    if sys.dont_write_bytecode and not hasattr(session.config, "workerinput"):  # once, not per xdist worker
        import compileall

        compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "src" / "lambdad"), quiet=2)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A collected test needs aws-lambda-ric and it is not built yet: build it in the background now, so
    the minutes it takes overlap the files before that test rather than wait in its fixture."""
    if any("aws_lambda_ric" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.runtime import node_ric

        node_ric.background.start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running lambdad server process."""

    data_dir: Path
    port: int
    env: dict[str, str]
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")  # lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lambdad", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
             *self.extra_args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.endpoint}/_lambdad/health", timeout=1).status_code == 200:
                    self.ensure_role()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def ensure_role(self) -> None:
        """The execution role every test function uses (functions need an existing role, as on AWS); it may
        do anything, so functions calling lambdad's services work (tests of scoped roles make their own)."""
        iam = self.client("iam")
        try:
            iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=LAMBDA_TRUST)
            iam.attach_role_policy(RoleName="lambda-role", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        except ClientError as exc:  # it exists, or this server has other root keys than the tests' own
            if exc.response["Error"]["Code"] not in ("EntityAlreadyExists", "InvalidClientTokenId"):
                raise

    def client(self, service: str = "lambda", **kwargs: Any) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=kwargs.pop("region", REGION),
            aws_access_key_id=kwargs.pop("key", ACCESS_KEY), aws_secret_access_key=kwargs.pop("secret", SECRET_KEY),
            config=BotoConfig(retries={"max_attempts": 0}, read_timeout=120, max_pool_connections=64), **kwargs)

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAD_", "AWS_"))}
    env.update({
        "LAMBDAD_ROOT_ACCESS_KEY_ID": ACCESS_KEY,
        "LAMBDAD_ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
        "LAMBDAD_REGION": REGION,
        "LAMBDAD_ACCOUNT_ID": ACCOUNT,
    })
    env.update(extra)
    return env


def running_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Server]:
    """A started server in a temp dir of its own, stopped when the generator closes (for fixtures)."""
    srv = Server(tmp_path_factory.mktemp(name) / "data", free_port(), server_env())
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the whole session (tests use unique function names)."""
    yield from running_server(tmp_path_factory, "lambdad")


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of one's own, for tests that restart or kill it."""
    srv = Server(tmp_path / "data", free_port(), server_env())
    yield srv
    srv.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def lam(server: Server) -> Any:
    return server.client("lambda")


def make_zip(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_function(lam: Any, code: str | dict[str, str | bytes], *, name: str | None = None,
                    handler: str = "app.handler", runtime: str = "python3.12", wait: bool = True,
                    **kwargs: Any) -> str:
    name = name or unique()
    files = {"app.py": code} if isinstance(code, str) else code
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                        Code={"ZipFile": make_zip(files)}, **kwargs)
    if wait:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return name


def function_arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def api_error(exc: pytest.ExceptionInfo[Any]) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a botocore ClientError."""
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


# -- looking at environments from the host (the sandbox tests and SnapStart's) -----------------------
def host_pids_of_uid(uid: int) -> list[int]:
    """Host pids of every process running as `uid` (each environment has a uid of its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            m = re.search(r"^Uid:\s+(\d+)", status, re.M)
            if m and int(m.group(1)) == uid:
                pids.append(int(entry))
    return pids


def memory_cgroup(reported: dict[str, Any]) -> str:
    """The host path of the memory cgroup an environment reported (its /proc/self/cgroup text)."""
    m = re.search(r"memory:(/lambdad-\d+/\w+)", reported["cgroup"])
    assert m, reported["cgroup"]
    return "/sys/fs/cgroup/memory" + m.group(1)


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
