"""SQS and SNS details AWS clients rely on (issue 21 item 4): a bare queue name as `QueueUrl`, the
Number type's range, what counts against the size limits, and SNS's mobile push / SMS refused in
SNS's own error shape. Driven with boto3 (JSON and query SQS) and the AWS CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.auth.test_authz import _create_account, _parse_keys
from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, unique
from tests.services.conftest import aws_cli


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def aws_fails(server: Server, *args: str) -> str:
    """Run `aws <args>`, which must fail; its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION)
    aws = str(Path(sys.executable).parent / "aws")
    proc = subprocess.run([aws, *args, "--endpoint-url", server.endpoint, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


# -- a bare queue name as QueueUrl -------------------------------------------------------------------
def test_bare_queue_name_is_the_callers_queue(server: Server, sqs: Any, sqs_query: Any) -> None:
    # AWS resolves a QueueUrl that is only a name in the caller's own account (SDK code does this a lot).
    name = unique("bare")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=name, MessageBody="by name, JSON")
    sqs_query.send_message(QueueUrl=name, MessageBody="by name, query")
    aws_cli(server, "sqs", "send-message", "--queue-url", name, "--message-body", "by name, CLI")
    attrs = sqs.get_queue_attributes(QueueUrl=name, AttributeNames=["ApproximateNumberOfMessages", "QueueArn"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "3"
    assert attrs["Attributes"]["QueueArn"].endswith(f":{name}")
    got = aws_cli(server, "sqs", "receive-message", "--queue-url", name, "--max-number-of-messages", "10")
    assert sorted(m["Body"] for m in got["Messages"]) == ["by name, CLI", "by name, JSON", "by name, query"]
    sqs.delete_queue(QueueUrl=name)
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_attributes(QueueUrl=url)
    assert error_of(exc) == (400, "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")


def test_bare_queue_name_never_reaches_another_account(server: Server, sqs: Any) -> None:
    name = unique("mine")
    sqs.create_queue(QueueName=name)
    created = _create_account(server, unique("acct"))
    assert created.returncode == 0, created.stderr
    _, keys = _parse_keys(created.stdout)
    other = server.client("sqs", **keys)
    with pytest.raises(ClientError) as exc:  # the name is looked up in the other account, which has none
        other.send_message(QueueUrl=name, MessageBody="x")
    assert error_of(exc)[:2] == (400, "AWS.SimpleQueueService.NonExistentQueue")
    other.create_queue(QueueName=name)  # the same name in the other account is another queue
    other.send_message(QueueUrl=name, MessageBody="theirs")
    mine = sqs.get_queue_attributes(QueueUrl=name, AttributeNames=["ApproximateNumberOfMessages"])
    assert mine["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_unknown_bare_name(sqs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=unique("nosuch"), MessageBody="x")
    assert error_of(exc) == (400, "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")


# -- the Number type's range --------------------------------------------------------------------------
IN_RANGE = ["0", "-0", "1e126", "-1e126", "1e-128", "-1e-128", "12345678901234567890123456789012345678",
            "1" + "0" * 126, "9.9999999999999999999999999999999999999e125", ".5", "5.", "+7", "1.000000000000"
            "00000000000000000000000000000000000000000000"]
OUT_OF_RANGE = ["1e127", "-1e127", "1" + "0" * 127, "1e-129", "-1e-129", "0." + "0" * 128 + "1",
                "123456789012345678901234567890123456789", "1e999999999"]
NOT_NUMBERS = ["nan", "inf", "-Infinity", "1_000", " 5", "0x10", "1e", "--1", "1.2.3"]


def test_number_attributes_within_the_range_are_accepted(sqs: Any, sqs_query: Any) -> None:
    url = sqs.create_queue(QueueName=unique("num"))["QueueUrl"]
    for client in (sqs, sqs_query):
        for value in IN_RANGE:
            client.send_message(QueueUrl=url, MessageBody="n",
                                MessageAttributes={"n": {"DataType": "Number", "StringValue": value}})


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_number_attributes_beyond_the_range_are_refused(sqs: Any, value: str) -> None:
    url = sqs.create_queue(QueueName=unique("num"))["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="n",
                         MessageAttributes={"big": {"DataType": "Number.int", "StringValue": value}})
    status, code, message = error_of(exc)
    assert (status, code) == (400, "InvalidParameterValue")
    assert message == (f"Value {value} of message (user) attribute 'big' is outside the range of the Number type: "
                       "up to 38 significant digits, magnitude between 10^-128 and 10^+126.")


def test_non_numbers_cannot_be_cast(sqs: Any, sqs_query: Any) -> None:
    url = sqs.create_queue(QueueName=unique("num"))["QueueUrl"]
    for value in NOT_NUMBERS:
        for client in (sqs, sqs_query):
            with pytest.raises(ClientError) as exc:
                client.send_message(QueueUrl=url, MessageBody="n",
                                    MessageAttributes={"Age": {"DataType": "Number", "StringValue": value}})
            assert error_of(exc)[1:] == ("InvalidParameterValue",
                                         "Can't cast the value of message (user) attribute 'Age' to a number.")


def test_number_range_in_a_batch_fails_only_that_entry(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("num"))["QueueUrl"]
    out = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok", "MessageBody": "a", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "42"}}},
        {"Id": "big", "MessageBody": "b", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1e200"}}},
    ])
    assert [s["Id"] for s in out["Successful"]] == ["ok"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in out["Failed"]] == [("big", "InvalidParameterValue", True)]


def test_cli_refuses_an_out_of_range_number(server: Server, sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("num"))["QueueUrl"]
    err = aws_fails(server, "sqs", "send-message", "--queue-url", url, "--message-body", "x", "--message-attributes",
                    '{"n": {"DataType": "Number", "StringValue": "1e130"}}')
    assert "(InvalidParameterValue)" in err and "outside the range of the Number type" in err


# -- body and attributes count together against the size limits --------------------------------------
def test_sqs_counts_attributes_with_the_body(sqs: Any, sqs_query: Any) -> None:
    url = sqs.create_queue(QueueName=unique("size"), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    attributes = {"k": {"DataType": "String", "StringValue": "x"}}  # 1 + 6 + 1 bytes
    sqs.send_message(QueueUrl=url, MessageBody="a" * (1024 - 8), MessageAttributes=attributes)
    for client in (sqs, sqs_query):
        with pytest.raises(ClientError) as exc:
            client.send_message(QueueUrl=url, MessageBody="a" * (1024 - 7), MessageAttributes=attributes)
        assert error_of(exc)[1:] == ("InvalidParameterValue", "One or more parameters are invalid. Reason: Message "
                                                              "must be shorter than 1024 bytes.")


def test_sqs_default_limit_is_one_mebibyte_body_plus_attributes(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("size"))["QueueUrl"]
    attributes = {"k": {"DataType": "Binary", "BinaryValue": b"\x00" * 10}}  # 1 + 6 + 10 bytes
    sqs.send_message(QueueUrl=url, MessageBody="a" * (1048576 - 17), MessageAttributes=attributes)
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="a" * (1048576 - 16), MessageAttributes=attributes)
    assert error_of(exc)[1:] == ("InvalidParameterValue", "One or more parameters are invalid. Reason: Message "
                                                          "must be shorter than 1048576 bytes.")


def test_sns_publish_counts_attributes_with_the_body(sns: Any) -> None:
    topic = sns.create_topic(Name=unique("size"))["TopicArn"]
    attributes = {"key": {"DataType": "String", "StringValue": "v" * 100}}  # 3 + 6 + 100 bytes
    sns.publish(TopicArn=topic, Message="m" * (262144 - 109), MessageAttributes=attributes)
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="m" * (262144 - 108), MessageAttributes=attributes)
    assert error_of(exc) == (400, "InvalidParameter", "Invalid parameter: Message too long")
    entries = [{"Id": "a", "Message": "m" * 131000, "MessageAttributes": attributes},
               {"Id": "b", "Message": "m" * 131000, "MessageAttributes": attributes}]  # bodies alone fit
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    assert error_of(exc)[:2] == (400, "BatchRequestTooLong")
    entries[1]["MessageAttributes"] = {}
    entries[1]["Message"] = "m" * (262144 - 131000 - 109)
    assert len(sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)["Successful"]) == 2


# -- SNS mobile push and SMS: refused in SNS's shape ---------------------------------------------------
def test_mobile_push_operations_are_refused_cleanly(server: Server, sns: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sns.create_platform_application(Name="app", Platform="GCM", Attributes={"PlatformCredential": "k"})
    assert error_of(exc) == (400, "InvalidAction", "CreatePlatformApplication is not available: lambdad's SNS does "
                                                   "not implement mobile push (platform applications and endpoints).")
    with pytest.raises(ClientError) as exc:
        sns.list_platform_applications()
    assert error_of(exc)[:2] == (400, "InvalidAction")
    endpoint = f"arn:aws:sns:{REGION}:000000000000:endpoint/GCM/app/0f3c"
    with pytest.raises(ClientError) as exc:
        sns.get_endpoint_attributes(EndpointArn=endpoint)
    assert error_of(exc)[:2] == (400, "InvalidAction")
    err = aws_fails(server, "sns", "list-platform-applications")
    assert "An error occurred (InvalidAction) when calling the ListPlatformApplications operation: " \
           "ListPlatformApplications is not available: lambdad's SNS does not implement mobile push" in err


def test_sms_operations_are_refused_cleanly(server: Server, sns: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sns.get_sms_attributes()
    assert error_of(exc) == (400, "InvalidAction", "GetSMSAttributes is not available: lambdad's SNS does not "
                                                   "implement SMS.")
    with pytest.raises(ClientError) as exc:
        sns.check_if_phone_number_is_opted_out(phoneNumber="+15555550100")
    assert error_of(exc)[:2] == (400, "InvalidAction")
    with pytest.raises(ClientError) as exc:
        sns.publish(PhoneNumber="+15555550100", Message="hi")
    assert error_of(exc) == (400, "InvalidParameter", "Invalid parameter: PhoneNumber Reason: SMS delivery is not "
                                                      "available on this lambdad server")
    err = aws_fails(server, "sns", "set-sms-attributes", "--attributes", "DefaultSMSType=Transactional")
    assert "(InvalidAction) when calling the SetSMSAttributes operation" in err and "not implement SMS" in err


def test_sms_and_application_subscriptions_are_refused(sns: Any) -> None:
    topic = sns.create_topic(Name=unique("subs"))["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15555550100")
    assert error_of(exc) == (400, "InvalidParameter", "Invalid parameter: Protocol Reason: SMS delivery is not "
                                                      "available on this lambdad server")
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic, Protocol="application",
                      Endpoint=f"arn:aws:sns:{REGION}:000000000000:endpoint/GCM/app/0f3c")
    assert error_of(exc)[:2] == (400, "InvalidParameter")
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
