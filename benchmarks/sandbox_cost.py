"""Per-environment sandbox cost, step by step, measured on the guest module itself (needs root).

    python benchmarks/sandbox_cost.py [--runs 50] [--json out.json]

Sets up a zygote-like process exactly as the server would (prepare_zygote: private mount
namespace, read-only root, btrfs /tmp store, cgroups under a throwaway `lambdad-bench-*` tag),
then forks environments and reports medians of: before_fork (cgroups + /tmp subvolume), the fork,
each step of enter() in the child, and on_exit. Everything it creates is removed at exit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

GUEST = Path(__file__).resolve().parent.parent / "src" / "lambdad" / "runtime" / "guest"
sys.path.insert(0, str(GUEST))

import sandbox  # noqa: E402

CONTROLLERS = ("memory", "pids", "cpu", "freezer")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--json")
    ap.add_argument("--keep-alive", action="store_true", help="keep every environment alive (as idle ones)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    tag = f"lambdad-bench-{os.getpid()}"
    dirs = {c: f"/sys/fs/cgroup/{c}/{tag}" for c in CONTROLLERS if os.path.isdir(f"/sys/fs/cgroup/{c}")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    stage = work / "stage"
    stage.mkdir()
    code = work / "code"
    code.mkdir()
    (code / "app.py").write_text("def handler(e, c):\n    return e\n")
    pid = os.fork()
    if pid == 0:  # the zygote stand-in gets its own mount namespace; the parent cleans up after it
        code_rc = _zygote(args, dirs, work, stage, code)
        os._exit(code_rc)
    _, status = os.waitpid(pid, 0)
    for d in dirs.values():
        try:
            os.rmdir(d)
        except OSError:
            pass
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return os.waitstatus_to_exitcode(status)


def _zygote(args: argparse.Namespace, dirs: dict[str, str], work: Path, stage: Path, code: Path) -> int:
    site = next((p for p in sys.path if p.endswith("site-packages")), None)
    t = time.perf_counter()
    status = sandbox.prepare_zygote({
        "enabled": True, "stage": str(stage), "pidns": True, "cgroup": {"version": 1, "dirs": dirs},
        "tmp": {"btrfs": "--no-btrfs" not in sys.argv, "image": str(work / "store.img"), "size": 16 << 30,
                "fallback_dir": str(work / "tmp")},
        "binds": [site] if site else []})
    prepare_ms = (time.perf_counter() - t) * 1000
    samples: dict[str, list[float]] = {}
    alive: list[tuple[int, str]] = []
    for i in range(args.runs + 3):
        spec = {"id": f"bench{i}", "uid": 990000 + i, "memory_mb": 128, "ephemeral_mb": 512,
                "code_dir": str(code)}
        r, w = os.pipe()
        t0 = time.perf_counter()
        sandbox.before_fork(spec)
        t1 = time.perf_counter()
        pid = sandbox.fork(spec)
        if pid == 0:
            os.close(r)
            sandbox.trace = [("forked", time.perf_counter())]
            sandbox.enter(spec)
            marks = sandbox.trace
            steps = {"fork (until the child runs)": (marks[0][1] - t1) * 1000}
            for (_, a), (name, b) in itertools.pairwise(marks[1:]):
                steps["enter: " + name] = (b - a) * 1000
            steps["enter total"] = (marks[-1][1] - marks[1][1]) * 1000
            os.write(w, json.dumps(steps).encode())
            os.close(w)
            if args.keep_alive:  # stay, like an idle warm environment
                time.sleep(3600)
            os._exit(0)
        t2 = time.perf_counter()
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        if args.keep_alive:
            alive.append((pid, spec["id"]))
            t3 = t4 = time.perf_counter()
        else:
            os.waitpid(pid, 0)
            t3 = time.perf_counter()
            sandbox.on_exit(spec["id"])
            t4 = time.perf_counter()
        steps = json.loads(data)
        steps["before_fork (cgroups + /tmp subvolume)"] = (t1 - t0) * 1000
        steps["fork (in the zygote)"] = (t2 - t1) * 1000
        steps["on_exit (release)"] = (t4 - t3) * 1000
        steps["per-environment total (before_fork + enter)"] = (
            steps["before_fork (cgroups + /tmp subvolume)"] + steps["enter total"])
        if i >= 3:  # warm-up
            for k, v in steps.items():
                samples.setdefault(k, []).append(v)
        while sandbox.housekeeping() == 0:  # what the zygote does between spawns
            pass
        time.sleep(0.02)
    for pid, env_id in alive:
        sandbox.kill(env_id, pid)
        os.waitpid(pid, 0)
        sandbox.on_exit(env_id)
    sandbox.shutdown()
    while sandbox.housekeeping():
        time.sleep(0.02)
    result = {"prepare_zygote_ms": prepare_ms, "status": status,
              "median_ms": {k: statistics.median(v) for k, v in samples.items()}}
    print(f"prepare_zygote (once per zygote): {prepare_ms:.1f} ms  {status}")
    print(f"{'step':<48} {'median ms':>10}")
    for k, v in result["median_ms"].items():
        print(f"{k:<48} {v:>10.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
