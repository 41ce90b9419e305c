"""HTTP APIs end to end: apigatewayv2 with boto3 and the AWS CLI, invoke URLs by Host and by path,
routes, stages, both payload formats field by field, response mapping, errors and attacks."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.auth.test_authz import _create_account, _parse_keys
from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, api_error, create_function, function_arn

ECHO = """
import base64, json, time

def handler(event, context):
    q = event.get("queryStringParameters") or {}
    mode = q.get("mode")
    if mode == "raw":
        out = {"statusCode": 201, "headers": {"X-Custom": "yes", "Content-Type": "text/plain"},
               "multiValueHeaders": {"X-Multi": ["a", "b"]}, "body": "created"}
        if event.get("version") == "2.0":
            out["cookies"] = ["a=1; Path=/", "b=2"]
        return out
    if mode == "binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if mode == "plain":
        return {"hello": "world"}
    if mode == "malformed":
        return {"statusCode": "teapot"}
    if mode == "extra":
        return {"statusCode": 200, "body": "x", "unexpected": 1}
    if mode == "fail":
        raise ValueError("boom")
    if mode == "crlf":
        return {"statusCode": 200, "headers": {"x-evil": "a\\r\\nset-cookie: stolen=1"}, "body": "x"}
    if mode == "sleep":
        time.sleep(float(q.get("s", "2")))
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
"""


@pytest.fixture(scope="module")
def v2(server: Server) -> Any:
    return server.client("apigatewayv2")


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="module")
def echo(lam: Any) -> str:
    name = create_function(lam, ECHO, Timeout=10)
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")
    return name


def call(server: Server, api_id: str, path: str = "/", method: str = "GET", *, by_host: bool = True,
         **kwargs: Any) -> httpx.Response:
    given = kwargs.pop("headers", {})
    headers = list(given.items() if isinstance(given, dict) else given)
    if by_host:
        headers.append(("host", f"{api_id}.execute-api.{REGION}.localhost:{server.port}"))
        url = f"{server.endpoint}{path}"
    else:
        url = f"{server.endpoint}/_aws/execute-api/{api_id}{path}"
    return httpx.request(method, url, headers=headers, timeout=30, **kwargs)


def make_api(v2: Any, fn: str, routes: list[str], *, version: str = "2.0", stage: str = "$default",
             variables: dict[str, str] | None = None, **api: Any) -> str:
    api_id: str = v2.create_api(Name="t", ProtocolType="HTTP", **api)["ApiId"]
    integ = v2.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(fn),
                                  PayloadFormatVersion=version)["IntegrationId"]
    for key in routes:
        v2.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integ}")
    v2.create_stage(ApiId=api_id, StageName=stage, AutoDeploy=True, StageVariables=variables or {})
    return api_id


def test_quick_create_serves_the_function_at_default(server: Server, v2: Any, echo: str) -> None:
    created = v2.create_api(Name="quick", ProtocolType="HTTP", Target=function_arn(echo))
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    api_id = created["ApiId"]
    assert created["ApiEndpoint"] == f"http://{api_id}.execute-api.{REGION}.localhost:{server.port}"
    assert created["ApiGatewayManaged"] is True
    assert [r["RouteKey"] for r in v2.get_routes(ApiId=api_id)["Items"]] == ["$default"]
    stage = v2.get_stage(ApiId=api_id, StageName="$default")
    assert stage["AutoDeploy"] is True and stage["DeploymentId"]
    integ = v2.get_integrations(ApiId=api_id)["Items"][0]
    assert integ["IntegrationType"] == "AWS_PROXY" and integ["PayloadFormatVersion"] == "2.0"
    for by_host in (True, False):
        r = call(server, api_id, "/any/path?x=1", by_host=by_host)
        assert r.status_code == 200, r.text
        event = r.json()
        assert event["routeKey"] == "$default" and event["rawPath"] == "/any/path"
        assert event["requestContext"]["stage"] == "$default"
        assert r.headers["apigw-requestid"] == event["requestContext"]["requestId"]


def test_v2_event_field_by_field(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["POST /items/{id}"], variables={"env": "test"})
    r = call(server, api_id, "/items/42?a=1&a=2&b=x%20y", "POST", content=b'{"k": 1}',
             headers={"content-type": "application/json", "cookie": "c1=v1; c2=v2", "user-agent": "tester/1",
                      "x-many": "1"})
    assert r.status_code == 200, r.text
    event = r.json()
    assert set(event) == {"version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers",
                          "queryStringParameters", "requestContext", "pathParameters", "stageVariables", "body",
                          "isBase64Encoded"}
    assert event["version"] == "2.0" and event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/items/42" and event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    r = call(server, api_id, "/items/1", "POST", headers=[("cookie", "a=1"), ("cookie", "b=2; c=3")])
    assert r.json()["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["user-agent"] == "tester/1" and event["headers"]["x-many"] == "1"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-port"] == str(server.port)
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] == {"env": "test"}
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert set(ctx) == {"accountId", "apiId", "domainName", "domainPrefix", "http", "requestId", "routeKey",
                        "stage", "time", "timeEpoch"}
    assert ctx["accountId"] == ACCOUNT and ctx["apiId"] == api_id
    assert ctx["domainName"] == f"{api_id}.execute-api.{REGION}.localhost" and ctx["domainPrefix"] == api_id
    assert ctx["http"] == {"method": "POST", "path": "/items/42", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                           "userAgent": "tester/1"}
    assert ctx["routeKey"] == "POST /items/{id}" and ctx["stage"] == "$default"
    assert isinstance(ctx["timeEpoch"], int) and ctx["time"].endswith(" +0000")
    assert len(ctx["requestId"]) == 16 and ctx["requestId"].endswith("=")
    # binary bodies arrive base64-encoded
    r = call(server, api_id, "/items/1", "POST", content=bytes(range(256)),
             headers={"content-type": "application/octet-stream"})
    event = r.json()
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == bytes(range(256))


def test_v1_event_field_by_field(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["GET /my/{thing}"], version="1.0", stage="dev", variables={"v": "1"})
    r = call(server, api_id, "/dev/my/path?p=1&p=2&q=z",
             headers=[("user-agent", "ua"), ("header2", "x"), ("x-twice", "1"), ("x-twice", "2")])
    assert r.status_code == 200, r.text
    event = r.json()
    assert set(event) == {"version", "resource", "path", "httpMethod", "headers", "multiValueHeaders",
                          "queryStringParameters", "multiValueQueryStringParameters", "requestContext",
                          "pathParameters", "stageVariables", "body", "isBase64Encoded"}
    assert event["version"] == "1.0" and event["resource"] == "/my/{thing}"
    assert event["path"] == "/dev/my/path" and event["httpMethod"] == "GET"
    assert event["queryStringParameters"] == {"p": "2", "q": "z"}
    assert event["multiValueQueryStringParameters"] == {"p": ["1", "2"], "q": ["z"]}
    assert event["multiValueHeaders"]["header2"] == ["x"] and event["headers"]["header2"] == "x"
    assert event["multiValueHeaders"]["x-twice"] == ["1", "2"] and event["headers"]["x-twice"] == "1,2"
    assert event["pathParameters"] == {"thing": "path"} and event["stageVariables"] == {"v": "1"}
    assert event["body"] is None and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert set(ctx) == {"accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId", "httpMethod",
                        "identity", "path", "protocol", "requestId", "requestTime", "requestTimeEpoch",
                        "resourceId", "resourcePath", "stage"}
    assert ctx["stage"] == "dev" and ctx["path"] == "/dev/my/path" and ctx["resourcePath"] == "/my/{thing}"
    assert ctx["httpMethod"] == "GET" and ctx["protocol"] == "HTTP/1.1"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1" and ctx["identity"]["userAgent"] == "ua"
    assert ctx["identity"]["accessKey"] is None and ctx["identity"]["userArn"] is None


def test_response_mapping_both_formats(server: Server, v2: Any, echo: str) -> None:
    for version in ("2.0", "1.0"):
        api_id = make_api(v2, echo, ["GET /r"], version=version)
        r = call(server, api_id, "/r?mode=raw")
        assert r.status_code == 201 and r.text == "created"
        assert r.headers["x-custom"] == "yes" and r.headers["content-type"] == "text/plain"
        assert r.headers.get_list("x-multi") == ["a", "b"]
        if version == "2.0":
            assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
        r = call(server, api_id, "/r?mode=binary")
        assert r.status_code == 200 and r.content == bytes(range(256))
        for mode in ("malformed", "fail", "extra", "crlf") if version == "1.0" else ("malformed", "fail", "crlf"):
            r = call(server, api_id, f"/r?mode={mode}")
            assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"}), mode
    api_id = make_api(v2, echo, ["GET /r"], version="2.0")
    r = call(server, api_id, "/r?mode=plain")  # 2.0 without statusCode: the JSON is a 200 body
    assert r.status_code == 200 and r.json() == {"hello": "world"}
    assert r.headers["content-type"] == "application/json"
    api_id = make_api(v2, echo, ["GET /r"], version="1.0")
    assert call(server, api_id, "/r?mode=plain").status_code == 500


def test_route_selection_and_stages(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["GET /pets/{id}", "GET /pets/dog", "ANY /pets/{proxy+}", "$default",
                                 "POST /pets/{id}"], stage="prod", variables={"s": "prod"})
    def route(path: str, method: str = "GET") -> str:
        r = call(server, api_id, path, method)
        assert r.status_code == 200, (path, r.text)
        return str(r.json()["routeKey"])
    assert route("/prod/pets/dog") == "GET /pets/dog"
    assert route("/prod/pets/cat") == "GET /pets/{id}"
    assert route("/prod/pets/cat", "POST") == "POST /pets/{id}"
    assert route("/prod/pets/cat", "DELETE") == "ANY /pets/{proxy+}"
    assert route("/prod/pets/a/b/c") == "ANY /pets/{proxy+}"
    assert route("/prod/elsewhere") == "$default"
    r = call(server, api_id, "/prod/pets/a/b")
    assert r.json()["pathParameters"] == {"proxy": "a/b"} and r.json()["rawPath"] == "/prod/pets/a/b"
    # no $default stage: an unknown stage is not found
    r = call(server, api_id, "/staging/pets/dog")
    assert (r.status_code, r.json()) == (404, {"message": "Not Found"})
    # a second stage with its own variables
    v2.create_stage(ApiId=api_id, StageName="beta", AutoDeploy=True, StageVariables={"s": "beta"})
    assert call(server, api_id, "/beta/pets/dog").json()["stageVariables"] == {"s": "beta"}


def test_not_found_routes_and_apis(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["GET /only"])
    for path, method in (("/other", "GET"), ("/only", "POST"), ("/only/extra", "GET")):
        r = call(server, api_id, path, method)
        assert (r.status_code, r.json()) == (404, {"message": "Not Found"})
    r = call(server, "nosuchapi1", "/only")
    assert (r.status_code, r.json()) == (404, {"message": "Not Found"})


def test_manual_deployments_and_non_auto_stage(server: Server, v2: Any, echo: str) -> None:
    api_id = v2.create_api(Name="manual", ProtocolType="HTTP")["ApiId"]
    integ = v2.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(echo),
                                  PayloadFormatVersion="2.0")["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey="GET /one", Target=f"integrations/{integ}")
    v2.create_stage(ApiId=api_id, StageName="live")
    assert call(server, api_id, "/live/one").status_code == 404  # nothing deployed yet
    dep = v2.create_deployment(ApiId=api_id, StageName="live")
    assert dep["DeploymentStatus"] == "DEPLOYED" and dep["AutoDeployed"] is False
    assert call(server, api_id, "/live/one").status_code == 200
    v2.create_route(ApiId=api_id, RouteKey="GET /two", Target=f"integrations/{integ}")
    assert call(server, api_id, "/live/two").status_code == 404  # not deployed until the next deployment
    v2.create_deployment(ApiId=api_id, StageName="live")
    assert call(server, api_id, "/live/two").status_code == 200
    assert len(v2.get_deployments(ApiId=api_id)["Items"]) == 2


def test_control_plane_errors(v2: Any, echo: str) -> None:
    with pytest.raises(ClientError) as err:
        v2.get_api(ApiId="doesnotexist")
    assert api_error(err) == (404, "NotFoundException", f"Invalid API identifier specified {ACCOUNT}:doesnotexist")
    api_id = v2.create_api(Name="errs", ProtocolType="HTTP")["ApiId"]
    with pytest.raises(ClientError) as err:
        v2.create_route(ApiId=api_id, RouteKey="FETCH /x")
    assert api_error(err)[:2] == (400, "BadRequestException")
    with pytest.raises(ClientError) as err:
        v2.create_route(ApiId=api_id, RouteKey="GET /x", Target="integrations/nope")
    assert api_error(err)[:2] == (400, "BadRequestException")
    with pytest.raises(ClientError) as err:
        v2.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri="not-an-arn",
                              PayloadFormatVersion="2.0")
    assert api_error(err)[:2] == (400, "BadRequestException")
    with pytest.raises(ClientError) as err:
        v2.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(echo),
                              PayloadFormatVersion="2.0", TimeoutInMillis=30001)
    assert api_error(err)[:2] == (400, "BadRequestException")
    with pytest.raises(ClientError) as err:
        v2.create_api(Name="x", ProtocolType="SOAP")
    assert api_error(err)[:2] == (400, "BadRequestException")
    v2.create_route(ApiId=api_id, RouteKey="GET /x")
    with pytest.raises(ClientError) as err:
        v2.create_route(ApiId=api_id, RouteKey="GET /x")
    assert api_error(err)[:2] == (409, "ConflictException")
    v2.delete_api(ApiId=api_id)
    with pytest.raises(ClientError) as err:
        v2.get_routes(ApiId=api_id)
    assert api_error(err)[0] == 404


def test_cli_creates_and_lists(server: Server, echo: str) -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": REGION}
    def cli(*args: str) -> Any:
        out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, "apigatewayv2",
                              *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None
    api = cli("create-api", "--name", "cli-api", "--protocol-type", "HTTP", "--target", function_arn(echo))
    assert api["ProtocolType"] == "HTTP"
    assert any(a["ApiId"] == api["ApiId"] for a in cli("get-apis")["Items"])
    r = httpx.get(f"{server.endpoint}/_aws/execute-api/{api['ApiId']}/hi", timeout=30)
    assert r.status_code == 200 and r.json()["rawPath"] == "/hi"


def test_lambda_permission_is_checked_by_source_arn(server: Server, v2: Any, lam: Any) -> None:
    fn = create_function(lam, ECHO)
    api_id = make_api(v2, fn, ["GET /a", "GET /b/{id}"], stage="s1")
    # no permission at all: API Gateway's 500
    r = call(server, api_id, "/s1/a")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})
    lam.add_permission(FunctionName=fn, StatementId="only-b", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/GET/b/{{id}}")
    assert call(server, api_id, "/s1/b/7").status_code == 200
    assert call(server, api_id, "/s1/a").status_code == 500
    # another API's id in the SourceArn does not help
    lam.add_permission(FunctionName=fn, StatementId="other-api", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:otherapi00/*/GET/a")
    assert call(server, api_id, "/s1/a").status_code == 500
    lam.add_permission(FunctionName=fn, StatementId="a", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/s1/GET/a")
    assert call(server, api_id, "/s1/a").status_code == 200


def test_iam_user_needs_apigateway_permissions(server: Server, v2: Any, echo: str) -> None:
    iam = server.client("iam")
    # a user of this account with no policy: denied by IAM, not shown the API
    api_id = make_api(v2, echo, ["GET /x"])
    user = f"apigw-user-{api_id}"
    iam.create_user(UserName=user)
    keys = iam.create_access_key(UserName=user)["AccessKey"]
    other = server.client("apigatewayv2", key=keys["AccessKeyId"], secret=keys["SecretAccessKey"])
    with pytest.raises(ClientError) as err:
        other.get_api(ApiId=api_id)
    assert api_error(err)[:2] == (403, "AccessDeniedException")
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "apigateway:GET",
                                                "Resource": f"arn:aws:apigateway:{REGION}::/apis/*"}]}))
    assert other.get_api(ApiId=api_id)["ApiId"] == api_id
    with pytest.raises(ClientError) as err:
        other.delete_api(ApiId=api_id)
    assert api_error(err)[:2] == (403, "AccessDeniedException")


def test_other_region_does_not_see_the_api(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["GET /x"])
    west = boto3.client("apigatewayv2", endpoint_url=server.endpoint, region_name="us-west-2",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=BotoConfig(retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as err:
        west.get_api(ApiId=api_id)
    assert api_error(err)[0] == 404
    assert all(a["ApiId"] != api_id for a in west.get_apis()["Items"])


def raw_get(server: Server, path: str) -> tuple[int, Any]:
    """GET exactly this path (httpx would resolve `..` before sending)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_path_tricks_stay_inside_their_route(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["GET /public/{id}", "GET /admin"], stage="app")
    r = call(server, api_id, "/app/public/a%2Fb")
    assert r.status_code == 200 and r.json()["pathParameters"] == {"id": "a/b"}
    assert r.json()["routeKey"] == "GET /public/{id}"
    assert raw_get(server, f"/_aws/execute-api/{api_id}/app/admin")[0] == 200
    # nothing is normalized: `..` is a segment, not a way to /admin
    for path in ("/app/public/../admin", "/app/public/%2E%2E/admin", "/app%2Fadmin", "/app/public/x/..%2Fadmin",
                 "/app/./admin", "/app//admin"):
        status, body = raw_get(server, f"/_aws/execute-api/{api_id}{path}")
        assert status == 404 or body["routeKey"] != "GET /admin", path
    for path in ("/_aws/execute-api/../x", "/_aws/execute-api/%2E%2E/app/admin", f"/_aws/execute-api/{api_id}%2Fapp",
                 f"/_aws/execute-api/{api_id}/%2E%2E/admin"):
        assert raw_get(server, path) == (404, {"message": "Not Found"}), path


def test_oversized_body_is_413(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["POST /up"])
    r = call(server, api_id, "/up", "POST", content=b"x" * (10 * 1024 * 1024 + 1))
    assert (r.status_code, r.json()) == (413, {"message": "Request Entity Too Large"})


def test_integration_timeout_is_503(server: Server, v2: Any, echo: str) -> None:
    api_id = v2.create_api(Name="slow", ProtocolType="HTTP")["ApiId"]
    integ = v2.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(echo),
                                  PayloadFormatVersion="2.0", TimeoutInMillis=300)["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey="GET /slow", Target=f"integrations/{integ}")
    v2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    r = call(server, api_id, "/slow?mode=sleep&s=1.5")
    assert (r.status_code, r.json()) == (503, {"message": "Service Unavailable"})


def test_apis_survive_a_restart(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client("lambda")
    v2c = fresh_server.client("apigatewayv2")
    fn = create_function(lam, ECHO)
    lam.add_permission(FunctionName=fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com")
    api_id = make_api(v2c, fn, ["GET /kept/{id}"], stage="v1")
    fresh_server.stop(9)
    fresh_server.start()
    r = call(fresh_server, api_id, "/v1/kept/3")
    assert r.status_code == 200 and r.json()["pathParameters"] == {"id": "3"}
    assert v2c.get_api(ApiId=api_id)["Name"] == "t"



def test_another_account_cannot_see_use_or_borrow_an_api(server: Server, v2: Any, lam: Any, echo: str) -> None:
    created = _create_account(server, f"apigw-{os.getpid()}")
    assert created.returncode == 0, created.stderr
    other, keys = _parse_keys(created.stdout)
    theirs = server.client("apigatewayv2", **keys)
    api_id = make_api(v2, echo, ["GET /mine"])
    with pytest.raises(ClientError) as err:
        theirs.get_api(ApiId=api_id)
    assert api_error(err) == (404, "NotFoundException", f"Invalid API identifier specified {other}:{api_id}")
    for op in (lambda: theirs.delete_api(ApiId=api_id), lambda: theirs.get_routes(ApiId=api_id),
               lambda: theirs.create_route(ApiId=api_id, RouteKey="GET /x")):
        with pytest.raises(ClientError) as err:
            op()
        assert api_error(err)[0] == 404
    assert all(a["ApiId"] != api_id for a in theirs.get_apis()["Items"])
    # their API pointing at our function: our policy names our account's APIs only, so it is refused
    fn = create_function(lam, ECHO)
    lam.add_permission(FunctionName=fn, StatementId="ours", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")
    their_api = theirs.create_api(Name="borrow", ProtocolType="HTTP", Target=function_arn(fn))["ApiId"]
    r = call(server, their_api, "/x")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})
    assert call(server, api_id, "/mine").status_code == 200


def test_route_throttling(server: Server, v2: Any, echo: str) -> None:
    api_id = make_api(v2, echo, ["GET /limited", "GET /free"])
    v2.update_stage(ApiId=api_id, StageName="$default", RouteSettings={
        "GET /limited": {"ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 0.001}})
    assert [call(server, api_id, "/limited").status_code for _ in range(3)] == [200, 200, 429]
    r = call(server, api_id, "/limited")
    assert (r.status_code, r.json()) == (429, {"message": "Too Many Requests"})
    assert call(server, api_id, "/free").status_code == 200
    v2.update_stage(ApiId=api_id, StageName="$default", DefaultRouteSettings={
        "ThrottlingBurstLimit": 0, "ThrottlingRateLimit": 0})
    assert call(server, api_id, "/free").status_code == 429  # a limit of 0 refuses everything
