"""Scheduled rules and EventBridge retries on the injected clock: rate and AWS cron expressions
(validation, next firings), `Scheduled Event`s fired on time, no replay after a restart, and the
retry back-off into a dead-letter queue, all in fake time."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lambdad.clock import FakeClock
from lambdad.errors import EventsError, SnsError
from lambdad.services.events.buses import EventBridge
from lambdad.services.events.delivery import Deliverer
from lambdad.services.events.schedules import parse_schedule
from lambdad.store import SqliteStore

ACCOUNT, REGION = "000000000000", "us-east-1"
START = datetime(2026, 12, 7, 15, 0, 30, tzinfo=UTC).timestamp()  # a Monday


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def nexts(expression: str, count: int, start: float = START) -> list[str]:
    schedule = parse_schedule(expression)
    out: list[str] = []
    t: float | None = start
    anchor = start
    for _ in range(count):
        assert t is not None
        t = schedule.next_after(t, anchor)
        if t is None:
            break
        out.append(datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M %a"))
    return out


@pytest.mark.parametrize(("expression", "expected"), [
    ("rate(1 minute)", ["2026-12-07 15:01 Mon", "2026-12-07 15:02 Mon"]),
    ("rate(2 hours)", ["2026-12-07 17:00 Mon", "2026-12-07 19:00 Mon"]),
    ("rate(1 day)", ["2026-12-08 15:00 Tue", "2026-12-09 15:00 Wed"]),
    ("cron(0 10 * * ? *)", ["2026-12-08 10:00 Tue", "2026-12-09 10:00 Wed"]),
    ("cron(15 10 ? * 6L 2027)", ["2027-01-29 10:15 Fri", "2027-02-26 10:15 Fri"]),  # last Friday, 2027 only
    ("cron(0/15 * ? * MON-FRI *)", ["2026-12-07 15:15 Mon", "2026-12-07 15:30 Mon"]),
    ("cron(0 8 1 * ? *)", ["2027-01-01 08:00 Fri", "2027-02-01 08:00 Mon"]),
    ("cron(0 12 LW * ? *)", ["2026-12-31 12:00 Thu", "2027-01-29 12:00 Fri"]),  # last weekday of the month
    ("cron(0 12 15W * ? *)", ["2026-12-15 12:00 Tue", "2027-01-15 12:00 Fri"]),
    ("cron(0 12 ? * 2#1 *)", ["2027-01-04 12:00 Mon", "2027-02-01 12:00 Mon"]),  # first Monday (1 = SUN)
    ("cron(0 12 L * ? *)", ["2026-12-31 12:00 Thu", "2027-01-31 12:00 Sun"]),
    ("cron(0 9 ? * 1 *)", ["2026-12-13 09:00 Sun", "2026-12-20 09:00 Sun"]),  # day-of-week 1 is Sunday
    ("cron(0 9 ? * 7 *)", ["2026-12-12 09:00 Sat", "2026-12-19 09:00 Sat"]),
    ("cron(0 9 ? * SUN,SAT *)", ["2026-12-12 09:00 Sat", "2026-12-13 09:00 Sun"]),
    ("cron(30 9 1-2 JAN,FEB ? 2028-2029)", ["2028-01-01 09:30 Sat", "2028-01-02 09:30 Sun"]),
    ("cron(0 0 1 1 ? 2020)", []),  # only in the past: never
])
def test_next_firings(expression: str, expected: list[str]) -> None:
    assert nexts(expression, 2) == expected


@pytest.mark.parametrize("expression", [
    "rate(1 minutes)", "rate(2 minute)", "rate(0 minutes)", "rate(-1 minutes)", "rate(5 weeks)", "rate(5minutes)",
    "rate( 5 minutes)", "cron(0 10 * * * *)", "cron(0 10 ? * ? *)", "cron(60 10 * * ? *)", "cron(0 24 * * ? *)",
    "cron(0 10 * * ?)", "cron(0 10 32 * ? *)", "cron(0 10 ? * 8 *)", "cron(0 10 ? * MON#6 *)",
    "cron(0 10 ? 13 MON *)", "cron(0 10 ? * MON 1969)", "cron(0/0 10 * * ? *)", "cron(5-1 10 * * ? *)",
    "cron(0 10 * * ? * *)", "cron()", "cron 0 10 * * ? *", "every day", "", "cron(0 10 ,1 * ? *)",
])
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(EventsError) as info:
        parse_schedule(expression)
    assert (info.value.code, info.value.message) == ("ValidationException",
                                                     "Parameter ScheduleExpression is not valid.")


# -- scheduled rules firing on the fake clock --------------------------------------------------------

def pending(store: SqliteStore) -> list[dict[str, Any]]:
    return [json.loads(r["event"]) for r in store.all("SELECT event FROM events_deliveries ORDER BY received")]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_scheduled_rule_fires_scheduled_events_on_time(tmp_path: Path) -> None:
    async def body() -> None:
        clock = FakeClock(START)
        store = SqliteStore(tmp_path / "db")
        eb = EventBridge(store, clock=clock)
        bus = eb.get_bus(ACCOUNT, REGION, None)
        rule = eb.put_rule(bus, "every5", pattern=None, schedule="rate(5 minutes)", state=None, description=None,
                           role_arn=None, tags={})
        eb.put_targets(rule, [{"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}])
        task = asyncio.create_task(eb.run_schedules())
        try:
            await clock.advance(29)  # 15:00:59: not yet (the grid starts at the first whole minute)
            assert pending(store) == []
            await clock.advance(1)  # 15:01
            fired = pending(store)
            assert len(fired) == 1
            event = fired[0]
            assert (event["detail-type"], event["source"], event["resources"], event["detail"]) == (
                "Scheduled Event", "aws.events", [rule.arn], {})
            assert event["time"] == "2026-12-07T15:01:00Z"
            await clock.advance(20 * 60)  # 15:21: firings at 15:06, 15:11, 15:16, 15:21
            assert [e["time"][11:16] for e in pending(store)] == ["15:01", "15:06", "15:11", "15:16", "15:21"]
            eb.set_state(rule, "DISABLED")
            await clock.advance(15 * 60)
            assert len(pending(store)) == 5
            eb.set_state(rule, "ENABLED")
            await clock.advance(5 * 60)
            assert len(pending(store)) == 6
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    run(body)


def test_missed_firings_are_not_replayed_after_a_restart(tmp_path: Path) -> None:
    async def body() -> None:
        clock = FakeClock(START)
        store = SqliteStore(tmp_path / "db")
        eb = EventBridge(store, clock=clock)
        rule = eb.put_rule(eb.get_bus(ACCOUNT, REGION, None), "hourly", pattern=None,
                           schedule="cron(0 * * * ? *)", state=None, description=None, role_arn=None, tags={})
        eb.put_targets(rule, [{"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}])
        store.close()
        # Down for five hours: 16:00 ... 20:00 pass unseen.
        clock = FakeClock(START + 5 * 3600)
        store = SqliteStore(tmp_path / "db")
        eb = EventBridge(store, clock=clock)
        task = asyncio.create_task(eb.run_schedules())
        try:
            await clock.advance(1)
            assert pending(store) == []
            await clock.advance(3600)  # 21:00 fires, once
            assert [e["time"] for e in pending(store)] == ["2026-12-07T21:00:00Z"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    run(body)


def test_pattern_rule_and_scheduled_rule_do_not_mix(tmp_path: Path) -> None:
    eb = EventBridge(SqliteStore(tmp_path / "db"), clock=FakeClock(START))
    bus = eb.get_bus(ACCOUNT, REGION, None)
    rule = eb.put_rule(bus, "both", pattern='{"source": ["app"]}', schedule="rate(1 hour)", state=None,
                       description=None, role_arn=None, tags={})
    eb.put_targets(rule, [{"Id": "q", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}])
    results = eb.put_events(ACCOUNT, REGION, [{"Source": "app", "DetailType": "t", "Detail": "{}"}])
    assert "EventId" in results[0]
    assert len(pending(eb.store)) == 1  # a rule with both matches events and fires on schedule


# -- retries on the fake clock -----------------------------------------------------------------------

def test_retry_back_off_and_event_age_into_the_dead_letter_queue(tmp_path: Path) -> None:
    async def body() -> None:
        clock = FakeClock(START)
        store = SqliteStore(tmp_path / "db")
        eb = EventBridge(store, clock=clock)
        bus = eb.get_bus(ACCOUNT, REGION, None)
        rule = eb.put_rule(bus, "r", pattern='{"source": ["app"]}', schedule=None, state=None, description=None,
                           role_arn=None, tags={})
        topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:down"
        dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
        eb.put_targets(rule, [{"Id": "t", "Arn": topic, "DeadLetterConfig": {"Arn": dlq},
                               "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 3600}}])
        attempts: list[float] = []
        dead: list[dict[str, Any]] = []

        async def publish(arn: str, message: str) -> None:
            attempts.append(clock.time())
            raise SnsError("the topic is down", code="InternalError")

        async def send(arn: str, body: str, group: str | None, dedup: str | None,
                       attributes: dict[str, dict[str, str]] | None) -> None:
            dead.append({"arn": arn, "body": json.loads(body),
                         "attributes": {k: v["StringValue"] for k, v in (attributes or {}).items()}})

        async def invoke(arn: str, rule_arn: str, payload: bytes) -> None:
            raise AssertionError("no Lambda target here")

        deliverer = Deliverer(eb, invoke_function=invoke, send_to_queue=send, publish_to_topic=publish,
                              base_delay=1.0, clock=clock)
        task = asyncio.create_task(deliverer.run_delivery())
        try:
            eb.put_events(ACCOUNT, REGION, [{"Source": "app", "DetailType": "t", "Detail": '{"n": 1}'}])
            for _ in range(400):
                await clock.advance(30)
                if dead:
                    break
            gaps = [b - a for a, b in itertools.pairwise(attempts)]
            assert gaps[:3] == sorted(gaps[:3])  # exponential back-off, jittered
            assert all(gap <= 300 for gap in gaps)
            assert attempts[-1] - attempts[0] <= 3600
            assert len(dead) == 1
            assert dead[0]["arn"] == dlq and dead[0]["body"]["detail"] == {"n": 1}
            attributes = dead[0]["attributes"]
            assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeExhausted"
            assert attributes["ERROR_CODE"] == "SDK_CLIENT_ERROR"
            assert int(attributes["RETRY_ATTEMPTS"]) == len(attempts) - 1
            assert eb.pending_deliveries() == 0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    run(body)


# -- EventBridge Scheduler on the fake clock ---------------------------------------------------------

def scheduler_at(tmp_path: Path, clock: FakeClock) -> Any:
    from lambdad.services.scheduler.schedules import Scheduler

    store = SqliteStore(tmp_path / "db")
    return Scheduler(store, EventBridge(store, clock=clock), clock=clock)


TARGET = {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "Input": "{}"}


def test_scheduler_cron_in_a_timezone_within_start_and_end(tmp_path: Path) -> None:
    async def body() -> None:
        clock = FakeClock(START)  # 2026-12-07 15:00:30 UTC = 16:00:30 in Paris
        scheduler = scheduler_at(tmp_path, clock)
        group = scheduler.get_group(ACCOUNT, REGION, None)
        scheduler.put(group, "paris", {"ScheduleExpression": "cron(0 17 * * ? *)",
                                       "ScheduleExpressionTimezone": "Europe/Paris",
                                       "StartDate": at("2026-12-08T00:00:00"), "EndDate": at("2026-12-10T12:00:00"),
                                       "ActionAfterCompletion": "DELETE", "Target": TARGET}, create=True)
        task = asyncio.create_task(scheduler.run_schedules())
        try:
            await clock.advance(4 * 86400)
            times = [e["time"] for e in pending(scheduler.store)]
            assert times == ["2026-12-08T16:00:00Z", "2026-12-09T16:00:00Z"]  # 17:00 Paris, not on the 7th
            assert scheduler.schedules == {}  # past its EndDate: deleted (ActionAfterCompletion DELETE)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    run(body)


def test_scheduler_flexible_window_and_at_after_a_restart(tmp_path: Path) -> None:
    async def body() -> None:
        clock = FakeClock(START)
        scheduler = scheduler_at(tmp_path, clock)
        group = scheduler.get_group(ACCOUNT, REGION, None)
        scheduler.put(group, "flex", {"ScheduleExpression": "at(2026-12-07T16:00:00)",
                                      "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
                                      "Target": TARGET}, create=True)
        scheduler.put(group, "missed", {"ScheduleExpression": "at(2026-12-07T15:30:00)", "Target": TARGET},
                      create=True)
        scheduler.store.close()
        clock = FakeClock(START + 3 * 3600)  # down until 18:00: both came due meanwhile
        scheduler = scheduler_at(tmp_path, clock)
        task = asyncio.create_task(scheduler.run_schedules())
        try:
            await clock.advance(1)
            assert sorted(e["resources"][0].rsplit("/", 1)[1] for e in pending(scheduler.store)) == ["flex", "missed"]
            await clock.advance(86400)
            assert len(pending(scheduler.store)) == 2  # once each
            assert len(scheduler.schedules) == 2  # kept: ActionAfterCompletion NONE
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        (tmp_path / "other").mkdir()
        fresh = scheduler_at(tmp_path / "other", FakeClock(START))
        item = fresh.put(fresh.get_group(ACCOUNT, REGION, None), "flex", {
            "ScheduleExpression": "at(2026-12-07T16:00:00)",
            "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}, "Target": TARGET}, create=True)
        due = fresh.store.one("SELECT next_at FROM scheduler_fires WHERE id=?", (item.arn,))["next_at"]
        assert at("2026-12-07T16:00:00") <= due <= at("2026-12-07T16:10:00")
    run(body)


@pytest.mark.parametrize("expression", ["cron(0 0 31 2 ? *)", "cron(0 0 30 2 ? *)", "cron(0 0 31 4,6,9,11 ? *)"])
def test_dates_that_never_come_never_fire(expression: str) -> None:
    assert nexts(expression, 1) == []  # valid, as on AWS; croniter's "no such date" is "never"


def test_last_weekday_every_minute_is_found_quickly() -> None:
    assert nexts("cron(* * LW * ? *)", 2) == ["2026-12-31 00:00 Thu", "2026-12-31 00:01 Thu"]
