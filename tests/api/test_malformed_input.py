"""Malformed input is refused with the service's own 400, never a 500 (issue 12, finding 15).

Each request is what an attacker sends past the SDK: botocore with its parameter validation off, or
raw SigV4-signed requests built with botocore's signer, against the real server.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, api_error, create_function, unique

DEEP = 100_000  # far past any recursion limit


def unvalidated(server: Server, service: str) -> Any:
    """A boto3 client that sends whatever it is given (what a hand-written attack would)."""
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY,
                        config=Config(parameter_validation=False, retries={"max_attempts": 0}, read_timeout=60))


def signed(server: Server, service: str, method: str, path: str, body: bytes,
           headers: dict[str, str] | None = None) -> httpx.Response:
    request = AWSRequest(method=method, url=f"{server.endpoint}{path}", data=body, headers=headers or {})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
    return httpx.request(method, f"{server.endpoint}{path}", content=body, headers=dict(request.headers.items()),
                         timeout=60)


def test_set_rule_priorities_member_without_rule_arn_is_a_validation_error(server: Server) -> None:
    elbv2 = unvalidated(server, "elbv2")
    with pytest.raises(ClientError) as exc:
        elbv2.set_rule_priorities(RulePriorities=[{"Priority": 5}])
    assert api_error(exc) == (400, "ValidationError", "1 validation error detected: Value null at "
                              "'rulePriorities.1.member.ruleArn' failed to satisfy constraint: Member must not be null")
    with pytest.raises(ClientError) as exc:
        elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": "arn:aws:elasticloadbalancing:x"}])
    assert api_error(exc)[:2] == (400, "ValidationError")
    assert "'rulePriorities.1.member.priority'" in api_error(exc)[2]


def test_get_log_events_non_string_next_token_is_a_serialization_exception(server: Server) -> None:
    logs = unvalidated(server, "logs")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/aws/lambda/x", logStreamName="s", nextToken=5)
    assert api_error(exc) == (400, "SerializationException", "NUMBER_VALUE can not be converted to a String")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/aws/lambda/x", logStreamName="s", nextToken={"a": 1})
    assert api_error(exc) == (400, "SerializationException", "Start of structure or map found where not expected.")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/aws/lambda/x", logStreamName="s", limit="10")
    assert api_error(exc) == (400, "SerializationException", "STRING_VALUE can not be converted to an Integer")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/aws/lambda/x")
    assert api_error(exc) == (400, "InvalidParameterException", "1 validation error detected: Value null at "
                              "'logStreamName' failed to satisfy constraint: Member must not be null")


def test_wrong_types_in_lambda_bodies_and_nested_required_members(server: Server) -> None:
    lam = unvalidated(server, "lambda")
    with pytest.raises(ClientError) as exc:
        lam.list_functions(MaxItems=2**40)  # an integer out of the model's range (a query string member)
    assert api_error(exc)[0] == 400
    name = create_function(server.client("lambda"), "def handler(e, c):\n    return 1\n")
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Timeout=2**40)
    assert api_error(exc)[:2] == (400, "InvalidRequestContentException")
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, FileSystemConfigs=[{"Arn": "arn:aws:efs:x"}])
    assert api_error(exc) == (400, "ValidationException", "1 validation error detected: Value null at "
                              "'fileSystemConfigs.1.member.localMountPath' failed to satisfy constraint: Member must "
                              "not be null")


def test_sqs_json_wrong_types_are_serialization_exceptions(server: Server) -> None:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique("mal"))["QueueUrl"]
    raw = unvalidated(server, "sqs")
    with pytest.raises(ClientError) as exc:
        raw.receive_message(QueueUrl=url, MaxNumberOfMessages="ten")
    assert api_error(exc) == (400, "SerializationException", "STRING_VALUE can not be converted to an Integer")
    with pytest.raises(ClientError) as exc:
        raw.send_message_batch(QueueUrl=url, Entries=[{"Id": "a"}])
    assert api_error(exc)[:2] == (400, "MissingParameter")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _form(**params: str) -> bytes:
    return urlencode(params).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def test_deeply_nested_json_is_refused_at_every_entry_point(server: Server) -> None:
    """The 7 entry points that answered RecursionError 500s, and the other JSON documents clients send."""
    deep = _nested(DEEP)
    name = create_function(server.client("lambda"), "def handler(e, c):\n    return 1\n")
    topic = server.client("sns").create_topic(Name=unique("deep"))["TopicArn"]
    sub = server.client("sns").subscribe(TopicArn=topic, Protocol="sqs", ReturnSubscriptionArn=True,
                                         Endpoint=f"arn:aws:sqs:{REGION}:000000000000:nowhere")["SubscriptionArn"]
    queue = server.client("sqs").create_queue(QueueName=unique("deep"))["QueueUrl"]
    deep_object = '{"a":' * DEEP + "1" + "}" * DEEP
    cases: list[tuple[str, str, str, str, bytes, dict[str, str], str]] = [
        # (label, service, method, path, body, headers, expected error code)
        ("lambda rest-json body", "lambda", "PUT", f"/2015-03-31/functions/{name}/configuration",
         deep_object.encode(), {"Content-Type": "application/json"}, "InvalidRequestContentException"),
        ("lambda invoke payload", "lambda", "POST", f"/2015-03-31/functions/{name}/invocations", deep.encode(),
         {}, "InvalidRequestContentException"),
        ("logs json", "logs", "POST", "/", deep.encode(),
         {"X-Amz-Target": "Logs_20140328.GetLogEvents", "Content-Type": "application/x-amz-json-1.1"},
         "SerializationException"),
        ("sqs json", "sqs", "POST", "/", deep.encode(),
         {"X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"},
         "SerializationException"),
        ("iam policy document", "iam", "POST", "/",
         _form(Action="CreatePolicy", Version="2010-05-08", PolicyName=unique("deep"), PolicyDocument=deep), FORM,
         "MalformedPolicyDocument"),
        ("sns message structure", "sns", "POST", "/",
         _form(Action="Publish", Version="2010-03-31", TopicArn=topic, MessageStructure="json", Message=deep_object),
         FORM, "InvalidParameter"),
        ("sns filter policy", "sns", "POST", "/",
         _form(Action="SetSubscriptionAttributes", Version="2010-03-31", SubscriptionArn=sub,
               AttributeName="FilterPolicy", AttributeValue=deep_object), FORM, "InvalidParameter"),
        ("sqs query redrive policy", "sqs", "POST", "/",
         _form(Action="SetQueueAttributes", Version="2012-11-05", QueueUrl=queue, **{
             "Attribute.1.Name": "RedrivePolicy", "Attribute.1.Value": deep_object}), FORM,
         "InvalidAttributeValue"),
    ]
    for label, service, method, path, body, headers, code in cases:
        response = signed(server, service, method, path, body, headers)
        assert response.status_code == 400, (label, response.status_code, response.text[:300])
        assert code in response.text or response.headers.get("x-amzn-errortype") == code, (label, response.text[:300])
    assert httpx.get(f"{server.endpoint}/_lambdad/health", timeout=10).status_code == 200
    # The accounts endpoint parses its body too (before: a RecursionError there answered 500); it reads
    # at most 64 KB, so this one is smaller, and still past the interpreter's recursion limit.
    response = signed(server, "lambda", "POST", "/_lambdad/accounts", _nested(20_000).encode(),
                      {"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert json.loads(response.text)["message"] == "The body must be JSON."


def test_malformed_content_sha256_is_a_client_error(server: Server) -> None:
    """Found by the fuzzer: a signed x-amz-content-sha256 that is neither a hash nor a payload mode
    answered 501 NotImplemented (a server fault); it is the client's InvalidArgument (S3's answer)."""
    response = signed(server, "lambda", "GET", "/2015-03-31/functions/", b"", {"X-Amz-Content-SHA256": "not-a-hash"})
    assert response.status_code == 400, response.text
    assert response.headers.get("x-amzn-errortype") == "InvalidArgument"


def test_odd_query_list_indexes_are_ignored_not_a_500(server: Server) -> None:
    """Found by the fuzzer: a flattened index '²' (str.isdigit accepts it, int() does not) or of 5,000
    digits (past int()'s digit limit) was a ValueError 500 in the query codec."""
    for index in ("\u00b2", "1" * 5000):
        response = signed(server, "iam", "POST", "/", _form(**{
            "Action": "TagUser", "Version": "2010-05-08", "UserName": "nobody", f"Tags.member.{index}.Key": "k"}),
            FORM)
        assert 400 <= response.status_code < 500, response.text[:300]
        response = signed(server, "sns", "POST", "/", _form(**{
            "Action": "UntagResource", "Version": "2010-03-31", "ResourceArn": "arn:aws:sns:us-east-1:000000000000:x",
            f"TagKeys.member.{index}": "k"}), FORM)
        assert 400 <= response.status_code < 500, response.text[:300]


def test_logs_limits_and_forged_tokens_are_invalid_parameters(server: Server) -> None:
    """FilterLogEvents with limit 0 was an IndexError 500 (found probing after the fuzzer); a forged
    nextToken naming an id past SQLite's integers an OverflowError 500."""
    logs = unvalidated(server, "logs")
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName="/aws/lambda/x", limit=0)
    assert api_error(exc) == (400, "InvalidParameterException", "1 validation error detected: Value '0' at 'limit' "
                              "failed to satisfy constraint: Member must have value greater than or equal to 1")
    group = "/forged/" + uuid.uuid4().hex
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    for forged in (base64.b64encode(b"id:" + b"9" * 30).decode(), "f/" + "9" * 38, "b/" + "9" * 38):
        with pytest.raises(ClientError) as exc:
            logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=forged)
        assert api_error(exc) == (400, "InvalidParameterException", "The specified nextToken is invalid.")
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, nextToken="9" * 38)
    assert api_error(exc) == (400, "InvalidParameterException", "The specified nextToken is invalid.")
