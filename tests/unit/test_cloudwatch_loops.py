"""CloudWatch's background loops on the injected clock: alarm evaluation (EvaluationPeriods,
DatapointsToAlarm, TreatMissingData, actions published once per transition), the AWS/SQS sampler,
Lambda's metric accumulator flushed in batches, and retention."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lambdad.clock import FakeClock
from lambdad.config import resolve
from lambdad.invoke.metrics import LambdaMetrics
from lambdad.services.cloudwatch.alarms import Alarms
from lambdad.services.cloudwatch.metrics import MetricKey, Metrics, datum_of
from lambdad.services.cloudwatch.sampling import QueueDepths
from lambdad.services.sqs.queues import SqsService
from lambdad.store import SqliteStore

ACCOUNT, REGION = "111111111111", "us-east-1"
START = 1_700_000_000.0 // 60 * 60  # on a minute boundary


def put(metrics: Metrics, name: str, value: float) -> None:
    metrics.write(metrics.parse_put(ACCOUNT, REGION, "App", [{"MetricName": name, "Value": value}]))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def stop(task: asyncio.Future[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_alarm_needs_m_of_n_and_treats_missing_data(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(START)
        metrics = Metrics(SqliteStore(tmp_path / "db"), clock=clock)
        sent: list[tuple[str, str, dict[str, Any]]] = []

        async def publish(topic: str, subject: str, message: str) -> None:
            sent.append((topic, subject, json.loads(message)))

        alarms = Alarms(metrics.store, metrics, publish, clock=clock)
        topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:t"
        base = {"Namespace": "App", "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 3,
                "DatapointsToAlarm": 2, "Threshold": 5.0, "ComparisonOperator": "GreaterThanThreshold",
                "AlarmActions": [topic], "OKActions": [topic]}
        alarms.put(ACCOUNT, REGION, {**base, "AlarmName": "missing", "MetricName": "m"})
        alarms.put(ACCOUNT, REGION, {**base, "AlarmName": "breaching", "MetricName": "m2",
                                     "TreatMissingData": "breaching"})
        alarms.put(ACCOUNT, REGION, {**base, "AlarmName": "ignore", "MetricName": "m3",
                                     "TreatMissingData": "ignore"})
        loop = asyncio.ensure_future(alarms.run_evaluation())
        try:
            await clock.advance(1)
            state = lambda name: alarms.get(ACCOUNT, REGION, name).doc["StateValue"]  # noqa: E731
            assert state("missing") == "INSUFFICIENT_DATA"  # nothing to judge
            assert state("breaching") == "ALARM"  # three missing periods, each breaching
            assert state("ignore") == "INSUFFICIENT_DATA"  # stays as it was
            put(metrics, "m", 9)
            await clock.advance(1)
            assert state("missing") == "OK"  # one breaching datapoint of the one there: below 2
            await clock.advance(60)
            put(metrics, "m", 7)
            await clock.advance(1)
            assert state("missing") == "ALARM"
            reason = alarms.get(ACCOUNT, REGION, "missing").doc["StateReason"]
            assert reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints [7.0 (") and "9.0" in reason
            await clock.advance(180)  # the minutes age out of the window: 9 first (OK), then 7 too
            assert state("missing") == "INSUFFICIENT_DATA"
            transitions = [(s[1].split(":")[0], s[2]["OldStateValue"]) for s in sent if '"missing"' in s[1]]
            # INSUFFICIENT_DATA has no actions configured: nothing sent for it
            assert transitions == [("OK", "INSUFFICIENT_DATA"), ("ALARM", "OK"), ("OK", "ALARM")]
            assert all(s[0] == topic for s in sent)
            history = alarms.history(ACCOUNT, REGION, "missing", "StateUpdate", None, None, False)
            assert [h["HistorySummary"] for h in history][-1] == "Alarm updated from OK to INSUFFICIENT_DATA"
        finally:
            await stop(loop)

    run(scenario)


def test_queue_depths_are_sampled_every_minute(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(START)
        store = SqliteStore(tmp_path / "db")
        config = resolve({"account_id": ACCOUNT, "region": REGION, "data_dir": str(tmp_path)}, environ={})
        sqs = SqsService(store, config)
        queue = sqs.create_queue(ACCOUNT, REGION, "depth")
        for _ in range(3):
            await sqs.send_message(queue.arn, "x")
        metrics = Metrics(store, clock=clock)
        sampler = asyncio.ensure_future(QueueDepths(metrics, sqs.every_queue, sqs.counts, clock=clock).run_sampler())
        try:
            key = MetricKey(ACCOUNT, REGION, "AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", "depth"),))
            assert metrics.statistics(key, START - 60, START + 600, 60, ["Maximum"], [], None) == []
            await clock.advance(61)
            points = metrics.statistics(key, START - 60, START + 600, 60, ["Maximum"], [], None)
            assert [p["Maximum"] for p in points] == [3.0] and points[0]["Unit"] == "Count"
        finally:
            await stop(sampler)

    run(scenario)


def test_lambda_metrics_wait_in_memory_until_flushed(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(START)
        metrics = Metrics(SqliteStore(tmp_path / "db"), clock=clock)
        acc = LambdaMetrics(clock=clock, flush_interval=10)
        acc.sink = lambda samples: metrics.write(datum_of(s) for s in samples)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:live"
        for ms in (10.0, 20.0, 30.0, 40.0):
            acc.invoked(arn, "3", ms == 40.0, ms)
        rows = lambda: metrics.store.one("SELECT COUNT(*) AS n FROM cw_points")["n"]  # noqa: E731
        assert rows() == 0  # nothing written on the invoke path
        flusher = asyncio.ensure_future(acc.run_flusher())
        try:
            await clock.advance(10.5)
            assert rows() > 0
            key = MetricKey(ACCOUNT, REGION, "AWS/Lambda", "Duration",
                            (("ExecutedVersion", "3"), ("FunctionName", "f"), ("Resource", "f:live")))
            point = metrics.statistics(key, START, START + 60, 60, ["SampleCount", "Maximum"], ["p50"], None)[0]
            assert (point["SampleCount"], point["Maximum"], point["ExtendedStatistics"]) == (4.0, 40.0, {"p50": 20.0})
            errors = MetricKey(ACCOUNT, REGION, "AWS/Lambda", "Errors", ())
            assert metrics.statistics(errors, START, START + 60, 60, ["Sum"], [], None)[0]["Sum"] == 1.0
            acc.provisioned_utilization(arn, 1, 4)
            acc.provisioned_utilization(arn, 3, 4)
            acc.flush()
            used = MetricKey(ACCOUNT, REGION, "AWS/Lambda", "ProvisionedConcurrencyUtilization",
                             (("FunctionName", "f"), ("Resource", "f:live")))
            assert metrics.statistics(used, START, START + 60, 60, ["Maximum"], [], None)[0]["Maximum"] == 0.75
        finally:
            await stop(flusher)

    run(scenario)


def test_retention_drops_old_rows(tmp_path: Path) -> None:
    clock = FakeClock(START)
    metrics = Metrics(SqliteStore(tmp_path / "db"), clock=clock)
    metrics.write(metrics.parse_put(ACCOUNT, REGION, "App", [{"MetricName": "hr", "Value": 1,
                                                              "StorageResolution": 1}]))
    clock._now += 4 * 3600  # past the three hours per-second data is kept
    assert metrics.sweep() == 1  # the per-second row; the minute row stays
    clock._now += 16 * 86400
    assert metrics.sweep() == 1
