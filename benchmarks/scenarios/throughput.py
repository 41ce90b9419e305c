"""Throughput at 1, 8 and 64 connections with one load generator for lambdad and the echo app."""

from __future__ import annotations

from benchmarks.context import Context
from benchmarks.loadgen import LoadResult
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import echo_function, payload

TARGET_RPS = 10_000


def ok_rps(result: LoadResult) -> float:
    """Successful responses per second (a 4xx/5xx is not an invoke)."""
    return max(0, result.requests - result.errors.get("status", 0)) / result.duration_s


def describe_errors(result: LoadResult) -> str:
    return ", ".join(f"{n} {kind} errors" for kind, n in result.errors.items())


@scenario("throughput", "invokes/s at concurrency 1, 8, 64")
def throughput(ctx: Context) -> None:
    srv = ctx.server()
    name = echo_function(ctx, srv)
    request = srv.sign_invoke(name, payload(1024))  # valid 15 minutes: longer than this scenario
    echo_port = ctx.echo_port()
    gen = ctx.loadgen
    seconds = ctx.options.load_seconds
    results = {}
    for conns in ctx.options.concurrencies:
        if not ctx.options.quick:  # let lambdad make its `conns` environments before measuring
            gen.run(srv.port, request, conns, 1)
        lam = gen.run(srv.port, request, conns, seconds)
        echo = gen.run(echo_port, request, conns, seconds)
        results[conns] = {"lambdad": lam.to_json(), "echo": echo.to_json()}
        value = ok_rps(lam)
        ctx.measured[f"throughput.c{conns}"] = value
        notes = [f"{describe_errors(lam)} from lambdad" if lam.errors else "",
                 f"{describe_errors(echo)} from echo" if echo.errors else "",
                 f"p50 under load {lam.p50_ms:.2f} ms (echo {echo.p50_ms:.2f} ms)" if lam.p50_ms and echo.p50_ms
                 else ""]
        ctx.add(f"throughput, {conns} connection{'s' if conns > 1 else ''}", "req/s", value, baseline=ok_rps(echo),
                baseline_label="ASGI echo",
                target=Target(f">= {TARGET_RPS:,}/s", min_value=TARGET_RPS) if conns >= 8 else None,
                note="; ".join(n for n in notes if n))
    ctx.record(generator=gen.name, seconds=seconds, results=results)
