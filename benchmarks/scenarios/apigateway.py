"""API Gateway beside a function URL: warm p50 and requests/s at 8 connections through an HTTP API
(payload 2.0, $default stage) and a REST API (payload 1.0), each against a function URL to the same
function in the same run (target: API Gateway adds at most 0.1 ms p50 over the function URL)."""

from __future__ import annotations

from urllib.parse import urlparse

from benchmarks import peers, procs
from benchmarks.context import Context
from benchmarks.httpclient import RawClient, round_trips
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.signing import SignedRequest
from benchmarks.stats import percentile

WARMUP = 200
ROUNDS = 6
HANDLER = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
REGION, ACCOUNT = "us-east-1", "000000000000"


def _get(host: str, target: str) -> SignedRequest:
    return SignedRequest("GET", target, (("Host", host), ("User-Agent", "lambdad-bench"),
                                         ("Accept-Encoding", "identity")), b"")


@scenario("apigateway", "HTTP API and REST API vs a function URL to the same function: p50, req/s at 8")
def apigateway(ctx: Context) -> None:
    srv = ctx.server()
    name = ctx.memo(f"apigw-function-{srv.port}", lambda: srv.create_function("bench-apigw", {"app.py": HANDLER}))
    lam, v2, v1 = srv.client("lambda"), srv.client("apigatewayv2"), srv.client("apigateway")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    url = urlparse(lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="url-invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")
    http_api = v2.create_api(Name="bench", ProtocolType="HTTP", Target=arn)["ApiId"]
    rest = v1.create_rest_api(name="bench")["id"]
    root = v1.get_resources(restApiId=rest)["items"][0]["id"]
    res = v1.create_resource(restApiId=rest, parentId=root, pathPart="hello")["id"]
    v1.put_method(restApiId=rest, resourceId=res, httpMethod="GET", authorizationType="NONE")
    v1.put_integration(restApiId=rest, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                       integrationHttpMethod="POST",
                       uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations")
    v1.create_deployment(restApiId=rest, stageName="prod")

    requests = {
        "function URL": _get(url.netloc, "/hello"),
        "HTTP API": _get(f"{http_api}.execute-api.{REGION}.localhost:{srv.port}", "/hello"),
        "REST API": _get(f"{rest}.execute-api.{REGION}.localhost:{srv.port}", "/prod/hello"),
    }
    samples: dict[str, list[float]] = {k: [] for k in requests}
    count = 100 if ctx.options.quick else 1000
    with RawClient("127.0.0.1", srv.port) as client:
        for raw in requests.values():
            round_trips(client, raw.raw(), WARMUP)
        for _ in range(ROUNDS):  # alternate so drift on the box hits all three alike
            for key, raw in requests.items():
                samples[key] += round_trips(client, raw.raw(), count // ROUNDS)
    p50 = {k: percentile(v, 50) for k, v in samples.items()}
    for key in ("HTTP API", "REST API"):
        added = p50[key] - p50["function URL"]
        ctx.add(f"warm p50 through {key}", "ms", p50[key], baseline=p50["function URL"],
                baseline_label="function URL, same function",
                target=Target("<= +0.1 ms over the function URL", max_value=p50["function URL"] + 0.1),
                note=f"adds {added * 1000:+.0f} us; p99 {percentile(samples[key], 99):.3f} ms "
                     f"(function URL {percentile(samples['function URL'], 99):.3f} ms)")
    gen = ctx.loadgen
    seconds = ctx.options.load_seconds
    rps = {}
    for key, request in requests.items():
        gen.run(srv.port, request, 8, 1)
        result = gen.run(srv.port, request, 8, seconds)
        rps[key] = max(0, result.requests - result.errors.get("status", 0)) / result.duration_s
    for key in ("HTTP API", "REST API"):
        ctx.add(f"{key} requests/s, 8 connections", "req/s", rps[key], baseline=rps["function URL"],
                baseline_label="function URL, same function")
    ctx.record(p50_ms=p50, requests_per_s=rps)
    if ctx.options.peers:
        _serverless_offline(ctx, srv.port, requests["HTTP API"], count)


def _serverless_offline(ctx: Context, port: int, http_api: SignedRequest, count: int) -> None:
    """serverless-offline's httpApi endpoint for the same handler, alternating with lambdad's HTTP API."""
    figure = "warm p50, HTTP API vs serverless-offline httpApi"
    try:
        home = peers.serverless_offline()
        with peers.ServerlessOffline(home, ctx.workdir, ctx.interpreter(), ["hello"], HANDLER,
                                     http_events=True) as sls:
            if not procs.wait_until(lambda: procs.port_open(sls.http_port), 60.0, 0.1):
                raise peers.PeerUnavailable(f"its HTTP port did not open: {sls.log_tail()}")
            peer = _get(f"127.0.0.1:{sls.http_port}", "/hello").raw()
            ours = http_api.raw()
            theirs: list[float] = []
            mine: list[float] = []
            with RawClient("127.0.0.1", sls.http_port) as peer_client, RawClient("127.0.0.1", port) as client:
                round_trips(peer_client, peer, WARMUP)
                for _ in range(ROUNDS):
                    theirs += round_trips(peer_client, peer, count // ROUNDS)
                    mine += round_trips(client, ours, count // ROUNDS)
    except peers.PeerUnavailable as exc:
        ctx.add(figure, "ms", None, baseline_label="serverless-offline", note=f"cannot run here: {exc}")
        return
    ctx.add(figure, "ms", percentile(mine, 50), baseline=percentile(theirs, 50),
            baseline_label="serverless-offline httpApi, same handler",
            note="alternating rounds; serverless-offline runs no sandbox")
