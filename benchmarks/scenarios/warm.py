"""Warm sync invoke latency: lambdad's Invoke API vs the bare ASGI echo app, the same bytes to both."""

from __future__ import annotations

import json

from benchmarks.context import Context
from benchmarks.httpclient import HttpError, RawClient, round_trips
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import echo_function, payload
from benchmarks.stats import percentile, summary

WARMUP = 200
ROUNDS = 10  # lambdad and echo alternate in rounds so drift (other load on the box) hits both alike


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
    p50, p99 = percentile(lam_ms, 50), percentile(lam_ms, 99)
    e50, e99 = percentile(echo_ms, 50), percentile(echo_ms, 99)
    ctx.measured.update({"warm.p50": p50, "warm.p99": p99})
    ctx.record(lambdad_ms=summary(lam_ms), echo_ms=summary(echo_ms), payload_bytes=len(body),
               method="one pre-signed request replayed over one raw keep-alive socket, sequentially")
    ctx.add("warm invoke p50 (1 KB, SigV4)", "ms", p50, baseline=e50, baseline_label="ASGI echo",
            target=Target("<= 2x echo", max_ratio=2.0))
    ctx.add("warm invoke p99 (1 KB, SigV4)", "ms", p99, baseline=e99, baseline_label="ASGI echo")
