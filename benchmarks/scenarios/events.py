"""EventBridge: event-pattern matches per second at 1, 100 and 1,000 rules (the engine in process,
indexed, beside scanning every pattern), and PutEvents-to-Lambda latency end to end (beside an
Invoke(Event) through the same async path)."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.context import Context
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import echo_function
from benchmarks.stats import percentile


def _engine() -> Any:
    src = Path(__file__).resolve().parents[2] / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    import lambdad.event_patterns as engine

    return engine


def _rules(count: int) -> list[dict[str, Any]]:
    """Rules as applications write them: a source, a detail-type, a condition on the detail."""
    return [{"source": [f"app.service{i}"], "detail-type": ["Order Placed", "Order Updated"],
             "detail": {"amount": [{"numeric": [">", i % 50]}], "currency": ["EUR", "USD"]}} for i in range(count)]


def _events(rules: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(15)
    return [{"version": "0", "id": str(n), "detail-type": "Order Placed",
             "source": f"app.service{rng.randrange(rules)}", "account": "000000000000",
             "time": "2026-12-07T15:00:00Z", "region": "us-east-1", "resources": [],
             "detail": {"amount": rng.randrange(100), "currency": rng.choice(["EUR", "USD", "GBP"]),
                        "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}} for n in range(count)]


@scenario("events", "EventBridge: pattern matches/s at 1/100/1,000 rules; PutEvents -> Lambda end-to-end p50")
def events(ctx: Context) -> None:
    engine = _engine()
    samples = 2000 if ctx.options.quick else 20000
    for count in (1, 100, 1000):
        patterns = [engine.compile_pattern(json.dumps(rule)) for rule in _rules(count)]
        index = engine.PatternIndex()
        for i, pattern in enumerate(patterns):
            index.add(i, pattern)
        stream = _events(count, samples)
        scan_samples = max(50, samples // max(1, count // 10)) if count > 1 else samples
        indexed = scanned = 0.0
        matched = scanned_matches = 0
        for _ in range(3):  # best of three, the two measured in turn: a busy machine's bursts hit both alike
            started = time.perf_counter()
            matched = sum(len(index.matching(event)) for event in stream)
            indexed = max(indexed, samples / (time.perf_counter() - started))
            started = time.perf_counter()
            scanned_matches = sum(sum(1 for p in patterns if p.matches(event)) for event in stream[:scan_samples])
            scanned = max(scanned, scan_samples / (time.perf_counter() - started))
        ctx.record(**{f"rules_{count}": {"events": samples, "matched": matched, "scan_events": scan_samples,
                                         "scan_matched": scanned_matches}})
        ctx.add(f"event-pattern matches, {count} rule{'s' if count > 1 else ''} (indexed)", "events/s", indexed,
                baseline=scanned, baseline_label=f"scanning all {count} patterns")

    # End to end: PutEvents -> rule -> Lambda target (async queue) -> function -> OnSuccess record in SQS.
    srv = ctx.server()
    name = echo_function(ctx, srv)
    lam, sqs, eb = srv.client(), srv.client("sqs"), srv.client("events")
    url = sqs.create_queue(QueueName=f"bench-events-{int(time.time())}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    rule = f"bench-{int(time.time())}"
    rule_arn = eb.put_rule(Name=rule, EventPattern=json.dumps({"source": ["bench.events"]}))["RuleArn"]
    lam.add_permission(FunctionName=name, StatementId=rule, Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)
    eb.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": fn_arn}])
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": queue_arn}})
    rounds = 10 if ctx.options.quick else 50

    def measure(send: Any) -> list[float]:
        out: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            send()
            messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
            if messages:
                out.append((time.perf_counter() - started) * 1000)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return out

    entry = {"Source": "bench.events", "DetailType": "bench", "Detail": json.dumps({"payload": "x" * 512})}
    measure(lambda: eb.put_events(Entries=[entry]))  # warm: the environment and the rule's first delivery
    via_events = measure(lambda: eb.put_events(Entries=[entry]))
    direct = measure(lambda: lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"payload": "x"}'))
    lam.delete_function_event_invoke_config(FunctionName=name)
    eb.remove_targets(Rule=rule, Ids=["fn"])
    eb.delete_rule(Name=rule)
    ctx.record(put_events_ms=via_events, invoke_event_ms=direct,
               method="boto3 PutEvents (or Invoke Event), then an SQS long poll for the function's OnSuccess record")
    ctx.add("PutEvents -> Lambda end-to-end p50 (to OnSuccess in SQS)", "ms",
            percentile(via_events, 50) if via_events else None,
            baseline=percentile(direct, 50) if direct else None, baseline_label="Invoke(Event) -> OnSuccess p50")
