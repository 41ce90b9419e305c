"""OIDC providers and sts:AssumeRoleWithWebIdentity, as CI systems deploy Lambda without keys.

A local HTTPS issuer (a self-signed certificate, whose SHA-1 is the provider's thumbprint) serves
its discovery document and key set; tokens are signed here with PyJWT. The trust policy is the one
the IAM User Guide gives for GitHub Actions (aud and sub conditions on the provider's keys).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.conftest import REGION, Server, make_zip, unique

ACCOUNT = "000000000000"
AUDIENCE = "sts.amazonaws.com"


class Issuer:
    """An OIDC issuer on loopback: https://127.0.0.1:PORT, keys by kid."""

    def __init__(self, tmp: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        cert_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(cert_key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1)).sign(cert_key, hashes.SHA256()))
        self.thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp / "key.pem").write_bytes(cert_key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    body = {"keys": [jwk | {"kid": issuer.kid, "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"https://{self.host}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, *, key: Any = None, kid: str | None = None, alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "repo:octo-org/app:ref:refs/heads/main", "iat": now,
                "exp": now + 300} | claims
        return jwt.encode(body, key or self.key, algorithm=alg, headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    found = Issuer(tmp_path_factory.mktemp("issuer"))
    yield found
    found.httpd.shutdown()


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


@pytest.fixture(scope="module")
def provider(iam: Any, issuer: Issuer) -> str:
    return str(iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=[AUDIENCE],
                                                   ThumbprintList=[issuer.thumbprint])["OpenIDConnectProviderArn"])


def _ci_role(iam: Any, issuer: Issuer, provider: str, sub: str = "repo:octo-org/app:*") -> str:
    name = unique("ci-deploy")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer.host}:aud": AUDIENCE},
                      "StringLike": {f"{issuer.host}:sub": sub}}}]}
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    iam.put_role_policy(RoleName=name, PolicyName="deploy", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:GetFunction"], "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}))
    return arn


def _unsigned_sts(server: Server) -> Any:
    return boto3.client("sts", endpoint_url=server.endpoint, region_name=REGION,
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 0}))


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def test_provider_lifecycle(iam: Any, issuer: Issuer, provider: str) -> None:
    assert provider == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer.host}"
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == (issuer.host, [AUDIENCE], [issuer.thumbprint])
    assert got["Tags"] == []  # IAM answers an empty list here, not nothing
    assert {"Arn": provider} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=[AUDIENCE])
    assert _error(exc) == (409, "EntityAlreadyExists", f"Provider with url {issuer.url} already exists.")
    other = iam.create_open_id_connect_provider(Url="https://example.com/oidc", ClientIDList=["a"],
                                                Tags=[{"Key": "team", "Value": "ci"}])["OpenIDConnectProviderArn"]
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=other, ClientID="b")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=other, ClientID="a")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=other, ThumbprintList=["a" * 40])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=other)
    assert (got["ClientIDList"], got["ThumbprintList"], got["Tags"]) == (["b"], ["a" * 40],
                                                                        [{"Key": "team", "Value": "ci"}])
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=other)
    with pytest.raises(ClientError) as exc:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=other)
    assert _error(exc) == (404, "NoSuchEntity", f"OpenIDConnect Provider not found for arn {other}")


def test_a_signed_token_mints_credentials_that_deploy_a_function(server: Server, iam: Any, issuer: Issuer,
                                                                 provider: str) -> None:
    role_arn = _ci_role(iam, issuer, provider)
    out = _unsigned_sts(server).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="gha-run-42", WebIdentityToken=issuer.token())
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert out["SubjectFromWebIdentityToken"] == "repo:octo-org/app:ref:refs/heads/main"
    assert out["Audience"] == AUDIENCE
    role_name = role_arn.rpartition("/")[2]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/gha-run-42"
    session = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
               "aws_session_token": creds["SessionToken"], "region_name": REGION, "endpoint_url": server.endpoint}
    me = boto3.client("sts", **session).get_caller_identity()
    assert me["Arn"] == out["AssumedRoleUser"]["Arn"]
    lam = boto3.client("lambda", **session)
    name = unique("from-ci")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                        Role=f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    with pytest.raises(ClientError) as exc:  # the role's policy allows deploying, not deleting
        lam.delete_function(FunctionName=name)
    assert _error(exc)[:2] == (403, "AccessDeniedException")


def test_wrong_audience_is_refused(server: Server, iam: Any, issuer: Issuer, provider: str) -> None:
    role_arn = _ci_role(iam, issuer, provider)
    with pytest.raises(ClientError) as exc:
        _unsigned_sts(server).assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="s1", WebIdentityToken=issuer.token(aud="someone-else"))
    assert _error(exc) == (400, "InvalidIdentityToken", "Incorrect token audience")


def test_trust_policy_sub_condition_is_enforced(server: Server, iam: Any, issuer: Issuer, provider: str) -> None:
    role_arn = _ci_role(iam, issuer, provider, sub="repo:octo-org/app:ref:refs/heads/main")
    with pytest.raises(ClientError) as exc:
        _unsigned_sts(server).assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="s1",
            WebIdentityToken=issuer.token(sub="repo:octo-org/app:pull_request"))
    assert _error(exc) == (403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")


# -- attacker tests ---------------------------------------------------------------------------------

def _refused(server: Server, role_arn: str, token: str) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        _unsigned_sts(server).assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="s1",
                                                            WebIdentityToken=token)
    return _error(exc)


def test_forged_expired_and_unsigned_tokens_are_refused(server: Server, iam: Any, issuer: Issuer,
                                                        provider: str) -> None:
    role_arn = _ci_role(iam, issuer, provider)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _refused(server, role_arn, issuer.token(key=forger))[:2] == (400, "InvalidIdentityToken")
    expired = issuer.token(exp=int(time.time()) - 60, iat=int(time.time()) - 600)
    assert _refused(server, role_arn, expired)[:2] == (400, "ExpiredTokenException")
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "repo:octo-org/app:x", "exp": int(time.time()) + 300}
    none = jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid})
    assert _refused(server, role_arn, none)[:2] == (400, "InvalidIdentityToken")
    # HMAC with the public key as the secret (the classic algorithm-confusion forgery).
    public_pem = issuer.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    import base64
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem, signing.encode(), hashlib.sha256).digest()
    assert _refused(server, role_arn, signing + "." + b64(mac))[:2] == (400, "InvalidIdentityToken")
    assert _refused(server, role_arn, "not-a-jwt")[:2] == (400, "InvalidIdentityToken")


def test_a_token_from_another_issuer_is_refused(server: Server, iam: Any, issuer: Issuer, provider: str) -> None:
    role_arn = _ci_role(iam, issuer, provider)
    token = issuer.token(iss="https://evil.example.com")
    assert _refused(server, role_arn, token) == (
        400, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://evil.example.com")


def test_a_thumbprint_mismatch_is_refused(server: Server, tmp_path: Path) -> None:
    other = Issuer(tmp_path)  # its own certificate; the provider names a different thumbprint
    try:
        iam = server.client("iam")
        arn = iam.create_open_id_connect_provider(Url=other.url, ClientIDList=[AUDIENCE],
                                                  ThumbprintList=["0" * 40])["OpenIDConnectProviderArn"]
        role_arn = _ci_role(iam, other, arn)
        assert _refused(server, role_arn, other.token()) == (
            400, "InvalidIdentityToken", "OpenIDConnect provider's HTTPS certificate doesn't match configured "
                                         "thumbprint")
    finally:
        other.httpd.shutdown()


def test_another_accounts_provider_does_not_count(server: Server, iam: Any, issuer: Issuer, provider: str) -> None:
    """The provider must be in the role's account: a role elsewhere gets no help from this one."""
    role_arn = "arn:aws:iam::111122223333:role/someone-elses"
    assert _refused(server, role_arn, issuer.token())[:2] == (400, "InvalidIdentityToken")


def test_the_aws_cli_assumes_a_role_with_a_web_identity(server: Server, iam: Any, issuer: Issuer,
                                                        provider: str) -> None:
    from tests.services.conftest import aws_cli
    role_arn = _ci_role(iam, issuer, provider)
    out = aws_cli(server, "sts", "assume-role-with-web-identity", "--role-arn", role_arn,
                  "--role-session-name", "cli", "--web-identity-token", issuer.token())
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    listed = aws_cli(server, "iam", "list-open-id-connect-providers")
    assert {"Arn": provider} in listed["OpenIDConnectProviderList"]


def test_another_account_neither_sees_nor_borrows_the_provider(server: Server, iam: Any, issuer: Issuer,
                                                               provider: str) -> None:
    """Account B cannot read A's provider, and a role in B trusting A's provider ARN gets nothing:
    the provider must be registered in the role's own account."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIATESTROOT00000001",
           "AWS_SECRET_ACCESS_KEY": "test-root-secret-key-for-lambdad-tests-0001", "AWS_DEFAULT_REGION": REGION}
    out = subprocess.run([sys.executable, "-m", "lambdad", "account", "create", unique("other"),
                          "--endpoint-url", server.endpoint], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    values = dict(line.split(" = ", 1) for line in out.stdout.splitlines() if " = " in line)
    other = server.client("iam", key=values["aws_access_key_id"], secret=values["aws_secret_access_key"])
    assert other.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    with pytest.raises(ClientError) as exc:
        other.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert _error(exc)[:2] == (404, "NoSuchEntity")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    role_arn = other.create_role(RoleName=unique("borrow"), AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert _refused(server, role_arn, issuer.token())[:2] == (400, "InvalidIdentityToken")
