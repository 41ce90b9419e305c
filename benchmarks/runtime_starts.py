"""Cold start and warm invoke per runtime family, side by side with Python's, on a real `lambdad serve`.

    PYTHONPATH=src python benchmarks/runtime_starts.py [--cold 20] [--warm 300] [--json out.json]

Rows (client-observed latency of a boto3 Invoke, so every row carries the same client and API cost):
  python3.12                 the zygote fork + handler import (baseline)
  nodejs20.x                 node exec'd from the zygote, lambdad's runtime over frames (fd 3)
  provided: node over HTTP   the same Node runtime as a custom runtime over the HTTP Runtime API
  provided: bash + curl      AWS's tutorial-style shell runtime
  provided: awslambdaric     AWS's Python runtime interface client as bootstrap (if installed)
A cold start is forced by changing an environment variable (a new revision retires the pool),
--cold-gap seconds apart (0.2: a spare Node.js process is ready again; 0: back to back).
"Init" is the REPORT line's Init Duration (process start to ready for an exec'd runtime).
Baselines in the same run: `node -e 0` and `python3 -c pass` process starts.
"""

from __future__ import annotations

import argparse
import base64
import importlib.metadata
import io
import json
import os
import re
import secrets
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
from botocore.config import Config

REPO = Path(__file__).resolve().parent.parent
NODE_RUNTIME = REPO / "src/lambdad/runtime/guest/node_runtime.mjs"
ROLE = "arn:aws:iam::000000000000:role/bench"

PY = "count = 0\ndef handler(event, context):\n    global count\n    count += 1\n    return {'count': count}\n"
NODE = "let count = 0;\nexports.handler = async () => ({ count: ++count });\n"
SHELL_BOOTSTRAP = r'''#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
COUNT=0
while true; do
  HEADERS="$(mktemp)"
  curl -sS -o /dev/null -D "$HEADERS" "$API/invocation/next"
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  COUNT=$((COUNT + 1))
  curl -sS -o /dev/null "$API/invocation/$ID/response" -d "{\"count\": $COUNT}"
done
'''


def make_zip(files: dict[str, str | bytes], executable: tuple[str, ...] = ("bootstrap",)) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            mode = 0o755 if name in executable or name.endswith(".so") else 0o644
            info.external_attr = (mode | 0o100000) << 16
            zf.writestr(info, content)
    return buf.getvalue()


def awslambdaric_files() -> dict[str, str | bytes] | None:
    out: dict[str, str | bytes] = {}
    try:
        for dist in ("awslambdaric", "simplejson", "snapshot-restore-py"):
            for f in importlib.metadata.files(dist) or ():
                if "__pycache__" not in str(f) and ".dist-info" not in str(f):
                    out[str(f)] = Path(str(f.locate())).read_bytes()
    except importlib.metadata.PackageNotFoundError:
        return None
    out["bootstrap"] = '#!/bin/sh\nexec /usr/bin/python3 -m awslambdaric "$_HANDLER"\n'
    out["app.py"] = PY
    return out


def cases() -> list[tuple[str, str, str, dict[str, str | bytes]]]:
    rows: list[tuple[str, str, str, dict[str, str | bytes]]] = [
        ("python3.12", "python3.12", "app.handler", {"app.py": PY}),
        ("nodejs20.x (frames)", "nodejs20.x", "index.handler", {"index.js": NODE}),
        ("provided: node over HTTP API", "provided.al2023", "index.handler",
         {"index.js": NODE, "node_runtime.mjs": NODE_RUNTIME.read_bytes(),
          "bootstrap": "#!/bin/sh\nexec node node_runtime.mjs\n"}),
        ("provided: bash + curl", "provided.al2023", "function.handler", {"bootstrap": SHELL_BOOTSTRAP}),
    ]
    ric = awslambdaric_files()
    if ric:
        rows.append(("provided: awslambdaric", "provided.al2023", "app.handler", ric))
    return rows


class Server:
    def __init__(self, *serve_args: str) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="lambdad-bench-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.key, self.secret = "AKIABENCH" + secrets.token_hex(6).upper(), secrets.token_hex(20)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAD_", "AWS_"))}
        env.update(LAMBDAD_ROOT_ACCESS_KEY_ID=self.key, LAMBDAD_ROOT_SECRET_ACCESS_KEY=self.secret,
                   LAMBDAD_LOG_LEVEL="warning", PYTHONPATH=str(REPO / "src"))
        self.proc = subprocess.Popen([sys.executable, "-m", "lambdad", "serve", "--port", str(self.port),
                                      "--data-dir", self.tmp.name + "/data", *serve_args], env=env)
        self.client = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                                   aws_access_key_id=self.key, aws_secret_access_key=self.secret,
                                   config=Config(retries={"max_attempts": 0}, read_timeout=60))
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.list_functions()
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)
        self.tmp.cleanup()


def invoke(lam: Any, name: str) -> tuple[float, float | None, float]:
    """(client ms, Init Duration ms or None, REPORT Duration ms)."""
    t0 = time.perf_counter()
    resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = resp["Payload"].read()
    elapsed = (time.perf_counter() - t0) * 1000
    if resp.get("FunctionError"):
        raise RuntimeError(f"{name}: {body[:300]!r}")
    tail = base64.b64decode(resp["LogResult"]).decode()
    init = re.search(r"Init Duration: ([\d.]+) ms", tail)
    duration = re.search(r"\tDuration: ([\d.]+) ms", tail)
    return elapsed, float(init.group(1)) if init else None, float(duration.group(1)) if duration else 0.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def process_start(cmd: list[str], n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--cold-gap", type=float, default=0.2,
                        help="seconds between cold starts (lets a spare Node.js process start; 0: back to back)")
    parser.add_argument("--node-spares", type=int, default=1, help="the server's node_spare_processes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    server = Server("--node-spare-processes", str(args.node_spares))
    lam = server.client
    results: dict[str, Any] = {}
    try:
        for label, runtime, handler, files in cases():
            name = "bench-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
            lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Timeout=10,
                                Code={"ZipFile": make_zip(files)})
            lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
            invoke(lam, name)  # the zygote for this family starts once; not a cold start of the function
            cold, inits = [], []
            for i in range(args.cold):
                lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"RUN": str(i)}})
                lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})
                time.sleep(args.cold_gap)
                elapsed, init, _ = invoke(lam, name)
                cold.append(elapsed)
                inits.append(init or 0.0)
            warm, durations = [], []
            for _ in range(args.warm):
                elapsed, _, duration = invoke(lam, name)
                warm.append(elapsed)
                durations.append(duration)
            results[label] = {
                "cold_p50_ms": statistics.median(cold), "cold_p90_ms": pct(cold, 0.9),
                "init_p50_ms": statistics.median(inits),
                "warm_p50_ms": statistics.median(warm), "warm_p99_ms": pct(warm, 0.99),
                "report_duration_p50_ms": statistics.median(durations),
            }
            r = results[label]
            print(f"{label:32} cold p50 {r['cold_p50_ms']:7.2f} ms (init {r['init_p50_ms']:6.2f})"
                  f"   warm p50 {r['warm_p50_ms']:6.2f} ms p99 {r['warm_p99_ms']:6.2f}"
                  f"   in-env {r['report_duration_p50_ms']:5.2f} ms", flush=True)
    finally:
        server.close()
    baselines = {"node -e 0": process_start(["node", "-e", "0"], 20),
                 "python3 -c pass": process_start(["/usr/bin/python3", "-c", "pass"], 20)}
    for label, ms in baselines.items():
        print(f"baseline {label:23} {ms:7.2f} ms")
    if args.json:
        args.json.write_text(json.dumps({"rows": results, "baselines_ms": baselines}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
