"""Cold start and idle memory with the sandbox on and off, through the real Invoke API.

    python benchmarks/sandbox_cold_start.py [--functions 40] [--json out.json]

Starts two real servers, one with `--sandbox false` and one with the sandbox on (the setting is the
`--sandbox true|false` flag, env `LAMBDAD_SANDBOX`), creates N functions on each whose handler
imports json, warms each zygote, then invokes every other function once, alternating between the
two servers: each of those invokes is a cold start (fork, sandbox set-up, handler import, first
result) measured as the client's Invoke round trip, next to the Init Duration the function reports.
Then it reads the proportional set size (PSS) of every idle environment process and, with the
sandbox, what its memory cgroup is charged (kernel objects included).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config as BotoConfig

KEY, SECRET = "AKIABENCHSANDBOX0001", "bench-sandbox-secret-key-000000000000001"
HANDLER = "import json\n\ndef handler(event, context):\n    return {'ok': json.dumps(event)}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HANDLER)
    return buf.getvalue()


def _pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    m = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class _Server:
    """A real `lambdad serve` with the sandbox on or off."""

    def __init__(self, sandbox: bool) -> None:
        self.sandbox = sandbox
        self.work = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAD_", "AWS_"))}
        env.update(LAMBDAD_ROOT_ACCESS_KEY_ID=KEY, LAMBDAD_ROOT_SECRET_ACCESS_KEY=SECRET,
                   LAMBDAD_SANDBOX="true" if sandbox else "false", LAMBDAD_FREEZE_IDLE_AFTER="-1")
        self.log = open(self.work / "server.log", "wb")  # closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "lambdad", "serve", "--port", str(port),
                                      "--data-dir", str(self.work / "data")],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(endpoint + "/_lambdad/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        self.lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY,
                                aws_secret_access_key=SECRET, config=BotoConfig(retries={"max_attempts": 0}))
        self.cold: list[float] = []
        self.init: list[float] = []

    def cold_invoke(self, name: str) -> None:
        t = time.perf_counter()
        resp = self.lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
        self.cold.append((time.perf_counter() - t) * 1000)
        m = re.search(r"Init Duration: ([\d.]+) ms", base64.b64decode(resp["LogResult"]).decode())
        if m:
            self.init.append(float(m.group(1)))

    def summary(self) -> dict[str, Any]:
        warm = []
        for _ in range(200):
            t = time.perf_counter()
            self.lam.invoke(FunctionName="bench-cold-1", Payload=b"{}")
            warm.append((time.perf_counter() - t) * 1000)
        envs = [pid for z in _children(self.proc.pid) for pid in _children(z)]
        pss = [_pss_kib(pid) for pid in envs]
        charged = []
        for pid in envs if self.sandbox else ():
            try:
                cg = re.search(r":memory:(\S+)", Path(f"/proc/{pid}/cgroup").read_text())
                if cg:
                    charged.append(int(Path(f"/sys/fs/cgroup/memory{cg.group(1)}/memory.usage_in_bytes")
                                       .read_text()) // 1024)
            except OSError:
                pass
        return {
            "sandbox": self.sandbox,
            "cold_start_ms_p50": statistics.median(self.cold),
            "cold_start_ms_p90": sorted(self.cold)[int(len(self.cold) * 0.9)],
            "init_duration_ms_p50": statistics.median(self.init) if self.init else None,
            "warm_invoke_ms_p50": statistics.median(warm),
            "idle_environments": len(envs),
            "pss_kib_per_env_p50": statistics.median(pss) if pss else None,
            "cgroup_charged_kib_per_env_p50": statistics.median(charged) if charged else None,
        }

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)


def measure(functions: int = 40) -> list[dict[str, Any]]:
    """Both settings side by side: cold invokes alternate between the two servers, so whatever
    else loads the machine loads both alike. Returns [off, on]."""
    servers = [_Server(False), _Server(True)]
    try:
        names = [f"bench-cold-{i}" for i in range(functions + 1)]
        code = _zip()
        for srv in servers:
            for name in names:
                srv.lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                        Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": code})
            srv.lam.invoke(FunctionName=names[0], Payload=b"{}")  # starts the zygote
        for name in names[1:]:
            for srv in servers:
                time.sleep(0.05)  # cold starts happen after idle moments, not back to back
                srv.cold_invoke(name)
        return [srv.summary() for srv in servers]
    finally:
        for srv in servers:
            srv.stop()


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, default=40)
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = measure(args.functions)
    keys = [k for k in rows[0] if k != "sandbox"]
    print(f"{'figure':<32} {'sandbox off':>12} {'sandbox on':>12} {'added':>9}")
    for k in keys:
        off, on = rows[0][k], rows[1][k]
        added = f"{on - off:+.2f}" if isinstance(off, (int, float)) and isinstance(on, (int, float)) else ""
        print(f"{k:<32} {_fmt(off):>12} {_fmt(on):>12} {added:>9}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
