"""Throughput: one load generator for lambdad and every baseline, in its own process.

`wrk` (apt package `wrk`) with a Lua script that POSTs the pre-signed request is preferred; where it
is missing and cannot be installed, an asyncio generator (`python -m benchmarks.loadgen`, uvloop when
importable) runs in its own process instead. Rows name the generator used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.signing import SignedRequest
from benchmarks.stats import percentile


@dataclass(slots=True)
class LoadResult:
    generator: str
    connections: int
    duration_s: float
    requests: int
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "rps": self.rps}


def find_wrk(install: bool = True) -> str | None:
    """wrk's path; installs the Debian package when missing and we are root (the project's machines are)."""
    path = shutil.which("wrk")
    if path or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True, timeout=180)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=180)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True, timeout=180)
    except (OSError, subprocess.SubprocessError):
        return None
    return shutil.which("wrk")


_LUA_DONE = r'''
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %.0f, "duration_us": %.0f, "connect": %.0f, "read": %.0f, "write": %.0f, ' ..
    '"status": %.0f, "timeout": %.0f, "p50_us": %.3f, "p99_us": %.3f}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
'''


def _lua_string(data: str) -> str:
    level = 0
    while f"]{'=' * level}]" in data:
        level += 1
    return f"[{'=' * level}[{data}]{'=' * level}]"


def wrk_script(request: SignedRequest) -> str:
    """A Lua script making wrk send exactly `request` (wrk adds Content-Length itself)."""
    lines = [f'wrk.method = "{request.method}"', f"wrk.path = {_lua_string(request.target)}",
             f"wrk.body = {_lua_string(request.body.decode('latin-1'))}"]
    lines += [f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}" for name, value in request.headers]
    return "\n".join(lines) + "\n" + _LUA_DONE


class LoadGenerator:
    def __init__(self, workdir: Path, kind: str = "auto", install: bool = True) -> None:
        """kind: 'wrk', 'asyncio', or 'auto' (wrk when present or installable, else asyncio)."""
        self.workdir = workdir
        self.wrk = find_wrk(install) if kind in ("auto", "wrk") else None
        if kind == "wrk" and not self.wrk:
            raise RuntimeError("wrk is not installed and could not be installed (apt-get install wrk)")
        if self.wrk:
            out = subprocess.run([self.wrk, "--version"], capture_output=True, text=True)
            match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
            self.name = f"wrk {match.group(1) if match else ''}".strip()
        else:
            self.name = "asyncio generator (own process)"

    def run(self, port: int, request: SignedRequest, connections: int, duration_s: int) -> LoadResult:
        if self.wrk:
            return self._run_wrk(port, request, connections, duration_s)
        return self._run_asyncio(port, request, connections, duration_s)

    def _run_wrk(self, port: int, request: SignedRequest, connections: int, duration_s: int) -> LoadResult:
        script = self.workdir / f"wrk-{port}-{connections}.lua"
        script.write_text(wrk_script(request))
        # One wrk thread: it drives >100k requests/s here and leaves the second core to the server.
        out = subprocess.run(
            [self.wrk, "-t1", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s", "-s", str(script),
             f"http://127.0.0.1:{port}{request.target}"],
            capture_output=True, text=True, timeout=duration_s + 60)
        match = re.search(r"WRKJSON (\{.*\})", out.stdout)
        if not match:
            raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
        data = json.loads(match.group(1))
        errors = {k: int(data[k]) for k in ("connect", "read", "write", "status", "timeout") if data[k]}
        return LoadResult(self.name, connections, data["duration_us"] / 1e6, int(data["requests"]), errors,
                          data["p50_us"] / 1000, data["p99_us"] / 1000)

    def _run_asyncio(self, port: int, request: SignedRequest, connections: int, duration_s: int) -> LoadResult:
        raw = self.workdir / f"request-{port}.bin"
        raw.write_bytes(request.raw())
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.loadgen", "--port", str(port), "--connections", str(connections),
             "--duration", str(duration_s), "--request-file", str(raw)],
            capture_output=True, text=True, timeout=duration_s + 60,
            cwd=Path(__file__).resolve().parent.parent)
        if out.returncode != 0:
            raise RuntimeError(f"load generator failed: {out.stderr[-800:]}")
        data = json.loads(out.stdout)
        return LoadResult(self.name, connections, data["duration_s"], data["requests"], data["errors"],
                          data["p50_ms"], data["p99_ms"])


# -- the asyncio generator (runs in its own process) ------------------------------------------------
async def _connection(port: int, raw: bytes, deadline: float, latencies: list[float],
                      errors: dict[str, int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        errors["connect"] = errors.get("connect", 0) + 1
        return
    perf = time.perf_counter
    try:
        while perf() < deadline:
            started = perf()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            pos = lower.find(b"content-length:")
            if pos >= 0:
                size = int(lower[pos + 15:lower.index(b"\r\n", pos)])
                await reader.readexactly(size)
            else:  # chunked
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            if perf() > deadline:
                break  # like wrk: what completes after the end does not count
            latencies.append((perf() - started) * 1000)
            if status >= 400:
                errors["status"] = errors.get("status", 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        errors["read"] = errors.get("read", 0) + 1
    finally:
        writer.close()


async def _generate(port: int, raw: bytes, connections: int, duration: float) -> dict[str, object]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    started = time.perf_counter()
    tasks = [asyncio.create_task(_connection(port, raw, started + duration, latencies, errors))
             for _ in range(connections)]
    _done, pending = await asyncio.wait(tasks, timeout=duration + 1.0)
    for task in pending:  # stuck on an answer that did not come in time (wrk counts these as timeouts)
        task.cancel()
    if pending:
        errors["timeout"] = errors.get("timeout", 0) + len(pending)
    return {"requests": len(latencies), "duration_s": duration, "errors": errors,
            "p50_ms": percentile(latencies, 50) if latencies else None,
            "p99_ms": percentile(latencies, 99) if latencies else None}


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncio HTTP/1.1 keep-alive load generator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--request-file", type=Path, required=True)
    args = parser.parse_args()
    coro = _generate(args.port, args.request_file.read_bytes(), args.connections, args.duration)
    try:
        import uvloop  # type: ignore[import-not-found]

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
