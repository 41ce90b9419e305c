"""A body cannot change what a signature covered: UNSIGNED-PAYLOAD is S3's alone, and a presigned
or GET query-protocol request takes its parameters from the signed query string only."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import UNSIGNED_PAYLOAD, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, ROLE, SECRET_KEY, Server, make_zip, unique

CREDS = Credentials(ACCESS_KEY, SECRET_KEY)
SESSION_TOKEN_BODY = b"Action=GetSessionToken&Version=2011-06-15"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


class UnsignedPayloadAuth(SigV4Auth):
    """botocore's header signer, signing UNSIGNED-PAYLOAD instead of the body's hash (what botocore
    does over HTTPS when payload signing is off)."""

    def payload(self, request: Any) -> str:
        return UNSIGNED_PAYLOAD


def _error_code(response: httpx.Response) -> str:
    if response.headers.get("x-amzn-errortype"):
        return response.headers["x-amzn-errortype"].split(":")[0]
    text = response.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else text


def _presigned_caller_identity(server: Server, signer: type[SigV4QueryAuth]) -> str:
    request = AWSRequest("GET", f"{server.endpoint}/?Action=GetCallerIdentity&Version=2011-06-15")
    signer(CREDS, "sts", REGION, expires=900).add_auth(request)
    return request.url


def test_presigned_url_over_unsigned_payload_cannot_mint_session_tokens(server: Server) -> None:
    # A presigned GetCallerIdentity URL (what EKS/Vault-style identity proofs hand out) signed over
    # UNSIGNED-PAYLOAD, sent as a GET whose body asks for GetSessionToken.
    url = _presigned_caller_identity(server, S3SigV4QueryAuth)
    assert "X-Amz-Signature=" in urlsplit(url).query
    response = httpx.request("GET", url, content=SESSION_TOKEN_BODY, headers=FORM, timeout=30)
    assert "<Credentials>" not in response.text and "SessionToken" not in response.text
    assert response.status_code == 403, response.text
    assert _error_code(response) == "SignatureDoesNotMatch"


def test_presigned_url_parameters_come_from_its_query_only(server: Server) -> None:
    # botocore's own STS presigner signs the empty body's hash: a body is then not what was signed.
    url = _presigned_caller_identity(server, SigV4QueryAuth)
    assert httpx.get(url, timeout=30).text.count("<GetCallerIdentityResult>") == 1
    response = httpx.request("GET", url, content=SESSION_TOKEN_BODY, headers=FORM, timeout=30)
    assert "SessionToken" not in response.text
    assert response.status_code == 403 and _error_code(response) == "SignatureDoesNotMatch"


def test_get_body_never_overrides_the_query(server: Server) -> None:
    # Even a body the signature covers does not make a GET's parameters: the query string does.
    request = AWSRequest("GET", f"{server.endpoint}/?Action=GetCallerIdentity&Version=2011-06-15",
                         data=SESSION_TOKEN_BODY, headers=dict(FORM))
    SigV4Auth(CREDS, "sts", REGION).add_auth(request)
    response = httpx.request("GET", request.url, content=SESSION_TOKEN_BODY, headers=dict(request.headers.items()),
                             timeout=30)
    assert response.status_code == 200, response.text
    assert "<GetCallerIdentityResult>" in response.text and "SessionToken" not in response.text


def test_header_signed_lambda_request_over_unsigned_payload_is_refused(server: Server, lam: Any) -> None:
    name = unique("swap")
    signed_body = json.dumps({"FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler",
                              "Role": ROLE, "Code": {"ZipFile": ""}}).encode()
    request = AWSRequest("POST", f"{server.endpoint}/2015-03-31/functions", data=signed_body,
                         headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": UNSIGNED_PAYLOAD})
    UnsignedPayloadAuth(CREDS, "lambda", REGION).add_auth(request)
    swapped = json.dumps({"FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
                          "Code": {"ZipFile": base64.b64encode(make_zip({"app.py": "def handler(e, c):\n"
                                                                                  "    return 'swapped'\n"})).decode()}
                          }).encode()
    response = httpx.post(request.url, content=swapped, headers=dict(request.headers.items()), timeout=30)
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-errortype"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as exc:  # not created (a listing of the shared server shows only 50)
        lam.get_function(FunctionName=name)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
