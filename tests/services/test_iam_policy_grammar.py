"""IAM's policy grammar over the wire, both ways: documents IAM stores are stored, documents it
refuses are refused with its MalformedPolicyDocument message.

The valid documents are the IAM User Guide's examples ("Example IAM identity-based policies", "IAM
JSON policy elements", "Creating a role for web identity or OpenID Connect federation", ...); the
invalid ones break one rule of "Grammar of the IAM JSON policy language" each. Every row runs
against the real server with boto3: managed rows through CreatePolicy (and CreatePolicyVersion),
inline rows through PutRolePolicy and PutUserPolicy, trust rows through CreateRole and
UpdateAssumeRolePolicy.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, unique

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
BUCKET = "arn:aws:s3:::example_bucket"

SYNTAX = "Syntax errors in policy."
VERSION = "Policy document must be version 2012-10-17 or greater."
LEGACY = "The policy failed legacy parsing"
VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."


def stmt(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET} | fields


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17", **top: Any) -> dict[str, Any]:
    out: dict[str, Any] = {} if version is None else {"Version": version}
    return out | top | {"Statement": list(statements) if len(statements) != 1 else statements[0]}


def bare(statement: dict[str, Any], drop: str) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if k != drop}


# -- identity policies IAM stores (managed and inline) ---------------------------------------------
VALID_IDENTITY = [
    ("list-bucket", doc(stmt())),
    ("statement-as-list", doc(stmt(), stmt(Sid="Second"))),
    ("star-action", doc(stmt(Action="*"))),
    ("star-resource", doc(stmt(Resource="*"))),
    ("resource-list-with-star", doc(stmt(Resource=[BUCKET, "*"]))),
    ("action-with-spaces-after-vendor", doc(stmt(Action="iam: asdf safdsf af "))),
    ("vendor-with-dash", doc(stmt(Action="s3-s:ListBucket"))),
    ("vendor-with-dot", doc(stmt(Action="s3.s:ListBucket"))),
    ("unknown-vendor", doc(stmt(Action="aaaaaadsfdsafsadfsadfaaaaa:ListBucket"))),
    ("action-wildcards", doc(stmt(Action=["s3:Get*", "s3:*Object", "ec2:Describe?pcs"]))),
    ("not-action", doc(bare(stmt(NotAction="iam:*"), "Action"))),
    ("not-resource-deny", doc(bare(stmt(Effect="Deny", Action="s3:*"), "Resource")
                              | {"NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})),
    ("not-action-not-resource", doc({"Effect": "Allow", "NotAction": "s3:ListBucket", "NotResource": "*"})),
    ("id-string", doc(stmt(), Id="cd3a324d2343d942772346-34234234423404-4c2242343242349d1642ee")),
    ("three-part-arn", doc(stmt(Resource="arn:aws:fdsasf"))),
    ("iam-user-arn", doc(stmt(Resource="arn:aws:iam:::user/example"))),
    ("iam-username-variable", doc(stmt(Action=["iam:ChangePassword", "iam:GetUser"],
                                       Resource="arn:aws:iam::*:user/${aws:username}"))),
    ("region-in-ec2-arn", doc(stmt(Resource="arn:aws:ec2:us-east-1::instance/*"))),
    ("unknown-service-with-region", doc(stmt(Resource="arn:aws:invalid-service:us-east-1::thing"))),
    ("china-partition", doc(stmt(Resource="arn:aws-cn:s3:::bucket"))),
    ("empty-condition", doc(stmt(Condition={}))),
    ("empty-operator-block", doc(stmt(Condition={"DateGreaterThan": {}}))),
    ("unknown-operator-empty-block", doc(stmt(Condition={"x": {}, "y": {}}))),
    ("condition-key-without-vendor", doc(stmt(Condition={"StringEqualsIfExists": {"a": "asf"}}))),
    ("date-range", doc(stmt(Condition={"DateGreaterThan": {"aws:CurrentTime": "2017-07-01T00:00:00Z"},
                                       "DateLessThan": {"aws:CurrentTime": "2017-12-31T23:59:59Z"}}))),
    ("date-with-offset-and-fraction", doc(stmt(Condition={
        "DateLessThanEquals": {"aws:CurrentTime": "2016-12-13T21:20:37.593194+00:00"}}))),
    ("date-epoch-negative", doc(stmt(Condition={"DateLessThan": {"aws:EpochTime": "-292275054"}}))),
    ("date-epoch-number", doc(stmt(Condition={"DateGreaterThan": {"aws:EpochTime": 1700000000}}))),
    ("date-list-empty", doc(stmt(Condition={"DateGreaterThan": {"aws:CurrentTime": []}}))),
    ("mfa-bool-if-exists", doc(bare(stmt(Effect="Deny", Resource="*",
                                         Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
                                    "Action") | {"NotAction": ["iam:ListMFADevices", "sts:GetSessionToken"]})),
    ("bool-as-json-boolean", doc(stmt(Condition={"Bool": {"aws:SecureTransport": True}}))),
    ("source-ip-deny", doc(stmt(Effect="Deny", Action="*", Resource="*",
                                Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}))),
    ("request-tags", doc(stmt(Action=["iam:TagUser", "iam:TagRole"], Resource="*", Condition={
        "StringEquals": {"aws:RequestTag/CostCenter": ["A-123", "B-456"]},
        "ForAllValues:StringEquals": {"aws:TagKeys": "CostCenter"}}))),
    ("for-any-value-if-exists", doc(stmt(Condition={"ForAnyValue:StringEqualsIfExists": {"a": "asf"}}))),
    ("requested-region", doc(stmt(Action="*", Resource="*", Effect="Deny",
                                  Condition={"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}}))),
    ("null-condition", doc(stmt(Condition={"Null": {"aws:TokenIssueTime": "true"}}))),
    ("numeric-max-keys", doc(stmt(Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))),
    ("arn-like-source", doc(stmt(Action="lambda:InvokeFunction", Resource="*",
                                 Condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:topic"}}))),
    ("cognito-variable-prefix", doc(stmt(Condition={
        "StringLike": {"s3:prefix": ["cognito/app/${cognito-identity.amazonaws.com:sub}"]}}))),
    ("dynamodb-leading-keys", doc(stmt(Action=["dynamodb:GetItem", "dynamodb:Query"],
                                       Resource="arn:aws:dynamodb:*:*:table/MyTable",
                                       Condition={"ForAllValues:StringEquals": {
                                           "dynamodb:LeadingKeys": ["${www.amazon.com:user_id}"]}}))),
    ("sid-alphanumeric", doc(stmt(Sid="AllowListBucket1"), stmt(Sid="", Action="s3:GetObject"))),
    ("lambda-full-example", doc(
        stmt(Sid="ReadOnly", Action=["lambda:GetFunction", "lambda:ListFunctions"], Resource="*"),
        stmt(Sid="Invoke", Action="lambda:InvokeFunction",
             Resource="arn:aws:lambda:us-east-1:123456789012:function:my-function*"),
        stmt(Sid="PassRole", Action="iam:PassRole", Resource="arn:aws:iam::*:role/lambda-*",
             Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}))),
]

# Valid inline (and trust) documents that managed policies refuse: the version rule.
VALID_INLINE_ONLY = [
    ("inline-no-version", doc(stmt(), version=None)),
    ("inline-version-2008", doc(stmt(), version="2008-10-17")),
]

# -- identity policies IAM refuses ------------------------------------------------------------------
INVALID_IDENTITY = [
    ("not-json", "This is not a json document", SYNTAX),
    ("json-array", "[]", SYNTAX),
    ("no-statement", {"Version": "2012-10-17"}, SYNTAX),
    ("empty-statement-list", {"Version": "2012-10-17", "Statement": []}, SYNTAX),
    ("statement-not-object", {"Version": "2012-10-17", "Statement": ["afd"]}, SYNTAX),
    ("unknown-version", doc(stmt(), version="2013-10-17"), SYNTAX),
    ("extra-top-field", doc(stmt(), **{"Extra field": "value"}), SYNTAX),
    ("extra-statement-field", doc(stmt(**{"Extra field": "value"})), SYNTAX),
    ("id-list", doc(stmt(), Id=["x"]), SYNTAX),
    ("id-object", doc(stmt(), Id={}), SYNTAX),
    ("id-number", doc(stmt(), Id=7), SYNTAX),
    ("effect-unknown", doc(stmt(Effect="invalid")), SYNTAX),
    ("effect-missing", doc(bare(stmt(), "Effect")), SYNTAX),
    ("action-and-not-action", doc(stmt(NotAction="s3:ListBucket")), SYNTAX),
    ("resource-and-not-resource", doc(stmt(NotResource="*")), SYNTAX),
    ("resource-object", doc(stmt(Resource={"a": BUCKET})), SYNTAX),
    ("resource-list-with-object", doc(stmt(Resource=["adfdf", {}])), SYNTAX),
    ("action-nested-list", doc(stmt(Action=[[]])), SYNTAX),
    ("action-object", doc(stmt(Action={})), SYNTAX),
    ("sid-object", doc(stmt(Sid={})), SYNTAX),
    ("sid-list", doc(stmt(Sid=[])), SYNTAX),
    ("condition-list", doc(stmt(Condition=[])), SYNTAX),
    ("condition-string", doc(stmt(Condition="a")), SYNTAX),
    ("operator-block-string", doc(stmt(Condition={"DateGreaterThan": "b"})), SYNTAX),
    ("operator-block-list", doc(stmt(Condition={"DateGreaterThan": []})), SYNTAX),
    ("condition-value-object", doc(stmt(Condition={"StringEquals": {"aws:username": {}}})), SYNTAX),
    ("unknown-operator", doc(stmt(Condition={"x": {"a": "1"}})), SYNTAX),
    ("misspelt-operator", doc(stmt(Condition={"StringEqualz": {"aws:username": "a"}})), SYNTAX),
    ("double-colon-set-operator", doc(stmt(Condition={"ForAnyValue::StringEqualsIfExists": {"a": "b"}})),
     SYNTAX),
    ("null-if-exists", doc(stmt(Condition={"NullIfExists": {"aws:username": "true"}})), SYNTAX),
    ("missing-version-managed", doc(stmt(), version=None), VERSION),
    ("version-2008-managed", doc(stmt(), version="2008-10-17"), VERSION),
    ("effect-wrong-case", doc(stmt(Effect="denY")), LEGACY),
    ("date-not-a-date", doc(stmt(Condition={"DateGreaterThan": {"aws:CurrentTime": "sdfdsf"}})), LEGACY),
    ("date-bad-offset", doc(stmt(Condition={"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+1"}})), LEGACY),
    ("date-epoch-overflow", doc(stmt(Condition={"DateLessThan": {"a": "9223372036854775808"}})), LEGACY),
    ("arn-five-parts", doc(stmt(Resource="arn:aws:s3::example_bucket")), LEGACY),
    ("arn-empty-service", doc(stmt(Resource="arn:aws::::example_bucket")), LEGACY),
    ("arn-four-parts", doc(stmt(Resource="arn:aws::fdsasf")), LEGACY),
    ("duplicate-sids", doc(stmt(Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}),
     "Statement IDs (SID) in a single policy must be unique."),
    ("sid-not-alphanumeric", doc(stmt(Sid="my-sid")),
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression "
     "[0-9A-Za-z]*"),
    ("no-action", doc(bare(stmt(), "Action")), NO_ACTIONS),
    ("empty-action-list", doc(stmt(Action=[])), NO_ACTIONS),
    ("only-effect", doc({"Effect": "Allow"}), NO_ACTIONS),
    ("second-statement-without-action", doc({"Effect": "Deny"}, stmt()), NO_ACTIONS),
    ("no-resource", doc(bare(stmt(), "Resource")), NO_RESOURCES),
    ("empty-resource-list", doc(stmt(Resource=[])), NO_RESOURCES),
    ("no-resource-before-vendor", doc(bare(stmt(Action="invalid"), "Resource")), NO_RESOURCES),
    ("principal-in-identity", doc(stmt(Principal="*")), "Policy document should not specify a principal."),
    ("not-principal-in-identity", doc(stmt(NotPrincipal={"AWS": "arn:aws:iam::123456789012:root"})),
     "Policy document should not specify a principal."),
    ("resource-not-arn", doc(stmt(Resource="invalid resource")),
     'Resource invalid resource must be in ARN format or "*".'),
    ("resource-empty", doc(stmt(Resource="")), 'Resource  must be in ARN format or "*".'),
    ("resource-not-arn-beats-action", doc(stmt(Action="s:3:ListBucket", Resource="sdfsadf")),
     'Resource sdfsadf must be in ARN format or "*".'),
    ("bad-partition", doc(stmt(Resource="a:b:cadfsdf")),
     'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".'),
    ("no-arn-prefix", doc(stmt(Resource="aws:s3:::example_bucket")),
     'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
    ("partition-error", doc(stmt(Resource=["arn:error:s3:::example_bucket"])),
     'Partition "error" is not valid for resource "arn:error:s3:::example_bucket".'),
    ("vendor-not-qualified", doc(stmt(Resource="arn:aws")),
     "Resource vendor must be fully qualified and cannot contain regexes."),
    ("iam-resource-path", doc(stmt(Resource="arn:aws:iam:::example_bucket")),
     'IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, '
     "instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, "
     "access-report/."),
    ("iam-resource-region", doc(stmt(Resource="arn:aws:iam:us-east-1::user/x")),
     "IAM resource arn:aws:iam:us-east-1::user/x cannot contain region information."),
    ("s3-resource-region", doc(stmt(Resource="arn:aws:s3:us-east-1::example_bucket")),
     "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."),
    ("action-without-vendor", doc(stmt(Action="invalid")), VENDOR),
    ("empty-not-action", doc(bare(stmt(NotAction=""), "Action")), VENDOR),
    ("vendor-with-space", doc(stmt(Action="a a:ListBucket")), "Vendor a a is not valid"),
    ("two-colons", doc(stmt(Action="s3:List:Bucket")), "Actions/Condition can contain only one colon."),
    ("two-colons-second-statement", doc(stmt(Action="s3s:ListBucket"), stmt(Action="s:3s:ListBucket")),
     "Actions/Condition can contain only one colon."),
]

# -- trust policies ----------------------------------------------------------------------------------
ROOT = "arn:aws:iam::000000000000:root"
VALID_TRUST = [
    ("lambda-service", LAMBDA_TRUST),
    ("service-list", doc({"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
                          "Action": ["sts:AssumeRole"]})),
    ("account-root", doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"})),
    ("account-id", doc({"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"sts:ExternalId": "Unique ID Assigned by Example Corp"}}})),
    ("trust-version-2008", doc({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                "Action": "sts:AssumeRole"}, version="2008-10-17")),
    ("trust-no-version", doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                              "Action": "sts:AssumeRole"}, version=None)),
    ("github-oidc", doc({"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                         "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/"
                                                    "token.actions.githubusercontent.com"},
                         "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                                       "StringLike": {"token.actions.githubusercontent.com:sub": "repo:o/r:*"}}})),
    ("saml", doc({"Effect": "Allow", "Action": "sts:AssumeRoleWithSAML",
                  "Principal": {"Federated": "arn:aws:iam::000000000000:saml-provider/ExampleOrgSSOProvider"},
                  "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}})),
    ("tag-session", doc({"Effect": "Allow", "Principal": {"AWS": ROOT},
                         "Action": ["sts:AssumeRole", "sts:TagSession"]})),
    ("deny-not-principal", doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"},
                               {"Effect": "Deny", "NotPrincipal": {"AWS": ROOT}, "Action": "sts:AssumeRole"})),
]
INVALID_TRUST = [
    ("trust-invalid-json", "{not json", "This policy contains invalid Json"),
    ("trust-no-principal", doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "Missing required field Principal"),
    ("trust-with-resource", doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
                                 "Principal": {"Service": "lambda.amazonaws.com"}}), "Has prohibited field Resource"),
    ("trust-s3-action", doc({"Effect": "Allow", "Action": "s3:GetObject",
                             "Principal": {"Service": "lambda.amazonaws.com"}}),
     "AssumeRole policy may only specify STS AssumeRole actions."),
    ("trust-not-principal-allow", doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "NotPrincipal": {"AWS": ROOT}}), "Has prohibited field NotPrincipal"),
    ("trust-bad-aws-principal", doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "alice"}}),
     'Invalid principal in policy: "AWS":"alice"'),
    ("trust-unknown-principal-kind", doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                          "Principal": {"Robot": "x"}}), SYNTAX),
    ("trust-effect-case", doc({"Effect": "allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ROOT}}), LEGACY),
    ("trust-action-no-vendor", doc({"Effect": "Allow", "Action": "AssumeRole", "Principal": {"AWS": ROOT}}), VENDOR),
]


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


@pytest.fixture(scope="module")
def owners(iam: Any) -> tuple[str, str]:
    role, user = unique("grammar-role"), unique("grammar-user")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    iam.create_user(UserName=user)
    return role, user


@pytest.fixture(scope="module")
def managed_arn(iam: Any) -> str:
    return str(iam.create_policy(PolicyName=unique("grammar"), PolicyDocument=json.dumps(doc(stmt())))["Policy"]["Arn"])


def _refusal(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def test_the_table_is_big_enough() -> None:
    total = len(VALID_IDENTITY) + len(VALID_INLINE_ONLY) + len(INVALID_IDENTITY) + len(VALID_TRUST) + len(INVALID_TRUST)
    assert total >= 60
    names = [row[0] for table in (VALID_IDENTITY, VALID_INLINE_ONLY, INVALID_IDENTITY, VALID_TRUST, INVALID_TRUST)
             for row in table]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("name", "document"), VALID_IDENTITY, ids=[r[0] for r in VALID_IDENTITY])
def test_valid_identity_documents_are_stored_as_written(iam: Any, owners: tuple[str, str], managed_arn: str,
                                                        name: str, document: Any) -> None:
    text = _text(document)
    role = owners[0]
    created = iam.create_policy(PolicyName=unique(name[:40]), PolicyDocument=text)["Policy"]
    stored = iam.get_policy_version(PolicyArn=created["Arn"], VersionId="v1")["PolicyVersion"]["Document"]
    assert stored == json.loads(text)
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=text)
    assert iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] == json.loads(text)
    iam.delete_role_policy(RoleName=role, PolicyName=name)
    iam.delete_policy(PolicyArn=created["Arn"])


@pytest.mark.parametrize(("name", "document"), VALID_INLINE_ONLY, ids=[r[0] for r in VALID_INLINE_ONLY])
def test_inline_policies_may_omit_the_version_but_managed_ones_may_not(iam: Any, owners: tuple[str, str],
                                                                       name: str, document: Any) -> None:
    role, user = owners
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=_text(document))
    iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=_text(document))
    iam.delete_role_policy(RoleName=role, PolicyName=name)
    iam.delete_user_policy(UserName=user, PolicyName=name)
    assert _refusal(iam.create_policy, PolicyName=unique("v"), PolicyDocument=_text(document)) == (
        400, "MalformedPolicyDocument", VERSION)


@pytest.mark.parametrize(("name", "document", "message"), INVALID_IDENTITY, ids=[r[0] for r in INVALID_IDENTITY])
def test_invalid_identity_documents_are_refused_with_iams_message(iam: Any, owners: tuple[str, str],
                                                                  managed_arn: str, name: str, document: Any,
                                                                  message: str) -> None:
    text = _text(document)
    expected = (400, "MalformedPolicyDocument", message)
    assert _refusal(iam.create_policy, PolicyName=unique("bad"), PolicyDocument=text) == expected
    assert _refusal(iam.create_policy_version, PolicyArn=managed_arn, PolicyDocument=text) == expected
    if message != VERSION:  # inline policies take the old version
        role, user = owners
        assert _refusal(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument=text) == expected
        assert _refusal(iam.put_user_policy, UserName=user, PolicyName="p", PolicyDocument=text) == expected


@pytest.mark.parametrize(("name", "document"), VALID_TRUST, ids=[r[0] for r in VALID_TRUST])
def test_valid_trust_policies_are_stored(iam: Any, name: str, document: Any) -> None:
    role = unique("trust")
    created = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_text(document))["Role"]
    assert created["AssumeRolePolicyDocument"] == json.loads(_text(document))
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=_text(document))
    iam.delete_role(RoleName=role)


@pytest.mark.parametrize(("name", "document", "message"), INVALID_TRUST, ids=[r[0] for r in INVALID_TRUST])
def test_invalid_trust_policies_are_refused(iam: Any, owners: tuple[str, str], name: str, document: Any,
                                            message: str) -> None:
    expected = (400, "MalformedPolicyDocument", message)
    assert _refusal(iam.create_role, RoleName=unique("trust"), AssumeRolePolicyDocument=_text(document)) == expected
    assert _refusal(iam.update_assume_role_policy, RoleName=owners[0], PolicyDocument=_text(document)) == expected


# -- sizes, as IAM counts them (whitespace excluded) ---------------------------------------------------

def _padded(size: int, *, spaces: int = 0) -> str:
    """An identity policy of exactly `size` non-whitespace characters, plus `spaces` of indentation."""
    base = json.dumps(doc(stmt(Resource="arn:aws:s3:::b/")), separators=(",", ":"))
    filler = "x" * (size - len(base))
    text = base.replace("arn:aws:s3:::b/", "arn:aws:s3:::b/" + filler)
    assert len(text) == size
    return text.replace(",", "," + " " * spaces, 1) if spaces else text


def test_managed_policy_size_limit_counts_without_whitespace(iam: Any) -> None:
    iam.create_policy(PolicyName=unique("big"), PolicyDocument=_padded(6144, spaces=5000))
    assert _refusal(iam.create_policy, PolicyName=unique("big"), PolicyDocument=_padded(6145)) == (
        409, "LimitExceeded", "Cannot exceed quota for PolicySize: 6144")


def test_inline_limits_per_identity_type(iam: Any, owners: tuple[str, str]) -> None:
    role, user = owners
    iam.put_role_policy(RoleName=role, PolicyName="big", PolicyDocument=_padded(10240, spaces=3000))
    assert _refusal(iam.put_role_policy, RoleName=role, PolicyName="big", PolicyDocument=_padded(10241))[:2] == (
        409, "LimitExceeded")
    iam.delete_role_policy(RoleName=role, PolicyName="big")
    iam.put_user_policy(UserName=user, PolicyName="big", PolicyDocument=_padded(2048))
    assert _refusal(iam.put_user_policy, UserName=user, PolicyName="big", PolicyDocument=_padded(2049)) == (
        409, "LimitExceeded", f"Maximum policy size of 2048 bytes exceeded for user {user}")
    iam.delete_user_policy(UserName=user, PolicyName="big")


def test_trust_policy_size_limit(iam: Any) -> None:
    principals = [f"arn:aws:iam::{n:012d}:root" for n in range(100)]
    text = json.dumps(doc({"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}))
    assert _refusal(iam.create_role, RoleName=unique("trust"), AssumeRolePolicyDocument=text) == (
        409, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")


# -- tags ---------------------------------------------------------------------------------------------

def test_tag_keys_differing_only_in_case_are_duplicates(iam: Any) -> None:
    tags = [{"Key": "Env", "Value": "a"}, {"Key": "env", "Value": "b"}]
    message = "Duplicate tag keys found. Please note that Tag keys are case insensitive."
    assert _refusal(iam.create_role, RoleName=unique("tags"), AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
                    Tags=tags) == (400, "InvalidInput", message)
    assert _refusal(iam.create_user, UserName=unique("tags"), Tags=tags) == (400, "InvalidInput", message)
    role = unique("tags")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST), Tags=[tags[0]])
    iam.tag_role(RoleName=role, Tags=[tags[1]])  # a key in another case replaces the tag
    assert iam.list_role_tags(RoleName=role)["Tags"] == [tags[1]]
    iam.untag_role(RoleName=role, TagKeys=["ENV"])
    assert iam.list_role_tags(RoleName=role)["Tags"] == []


@pytest.mark.parametrize(("tag", "field", "rule"), [
    ({"Key": "k" * 129, "Value": "v"}, "tags.1.member.key", "have length less than or equal to 128"),
    ({"Key": "k", "Value": "v" * 257}, "tags.1.member.value", "have length less than or equal to 256"),
])
def test_tag_length_limits(iam: Any, tag: dict[str, str], field: str, rule: str) -> None:
    status, code, message = _refusal(iam.create_user, UserName=unique("tags"), Tags=[tag])
    assert (status, code) == (400, "ValidationError")
    assert f"at '{field}' failed to satisfy constraint: Member must {rule}" in message


# -- pathological documents (attacker tests: each answers at once, none stalls the server) --------------

def test_deeply_nested_documents_are_syntax_errors(iam: Any, owners: tuple[str, str]) -> None:
    deep = '{"Version": "2012-10-17", "Statement": ' + "[" * 5000 + "]" * 5000 + "}"
    assert _refusal(iam.create_policy, PolicyName=unique("deep"), PolicyDocument=deep) == (
        400, "MalformedPolicyDocument", SYNTAX)
    nested_condition = doc(stmt(Condition={"StringEquals": {"aws:username": [[[["x"]]]]}}))
    assert _refusal(iam.put_role_policy, RoleName=owners[0], PolicyName="n",
                    PolicyDocument=json.dumps(nested_condition)) == (400, "MalformedPolicyDocument", SYNTAX)


def test_huge_documents_are_refused_by_size_or_model(iam: Any, owners: tuple[str, str]) -> None:
    keys = {f"aws:PrincipalTag/k{n}": [f"v{m}" for m in range(20)] for n in range(2000)}
    huge = json.dumps(doc(stmt(Condition={"StringLike": keys})))
    status, code, _ = _refusal(iam.create_policy, PolicyName=unique("huge"), PolicyDocument=huge)
    assert (status, code) in ((409, "LimitExceeded"), (400, "ValidationError"))
    status, code, _ = _refusal(iam.put_role_policy, RoleName=owners[0], PolicyName="huge", PolicyDocument=huge)
    assert (status, code) in ((409, "LimitExceeded"), (400, "ValidationError"))


def test_many_wildcards_evaluate_without_backtracking(server: Server, iam: Any) -> None:
    """A pattern that takes a backtracking matcher exponential time, against a near miss."""
    pattern = "arn:aws:s3:::" + "*a" * 40 + "*b"
    document = json.dumps(doc(stmt(Action="s3:*" + "?" * 10 + "*", Resource=[pattern] * 50,
                                   Condition={"StringLike": {"aws:username": ["*a" * 40 + "*b"] * 50}})))
    out = iam.simulate_custom_policy(PolicyInputList=[document], ActionNames=["s3:GetObjectVersionAcl"],
                                     ResourceArns=["arn:aws:s3:::" + "a" * 2000],
                                     ContextEntries=[{"ContextKeyName": "aws:username",
                                                      "ContextKeyValues": ["a" * 2000], "ContextKeyType": "string"}])
    assert out["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    # and the server still answers everyone else
    assert server.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_trust_policies_name_principals_that_exist(iam: Any, owners: tuple[str, str]) -> None:
    """IAM resolves the users and roles a trust policy names when storing it."""
    role, user = owners

    def trust(principal: str) -> str:
        return json.dumps(doc({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}))

    iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust(f"arn:aws:iam::000000000000:user/{user}"))
    for missing in ("arn:aws:iam::000000000000:user/nobody-here", "arn:aws:iam::000000000000:role/no-such-role",
                    "arn:aws:iam::000000000000:role/*"):
        assert _refusal(iam.create_role, RoleName=unique("trust"), AssumeRolePolicyDocument=trust(missing)) == (
            400, "MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{missing}"')
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(LAMBDA_TRUST))
