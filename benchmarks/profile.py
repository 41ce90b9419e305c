"""Where the server's time goes on the warm path: `python -m benchmarks.profile [--seconds 10] [--connections 8]`.

Starts a lambdad, deploys the echo function, drives it with the suite's load generator and samples the
server process with py-spy (`pip install py-spy`, the `bench` extra) meanwhile. Prints the functions
with the most samples on top of the stack (self) and anywhere on it (inclusive), and keeps the
collapsed stacks (flamegraph input) under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks.loadgen import LoadGenerator
from benchmarks.scenarios.common import ECHO_HANDLER, payload
from benchmarks.server import LambdadServer

RESULTS = Path(__file__).resolve().parent / "results"


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; drop the line for grouping
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def summarize(collapsed: Path, top: int) -> str:
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    out = [f"{total} samples"]
    for title, counter in (("self", self_counts), ("inclusive", inclusive)):
        out.append(f"\ntop {top} by {title} samples:")
        out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL (CPU in Python, "
                        "not waits such as disk writes on the event loop)")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="lambdad-profile-"))
    srv = LambdadServer(workdir).start()
    try:
        name = srv.create_function("bench-echo", {"app.py": ECHO_HANDLER})
        request = srv.sign_invoke(name, payload(1024))
        gen = LoadGenerator(workdir)
        gen.run(srv.port, request, args.connections, 1)  # environments exist before sampling starts
        RESULTS.mkdir(exist_ok=True)
        collapsed = RESULTS / f"profile-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.txt"
        spy = subprocess.Popen([py_spy, "record", "--pid", str(srv.pid), "--format", "raw", "--rate", "250",
                                "--duration", str(args.seconds), "--nonblocking", "--output", str(collapsed),
                                *(["--gil"] if args.gil else [])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        result: dict[str, object] = {}
        load = threading.Thread(target=lambda: result.update(
            r=gen.run(srv.port, request, args.connections, args.seconds)))
        load.start()
        load.join()
        spy.wait(args.seconds + 30)
        print(f"{gen.name}, {args.connections} connections: {result['r']}")
        if not collapsed.exists():
            print(f"py-spy wrote nothing: {spy.stderr.read().decode()[-500:] if spy.stderr else ''}")
            return 1
        print(summarize(collapsed, args.top))
        print(f"\ncollapsed stacks: {collapsed}")
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
