"""REST APIs end to end: apigateway with boto3 and the AWS CLI (rest APIs, resources, methods,
AWS_PROXY integrations, deployments, stages), the 1.0 event field by field, response mapping and
API Gateway's REST errors, TOKEN and REQUEST Lambda authorizers, binary media types."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, api_error, create_function, function_arn
from tests.frontdoors.test_apigateway_http import ECHO, call, raw_get

AUTHORIZER = """
import json, os

def handler(event, context):
    path = "/tmp/calls"
    calls = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(calls))
    token = event.get("authorizationToken") or (event.get("headers") or {}).get("x-token", "")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "broken":
        return {"nothing": "useful"}
    effect = "Allow" if token in ("allow", "Bearer allow") else "Deny"
    return {"principalId": "user-7", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
        "context": {"calls": calls, "type": event["type"], "tier": "gold"}}
"""


@pytest.fixture(scope="module")
def apigw(server: Server) -> Any:
    return server.client("apigateway")


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="module")
def echo(lam: Any) -> str:
    name = create_function(lam, ECHO, Timeout=10)
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")
    return name


def lambda_uri(fn: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn(fn)}/invocations"


def rest_api(apigw: Any, fn: str, paths: dict[str, str], *, stage: str = "prod", auth: str = "NONE",
             authorizer_id: str | None = None, variables: dict[str, str] | None = None, **api: Any) -> str:
    """A REST API with a resource per path (`{"/items/{id}": "GET"}`), each an AWS_PROXY integration, deployed."""
    api_id: str = apigw.create_rest_api(name="rest", **api)["id"]
    by_path = {"/": apigw.get_resources(restApiId=api_id)["items"][0]["id"]}
    for path, method in paths.items():
        parent = "/"
        for part in path.strip("/").split("/"):
            here = (parent.rstrip("/") + "/" + part)
            if here not in by_path:
                by_path[here] = apigw.create_resource(restApiId=api_id, parentId=by_path[parent], pathPart=part)["id"]
            parent = here
        extra = {"authorizerId": authorizer_id} if authorizer_id else {}
        apigw.put_method(restApiId=api_id, resourceId=by_path[path], httpMethod=method, authorizationType=auth, **extra)
        apigw.put_integration(restApiId=api_id, resourceId=by_path[path], httpMethod=method, type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=lambda_uri(fn))
    apigw.create_deployment(restApiId=api_id, stageName=stage, variables=variables or {})
    return api_id


def test_rest_event_field_by_field(server: Server, apigw: Any, echo: str) -> None:
    api_id = rest_api(apigw, echo, {"/items/{id}": "POST"}, variables={"env": "prod"})
    r = call(server, api_id, "/prod/items/9?a=1&a=2", "POST", content=b"hello",
             headers={"content-type": "text/plain", "user-agent": "ua/2", "x-one": "1"})
    assert r.status_code == 200, r.text
    event = r.json()
    assert set(event) == {"resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
                          "multiValueQueryStringParameters", "requestContext", "pathParameters", "stageVariables",
                          "body", "isBase64Encoded"}
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/9" and event["httpMethod"] == "POST"
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["headers"]["x-one"] == "1" and event["multiValueHeaders"]["x-one"] == ["1"]
    assert event["pathParameters"] == {"id": "9"} and event["stageVariables"] == {"env": "prod"}
    assert event["body"] == "hello" and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert set(ctx) == {"accountId", "apiId", "deploymentId", "domainName", "domainPrefix", "extendedRequestId",
                        "httpMethod", "identity", "path", "protocol", "requestId", "requestTime", "requestTimeEpoch",
                        "resourceId", "resourcePath", "stage"}
    assert ctx["path"] == "/prod/items/9" and ctx["resourcePath"] == "/items/{id}" and ctx["stage"] == "prod"
    assert ctx["accountId"] == ACCOUNT and ctx["apiId"] == api_id and ctx["httpMethod"] == "POST"
    assert len(ctx["requestId"]) == 36 and r.headers["x-amzn-requestid"] == ctx["requestId"]
    assert r.headers["x-amz-apigw-id"] == ctx["extendedRequestId"]
    assert ctx["deploymentId"] == apigw.get_stage(restApiId=api_id, stageName="prod")["deploymentId"]
    identity = ctx["identity"]
    assert {"apiKey", "apiKeyId", "clientCert", "sourceIp", "userAgent", "userArn", "caller"} <= set(identity)
    assert identity["sourceIp"] == "127.0.0.1" and identity["userAgent"] == "ua/2"


def test_rest_responses_and_errors(server: Server, apigw: Any, echo: str) -> None:
    api_id = rest_api(apigw, echo, {"/r": "GET", "/{proxy+}": "ANY"})
    r = call(server, api_id, "/prod/r?mode=raw")
    assert r.status_code == 201 and r.text == "created" and r.headers.get_list("x-multi") == ["a", "b"]
    for mode in ("malformed", "fail", "extra", "plain"):
        r = call(server, api_id, f"/prod/r?mode={mode}")
        assert (r.status_code, r.json()) == (502, {"message": "Internal server error"}), mode
    r = call(server, api_id, "/prod/deep/er/path", "DELETE")
    assert r.json()["resource"] == "/{proxy+}" and r.json()["pathParameters"] == {"proxy": "deep/er/path"}
    # API Gateway's REST answers for what is not there
    r = call(server, api_id, "/prod/")  # the root resource has no method
    assert (r.status_code, r.json()) == (403, {"message": "Missing Authentication Token"})
    assert r.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    r = call(server, api_id, "/nostage/r")
    assert (r.status_code, r.json()) == (403, {"message": "Forbidden"})
    assert raw_get(server, f"/_aws/execute-api/{api_id}/prod/../prod/r")[1]["resource"] == "/{proxy+}"


def test_rest_binary_media_types(server: Server, apigw: Any, echo: str) -> None:
    api_id = rest_api(apigw, echo, {"/bin": "GET"}, binaryMediaTypes=["application/octet-stream"])
    r = call(server, api_id, "/prod/bin?mode=binary", headers={"accept": "application/octet-stream"})
    assert r.content == bytes(range(256))
    r = call(server, api_id, "/prod/bin?mode=binary", headers={"accept": "application/json"})
    assert base64.b64decode(r.content) == bytes(range(256))  # not asked for binary: the base64 text
    r = call(server, api_id, "/prod/bin", content=b"\x00\x01", headers={"content-type": "application/octet-stream"})
    assert r.json()["isBase64Encoded"] is True and base64.b64decode(r.json()["body"]) == b"\x00\x01"
    r = call(server, api_id, "/prod/bin", content=b"text", headers={"content-type": "text/plain"})
    assert r.json()["isBase64Encoded"] is False and r.json()["body"] == "text"


def test_rest_permission_and_timeout(server: Server, apigw: Any, lam: Any) -> None:
    fn = create_function(lam, ECHO, Timeout=10)
    api_id = rest_api(apigw, fn, {"/p": "GET"})
    r = call(server, api_id, "/prod/p")
    assert (r.status_code, r.json()) == (500, {"message": "Internal server error"})
    lam.add_permission(FunctionName=fn, StatementId="p", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/GET/p")
    assert call(server, api_id, "/prod/p").status_code == 200
    resource = next(r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/p")
    apigw.put_integration(restApiId=api_id, resourceId=resource["id"], httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=lambda_uri(fn), timeoutInMillis=300)
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    r = call(server, api_id, "/prod/p?mode=sleep&s=1.5")
    assert (r.status_code, r.json()) == (504, {"message": "Endpoint request timed out"})


def test_rest_control_plane_and_cli(server: Server, apigw: Any, echo: str) -> None:
    with pytest.raises(ClientError) as err:
        apigw.get_rest_api(restApiId="nope")
    assert api_error(err) == (404, "NotFoundException", f"Invalid API identifier specified {ACCOUNT}:nope")
    api_id = apigw.create_rest_api(name="empty")["id"]
    with pytest.raises(ClientError) as err:
        apigw.create_deployment(restApiId=api_id, stageName="x")
    assert api_error(err) == (400, "BadRequestException", "The REST API doesn't contain any methods")
    root = apigw.get_resources(restApiId=api_id)["items"][0]
    assert root["path"] == "/" and root["id"] == apigw.get_rest_api(restApiId=api_id)["rootResourceId"]
    child = apigw.create_resource(restApiId=api_id, parentId=root["id"], pathPart="a")
    with pytest.raises(ClientError) as err:
        apigw.create_resource(restApiId=api_id, parentId=root["id"], pathPart="a")
    assert api_error(err)[:2] == (409, "ConflictException")
    with pytest.raises(ClientError) as err:
        apigw.put_method(restApiId=api_id, resourceId=child["id"], httpMethod="FETCH", authorizationType="NONE")
    assert api_error(err)[:2] == (400, "BadRequestException")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": REGION}
    out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, "apigateway",
                          "get-rest-apis"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert any(a["id"] == api_id for a in json.loads(out.stdout)["items"])
    # stage variables by patch, then served
    live = rest_api(apigw, echo, {"/v": "GET"}, stage="live", variables={"a": "1"})
    apigw.update_stage(restApiId=live, stageName="live", patchOperations=[
        {"op": "replace", "path": "/variables/b", "value": "2"}])
    assert call(server, live, "/live/v").json()["stageVariables"] == {"a": "1", "b": "2"}
    apigw.delete_rest_api(restApiId=live)
    assert call(server, live, "/live/v").status_code == 404


def test_token_authorizer(server: Server, apigw: Any, lam: Any, echo: str) -> None:
    auth_fn = create_function(lam, AUTHORIZER)
    api_id = apigw.create_rest_api(name="tok")["id"]
    lam.add_permission(FunctionName=auth_fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/authorizers/*")
    authorizer = apigw.create_authorizer(restApiId=api_id, name="tok", type="TOKEN", authorizerUri=lambda_uri(auth_fn),
                                         identitySource="method.request.header.Authorization",
                                         identityValidationExpression="(Bearer )?[a-z]+",
                                         authorizerResultTtlInSeconds=300)
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="t")["id"]
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="CUSTOM",
                     authorizerId=authorizer["id"])
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=lambda_uri(echo))
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    r = call(server, api_id, "/prod/t", headers={"authorization": "allow"})
    assert r.status_code == 200, r.text
    ctx = r.json()["requestContext"]["authorizer"]
    assert ctx["principalId"] == "user-7" and ctx["tier"] == "gold" and ctx["type"] == "TOKEN"
    assert isinstance(ctx["integrationLatency"], int)
    first = ctx["calls"]
    again = call(server, api_id, "/prod/t", headers={"authorization": "allow"}).json()["requestContext"]["authorizer"]
    assert again["calls"] == first  # cached for the TTL
    r = call(server, api_id, "/prod/t", headers={"authorization": "deny"})
    assert (r.status_code, r.json()) == (403, {"Message": "User is not authorized to access this resource with an "
                                                          "explicit deny"})
    assert (call(server, api_id, "/prod/t").status_code, call(server, api_id, "/prod/t").json()) == (
        401, {"message": "Unauthorized"})
    r = call(server, api_id, "/prod/t", headers={"authorization": "NOT VALID 123"})  # fails the expression
    assert r.status_code == 401
    r = call(server, api_id, "/prod/t", headers={"authorization": "unauthorized"})
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})
    r = call(server, api_id, "/prod/t", headers={"authorization": "broken"})
    assert (r.status_code, r.json()) == (500, {"message": None})


def test_request_authorizer(server: Server, apigw: Any, lam: Any, echo: str) -> None:
    auth_fn = create_function(lam, AUTHORIZER)
    lam.add_permission(FunctionName=auth_fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com")
    api_id = apigw.create_rest_api(name="req")["id"]
    authorizer = apigw.create_authorizer(restApiId=api_id, name="req", type="REQUEST",
                                         authorizerUri=lambda_uri(auth_fn),
                                         identitySource="method.request.header.x-token",
                                         authorizerResultTtlInSeconds=0)
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="q")["id"]
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="CUSTOM",
                     authorizerId=authorizer["id"])
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=lambda_uri(echo))
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    r = call(server, api_id, "/prod/q", headers={"x-token": "allow"})
    assert r.status_code == 200, r.text
    ctx = r.json()["requestContext"]["authorizer"]
    assert ctx["type"] == "REQUEST"
    second = call(server, api_id, "/prod/q", headers={"x-token": "allow"}).json()["requestContext"]["authorizer"]
    assert second["calls"] == ctx["calls"] + 1  # TTL 0: no cache
    assert call(server, api_id, "/prod/q", headers={"x-token": "deny"}).status_code == 403
    assert call(server, api_id, "/prod/q").status_code == 401


def test_another_account_cannot_see_a_rest_api(server: Server, apigw: Any, echo: str) -> None:
    from tests.auth.test_authz import _create_account, _parse_keys
    created = _create_account(server, f"rest-{os.getpid()}")
    assert created.returncode == 0, created.stderr
    other, keys = _parse_keys(created.stdout)
    api_id = rest_api(apigw, echo, {"/x": "GET"})
    theirs = server.client("apigateway", **keys)
    with pytest.raises(ClientError) as err:
        theirs.get_rest_api(restApiId=api_id)
    assert api_error(err) == (404, "NotFoundException", f"Invalid API identifier specified {other}:{api_id}")
    with pytest.raises(ClientError) as err:
        theirs.delete_rest_api(restApiId=api_id)
    assert api_error(err)[0] == 404
    assert call(server, api_id, "/prod/x").status_code == 200


def test_rest_method_throttling(server: Server, apigw: Any, echo: str) -> None:
    api_id = rest_api(apigw, echo, {"/a": "GET", "/b": "GET"})
    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/~1a/GET/throttling/burstLimit", "value": "1"},
        {"op": "replace", "path": "/~1a/GET/throttling/rateLimit", "value": "0.001"}])
    settings = apigw.get_stage(restApiId=api_id, stageName="prod")["methodSettings"]
    assert settings["a/GET"] == {"throttlingBurstLimit": 1, "throttlingRateLimit": 0.001}
    assert [call(server, api_id, "/prod/a").status_code for _ in range(2)] == [200, 429]
    assert call(server, api_id, "/prod/b").status_code == 200
    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "0"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0"}])
    r = call(server, api_id, "/prod/b")
    assert (r.status_code, r.json()) == (429, {"message": "Too Many Requests"})


def test_api_keys_and_usage_plans(server: Server, apigw: Any, lam: Any, echo: str) -> None:
    api_id = apigw.create_rest_api(name="keyed")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="k")["id"]
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE",
                     apiKeyRequired=True)
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=lambda_uri(echo))
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    key = apigw.create_api_key(name="k1", enabled=True)
    assert len(key["value"]) == 40 and "value" not in apigw.get_api_key(apiKey=key["id"])
    forbidden = (403, {"message": "Forbidden"})
    r = call(server, api_id, "/prod/k", headers={"x-api-key": key["value"]})
    assert (r.status_code, r.json()) == forbidden  # a key in no usage plan of this stage
    plan = apigw.create_usage_plan(name="p", apiStages=[{"apiId": api_id, "stage": "prod"}],
                                   throttle={"burstLimit": 100, "rateLimit": 100.0},
                                   quota={"limit": 3, "period": "DAY"})
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    r = call(server, api_id, "/prod/k", headers={"x-api-key": key["value"]})
    assert r.status_code == 200, r.text
    identity = r.json()["requestContext"]["identity"]
    assert identity["apiKey"] == key["value"]
    assert (call(server, api_id, "/prod/k").status_code, call(server, api_id, "/prod/k").json()) == forbidden
    r = call(server, api_id, "/prod/k", headers={"x-api-key": "x" * 40})
    assert (r.status_code, r.json()) == forbidden
    assert call(server, api_id, "/prod/k", headers={"x-api-key": key["value"]}).status_code == 200
    assert call(server, api_id, "/prod/k", headers={"x-api-key": key["value"]}).status_code == 200
    r = call(server, api_id, "/prod/k", headers={"x-api-key": key["value"]})  # the day's quota of 3 is used
    assert (r.status_code, r.json()) == (429, {"message": "Limit Exceeded"})
    apigw.update_api_key(apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    r = call(server, api_id, "/prod/k", headers={"x-api-key": key["value"]})
    assert (r.status_code, r.json()) == forbidden
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    with pytest.raises(ClientError) as err:
        apigw.create_usage_plan(name="bad", apiStages=[{"apiId": api_id, "stage": "nope"}])
    assert api_error(err)[0] == 404


def test_stage_variables_name_the_function(server: Server, apigw: Any, echo: str) -> None:
    api_id = apigw.create_rest_api(name="vars")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="v")["id"]
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    uri = (f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/arn:aws:lambda:{REGION}:{ACCOUNT}:"
           "function:${stageVariables.fn}/invocations")
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    apigw.create_deployment(restApiId=api_id, stageName="good", variables={"fn": echo})
    apigw.create_deployment(restApiId=api_id, stageName="bad", variables={"fn": "no-such-function"})
    r = call(server, api_id, "/good/v")
    assert r.status_code == 200 and r.json()["stageVariables"] == {"fn": echo}
    assert call(server, api_id, "/bad/v").status_code == 500
