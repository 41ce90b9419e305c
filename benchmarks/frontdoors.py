"""HTTP front doors: requests/s and latency through a function URL and an ALB listener, against a
direct Invoke of the same warm function.

    PYTHONPATH=src python benchmarks/frontdoors.py [--requests 2000] [--threads 8] [--json out.json]

Starts its own `lambdad serve` on a free loopback port with a temporary data dir. Every row calls
one warm Python function that returns `{"statusCode": 200, "body": "ok"}` over keep-alive
connections (httpx); p50/p99 come from sequential requests, requests/s from N client threads.
Rows:
  - baseline: GET /_lambdad/health (the HTTP stack alone, no invocation)
  - Invoke, SigV4-signed by botocore's signer over httpx (the API path without boto3's client cost)
  - Invoke through boto3 (what an SDK user sees)
  - function URL, auth NONE (Host-header routing, payload 2.0, response mapping)
  - ALB listener (rule match, ALB event, response mapping)
The client runs on the same machine as the server, so requests/s is bounded by both together.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

KEY, SECRET, REGION = "AKIABENCHROOT0000001", "bench-secret-key", "us-east-1"
CODE = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zip_of(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


Call = Callable[[httpx.Client], None]


def measure(make_call: Callable[[], Call], requests: int, threads: int) -> tuple[float, float, float]:
    """(requests/s with `threads` clients, p50 ms, p99 ms of sequential calls)."""
    call = make_call()
    with httpx.Client(timeout=60) as client:
        for _ in range(50):  # warm the function and the connection
            call(client)
        samples = []
        for _ in range(max(200, requests // 4)):
            started = time.perf_counter()
            call(client)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    per_thread = requests // threads
    errors: list[BaseException] = []

    def worker() -> None:
        thread_call = make_call()
        try:
            with httpx.Client(timeout=60) as thread_client:
                for _ in range(per_thread):
                    thread_call(thread_client)
        except BaseException as exc:  # report, do not hang the benchmark
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return per_thread * threads / elapsed, statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    data = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAD_", "AWS_"))},
           "LAMBDAD_ROOT_ACCESS_KEY_ID": KEY, "LAMBDAD_ROOT_SECRET_ACCESS_KEY": SECRET, "LAMBDAD_LOG_LEVEL": "warning"}
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "lambdad", "serve", "--port", str(port), "--data-dir",
                             str(data / "d")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{endpoint}/_lambdad/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        config = BotoConfig(retries={"max_attempts": 0}, max_pool_connections=args.threads * 2)
        clients = {name: boto3.client(name, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEY,
                                      aws_secret_access_key=SECRET, config=config) for name in ("lambda", "elbv2")}
        lam, elb = clients["lambda"], clients["elbv2"]
        lam.create_function(FunctionName="bench", Runtime="python3.12", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": zip_of({"app.py": CODE})})
        lam.get_waiter("function_active_v2").wait(FunctionName="bench", WaiterConfig={"Delay": 0.2})
        url_host = urlparse(lam.create_function_url_config(FunctionName="bench", AuthType="NONE")["FunctionUrl"])
        lam.add_permission(FunctionName="bench", StatementId="url", Action="lambda:InvokeFunctionUrl",
                           Principal="*", FunctionUrlAuthType="NONE")
        lam.add_permission(FunctionName="bench", StatementId="url-invoke", Action="lambda:InvokeFunction",
                           Principal="*", InvokedViaFunctionUrl=True)
        tg = elb.create_target_group(Name="bench", TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
        lam.add_permission(FunctionName="bench", StatementId="elb", Action="lambda:InvokeFunction",
                           Principal="elasticloadbalancing.amazonaws.com", SourceArn=tg)
        elb.register_targets(TargetGroupArn=tg, Targets=[
            {"Id": lam.get_function(FunctionName="bench")["Configuration"]["FunctionArn"]}])
        lb = elb.create_load_balancer(Name="bench", Subnets=["subnet-a"])["LoadBalancers"][0]["LoadBalancerArn"]
        alb_port = free_port()
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=alb_port,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])

        invoke_url = f"{endpoint}/2015-03-31/functions/bench/invocations"
        signer = SigV4Auth(Credentials(KEY, SECRET), "lambda", REGION)

        def health() -> Call:
            return lambda c: c.get(f"{endpoint}/_lambdad/health").raise_for_status()

        def signed_invoke() -> Call:
            def call(c: httpx.Client) -> None:
                request = AWSRequest("POST", invoke_url, data=b"{}")
                signer.add_auth(request)
                c.post(invoke_url, content=b"{}", headers=dict(request.headers.items())).raise_for_status()
            return call

        def boto3_invoke() -> Call:
            client = boto3.client("lambda", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEY,
                                  aws_secret_access_key=SECRET, config=config)
            return lambda c: client.invoke(FunctionName="bench", Payload=b"{}")["Payload"].read()

        def function_url() -> Call:
            return lambda c: c.get(f"{endpoint}/", headers={"host": url_host.netloc}).raise_for_status()

        def alb() -> Call:
            return lambda c: c.get(f"http://127.0.0.1:{alb_port}/").raise_for_status()

        rows = []
        for label, make in (("baseline: GET /_lambdad/health", health), ("Invoke (SigV4 over httpx)", signed_invoke),
                            ("Invoke (boto3)", boto3_invoke), ("function URL (auth NONE)", function_url),
                            ("ALB listener (forward)", alb)):
            rps, p50, p99 = measure(make, args.requests, args.threads)
            rows.append({"row": label, "requests_per_s": round(rps), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3)})
    finally:
        proc.terminate()
        proc.wait(30)

    print(f"{'front door':<34} {'req/s (' + str(args.threads) + ' thr)':>14} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(f"{row['row']:<34} {row['requests_per_s']:>14} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f}")
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "frontdoors", "threads": args.threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
