"""Event source mappings with SQS: messages per second from SendMessageBatch to processed (batch 10
and batch 100), and the latency from SendMessage to the handler's start at an empty queue.

Baselines from the same run, on the same server and queue kind: a client's own consumer (boto3
ReceiveMessage(10) + DeleteMessageBatch, the loop a user would write) draining the same number of
messages sent the same way, and for latency a boto3 long poll already waiting when the message is sent.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from benchmarks.context import Context
from benchmarks.scenarios import scenario
from benchmarks.server import ROLE, LambdadServer
from benchmarks.stats import percentile, summary

NOOP = "def handler(event, context):\n    return None\n"
# The handler's first act: send its start time (and the message's send time) to the results queue.
STAMP = '''
import json, os, time
import boto3
sqs = boto3.client("sqs")
def handler(event, context):
    started = time.time()
    for record in event["Records"]:
        sqs.send_message(QueueUrl=os.environ["RESULTS"],
                         MessageBody=json.dumps({"sent": float(record["body"]), "started": started}))
'''


def _queue(srv: LambdadServer, name: str, **attributes: str) -> tuple[str, str]:
    sqs = srv.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _send(sqs: Any, url: str, count: int) -> None:
    for b in range(count // 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{b}-{i}"} for i in range(10)])


def _processed(srv: LambdadServer, uuid: str) -> int:
    return int(srv.health()["event_source_mappings"]["by_mapping"].get(uuid, {}).get("processed", 0))


def _mapping_rate(srv: LambdadServer, function: str, count: int, batch: int, tag: str) -> float:
    lam, sqs = srv.client(), srv.client("sqs")
    url, arn = _queue(srv, f"bench-esm-{tag}-{int(time.time() * 1000)}")
    extra: dict[str, Any] = {"MaximumBatchingWindowInSeconds": 1} if batch > 10 else {}
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, BatchSize=batch,
                                           **extra)["UUID"]
    deadline = time.monotonic() + 10
    while lam.get_event_source_mapping(UUID=uuid)["State"] != "Enabled" and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.perf_counter()
    _send(sqs, url, count)
    deadline = time.monotonic() + 300
    while _processed(srv, uuid) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    done = _processed(srv, uuid)
    lam.delete_event_source_mapping(UUID=uuid)
    return done / elapsed


def _client_rate(srv: LambdadServer, count: int) -> float:
    sqs = srv.client("sqs")
    url, _ = _queue(srv, f"bench-client-{int(time.time() * 1000)}")
    started = time.perf_counter()
    _send(sqs, url, count)
    got = 0
    while got < count:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not msgs:
            break
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                       for i, m in enumerate(msgs)])
        got += len(msgs)
    return got / (time.perf_counter() - started)


@scenario("event-sources", "SQS event source mappings: messages/s sent to processed, send-to-handler latency",
          quick=False)
def event_sources(ctx: Context) -> None:
    srv = ctx.server()
    lam, sqs, iam = srv.client(), srv.client("sqs"), srv.client("iam")
    iam.put_role_policy(RoleName=ROLE.rsplit("/", 1)[1], PolicyName="bench-event-sources", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]}]}))
    count = 300 if ctx.options.quick else 3000
    noop = ctx.memo(f"esm-noop-{srv.port}", lambda: srv.create_function("bench-esm-noop", {"app.py": NOOP}))
    lam.invoke(FunctionName=noop)  # warm
    baseline = _client_rate(srv, count)
    rate10 = _mapping_rate(srv, noop, count, 10, "b10")
    rate100 = _mapping_rate(srv, noop, count, 100, "b100")

    # Latency at an empty queue: the mapping's poller is waiting in SQS's long poll, woken by the send.
    results_url, _ = _queue(srv, f"bench-esm-results-{int(time.time() * 1000)}")
    stamp = ctx.memo(f"esm-stamp-{srv.port}", lambda: srv.create_function(
        "bench-esm-stamp", {"app.py": STAMP}, Environment={"Variables": {"RESULTS": results_url}}))
    url, arn = _queue(srv, f"bench-esm-latency-{int(time.time() * 1000)}")
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=stamp, BatchSize=1)["UUID"]
    samples = 10 if ctx.options.quick else 40
    latency_ms: list[float] = []
    for i in range(samples + 2):  # the first two warm the environment
        time.sleep(0.2)  # the queue is empty and the poller waiting
        sqs.send_message(QueueUrl=url, MessageBody=repr(time.time()))
        got = sqs.receive_message(QueueUrl=results_url, WaitTimeSeconds=20).get("Messages", [])
        if got:
            sqs.delete_message(QueueUrl=results_url, ReceiptHandle=got[0]["ReceiptHandle"])
            body = json.loads(got[0]["Body"])
            if i >= 2:
                latency_ms.append((body["started"] - body["sent"]) * 1000)
    lam.delete_event_source_mapping(UUID=uuid)

    # Baseline: a client's long poll already waiting when the message is sent.
    poll_url, _ = _queue(srv, f"bench-esm-poll-{int(time.time() * 1000)}")
    poll_ms: list[float] = []
    for _ in range(samples):
        received: list[float] = []

        def wait(into: list[float]) -> None:
            if sqs.receive_message(QueueUrl=poll_url, WaitTimeSeconds=20).get("Messages"):
                into.append(time.time())
        waiter = threading.Thread(target=wait, args=(received,))
        waiter.start()
        time.sleep(0.2)
        sent = time.time()
        sqs.send_message(QueueUrl=poll_url, MessageBody="x")
        waiter.join()
        if received:
            poll_ms.append((received[0] - sent) * 1000)
        for m in sqs.receive_message(QueueUrl=poll_url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=poll_url, ReceiptHandle=m["ReceiptHandle"])

    ctx.record(messages=count, latency_ms=summary(latency_ms), client_poll_ms=summary(poll_ms),
               method="rates: the time from the first SendMessageBatch (10 per call, one client) until the "
                      "mapping's processed count on /_lambdad/health reaches the count; latency: the handler's "
                      "time.time() at start minus the sender's just before SendMessage, same host")
    ctx.add("SQS mapping, batch 10: sent to processed", "msgs/s", rate10, baseline=baseline,
            baseline_label="boto3 Receive(10)+DeleteMessageBatch loop, same messages")
    ctx.add("SQS mapping, batch 100 (window 1 s): sent to processed", "msgs/s", rate100, baseline=baseline,
            baseline_label="boto3 Receive(10)+DeleteMessageBatch loop, same messages")
    ctx.add("SQS mapping: SendMessage to handler start, empty queue, p50", "ms",
            percentile(latency_ms, 50) if latency_ms else None,
            baseline=percentile(poll_ms, 50) if poll_ms else None,
            baseline_label="SendMessage to a waiting boto3 long poll's answer, p50")
