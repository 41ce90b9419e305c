"""IAM beyond users and roles: instance profiles, service-linked roles, permissions boundaries
(returned and enforced), with boto3 and the AWS CLI. Names and messages follow the IAM snapshots
recorded from AWS (reference/aws-recorded) where they have them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, unique
from tests.services.conftest import aws_cli

ACCOUNT = "000000000000"
TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}]})


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


# -- instance profiles ---------------------------------------------------------------------------

def test_instance_profile_lifecycle(iam: Any) -> None:
    name, role = unique("profile"), unique("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    created = iam.create_instance_profile(InstanceProfileName=name, Path="/app/")["InstanceProfile"]
    assert set(created) == {"Path", "InstanceProfileName", "InstanceProfileId", "Arn", "CreateDate", "Roles"}
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/app/{name}"
    assert created["InstanceProfileId"].startswith("AIPA") and created["Roles"] == []
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    got = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == [role]
    with pytest.raises(ClientError) as exc:  # one role per profile
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    assert _error(exc) == (409, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
            ] == [name]
    listed = iam.list_instance_profiles(PathPrefix="/app/")["InstanceProfiles"]
    assert name in [p["InstanceProfileName"] for p in listed]
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=role)
    assert _error(exc) == (409, "DeleteConflict",
                           "Cannot delete entity, must remove roles from instance profile first.")
    with pytest.raises(ClientError) as exc:
        iam.delete_instance_profile(InstanceProfileName=name)
    assert _error(exc)[:2] == (409, "DeleteConflict")
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=name)
    iam.delete_role(RoleName=role)
    with pytest.raises(ClientError) as exc:
        iam.get_instance_profile(InstanceProfileName=name)
    assert _error(exc) == (404, "NoSuchEntity", f"Instance Profile {name} cannot be found.")


def test_instance_profiles_with_the_cli(server: Server) -> None:
    name = unique("cli-profile")
    out = aws_cli(server, "iam", "create-instance-profile", "--instance-profile-name", name)
    assert out["InstanceProfile"]["InstanceProfileName"] == name
    listed = aws_cli(server, "iam", "list-instance-profiles")
    assert name in [p["InstanceProfileName"] for p in listed["InstanceProfiles"]]
    aws_cli(server, "iam", "delete-instance-profile", "--instance-profile-name", name)


# -- service-linked roles --------------------------------------------------------------------------

def test_service_linked_role_for_elastic_load_balancing(iam: Any) -> None:
    service = "elasticloadbalancing.amazonaws.com"
    role = iam.create_service_linked_role(AWSServiceName=service)["Role"]
    assert role["RoleName"] == "AWSServiceRoleForElasticLoadBalancing"
    assert role["Path"] == f"/aws-service-role/{service}/"
    got = iam.get_role(RoleName=role["RoleName"])["Role"]
    assert got["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": service}
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    policy = "AWSElasticLoadBalancingServiceRolePolicy"
    assert attached == [{"PolicyName": policy, "PolicyArn": f"arn:aws:iam::aws:policy/aws-service-role/{policy}"}]
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName=service)
    assert _error(exc) == (400, "InvalidInput", "Service role name AWSServiceRoleForElasticLoadBalancing has been "
                                                "taken in this account, please try a different suffix.")
    with pytest.raises(ClientError) as exc:  # only AWS (DeleteServiceLinkedRole) may remove it
        iam.delete_role(RoleName=role["RoleName"])
    assert _error(exc)[:2] == (400, "UnmodifiableEntity")
    task = iam.delete_service_linked_role(RoleName=role["RoleName"])["DeletionTaskId"]
    assert task.startswith(f"task/aws-service-role/{service}/AWSServiceRoleForElasticLoadBalancing/")
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"


def test_service_linked_role_with_a_suffix(iam: Any) -> None:
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="fleet")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForAutoScaling_fleet"
    iam.delete_service_linked_role(RoleName=role["RoleName"])


# -- permissions boundaries --------------------------------------------------------------------------

def _policy(iam: Any, *actions: str) -> str:
    return str(iam.create_policy(PolicyName=unique("bound"), PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}))[
        "Policy"]["Arn"])


def test_a_boundary_is_returned_and_counted(iam: Any) -> None:
    arn = _policy(iam, "lambda:List*")
    role = unique("bounded")
    created = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2, PermissionsBoundary=arn)["Role"]
    boundary = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}
    assert created["PermissionsBoundary"] == boundary
    assert iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"] == boundary
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert _error(exc)[:2] == (409, "DeleteConflict")
    iam.delete_role_permissions_boundary(RoleName=role)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"]
    with pytest.raises(ClientError) as exc:
        iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/none")
    assert _error(exc)[:2] == (404, "NoSuchEntity")


def test_a_boundary_caps_what_identity_policies_grant(server: Server, iam: Any) -> None:
    user = unique("bounded-user")
    iam.create_user(UserName=user, PermissionsBoundary=_policy(iam, "lambda:ListFunctions"))
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    server.client("lambda", **as_user).list_functions()  # in both: allowed
    with pytest.raises(ClientError) as exc:  # AdministratorAccess allows it, the boundary does not
        server.client("iam", **as_user).list_users()
    assert _error(exc) == (403, "AccessDenied", f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to "
                                                "perform: iam:ListUsers on resource: * because no permissions "
                                                "boundary allows the iam:ListUsers action")
    iam.delete_user_permissions_boundary(UserName=user)
    server.client("iam", **as_user).list_users()  # the boundary gone, the admin policy applies


# -- the simulator and the account's picture ----------------------------------------------------------

S3_PUT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket"}]})


@pytest.mark.parametrize("kind", ["user", "group", "role"])
def test_simulate_principal_policy(iam: Any, kind: str) -> None:
    name = unique(kind)
    if kind == "user":
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=S3_PUT)
    elif kind == "group":
        arn = iam.create_group(GroupName=name)["Group"]["Arn"]
        iam.put_group_policy(GroupName=name, PolicyName="p", PolicyDocument=S3_PUT)
    else:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_EC2)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=S3_PUT)
    out = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:PutObject", "s3:GetObjectVersion"],
                                        ResourceArns=["arn:aws:s3:::bucket"])
    results = out["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("s3:PutObject", "allowed"), ("s3:GetObjectVersion", "implicitDeny")]
    assert results[0]["MatchedStatements"] == [{"SourcePolicyId": "p", "SourcePolicyType": "IAM Policy"}]
    assert results[1]["MatchedStatements"] == []
    assert results[0]["ResourceSpecificResults"][0]["EvalResourceDecision"] == "allowed"
    assert results[0]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert out["IsTruncated"] is False


def test_simulate_custom_policy_with_conditions_and_deny(iam: Any) -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}},
        {"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*"}]})
    out = iam.simulate_custom_policy(PolicyInputList=[document],
                                     ActionNames=["lambda:InvokeFunction", "lambda:DeleteFunction"],
                                     ContextEntries=[{"ContextKeyName": "aws:RequestedRegion",
                                                      "ContextKeyValues": ["eu-west-1"], "ContextKeyType": "string"}])
    assert [r["EvalDecision"] for r in out["EvaluationResults"]] == ["allowed", "explicitDeny"]
    missing = iam.simulate_custom_policy(PolicyInputList=[document], ActionNames=["lambda:InvokeFunction"])
    result = missing["EvaluationResults"][0]
    assert (result["EvalDecision"], result["MissingContextValues"]) == ("implicitDeny", ["aws:RequestedRegion"])
    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(PolicyInputList=['{"Statement": []}'], ActionNames=["s3:GetObject"])
    assert _error(exc) == (400, "MalformedPolicyDocument", "Syntax errors in policy.")


def test_account_authorization_details(iam: Any) -> None:
    role, user, group = unique("role"), unique("user"), unique("group")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=S3_PUT)
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    out = iam.get_account_authorization_details()
    roles = {r["RoleName"]: r for r in out["RoleDetailList"]}
    assert roles[role]["RolePolicyList"] == [{"PolicyName": "inline", "PolicyDocument": json.loads(S3_PUT)}]
    assert roles[role]["AssumeRolePolicyDocument"] == json.loads(TRUST_EC2) and roles[role]["Tags"] == []
    users = {u["UserName"]: u for u in out["UserDetailList"]}
    assert users[user]["GroupList"] == [group]
    assert users[user]["AttachedManagedPolicies"] == [
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]
    assert group in {g["GroupName"] for g in out["GroupDetailList"]}
    assert "arn:aws:iam::aws:policy/ReadOnlyAccess" in {p["Arn"] for p in out["Policies"]}
    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert "UserDetailList" not in only_roles and only_roles["RoleDetailList"]


# -- password policy, login profiles, DecodeAuthorizationMessage ------------------------------------

def test_password_policy_and_login_profiles(server: Server, iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_account_password_policy()
    assert _error(exc) == (404, "NoSuchEntity", f"The Password Policy with domain name {ACCOUNT} cannot be found.")
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireNumbers=True)
    got = iam.get_account_password_policy()["PasswordPolicy"]
    assert (got["MinimumPasswordLength"], got["RequireNumbers"], got["RequireSymbols"]) == (12, True, False)
    user = unique("console")
    iam.create_user(UserName=user)
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName=user, Password="short")
    assert _error(exc)[:2] == (400, "PasswordPolicyViolation")
    profile = iam.create_login_profile(UserName=user, Password="long-enough-42", PasswordResetRequired=True)
    assert profile["LoginProfile"]["UserName"] == user and profile["LoginProfile"]["PasswordResetRequired"] is True
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert _error(exc) == (409, "DeleteConflict", "Cannot delete entity, must delete login profile first.")
    iam.update_login_profile(UserName=user, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is False
    iam.delete_login_profile(UserName=user)
    iam.delete_user(UserName=user)
    iam.delete_account_password_policy()
    raw = b"".join(p.read_bytes() for p in server.data_dir.glob("lambdad.db*"))
    assert b"long-enough-42" not in raw


def test_decode_authorization_message_refuses_what_it_did_not_issue(server: Server) -> None:
    with pytest.raises(ClientError) as exc:
        server.client("sts").decode_authorization_message(EncodedMessage="bm90LWEtbWVzc2FnZQ==")
    assert _error(exc)[:2] == (400, "InvalidAuthorizationMessageException")


# -- kill -9: nothing acknowledged is lost -----------------------------------------------------------

def test_new_iam_state_survives_kill_9(fresh_server: Server) -> None:
    import signal
    fresh_server.start()
    iam = fresh_server.client("iam")
    provider = iam.create_open_id_connect_provider(Url="https://issuer.example.com", ClientIDList=["a"])[
        "OpenIDConnectProviderArn"]
    iam.create_instance_profile(InstanceProfileName="ip")
    boundary = iam.create_policy(PolicyName="b", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST_EC2, PermissionsBoundary=boundary)
    iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="r")
    slr = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]["RoleName"]
    fresh_server.stop(signal.SIGKILL)
    fresh_server.start()
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)["ClientIDList"] == ["a"]
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName="ip")["InstanceProfile"]["Roles"]
            ] == ["r"]
    assert iam.get_role(RoleName="r")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    assert iam.get_role(RoleName=slr)["Role"]["Path"] == "/aws-service-role/ecs.amazonaws.com/"


# -- groups, policy tags, account aliases, the summary, the credential report, context keys ----------

def test_update_group_renames_and_keeps_members(iam: Any) -> None:
    name, user = unique("group"), unique("member")
    iam.create_group(GroupName=name)
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=name, UserName=user)
    iam.update_group(GroupName=name, NewGroupName=name + "-2", NewPath="/teams/")
    got = iam.get_group(GroupName=name + "-2")
    assert got["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/teams/{name}-2"
    assert [u["UserName"] for u in got["Users"]] == [user]
    with pytest.raises(ClientError) as exc:
        iam.get_group(GroupName=name)
    assert _error(exc)[:2] == (404, "NoSuchEntity")


def test_policy_tags(iam: Any) -> None:
    arn = _policy(iam, "s3:GetObject")
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "Team", "Value": "a"}])
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "team", "Value": "b"}])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "team", "Value": "b"}]
    iam.untag_policy(PolicyArn=arn, TagKeys=["TEAM"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == []


def test_account_alias_summary_and_credential_report(server: Server, iam: Any) -> None:
    iam.create_account_alias(AccountAlias="my-lab")
    assert iam.list_account_aliases()["AccountAliases"] == ["my-lab"]
    with pytest.raises(ClientError) as exc:
        iam.create_account_alias(AccountAlias="Not_Valid")
    assert _error(exc)[:2] == (400, "ValidationError")
    iam.delete_account_alias(AccountAlias="my-lab")
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] >= 1 and summary["PolicySizeQuota"] == 6144 and summary["AssumeRolePolicySizeQuota"] == 2048
    user = unique("reported")
    iam.create_user(UserName=user)
    iam.create_access_key(UserName=user)
    assert iam.generate_credential_report()["State"] in ("STARTED", "COMPLETE")
    report = iam.get_credential_report()
    lines = report["Content"].decode().splitlines()
    assert lines[0].startswith("user,arn,user_creation_time,password_enabled")
    header = lines[0].split(",")
    rows = {line.split(",")[0]: dict(zip(header, line.split(","), strict=True)) for line in lines[1:]}
    assert rows["<root_account>"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert rows[user]["access_key_1_active"] == "true" and rows[user]["access_key_2_active"] == "false"
    assert report["ReportFormat"] == "text/csv"
    out = aws_cli(server, "iam", "get-account-summary")
    assert out["SummaryMap"]["RolePolicySizeQuota"] == 10240


def test_context_keys_for_policies(iam: Any) -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1", "s3:prefix": "home/"},
                       "Bool": {"aws:SecureTransport": "true"}}}]})
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[document])["ContextKeyNames"] == [
        "aws:RequestedRegion", "aws:SecureTransport", "s3:prefix"]
    role = unique("ctx")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=document)
    assert "s3:prefix" in iam.get_context_keys_for_principal_policy(PolicySourceArn=arn)["ContextKeyNames"]


# -- SAML providers --------------------------------------------------------------------------------

METADATA = ('<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'entityID="https://idp.example.com" validUntil="2030-01-01T00:00:00Z"><md:IDPSSODescriptor '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>' + "<!-- padding -->" * 70
            + "</md:EntityDescriptor>")  # the model's minimum is 1,000 characters


def test_saml_provider_lifecycle(server: Server, iam: Any) -> None:
    name = unique("idp")
    arn = iam.create_saml_provider(Name=name, SAMLMetadataDocument=METADATA)["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}"
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == METADATA and got["ValidUntil"].year == 2030
    assert arn in [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]
    iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=METADATA.replace("2030", "2031"))
    assert iam.get_saml_provider(SAMLProviderArn=arn)["ValidUntil"].year == 2031
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><md:EntityDescriptor>&a;</md:EntityDescriptor>'
    for bad in (bomb, "not xml at all", "<Other/>"):
        with pytest.raises(ClientError) as exc:
            iam.create_saml_provider(Name=unique("bad"), SAMLMetadataDocument=bad + " " * 1000)
        assert _error(exc) == (400, "InvalidInput", "Could not parse metadata")
    iam.delete_saml_provider(SAMLProviderArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_saml_provider(SAMLProviderArn=arn)
    assert _error(exc)[:2] == (404, "NoSuchEntity")


def test_assume_role_with_saml_is_refused_readably(server: Server) -> None:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    sts = boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                       config=Config(signature_version=UNSIGNED, retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_saml(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/x",
                                  PrincipalArn=f"arn:aws:iam::{ACCOUNT}:saml-provider/idp", SAMLAssertion="x" * 8)
    status, code, message = _error(exc)
    assert (status, code) == (400, "InvalidAction")
    assert message.endswith("operation AssumeRoleWithSAML is not implemented by this lambdad server.")
