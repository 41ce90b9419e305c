"""Embedded CloudWatch Logs through boto3 and the AWS CLI: groups, streams, PutLogEvents' batch rules,
GetLogEvents/FilterLogEvents paging, filter patterns, retention, tags, metric and subscription
filters, StartLiveTail's event stream, and Lambda's own logs written through the same service."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, create_function, unique, wait_until
from tests.services.conftest import aws_cli


@pytest.fixture(scope="module")
def logs(server: Server) -> Any:
    return server.client("logs")


def now_ms() -> int:
    return int(time.time() * 1000)


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    e = exc.value.response["Error"]
    return e["Code"], e["Message"]


def group_with_stream(logs: Any, stream: str = "s1") -> str:
    name = "/test/" + unique("g")
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName=stream)
    return name


def test_groups_and_streams_lifecycle(logs: Any) -> None:
    name = "/test/" + unique("g")
    logs.create_log_group(logGroupName=name, tags={"team": "a"})
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=name)
    assert err(exc) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    [g] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert g["logGroupName"] == name and g["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
    assert g["logGroupArn"] == g["arn"][:-2] and g["metricFilterCount"] == 0 and "retentionInDays" not in g
    logs.create_log_stream(logGroupName=name, logStreamName="a")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=name, logStreamName="a")
    assert err(exc)[0] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=name + "-none", logStreamName="a")
    assert err(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=name, logStreamName="bad:name")
    assert err(exc)[0] == "InvalidParameterException"
    logs.delete_log_stream(logGroupName=name, logStreamName="a")
    assert logs.describe_log_streams(logGroupName=name)["logStreams"] == []
    logs.delete_log_group(logGroupName=name)
    with pytest.raises(ClientError) as exc:
        logs.delete_log_group(logGroupName=name)
    assert err(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="bad name!")
    assert err(exc)[0] == "InvalidParameterException"


def test_describe_pagination_and_prefixes(logs: Any) -> None:
    base = "/page/" + unique("p")
    for i in range(7):
        logs.create_log_group(logGroupName=f"{base}/{i}")
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.describe_log_groups(logGroupNamePrefix=base, limit=3, **kw)
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [f"{base}/{i}" for i in range(7)]
    name = f"{base}/0"
    for s in ["b1", "a1", "a2", "c"]:
        logs.create_log_stream(logGroupName=name, logStreamName=s)
    got = logs.describe_log_streams(logGroupName=name, logStreamNamePrefix="a")["logStreams"]
    assert [s["logStreamName"] for s in got] == ["a1", "a2"]
    first = logs.describe_log_streams(logGroupName=name, limit=2, descending=True)
    assert [s["logStreamName"] for s in first["logStreams"]] == ["c", "b1"]
    second = logs.describe_log_streams(logGroupName=name, limit=2, descending=True, nextToken=first["nextToken"])
    assert [s["logStreamName"] for s in second["logStreams"]] == ["a2", "a1"] and "nextToken" not in second
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=name, logStreamNamePrefix="a", orderBy="LastEventTime")
    assert err(exc) == ("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups(logGroupNamePrefix="a", logGroupNamePattern="b")
    assert err(exc)[0] == "InvalidParameterException"
    pattern = logs.describe_log_groups(logGroupNamePattern=base.split("/")[-1].upper())["logGroups"]
    assert len(pattern) == 7


def test_put_log_events_rules(logs: Any) -> None:
    name = group_with_stream(logs)
    t = now_ms()
    out = logs.put_log_events(logGroupName=name, logStreamName="s1", sequenceToken="ignored",
                              logEvents=[{"timestamp": t, "message": "one"}, {"timestamp": t + 1, "message": "two"}])
    assert "nextSequenceToken" in out and "rejectedLogEventsInfo" not in out
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=name, logStreamName="s1",
                            logEvents=[{"timestamp": t + 5, "message": "x"}, {"timestamp": t, "message": "y"}])
    assert err(exc) == ("InvalidParameterException",
                        "Log events in a single PutLogEvents request must be in chronological order.")
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=name, logStreamName="s1",
                            logEvents=[{"timestamp": t - 25 * 3600_000, "message": "x"},
                                       {"timestamp": t, "message": "y"}])
    assert "cannot span more than 24 hours" in err(exc)[1]
    big = "x" * (1_048_576 // 2)
    with pytest.raises(ClientError) as exc:  # 2 x (524288 + 26) > 1048576
        logs.put_log_events(logGroupName=name, logStreamName="s1",
                            logEvents=[{"timestamp": t, "message": big}, {"timestamp": t, "message": big}])
    assert err(exc)[0] == "InvalidParameterException" and "1048576" in err(exc)[1]
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=name, logStreamName="s1",
                            logEvents=[{"timestamp": t, "message": "m"}] * 10_001)
    assert err(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=name, logStreamName="nope", logEvents=[{"timestamp": t, "message": "m"}])
    assert err(exc) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    old, new = t - 15 * 86_400_000, t + 3 * 3600_000
    out = logs.put_log_events(logGroupName=name, logStreamName="s1",
                              logEvents=[{"timestamp": old, "message": "too old"},
                                         {"timestamp": old + 1, "message": "too old too"}])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    out = logs.put_log_events(logGroupName=name, logStreamName="s1",
                              logEvents=[{"timestamp": t, "message": "fine2"}, {"timestamp": new, "message": "new"}])
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    messages = [e["message"] for e in logs.get_log_events(logGroupName=name, logStreamName="s1")["events"]]
    assert messages == ["one", "fine2", "two"]  # by timestamp: fine2 was stamped t
    [s] = logs.describe_log_streams(logGroupName=name)["logStreams"]
    assert s["firstEventTimestamp"] == t and s["lastEventTimestamp"] == t + 1


def test_get_log_events_tokens(logs: Any) -> None:
    name = group_with_stream(logs)
    t = now_ms() - 10_000
    logs.put_log_events(logGroupName=name, logStreamName="s1",
                        logEvents=[{"timestamp": t + i, "message": f"m{i}"} for i in range(10)])
    tail = logs.get_log_events(logGroupName=name, logStreamName="s1", limit=3)
    assert [e["message"] for e in tail["events"]] == ["m7", "m8", "m9"]  # the newest, oldest first
    back = logs.get_log_events(logGroupName=name, logStreamName="s1", limit=3, nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == ["m4", "m5", "m6"]
    head = logs.get_log_events(logGroupName=name, logStreamName="s1", limit=4, startFromHead=True)
    assert [e["message"] for e in head["events"]] == ["m0", "m1", "m2", "m3"]
    token, got = head["nextForwardToken"], []
    for _ in range(5):
        page = logs.get_log_events(logGroupName=name, logStreamName="s1", limit=4, nextToken=token)
        got += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert got == [f"m{i}" for i in range(4, 10)]
    assert page["events"] == [] and page["nextForwardToken"] == token  # the same token at the end
    logs.put_log_events(logGroupName=name, logStreamName="s1", logEvents=[{"timestamp": t + 20, "message": "late"}])
    assert [e["message"] for e in logs.get_log_events(logGroupName=name, logStreamName="s1",
                                                      nextToken=token)["events"]] == ["late"]
    window = logs.get_log_events(logGroupName=name, logStreamName="s1", startTime=t + 2, endTime=t + 4,
                                 startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["m2", "m3"]
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=name, logStreamName="s1", nextToken="f/garbage")
    assert err(exc)[0] == "InvalidParameterException"


def test_filter_log_events_limit_counts_events(logs: Any) -> None:
    name = group_with_stream(logs, "a")
    logs.create_log_stream(logGroupName=name, logStreamName="b")
    t = now_ms() - 10_000
    for i in range(6):
        logs.put_log_events(logGroupName=name, logStreamName="ab"[i % 2],
                            logEvents=[{"timestamp": t + i, "message": f"line {i}"}])
    first = logs.filter_log_events(logGroupName=name, limit=1)
    assert len(first["events"]) == 1 and "nextToken" in first
    seen, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=name, limit=4, **({"nextToken": token} if token else {}))
        seen += [(e["logStreamName"], e["message"]) for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [("ab"[i % 2], f"line {i}") for i in range(6)]  # interleaved by time
    only_b = logs.filter_log_events(logGroupName=name, logStreamNames=["b"])["events"]
    assert [e["message"] for e in only_b] == ["line 1", "line 3", "line 5"]
    assert len(logs.filter_log_events(logGroupName=name, startTime=t + 2, endTime=t + 3)["events"]) == 2
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
    assert len(logs.filter_log_events(logGroupIdentifier=arn)["events"]) == 6


def test_filter_patterns_over_the_wire(logs: Any) -> None:
    name = group_with_stream(logs)
    t = now_ms() - 10_000
    lines = [json.dumps({"level": "ERROR", "message": "boom", "ms": 250}),
             json.dumps({"level": "INFO", "message": "ok", "ms": 5}),
             "ERROR plain text failure", "WARN disk almost full", "127.0.0.1 alice GET /x 404 512",
             "10.0.0.2 bob POST /y 200 2048", '{"level": "\\u0045RROR", "message": "escaped"}']
    logs.put_log_events(logGroupName=name, logStreamName="s1",
                        logEvents=[{"timestamp": t + i, "message": m} for i, m in enumerate(lines)])

    def matching(pattern: str) -> list[int]:
        return [lines.index(e["message"]) for e in
                logs.filter_log_events(logGroupName=name, filterPattern=pattern)["events"]]

    assert matching('{ $.level = "ERROR" }') == [0, 6]  # the store's prefilter keeps \\u escapes
    assert matching('{ $.ms > 100 || $.level = "INF*" }') == [0, 1]
    assert matching("ERROR") == [0, 2]
    assert matching('"plain text"') == [2]
    assert matching("ERROR -plain") == [0]
    assert matching("?WARN ?plain") == [2, 3]
    assert matching("[ip, user, method, path, status = 4*, bytes]") == [4]
    assert matching("[ip, user, ..., bytes > 1000]") == [5]
    assert matching("") == list(range(7))
    for bad in ['{ $.level = "ERROR"', "{ $.level == }", "[a, , b]", "email@domain.com", "%a+%"]:
        with pytest.raises(ClientError) as exc:
            logs.filter_log_events(logGroupName=name, filterPattern=bad)
        assert err(exc)[0] == "InvalidParameterException", bad


def test_filter_log_events_with_the_cli(server: Server, logs: Any) -> None:
    name = group_with_stream(logs)
    t = now_ms() - 1000
    logs.put_log_events(logGroupName=name, logStreamName="s1",
                        logEvents=[{"timestamp": t, "message": json.dumps({"level": "ERROR", "msg": "x"})},
                                   {"timestamp": t + 1, "message": json.dumps({"level": "INFO", "msg": "y"})}])
    out = aws_cli(server, "logs", "filter-log-events", "--log-group-name", name,
                  "--filter-pattern", '{ $.level = "ERROR" }')
    assert [json.loads(e["message"])["msg"] for e in out["events"]] == ["x"]
    out = aws_cli(server, "logs", "get-log-events", "--log-group-name", name, "--log-stream-name", "s1",
                  "--start-from-head")
    assert len(out["events"]) == 2


def test_retention_and_tags(logs: Any) -> None:
    name = group_with_stream(logs)
    t = now_ms()
    logs.put_log_events(logGroupName=name, logStreamName="s1",
                        logEvents=[{"timestamp": t - 3 * 86_400_000, "message": "old"}])
    logs.put_log_events(logGroupName=name, logStreamName="s1", logEvents=[{"timestamp": t - 1000, "message": "new"}])
    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName=name, retentionInDays=2)
    assert err(exc)[0] == "InvalidParameterException" and "enum value set" in err(exc)[1]
    logs.put_retention_policy(logGroupName=name, retentionInDays=1)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 1
    assert [e["message"] for e in logs.filter_log_events(logGroupName=name)["events"]] == ["new"]
    out = logs.put_log_events(logGroupName=name, logStreamName="s1",
                              logEvents=[{"timestamp": t - 2 * 86_400_000, "message": "expired"}])
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    logs.delete_retention_policy(logGroupName=name)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
    logs.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    logs.tag_log_group(logGroupName=name, tags={"c": "3"})
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"b": "2", "c": "3"}


def test_metric_filters_are_stored(logs: Any) -> None:
    name = group_with_stream(logs)
    transform = [{"metricName": "Errors", "metricNamespace": "App", "metricValue": "1"}]
    logs.put_metric_filter(logGroupName=name, filterName="errors", filterPattern='{ $.level = "ERROR" }',
                           metricTransformations=transform)
    [f] = logs.describe_metric_filters(logGroupName=name)["metricFilters"]
    assert f["filterName"] == "errors" and f["metricTransformations"][0]["metricName"] == "Errors"
    assert logs.describe_metric_filters(metricName="Errors", metricNamespace="App")["metricFilters"]
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["metricFilterCount"] == 1
    with pytest.raises(ClientError) as exc:
        logs.put_metric_filter(logGroupName=name, filterName="bad", filterPattern="{ $.x = ",
                               metricTransformations=transform)
    assert err(exc)[0] == "InvalidParameterException"
    logs.delete_metric_filter(logGroupName=name, filterName="errors")
    assert logs.describe_metric_filters(logGroupName=name)["metricFilters"] == []


def test_another_accounts_groups_are_denied(server: Server, logs: Any) -> None:
    name = group_with_stream(logs)
    iam = server.client("iam")
    user = unique("u")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    other = server.client("logs", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:  # a user with no policy: denied on our own account's group
        other.filter_log_events(logGroupName=name)
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    foreign = f"arn:aws:logs:{REGION}:999999999999:log-group:{name}"
    with pytest.raises(ClientError) as exc:  # root of this account, another account's group by ARN
        logs.filter_log_events(logGroupIdentifier=foreign)
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"


def test_many_streams(logs: Any) -> None:
    name = "/test/" + unique("many")
    logs.create_log_group(logGroupName=name)
    for i in range(400):
        logs.create_log_stream(logGroupName=name, logStreamName=f"s{i:05d}")
    pages = list(logs.get_paginator("describe_log_streams").paginate(logGroupName=name))
    assert sum(len(p["logStreams"]) for p in pages) == 400 and len(pages) == 8


HANDLER = """
import base64, gzip, json, logging
logger = logging.getLogger()
def handler(event, context):
    if "awslogs" in event:
        data = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
        print("RECEIVED " + json.dumps(data))
        return
    logger.error("something failed")
    logger.info("all good")
    print("plain print")
    return {"ok": True}
"""


def test_lambda_logs_are_groups_and_streams(server: Server, lam: Any, logs: Any) -> None:
    fn = create_function(lam, HANDLER)
    lam.invoke(FunctionName=fn, Payload=b"{}")
    group = f"/aws/lambda/{fn}"
    [s] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert "[$LATEST]" in s["logStreamName"]
    events = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"]
    assert events[0]["message"].startswith("START RequestId:") or any(
        e["message"].startswith("START RequestId:") for e in events)
    assert any(e["message"].startswith("REPORT RequestId:") for e in events)
    assert len(logs.filter_log_events(logGroupName=group, limit=1)["events"]) == 1
    assert logs.filter_log_events(logGroupName=group, filterPattern='"plain print"')["events"]


def test_subscription_filter_delivers_awslogs(server: Server, lam: Any, logs: Any) -> None:
    sink = create_function(lam, HANDLER)
    name = group_with_stream(logs)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{sink}"
    with pytest.raises(ClientError) as exc:  # no permission for logs.amazonaws.com yet
        logs.put_subscription_filter(logGroupName=name, filterName="f", filterPattern="ERROR", destinationArn=arn)
    assert err(exc) == ("InvalidParameterException", "Could not execute the lambda function. Make sure you have "
                        "given CloudWatch Logs permission to execute your function.")
    lam.add_permission(FunctionName=sink, StatementId="logs", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com",
                       SourceArn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*")
    logs.put_subscription_filter(logGroupName=name, filterName="f", filterPattern="ERROR", destinationArn=arn)
    [f] = logs.describe_subscription_filters(logGroupName=name)["subscriptionFilters"]
    assert f["destinationArn"] == arn and f["distribution"] == "ByLogStream"
    t = now_ms()
    logs.put_log_events(logGroupName=name, logStreamName="s1",
                        logEvents=[{"timestamp": t, "message": "ERROR one"}, {"timestamp": t, "message": "fine"}])

    def received() -> list[dict[str, Any]]:
        try:
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{sink}", filterPattern="RECEIVED")["events"]
        except ClientError:  # the function has not run yet: its group does not exist
            return []
        return [json.loads(e["message"].split("RECEIVED ", 1)[1]) for e in found]

    assert wait_until(lambda: bool(received()), 20)
    [data] = received()
    assert data["messageType"] == "DATA_MESSAGE" and data["owner"] == ACCOUNT and data["logGroup"] == name
    assert data["logStream"] == "s1" and data["subscriptionFilters"] == ["f"]
    assert [e["message"] for e in data["logEvents"]] == ["ERROR one"]
    logs.delete_subscription_filter(logGroupName=name, filterName="f")


def test_a_function_subscribed_to_its_own_logs_is_refused(lam: Any, logs: Any) -> None:
    fn = create_function(lam, HANDLER)
    lam.invoke(FunctionName=fn, Payload=b"{}")
    group = f"/aws/lambda/{fn}"
    logs.describe_log_streams(logGroupName=group)  # flushes: the group exists
    lam.add_permission(FunctionName=fn, StatementId="logs", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        logs.put_subscription_filter(logGroupName=group, filterName="loop", filterPattern="",
                                     destinationArn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}")
    assert err(exc)[0] == "InvalidParameterException" and "loop" in err(exc)[1]


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION,
               # StartLiveTail's host prefix ("stream-") cannot go in front of an IP endpoint.
               AWS_DISABLE_HOST_PREFIX_INJECTION="true")
    return env


def test_start_live_tail_boto3(server: Server, logs: Any) -> None:
    name = group_with_stream(logs)
    client = boto3.client("logs", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY,
                          config=BotoConfig(inject_host_prefix=False, retries={"max_attempts": 0}, read_timeout=30))
    response = client.start_live_tail(logGroupIdentifiers=[f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"])
    stream = response["responseStream"]
    got: list[str] = []

    def writer() -> None:
        time.sleep(0.5)
        logs.put_log_events(logGroupName=name, logStreamName="s1", logEvents=[{"timestamp": now_ms(),
                                                                               "message": "live one"}])

    threading.Thread(target=writer, daemon=True).start()
    for event in stream:
        if "sessionStart" in event:
            assert event["sessionStart"]["logGroupIdentifiers"]
        if "sessionUpdate" in event:
            got += [r["message"] for r in event["sessionUpdate"]["sessionResults"]]
            if got:
                break
    stream.close()
    assert got == ["live one"]
    with pytest.raises(ClientError) as exc:
        client.start_live_tail(logGroupIdentifiers=[f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:nope"])
    assert err(exc)[0] == "ResourceNotFoundException"


def test_start_live_tail_cli_shows_function_lines(server: Server, lam: Any, logs: Any) -> None:
    fn = create_function(lam, HANDLER)
    lam.invoke(FunctionName=fn, Payload=b"{}")
    group = f"/aws/lambda/{fn}"
    logs.describe_log_groups(logGroupNamePrefix=group)  # the group exists now
    aws = str(Path(sys.executable).parent / "aws")
    proc = subprocess.Popen([aws, "logs", "start-live-tail", "--log-group-identifiers",
                             f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}", "--endpoint-url", server.endpoint],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_cli_env(), text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        next_invoke = 0.0
        while time.monotonic() < deadline and not any("plain print" in x for x in lines):
            if time.monotonic() > next_invoke:  # until the CLI (slow to start) has its session open
                lam.invoke(FunctionName=fn, Payload=b"{}")
                next_invoke = time.monotonic() + 3
            chunk = proc.stdout.readline()
            if chunk:
                lines.append(chunk)
            else:
                time.sleep(0.1)
        assert any("plain print" in x for x in lines), (lines, proc.stderr.read() if proc.poll() else "")
        assert any(x.startswith("START RequestId:") for x in lines)
    finally:
        proc.terminate()
        proc.wait(10)


def test_events_survive_kill_9(fresh_server: Server) -> None:
    fresh_server.start()
    logs = fresh_server.client("logs")
    logs.create_log_group(logGroupName="/durable")
    logs.create_log_stream(logGroupName="/durable", logStreamName="s")
    logs.put_log_events(logGroupName="/durable", logStreamName="s", logEvents=[{"timestamp": now_ms(),
                                                                               "message": "kept"}])
    logs.put_retention_policy(logGroupName="/durable", retentionInDays=7)
    import signal
    fresh_server.stop(signal.SIGKILL)
    fresh_server.start()
    logs = fresh_server.client("logs")
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/durable")["events"]] == ["kept"]
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 7


def test_awslogs_payload_decodes() -> None:
    from lambdad.services.logs.groups import awslogs_event
    from lambdad.services.logs.records import Event, LogGroup
    payload = json.loads(awslogs_event(LogGroup("1", "r", "/g", 0), "s", "f", [Event(5, "m")]))
    data = json.loads(gzip.decompress(base64.b64decode(payload["awslogs"]["data"])))
    assert data["logEvents"][0]["message"] == "m" and data["logEvents"][0]["timestamp"] == 5
