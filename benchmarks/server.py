"""A `lambdad serve` of the benchmark's own: subprocess, free loopback port, temp data dir, root keys.

The server runs the code of the checkout this file belongs to (its `src/` goes first on PYTHONPATH;
`--src` picks another tree), so the suite measures the tree it sits in. Functions are deployed
through boto3, as a user would.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from benchmarks import procs, signing

ACCESS_KEY = "AKIABENCHROOT0000001"
SECRET_KEY = "lambdad-bench-root-secret-key-000000000001"
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambdad-bench"
REPO = Path(__file__).resolve().parent.parent
#: the lambdad source tree under test (`--src`); by default this checkout's
SRC = REPO / "src"


class ServerError(Exception):
    """The server did not start or misbehaved outside a measurement."""


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            zf.writestr(info, content)
    return buf.getvalue()


def child_env(**extra: str) -> dict[str, str]:
    """The environment for our subprocesses: no stray LAMBDAD_/AWS_ settings, the tree under test first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAD_", "AWS_"))}
    src = str(SRC)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


class LambdadServer:
    def __init__(self, workdir: Path, settings: dict[str, str] | None = None) -> None:
        self.settings = dict(settings or {})
        self.port = procs.free_port()
        self.data_dir = workdir / f"lambdad-{self.port}"
        self.log_path = workdir / f"lambdad-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = child_env(
            LAMBDAD_ROOT_ACCESS_KEY_ID=ACCESS_KEY, LAMBDAD_ROOT_SECRET_ACCESS_KEY=SECRET_KEY,
            LAMBDAD_REGION=REGION, LAMBDAD_ACCOUNT_ID=ACCOUNT,
            **{"LAMBDAD_" + name.upper(): value for name, value in self.settings.items()})
        self._clients: dict[str, Any] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> LambdadServer:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lambdad", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"lambdad exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                self.health()
            except OSError:
                time.sleep(0.05)
                continue
            self._ensure_role()
            return self
        self.stop()
        raise ServerError(f"lambdad did not become healthy in {timeout:.0f} s: {self.log_tail()}")

    def _ensure_role(self) -> None:
        """Functions need an existing execution role that Lambda may assume, as on AWS, and one that may
        send to the destinations the scenarios configure (Lambda delivers as the execution role)."""
        iam = self.client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        name = ROLE.rsplit("/", 1)[1]
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        iam.put_role_policy(RoleName=name, PolicyName="bench-destinations", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"],
                                                    "Resource": "*"}]}))

    def stop(self) -> None:
        # Idle keep-alive connections would hold uvicorn's graceful shutdown for its full timeout.
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self.proc is not None:
            # A request stuck in the server (e.g. an environment that never reported init) would hold
            # uvicorn's graceful shutdown for its full 10 s; a SIGINT after 3 s ends that wait (the zygote
            # then sees its socket close and ends the environments).
            procs.stop_process(self.proc, timeout=30.0, grace=3.0)

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # -- what it reports ------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}/_lambdad/health", timeout=2) as resp:
            return json.loads(resp.read())

    def doctor(self) -> list[str]:
        """`lambdad doctor` with this server's settings: one line per protection."""
        out = subprocess.run([sys.executable, "-m", "lambdad", "doctor"], env=self.env, capture_output=True,
                             text=True, timeout=60)
        lines = out.stdout.split("\nruntimes ", 1)[0].splitlines()[1:]  # the protections, not the runtimes after
        return [line.strip() for line in lines if line.strip()]

    def sandbox_label(self) -> dict[str, Any]:
        """What the sandbox really is on this server, for labelling rows."""
        requested = self.settings.get("sandbox", "true").lower() in ("1", "true", "yes", "on")
        active, off = [], []
        for line in self.doctor():
            parts = line.split(None, 2)
            if len(parts) >= 2:
                (active if parts[1] == "active" else off).append(parts[0] + (f" {parts[2]}" if len(parts) > 2
                                                                            and parts[1] != "active" else ""))
        health = {}
        try:
            health = self.health()
        except OSError:
            pass
        total = len(active) + len(off)
        short = f"sandbox {'on' if requested else 'off'}: {len(active)}/{total} protections active"
        return {"requested": requested, "active": active, "off": off, "short": short,
                "health_sandbox": health.get("sandbox")}

    # -- processes ------------------------------------------------------------------------------
    def zygotes(self, tree: dict[int, list[int]] | None = None) -> list[int]:
        """Zygote processes: descendants of the server whose command is a zygote, not forks of one."""
        tree = tree or procs.parent_map()
        parent_of = {kid: parent for parent, kids in tree.items() for kid in kids}
        found = []
        for pid in procs.descendants(self.pid, tree):
            if "zygote" in procs.cmdline(pid) and "zygote" not in procs.cmdline(parent_of.get(pid, 0)):
                found.append(pid)
        return found

    def environments(self, tree: dict[int, list[int]] | None = None) -> list[int]:
        """One pid per execution environment: the zygotes' direct children."""
        tree = tree or procs.parent_map()
        return [child for z in self.zygotes(tree) for child in tree.get(z, ())]

    def interpreter(self) -> str:
        """The interpreter the Python zygote runs (what a cold start is compared with)."""
        for pid in self.zygotes():
            path = procs.exe(pid)
            if "python" in os.path.basename(path):
                return path
        return ""

    # -- clients and functions --------------------------------------------------------------------
    def client(self, service: str = "lambda") -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                config=BotoConfig(retries={"max_attempts": 0}, read_timeout=300, max_pool_connections=64))
        return self._clients[service]

    def create_function(self, name: str, files: dict[str, str], *, handler: str = "app.handler",
                        runtime: str = "python3.12", **kwargs: Any) -> str:
        lam = self.client()
        lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                            Code={"ZipFile": make_zip(files)}, **kwargs)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1,
                                                                                    "MaxAttempts": 600})
        return name

    def update_environment(self, name: str, variables: dict[str, str]) -> None:
        lam = self.client()
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05,
                                                                                     "MaxAttempts": 600})

    def sign_invoke(self, function: str, payload: bytes, **kwargs: Any) -> signing.SignedRequest:
        return signing.sign_invoke("127.0.0.1", self.port, function, payload, access_key=ACCESS_KEY,
                                   secret_key=SECRET_KEY, region=REGION, **kwargs)
