"""Embedded SQS through real clients: current boto3 (JSON protocol), boto3 with the query-protocol
model older SDKs used, the AWS CLI, raw form POSTs to a queue URL, and boto3 inside a function."""

from __future__ import annotations

import hashlib
import json
import signal
import struct
import threading
import time
import urllib.parse
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, create_function, unique
from tests.services.conftest import aws_cli, query_sqs_client


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return exc.value.response["Error"]


def md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    # AWS's documented algorithm, written independently of the server's.
    h = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        for text in (name, value["DataType"]):
            h.update(struct.pack(">I", len(text.encode())) + text.encode())
        if "BinaryValue" in value:
            h.update(b"\x02" + struct.pack(">I", len(value["BinaryValue"])) + value["BinaryValue"])
        else:
            h.update(b"\x01" + struct.pack(">I", len(value["StringValue"].encode())) + value["StringValue"].encode())
    return h.hexdigest()


def new_queue(sqs: Any, prefix: str = "q", **attributes: str) -> str:
    name = unique(prefix)
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def drain(sqs: Any, url: str, expected: int, **kwargs: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       **kwargs).get("Messages", []))
    return got


# -- queues ----------------------------------------------------------------------------------------

def test_queue_attributes_round_trip_and_defaults(sqs: Any, server: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout="20", ReceiveMessageWaitTimeSeconds="10")
    assert url.startswith("http://localhost:") and url.endswith(url.rsplit("/", 1)[1])
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # The attribute set AWS answers for a new standard queue (recorded).
    assert set(attrs) == {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                          "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp", "DelaySeconds",
                          "LastModifiedTimestamp", "MaximumMessageSize", "MessageRetentionPeriod", "QueueArn",
                          "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled", "VisibilityTimeout"}
    assert attrs["VisibilityTimeout"] == "20" and attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["MaximumMessageSize"] == "1048576" and attrs["SqsManagedSseEnabled"] == "true"
    assert attrs["QueueArn"] == f"arn:aws:sqs:{REGION}:000000000000:{url.rsplit('/', 1)[1]}"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "420", "MaximumMessageSize": "2048",
                                                       "VisibilityTimeout": "69"})
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds", "VisibilityTimeout"])
    assert attrs["Attributes"] == {"DelaySeconds": "420", "VisibilityTimeout": "69"}
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url)
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
    assert error_of(exc)["Code"] == "InvalidAttributeName"
    assert error_of(exc)["Message"] == "Unknown Attribute FifoQueue."
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    assert error_of(exc)["Code"] == "InvalidAttributeValue"
    # Same name and attributes: the same queue; a different value: QueueAlreadyExists.
    name = url.rsplit("/", 1)[1]
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "420"})["QueueUrl"] == url
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})
    assert error_of(exc) | {} == {"Code": "QueueAlreadyExists", "QueryErrorCode": "QueueNameExists", "Type": "Sender",
                                  "Message": "A queue already exists with the same name and a different value for "
                                             "attribute DelaySeconds"}


def test_list_queues_prefix_pagination_and_delete(sqs: Any) -> None:
    prefix = unique("list")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    assert sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"] == urls
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert first["QueueUrls"] == urls[:2] and first["NextToken"]
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=10, NextToken=first["NextToken"])
    assert rest["QueueUrls"] == urls[2:] and "NextToken" not in rest
    assert sqs.get_queue_url(QueueName=f"{prefix}-3")["QueueUrl"] == urls[3]
    sqs.delete_queue(QueueUrl=urls[0])
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_url(QueueName=f"{prefix}-0")
    assert error_of(exc)["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error_of(exc)["QueryErrorCode"] == "QueueDoesNotExist"
    assert error_of(exc)["Message"] == "The specified queue does not exist."
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=urls[0], MessageBody="x")


def test_tags(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("tags"), tags={"tag1": "value1"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"tag2": "value2", "tag3": ""})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"tag1": "value1", "tag2": "value2", "tag3": ""}
    sqs.untag_queue(QueueUrl=url, TagKeys=["tag1", "tag2", "tag3"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


# -- messages --------------------------------------------------------------------------------------

def test_send_receive_delete_with_checksums_and_attribute_filters(sqs: Any) -> None:
    url = new_queue(sqs)
    attributes = {"General": {"DataType": "String", "StringValue": "Kenobi"},
                  "Hello": {"DataType": "String", "StringValue": "There"},
                  "Help.Me": {"DataType": "String", "StringValue": "Me"},
                  "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
                  "Count": {"DataType": "Number.int", "StringValue": "42"}}
    body = "h\u00e9llo\r\nworld <&>"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"],
                              VisibilityTimeout=0)["Messages"][0]
    assert msg["Body"] == body and msg["MessageId"] == sent["MessageId"]
    assert msg["MessageAttributes"] == attributes
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert set(msg["Attributes"]) == {"ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId",
                                      "SentTimestamp"}
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"
    # Only what was asked for, and its checksum.
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["Hel.*", "Missing"],
                              MessageSystemAttributeNames=["ApproximateReceiveCount"],
                              VisibilityTimeout=0)["Messages"][0]
    chosen = {k: attributes[k] for k in ("Hello", "Help.Me")}
    assert msg["MessageAttributes"] == chosen and msg["MD5OfMessageAttributes"] == md5_of_attributes(chosen)
    assert msg["Attributes"] == {"ApproximateReceiveCount": "2"}
    msg = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert "MessageAttributes" not in msg and "Attributes" not in msg
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])  # deleting twice is fine
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as exc:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert error_of(exc)["Code"] == "ReceiptHandleIsInvalid"


@pytest.mark.parametrize(("kwargs", "code", "message"), [
    ({"MessageBody": ""}, "MissingParameter", "The request must contain the parameter MessageBody."),
    ({"MessageBody": "x", "DelaySeconds": 901}, "InvalidParameterValue",
     "Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."),
    ({"MessageBody": "x", "MessageAttributes": {"ErrorDetails": {"DataType": "String", "StringValue": ""}}},
     "InvalidParameterValue", "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type "
                              "'String'."),
    ({"MessageBody": "x", "MessageGroupId": "group 123"}, "InvalidParameterValue",
     "Value group 123 for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include "
     "alphanumeric and punctuation characters. 1 to 128 in length."),
    ({"MessageBody": "x" * 1048577}, "InvalidParameterValue",
     "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes."),
    ({"MessageBody": "bad \x01 char"}, "InvalidMessageContents", None),
])
def test_send_message_validation(sqs: Any, kwargs: dict[str, Any], code: str, message: str | None) -> None:
    url = new_queue(sqs, "val")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, **kwargs)
    assert error_of(exc)["Code"] == code
    if message:
        assert error_of(exc)["Message"] == message


def test_receive_parameter_validation(sqs: Any) -> None:
    url = new_queue(sqs, "recv")
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_of(exc)["Message"] == ("Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be "
                                        "between 1 and 10, if provided.")
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21)
    assert error_of(exc)["Message"] == ("Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 "
                                        "and <= 20, if provided.")
    assert error_of(exc)["QueryErrorCode"] == "InvalidParameterValueException"


def test_visibility_timeout_hides_then_redelivers(sqs: Any) -> None:
    url = new_queue(sqs, "vis", VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    first = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url), "hidden while in flight"
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    # The long poll wakes when the visibility timeout runs out, well before its 5 s.
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["ApproximateReceiveCount"])
    second = again["Messages"][0]
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    # ChangeMessageVisibility to 0 makes it receivable at once; a long timeout hides it.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"][0]
    assert third["MessageId"] == first["MessageId"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    result = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "ok", "ReceiptHandle": third["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "bad", "ReceiptHandle": "garbage", "VisibilityTimeout": 0}])
    assert [e["Id"] for e in result["Successful"]] == ["ok"]
    assert result["Failed"][0]["Id"] == "bad" and result["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    # A standard queue deletes with an expired handle too (AWS does).
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_long_poll_returns_as_soon_as_a_message_arrives(sqs: Any) -> None:
    url = new_queue(sqs, "poll")
    result: dict[str, Any] = {}

    def receive() -> None:
        started = time.monotonic()
        result["response"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        result["waited"] = time.monotonic() - started

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.3)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    thread.join(25)
    assert result["response"]["Messages"][0]["Body"] == "wake up"
    assert result["waited"] < 20, "answered on arrival, not at the end of the wait"


def test_empty_receive_waits_for_the_queue_default(sqs: Any) -> None:
    url = new_queue(sqs, "empty", ReceiveMessageWaitTimeSeconds="1")
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert time.monotonic() - started >= 0.9, "ReceiveMessageWaitTimeSeconds applies when WaitTimeSeconds is absent"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_delay_seconds(sqs: Any) -> None:
    url = new_queue(sqs, "delay")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"] == {"ApproximateNumberOfMessagesDelayed": "1"}
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]["Body"] == "later"


def test_redrive_to_dead_letter_queue_after_max_receive_count(sqs: Any) -> None:
    dlq_url = new_queue(sqs, "dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = new_queue(sqs, "src", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    src_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                        ["Attributes"]["RedrivePolicy"])
    assert policy == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    sqs.send_message(QueueUrl=url, MessageBody="poison", MessageAttributes={
        "MyAttribute": {"DataType": "String", "StringValue": "foobar"}})
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["Body"] == "poison"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0), "third receive moves it"
    moved = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"], MessageAttributeNames=["All"])
    msg = moved["Messages"][0]
    assert msg["Body"] == "poison"
    assert msg["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    assert msg["Attributes"]["ApproximateReceiveCount"] == "3"
    assert msg["MessageAttributes"] == {"MyAttribute": {"DataType": "String", "StringValue": "foobar"}}
    assert msg["MD5OfMessageAttributes"] == "adb59cd4678ea5a855436b949cd07ab6"  # as AWS recorded
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [url]
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn + "-missing", "maxReceiveCount": 1})})
    assert error_of(exc)["Code"] == "InvalidParameterValue"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
    assert "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_batches_and_batch_errors(sqs: Any) -> None:
    url = new_queue(sqs, "batch", MaximumMessageSize="1024")
    result = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "small", "MessageBody": "a"},
        {"Id": "big", "MessageBody": "x" * 1025},
        {"Id": "attrs", "MessageBody": "b", "MessageAttributes": {"k": {"DataType": "Number", "StringValue": "1"}}}])
    assert [e["Id"] for e in result["Successful"]] == ["small", "attrs"]
    assert result["Successful"][0]["MD5OfMessageBody"] == hashlib.md5(b"a").hexdigest()
    assert result["Failed"] == [{"Id": "big", "SenderFault": True, "Code": "InvalidParameterValue",
                                 "Message": "One or more parameters cannot be validated. Reason: Message must be "
                                            "shorter than 1024 bytes."}]
    cases = [
        ([{"Id": str(i), "MessageBody": "x"} for i in range(20)], "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
         "Maximum number of entries per request are 10. You have sent 20."),
        ([{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}],
         "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", None),
        ([{"Id": "invalid:id", "MessageBody": "x"}], "AWS.SimpleQueueService.InvalidBatchEntryId",
         "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 "
         "letters long."),
        ([], "AWS.SimpleQueueService.EmptyBatchRequest", None),
    ]
    for entries, code, message in cases:
        with pytest.raises(ClientError) as exc:
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert error_of(exc)["Code"] == code
        if message:
            assert error_of(exc)["Message"] == message
    with pytest.raises(ClientError) as exc:
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": "x"} for i in range(11)])
    assert error_of(exc)["Code"] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    messages = drain(sqs, url, 2)
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": f"m{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    assert len(deleted["Successful"]) == 2 and "Failed" not in deleted


def test_purge_and_successive_purge(sqs: Any) -> None:
    url = new_queue(sqs, "purge")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as exc:
        sqs.purge_queue(QueueUrl=url)
    assert error_of(exc)["Code"] == "AWS.SimpleQueueService.PurgeQueueInProgress"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# -- FIFO ------------------------------------------------------------------------------------------

def test_fifo_ordering_groups_and_deduplication(sqs: Any) -> None:
    url = new_queue(sqs, "fifo", FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout="30")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["FifoQueue"], attrs["ContentBasedDeduplication"], attrs["DeduplicationScope"],
            attrs["FifoThroughputLimit"]) == ("true", "true", "queue", "perQueue")
    seqs = []
    for body, group in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B")]:
        seqs.append(int(sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)["SequenceNumber"]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    # Content-based deduplication: the same body is accepted but not delivered twice.
    dup = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="A")
    assert dup["SequenceNumber"] == str(seqs[0])
    # Explicit ids deduplicate across groups too (scope "queue").
    sqs.send_message(QueueUrl=url, MessageBody="c1", MessageGroupId="C", MessageDeduplicationId="d-1")
    sqs.send_message(QueueUrl=url, MessageBody="c1-again", MessageGroupId="D", MessageDeduplicationId="d-1")

    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first] == ["a1", "b1"]
    assert first[0]["Attributes"]["MessageGroupId"] == "A"
    assert first[0]["Attributes"]["SequenceNumber"] == str(seqs[0])
    assert first[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"a1").hexdigest()
    # Groups A and B are in flight: only C remains receivable.
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["c1"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    # Deleting A's head releases the rest of A, in order.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["a2", "a3"]
    # An expired FIFO receipt handle cannot delete (AWS: "The receipt handle has expired").
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"], VisibilityTimeout=0)
    with pytest.raises(ClientError) as exc:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"])
    assert error_of(exc)["Message"].endswith("Reason: The receipt handle has expired.")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["b1", "b2"]


def test_fifo_validation(sqs: Any) -> None:
    url = new_queue(sqs, "fifov", FifoQueue="true")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert error_of(exc)["Message"] == ("The queue should either have ContentBasedDeduplication enabled or "
                                        "MessageDeduplicationId provided explicitly")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert (error_of(exc)["Code"], error_of(exc)["QueryErrorCode"]) == ("MissingParameter",
                                                                        "MissingRequiredParameterException")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d",
                         DelaySeconds=2)
    assert error_of(exc)["Message"] == ("Value 2 for parameter DelaySeconds is invalid. Reason: The request include "
                                        "parameter that is not valid for this queue type.")
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x", "MessageDeduplicationId": "d"}])
    assert (error_of(exc)["Code"], error_of(exc)["Message"]) == (
        "InvalidParameterValue", "The request must contain the parameter MessageGroupId.")
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName=unique("std"), Attributes={"ContentBasedDeduplication": "true"})
    assert error_of(exc)["Message"] == "Unknown Attribute ContentBasedDeduplication."
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert error_of(exc)["Message"] == ("Invalid value for the parameter FifoQueue. Reason: Modifying queue type is "
                                        "not supported.")


# -- protocols and clients -------------------------------------------------------------------------

def test_query_protocol_as_older_sdks_speak_it(sqs_query: Any, sqs: Any) -> None:
    url = sqs_query.create_queue(QueueName=unique("query"), Attributes={"VisibilityTimeout": "5"},
                                 tags={"team": "x"})["QueueUrl"]
    attributes = {"a": {"DataType": "String", "StringValue": "x"}, "b": {"DataType": "Binary", "BinaryValue": b"\x01"}}
    sent = sqs_query.send_message(QueueUrl=url, MessageBody="line\r\n<xml & stuff>", MessageAttributes=attributes)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    batch = sqs_query.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "1", "MessageBody": "one"}, {"Id": "2", "MessageBody": "two", "MessageAttributes": attributes}])
    assert [e["Id"] for e in batch["Successful"]] == ["1", "2"]
    got = sqs_query.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                    MessageAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["line\r\n<xml & stuff>", "one", "two"]
    assert got[0]["MessageAttributes"] == attributes and got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    assert sqs_query.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "5"}
    assert sqs_query.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "x"}
    result = sqs_query.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": f"m{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert len(result["Successful"]) == 3
    # The same queue through the JSON protocol.
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0"
    with pytest.raises(ClientError) as exc:
        sqs_query.get_queue_url(QueueName=unique("missing"))
    # Recorded from AWS for the query protocol.
    assert error_of(exc) == {"Type": "Sender", "Code": "AWS.SimpleQueueService.NonExistentQueue",
                             "Message": "The specified queue does not exist for this wsdl version.", "Detail": None}
    with pytest.raises(ClientError) as exc:
        sqs_query.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_of(exc)["Code"] == "InvalidParameterValue"


def test_form_post_to_the_queue_url(server: Any, sqs: Any) -> None:
    """Old SDKs POST `Action=SendMessage` to the queue URL itself, without a QueueUrl parameter."""
    url = new_queue(sqs, "path")
    path = urllib.parse.urlsplit(url).path
    body = urllib.parse.urlencode({"Action": "SendMessage", "Version": "2012-11-05", "MessageBody": "via path"})
    request = AWSRequest("POST", server.endpoint + path, data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sqs", REGION).add_auth(request)
    response = httpx.post(server.endpoint + path, content=body, headers=dict(request.headers.items()))
    assert response.status_code == 200, response.text
    assert "<SendMessageResponse" in response.text and "<MessageId>" in response.text
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "via path"


def test_aws_cli(server: Any) -> None:
    name = unique("cli")
    url = aws_cli(server, "sqs", "create-queue", "--queue-name", name)["QueueUrl"]
    aws_cli(server, "sqs", "send-message", "--queue-url", url, "--message-body", "from the cli")
    got = aws_cli(server, "sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "1")
    assert got["Messages"][0]["Body"] == "from the cli"
    handle = got["Messages"][0]["ReceiptHandle"]
    aws_cli(server, "sqs", "delete-message", "--queue-url", url, "--receipt-handle", handle)
    attrs = aws_cli(server, "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert url in aws_cli(server, "sqs", "list-queues", "--queue-name-prefix", name)["QueueUrls"]
    aws_cli(server, "sqs", "delete-queue", "--queue-url", url)


FUNCTION_CODE = """
import boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=event["queue"])["QueueUrl"]
    return sqs.send_message(QueueUrl=url, MessageBody="from " + context.function_name)["MessageId"]
"""


def test_function_calls_sqs_with_no_configuration(lam: Any, sqs: Any) -> None:
    url = new_queue(sqs, "fromfn")
    name = create_function(lam, FUNCTION_CODE, Timeout=30)
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"queue": url.rsplit("/", 1)[1]}))
    payload = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, payload
    msg = sqs.receive_message(QueueUrl=url, AttributeNames=["SenderId"])["Messages"][0]
    assert msg["Body"] == f"from {name}" and msg["MessageId"] == payload
    assert msg["Attributes"]["SenderId"] != "000000000000", "sent with the function's role credentials"


# -- durability ------------------------------------------------------------------------------------

def test_messages_survive_kill_9(fresh_server: Any) -> None:
    fresh_server.start()
    sqs = fresh_server.client("sqs")
    url = sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sent = {sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(20)}
    sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="once")
    in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)["Messages"]
    assert len(in_flight) == 5
    fresh_server.stop(signal.SIGKILL)
    fresh_server.start()
    sqs = fresh_server.client("sqs")
    got = {m["MessageId"] for m in drain(sqs, url, 20)}
    assert got == sent, "every accepted message is still there, in-flight ones after their timeout"
    # The deduplication window survives too.
    sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="once")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]] == ["f"]
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)
    query_sqs_client(fresh_server).get_queue_url(QueueName="durable")


def test_python_api_for_destinations_and_dead_letter_queues(tmp_path: Any) -> None:
    """What the async invocation path calls: send by ARN (or URL), publish by topic ARN."""
    import asyncio

    from lambdad.config import resolve
    from lambdad.errors import SnsError, SqsError
    from lambdad.services.sns.topics import SnsService
    from lambdad.services.sqs.queues import SqsService
    from lambdad.store import SqliteStore

    async def scenario() -> None:
        store = SqliteStore(tmp_path / "api.db")
        config = resolve({}, {})
        sqs = SqsService(store, config)
        sns = SnsService(store, config, sqs)
        dlq = sqs.create_queue("000000000000", "us-east-1", "fn-dlq")
        attributes = {"RequestID": {"DataType": "String", "StringValue": "req-1"},
                      "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                      "ErrorMessage": {"DataType": "String", "StringValue": "boom"}}
        result = await sqs.send_message(dlq.arn, '{"original": "event"}', attributes)
        assert result.md5_attributes == md5_of_attributes(attributes)
        assert sqs.queue_exists(dlq.arn) and sqs.queue_exists(dlq.url) and not sqs.queue_exists(dlq.arn + "x")
        got = await sqs.receive(sqs.get(dlq.arn), message_attribute_names=["All"])
        assert got[0]["Body"] == '{"original": "event"}' and got[0]["MessageAttributes"] == attributes
        with pytest.raises(SqsError) as exc:
            await sqs.send_message(dlq.arn + "-missing", "x")
        assert exc.value.json_type == "QueueDoesNotExist"

        topic = sns.create_topic("000000000000", "us-east-1", "destination")
        sub = sns.subscribe(topic, "sqs", dlq.arn, "000000000000", {"RawMessageDelivery": "true"})
        assert sub.arn.startswith(topic.arn)
        published = await sns.publish(topic.arn, '{"record": 1}', attributes=attributes)
        got = await sqs.receive(dlq, message_attribute_names=["All"], wait_seconds=1)
        assert got[0]["Body"] == '{"record": 1}' and got[0]["MessageAttributes"] == attributes
        assert published["MessageId"]
        with pytest.raises(SnsError) as sns_exc:
            await sns.publish(topic.arn + "-missing", "x")
        assert sns_exc.value.code == "NotFound"
        store.close()

    asyncio.run(scenario())
