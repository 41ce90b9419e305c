"""Codec behaviour through the real Router in-process (no uvicorn, no subprocess): the ASGI app is
driven by httpx's ASGITransport. Three small real services, one per protocol (rest-json, query,
JSON), stand behind real SigV4 authentication; these tests pin each protocol's error shape, its
SigV4 refusal and the 413 on an oversized declared body. User-facing contracts stay with the
real-server tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import botocore.session
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdad.api import jsonproto
from lambdad.api.app import MAX_BODY, AsgiApp, Router
from lambdad.api.base import ApiRequest
from lambdad.api.http_protocol import Spool
from lambdad.api.jsonproto import JsonService
from lambdad.api.query import QueryService
from lambdad.api.restjson import RestJsonService
from lambdad.auth.authn import Authenticator
from lambdad.auth.credentials import CredentialStore
from lambdad.config import resolve
from lambdad.errors import ApiError, ResourceNotFoundException

KEY, SECRET, ACCOUNT, REGION = "AKIAINPROCESS0000001", "in-process-secret-key-0000000000000001", "000000000000", \
    "us-east-1"


def allow(request: ApiRequest, operation: str, params: dict[str, Any]) -> None:
    request.action = operation


class Server:
    """The Lifecycle AsgiApp enters: a Router with one service of each protocol."""

    def __init__(self, tmp: Path) -> None:
        config = resolve({"account_id": ACCOUNT, "region": REGION, "root_access_key_id": KEY,
                          "root_secret_access_key": SECRET, "data_dir": str(tmp)}, environ={})
        authenticator = Authenticator(CredentialStore(config), enabled=True, account_id=ACCOUNT)
        spool_dir = tmp / "spool"
        spool_dir.mkdir()
        self.router = Router(authenticator, own_endpoints=None,  # type: ignore[arg-type]
                             spool=Spool(str(spool_dir), 1 << 20), default_region=REGION)

        lam = RestJsonService("lambda", authorize=allow)

        @lam.handler("GetFunction")
        async def get_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
            raise ResourceNotFoundException(f"Function not found: {params['FunctionName']}")

        @lam.handler("ListFunctions")
        async def list_functions(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
            return {"Functions": [], "NextMarker": request.region}  # which region the request is in

        self.router.add_service("lambda", lam)
        sts = QueryService(botocore.session.get_session().get_service_model("sts"), authorize=allow)

        @sts.operation("GetCallerIdentity")
        async def who(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
            raise ApiError("no such identity", code="InvalidIdentityToken")

        self.router.add_service("sts", sts, sts.render_error)
        logs = JsonService("Logs_20140328", authorize=allow)

        @logs.operation("DescribeLogGroups")
        async def describe(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
            raise ApiError("The specified log group does not exist.", code="ResourceNotFoundException")

        self.router.add_service("logs", logs, jsonproto.render_error)

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@pytest.fixture
def client(tmp_path: Path) -> httpx.AsyncClient:
    app = AsgiApp(Server(tmp_path))
    app.router = app.server.router  # what the lifespan's startup does
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                             base_url="http://lambdad.test")


def signed(service: str, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
           secret: str = SECRET, region: str = REGION) -> dict[str, Any]:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(KEY, secret), service, region).add_auth(request)
    return {"method": method, "url": url, "content": body, "headers": dict(request.headers.items())}


def call(client: httpx.AsyncClient, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with client:
            return await client.request(**kwargs)
    return asyncio.run(go())


LAMBDA_URL = "http://lambdad.test/2015-03-31/functions/nope"
STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
LOGS_HEADERS = {"x-amz-target": "Logs_20140328.DescribeLogGroups", "content-type": "application/x-amz-json-1.1"}


def test_rest_json_errors_name_their_type_in_a_header(client: httpx.AsyncClient) -> None:
    r = call(client, **signed("lambda", "GET", LAMBDA_URL))
    assert r.status_code == 404
    assert r.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert r.json() == {"Type": "User", "Message": "Function not found: nope"}  # Lambda's member name
    assert r.headers["x-amzn-requestid"]


def test_a_request_is_in_the_region_its_signature_is_scoped_to(client: httpx.AsyncClient) -> None:
    r = call(client, **signed("lambda", "GET", "http://lambdad.test/2015-03-31/functions/", region="eu-west-3"))
    assert r.status_code == 200 and r.json()["NextMarker"] == "eu-west-3"


def test_query_errors_are_an_error_response_document(client: httpx.AsyncClient) -> None:
    r = call(client, **signed("sts", "POST", "http://lambdad.test/", STS_BODY,
                              {"content-type": "application/x-www-form-urlencoded"}))
    assert r.status_code == 400 and r.headers["content-type"] == "text/xml"
    root = ElementTree.fromstring(r.content)
    ns = {"a": root.tag.partition("}")[0][1:]}
    assert root.tag.endswith("ErrorResponse")
    assert root.findtext("a:Error/a:Type", namespaces=ns) == "Sender"
    assert root.findtext("a:Error/a:Code", namespaces=ns) == "InvalidIdentityToken"
    assert root.findtext("a:Error/a:Message", namespaces=ns) == "no such identity"
    assert root.findtext("a:RequestId", namespaces=ns) == r.headers["x-amzn-requestid"]


def test_json_protocol_errors_carry_their_type_in_the_body(client: httpx.AsyncClient) -> None:
    r = call(client, **signed("logs", "POST", "http://lambdad.test/", b"{}", LOGS_HEADERS))
    assert r.status_code == 400
    assert r.json() == {"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."}


def test_a_bad_signature_is_refused_in_rest_json(client: httpx.AsyncClient) -> None:
    r = call(client, **signed("lambda", "GET", LAMBDA_URL, secret="wrong"))
    assert r.status_code == 403
    assert r.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in r.json()["message"]


def test_a_bad_signature_is_refused_in_query_xml(client: httpx.AsyncClient) -> None:
    r = call(client, **signed("sts", "POST", "http://lambdad.test/", STS_BODY,
                              {"content-type": "application/x-www-form-urlencoded"}, secret="wrong"))
    assert r.status_code == 403
    root = ElementTree.fromstring(r.content)
    assert root.tag.endswith("ErrorResponse")
    code = next(el.text for el in root.iter() if el.tag.endswith("Code"))
    assert code == "SignatureDoesNotMatch", "the query protocol's spelling"


def test_a_bad_signature_is_refused_in_json(client: httpx.AsyncClient) -> None:
    r = call(client, **signed("logs", "POST", "http://lambdad.test/", b"{}", LOGS_HEADERS, secret="wrong"))
    assert r.status_code == 403
    assert r.json()["__type"] == "InvalidSignatureException"


def test_an_unsigned_request_is_refused_as_missing_authentication(client: httpx.AsyncClient) -> None:
    r = call(client, method="GET", url=LAMBDA_URL)
    assert r.status_code == 403
    assert r.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_an_oversized_declared_body_is_refused_unread(client: httpx.AsyncClient) -> None:
    async def go() -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"x" * 1024  # far less than declared: the refusal must not wait for the rest

        headers = {"content-length": str(MAX_BODY + 1)}
        async with client:
            return await client.request("POST", "http://lambdad.test/2015-03-31/functions/f/invocations",
                                        content=body(), headers=headers)

    r = asyncio.run(go())
    assert r.status_code == 413
    assert r.headers["x-amzn-errortype"] == "RequestTooLargeException"
    assert r.headers.get("connection") == "close", "the unread rest of the body is not awaited"
    assert json.loads(r.content)["message"].startswith("Request must be smaller than")
