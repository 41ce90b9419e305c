"""Asynchronous invocation: events accepted per second (each a durable commit before the 202) and
end-to-end latency from the Invoke call to the OnSuccess record in an SQS queue."""

from __future__ import annotations

import time
from urllib.parse import quote

from benchmarks import signing
from benchmarks.context import Context
from benchmarks.httpclient import RawClient, round_trips
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import echo_function, payload
from benchmarks.server import ACCESS_KEY, REGION, SECRET_KEY
from benchmarks.stats import percentile, summary


@scenario("async", "async events accepted/s (durable) and end-to-end latency to an OnSuccess record")
def async_events(ctx: Context) -> None:
    srv = ctx.server()
    name = echo_function(ctx, srv)
    body = payload(1024)
    accepts = 200 if ctx.options.quick else 3000
    event = signing.sign("POST", "127.0.0.1", srv.port, f"/2015-03-31/functions/{quote(name, safe='')}/invocations",
                         body, access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
                         headers={"X-Amz-Invocation-Type": "Event"}).raw()
    sync = srv.sign_invoke(name, body).raw()
    with RawClient("127.0.0.1", srv.port) as lam:
        round_trips(lam, event, 50, expect_status=202)
        started = time.perf_counter()
        accept_ms = round_trips(lam, event, accepts, expect_status=202)
        accept_rate = accepts / (time.perf_counter() - started)
        sync_started = time.perf_counter()
        sync_ms = round_trips(lam, sync, accepts)
        sync_rate = accepts / (time.perf_counter() - sync_started)

    # End to end: Invoke(Event) -> dispatcher -> function -> OnSuccess record -> SQS -> a long poll.
    sqs, lam_client = srv.client("sqs"), srv.client()
    url = sqs.create_queue(QueueName=f"bench-async-{int(time.time())}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam_client.put_function_event_invoke_config(FunctionName=name,
                                                DestinationConfig={"OnSuccess": {"Destination": arn}})
    # Let the backlog of accepted events above drain (they ran before the destination existed).
    deadline = time.monotonic() + 60
    while srv.health().get("async", {}).get("pending", 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    e2e_ms: list[float] = []
    for _ in range(10 if ctx.options.quick else 50):
        started = time.perf_counter()
        lam_client.invoke(FunctionName=name, InvocationType="Event", Payload=body)
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
        if messages:
            e2e_ms.append((time.perf_counter() - started) * 1000)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    lam_client.delete_function_event_invoke_config(FunctionName=name)
    ctx.record(accept_ms=summary(accept_ms), sync_ms=summary(sync_ms), end_to_end_ms=summary(e2e_ms),
               method="accepts: one pre-signed Event request replayed on a keep-alive socket; end to end: boto3 "
                      "Invoke(Event) then an SQS long poll for the OnSuccess record")
    ctx.add("async events accepted (durable 202)", "/s", accept_rate, baseline=sync_rate,
            baseline_label="sync invokes/s, same client")
    ctx.add("async accept p50", "ms", percentile(accept_ms, 50), baseline=percentile(sync_ms, 50),
            baseline_label="sync invoke p50")
    ctx.add("async end-to-end p50 (Invoke -> OnSuccess in SQS)", "ms",
            percentile(e2e_ms, 50) if e2e_ms else None)
