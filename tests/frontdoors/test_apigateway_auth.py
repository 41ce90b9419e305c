"""HTTP API authorization end to end: JWT authorizers against a JWKS served on loopback, REQUEST
Lambda authorizers (simple and policy responses, identity sources, caching), AWS_IAM routes signed
with SigV4 for execute-api, and CORS preflights."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, create_function, function_arn
from tests.frontdoors.test_apigateway_http import ECHO, call

AUTHORIZER = """
import json, os

def handler(event, context):
    path = "/tmp/calls"
    calls = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(calls))
    token = (event.get("headers") or {}).get("x-token", "")
    if event.get("version") == "2.0" and "routeArn" in event and token.startswith("simple"):
        return {"isAuthorized": token == "simple-yes", "context": {"calls": calls, "user": "alice",
                                                                 "source": event["identitySource"]}}
    effect = "Allow" if token == "policy-yes" else "Deny"
    return {"principalId": "bob", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event.get("routeArn") or event["methodArn"]}]},
        "context": {"calls": calls}}
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
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")
    return name


class Issuer:
    """An OpenID issuer on loopback: its discovery document and JWKS, and tokens signed by its key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps({"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"})
                elif self.path == "/jwks.json":
                    body = json.dumps(issuer.jwks)
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, key: Any = None, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": "my-app", "sub": "user-1", "iat": now, "exp": now + 300, **claims}
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key or self.key, algorithm="RS256",
                          headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    found = Issuer()
    yield found
    found.httpd.shutdown()


def api_with(v2: Any, fn: str, route: str, **route_auth: Any) -> tuple[str, str]:
    api_id = v2.create_api(Name="auth", ProtocolType="HTTP")["ApiId"]
    integ = v2.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(fn),
                                  PayloadFormatVersion="2.0")["IntegrationId"]
    route_id = v2.create_route(ApiId=api_id, RouteKey=route, Target=f"integrations/{integ}",
                               **route_auth)["RouteId"]
    v2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return api_id, route_id


def test_jwt_authorizer(server: Server, v2: Any, echo: str, issuer: Issuer) -> None:
    api_id, route_id = api_with(v2, echo, "GET /me")
    auth_id = v2.create_authorizer(ApiId=api_id, AuthorizerType="JWT", Name="jwt",
                                   IdentitySource=["$request.header.Authorization"],
                                   JwtConfiguration={"Issuer": issuer.url, "Audience": ["my-app"]})["AuthorizerId"]
    v2.update_route(ApiId=api_id, RouteId=route_id, AuthorizationType="JWT", AuthorizerId=auth_id)
    token = issuer.token(scope="read write", email="a@example.com")
    r = call(server, api_id, "/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    jwt_ctx = r.json()["requestContext"]["authorizer"]["jwt"]
    assert jwt_ctx["claims"]["sub"] == "user-1" and jwt_ctx["claims"]["email"] == "a@example.com"
    assert jwt_ctx["claims"]["iss"] == issuer.url and isinstance(jwt_ctx["claims"]["exp"], str)
    assert jwt_ctx["scopes"] == ["read", "write"]
    unauthorized = (401, {"message": "Unauthorized"})
    r = call(server, api_id, "/me")
    assert (r.status_code, r.json()) == unauthorized and r.headers["www-authenticate"] == "Bearer"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (issuer.token(key=other_key), issuer.token(exp=int(time.time()) - 10), issuer.token(aud="other"),
                issuer.token(iss="http://evil.example"), issuer.token(kid="unknown"), "not-a-jwt",
                jwt.encode({"iss": issuer.url, "aud": "my-app", "exp": int(time.time()) + 60},
                           "an-hmac-secret-of-at-least-32-bytes!", algorithm="HS256", headers={"kid": "k1"}),
                jwt.encode({"iss": issuer.url, "aud": "my-app", "exp": int(time.time()) + 60}, None,
                           algorithm="none", headers={"kid": "k1"})):
        r = call(server, api_id, "/me", headers={"authorization": f"Bearer {bad}"})
        assert (r.status_code, r.json()) == unauthorized, bad
    # client_id stands for aud (Cognito access tokens)
    r = call(server, api_id, "/me", headers={"authorization": issuer.token(aud=None, client_id="my-app")})
    assert r.status_code == 200
    # scopes: the route names some, the token must hold one
    v2.update_route(ApiId=api_id, RouteId=route_id, AuthorizationScopes=["admin"])
    r = call(server, api_id, "/me", headers={"authorization": f"Bearer {token}"})
    assert (r.status_code, r.json()) == (403, {"message": "Forbidden"})
    r = call(server, api_id, "/me", headers={"authorization": f"Bearer {issuer.token(scope='admin')}"})
    assert r.status_code == 200


def test_request_authorizer_simple_responses_and_cache(server: Server, v2: Any, lam: Any, echo: str) -> None:
    authorizer_fn = create_function(lam, AUTHORIZER)
    api_id, route_id = api_with(v2, echo, "GET /guarded")
    auth_id = v2.create_authorizer(ApiId=api_id, AuthorizerType="REQUEST", Name="simple",
                                   AuthorizerUri=function_arn(authorizer_fn), AuthorizerPayloadFormatVersion="2.0",
                                   EnableSimpleResponses=True, IdentitySource=["$request.header.x-token"],
                                   AuthorizerResultTtlInSeconds=300)["AuthorizerId"]
    v2.update_route(ApiId=api_id, RouteId=route_id, AuthorizationType="CUSTOM", AuthorizerId=auth_id)
    # the authorizer function's own policy must let API Gateway call it
    r = call(server, api_id, "/guarded", headers={"x-token": "simple-yes"})
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})
    lam.add_permission(FunctionName=authorizer_fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/authorizers/{auth_id}")
    r = call(server, api_id, "/guarded", headers={"x-token": "simple-yes"})
    assert r.status_code == 200, r.text
    ctx = r.json()["requestContext"]["authorizer"]["lambda"]
    assert ctx["user"] == "alice" and ctx["source"] == ["simple-yes"]
    first = ctx["calls"]
    r = call(server, api_id, "/guarded", headers={"x-token": "simple-yes"})
    assert r.json()["requestContext"]["authorizer"]["lambda"]["calls"] == first  # cached: not called again
    r = call(server, api_id, "/guarded", headers={"x-token": "simple-no"})
    assert (r.status_code, r.json()) == (403, {"message": "Forbidden"})
    r = call(server, api_id, "/guarded")  # no identity source: refused without a call
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})


def test_request_authorizer_policy_response_uncached(server: Server, v2: Any, lam: Any, echo: str) -> None:
    authorizer_fn = create_function(lam, AUTHORIZER)
    lam.add_permission(FunctionName=authorizer_fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com")
    api_id, route_id = api_with(v2, echo, "GET /policy")
    auth_id = v2.create_authorizer(ApiId=api_id, AuthorizerType="REQUEST", Name="policy",
                                   AuthorizerUri=function_arn(authorizer_fn), AuthorizerPayloadFormatVersion="2.0",
                                   IdentitySource=["$request.header.x-token"])["AuthorizerId"]
    v2.update_route(ApiId=api_id, RouteId=route_id, AuthorizationType="CUSTOM", AuthorizerId=auth_id)
    r = call(server, api_id, "/policy", headers={"x-token": "policy-yes"})
    assert r.status_code == 200, r.text
    first = r.json()["requestContext"]["authorizer"]["lambda"]["calls"]
    r = call(server, api_id, "/policy", headers={"x-token": "policy-yes"})
    assert r.json()["requestContext"]["authorizer"]["lambda"]["calls"] == first + 1  # TTL 0: called each time
    r = call(server, api_id, "/policy", headers={"x-token": "policy-no"})
    assert (r.status_code, r.json()) == (403, {"message": "Forbidden"})


def signed(server: Server, api_id: str, path: str, key: str, secret: str) -> httpx.Response:
    url = f"{server.endpoint}/_aws/execute-api/{api_id}{path}"
    request = AWSRequest(method="GET", url=url, headers={})
    SigV4Auth(Credentials(key, secret), "execute-api", REGION).add_auth(request)
    return httpx.get(url, headers=dict(request.headers), timeout=30)


def test_aws_iam_route(server: Server, v2: Any, echo: str) -> None:
    api_id, _ = api_with(v2, echo, "GET /iam", AuthorizationType="AWS_IAM")
    r = httpx.get(f"{server.endpoint}/_aws/execute-api/{api_id}/iam", timeout=30)
    assert (r.status_code, r.json()) == (403, {"message": "Forbidden"})
    r = signed(server, api_id, "/iam", ACCESS_KEY, SECRET_KEY)
    assert r.status_code == 200, r.text
    iam_ctx = r.json()["requestContext"]["authorizer"]["iam"]
    assert iam_ctx["accountId"] == ACCOUNT and iam_ctx["accessKey"] == ACCESS_KEY
    assert r.json()["requestContext"]["authorizer"]["iam"]["userArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert signed(server, api_id, "/iam", ACCESS_KEY, "wrong-secret").status_code == 403
    iam = server.client("iam")
    user = f"invoker-{api_id}"
    iam.create_user(UserName=user)
    keys = iam.create_access_key(UserName=user)["AccessKey"]
    assert signed(server, api_id, "/iam", keys["AccessKeyId"], keys["SecretAccessKey"]).status_code == 403
    iam.put_user_policy(UserName=user, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                "Resource": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*"}]}))
    r = signed(server, api_id, "/iam", keys["AccessKeyId"], keys["SecretAccessKey"])
    assert r.status_code == 200
    assert r.json()["requestContext"]["authorizer"]["iam"]["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"


def test_cors_preflight_and_response_headers(server: Server, v2: Any, echo: str) -> None:
    api_id = v2.create_api(Name="cors", ProtocolType="HTTP", Target=function_arn(echo), CorsConfiguration={
        "AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-token"],
        "ExposeHeaders": ["x-custom"], "MaxAge": 600, "AllowCredentials": True})["ApiId"]
    r = call(server, api_id, "/anything", "OPTIONS", headers={"origin": "https://app.example",
                                                             "access-control-request-method": "POST"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-methods"] == "GET,POST"
    assert r.headers["access-control-allow-headers"] == "x-token"
    assert r.headers["access-control-max-age"] == "600"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = call(server, api_id, "/anything", "OPTIONS", headers={"origin": "https://evil.example",
                                                             "access-control-request-method": "POST"})
    assert r.status_code == 204 and "access-control-allow-origin" not in r.headers
    r = call(server, api_id, "/x", headers={"origin": "https://app.example"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-expose-headers"] == "x-custom"
    assert "access-control-allow-origin" not in call(server, api_id, "/x", headers={"origin": "https://evil.example"}
                                                     ).headers
