"""IAM over the wire with boto3 and the AWS CLI: users, keys, groups, roles, inline and managed policies.
Field sets, codes and messages follow the IAM snapshots recorded from AWS (reference/aws-recorded)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, unique

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["lambda:GetFunction"], "Resource": "*"}]})
TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}]})


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


# -- users -------------------------------------------------------------------------------------------

def test_user_lifecycle_field_sets(iam: Any) -> None:
    name = unique("user")
    user = iam.create_user(UserName=name, Path="/team/", Tags=[{"Key": "k", "Value": "v"}])["User"]
    assert set(user) == {"Path", "UserName", "UserId", "Arn", "CreateDate", "Tags"}
    assert user["Arn"] == f"arn:aws:iam::000000000000:user/team/{name}"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert iam.get_user(UserName=name)["User"] == user
    listed = [u for u in iam.list_users(PathPrefix="/team/")["Users"] if u["UserName"] == name]
    assert listed and "Tags" not in listed[0]
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "k", "Value": "v"}]
    iam.update_user(UserName=name, NewPath="/other/")
    assert iam.get_user(UserName=name)["User"]["Arn"].endswith(f":user/other/{name}")
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName=name)
    assert _error(exc) == (404, "NoSuchEntity", f"The user with name {name} cannot be found.")


def test_user_names_are_unique_regardless_of_case(iam: Any) -> None:
    name = unique("User")
    iam.create_user(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name.upper())
    assert _error(exc) == (409, "EntityAlreadyExists", f"User with name {name.upper()} already exists.")


def test_invalid_user_name(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="bad name")
    assert _error(exc) == (400, "ValidationError", "1 validation error detected: Value 'bad name' at 'userName' "
                           "failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")


def test_get_user_without_name_is_the_caller(server: Server, iam: Any) -> None:
    root = iam.get_user()["User"]
    assert root["Arn"] == "arn:aws:iam::000000000000:root" and root["UserId"] == "000000000000"
    name = unique("self")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                "Resource": "arn:aws:iam::*:user/${aws:username}"}]}))
    own = server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert own.get_user()["User"]["UserName"] == name


def test_access_keys_quota_status_and_delete_conflict(iam: Any) -> None:
    name = unique("keys")
    iam.create_user(UserName=name)
    first = iam.create_access_key(UserName=name)["AccessKey"]
    assert set(first) == {"UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"}
    assert first["AccessKeyId"].startswith("AKIA") and len(first["AccessKeyId"]) == 20
    assert first["Status"] == "Active" and len(first["SecretAccessKey"]) == 40
    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=name)
    assert _error(exc) == (409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert next(k["AccessKeyId"] for k in listed) == first["AccessKeyId"]
    assert all("SecretAccessKey" not in k for k in listed)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert _error(exc) == (409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName=name, AccessKeyId="AKIA0000000000000000")
    assert _error(exc) == (404, "NoSuchEntity", "The Access Key with id AKIA0000000000000000 cannot be found.")
    for key in listed:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)


# -- groups ------------------------------------------------------------------------------------------

def test_groups_and_membership(iam: Any) -> None:
    group, user = unique("group"), unique("member")
    created = iam.create_group(GroupName=group)["Group"]
    assert set(created) == {"Path", "GroupName", "GroupId", "Arn", "CreateDate"}
    assert created["GroupId"].startswith("AGPA")
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)
    got = iam.get_group(GroupName=group)
    assert [u["UserName"] for u in got["Users"]] == [user] and got["Group"]["GroupName"] == group
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName=group)
    assert _error(exc)[:2] == (409, "DeleteConflict")
    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.delete_group(GroupName=group)
    with pytest.raises(ClientError) as exc:
        iam.get_group(GroupName=group)
    assert _error(exc) == (404, "NoSuchEntity", f"The group with name {group} cannot be found.")


# -- roles -------------------------------------------------------------------------------------------

def test_role_field_sets_match_aws(iam: Any) -> None:
    name = unique("role")
    created = iam.create_role(RoleName=name, Path="/svc/", AssumeRolePolicyDocument=TRUST_EC2,
                              Tags=[{"Key": "test", "Value": "value"}])["Role"]
    assert set(created) == {"Arn", "AssumeRolePolicyDocument", "CreateDate", "Path", "RoleId", "RoleName", "Tags"}
    assert created["AssumeRolePolicyDocument"] == json.loads(TRUST_EC2)
    assert created["RoleId"].startswith("AROA") and created["Arn"] == f"arn:aws:iam::000000000000:role/svc/{name}"
    got = iam.get_role(RoleName=name)["Role"]
    assert set(got) == set(created) | {"MaxSessionDuration", "RoleLastUsed"}
    assert got["MaxSessionDuration"] == 3600 and got["RoleLastUsed"] == {}
    listed = next(r for r in iam.list_roles(PathPrefix="/svc/")["Roles"] if r["RoleName"] == name)
    assert set(listed) == {"Arn", "AssumeRolePolicyDocument", "CreateDate", "MaxSessionDuration", "Path", "RoleId",
                           "RoleName"}
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}]})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(trust)
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert _error(exc) == (404, "NoSuchEntity", f"The role with name {name} cannot be found.")


def test_malformed_trust_policy(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique("bad"), AssumeRolePolicyDocument="{not json")
    assert _error(exc) == (400, "MalformedPolicyDocument", "This policy contains invalid Json")
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique("bad"), AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}))
    assert _error(exc) == (400, "MalformedPolicyDocument", "Missing required field Principal")


def test_policy_documents_keep_their_encoding(iam: Any) -> None:
    """IAM returns the document as written (URL-encoded on the wire); %-escapes inside survive."""
    name = unique("enc")
    iam.create_user(UserName=name)
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["apigatway:PUT"],
        "Resource": ["arn:aws:apigateway:us-east-1::/tags/arn%3Aaws%3Aapigateway%3Aus-east-1%3A%3A%2Frestapis%2Fx"]}]})
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
    got = iam.get_user_policy(UserName=name, PolicyName="p")
    assert got["PolicyDocument"] == json.loads(document) and got["UserName"] == name and got["PolicyName"] == "p"


# -- inline policies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["user", "group", "role"])
def test_inline_policies(iam: Any, kind: str) -> None:
    label = kind.capitalize()
    owner = unique(kind)
    if kind == "role":
        iam.create_role(RoleName=owner, AssumeRolePolicyDocument=TRUST_EC2)
    else:
        getattr(iam, f"create_{kind}")(**{f"{label}Name": owner})
    key = {f"{label}Name": owner}
    getattr(iam, f"put_{kind}_policy")(PolicyName="one", PolicyDocument=POLICY, **key)
    assert getattr(iam, f"list_{kind}_policies")(**key)["PolicyNames"] == ["one"]
    got = getattr(iam, f"get_{kind}_policy")(PolicyName="one", **key)
    assert got["PolicyDocument"] == json.loads(POLICY) and got[f"{label}Name"] == owner
    with pytest.raises(ClientError) as exc:
        getattr(iam, f"delete_{kind}")(**key)
    assert _error(exc) == (409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
    getattr(iam, f"delete_{kind}_policy")(PolicyName="one", **key)
    with pytest.raises(ClientError) as exc:
        getattr(iam, f"get_{kind}_policy")(PolicyName="one", **key)
    assert _error(exc) == (404, "NoSuchEntity", f"The {kind} policy with name one cannot be found.")
    with pytest.raises(ClientError) as exc:
        getattr(iam, f"put_{kind}_policy")(PolicyName="two", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*"}]}), **key)
    assert _error(exc) == (400, "MalformedPolicyDocument", "Policy statement must contain resources.")
    getattr(iam, f"delete_{kind}")(**key)


# -- managed policies --------------------------------------------------------------------------------

def test_managed_policy_versions(iam: Any) -> None:
    name = unique("mp")
    policy = iam.create_policy(PolicyName=name, PolicyDocument=POLICY, Description="d")["Policy"]
    assert set(policy) == {"PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "AttachmentCount",
                           "PermissionsBoundaryUsageCount", "IsAttachable", "CreateDate", "UpdateDate"}
    assert policy["DefaultVersionId"] == "v1" and policy["AttachmentCount"] == 0
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::000000000000:policy/{name}"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Description"] == "d"
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name, PolicyDocument=POLICY)
    assert _error(exc) == (409, "EntityAlreadyExists",
                           f"A policy called {name} already exists. Duplicate names are not allowed.")
    for n in range(2, 6):
        version = iam.create_policy_version(PolicyArn=arn, PolicyDocument=POLICY, SetAsDefault=n == 3)
        assert version["PolicyVersion"]["VersionId"] == f"v{n}"
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=POLICY)
    assert _error(exc) == (409, "LimitExceeded", "A managed policy can have up to 5 versions. Before you create a "
                           "new version, you must delete an existing version.")
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v3"]
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
    assert got["Document"] == json.loads(POLICY) and got["IsDefaultVersion"] is True
    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    assert _error(exc) == (409, "DeleteConflict", "Cannot delete the default version of a policy.")
    with pytest.raises(ClientError) as exc:
        iam.get_policy_version(PolicyArn=arn, VersionId="v9")
    assert _error(exc) == (404, "NoSuchEntity", f"Policy {arn} version v9 does not exist or is not attachable.")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v5")
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert _error(exc)[:2] == (409, "DeleteConflict")
    for v in ("v1", "v2", "v3", "v4"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert _error(exc) == (404, "NoSuchEntity", f"Policy {arn} was not found.")


@pytest.mark.parametrize("kind", ["user", "role", "group"])
def test_attach_and_detach(iam: Any, kind: str) -> None:
    label = kind.capitalize()
    owner = unique(kind)
    if kind == "role":
        iam.create_role(RoleName=owner, AssumeRolePolicyDocument=TRUST_EC2)
    else:
        getattr(iam, f"create_{kind}")(**{f"{label}Name": owner})
    key = {f"{label}Name": owner}
    name = unique("attached-policy")  # >= 20 characters: boto3 checks PolicyArn's length itself
    arn = iam.create_policy(PolicyName=name, PolicyDocument=POLICY)["Policy"]["Arn"]
    attach = getattr(iam, f"attach_{kind}_policy")
    for bad in ("not-an-arn-but-long-enough", name):  # as recorded from AWS
        with pytest.raises(ClientError) as exc:
            attach(PolicyArn=bad, **key)
        assert _error(exc) == (400, "ValidationError", "Invalid ARN:  Could not be parsed!")
    with pytest.raises(ClientError) as exc:
        attach(PolicyArn=arn + "123", **key)
    assert _error(exc) == (404, "NoSuchEntity", f"Policy {arn}123 does not exist or is not attachable.")
    attach(PolicyArn=arn, **key)
    attach(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", **key)
    attached = getattr(iam, f"list_attached_{kind}_policies")(**key)["AttachedPolicies"]
    assert attached == [{"PolicyName": name, "PolicyArn": arn},
                        {"PolicyName": "AWSLambdaBasicExecutionRole",
                         "PolicyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert [e[f"{label}Name"] for e in entities[f"Policy{label}s"]] == [owner]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert _error(exc) == (409, "DeleteConflict", "Cannot delete a policy attached to entities.")
    with pytest.raises(ClientError) as exc:
        getattr(iam, f"delete_{kind}")(**key)
    assert _error(exc) == (409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
    detach = getattr(iam, f"detach_{kind}_policy")
    detach(PolicyArn=arn, **key)
    detach(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", **key)
    with pytest.raises(ClientError) as exc:
        detach(PolicyArn=arn, **key)
    assert _error(exc) == (404, "NoSuchEntity", f"Policy {arn} was not found.")
    iam.delete_policy(PolicyArn=arn)
    getattr(iam, f"delete_{kind}")(**key)


def test_aws_managed_policies_are_listed_and_readable(iam: Any) -> None:
    arns = {p["Arn"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}
    for arn in ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/AWSLambdaExecute",
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                "arn:aws:iam::aws:policy/ReadOnlyAccess"):
        assert arn in arns
    basic = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")["Policy"]
    assert basic["Path"] == "/service-role/" and basic["DefaultVersionId"] == "v1"
    document = iam.get_policy_version(PolicyArn=basic["Arn"], VersionId="v1")["PolicyVersion"]["Document"]
    assert set(document["Statement"][0]["Action"]) == {"logs:CreateLogGroup", "logs:CreateLogStream",
                                                        "logs:PutLogEvents"}
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=basic["Arn"])
    assert _error(exc)[:2] == (403, "AccessDenied")


def test_list_pagination(iam: Any) -> None:
    prefix = f"/{unique('page')}/"
    names = sorted(unique("p") for _ in range(5))
    for name in names:
        iam.create_user(UserName=name, Path=prefix)
    first = iam.list_users(PathPrefix=prefix, MaxItems=2)
    assert first["IsTruncated"] is True and [u["UserName"] for u in first["Users"]] == names[:2]
    pages = iam.get_paginator("list_users").paginate(PathPrefix=prefix, PaginationConfig={"PageSize": 2})
    assert [u["UserName"] for page in pages for u in page["Users"]] == names


# -- the AWS CLI, and persistence ---------------------------------------------------------------------

def _aws(server: Server, *args: str) -> Any:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_PROFILE", None)
    aws = str(Path(sys.executable).with_name("aws"))
    out = subprocess.run([aws, "--endpoint-url", server.endpoint, "--output", "json", *args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def test_aws_cli(server: Server) -> None:
    name = unique("cli")
    created = _aws(server, "iam", "create-user", "--user-name", name)
    assert created["User"]["UserName"] == name
    assert name in [u["UserName"] for u in _aws(server, "iam", "list-users")["Users"]]
    assert _aws(server, "sts", "get-caller-identity")["Arn"] == "arn:aws:iam::000000000000:root"
    _aws(server, "iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document", POLICY)
    assert _aws(server, "iam", "get-user-policy", "--user-name", name, "--policy-name", "p")["PolicyDocument"] == \
        json.loads(POLICY)


def test_state_and_keys_survive_restart_with_secrets_encrypted(fresh_server: Server) -> None:
    fresh_server.start()
    iam = fresh_server.client("iam")
    iam.create_user(UserName="survivor")
    key = iam.create_access_key(UserName="survivor")["AccessKey"]
    fresh_server.stop()
    fresh_server.start()
    assert iam.get_user(UserName="survivor")["User"]["UserName"] == "survivor"
    sts = fresh_server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:user/survivor"
    fresh_server.stop()
    raw = b"".join(p.read_bytes() for p in fresh_server.data_dir.glob("lambdad.db*"))
    assert key["AccessKeyId"].encode() in raw and key["SecretAccessKey"].encode() not in raw
    with sqlite3.connect(fresh_server.data_dir / "lambdad.db") as db:
        stored = json.loads(db.execute("SELECT data FROM iam_entities WHERE kind='key'").fetchone()[0])
    assert stored["Secret"].startswith("v1:")
    master = fresh_server.data_dir / "master.key"
    assert master.stat().st_mode & 0o777 == 0o600
