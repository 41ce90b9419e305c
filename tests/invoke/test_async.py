"""Asynchronous invocation: acceptance, retries, destinations, event invoke configs (real server)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, Server, create_function, free_port, make_zip, server_env, unique, wait_until

RECORDER = """
import json

def handler(event, context):
    print("RECORD " + json.dumps(event))
    return {"ok": True}
"""

FAILING = """
def handler(event, context):
    print("ATTEMPT " + context.aws_request_id)
    raise RuntimeError("intentional failure")
"""


@pytest.fixture(scope="module")
def fast_retry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("async") / "data", free_port(),
                 server_env(LAMBDAD_ASYNC_RETRY_BASE_DELAY="0.2"))
    srv.start()
    yield srv
    srv.stop()


def log_lines(srv: Server, function_name: str, marker: str, want: int, timeout: float = 20.0) -> list[str]:
    logs = srv.client("logs")
    deadline = time.monotonic() + timeout
    found: list[str] = []
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}")["events"]
        except logs.exceptions.ResourceNotFoundException:  # as on AWS: no group until the first log line
            events = []
        found = [e["message"] for e in events if e["message"].startswith(marker)]
        if len(found) >= want:
            return found
        time.sleep(0.1)
    return found


def records(srv: Server, function_name: str, want: int = 1) -> list[dict[str, Any]]:
    return [json.loads(line[len("RECORD "):]) for line in log_lines(srv, function_name, "RECORD ", want)]


def test_event_invocation_is_accepted_and_runs(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    name = create_function(lam, RECORDER)
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 1}))
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    assert resp["ResponseMetadata"]["RequestId"]
    assert records(fast_retry_server, name) == [{"n": 1}]


def test_deprecated_invoke_async(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    name = create_function(lam, RECORDER)
    resp = lam.invoke_async(FunctionName=name, InvokeArgs=json.dumps({"old": "api"}))
    assert resp["Status"] == 202
    assert records(fast_retry_server, name) == [{"old": "api"}]


def test_async_payload_limit(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    name = create_function(lam, RECORDER)
    big = json.dumps({"x": "a" * (256 * 1024)})
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=big)
    assert err.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_retries_then_on_failure_destination(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    sink = create_function(lam, RECORDER, name=unique("sink"))
    name = create_function(lam, FAILING)
    sink_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{sink}"
    cfg = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                               DestinationConfig={"OnFailure": {"Destination": sink_arn}})
    assert cfg["FunctionArn"].endswith(f"function:{name}:$LATEST")
    assert cfg["MaximumRetryAttempts"] == 1
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"job": 7}))
    [record] = records(fast_retry_server, sink)
    assert record["version"] == "1.0"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(f"function:{name}:$LATEST")
    assert record["requestPayload"] == {"job": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "intentional failure"
    attempts = log_lines(fast_retry_server, name, "ATTEMPT ", 2)
    assert len(attempts) == 2, "one invocation plus exactly one retry"
    assert len(set(attempts)) == 1, "retries keep the request id"
    time.sleep(0.5)
    assert len(records(fast_retry_server, sink)) == 1, "exactly one failure record"


def test_on_success_destination_carries_request_and_response(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    sink = create_function(lam, RECORDER, name=unique("sink"))
    name = create_function(lam, "def handler(event, context):\n    return {'doubled': event['v'] * 2}\n")
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:lambda:us-east-1:{ACCOUNT}:"
                                                                           f"function:{sink}"}})
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"v": 21}))
    [record] = records(fast_retry_server, sink)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"v": 21}
    assert record["responsePayload"] == {"doubled": 42}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}


def test_event_invoke_config_lifecycle_and_errors(lam: Any) -> None:
    name = create_function(lam, RECORDER)
    with pytest.raises(ClientError) as err:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert err.value.response["Error"]["Message"] == (
        f"The function arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:$LATEST doesn't have an EventInvokeConfig")
    with pytest.raises(ClientError) as err:
        lam.put_function_event_invoke_config(FunctionName=name)
    assert err.value.response["Error"]["Message"] == (
        "You must specify at least one of error handling or destination setting.")
    with pytest.raises(ClientError) as err:
        lam.put_function_event_invoke_config(FunctionName=unique("missing"), MaximumRetryAttempts=1)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["Error"]["Message"] == "The function doesn't exist."
    self_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    with pytest.raises(ClientError) as err:
        lam.put_function_event_invoke_config(FunctionName=name,
                                             DestinationConfig={"OnSuccess": {"Destination": self_arn}})
    assert err.value.response["Error"]["Message"] == "You can't specify the function as a destination for itself."
    with pytest.raises(ClientError) as err:
        lam.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": self_arn.replace(":lambda:", ":iam:")}})
    assert err.value.response["Error"]["Message"].startswith("The provided destination config DestinationConfig(")

    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)
    assert updated["MaximumRetryAttempts"] == 0 and updated["MaximumEventAgeInSeconds"] == 120
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumEventAgeInSeconds"] == 120
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [got["FunctionArn"]]
    lam.delete_function_event_invoke_config(FunctionName=name)
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


def test_accepted_events_survive_restart(fresh_server: Server) -> None:
    """Events accepted but not yet run (a slow function, one at a time) all run after a restart."""
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, RECORDER.replace('print("RECORD "', 'import time; time.sleep(0.2); print("RECORD "'))
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    for i in range(10):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"i": i}))
    fresh_server.stop()
    fresh_server.start()
    seen = {r["i"] for r in records(fresh_server, name, want=10)}
    # An event cut off mid-run runs again (at-least-once); none may be lost.
    assert seen == set(range(10))


# -- destinations and dead-letter queues on the embedded SQS -----------------------------------------

def queue(srv: Server) -> tuple[str, str]:
    sqs = srv.client("sqs")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(srv: Server, url: str, want: int, timeout: float = 30.0, wait_seconds: int = 1) -> list[dict[str, Any]]:
    """Up to `want` messages within `timeout` (at least one receive, each waiting `wait_seconds`)."""
    sqs = srv.client("sqs")
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
                                   MessageAttributeNames=["All"]).get("Messages", [])
        for m in msgs:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_on_failure_record_to_sqs(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    url, arn = queue(fast_retry_server)
    name = create_function(lam, FAILING)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                         DestinationConfig={"OnFailure": {"Destination": arn}})
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"job": 1}))
    [message] = drain(fast_retry_server, url, 1)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"] == {"job": 1}
    # One long poll (1 s: five base delays) finds a second record; that the dispatcher delivers one
    # outcome per event is proven on a fake clock (tests/unit/test_async_schedule.py).
    assert drain(fast_retry_server, url, 1, timeout=0.5) == [], "exactly one failure record"


def test_dead_letter_queue_gets_the_original_event(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    url, arn = queue(fast_retry_server)
    name = create_function(lam, FAILING, DeadLetterConfig={"TargetArn": arn})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": arn}
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"raise_error": 1}))
    [message] = drain(fast_retry_server, url, 1)
    assert json.loads(message["Body"]) == {"raise_error": 1}
    attributes = message["MessageAttributes"]
    assert attributes["RequestID"] == {"DataType": "String", "StringValue": resp["ResponseMetadata"]["RequestId"]}
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert attributes["ErrorMessage"] == {"DataType": "String", "StringValue": "intentional failure"}


def test_thousand_events_survive_kill_9(fresh_server: Server) -> None:
    """Accept 1,000 events, kill -9 the server while they run, restart: every event runs at least
    once and its OnSuccess record arrives."""
    fresh_server.start()
    lam = fresh_server.client()
    url, arn = queue(fresh_server)
    # Slow while the events are sent (one at a time, 0.1 s each), so that the kill surely leaves most
    # waiting however loaded the host is; fast again after the restart.
    name = create_function(lam, "import os, time\ndef handler(event, context):\n"
                                "    time.sleep(float(os.environ['PAUSE']))\n    return {'i': event['i']}\n",
                           Environment={"Variables": {"PAUSE": "0.1"}})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}})
    for i in range(1000):
        assert lam.invoke(FunctionName=name, InvocationType="Event",
                          Payload=json.dumps({"i": i}))["StatusCode"] == 202
    seen: set[int] = set()
    for message in drain(fresh_server, url, 5):
        seen.add(json.loads(message["Body"])["responsePayload"]["i"])
    fresh_server.stop(sig=9)  # mid-run: some events done, some running, most waiting
    fresh_server.start()
    lam = fresh_server.client()
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"PAUSE": "0.02"}})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=4)
    assert "resuming" in fresh_server.log_text(), "the kill must have left accepted events behind"
    deadline = time.monotonic() + 120
    while len(seen) < 1000 and time.monotonic() < deadline:
        for message in drain(fresh_server, url, 1000 - len(seen), timeout=5):
            seen.add(json.loads(message["Body"])["responsePayload"]["i"])
    assert seen == set(range(1000))


# -- the execution role delivers (issue 12, finding 14) ----------------------------------------------
LAMBDA_TRUST_DOC = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def scoped_role(srv: Server, *statements: dict[str, Any]) -> tuple[str, str]:
    """(name, ARN) of an execution role allowed only these statements (plus writing its logs)."""
    iam = srv.client("iam")
    name = unique("exec")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST_DOC)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="logs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="deliver", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": list(statements)}))
    return name, arn


def function_with_role(lam: Any, role: str, **kwargs: Any) -> str:
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=role,
                        Code={"ZipFile": make_zip({"app.py": FAILING})}, **kwargs)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return name


def async_statistics(srv: Server) -> dict[str, int]:
    return httpx.get(f"{srv.endpoint}/_lambdad/health", timeout=30).json()["async"]


def test_destinations_and_dead_letter_queues_need_the_roles_permission(fast_retry_server: Server) -> None:
    lam = fast_retry_server.client()
    _, queue_arn = queue(fast_retry_server)
    topic_arn = fast_retry_server.client("sns").create_topic(Name=unique("t"))["TopicArn"]
    _, bare_role = scoped_role(fast_retry_server)
    name = function_with_role(lam, bare_role)
    with pytest.raises(ClientError) as err:
        lam.put_function_event_invoke_config(FunctionName=name,
                                             DestinationConfig={"OnFailure": {"Destination": queue_arn}})
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]) == (
        "InvalidParameterValueException",
        f"The function's execution role does not have permissions to call SendMessage on {queue_arn}")
    with pytest.raises(ClientError) as err:
        lam.put_function_event_invoke_config(FunctionName=name,
                                             DestinationConfig={"OnSuccess": {"Destination": topic_arn}})
    assert err.value.response["Error"]["Message"] == (
        f"The function's execution role does not have permissions to call Publish on {topic_arn}")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=name)  # nothing was stored
    with pytest.raises(ClientError) as err:
        lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": queue_arn})
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]) == (
        "InvalidParameterValueException", "The provided execution role does not have permissions to call "
                                          "SendMessage on SQS")
    with pytest.raises(ClientError) as err:
        function_with_role(lam, bare_role, DeadLetterConfig={"TargetArn": topic_arn})
    assert err.value.response["Error"]["Message"] == ("The provided execution role does not have permissions to "
                                                      "call Publish on SNS")

    # Allowed on exactly these targets, the same calls succeed.
    _, role = scoped_role(fast_retry_server, {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn},
                          {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn})
    lam.update_function_configuration(FunctionName=name, Role=role, DeadLetterConfig={"TargetArn": queue_arn})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={
        "OnFailure": {"Destination": queue_arn}, "OnSuccess": {"Destination": topic_arn}})
    with pytest.raises(ClientError) as err:  # and a role change is judged against the DLQ too
        lam.update_function_configuration(FunctionName=name, Role=bare_role)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_delivery_fails_visibly_when_the_role_lost_its_permission(fast_retry_server: Server) -> None:
    lam, iam = fast_retry_server.client(), fast_retry_server.client("iam")
    dest_url, dest_arn = queue(fast_retry_server)
    dlq_url, dlq_arn = queue(fast_retry_server)
    role_name, role = scoped_role(fast_retry_server, {"Effect": "Allow", "Action": "sqs:SendMessage",
                                                      "Resource": [dest_arn, dlq_arn]})
    name = function_with_role(lam, role, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": dest_arn}})
    iam.delete_role_policy(RoleName=role_name, PolicyName="deliver")  # after the configuration was accepted

    before = async_statistics(fast_retry_server)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"job": "denied"}))
    assert wait_until(lambda: (after := async_statistics(fast_retry_server))["DestinationDeliveryFailures"]
                      > before["DestinationDeliveryFailures"]
                      and after["DeadLetterErrors"] > before["DeadLetterErrors"], timeout=60)
    # Both failures are counted only after both deliveries were refused (the outcome is final), so
    # one immediate receive each shows whether anything arrived; waiting longer proves no more.
    assert drain(fast_retry_server, dest_url, 1, timeout=0.01, wait_seconds=0) == [], "the destination got a record"
    assert drain(fast_retry_server, dlq_url, 1, timeout=0.01, wait_seconds=0) == [], \
        "the dead-letter queue got the event"
    assert "its execution role may not call SendMessage there" in fast_retry_server.log_text()

    # Given the permission back, the very same configuration delivers (so the check is what refused).
    iam.put_role_policy(RoleName=role_name, PolicyName="deliver", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": [dest_arn, dlq_arn]}]}))
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"job": "allowed"}))
    [record] = drain(fast_retry_server, dest_url, 1)
    assert json.loads(record["Body"])["requestPayload"] == {"job": "allowed"}
    [event] = drain(fast_retry_server, dlq_url, 1)
    assert json.loads(event["Body"]) == {"job": "allowed"}


def test_a_role_that_does_not_exist_is_not_checked_when_roles_need_not_exist(fresh_server: Server) -> None:
    """LAMBDAD_REQUIRE_EXISTING_ROLES=false lets a function name any role; its deliveries keep working
    (there is no policy to judge them by)."""
    fresh_server.env["LAMBDAD_REQUIRE_EXISTING_ROLES"] = "false"
    fresh_server.env["LAMBDAD_ASYNC_RETRY_BASE_DELAY"] = "0.2"
    fresh_server.start()
    lam = fresh_server.client()
    url, arn = queue(fresh_server)
    name = function_with_role(lam, f"arn:aws:iam::{ACCOUNT}:role/{unique('nowhere')}",
                              DeadLetterConfig={"TargetArn": arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"job": "kept"}))
    [event] = drain(fresh_server, url, 1)
    assert json.loads(event["Body"]) == {"job": "kept"}
