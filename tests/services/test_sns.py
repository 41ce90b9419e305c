"""Embedded SNS through boto3 and the AWS CLI: topics, subscriptions, delivery to SQS (envelope and
raw), filter policies, HTTP endpoints (confirmation, retries, kill -9), Lambda, FIFO."""

from __future__ import annotations

import hashlib
import json
import queue
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_function, unique
from tests.services.conftest import aws_cli


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return exc.value.response["Error"]


class Endpoint:
    """A tiny HTTP endpoint on loopback that records what SNS POSTs to it."""

    def __init__(self) -> None:
        self.requests: queue.Queue[tuple[dict[str, str], str]] = queue.Queue()
        self.statuses: list[int] = []  # answers to give, in order; then 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                status = outer.statuses.pop(0) if outer.statuses else 200
                outer.requests.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns-endpoint"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 15) -> tuple[dict[str, str], str]:
        return self.requests.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    yield ep
    ep.close()


def topic(sns: Any, **attributes: str) -> str:
    name = unique("topic") + (".fifo" if attributes.get("FifoTopic") == "true" else "")
    return sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]


def queue_with_arn(sqs: Any, fifo: bool = False) -> tuple[str, str]:
    name = unique("subq") + (".fifo" if fifo else "")
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def bodies(sqs: Any, url: str, expected: int, wait: int = 2) -> list[str]:
    out: list[str] = []
    deadline = time.monotonic() + 10
    while len(out) < expected and time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get("Messages", [])
        for m in msgs:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not msgs and expected == 0:
            break
    return out


# -- topics ----------------------------------------------------------------------------------------

def test_topic_crud_and_attributes(sns: Any) -> None:
    name = unique("crud")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Test"})["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == arn, "idempotent"
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Test"})["TopicArn"] == arn
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert set(attrs) == {"DisplayName", "EffectiveDeliveryPolicy", "Owner", "Policy", "SubscriptionsConfirmed",
                          "SubscriptionsDeleted", "SubscriptionsPending", "TopicArn"}
    assert attrs["DisplayName"] == "Test" and attrs["Owner"] == "000000000000"
    assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == arn
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Other")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Other"
    assert {"TopicArn": arn} in sns.list_topics()["Topics"]
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name=name, Attributes={"DisplayName": "Different"})
    assert error_of(exc)["Message"] == "Invalid parameter: Attributes Reason: Topic already exists with different " \
                                       "attributes"
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="FifoTopic", AttributeValue="false")
    assert error_of(exc)["Message"] == "Invalid parameter: AttributeName"
    for bad in ("", "a" * 257, "with space", "name.fifo"):
        with pytest.raises(ClientError) as exc:
            sns.create_topic(Name=bad)
        assert (error_of(exc)["Code"], error_of(exc)["Message"]) == ("InvalidParameter",
                                                                     "Invalid parameter: Topic Name")
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # idempotent
    with pytest.raises(ClientError) as exc:
        sns.get_topic_attributes(TopicArn=arn)
    assert error_of(exc) == {"Type": "Sender", "Code": "NotFound", "Message": "Topic does not exist"}
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        sns.get_topic_attributes(TopicArn="not-an-arn")
    assert error_of(exc)["Message"] == "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1"


def test_tags(sns: Any) -> None:
    arn = sns.create_topic(Name=unique("tags"), Tags=[{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}])[
        "TopicArn"]
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k1", "Value": "v1"},
                                                                   {"Key": "k2", "Value": "v2"}]
    sns.untag_resource(ResourceArn=arn, TagKeys=["k1"])
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k2", "Value": "v2b"}])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k2", "Value": "v2b"}]
    with pytest.raises(ClientError) as exc:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}])
    assert error_of(exc)["Message"] == "Invalid parameter: Duplicated keys are not allowed."
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as exc:
        sns.list_tags_for_resource(ResourceArn=arn)
    assert error_of(exc)["Code"] == "ResourceNotFound"


# -- subscriptions and SQS delivery ----------------------------------------------------------------

def test_sqs_delivery_envelope_and_raw(sns: Any, sqs: Any) -> None:
    arn = topic(sns)
    url, queue_arn = queue_with_arn(sqs)
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs | {} == {"ConfirmationWasAuthenticated": "true", "Endpoint": queue_arn, "Owner": "000000000000",
                          "PendingConfirmation": "false", "Protocol": "sqs", "RawMessageDelivery": "false",
                          "SubscriptionArn": sub, "SubscriptionPrincipal": attrs["SubscriptionPrincipal"],
                          "TopicArn": arn}
    assert sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"] == sub, "idempotent"
    message_id = sns.publish(TopicArn=arn, Message="Test msg \u00f6\u00a7", Subject="subj", MessageAttributes={
        "attr1": {"DataType": "Number", "StringValue": "100.12"},
        "bin": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"}})["MessageId"]
    envelope = json.loads(bodies(sqs, url, 1)[0])
    assert list(envelope) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                              "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == message_id
    assert (envelope["TopicArn"], envelope["Subject"], envelope["Message"]) == (arn, "subj", "Test msg \u00f6\u00a7")
    assert envelope["MessageAttributes"] == {"attr1": {"Type": "Number", "Value": "100.12"},
                                             "bin": {"Type": "Binary", "Value": "AgME"}}
    assert envelope["UnsubscribeURL"].endswith(f"/?Action=Unsubscribe&SubscriptionArn={sub}")
    assert envelope["Timestamp"].endswith("Z") and envelope["SignatureVersion"] == "1"

    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true")
    sns.publish(TopicArn=arn, Message="Test msg", MessageAttributes={
        "attr1": {"DataType": "Number", "StringValue": "99.12"}})
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=2)["Messages"][0]
    assert msg["Body"] == "Test msg"
    assert msg["MessageAttributes"] == {"attr1": {"DataType": "Number", "StringValue": "99.12"}}
    assert msg["MD5OfMessageAttributes"] == "d302007e9aa062660afc85fd0a482472"  # as AWS recorded
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])

    # MessageStructure=json: the "sqs" entry for SQS subscribers, "default" for the others.
    sns.publish(TopicArn=arn, MessageStructure="json", Message=json.dumps({"default": "d", "sqs": "for sqs"}))
    assert bodies(sqs, url, 1) == ["for sqs"]
    subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert subs == [{"SubscriptionArn": sub, "Owner": "000000000000", "Protocol": "sqs", "Endpoint": queue_arn,
                     "TopicArn": arn}]
    assert any(s["SubscriptionArn"] == sub for s in sns.list_subscriptions()["Subscriptions"])
    sns.unsubscribe(SubscriptionArn=sub)
    sns.unsubscribe(SubscriptionArn=sub)  # idempotent
    sns.publish(TopicArn=arn, Message="after unsubscribe")
    assert bodies(sqs, url, 0, wait=1) == []
    with pytest.raises(ClientError) as exc:
        sns.get_subscription_attributes(SubscriptionArn=sub)
    assert error_of(exc) == {"Type": "Sender", "Code": "NotFound", "Message": "Subscription does not exist"}


def test_subscription_validation(sns: Any, sqs: Any) -> None:
    arn = topic(sns)
    _, queue_arn = queue_with_arn(sqs)
    cases = [
        ({"Protocol": "test-protocol", "Endpoint": "x"},
         "Invalid parameter: Amazon SNS does not support this protocol string: test-protocol"),
        ({"Protocol": "sqs", "Endpoint": "http://localhost/000000000000/q"}, "Invalid parameter: SQS endpoint ARN"),
        ({"Protocol": "sqs", "Endpoint": queue_arn, "Attributes": {"RawMessageDelivery": "wrongvalue"}},
         "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [wrongvalue]. Must be true or "
         "false."),
        ({"Protocol": "sqs", "Endpoint": queue_arn, "Attributes": {"FilterPolicy": json.dumps({"key": [["v"]]})}},
         "Invalid parameter: Attributes Reason: FilterPolicy: Match value must be String, number, true, false, or "
         "null"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=arn, **kwargs)
        assert (error_of(exc)["Code"], error_of(exc)["Message"]) == ("InvalidParameter", message)
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn,
                        Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    assert error_of(exc)["Message"] == ("Invalid parameter: Attributes Reason: Subscription already exists with "
                                        "different attributes")
    for name, value, message in [
            ("FakeAttribute", "x", "Invalid parameter: AttributeName"),
            ("RawMessageDelivery", "test-ValUe",
             "Invalid parameter: RawMessageDelivery: Invalid value [test-ValUe]. Must be true or false."),
            ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "fake-arn"}),
             "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
            ("FilterPolicyScope", "RandomValue", "Invalid parameter: FilterPolicyScope: Invalid value [RandomValue]. "
                                                 "Please use either MessageBody or MessageAttributes"),
            ("FilterPolicy", json.dumps({"object": {"key": ["v"]}}),
             "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy")]:
        with pytest.raises(ClientError) as exc:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=name, AttributeValue=value)
        assert error_of(exc)["Message"] == message
    for bad, message in [("foo", "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, "
                                 "not 1"),
                         (arn, "Invalid parameter: SubscriptionId")]:
        with pytest.raises(ClientError) as exc:
            sns.unsubscribe(SubscriptionArn=bad)
        assert error_of(exc)["Message"] == message
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn + "-missing", Protocol="sqs", Endpoint=queue_arn)
    assert error_of(exc)["Code"] == "NotFound"


@pytest.mark.parametrize(("kwargs", "code", "message"), [
    ({"Message": ""}, "InvalidParameter", "Invalid parameter: Empty message"),
    ({"Message": "x", "Subject": ""}, "InvalidParameter", "Invalid parameter: Subject"),
    ({"Message": "x" * 262145}, "InvalidParameter", "Invalid parameter: Message too long"),
    ({"Message": json.dumps({"sqs": "x"}), "MessageStructure": "json"}, "InvalidParameter",
     "Invalid parameter: Message Structure - No default entry in JSON message body"),
    ({"Message": "{not json", "MessageStructure": "json"}, "InvalidParameter",
     "Invalid parameter: Message Structure - JSON message body failed to parse"),
    ({"Message": "x", "MessageAttributes": {"attr1": {"DataType": "String", "StringValue": ""}}},
     "ParameterValueInvalid", "The message attribute 'attr1' must contain non-empty message attribute value for "
                              "message attribute type 'String'."),
    ({"Message": "x", "MessageAttributes": {"attr1": {"DataType": "String", "BinaryValue": b"x"}}},
     "ParameterValueInvalid", "The message attribute 'attr1' with type 'String' must use field 'String'."),
    ({"Message": "x", "MessageAttributes": {"attr1": {"DataType": "Integer", "StringValue": "1"}}},
     "ParameterValueInvalid", "The message attribute 'attr1' has an invalid message attribute type, the set of "
                              "supported type prefixes is Binary, Number, and String."),
    ({"Message": "x", "MessageDeduplicationId": "d"}, "InvalidParameter",
     "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that "
     "is not valid for this topic type"),
])
def test_publish_validation(sns: Any, kwargs: dict[str, Any], code: str, message: str) -> None:
    arn = topic(sns)
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=arn, **kwargs)
    assert (error_of(exc)["Code"], error_of(exc)["Message"]) == (code, message)


def test_publish_batch(sns: Any, sqs: Any) -> None:
    arn = topic(sns)
    url, queue_arn = queue_with_arn(sqs)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    result = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": str(i), "Message": f"m{i}", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(i)}}}
        for i in range(5)])
    assert [e["Id"] for e in result["Successful"]] == ["0", "1", "2", "3", "4"] and result["Failed"] == []
    assert sorted(bodies(sqs, url, 5)) == ["m0", "m1", "m2", "m3", "m4"]
    cases = [
        ([{"Id": str(i), "Message": "x"} for i in range(11)], "TooManyEntriesInBatchRequest",
         "The batch request contains more entries than permissible."),
        ([{"Id": "a", "Message": "x"}, {"Id": "a", "Message": "y"}], "BatchEntryIdsNotDistinct",
         "Two or more batch entries in the request have the same Id."),
        ([{"Id": "message.id", "Message": "x"}], "InvalidBatchEntryId",
         "The Id of a batch entry in the batch request contains an impermissible character: message.id"),
        ([{"Id": "a" * 81, "Message": "x"}], "InvalidBatchEntryId",
         "The Id of a batch entry in the batch request is too long: " + "a" * 81),
        ([{"Id": "a", "Message": "x" * 200000}, {"Id": "b", "Message": "y" * 100000}], "BatchRequestTooLong",
         "The length of all the messages put together is more than the limit."),
    ]
    for entries, code, message in cases:
        with pytest.raises(ClientError) as exc:
            sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
        assert (error_of(exc)["Code"], error_of(exc)["Message"]) == (code, message)
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(TopicArn=arn + "-missing", PublishBatchRequestEntries=[{"Id": "1", "Message": "x"}])
    assert error_of(exc)["Code"] == "NotFound"


def test_filter_policies_end_to_end(sns: Any, sqs: Any) -> None:
    arn = topic(sns)
    attr_url, attr_arn = queue_with_arn(sqs)
    body_url, body_arn = queue_with_arn(sqs)
    all_url, all_arn = queue_with_arn(sqs)
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=attr_arn, Attributes={
        "FilterPolicy": json.dumps({"attr1": [{"numeric": [">", 0, "<=", 100]}]})})["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert (json.loads(attrs["FilterPolicy"]), attrs["FilterPolicyScope"]) == (
        {"attr1": [{"numeric": [">", 0, "<=", 100]}]}, "MessageAttributes")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=body_arn, Attributes={
        "FilterPolicyScope": "MessageBody", "RawMessageDelivery": "true",
        "FilterPolicy": json.dumps({"object": {"key": [{"prefix": "auto-"}]}})})
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=all_arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=arn, Message="no attributes")
    sns.publish(TopicArn=arn, Message="in range", MessageAttributes={"attr1": {"DataType": "Number",
                                                                               "StringValue": "99"}})
    sns.publish(TopicArn=arn, Message="out of range", MessageAttributes={"attr1": {"DataType": "Number",
                                                                                   "StringValue": "111"}})
    sns.publish(TopicArn=arn, Message=json.dumps({"object": {"key": "auto-test"}}))
    sns.publish(TopicArn=arn, Message=json.dumps({"object": {"key": "manual"}}))
    assert [json.loads(b)["Message"] for b in bodies(sqs, attr_url, 1)] == ["in range"]
    assert bodies(sqs, body_url, 1) == [json.dumps({"object": {"key": "auto-test"}})]
    assert len(bodies(sqs, all_url, 5)) == 5
    assert bodies(sqs, attr_url, 0, wait=0) == [] and bodies(sqs, body_url, 0, wait=0) == []
    # Removing the policy delivers everything again.
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue="")
    sns.publish(TopicArn=arn, Message="unfiltered")
    assert [json.loads(b)["Message"] for b in bodies(sqs, attr_url, 1)] == ["unfiltered"]


def test_subscription_dead_letter_queue_when_the_queue_is_gone(sns: Any, sqs: Any) -> None:
    arn = topic(sns)
    url, queue_arn = queue_with_arn(sqs)
    dlq_url, dlq_arn = queue_with_arn(sqs)
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
    sqs.delete_queue(QueueUrl=url)
    sns.publish(TopicArn=arn, Message="test_dlq_after_sqs_endpoint_deleted")
    envelope = json.loads(bodies(sqs, dlq_url, 1)[0])
    assert envelope["Message"] == "test_dlq_after_sqs_endpoint_deleted" and envelope["TopicArn"] == arn


# -- FIFO ------------------------------------------------------------------------------------------

def test_fifo_topic_to_fifo_queue(sns: Any, sqs: Any) -> None:
    arn = topic(sns, FifoTopic="true", ContentBasedDeduplication="true")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attrs["FifoTopic"], attrs["ContentBasedDeduplication"]) == ("true", "true")
    url, queue_arn = queue_with_arn(sqs, fifo=True)
    _, standard_arn = queue_with_arn(sqs)
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic(sns), Protocol="sqs", Endpoint=queue_arn)
    assert "FIFO SQS Queues can not be subscribed to standard SNS topics" in error_of(exc)["Message"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=standard_arn)
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=arn, Message="x")
    assert error_of(exc)["Message"] == "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    first = sns.publish(TopicArn=arn, Message="Test", MessageGroupId="message-group-id-1")
    again = sns.publish(TopicArn=arn, Message="Test", MessageGroupId="message-group-id-1")
    assert again["MessageId"] == first["MessageId"], "deduplicated at the topic"
    sns.publish(TopicArn=arn, Message="Second", MessageGroupId="message-group-id-1")
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                               WaitTimeSeconds=2)["Messages"]
    assert [json.loads(m["Body"])["Message"] for m in msgs] == ["Test", "Second"]
    envelope = json.loads(msgs[0]["Body"])
    assert envelope["SequenceNumber"] == first["SequenceNumber"] and "Signature" not in envelope
    assert msgs[0]["Attributes"]["MessageGroupId"] == "message-group-id-1"
    assert msgs[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"Test").hexdigest()
    no_dedup = topic(sns, FifoTopic="true")
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=no_dedup, Message="x", MessageGroupId="g")
    assert error_of(exc)["Message"] == ("Invalid parameter: The topic should either have ContentBasedDeduplication "
                                        "enabled or MessageDeduplicationId provided explicitly")


# -- HTTP endpoints --------------------------------------------------------------------------------

def test_http_subscription_confirmation_delivery_and_unsubscribe(sns: Any, server: Any, endpoint: Endpoint) -> None:
    arn = topic(sns)
    assert sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url)["SubscriptionArn"] == \
        "pending confirmation"
    headers, body = endpoint.next()
    confirmation = json.loads(body)
    assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["TopicArn"] == arn
    assert confirmation["Message"] == (f"You have chosen to subscribe to the topic {arn}.\nTo confirm the "
                                       "subscription, visit the SubscribeURL included in this message.")
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-topic-arn"] == arn and headers["x-amz-sns-message-id"] == confirmation["MessageId"]
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    pending = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert pending[0]["SubscriptionArn"] == "PendingConfirmation"
    sns.publish(TopicArn=arn, Message="not yet confirmed")
    with pytest.raises(ClientError) as exc:
        sns.confirm_subscription(TopicArn=arn, Token="not-the-token")
    assert error_of(exc)["Message"] == "Invalid parameter: Token"
    # Visiting the SubscribeURL (an unsigned GET, as an endpoint would) confirms it.
    url = confirmation["SubscribeURL"].replace("http://localhost:", "http://127.0.0.1:")
    response = httpx.get(url)
    assert response.status_code == 200 and "<ConfirmSubscriptionResult>" in response.text
    sub = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"][0]["SubscriptionArn"]
    assert sub.startswith(arn + ":")
    assert sns.confirm_subscription(TopicArn=arn, Token=confirmation["Token"])["SubscriptionArn"] == sub
    assert sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["PendingConfirmation"] == "false"

    message_id = sns.publish(TopicArn=arn, Message="test_external_http_endpoint")["MessageId"]
    headers, body = endpoint.next()
    notification = json.loads(body)
    assert (notification["Type"], notification["MessageId"], notification["Message"]) == (
        "Notification", message_id, "test_external_http_endpoint")
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-subscription-arn"] == sub and headers["x-amz-sns-topic-arn"] == arn
    assert endpoint.requests.empty(), "the message published before confirmation was not delivered"

    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true")
    sns.publish(TopicArn=arn, Message="raw body")
    headers, body = endpoint.next()
    assert body == "raw body" and headers["x-amz-sns-rawdelivery"] == "true"

    sns.unsubscribe(SubscriptionArn=sub)
    headers, body = endpoint.next()
    assert json.loads(body)["Type"] == "UnsubscribeConfirmation"
    assert headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"


def test_http_delivery_retries_with_the_delivery_policy(sns: Any, endpoint: Endpoint) -> None:
    arn = topic(sns)
    sub = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True)[
        "SubscriptionArn"]
    token = json.loads(endpoint.next()[1])["Token"]
    sns.confirm_subscription(TopicArn=arn, Token=token)
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 2}}))
    endpoint.statuses = [500, 503]
    sns.publish(TopicArn=arn, Message="eventually")
    attempts = [endpoint.next()[1] for _ in range(3)]
    assert [json.loads(b)["Message"] for b in attempts] == ["eventually"] * 3
    assert endpoint.statuses == []


def test_http_delivery_survives_kill_9(fresh_server: Any, endpoint: Endpoint) -> None:
    fresh_server.start()
    sns = fresh_server.client("sns")
    arn = sns.create_topic(Name="durable")["TopicArn"]
    sub = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True,
                        Attributes={"DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
                            "minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 20}})})["SubscriptionArn"]
    sns.confirm_subscription(TopicArn=arn, Token=json.loads(endpoint.next()[1])["Token"])
    endpoint.statuses = [500] * 1000  # the endpoint is down
    sns.publish(TopicArn=arn, Message="accepted before the crash")
    endpoint.next()  # a failed attempt
    fresh_server.stop(signal.SIGKILL)
    endpoint.statuses = []
    while not endpoint.requests.empty():
        endpoint.requests.get()
    fresh_server.start()
    headers, body = endpoint.next()
    assert json.loads(body)["Message"] == "accepted before the crash"
    assert headers["x-amz-sns-subscription-arn"] == sub


# -- Lambda ----------------------------------------------------------------------------------------

RECORDER = """
import json, boto3

def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=boto3.client("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"],
                                     MessageBody=json.dumps(event))
"""


def test_lambda_subscription_receives_the_sns_event(sns: Any, sqs: Any, lam: Any) -> None:
    url, _ = queue_with_arn(sqs)
    name = create_function(lam, f"QUEUE = {url.rsplit('/', 1)[1]!r}\n" + RECORDER, Timeout=30)
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    arn = topic(sns)
    sub = sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=function_arn)["SubscriptionArn"]
    message_id = sns.publish(TopicArn=arn, Message="Hello world.", Subject="[Subject] Test subject")["MessageId"]
    event = json.loads(bodies(sqs, url, 1, wait=5)[0])
    record = event["Records"][0]
    assert (record["EventSource"], record["EventVersion"], record["EventSubscriptionArn"]) == ("aws:sns", "1.0", sub)
    assert set(record["Sns"]) == {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                                  "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl",
                                  "MessageAttributes"}
    assert (record["Sns"]["MessageId"], record["Sns"]["Message"], record["Sns"]["Subject"]) == (
        message_id, "Hello world.", "[Subject] Test subject")
    assert record["Sns"]["MessageAttributes"] == {}


# -- the AWS CLI -----------------------------------------------------------------------------------

def test_aws_cli(server: Any, sqs: Any) -> None:
    url, queue_arn = queue_with_arn(sqs)
    arn = aws_cli(server, "sns", "create-topic", "--name", unique("cli"))["TopicArn"]
    sub = aws_cli(server, "sns", "subscribe", "--topic-arn", arn, "--protocol", "sqs", "--notification-endpoint",
                  queue_arn, "--attributes", "RawMessageDelivery=true")["SubscriptionArn"]
    assert aws_cli(server, "sns", "publish", "--topic-arn", arn, "--message", "from the cli")["MessageId"]
    assert bodies(sqs, url, 1) == ["from the cli"]
    listed = aws_cli(server, "sns", "list-subscriptions-by-topic", "--topic-arn", arn)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == [sub]
    aws_cli(server, "sns", "delete-topic", "--topic-arn", arn)


def test_http_delivery_gives_up_into_the_subscription_dead_letter_queue(sns: Any, sqs: Any,
                                                                         endpoint: Endpoint) -> None:
    arn = topic(sns)
    dlq_url, dlq_arn = queue_with_arn(sqs)
    sub = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True,
                        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
                                    "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
                                        "minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 1}})})[
        "SubscriptionArn"]
    sns.confirm_subscription(TopicArn=arn, Token=json.loads(endpoint.next()[1])["Token"])
    endpoint.statuses = [500, 500]
    sns.publish(TopicArn=arn, Message="undeliverable")
    assert [json.loads(endpoint.next()[1])["Message"] for _ in range(2)] == ["undeliverable"] * 2
    envelope = json.loads(bodies(sqs, dlq_url, 1, wait=5)[0])
    assert envelope["Message"] == "undeliverable" and sub in envelope["UnsubscribeURL"]
