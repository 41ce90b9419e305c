"""Warm sync invoke latency: lambdad's Invoke API vs the bare ASGI echo app, the same bytes to both."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from benchmarks.context import Context
from benchmarks.httpclient import HttpError, RawClient, round_trips
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import echo_function, payload
from benchmarks.stats import percentile, summary

WARMUP = 200
ROUNDS = 10  # lambdad and echo alternate in rounds so drift (other load on the box) hits both alike


_PONG = "import os, sys\nfd = int(sys.argv[1])\nwhile True:\n    data = os.read(fd, 1 << 20)\n" \
        "    if not data:\n        break\n    os.write(fd, data)\n"


def process_hop_ms(body: bytes, count: int) -> list[float]:
    """Round trips of `body` to a second Python process over a Unix socket and back: the least a
    server that runs handlers in other processes pays on top of its HTTP work."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen([sys.executable, "-c", _PONG, str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    fd = ours.fileno()
    samples = []
    try:
        for i in range(count + WARMUP):
            started = time.perf_counter_ns()
            os.write(fd, body)
            got = 0
            while got < len(body):
                got += len(os.read(fd, 1 << 20))
            if i >= WARMUP:
                samples.append((time.perf_counter_ns() - started) / 1e6)
    finally:
        ours.close()
        proc.wait(10)
    return samples


@scenario("warm", "warm sync invoke p50/p99, 1 KB, keep-alive, SigV4-signed")
def warm(ctx: Context) -> None:
    srv = ctx.server()
    name = echo_function(ctx, srv)
    body = payload(1024)
    # Signed once (botocore SigV4Auth, fixed X-Amz-Date); the server verifies the signature on every request.
    raw = srv.sign_invoke(name, body).raw()
    echo_port = ctx.echo_port()
    with RawClient("127.0.0.1", srv.port) as lam, RawClient("127.0.0.1", echo_port) as echo:
        first = lam.request(raw)
        if first.status != 200 or json.loads(first.body) != json.loads(body):
            raise HttpError(f"lambdad answered {first.status}: {first.body[:300]!r}")
        round_trips(lam, raw, WARMUP)
        round_trips(echo, raw, WARMUP)
        lam_ms: list[float] = []
        echo_ms: list[float] = []
        per_round = max(1, ctx.options.warm_requests // ROUNDS)
        for _ in range(ROUNDS):
            lam_ms += round_trips(lam, raw, per_round)
            echo_ms += round_trips(echo, raw, per_round)
    hop_ms = process_hop_ms(body, ctx.options.warm_requests)
    p50, p99 = percentile(lam_ms, 50), percentile(lam_ms, 99)
    e50, e99 = percentile(echo_ms, 50), percentile(echo_ms, 99)
    h50 = percentile(hop_ms, 50)
    ctx.measured.update({"warm.p50": p50, "warm.p99": p99})
    ctx.record(lambdad_ms=summary(lam_ms), echo_ms=summary(echo_ms), process_hop_ms=summary(hop_ms),
               payload_bytes=len(body),
               method="one pre-signed request replayed over one raw keep-alive socket, sequentially")
    ctx.add("warm invoke p50 (1 KB, SigV4)", "ms", p50, baseline=e50, baseline_label="ASGI echo",
            target=Target("<= 2x echo", max_ratio=2.0))
    ctx.add("warm invoke p99 (1 KB, SigV4)", "ms", p99, baseline=e99, baseline_label="ASGI echo")
    ctx.add("warm invoke p50 vs echo + one process hop", "ms", p50, baseline=e50 + h50,
            baseline_label="echo + Unix-socket round trip to a 2nd process",
            note=f"the hop alone: p50 {h50:.3f} ms (1 KB to another Python process and back)")
