"""The same invoke through the peers that run here without Docker, in the same run.

Rows keep lambdad's figure as the value and put the peer's in the baseline column, so a ratio below
1 (latency) or above 1 (throughput) means lambdad is ahead. A peer that cannot run says why.
"""

from __future__ import annotations

import json

from benchmarks import peers
from benchmarks.context import Context
from benchmarks.httpclient import HttpError, RawClient, round_trips
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.scenarios.cold import timed_invoke
from benchmarks.scenarios.common import JSON_HANDLER, echo_function, payload
from benchmarks.scenarios.throughput import ok_rps
from benchmarks.server import ACCESS_KEY, REGION, SECRET_KEY
from benchmarks.signing import sign_invoke
from benchmarks.stats import percentile, summary

SLS_HANDLER = "import json\n\n\ndef handler(event, context):\n    return event\n"
FASTER = Target("< peer", max_ratio=1.0)
MORE = Target(">= peer", min_ratio=1.0)


def _python_lambda_local(ctx: Context) -> None:
    lambdad_cold = ctx.measured.get("cold.p50")
    figure, label = "cold start p50 vs python-lambda-local", "python-lambda-local"
    try:
        cli = peers.python_lambda_local(ctx.interpreter())
        project = ctx.workdir / "python-lambda-local"
        project.mkdir(exist_ok=True)
        (project / "app.py").write_text(JSON_HANDLER)
        event = project / "event.json"
        event.write_text('{"sample": 1}')
        peers.python_lambda_local_invoke(cli, project, event)  # page cache; not kept
        samples = [peers.python_lambda_local_invoke(cli, project, event)
                   for _ in range(ctx.options.peer_cold_samples)]
    except peers.PeerUnavailable as exc:
        ctx.record(python_lambda_local={"available": False, "reason": str(exc)})
        ctx.add(figure, "ms", lambdad_cold, baseline_label=label, target=FASTER,
                note=f"python-lambda-local cannot run here: {exc}")
        return
    ctx.record(python_lambda_local={"available": True, "invoke_ms": summary(samples),
                                    "method": "wall time of `python-lambda-local -f handler app.py event.json`"})
    ctx.add(figure, "ms", lambdad_cold, baseline=percentile(samples, 50), baseline_label=label, target=FASTER,
            note="" if lambdad_cold is not None else "lambdad's cold start was not measured in this run")


def _serverless_offline(ctx: Context) -> None:
    opts = ctx.options
    figures = ["warm invoke p50 vs serverless-offline", "cold start p50 vs serverless-offline",
               *(f"throughput, {c} conn. vs serverless-offline" for c in opts.concurrencies)]
    try:
        home = peers.serverless_offline()
        cold_fns = [f"cold{i}" for i in range(opts.peer_cold_samples)]
        with peers.ServerlessOffline(home, ctx.workdir, ctx.interpreter(), ["echo", *cold_fns], SLS_HANDLER) as sls:
            result = _measure_serverless_offline(ctx, sls, cold_fns)
    except (peers.PeerUnavailable, OSError, HttpError) as exc:
        ctx.record(serverless_offline={"available": False, "reason": str(exc)})
        for figure in figures:
            unit = "req/s" if figure.startswith("throughput") else "ms"
            ctx.add(figure, unit, None, baseline_label="serverless-offline",
                    note=f"serverless-offline cannot run here: {exc}")
        return
    ctx.record(serverless_offline={"available": True, **result})
    ctx.add(figures[0], "ms", result["lambdad_warm_p50"], baseline=result["warm_p50"],
            baseline_label="serverless-offline", target=FASTER,
            note="both measured in alternating rounds here; serverless-offline verifies no signature")
    ctx.add(figures[1], "ms", ctx.measured.get("cold.p50"), baseline=result["cold_p50"],
            baseline_label="serverless-offline", target=FASTER,
            note="serverless-offline: first invoke of each of "
                 f"{len(result['cold_ms'])} functions (starts its Python worker)")
    for conns, figure in zip(opts.concurrencies, figures[2:], strict=True):
        peer = result["throughput"][conns]
        errors = f"serverless-offline: {peer['errors']}" if peer["errors"] else ""
        ctx.add(figure, "req/s", ctx.measured.get(f"throughput.c{conns}"), baseline=peer["ok_rps"],
                baseline_label="serverless-offline", target=MORE, note=errors)


def _measure_serverless_offline(ctx: Context, sls: peers.ServerlessOffline, cold_fns: list[str]) -> dict:
    body = payload(1024)

    def request(fn: str, data: bytes) -> bytes:
        return sign_invoke("127.0.0.1", sls.lambda_port, sls.function_name(fn), data, access_key=ACCESS_KEY,
                           secret_key=SECRET_KEY, region=REGION).raw()

    cold_ms = []
    with RawClient("127.0.0.1", sls.lambda_port, timeout=60) as client:
        for fn in cold_fns:
            ms, _headers, answer, status = timed_invoke(client, request(fn, b'{"sample": 1}'))
            if status != 200:
                raise HttpError(f"serverless-offline answered {status}: {answer[:200]!r}")
            cold_ms.append(ms)
        echo_raw = request("echo", body)
        first = client.request(echo_raw)
        if first.status != 200 or json.loads(first.body) != json.loads(body):
            raise HttpError(f"serverless-offline echo answered {first.status}: {first.body[:200]!r}")
        # lambdad again, in alternating rounds with the peer, so drift on the box hits both alike
        srv = ctx.server()
        lam_raw = srv.sign_invoke(echo_function(ctx, srv), body).raw()
        with RawClient("127.0.0.1", srv.port) as lam:
            round_trips(client, echo_raw, 200)
            round_trips(lam, lam_raw, 200)
            sls_ms: list[float] = []
            lam_ms: list[float] = []
            per_round = max(1, ctx.options.warm_requests // 10)
            for _ in range(10):
                sls_ms += round_trips(client, echo_raw, per_round)
                lam_ms += round_trips(lam, lam_raw, per_round)
    throughput = {}
    signed = sign_invoke("127.0.0.1", sls.lambda_port, sls.function_name("echo"), body, access_key=ACCESS_KEY,
                         secret_key=SECRET_KEY, region=REGION)
    for conns in ctx.options.concurrencies:
        if not ctx.options.quick:  # the same 1 s warm-up lambdad gets in the throughput scenario
            ctx.loadgen.run(sls.lambda_port, signed, conns, 1)
        res = ctx.loadgen.run(sls.lambda_port, signed, conns, ctx.options.load_seconds)
        throughput[conns] = {**res.to_json(), "ok_rps": ok_rps(res)}
    return {"cold_ms": cold_ms, "cold_p50": percentile(cold_ms, 50), "warm_ms": summary(sls_ms),
            "warm_p50": percentile(sls_ms, 50), "lambdad_warm_ms": summary(lam_ms),
            "lambdad_warm_p50": percentile(lam_ms, 50), "throughput": throughput}


@scenario("peers", "the same invoke through python-lambda-local and serverless-offline", quick=False)
def peers_scenario(ctx: Context) -> None:
    _python_lambda_local(ctx)
    _serverless_offline(ctx)
