"""Fork to first handler result, sandbox on vs off, without HTTP in between (needs root for 'on').

    python benchmarks/sandbox_fork_to_result.py [--runs 40] [--json out.json]

Drives the server's own Zygote and Environment classes: for each run a SPAWN (a new environment),
its handler import (init), one INVOKE and its RESULT; the figure is the time from sending SPAWN to
receiving that RESULT. Sandbox 'on' uses a SandboxHost exactly as the server does (namespaces,
cgroups, btrfs /tmp, uid drop); 'off' is the same zygote with the sandbox disabled.

`measure(runs=40)` is the reusable entry point for the benchmark suite (both sides, interleaved).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from lambdad import config as settings
from lambdad.runtime.environment import Environment
from lambdad.runtime.interpreters import Interpreters
from lambdad.runtime.sandbox_host import SandboxHost, probe
from lambdad.runtime.zygote import Zygote


class _Side:
    """One zygote with the sandbox on or off, and what it needs to spawn environments."""

    def __init__(self, sandbox: bool, work: Path) -> None:
        self.work = work
        cfg = settings.resolve({"data_dir": str(work / "data"), "sandbox": "true" if sandbox else "false"},
                               environ={})
        cfg.data_path.mkdir(parents=True, exist_ok=True)
        self.host = SandboxHost(cfg, probe(cfg))
        self.code = work / "code"
        self.code.mkdir()
        (self.code / "app.py").write_text(
            "import json\n\ndef handler(event, context):\n    return {'ok': json.dumps(event)}\n")
        self.zygote: Zygote | None = None
        self.samples: list[float] = []

    async def start(self) -> None:
        self.host.start()
        interpreter, _ = Interpreters().python("python3.12")
        self.zygote = Zygote(interpreter, {"sandbox": self.host.zygote_config()})
        await self.zygote.start()

    async def one(self, keep: bool) -> None:
        assert self.zygote is not None
        env_id = uuid.uuid4().hex
        task_root = "/var/task" if self.host.enabled else str(self.code)
        spec = {"id": env_id, "uid": self.host.allocate_uid(), "network": "host", "hostname": "localhost",
                "handler": "app.handler", "code_dir": str(self.code), "opt_dir": None, "task_root": task_root,
                "env": {"PATH": "/usr/bin:/bin"}, "memory_mb": 128, "timeout": 3, "ephemeral_mb": 512,
                "function_name": "bench", "function_version": "$LATEST", "log_group": "g", "log_stream": "s",
                "tmp_dir": str(self.work / "tmp" / env_id), "path_head": [task_root], "path_tail": []}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe()
        env = Environment(env_id, spec, self.zygote.kill)
        await env.attach(ours, log_r)
        t0 = time.perf_counter()
        env.pid = await self.zygote.spawn(spec, theirs.fileno(), log_w, env.on_exit)
        theirs.close()
        os.close(log_w)
        await env.wait_init(10)
        out = await env.invoke({"id": "r", "arn": "a", "deadline": int(time.time() * 1000) + 3000}, b"{}", 3)
        elapsed = (time.perf_counter() - t0) * 1000
        assert out.kind == "result", (out, env.take_logs())
        if keep:
            self.samples.append(elapsed)
        env.kill()
        await env.wait_exited()
        self.host.release_uid(spec["uid"])

    async def aclose(self) -> None:
        if self.zygote is not None:
            await self.zygote.aclose()
        self.host.close()

    def summary(self) -> dict[str, Any]:
        return {"sandbox": self.host.protections.enabled, "fork_to_result_ms_p50": statistics.median(self.samples),
                "fork_to_result_ms_p90": sorted(self.samples)[int(len(self.samples) * 0.9)]}


async def _run(runs: int, work: Path, sides: tuple[bool, ...]) -> list[dict[str, Any]]:
    # Both zygotes run side by side and spawns alternate, so load from anything else on the
    # machine hits both alike.
    made = []
    for i, sandbox in enumerate(sides):
        (work / str(i)).mkdir()
        made.append(_Side(sandbox, work / str(i)))
    try:
        for side in made:
            await side.start()
        for i in range(runs + 3):
            for side in made:
                await asyncio.sleep(0.03)
                await side.one(keep=i >= 3)
    finally:
        for side in made:
            await side.aclose()
    return [side.summary() for side in made]


def measure(runs: int = 40, sides: tuple[bool, ...] = (False, True)) -> list[dict[str, Any]]:
    """Medians for each side (sandbox off, on), measured interleaved."""
    work = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    try:
        return asyncio.run(_run(runs, work, sides))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--json")
    args = ap.parse_args()
    off, on = measure(args.runs)
    for key in ("fork_to_result_ms_p50", "fork_to_result_ms_p90"):
        print(f"{key:<24} off {off[key]:7.2f}   on {on[key]:7.2f}   added {on[key] - off[key]:+.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps([off, on], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
