"""EventBridge Scheduler against a real server: schedule groups, schedules (at, rate, cron with a
timezone), errors, an at() schedule that fires once and deletes itself, a Lambda target through its
execution role, and another account that cannot see them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, ROLE, Server, api_error, unique
from tests.services.test_events import bodies, other_account, queue, receive, recorder


@pytest.fixture(scope="session")
def scheduler(server: Server) -> Any:
    return server.client("scheduler")


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def test_groups(scheduler: Any) -> None:
    name = unique("grp")
    arn = scheduler.create_schedule_group(Name=name, Tags=[{"Key": "k", "Value": "v"}])["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}"
    got = scheduler.get_schedule_group(Name=name)
    assert (got["Name"], got["State"], got["Arn"]) == (name, "ACTIVE", arn)
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    names = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
    assert "default" in names and name in names
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule_group(Name=name)
    assert api_error(exc) == (409, "ConflictException", f"Schedule group {name} already exists.")
    scheduler.delete_schedule_group(Name=name)
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule_group(Name=name)
    assert api_error(exc)[:2] == (404, "ResourceNotFoundException")


def test_schedule_crud_and_errors(scheduler: Any, sqs: Any) -> None:
    _, queue_arn = queue(sqs)
    name = unique("sch")
    target = {"Arn": queue_arn, "RoleArn": ROLE, "Input": '{"hello": 1}',
              "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}}
    arn = scheduler.create_schedule(Name=name, ScheduleExpression="cron(0 9 ? * MON-FRI *)",
                                    ScheduleExpressionTimezone="Europe/Paris", FlexibleTimeWindow={"Mode": "OFF"},
                                    Target=target)["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    got = scheduler.get_schedule(Name=name)
    assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"], got["State"], got["GroupName"]) == (
        "cron(0 9 ? * MON-FRI *)", "Europe/Paris", "ENABLED", "default")
    assert got["Target"]["Input"] == '{"hello": 1}' and got["ActionAfterCompletion"] == "NONE"
    scheduler.update_schedule(Name=name, ScheduleExpression="rate(5 minutes)", State="DISABLED",
                              FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5}, Target=target)
    assert scheduler.get_schedule(Name=name)["State"] == "DISABLED"
    listed = scheduler.list_schedules(NamePrefix=name)["Schedules"]
    assert [(s["Name"], s["State"], s["Target"]["Arn"]) for s in listed] == [(name, "DISABLED", queue_arn)]
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name=name, ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow={"Mode": "OFF"},
                                  Target=target)
    assert api_error(exc) == (409, "ConflictException", f"Schedule {name} already exists.")
    for expression in ("rate(5 minute)", "at(2026-13-01T00:00:00)", "cron(0 9 * * * *)", "whenever"):
        with pytest.raises(ClientError) as exc:
            scheduler.create_schedule(Name=unique("bad"), ScheduleExpression=expression,
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
        assert api_error(exc) == (400, "ValidationException", f"Invalid Schedule Expression {expression}.")
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name=unique("bad"), ScheduleExpression="rate(5 minutes)",
                                  ScheduleExpressionTimezone="Mars/Olympus", FlexibleTimeWindow={"Mode": "OFF"},
                                  Target=target)
    assert api_error(exc) == (400, "ValidationException", "Invalid timezone Mars/Olympus.")
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name=unique("bad"), ScheduleExpression="rate(5 minutes)",
                                  FlexibleTimeWindow={"Mode": "FLEXIBLE"}, Target=target)
    assert api_error(exc)[:2] == (400, "ValidationException")
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(Name=unique("bad"), ScheduleExpression="rate(5 minutes)",
                                  GroupName=unique("nogroup"), FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert api_error(exc)[:2] == (404, "ResourceNotFoundException")
    scheduler.delete_schedule(Name=name)
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name=name)
    assert api_error(exc) == (404, "ResourceNotFoundException", f"Schedule {name} does not exist.")


def test_at_schedule_fires_once_and_deletes_itself(scheduler: Any, sqs: Any) -> None:
    url, queue_arn = queue(sqs)
    name = unique("once")
    scheduler.create_schedule(Name=name, ScheduleExpression=f"at({soon(2)})", FlexibleTimeWindow={"Mode": "OFF"},
                              ActionAfterCompletion="DELETE",
                              Target={"Arn": queue_arn, "RoleArn": ROLE, "Input": '{"once": true}'})
    assert bodies(sqs, url, 1, wait=15) == [{"once": True}]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            scheduler.get_schedule(Name=name)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
            break
        time.sleep(0.1)
    else:
        pytest.fail("the schedule was not deleted after it completed")
    assert bodies(sqs, url, 1, wait=2) == []  # fired once


def test_schedule_invokes_a_function_through_its_role(scheduler: Any, sqs: Any, lam: Any) -> None:
    _, fn_arn, url = recorder(lam, sqs)
    name = unique("fn")
    scheduler.create_schedule(Name=name, ScheduleExpression=f"at({soon(1)})", FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": fn_arn, "RoleArn": ROLE, "Input": json.dumps({"from": "scheduler"})})
    assert bodies(sqs, url, 1, wait=30) == [{"from": "scheduler"}]
    assert scheduler.get_schedule(Name=name)["ActionAfterCompletion"] == "NONE"  # kept: NONE


def test_schedule_to_an_event_bus(scheduler: Any, sqs: Any, server: Server) -> None:
    events = server.client("events")
    source = unique("sched")
    name = unique("rule")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    url, queue_arn = queue(sqs)
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": queue_arn}])
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    schedule_arn = scheduler.create_schedule(
        Name=unique("bus"), ScheduleExpression=f"at({soon(1)})", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": bus, "RoleArn": ROLE, "Input": '{"k": "v"}',
                "EventBridgeParameters": {"DetailType": "Tick", "Source": source}})["ScheduleArn"]
    got = bodies(sqs, url, 1, wait=15)
    assert (got[0]["source"], got[0]["detail-type"], got[0]["detail"], got[0]["resources"]) == (
        source, "Tick", {"k": "v"}, [schedule_arn])


def test_another_account_sees_no_schedules(scheduler: Any, server: Server, sqs: Any) -> None:
    _, queue_arn = queue(sqs)
    name = unique("mine")
    scheduler.create_schedule(Name=name, ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": queue_arn, "RoleArn": ROLE})
    _, keys = other_account(server)
    theirs = server.client("scheduler", **keys)
    assert [s for s in theirs.list_schedules()["Schedules"] if s["Name"] == name] == []
    with pytest.raises(ClientError) as exc:
        theirs.get_schedule(Name=name)
    assert api_error(exc)[:2] == (404, "ResourceNotFoundException")
    scheduler.delete_schedule(Name=name)



def test_the_execution_role_must_allow_the_target(scheduler: Any, sqs: Any, server: Server) -> None:
    iam = server.client("iam")
    role_name = unique("weak")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    weak = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    url, queue_arn = queue(sqs)
    dlq_url, dlq_arn = queue(sqs)
    scheduler.create_schedule(Name=unique("weak"), ScheduleExpression=f"at({soon(1)})",
                              FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": queue_arn, "RoleArn": weak, "Input": '{"denied": true}',
                                      "DeadLetterConfig": {"Arn": dlq_arn}})
    dead = receive(sqs, dlq_url, 1, wait=15, attributes=True)
    assert dead and dead[0]["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
    assert bodies(sqs, url, 1, wait=1) == []
    iam.put_role_policy(RoleName=role_name, PolicyName="send", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage",
                                                "Resource": queue_arn}]}))
    scheduler.create_schedule(Name=unique("ok"), ScheduleExpression=f"at({soon(1)})",
                              FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": queue_arn, "RoleArn": weak, "Input": '{"allowed": true}'})
    assert bodies(sqs, url, 1, wait=15) == [{"allowed": True}]
