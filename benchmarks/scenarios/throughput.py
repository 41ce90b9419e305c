"""Throughput at 1, 8 and 64 connections with one load generator for lambdad and the echo app."""

from __future__ import annotations

from benchmarks import procs
from benchmarks.context import Context
from benchmarks.loadgen import LoadGenerator, LoadResult
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import echo_function, payload

TARGET_RPS = 10_000


def ok_rps(result: LoadResult) -> float:
    """Successful responses per second (a 4xx/5xx is not an invoke)."""
    return max(0, result.requests - result.errors.get("status", 0)) / result.duration_s


def describe_errors(result: LoadResult) -> str:
    return ", ".join(f"{n} {kind} errors" for kind, n in result.errors.items())


def run_with_cpu(gen: LoadGenerator, port: int, request: object, conns: int, seconds: int,
                 pids: list[int]) -> tuple[LoadResult, float]:
    """A load run and the CPU seconds `pids` spent meanwhile (robust to other load on the box)."""
    before = sum(procs.cpu_seconds(p) for p in pids)
    result = gen.run(port, request, conns, seconds)  # type: ignore[arg-type]
    return result, sum(procs.cpu_seconds(p) for p in pids) - before


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
        if not ctx.options.quick:  # let lambdad make its `conns` environments before measuring (both alike)
            gen.run(srv.port, request, conns, 1)
            gen.run(echo_port, request, conns, 1)
            # an environment whose start hangs (lambdad drops an early INIT_DONE; up to 10 s) would
            # otherwise hold a connection of the measured run: measure the steady state
            procs.wait_until(lambda: srv.health()["environments"]["busy"] == 0, 15.0, 0.1)
        env_before = {p: procs.cpu_seconds(p) for p in srv.environments()}
        lam, server_cpu = run_with_cpu(gen, srv.port, request, conns, seconds, [srv.pid])
        env_cpu = sum(procs.cpu_seconds(p) - env_before.get(p, 0.0) for p in srv.environments())
        echo, echo_cpu = run_with_cpu(gen, echo_port, request, conns, seconds, [ctx.echo_pid()])
        cpu = {"server_ms_per_invoke": 1000 * server_cpu / max(1, lam.requests),
               "environments_ms_per_invoke": 1000 * env_cpu / max(1, lam.requests),
               "echo_ms_per_request": 1000 * echo_cpu / max(1, echo.requests)}
        results[conns] = {"lambdad": lam.to_json(), "echo": echo.to_json(), "cpu": cpu}
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
        if conns == 8 or len(ctx.options.concurrencies) == 1:
            ctx.add(f"server CPU per invoke, {conns} connections", "ms", cpu["server_ms_per_invoke"],
                    baseline=cpu["echo_ms_per_request"], baseline_label="ASGI echo per request",
                    note=f"environments: {cpu['environments_ms_per_invoke']:.3f} ms per invoke; "
                         f"one server process on one core tops out near "
                         f"{1000 / cpu['server_ms_per_invoke']:,.0f} invokes/s" if cpu["server_ms_per_invoke"] else "")
    ctx.record(generator=gen.name, seconds=seconds, results=results)
