"""Warm invoke p50 of two lambdad source trees side by side: did a change to the invoke path regress it?

    python benchmarks/warm_ab.py --before /path/to/old/src [--after src] [--requests 3000] [--rounds 20]

Both servers run at once; requests alternate between them in rounds on one keep-alive connection
each, so load from elsewhere on the box (drift) lands on both alike. Prints p50/p99 of each and the
ratio after/before. The same 1 KB echo invocation as the `warm` scenario.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import server
from benchmarks.httpclient import RawClient, round_trips
from benchmarks.scenarios.common import ECHO_HANDLER, payload
from benchmarks.stats import percentile


def start(src: Path, workdir: Path) -> server.LambdadServer:
    server.SRC = src.resolve()
    workdir.mkdir(parents=True)
    return server.LambdadServer(workdir).start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    body = payload(1024)
    with tempfile.TemporaryDirectory() as tmp:
        servers = {"before": start(args.before, Path(tmp) / "a"), "after": start(args.after, Path(tmp) / "b")}
        try:
            samples: dict[str, list[float]] = {k: [] for k in servers}
            clients = {}
            raws = {}
            for key, srv in servers.items():
                name = srv.create_function("ab-echo", {"app.py": ECHO_HANDLER})
                raws[key] = srv.sign_invoke(name, body).raw()
                clients[key] = RawClient("127.0.0.1", srv.port)
                round_trips(clients[key], raws[key], 200)  # warm-up
            per_round = max(1, args.requests // args.rounds)
            for _ in range(args.rounds):
                for key in servers:
                    samples[key] += round_trips(clients[key], raws[key], per_round)
            out = {k: {"p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99), "n": len(v)}
                   for k, v in samples.items()}
            out["ratio_p50"] = out["after"]["p50_ms"] / out["before"]["p50_ms"]  # type: ignore[assignment]
            print(json.dumps(out, indent=2))
            for c in clients.values():
                c.close()
        finally:
            for srv in servers.values():
                srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
