"""STS: GetCallerIdentity, AssumeRole (trust policies judged by the policy engine), GetSessionToken."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, unique

ACCOUNT = "000000000000"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def _trust(principal: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


def _user(server: Server, policy: dict[str, Any] | None = None) -> tuple[str, Any]:
    iam = server.client("iam")
    name = unique("caller")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])


def _session_client(server: Server, creds: dict[str, Any], service: str) -> Any:
    return server.client(service, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])


def test_caller_identity_of_root_and_user(server: Server) -> None:
    root = server.client("sts").get_caller_identity()
    assert (root["UserId"], root["Account"], root["Arn"]) == (ACCOUNT, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")
    name, sts = _user(server)
    me = sts.get_caller_identity()
    user_id = server.client("iam").get_user(UserName=name)["User"]["UserId"]
    assert (me["UserId"], me["Arn"]) == (user_id, f"arn:aws:iam::{ACCOUNT}:user/{name}")


def test_assume_role_named_in_trust_policy(server: Server) -> None:
    iam = server.client("iam")
    name, sts = _user(server)  # no identity policy: the trust policy names the user itself
    role = unique("role")
    role_id = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust(
        {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}))["Role"]["RoleId"]
    out = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="sess-1",
                          DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert creds["SessionToken"] and creds["SecretAccessKey"]
    lifetime = (creds["Expiration"] - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 600 < lifetime <= 900  # DurationSeconds is honoured
    assert out["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:sess-1",
                                      "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/sess-1"}
    me = _session_client(server, creds, "sts").get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/sess-1" and me["UserId"] == f"{role_id}:sess-1"


def test_trust_naming_the_account_also_needs_an_identity_policy(server: Server) -> None:
    iam = server.client("iam")
    role = unique("acctrole")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust({"AWS": ACCOUNT}))["Role"]["Arn"]
    name, sts = _user(server)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1")
    assert _error(exc) == (403, "AccessDenied", f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to "
                           f"perform: sts:AssumeRole on resource: {arn} because no identity-based policy allows the "
                           "sts:AssumeRole action")
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}]}))
    assert sts.assume_role(RoleArn=arn, RoleSessionName="s1")["AssumedRoleUser"]["Arn"].endswith(f"/{role}/s1")


def test_untrusted_or_unknown_role_is_refused_alike(server: Server) -> None:
    iam = server.client("iam")
    role = unique("ec2only")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust({"Service": "ec2.amazonaws.com"}))[
        "Role"]["Arn"]
    name, sts = _user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    for target in (arn, f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}"):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=target, RoleSessionName="s1")
        status, code, message = _error(exc)
        assert (status, code) == (403, "AccessDenied")
        assert message.startswith(f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: "
                                  f"sts:AssumeRole on resource: {target}")


def test_root_cannot_assume_roles(server: Server) -> None:
    arn = server.client("iam").create_role(RoleName=unique("r"), AssumeRolePolicyDocument=_trust(
        {"AWS": ACCOUNT}))["Role"]["Arn"]
    with pytest.raises(ClientError) as exc:
        server.client("sts").assume_role(RoleArn=arn, RoleSessionName="s1")
    assert _error(exc) == (403, "AccessDenied", "Roles may not be assumed by root accounts.")


def test_duration_and_session_name_limits(server: Server) -> None:
    iam = server.client("iam")
    name, sts = _user(server)
    role = unique("dur")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust(
        {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}))["Role"]["Arn"]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)
    assert _error(exc) == (400, "ValidationError",
                           "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="bad name")
    assert _error(exc) == (400, "ValidationError", "1 validation error detected: Value 'bad name' at "
                           "'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression "
                           "pattern: [\\w+=,.@-]*")
    iam.update_role(RoleName=role, MaxSessionDuration=7200)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)["Credentials"]
    # A role session assuming a role is limited to one hour (role chaining).
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=_trust(
        {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/{name}", arn]}))
    chained = _session_client(server, creds, "sts")
    with pytest.raises(ClientError) as exc:
        chained.assume_role(RoleArn=arn, RoleSessionName="again", DurationSeconds=7200)
    assert _error(exc) == (400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit "
                           "for roles assumed by role chaining.")
    assert chained.assume_role(RoleArn=arn, RoleSessionName="again")["AssumedRoleUser"]["Arn"].endswith("/again")


def test_assumed_role_acts_with_the_role_policies(server: Server) -> None:
    iam = server.client("iam")
    name, sts = _user(server)
    role = unique("reader")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust(
        {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}))["Role"]["Arn"]
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="work")["Credentials"]
    lam = _session_client(server, creds, "lambda")
    with pytest.raises(ClientError) as exc:
        lam.list_functions()
    assert _error(exc)[:2] == (403, "AccessDeniedException")
    assert f"assumed-role/{role}/work is not authorized to perform: lambda:ListFunctions" in _error(exc)[2]
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    assert "Functions" in lam.list_functions()


def test_get_session_token(server: Server) -> None:
    name, sts = _user(server)
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    me = _session_client(server, creds, "sts").get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    with pytest.raises(ClientError) as exc:
        _session_client(server, creds, "sts").get_session_token()
    assert _error(exc) == (403, "AccessDenied", "Cannot call GetSessionToken with session credentials")


def test_sessions_survive_restart(fresh_server: Server) -> None:
    fresh_server.start()
    iam = fresh_server.client("iam")
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/u"}))
    sts = fresh_server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r", RoleSessionName="s1")["Credentials"]
    fresh_server.stop()
    fresh_server.start()
    me = _session_client(fresh_server, creds, "sts").get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s1"
    fresh_server.stop()
    raw = b"".join(p.read_bytes() for p in fresh_server.data_dir.glob("lambdad.db*"))
    assert creds["SecretAccessKey"].encode() not in raw and creds["SessionToken"].encode() not in raw


# -- GetFederationToken, GetAccessKeyInfo ---------------------------------------------------------------

def test_federation_token_is_capped_by_its_session_policy(server: Server) -> None:
    _, sts = _user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:*", "sts:GetFederationToken"], "Resource": "*"}]})
    session_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}]})
    out = sts.get_federation_token(Name="bob", Policy=session_policy, DurationSeconds=900)
    assert out["FederatedUser"] == {"FederatedUserId": f"{ACCOUNT}:bob",
                                    "Arn": f"arn:aws:sts::{ACCOUNT}:federated-user/bob"}
    assert 0 < out["PackedPolicySize"] < 100
    creds = out["Credentials"]
    assert _session_client(server, creds, "sts").get_caller_identity()["Arn"] == out["FederatedUser"]["Arn"]
    lam = _session_client(server, creds, "lambda")
    lam.list_functions()  # the user's policy and the session policy both allow it
    with pytest.raises(ClientError) as exc:  # the user's policy allows it, the session policy does not
        lam.get_account_settings()
    assert _error(exc)[1:] == ("AccessDeniedException", f"User: arn:aws:sts::{ACCOUNT}:federated-user/bob is not "
                               "authorized to perform: lambda:GetAccountSettings on resource: * because no session "
                               "policy allows the lambda:GetAccountSettings action")
    bare = sts.get_federation_token(Name="nobody")["Credentials"]  # no session policy: no permissions
    with pytest.raises(ClientError) as exc:
        _session_client(server, bare, "lambda").list_functions()
    assert _error(exc)[:2] == (403, "AccessDeniedException")
    with pytest.raises(ClientError) as exc:
        _session_client(server, bare, "sts").get_federation_token(Name="again")
    assert _error(exc) == (403, "AccessDenied", "Cannot call GetFederationToken with session credentials")


def test_federation_token_needs_permission(server: Server) -> None:
    _, sts = _user(server)
    with pytest.raises(ClientError) as exc:
        sts.get_federation_token(Name="bob")
    assert _error(exc)[:2] == (403, "AccessDenied")


def test_get_access_key_info(server: Server) -> None:
    iam = server.client("iam")
    name = unique("keyinfo")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    assert server.client("sts").get_access_key_info(AccessKeyId=key)["Account"] == ACCOUNT
