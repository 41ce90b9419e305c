"""Scale-out: N concurrent environments — time to create them, whether all were served, and the memory
(PSS) each costs once idle, next to a fresh interpreter with the same handler imported.

N invocations are sent at once to a function whose handler connects back to a barrier socket held by
the benchmark and waits there, so every invocation needs its own environment; the N-th connection to
the barrier marks N environments created, initialized and running. Then the barrier opens, the
environments go idle, and each one's process tree (the zygote's children) is measured from
/proc/<pid>/smaps_rollup. A server of its own with account concurrency N + 100 runs each N.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

from benchmarks import procs
from benchmarks.context import Context
from benchmarks.httpclient import async_request
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.server import LambdadServer
from benchmarks.stats import percentile

HOLD_HANDLER = '''import os
import socket
import time


def handler(event, context):
    stream = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
    try:
        conn = socket.create_connection(("127.0.0.1", event["port"]), timeout=event["wait"])
        conn.settimeout(event["wait"])
        conn.recv(1)
        conn.close()
        return {"env": stream, "barrier": True}
    except OSError:
        time.sleep(event["fallback_sleep"])
        return {"env": stream, "barrier": False}
'''


def create_timeout(n: int) -> float:
    """How long to wait for N environments: Lambda's rate (1,000 per 10 s) with room to see a miss."""
    return 5.0 + n * 0.03


def function_timeout(n: int) -> int:
    """The function's Timeout: the barrier wait plus a margin. lambdad also bounds an environment's
    init by max(10 s, Timeout), so an environment that never reports init fails after this long."""
    return int(max(10.0, create_timeout(n) + 5))


async def _hold(srv: LambdadServer, name: str, n: int) -> dict[str, Any]:
    arrivals: list[float] = []
    writers: list[asyncio.StreamWriter] = []

    async def on_barrier(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrivals.append(time.perf_counter())
        writers.append(writer)

    barrier = await asyncio.start_server(on_barrier, "127.0.0.1", 0, backlog=n + 64)
    port = barrier.sockets[0].getsockname()[1]
    wait = create_timeout(n)
    body = {"port": port, "wait": function_timeout(n) - 1, "fallback_sleep": wait}
    raw = srv.sign_invoke(name, json.dumps(body).encode()).raw()
    health_at: float | None = None
    started = time.perf_counter()
    tasks = [asyncio.create_task(async_request("127.0.0.1", srv.port, raw)) for _ in range(n)]
    deadline = started + wait
    while time.perf_counter() < deadline:
        finished = sum(t.done() for t in tasks)
        if len(arrivals) + finished >= n:
            break
        if health_at is None and not arrivals:  # no barrier (e.g. no loopback inside): ask the server
            stats = (await asyncio.to_thread(srv.health))["environments"]
            if stats["environments"] >= n:
                health_at = time.perf_counter()
        await asyncio.sleep(0.02)
    created_s = (arrivals[n - 1] - started) if len(arrivals) >= n else (
        (health_at - started) if health_at else None)
    at_barrier = len(arrivals)
    last_arrival_s = (arrivals[-1] - started) if arrivals else None
    for w in writers:
        w.write(b"x")
    done, pending = await asyncio.wait(tasks, timeout=function_timeout(n) + 15)
    for t in pending:
        t.cancel()
    barrier.close()
    served, envs, failures = 0, set(), []
    for t in done:
        exc = t.exception()
        if exc is not None:
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        resp = t.result()
        if resp.status == 200 and "x-amz-function-error" not in resp.headers:
            served += 1
            envs.add(json.loads(resp.body)["env"])
        else:
            failures.append(f"{resp.status} {resp.headers.get('x-amz-function-error', '')} {resp.body[:120]!r}")
    failures += ["no answer before the deadline"] * len(pending)
    return {"created_s": created_s, "at_barrier": at_barrier, "last_arrival_s": last_arrival_s, "served": served,
            "distinct_envs": len(envs), "failures": failures, "wall_s": time.perf_counter() - started}


def idle_memory(srv: LambdadServer, settle_timeout: float = 15.0) -> dict[str, Any]:
    """PSS/USS/RSS per environment process tree once the server says none is busy."""
    procs.wait_until(lambda: srv.health()["environments"]["busy"] == 0, settle_timeout, 0.1)
    time.sleep(0.3)
    tree = procs.parent_map()
    per_env: list[procs.Memory] = []
    for pid in srv.environments(tree):
        total = procs.Memory()
        for p in (pid, *procs.descendants(pid, tree)):
            m = procs.memory(p)
            if m is not None:
                total += m
        per_env.append(total)
    zygotes = [procs.memory(z) for z in srv.zygotes(tree)]
    envs = srv.environments(tree)
    return {"environments": len(per_env), "private_by_mapping_kib": procs.private_by_mapping(envs[0]) if envs else [],
            "pss_kib": [m.pss_kib for m in per_env],
            "uss_kib": [m.uss_kib for m in per_env], "rss_kib": [m.rss_kib for m in per_env],
            "zygote_pss_kib": [z.pss_kib for z in zygotes if z]}


def fresh_interpreter_memory(python: str) -> procs.Memory:
    """Memory of a fresh interpreter that imported json and waits: an environment without a zygote."""
    proc = subprocess.Popen([python, "-c", "import json, sys\nprint('ready', flush=True)\nsys.stdin.read()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"})
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(0.1)
        return procs.memory(proc.pid) or procs.Memory()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


@scenario("memory", "N concurrent environments: creation time, all served, idle PSS per environment")
def memory(ctx: Context) -> None:
    base = fresh_interpreter_memory(ctx.interpreter())
    base_kib = base.pss_kib
    for n in ctx.options.env_counts:
        with ctx.own_server(account_concurrency=str(max(1000, n + 100))) as srv:
            label = srv.sandbox_label()["short"]
            name = srv.create_function("bench-hold", {"app.py": HOLD_HANDLER}, Timeout=function_timeout(n))
            srv.client().invoke(FunctionName=name, Payload=json.dumps(
                {"port": 1, "wait": 1, "fallback_sleep": 0}).encode())  # starts the zygote, untimed
            held = asyncio.run(_hold(srv, name, n))
            mem = idle_memory(srv)
        ctx.record(**{f"n{n}": {
            "label": label, **held, "failures": held["failures"][:20], "failure_count": len(held["failures"]),
            "environment_processes": mem["environments"], "zygote_pss_kib": mem["zygote_pss_kib"],
            "one_environment_private_by_mapping_kib": mem["private_by_mapping_kib"],
            "pss_kib": _summary(mem["pss_kib"]), "uss_kib": _summary(mem["uss_kib"]),
            "rss_kib": _summary(mem["rss_kib"]),
            "fresh_interpreter_kib": {"pss": base.pss_kib, "uss": base.uss_kib, "rss": base.rss_kib}}})
        pss = mem["pss_kib"]
        mean_pss_mb = sum(pss) / len(pss) / 1024 if pss else None
        mem_note = "no environment process found"
        if pss:
            mem_note = (f"{mem['environments']} environment processes measured; USS p50 "
                        f"{percentile(mem['uss_kib'], 50) / 1024:.2f} MB, RSS p50 "
                        f"{percentile(mem['rss_kib'], 50) / 1024:.1f} MB; zygote PSS "
                        f"{sum(mem['zygote_pss_kib']) / 1024:.1f} MB; the fresh python: USS "
                        f"{base.uss_kib / 1024:.2f} MB, RSS {base.rss_kib / 1024:.1f} MB; one environment's "
                        "private memory by mapping: " + ", ".join(
                            f"{where} {kib / 1024:.2f} MB" for where, kib in mem["private_by_mapping_kib"][:4]))
        measured = f"{n:,}" if mem["environments"] >= n else f"{mem['environments']:,} of {n:,}"
        ctx.add(f"memory per idle environment, PSS mean ({measured} envs) [{label}]", "MB", mean_pss_mb,
                baseline=base_kib / 1024, baseline_label="fresh python, json imported",
                target=Target("<= 4 MB", max_value=4.0), note=mem_note)
        fail_note = (f"{len(held['failures'])} failed, first: {held['failures'][0]}" if held["failures"] else "")
        ctx.add(f"time to create {n:,} concurrent environments", "s", held["created_s"], baseline=n / 100,
                baseline_label="AWS rate 1,000/10 s (reference)", target=Target(f"<= {n / 100:g} s", max_value=n / 100),
                note="" if held["created_s"] is not None else
                f"only {held['at_barrier']} of {n} were running within {create_timeout(n):.0f} s"
                + (f" (the last of them after {held['last_arrival_s']:.2f} s)" if held["last_arrival_s"] else ""))
        ctx.add(f"{n:,} concurrent environments: invocations served", "count", held["served"], baseline=n,
                baseline_label="sent", target=Target("all", min_ratio=1.0),
                note="; ".join(x for x in (f"{held['distinct_envs']} distinct environments served them", fail_note)
                               if x))


def _summary(values: list[int]) -> dict[str, float]:
    from benchmarks.stats import summary

    return summary([float(v) for v in values])
