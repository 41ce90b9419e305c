"""Event source mappings with SQS, end to end: a real server, boto3, functions that report what they
received to a results queue (boto3 inside the function reaches lambdad's SQS by AWS_ENDPOINT_URL)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, Server, api_error, create_function, unique, wait_until
from tests.unvalidated import unvalidated_client

# Reports each batch (ids, bodies, the whole event) to the queue named by RESULTS, then answers what the
# message bodies ask: {"fail": true} fails the record (with ReportBatchItemFailures) or the batch.
REPORTER = '''
import json, os, time
import boto3
sqs = boto3.client("sqs")
def handler(event, context):
    started = time.time()
    records = event["Records"]
    failures = [r["messageId"] for r in records if '"fail": true' in r["body"]]
    pause = max([json.loads(r["body"]).get("sleep", 0) for r in records if r["body"].startswith("{")] or [0])
    if pause:
        time.sleep(pause)
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(
        {"event": event, "started": started, "ended": time.time()}))
    if failures and os.environ.get("MODE") == "raise":
        raise RuntimeError("failed attempt")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}
'''


def queue(sqs: Any, name: str | None = None, **attributes: str) -> tuple[str, str]:
    name = name or unique("q")
    if name.endswith(".fifo"):
        attributes["FifoQueue"] = "true"
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def reporter(lam: Any, results_url: str, **env: str) -> str:
    return create_function(lam, REPORTER, Timeout=30,
                           Environment={"Variables": {"RESULTS": results_url, **env}})


def drain_results(sqs: Any, url: str, until: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every report received from the results queue until `until(reports)` holds."""
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(reports):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in got:
            reports.append(json.loads(m["Body"]))
        if got:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    return reports


def records_of(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for rep in reports for r in rep["event"]["Records"]]


def wait_state(lam: Any, uuid: str, state: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def settled() -> bool:
        found.update(lam.get_event_source_mapping(UUID=uuid))
        return found["State"] == state
    assert wait_until(settled, 10), found
    return found


def test_create_get_list_update_delete_fields(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    _url, arn = queue(sqs)
    name = reporter(lam, results_url)
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    uuid = created["UUID"]
    body = {k: v for k, v in created.items() if k != "ResponseMetadata"}
    assert set(body) == {"BatchSize", "EventSourceArn", "EventSourceMappingArn", "FunctionArn",
                         "FunctionResponseTypes", "LastModified", "MaximumBatchingWindowInSeconds", "State",
                         "StateTransitionReason", "UUID"}
    assert body["State"] == "Creating" and body["StateTransitionReason"] == "USER_INITIATED"
    assert body["BatchSize"] == 10 and body["MaximumBatchingWindowInSeconds"] == 0
    assert body["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert body["EventSourceMappingArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"
    wait_state(lam, uuid, "Enabled")
    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]
    assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [uuid]

    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert api_error(exc) == (409, "ResourceConflictException",
                              f'An event source mapping with SQS arn (" {arn} ") and function (" {name} ") already '
                              f"exists. Please update or delete the existing mapping with UUID {uuid}")

    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=5, ScalingConfig={"MaximumConcurrency": 3})
    assert updated["State"] == "Updating" and updated["BatchSize"] == 5
    assert updated["ScalingConfig"] == {"MaximumConcurrency": 3}
    disabled = lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert disabled["State"] == "Disabling"
    wait_state(lam, uuid, "Disabled")
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=True)["State"] == "Enabling"
    wait_state(lam, uuid, "Enabled")

    mapping_arn = body["EventSourceMappingArn"]
    lam.tag_resource(Resource=mapping_arn, Tags={"team": "a"})
    assert lam.list_tags(Resource=mapping_arn)["Tags"] == {"team": "a"}

    deleted = lam.delete_event_source_mapping(UUID=uuid)
    assert deleted["State"] == "Deleting" and deleted["ResponseMetadata"]["HTTPStatusCode"] == 202

    def gone() -> bool:
        try:
            lam.get_event_source_mapping(UUID=uuid)
        except ClientError as e:
            return e.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    assert wait_until(gone, 10)
    with pytest.raises(ClientError) as exc:
        lam.get_event_source_mapping(UUID=uuid)
    assert api_error(exc) == (404, "ResourceNotFoundException", "The resource you requested does not exist.")


def test_validation_messages(server: Server, lam: Any, sqs: Any) -> None:
    _, arn = queue(sqs)
    _, fifo_arn = queue(sqs, unique("q") + ".fifo")
    name = create_function(lam, "def handler(e, c):\n    return None\n")
    cases: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
        ({"BatchSize": 20}, (400, "InvalidParameterValueException",
                             "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
                             "greater than 10")),
        ({"StartingPosition": "LATEST"}, (400, "InvalidParameterValueException",
                                          "StartingPosition is not valid for SQS event sources.")),
        ({"FilterCriteria": {"Filters": [{"Pattern": "simple string"}]}},
         (400, "InvalidParameterValueException", "Invalid filter pattern definition.")),
        ({"FilterCriteria": {"Filters": [{}]}},
         (400, "InvalidParameterValueException", "Invalid filter pattern definition.")),
        ({"ScalingConfig": {"MaximumConcurrency": 1}}, (400, "ValidationException", "1 validation error detected: "
         "Value '1' at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member must have value "
         "greater than or equal to 2")),
    ]
    raw = unvalidated_client(server)
    for extra, expected in cases:
        with pytest.raises(ClientError) as exc:
            raw.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, **extra)
        assert api_error(exc) == expected, extra
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=fifo_arn, FunctionName=name, BatchSize=10,
                                        MaximumBatchingWindowInSeconds=5)
    assert api_error(exc) == (400, "InvalidParameterValueException", "Batching window is not supported for FIFO "
                              "queues.")
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn[:-3] + "nope", FunctionName=name)
    assert api_error(exc) == (400, "InvalidParameterValueException",
                              "Error occurred while ReceiveMessage. SQS Error Code: "
                              "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does "
                              "not exist.")
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=unique("missing"))
    assert api_error(exc)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as exc:
        lam.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
    assert api_error(exc) == (404, "ResourceNotFoundException", "The resource you requested does not exist.")
    # An update is checked with the settings it keeps.
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=100,
                                           MaximumBatchingWindowInSeconds=1)["UUID"]
    with pytest.raises(ClientError) as exc:
        lam.update_event_source_mapping(UUID=uuid, MaximumBatchingWindowInSeconds=0)
    assert api_error(exc)[2].startswith("Maximum batch window in seconds must be greater than 0")
    lam.delete_event_source_mapping(UUID=uuid)


def test_drain_and_record_shape(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    url, arn = queue(sqs)
    name = reporter(lam, results_url)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10)["UUID"]
    wait_state(lam, uuid, "Enabled")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"foo": "bar"}),
                     MessageAttributes={"Author": {"DataType": "String", "StringValue": "John Grisham"},
                                        "WeeksOn": {"DataType": "Number", "StringValue": "6"}})
    reports = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 1)
    record = records_of(reports)[0]
    assert list(record) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                            "md5OfMessageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"]
    assert list(record["attributes"]) == ["ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                          "ApproximateFirstReceiveTimestamp"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["Author"] == {"stringValue": "John Grisham", "stringListValues": [],
                                                     "binaryListValues": [], "dataType": "String"}
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn and record["awsRegion"] == REGION
    assert record["body"] == json.dumps({"foo": "bar"})
    lam.delete_event_source_mapping(UUID=uuid)


def send_many(sqs: Any, url: str, bodies: list[str], **extra: Any) -> None:
    for i in range(0, len(bodies), 10):
        entries = [{"Id": str(j), "MessageBody": b, **extra} for j, b in enumerate(bodies[i:i + 10])]
        result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not result.get("Failed"), result


def queue_empty(sqs: Any, url: str) -> bool:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_thousand_messages_drain_with_batch_10(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    url, arn = queue(sqs)
    name = reporter(lam, results_url)
    bodies = [f"m-{i}" for i in range(1000)]
    send_many(sqs, url, bodies)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10,
                                           ScalingConfig={"MaximumConcurrency": 5})["UUID"]
    reports = drain_results(sqs, results_url, lambda r: len({x["body"] for x in records_of(r)}) >= 1000, 120)
    seen = {x["body"] for x in records_of(reports)}
    assert seen == set(bodies)
    assert all(len(rep["event"]["Records"]) <= 10 for rep in reports)
    assert wait_until(lambda: queue_empty(sqs, url), 10)
    health = httpx.get(f"{server.endpoint}/_lambdad/health").json()["event_source_mappings"]["by_mapping"][uuid]
    assert health["processed"] >= 1000 and health["state"] == "Enabled" and health["last_result"] == "OK"
    lam.delete_event_source_mapping(UUID=uuid)


def test_partial_batch_failures_reach_the_dead_letter_queue(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    dlq_url, dlq_arn = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    name = reporter(lam, results_url)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10,
                                           FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
    wait_state(lam, uuid, "Enabled")
    send_many(sqs, url, [json.dumps({"n": 1}), json.dumps({"n": 2, "fail": True}), json.dumps({"n": 3}),
                         json.dumps({"n": 4, "fail": True})])
    dead: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(dead) < 2 and time.monotonic() < deadline:
        dead += sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert sorted(json.loads(m["Body"])["n"] for m in dead) == [2, 4]
    reports = drain_results(sqs, results_url, lambda r: False, 2)
    counts: dict[int, list[str]] = {}
    for record in records_of(reports):
        counts.setdefault(json.loads(record["body"])["n"], []).append(record["attributes"]["ApproximateReceiveCount"])
    assert counts[1] == ["1"] and counts[3] == ["1"]  # the ones that succeeded ran once and were deleted
    assert counts[2] == ["1", "2"] and counts[4] == ["1", "2"]  # the failed ones: maxReceiveCount receives
    assert wait_until(lambda: queue_empty(sqs, url), 5)
    lam.delete_event_source_mapping(UUID=uuid)


def test_a_function_error_fails_the_whole_batch(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="1")
    name = reporter(lam, results_url, MODE="raise")
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10)["UUID"]
    send_many(sqs, url, [json.dumps({"n": 1, "fail": True})])
    reports = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 2, 30)
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records_of(reports)][:2] == ["1", "2"]
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_state(lam, uuid, "Disabled")
    lam.delete_event_source_mapping(UUID=uuid)


def test_fifo_order_per_group_with_four_groups(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    url, arn = queue(sqs, unique("q") + ".fifo")
    name = reporter(lam, results_url)
    for n in range(10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": f"g{g}", "MessageBody": json.dumps({"g": g, "n": n, "sleep": 0.05}), "MessageGroupId": f"g{g}",
             "MessageDeduplicationId": f"{g}-{n}"} for g in range(4)])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=3)["UUID"]
    reports = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 40, 90)
    order: dict[int, list[int]] = {}
    spans: dict[int, list[tuple[float, float]]] = {}
    for rep in sorted(reports, key=lambda r: r["started"]):
        groups = set()
        for record in rep["event"]["Records"]:
            body = json.loads(record["body"])
            order.setdefault(body["g"], []).append(body["n"])
            groups.add(body["g"])
            assert record["attributes"]["MessageGroupId"] == f"g{body['g']}"
            assert record["attributes"]["MessageDeduplicationId"] == f"{body['g']}-{body['n']}"
            assert "SequenceNumber" in record["attributes"]
        for g in groups:
            spans.setdefault(g, []).append((rep["started"], rep["ended"]))
    assert order == {g: list(range(10)) for g in range(4)}
    for g, intervals in spans.items():  # one batch per group in flight: a group's invocations never overlap
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end - 0.01, (g, intervals)
    lam.delete_event_source_mapping(UUID=uuid)


def test_filters_drop_what_they_should_and_delete_it(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    url, arn = queue(sqs)
    name = reporter(lam, results_url)
    criteria = {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["keep"], "n": [{"numeric": [">", 10]}]}})},
                            {"Pattern": json.dumps({"body": ["plain-keep"]})}]}
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, FilterCriteria=criteria)
    assert created["FilterCriteria"] == criteria
    uuid = created["UUID"]
    wait_state(lam, uuid, "Enabled")
    send_many(sqs, url, [json.dumps({"kind": "keep", "n": 11}), json.dumps({"kind": "keep", "n": 5}),
                         json.dumps({"kind": "drop", "n": 50}), "plain-keep", "plain-drop", "{not json"])
    reports = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 2, 30)
    assert wait_until(lambda: queue_empty(sqs, url), 10)  # filtered-out messages are deleted, as AWS does
    reports += drain_results(sqs, results_url, lambda r: False, 1)
    assert sorted(r["body"] for r in records_of(reports)) == sorted([json.dumps({"kind": "keep", "n": 11}),
                                                                     "plain-keep"])
    lam.delete_event_source_mapping(UUID=uuid)


def test_disabling_stops_polling_within_a_second(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    url, arn = queue(sqs)
    name = reporter(lam, results_url)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    wait_state(lam, uuid, "Enabled")
    sqs.send_message(QueueUrl=url, MessageBody="before")
    assert len(records_of(drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 1, 30))) == 1
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled", 1.0)
    sqs.send_message(QueueUrl=url, MessageBody="after")
    time.sleep(1.5)
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert a["ApproximateNumberOfMessages"] == "1"  # nobody received it
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    reports = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 1, 30)
    assert [r["body"] for r in records_of(reports)] == ["after"]
    lam.delete_event_source_mapping(UUID=uuid)


def test_maximum_concurrency_caps_concurrent_invocations(server: Server, lam: Any, sqs: Any) -> None:
    results_url, _ = queue(sqs)
    url, arn = queue(sqs)
    name = reporter(lam, results_url)
    send_many(sqs, url, [json.dumps({"i": i, "sleep": 0.4}) for i in range(16)])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1,
                                           ScalingConfig={"MaximumConcurrency": 2})["UUID"]
    reports = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 16, 90)
    events = sorted([(rep["started"], 1) for rep in reports] + [(rep["ended"], -1) for rep in reports])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2, peak  # measured inside the function: never more than MaximumConcurrency at once
    lam.delete_event_source_mapping(UUID=uuid)


def test_throttles_back_off_and_nothing_fails(server: Server, lam: Any, sqs: Any) -> None:
    """Reserved concurrency 1 under five pollers: the others are throttled, back off and retry the same
    batch (its messages stay hidden), so every message runs once and none fails."""
    results_url, _ = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="30")
    name = reporter(lam, results_url)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    send_many(sqs, url, [json.dumps({"i": i, "sleep": 0.1}) for i in range(15)])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1,
                                           ScalingConfig={"MaximumConcurrency": 5})["UUID"]
    reports = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 15, 120)
    assert sorted(json.loads(r["body"])["i"] for r in records_of(reports)) == list(range(15))
    assert all(r["attributes"]["ApproximateReceiveCount"] == "1" for r in records_of(reports))
    stats = httpx.get(f"{server.endpoint}/_lambdad/health").json()["event_source_mappings"]["by_mapping"][uuid]
    assert stats["throttles"] > 0 and stats["failed"] == 0
    lam.delete_event_source_mapping(UUID=uuid)


def test_list_pages_update_function_and_the_aws_cli(server: Server, lam: Any, sqs: Any) -> None:
    from tests.services.conftest import aws_cli

    _, arn = queue(sqs)
    first = create_function(lam, "def handler(e, c):\n    return None\n")
    second = create_function(lam, "def handler(e, c):\n    return None\n")
    uuids = [lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=first)["UUID"]]
    lam.publish_version(FunctionName=first)
    uuids.append(lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=f"{first}:1")["UUID"])
    made = aws_cli(server, "lambda", "create-event-source-mapping", "--function-name", second,
                   "--event-source-arn", arn, "--batch-size", "5")
    uuids.append(made["UUID"])
    assert made["BatchSize"] == 5 and made["State"] == "Creating"
    page = lam.list_event_source_mappings(EventSourceArn=arn, MaxItems=2)
    assert len(page["EventSourceMappings"]) == 2 and page["NextMarker"]
    rest = lam.list_event_source_mappings(EventSourceArn=arn, MaxItems=2, Marker=page["NextMarker"])
    assert [m["UUID"] for m in page["EventSourceMappings"] + rest["EventSourceMappings"]] == uuids
    assert "NextMarker" not in rest
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=f"{first}:1")["EventSourceMappings"]] \
        == [uuids[1]]
    assert {m["UUID"] for m in lam.list_event_source_mappings(FunctionName=first)["EventSourceMappings"]} \
        == set(uuids[:2])
    assert lam.get_event_source_mapping(UUID=uuids[1])["FunctionArn"].endswith(f"function:{first}:1")
    moved = lam.update_event_source_mapping(UUID=uuids[2], FunctionName=first)  # an alias or version too
    assert moved["State"] == "Updating" and moved["FunctionArn"].endswith(f"function:{first}")
    listed = aws_cli(server, "lambda", "list-event-source-mappings", "--event-source-arn", arn)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == uuids
    for uuid in uuids:
        aws_cli(server, "lambda", "delete-event-source-mapping", "--uuid", uuid)
