"""Event source mappings with SQS, end to end: a real server, boto3, functions that report what they
received to a results queue (boto3 inside the function reaches lambdad's SQS by AWS_ENDPOINT_URL)."""

from __future__ import annotations

import json
import time
from typing import Any

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
