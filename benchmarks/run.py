"""The benchmark command: `python -m benchmarks [--quick]` or `python benchmarks/run.py [--quick]`.

Starts its own lambdad servers and baselines on loopback, runs the registered scenarios, prints a
table (every lambdad figure next to a baseline measured in the same run, the target, and whether it
was met) and writes the JSON to benchmarks/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import scenarios, server
from benchmarks.context import Context, Options
from benchmarks.report import render_table, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run in seconds: tiny samples, no peers")
    parser.add_argument("--only", default="", help="comma-separated scenario names to run")
    parser.add_argument("--skip", default="", help="comma-separated scenario names to leave out")
    parser.add_argument("--envs", type=_ints, help="environment counts for the memory scenario (100,1000)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None,
                        help="run the peers (default: yes, except with --quick)")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "asyncio"), default="auto",
                        help="throughput driver (auto: wrk, installed with apt when missing except in --quick)")
    parser.add_argument("--src", type=Path, help="lambdad source tree to measure (default: this checkout's src/)")
    parser.add_argument("--output", type=Path, help="JSON path (default benchmarks/results/<timestamp>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


def tree_info(src: Path) -> dict[str, Any]:
    """Which lambdad was measured: the source path and its git commit (dirty when changed)."""
    info: dict[str, Any] = {"src": str(src)}
    try:
        commit = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        info["commit"] = commit + ("-dirty" if dirty else "") if commit else None
    except (OSError, subprocess.SubprocessError):
        info["commit"] = None
    return info


def host_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "kernel": platform.release(), "python": sys.version.split()[0],
            "machine": platform.machine(), "loadavg_start": os.getloadavg()}


def raise_fd_limit() -> None:
    """1,000 environments need a few thousand descriptors in the server and in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    registry = scenarios.load()
    if args.list:
        for sc in registry:
            print(f"{sc.name:<12} {'(quick) ' if sc.quick else '        '}{sc.title}")
        return 0
    options = Options.quick_defaults() if args.quick else Options()
    if args.envs:
        options.env_counts = args.envs
    options.load_generator = args.load_generator
    if args.peers is not None:
        options.peers = args.peers
    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    unknown = (only | skip) - {sc.name for sc in registry}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.src:
        if not (args.src / "lambdad" / "__init__.py").exists():
            print(f"--src {args.src}: no lambdad package there", file=sys.stderr)
            return 2
        server.SRC = args.src.resolve()
    raise_fd_limit()

    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    ctx = Context(options, workdir)
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        for sc in registry:
            selected = (sc.name in only) if only else (sc.quick or not options.quick)
            if sc.name == "peers" and not options.peers and sc.name not in only:
                selected = False
            if sc.name in skip or not selected:
                outcomes[sc.name] = {"status": "skipped"}
                continue
            print(f"[bench] {sc.name}: {sc.title} ...", file=sys.stderr, flush=True)
            ctx.scenario = sc.name
            t0 = time.monotonic()
            try:
                sc.run(ctx)
                outcomes[sc.name] = {"status": "ok"}
            except Exception as exc:  # one broken scenario must not hide the others' figures
                traceback.print_exc()
                outcomes[sc.name] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
                ctx.add(f"{sc.name}: scenario failed", "", None, note=f"{type(exc).__name__}: {exc}"[:400])
            outcomes[sc.name]["seconds"] = round(time.monotonic() - t0, 2)
            print(f"[bench] {sc.name}: {outcomes[sc.name]['status']} in {outcomes[sc.name]['seconds']} s",
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("[bench] interrupted; reporting what was measured", file=sys.stderr)
    finally:
        ctx.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    finished = time.time()
    info = host_info()
    info["loadavg_end"] = os.getloadavg()
    document = {
        "schema": 1,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(finished - started, 1),
        "quick": options.quick,
        "argv": sys.argv[1:] if argv is None else argv,
        "host": info,
        "lambdad": tree_info(server.SRC),
        "labels": ctx.labels,
        "rows": [row.to_json() for row in ctx.rows],
        "scenarios": {name: {**outcome, "raw": ctx.raw.get(name, {})} for name, outcome in outcomes.items()},
    }
    output = args.output or RESULTS / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + ".json")
    write_json(output, document)
    print()
    tree = document["lambdad"]
    print(f"lambdad benchmarks{' (quick)' if options.quick else ''} of {tree['src']} ({tree['commit']}): "
          f"{info['cpus']} CPUs, kernel "
          f"{info['kernel']}, load generator {ctx.labels.get('load_generator', '-')}, load average "
          f"{info['loadavg_start'][0]:.2f} at start, {info['loadavg_end'][0]:.2f} at end")
    for key, label in (ctx.labels.get("servers") or {}).items():
        print(f"  server [{key}]: {label['short']}; OFF: {', '.join(label['off']) or 'none'}")
    print()
    print(render_table(ctx.rows))
    print()
    print(f"JSON: {output}  ({document['duration_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
