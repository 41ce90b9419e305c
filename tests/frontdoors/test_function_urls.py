"""Function URLs end to end: config API, Host routing, payload 2.0, response mapping, CORS, auth."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, Server, create_function

ECHO = """
import base64, json

def handler(event, context):
    mode = (event.get("queryStringParameters") or {}).get("mode")
    if mode == "raw":
        return {"statusCode": 201, "headers": {"X-Custom": "yes", "Content-Type": "text/plain"},
                "cookies": ["a=1; Path=/", "b=2"], "body": "created"}
    if mode == "binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if mode == "string":
        return "just text"
    if mode == "fail":
        raise ValueError("boom")
    return {"event": event}
"""


def public_url(lam: Any, name: str, auth: str = "NONE", **kwargs: Any) -> str:
    url = lam.create_function_url_config(FunctionName=name, AuthType=auth, **kwargs)["FunctionUrl"]
    if auth == "NONE":
        lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                           FunctionUrlAuthType="NONE")
        lam.add_permission(FunctionName=name, StatementId="url-invoke", Action="lambda:InvokeFunction",
                           Principal="*", InvokedViaFunctionUrl=True)
    return url


def call(server: Server, url: str, method: str = "GET", path: str = "/", **kwargs: Any) -> httpx.Response:
    host = urlparse(url).netloc
    headers = {"host": host, **kwargs.pop("headers", {})}
    return httpx.request(method, f"{server.endpoint}{path}", headers=headers, timeout=30, **kwargs)


def test_url_config_lifecycle_and_errors(lam: Any) -> None:
    name = create_function(lam, ECHO)
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="BUFFERED")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert ".lambda-url.us-east-1." in created["FunctionUrl"]
    assert "LastModifiedTime" not in created
    with pytest.raises(ClientError) as err:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"
    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"] and got["InvokeMode"] == "BUFFERED"
    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM",
                                             Cors={"AllowOrigins": ["https://example.com"]})
    assert updated["AuthType"] == "AWS_IAM" and updated["Cors"]["AllowOrigins"] == ["https://example.com"]
    assert [c["FunctionUrl"] for c in lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]] == [
        created["FunctionUrl"]]
    with pytest.raises(ClientError) as err:
        lam.update_function_url_config(FunctionName=name, InvokeMode="UNKNOWN")
    assert err.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'UNKNOWN' at 'invokeMode' failed to satisfy constraint: Member must "
        "satisfy enum value set: [RESPONSE_STREAM, BUFFERED]")
    lam.delete_function_url_config(FunctionName=name)
    with pytest.raises(ClientError) as err:
        lam.get_function_url_config(FunctionName=name)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_none_url_requires_public_permission(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    denied = call(server, url)
    assert denied.status_code == 403
    assert denied.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert denied.json()["Message"].startswith("Forbidden. For troubleshooting Function URL authorization issues")
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    assert call(server, url).status_code == 403, "since October 2025 InvokeFunction is needed too"
    lam.add_permission(FunctionName=name, StatementId="url-invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    assert call(server, url).status_code == 200
    lam.remove_permission(FunctionName=name, StatementId="url")
    assert call(server, url).status_code == 403


def test_payload_format_2(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = public_url(lam, name)
    resp = call(server, url, "POST", "/some/path?x=1&x=2&y=z", json={"k": "v"},
                headers={"Cookie": "c1=v1; c2=v2", "X-Test": "Value"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    event = resp.json()["event"]
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path"
    assert event["rawQueryString"] == "x=1&x=2&y=z"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "z"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-test"] == "Value" and "cookie" not in event["headers"]
    assert json.loads(event["body"]) == {"k": "v"} and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "POST" and ctx["http"]["path"] == "/some/path"
    assert ctx["domainPrefix"] == urlparse(url).netloc.split(".")[0]
    assert "authorizer" not in ctx


def test_binary_request_body_is_base64(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = public_url(lam, name)
    blob = bytes(range(256))
    event = call(server, url, "PUT", "/", content=blob,
                 headers={"content-type": "application/octet-stream"}).json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == blob


def test_response_mapping(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = public_url(lam, name)
    raw = call(server, url, path="/?mode=raw")
    assert raw.status_code == 201 and raw.text == "created"
    assert raw.headers["x-custom"] == "yes" and raw.headers["content-type"] == "text/plain"
    assert raw.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
    binary = call(server, url, path="/?mode=binary")
    assert binary.content == bytes(range(256))
    text = call(server, url, path="/?mode=string")
    assert text.text == "just text" and text.headers["content-type"] == "application/json"
    failed = call(server, url, path="/?mode=fail")
    assert failed.status_code == 502


def test_cors(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = public_url(lam, name, Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
                                      "AllowHeaders": ["x-token"], "MaxAge": 300, "ExposeHeaders": ["x-custom"]})
    pre = call(server, url, "OPTIONS", headers={"Origin": "https://app.example",
                                                "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://app.example"
    assert pre.headers["access-control-allow-methods"] == "GET,POST"
    assert pre.headers["access-control-allow-headers"] == "x-token"
    assert pre.headers["access-control-max-age"] == "300"
    actual = call(server, url, headers={"Origin": "https://app.example"})
    assert actual.headers["access-control-allow-origin"] == "https://app.example"
    assert actual.headers["access-control-expose-headers"] == "x-custom"
    other = call(server, url, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_aws_iam_url(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    unsigned = call(server, url)
    assert unsigned.status_code == 403
    request = AWSRequest("GET", url + "signed?q=1", headers={})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", "us-east-1").add_auth(request)
    signed = call(server, url, path="/signed?q=1", headers=dict(request.headers.items()))
    assert signed.status_code == 200, signed.text
    authorizer = signed.json()["event"]["requestContext"]["authorizer"]["iam"]
    assert authorizer["accessKey"] == ACCESS_KEY and authorizer["accountId"] == ACCOUNT
    bad = AWSRequest("GET", url, headers={})
    SigV4Auth(Credentials(ACCESS_KEY, "wrong-secret"), "lambda", "us-east-1").add_auth(bad)
    assert call(server, url, headers=dict(bad.headers.items())).status_code == 403


def test_unknown_url_id(server: Server) -> None:
    resp = call(server, "http://abcdefabcdefabcdefabcdefabcdef12.lambda-url.us-east-1.localhost/")
    assert resp.status_code == 404


def test_permissions_api(lam: Any) -> None:
    name = create_function(lam, ECHO)
    with pytest.raises(ClientError) as err:
        lam.get_policy(FunctionName=name)
    assert err.value.response["Error"]["Message"] == "The resource you requested does not exist."
    added = lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                               Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
                               SourceAccount=ACCOUNT)
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
        "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    with pytest.raises(ClientError) as err:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(ClientError) as err:
        lam.add_permission(FunctionName=name, StatementId="bad", Action="lambda:InvokeFunction", Principal="nobody")
    assert err.value.response["Error"]["Message"] == (
        "The provided principal was invalid. Please check the principal and try again.")
    with pytest.raises(ClientError) as err:
        lam.add_permission(FunctionName=name, StatementId="latest", Action="lambda:InvokeFunction",
                           Principal="*", Qualifier="$LATEST")
    assert err.value.response["Error"]["Message"] == "We currently do not support adding policies for $LATEST."
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert policy["Version"] == "2012-10-17" and [s["Sid"] for s in policy["Statement"]] == ["s3"]
    with pytest.raises(ClientError) as err:
        lam.remove_permission(FunctionName=name, StatementId="nope")
    assert err.value.response["Error"]["Message"] == "Statement nope is not found in resource policy."
    lam.remove_permission(FunctionName=name, StatementId="s3")
    with pytest.raises(ClientError):
        lam.get_policy(FunctionName=name)


def test_url_on_alias_and_after_alias_delete(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    created = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:live"
    for sid, action, extra in (("url", "lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}),
                               ("invoke", "lambda:InvokeFunction", {"InvokedViaFunctionUrl": True})):
        lam.add_permission(FunctionName=name, Qualifier="live", StatementId=sid, Action=action, Principal="*",
                           **extra)
    assert call(server, created["FunctionUrl"]).status_code == 200
    with pytest.raises(ClientError):
        lam.get_function_url_config(FunctionName=name)  # the alias's URL is not $LATEST's
    lam.delete_alias(FunctionName=name, Name="live")
    gone = call(server, created["FunctionUrl"])
    assert gone.status_code == 403  # as AWS answered in test_lambda_url_persists_after_alias_delete
    assert gone.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert gone.json() == {"Message": "Forbidden. For troubleshooting Function URL authorization issues, see: "
                                      "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}


def test_request_context_and_forwarded_headers(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = public_url(lam, name)
    resp = httpx.get(f"{server.endpoint}/a%2Fb/c?q=1", timeout=30, headers=[
        ("Host", urlparse(url).netloc), ("X-Forwarded-For", "10.1.1.1"), ("Authorization", "Bearer t"),
        ("User-Agent", "tests/1"), ("X-Rep", "one"), ("X-Rep", "two")])
    assert resp.headers["x-amzn-requestid"]
    event = resp.json()["event"]
    assert event["rawPath"] == "/a%2Fb/c"
    headers = event["headers"]
    assert headers["authorization"] == "Bearer t", "NONE URLs pass the application's own auth header on"
    assert headers["x-rep"] == "one,two", "repeated headers are comma-joined"
    assert headers["x-forwarded-for"] == "10.1.1.1, 127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert headers["x-amzn-trace-id"].startswith("Root=1-") and "connection" not in headers
    ctx = event["requestContext"]
    assert ctx["accountId"] == "anonymous" and ctx["requestId"] == resp.headers["x-amzn-requestid"]
    assert ctx["http"]["userAgent"] == "tests/1" and ctx["http"]["sourceIp"] == "127.0.0.1"
    assert ctx["routeKey"] == "$default" and ctx["stage"] == "$default"
    assert ctx["domainName"] == urlparse(url).netloc.split(":")[0]
    assert set(event) == {"version", "routeKey", "rawPath", "rawQueryString", "headers", "queryStringParameters",
                          "requestContext", "isBase64Encoded"}


@pytest.mark.parametrize(("returned", "body"), [
    ('{"hello": "world"}', '{"hello": "world"}'), ('"hello"', "hello"), ("3", "3"), ("3.1", "3.1"),
    ("True", "true"), ('["hello", 3, True]', '["hello", 3, true]'),
    ('{"statusCode": 200, "body": "body123"}', "body123")])
def test_plain_returns(server: Server, lam: Any, returned: str, body: str) -> None:
    """What AWS answered for each kind of return value (test_lambda_url_invocation recordings)."""
    name = create_function(lam, f"def handler(event, context):\n    return {returned}\n")
    resp = call(server, public_url(lam, name))
    assert (resp.status_code, resp.text, resp.headers["content-type"]) == (200, body, "application/json")


def test_cors_overrides_function_headers(server: Server, lam: Any) -> None:
    code = ("def handler(event, context):\n    return {'statusCode': 200, 'headers': "
            "{'Access-Control-Allow-Origin': '*', 'X-Own': 'kept'}, 'body': 'ok'}\n")
    name = create_function(lam, code)
    url = public_url(lam, name, Cors={"AllowOrigins": ["https://app.example"], "AllowCredentials": True})
    resp = call(server, url, headers={"Origin": "https://app.example"})
    assert resp.headers.get_list("access-control-allow-origin") == ["https://app.example"]
    assert resp.headers["access-control-allow-credentials"] == "true" and resp.headers["x-own"] == "kept"
    other = call(server, url, headers={"Origin": "https://other.example"})
    assert "access-control-allow-origin" not in other.headers


def test_aws_iam_request_context(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    request = AWSRequest("POST", url + "p", data=b'{"a": 1}', headers={"content-type": "application/json"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", "us-east-1").add_auth(request)
    resp = call(server, url, "POST", "/p", content=request.body, headers=dict(request.headers.items()))
    assert resp.status_code == 200, resp.text
    ctx = resp.json()["event"]["requestContext"]
    assert ctx["accountId"] == ACCOUNT
    assert set(ctx["authorizer"]["iam"]) == {"accessKey", "accountId", "callerId", "cognitoIdentity",
                                             "principalOrgId", "userArn", "userId"}
    tampered = call(server, url, "POST", "/p", content=b'{"a": 2}', headers=dict(request.headers.items()))
    assert tampered.status_code == 403, "the signature covers the body"
