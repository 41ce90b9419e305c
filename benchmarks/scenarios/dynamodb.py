"""DynamoDB: PutItem and GetItem per second at 8 connections and Query p50 on a 100,000-item table,
beside moto's server mode (`moto_server`, PyPI `moto[server]`: in memory, not durable) doing the same.

Both get the same SigV4-signed request bytes (the load generator replays them: a PutItem rewrites one
item, a GetItem reads one), and the same table filled through BatchWriteItem. lambdad commits every
write before answering; moto keeps its items in a Python dict. moto is a peer: when it is not
installed (`pip install 'moto[server]'` into the venv) or does not start, its column says why.
Filling 100,000 items takes minutes (moto's the longer); `BENCH_DYNAMODB_ITEMS=10000` makes it shorter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from benchmarks import procs, signing
from benchmarks.context import Context
from benchmarks.httpclient import HttpError, RawClient, round_trips
from benchmarks.scenarios import scenario
from benchmarks.server import ACCESS_KEY, REGION, SECRET_KEY
from benchmarks.stats import percentile

ITEMS = 100_000
PER_PARTITION = 100  # items of a partition: a Query of one returns 25 of them (Limit)
CONNECTIONS = 8


class _Moto:
    """moto_server on a free port, in its own process."""

    def __init__(self) -> None:
        beside = Path(sys.executable).parent / "moto_server"  # this venv's first
        exe = str(beside) if beside.exists() else shutil.which("moto_server") or ""
        if not exe:
            raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
        self.port = procs.free_port()
        self.proc = subprocess.Popen([exe, "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        if not procs.wait_until(lambda: procs.port_open(self.port) or self.proc.poll() is not None, 30):
            self.close()
            raise RuntimeError("moto_server did not start")
        if self.proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {self.proc.returncode}")

    def close(self) -> None:
        procs.stop_process(self.proc)


def _client(port: int) -> Any:
    return boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=BotoConfig(retries={"max_attempts": 3}, max_pool_connections=8))


def _fill(port: int, items: int) -> None:
    client = _client(port)
    client.create_table(TableName="bench", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                      {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "N"}],
                        BillingMode="PAY_PER_REQUEST")

    def batch(start: int) -> None:
        writes = [{"PutRequest": {"Item": {"pk": {"S": f"p{i % max(1, items // PER_PARTITION)}"}, "sk": {"N": str(i)},
                                           "v": {"S": "x" * 100}}}} for i in range(start, min(start + 25, items))]
        left: dict[str, Any] = {"bench": writes}
        while left:
            left = client.batch_write_item(RequestItems=left).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, items, 25)))


def _request(port: int, target: str, body: dict[str, Any]) -> signing.SignedRequest:
    return signing.sign("POST", "127.0.0.1", port, "/", json.dumps(body).encode(), access_key=ACCESS_KEY,
                        secret_key=SECRET_KEY, region=REGION, service="dynamodb",
                        headers={"X-Amz-Target": f"DynamoDB_20120810.{target}",
                                 "Content-Type": "application/x-amz-json-1.0"})


def _measure(ctx: Context, port: int, items: int) -> dict[str, float]:
    _fill(port, items)
    put = _request(port, "PutItem", {"TableName": "bench", "Item": {"pk": {"S": "hot"}, "sk": {"N": "1"},
                                                                     "v": {"S": "x" * 100}}})
    get = _request(port, "GetItem", {"TableName": "bench", "Key": {"pk": {"S": "p7"}, "sk": {"N": "7"}}})
    query = _request(port, "Query", {"TableName": "bench", "KeyConditionExpression": "pk = :p", "Limit": 25,
                                     "ExpressionAttributeValues": {":p": {"S": "p0"}}})
    out: dict[str, float] = {}
    for name, request in (("put", put), ("get", get)):
        result = ctx.loadgen.run(port, request, CONNECTIONS, ctx.options.load_seconds)
        out[f"{name}_per_s"] = result.rps
        out[f"{name}_failed"] = result.failed
    count = max(50, ctx.options.warm_requests // 10)
    with RawClient("127.0.0.1", port) as sock:
        first = sock.request(query.raw())
        if first.status != 200 or (b'"Count": 25' not in first.body and b'"Count":25' not in first.body):
            raise HttpError(f"Query answered {first.status}: {first.body[:300]!r}")
        round_trips(sock, query.raw(), 20)
        samples = round_trips(sock, query.raw(), count)
    out["query_p50_ms"] = percentile(samples, 50)
    out["query_p99_ms"] = percentile(samples, 99)
    return out


@scenario("dynamodb", "DynamoDB PutItem/GetItem per second (8 connections), Query p50 on a 100,000-item table; "
                      "beside moto_server", quick=False)
def dynamodb(ctx: Context) -> None:
    # BENCH_DYNAMODB_ITEMS: a smaller table on a busy host (the fill is most of the scenario's time).
    items = 2_000 if ctx.options.quick else int(os.environ.get("BENCH_DYNAMODB_ITEMS") or ITEMS)
    with ctx.own_server() as srv:
        ours = _measure(ctx, srv.port, items)
    theirs: dict[str, float] = {}
    why = ""
    if ctx.options.peers:
        try:
            moto = _Moto()
        except RuntimeError as exc:
            why = str(exc)
        else:
            try:
                theirs = _measure(ctx, moto.port, items)
            except Exception as exc:  # a peer's failure is a note, not the scenario's
                why = f"moto_server failed: {exc}"
            finally:
                moto.close()
    else:
        why = "peers not run (--no-peers)"
    label = "moto_server (in memory)"
    ctx.record(items=items, lambdad=ours, moto=theirs, moto_note=why)
    for key, figure, unit in (("put_per_s", f"DynamoDB PutItem, {CONNECTIONS} connections", "req/s"),
                              ("get_per_s", f"DynamoDB GetItem, {CONNECTIONS} connections", "req/s"),
                              ("query_p50_ms", f"DynamoDB Query p50 (25 of {items:,} items)", "ms")):
        ctx.add(figure, unit, ours[key], baseline=theirs.get(key), baseline_label=label, note=why)
