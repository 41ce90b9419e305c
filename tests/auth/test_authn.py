"""Authentication on every service: unsigned, wrongly signed, unknown-key and stale requests are refused
with each protocol's codes; revoked keys stop working; auth can be turned off only on loopback."""

from __future__ import annotations

import datetime
import subprocess
import sys
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, free_port, server_env, unique

# service -> (a read-only call, codes for: wrong signature, unknown key)
CALLS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "lambda": ("list_functions", {}, "InvalidSignatureException", "UnrecognizedClientException"),
    "logs": ("describe_log_groups", {}, "InvalidSignatureException", "UnrecognizedClientException"),
    "iam": ("list_users", {}, "SignatureDoesNotMatch", "InvalidClientTokenId"),
    "sts": ("get_caller_identity", {}, "SignatureDoesNotMatch", "InvalidClientTokenId"),
    "sqs": ("list_queues", {}, "InvalidSignatureException", "UnrecognizedClientException"),
}
SERVICES = sorted(CALLS)


def _call(client: Any, service: str) -> Any:
    method, kwargs, _, _ = CALLS[service]
    return getattr(client, method)(**kwargs)


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"].get("Message", "")


UNSIGNED = {
    "lambda": ("GET", "/2015-03-31/functions/", {}, b""),
    "logs": ("POST", "/", {"x-amz-target": "Logs_20140328.DescribeLogGroups",
                           "content-type": "application/x-amz-json-1.1"}, b"{}"),
    "iam": ("POST", "/", {"content-type": "application/x-www-form-urlencoded"},
            b"Action=ListUsers&Version=2010-05-08"),
    "sts": ("POST", "/", {"content-type": "application/x-www-form-urlencoded"},
            b"Action=GetCallerIdentity&Version=2011-06-15"),
    "sqs": ("POST", "/", {"x-amz-target": "AmazonSQS.ListQueues", "content-type": "application/x-amz-json-1.0"},
            b"{}"),
}


@pytest.mark.parametrize("service", SERVICES)
def test_unsigned_request_is_refused(server: Server, service: str) -> None:
    method, path, headers, body = UNSIGNED[service]
    resp = httpx.request(method, server.endpoint + path, headers=headers, content=body)
    assert resp.status_code == 403
    if service in ("iam", "sts"):
        assert "<Code>MissingAuthenticationToken</Code>" in resp.text
        assert "<Message>Missing Authentication Token</Message>" in resp.text
    else:
        assert "MissingAuthenticationToken" in (resp.headers.get("x-amzn-errortype", "") + resp.text)
        assert "Missing Authentication Token" in resp.text


@pytest.mark.parametrize("service", SERVICES)
def test_wrong_signature_is_refused(server: Server, service: str) -> None:
    client = server.client(service, secret="not-the-right-secret-at-all-000000000000")
    with pytest.raises(ClientError) as exc:
        _call(client, service)
    status, code, message = _error(exc)
    assert status == 403
    assert code == CALLS[service][2] or (service == "sqs" and code == "SignatureDoesNotMatch")
    assert "The request signature we calculated does not match the signature you provided" in message


@pytest.mark.parametrize("service", SERVICES)
def test_unknown_access_key_is_refused(server: Server, service: str) -> None:
    client = server.client(service, key="AKIAUNKNOWN000000000", secret="whatever-secret")
    with pytest.raises(ClientError) as exc:
        _call(client, service)
    status, code, message = _error(exc)
    assert status == 403
    assert code == CALLS[service][3] or (service == "sqs" and code == "InvalidClientTokenId")
    assert message == "The security token included in the request is invalid."


@pytest.mark.parametrize("service", SERVICES)
def test_stale_signature_is_refused(server: Server, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    signed_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at)
    client = server.client(service)
    with pytest.raises(ClientError) as exc:
        _call(client, service)
    status, code, message = _error(exc)
    assert status == 403
    assert code == CALLS[service][2] or (service == "sqs" and code == "SignatureDoesNotMatch")
    assert message.startswith(f"Signature expired: {signed_at.strftime('%Y%m%dT%H%M%SZ')} is now earlier than ")
    assert message.endswith(" - 15 min.)")


def test_fresh_signature_is_accepted_on_every_service(server: Server) -> None:
    for service in SERVICES:
        _call(server.client(service), service)


def test_deleted_and_inactive_keys_stop_working(server: Server) -> None:
    iam = server.client("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{name}")

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert _error(exc)[:2] == (403, "InvalidClientTokenId")
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Account"] == "000000000000"

    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert _error(exc)[:2] == (403, "InvalidClientTokenId")


def test_temporary_keys_need_their_session_token(server: Server) -> None:
    creds = server.client("sts").get_session_token()["Credentials"]
    good = server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    assert good.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    for token in (None, "not-the-token"):
        kwargs = {"aws_session_token": token} if token else {}
        bad = server.client("lambda", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], **kwargs)
        with pytest.raises(ClientError) as exc:
            bad.list_functions()
        assert _error(exc)[:2] == (403, "UnrecognizedClientException")


def test_auth_off_is_refused_unless_on_loopback(tmp_path: Any) -> None:
    proc = subprocess.run([sys.executable, "-m", "lambdad", "serve", "--auth", "false", "--host", "0.0.0.0",
                           "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
                          env=server_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "refusing --auth false on a non-loopback address" in proc.stderr


def test_auth_off_on_loopback_accepts_unsigned_requests_as_root(tmp_path: Any) -> None:
    srv = Server(tmp_path / "data", free_port(), server_env(), extra_args=["--auth", "false"])
    srv.start()
    try:
        resp = httpx.get(srv.endpoint + "/2015-03-31/functions/")
        assert resp.status_code == 200 and resp.json()["Functions"] == []
        resp = httpx.post(srv.endpoint + "/", content=b"Action=GetCallerIdentity&Version=2011-06-15",
                          headers={"content-type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 200
        assert "<Arn>arn:aws:iam::000000000000:root</Arn>" in resp.text
        assert "AUTHENTICATION IS OFF" in srv.log_text()
    finally:
        srv.stop()

