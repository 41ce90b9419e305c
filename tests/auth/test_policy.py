"""IAM policy evaluation, table-driven.

Expectations were checked against these pages of the AWS IAM User Guide:

- deny precedence, root user, implicit deny: "Policy evaluation logic" and "How AWS enforcement
  code logic evaluates requests to allow or deny access";
- same account (identity OR resource policy): "Policy evaluation for requests within a single
  account"; cross account (identity AND resource policy): "Cross-account policy evaluation logic";
- Action/NotAction, Resource/NotResource, wildcards: "IAM JSON policy elements: Action",
  "... NotAction", "... Resource" (section "Using wildcards in resource ARNs"), "... NotResource";
- Principal/NotPrincipal, account principals, role sessions, service principals: "IAM JSON policy
  elements: Principal" and "... NotPrincipal";
- conditions: "IAM JSON policy elements: Condition operators" (including "...IfExists condition
  operators" and "Condition operator to check existence of condition keys"), "Set operators for
  multivalued context keys", "Creating a condition with multiple keys or values";
- policy variables: "IAM policy elements: Variables and tags";
- Lambda resource policies (service principals with aws:SourceArn / aws:SourceAccount, function
  URLs with lambda:FunctionUrlAuthType): AWS Lambda Developer Guide, "Working with resource-based
  IAM policies in Lambda" and "Control access to Lambda function URLs";
- MalformedPolicyDocument messages: IAM API Reference, CreatePolicy / PutUserPolicy errors, and
  the messages IAM returns for them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdad.auth.policy import Decision, PolicyError, RequestContext, evaluate, validate_policy_document

ACCT = "111111111111"
OTHER = "222222222222"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
CAROL = f"arn:aws:iam::{ACCT}:user/carol"
BOB = f"arn:aws:iam::{OTHER}:user/bob"
ROOT = f"arn:aws:iam::{ACCT}:root"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
SESSION = f"arn:aws:sts::{OTHER}:assumed-role/deployer/ci-run-42"
FN = f"arn:aws:lambda:us-east-1:{ACCT}:function:my-fn"
TOPIC = f"arn:aws:sns:us-east-1:{ACCT}:alerts"

ALLOW, DENY, IMPLICIT = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY


def st(effect: str = "Allow", action: Any = "lambda:InvokeFunction", resource: Any = "*", **extra: Any) -> dict:
    statement = {"Effect": effect, **extra}
    if action is not None:
        statement["Action"] = action
    if resource is not None:
        statement["Resource"] = resource
    return statement


def pol(*statements: dict, version: str = "2012-10-17") -> dict:
    return {"Version": version, "Statement": list(statements)}


def rpol(principal: Any, effect: str = "Allow", **extra: Any) -> dict:
    """A one-statement resource-based policy on FN."""
    extra.setdefault("resource", FN)
    return pol(st(effect, Principal=principal, **extra))


def case(
    id: str,
    expected: Decision,
    identity: list[dict] | None = None,
    rp: dict | None = None,
    root: bool = False,
    **ctx: Any,
) -> Any:
    """``rp`` is the resource-based policy; keyword arguments override RequestContext fields."""
    return pytest.param(ctx, identity or [], rp, root, expected, id=id)


def cond(id: str, condition: dict, keys: dict, expected: Decision, effect: str = "Allow") -> Any:
    """An identity policy allowing InvokeFunction under one condition (or, with effect="Deny",
    allowing everything and denying under the condition)."""
    statements = [st(), st("Deny", Condition=condition)] if effect == "Deny" else [st(Condition=condition)]
    return case(f"condition-{id}", expected, [pol(*statements)], context_keys=keys)


SNS_PERMISSION = {
    "principal": {"Service": "sns.amazonaws.com"},
    "Condition": {"ArnLike": {"AWS:SourceArn": TOPIC}},
}
URL_PERMISSION = {
    "action": "lambda:InvokeFunctionUrl",
    "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}},
}

CASES = [
    # --- deny precedence and defaults ---
    case("no-policies-implicit-deny", IMPLICIT),
    case("identity-allow", ALLOW, [pol(st())]),
    case("deny-beats-allow-same-policy", DENY, [pol(st(), st("Deny"))]),
    case("deny-beats-allow-across-policies", DENY, [pol(st()), pol(st("Deny", action="lambda:*"))]),
    case("resource-deny-beats-identity-allow", DENY, [pol(st())], rpol({"AWS": ALICE}, "Deny")),
    case("identity-deny-beats-resource-allow", DENY, [pol(st("Deny"))], rpol({"AWS": ALICE})),
    case("root-allowed-without-policies", ALLOW, root=True, principal_arn=ROOT),
    case("root-recognised-from-arn", ALLOW, principal_arn=ROOT),
    case("root-still-bound-by-resource-deny", DENY, [], rpol("*", "Deny"), root=True, principal_arn=ROOT),
    case("effect-is-case-sensitive", IMPLICIT, [pol(st("allow"))]),
    case("statement-as-single-object", ALLOW, [{"Version": "2012-10-17", "Statement": st()}]),
    case(
        "deny-with-unmet-condition-does-not-apply",
        ALLOW,
        [pol(st(), st("Deny", Condition={"StringEquals": {"aws:SourceIp": "1.2.3.4"}}))],
    ),
    # --- Action / NotAction ---
    case("action-star", ALLOW, [pol(st(action="*"))]),
    case("action-prefix-wildcard", ALLOW, [pol(st(action="lambda:Invoke*"))]),
    case("action-question-mark", ALLOW, [pol(st(action="lambda:InvokeFunctio?"))]),
    case("action-case-insensitive", ALLOW, [pol(st(action="LAMBDA:invokefunction"))]),
    case("action-other-service", IMPLICIT, [pol(st(action="sqs:*"))]),
    case("action-wildcard-other-prefix", IMPLICIT, [pol(st(action="lambda:Get*"))]),
    case("action-list", ALLOW, [pol(st(action=["lambda:GetFunction", "lambda:InvokeFunction"]))]),
    case("notaction-excludes-request", IMPLICIT, [pol(st(action=None, NotAction="lambda:Invoke*"))]),
    case("notaction-allows-the-rest", ALLOW, [pol(st(action=None, NotAction=["iam:*", "sts:*"]))]),
    case(
        "deny-notaction-denies-the-rest", DENY, [pol(st(action="*"), st("Deny", action=None, NotAction="lambda:Get*"))]
    ),
    # --- Resource / NotResource ---
    case("resource-exact", ALLOW, [pol(st(resource=FN))]),
    case("resource-case-sensitive", IMPLICIT, [pol(st(resource=FN.replace("my-fn", "My-fn")))]),
    case("resource-wildcards-in-segments", ALLOW, [pol(st(resource=f"arn:aws:lambda:*:{ACCT}:function:my-*"))]),
    case("resource-question-mark", ALLOW, [pol(st(resource=f"arn:aws:lambda:us-east-?:{ACCT}:function:my-fn"))]),
    case("resource-trailing-star-crosses-colons", ALLOW, [pol(st(resource=f"{FN}*"))], resource=f"{FN}:prod"),
    case(
        "resource-inner-star-stays-in-segment",
        IMPLICIT,
        [pol(st(resource=f"arn:aws:lambda:us-east-1:{ACCT}:function:my*prod"))],
        resource=f"{FN}:prod",
    ),
    case("resource-unqualified-does-not-cover-alias", IMPLICIT, [pol(st(resource=FN))], resource=f"{FN}:prod"),
    case("resource-other-account", IMPLICIT, [pol(st(resource=FN.replace(ACCT, OTHER)))]),
    case("resource-list", ALLOW, [pol(st(resource=[TOPIC, FN]))]),
    case("notresource-excludes-request", IMPLICIT, [pol(st(resource=None, NotResource=FN))]),
    case("notresource-allows-the-rest", ALLOW, [pol(st(resource=None, NotResource=TOPIC))]),
    case(
        "resource-policy-variable",
        ALLOW,
        [pol(st(action="iam:GetUser", resource=f"arn:aws:iam::{ACCT}:user/${{aws:username}}"))],
        action="iam:GetUser",
        resource=ALICE,
    ),
    case(
        "resource-policy-variable-other-user",
        IMPLICIT,
        [pol(st(action="iam:GetUser", resource=f"arn:aws:iam::{ACCT}:user/${{aws:username}}"))],
        action="iam:GetUser",
        resource=CAROL,
    ),
    case(
        "policy-variable-literal-in-2008-version",
        IMPLICIT,
        [pol(st(action="iam:GetUser", resource=f"arn:aws:iam::{ACCT}:user/${{aws:username}}"), version="2008-10-17")],
        action="iam:GetUser",
        resource=ALICE,
    ),
    # --- principals, same account ---
    case("same-account-resource-policy-names-user", ALLOW, [], rpol({"AWS": ALICE})),
    case("same-account-resource-policy-names-other-user", IMPLICIT, [], rpol({"AWS": CAROL})),
    case("same-account-account-principal-needs-identity", IMPLICIT, [], rpol({"AWS": ACCT})),
    case("same-account-account-principal-with-identity", ALLOW, [pol(st())], rpol({"AWS": ACCT})),
    case("same-account-principal-star", ALLOW, [], rpol("*")),
    case("resource-statement-must-match-action", IMPLICIT, [], rpol({"AWS": ALICE}, action="lambda:GetFunction")),
    case("resource-statement-must-match-resource", IMPLICIT, [], rpol({"AWS": ALICE}, resource=f"{FN}:prod")),
    # --- principals, cross account ---
    case("cross-account-identity-only", IMPLICIT, [pol(st())], principal_arn=BOB, principal_account=OTHER),
    case("cross-account-resource-only", IMPLICIT, [], rpol({"AWS": BOB}), principal_arn=BOB, principal_account=OTHER),
    case(
        "cross-account-both-account-id",
        ALLOW,
        [pol(st())],
        rpol({"AWS": OTHER}),
        principal_arn=BOB,
        principal_account=OTHER,
    ),
    case(
        "cross-account-both-root-arn",
        ALLOW,
        [pol(st())],
        rpol({"AWS": [TOPIC, OTHER_ROOT]}),
        principal_arn=BOB,
        principal_account=OTHER,
    ),
    case(
        "cross-account-both-user-arn",
        ALLOW,
        [pol(st())],
        rpol({"AWS": BOB}),
        principal_arn=BOB,
        principal_account=OTHER,
    ),
    case(
        "cross-account-wrong-account",
        IMPLICIT,
        [pol(st())],
        rpol({"AWS": "333333333333"}),
        principal_arn=BOB,
        principal_account=OTHER,
    ),
    case(
        "cross-account-root-needs-only-resource-policy",
        ALLOW,
        [],
        rpol({"AWS": OTHER}),
        principal_arn=OTHER_ROOT,
        principal_account=OTHER,
    ),
    case(
        "cross-account-principal-star-still-needs-identity",
        IMPLICIT,
        [],
        rpol("*"),
        principal_arn=BOB,
        principal_account=OTHER,
    ),
    case(
        "assumed-role-session-matches-role-arn",
        ALLOW,
        [pol(st())],
        rpol({"AWS": f"arn:aws:iam::{OTHER}:role/ci/deployer"}),
        principal_arn=SESSION,
        principal_account=OTHER,
    ),
    case(
        "assumed-role-session-other-role",
        IMPLICIT,
        [pol(st())],
        rpol({"AWS": f"arn:aws:iam::{OTHER}:role/admin"}),
        principal_arn=SESSION,
        principal_account=OTHER,
    ),
    case(
        "notprincipal-deny-spares-the-named",
        ALLOW,
        [pol(st())],
        pol(st("Deny", resource=FN, NotPrincipal={"AWS": [ALICE]})),
    ),
    case(
        "notprincipal-deny-hits-the-others",
        DENY,
        [pol(st())],
        pol(st("Deny", resource=FN, NotPrincipal={"AWS": ALICE})),
        principal_arn=CAROL,
    ),
    # --- anonymous callers and Lambda function URLs ---
    case(
        "anonymous-principal-star",
        ALLOW,
        [],
        rpol("*", **URL_PERMISSION),
        principal_arn="",
        principal_account="",
        action="lambda:InvokeFunctionUrl",
        context_keys={"lambda:FunctionUrlAuthType": "NONE"},
    ),
    case(
        "anonymous-aws-star",
        ALLOW,
        [],
        rpol({"AWS": "*"}, **URL_PERMISSION),
        principal_arn="",
        principal_account="",
        action="lambda:InvokeFunctionUrl",
        context_keys={"lambda:FunctionUrlAuthType": "NONE"},
    ),
    case(
        "anonymous-url-auth-type-mismatch",
        IMPLICIT,
        [],
        rpol("*", **URL_PERMISSION),
        principal_arn="",
        principal_account="",
        action="lambda:InvokeFunctionUrl",
        context_keys={"lambda:FunctionUrlAuthType": "AWS_IAM"},
    ),
    case(
        "anonymous-not-covered-by-account-principal",
        IMPLICIT,
        [],
        rpol({"AWS": ACCT}),
        principal_arn="",
        principal_account="",
    ),
    # --- service principals as Lambda permissions use them ---
    case(
        "service-principal-with-source-arn",
        ALLOW,
        [],
        rpol(**SNS_PERMISSION),
        principal_arn="",
        principal_service="sns.amazonaws.com",
        context_keys={"aws:SourceArn": TOPIC},
    ),
    case(
        "service-principal-wrong-source-arn",
        IMPLICIT,
        [],
        rpol(**SNS_PERMISSION),
        principal_arn="",
        principal_service="sns.amazonaws.com",
        context_keys={"aws:SourceArn": TOPIC.replace(ACCT, OTHER)},
    ),
    case(
        "service-principal-missing-source-arn",
        IMPLICIT,
        [],
        rpol(**SNS_PERMISSION),
        principal_arn="",
        principal_service="sns.amazonaws.com",
    ),
    case(
        "service-principal-other-service",
        IMPLICIT,
        [],
        rpol(**SNS_PERMISSION),
        principal_arn="",
        principal_service="events.amazonaws.com",
        context_keys={"aws:SourceArn": TOPIC},
    ),
    case(
        "service-principal-source-account",
        ALLOW,
        [],
        rpol(
            {"Service": ["s3.amazonaws.com"]},
            Condition={
                "StringEquals": {"aws:SourceAccount": ACCT},
                "ArnLike": {"aws:SourceArn": "arn:aws:s3:::uploads-*"},
            },
        ),
        principal_arn="",
        principal_service="s3.amazonaws.com",
        context_keys={"aws:SourceAccount": ACCT, "aws:SourceArn": "arn:aws:s3:::uploads-2024"},
    ),
    case(
        "service-principal-source-account-mismatch",
        IMPLICIT,
        [],
        rpol({"Service": "s3.amazonaws.com"}, Condition={"StringEquals": {"aws:SourceAccount": ACCT}}),
        principal_arn="",
        principal_service="s3.amazonaws.com",
        context_keys={"aws:SourceAccount": OTHER},
    ),
    case("iam-user-not-covered-by-service-principal", IMPLICIT, [], rpol({"Service": "sns.amazonaws.com"})),
    # --- condition operators ---
    cond("string-equals", {"StringEquals": {"aws:SourceAccount": ACCT}}, {"aws:SourceAccount": ACCT}, ALLOW),
    cond(
        "string-equals-mismatch", {"StringEquals": {"aws:SourceAccount": ACCT}}, {"aws:SourceAccount": OTHER}, IMPLICIT
    ),
    cond(
        "string-equals-values-are-or",
        {"StringEquals": {"aws:SourceAccount": [OTHER, ACCT]}},
        {"aws:SourceAccount": ACCT},
        ALLOW,
    ),
    cond(
        "key-names-case-insensitive", {"StringEquals": {"AWS:SOURCEACCOUNT": ACCT}}, {"aws:SourceAccount": ACCT}, ALLOW
    ),
    cond("string-equals-values-case-sensitive", {"StringEquals": {"aws:username": "Alice"}}, {}, IMPLICIT),
    cond("string-equals-ignore-case", {"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, {}, ALLOW),
    cond("string-equals-missing-key", {"StringEquals": {"aws:SourceVpc": "vpc-1"}}, {}, IMPLICIT),
    cond(
        "string-not-equals-match", {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}, {"aws:SourceVpc": "vpc-1"}, IMPLICIT
    ),
    cond(
        "string-not-equals-other",
        {"StringNotEquals": {"aws:SourceVpc": ["vpc-1", "vpc-2"]}},
        {"aws:SourceVpc": "vpc-3"},
        ALLOW,
    ),
    cond(
        "string-not-equals-any-listed",
        {"StringNotEquals": {"aws:SourceVpc": ["vpc-1", "vpc-2"]}},
        {"aws:SourceVpc": "vpc-2"},
        IMPLICIT,
    ),
    cond("string-not-equals-missing-key", {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}, {}, ALLOW),
    cond("string-like", {"StringLike": {"aws:userid": "AIDA*:ci-?"}}, {"aws:userid": "AIDAXYZ:ci-7"}, ALLOW),
    cond(
        "string-like-mismatch", {"StringLike": {"aws:userid": "AIDA*:ci-?"}}, {"aws:userid": "AIDAXYZ:ci-77"}, IMPLICIT
    ),
    cond("string-not-like", {"StringNotLike": {"aws:userid": "AROA*"}}, {"aws:userid": "AIDAXYZ"}, ALLOW),
    cond("string-not-like-missing-key", {"StringNotLike": {"aws:userid": "AROA*"}}, {}, ALLOW),
    cond("arn-equals", {"ArnEquals": {"aws:SourceArn": TOPIC}}, {"aws:SourceArn": TOPIC}, ALLOW),
    cond(
        "arn-like-wildcard-region",
        {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:*:{ACCT}:*"}},
        {"aws:SourceArn": TOPIC},
        ALLOW,
    ),
    cond(
        "arn-like-other-account",
        {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:*:{ACCT}:*"}},
        {"aws:SourceArn": TOPIC.replace(ACCT, OTHER)},
        IMPLICIT,
    ),
    cond("arn-not-equals", {"ArnNotEquals": {"aws:SourceArn": TOPIC}}, {"aws:SourceArn": f"{TOPIC}-2"}, ALLOW),
    cond("arn-not-like-match", {"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*"}}, {"aws:SourceArn": TOPIC}, IMPLICIT),
    cond("arn-not-like-missing-key", {"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*"}}, {}, ALLOW),
    cond("bool-true", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, ALLOW),
    cond("bool-json-true-and-case", {"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "TRUE"}, ALLOW),
    cond("bool-false-request", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, IMPLICIT),
    cond("bool-missing-key", {"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {}, IMPLICIT),
    cond("bool-if-exists-missing-key", {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {}, ALLOW),
    cond(
        "bool-if-exists-present-false",
        {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}},
        {"aws:MultiFactorAuthPresent": "false"},
        IMPLICIT,
    ),
    cond("numeric-equals", {"NumericEquals": {"lambda:Memory": "128"}}, {"lambda:Memory": "128.0"}, ALLOW),
    cond("numeric-not-equals", {"NumericNotEquals": {"lambda:Memory": 128}}, {"lambda:Memory": "256"}, ALLOW),
    cond("numeric-less-than", {"NumericLessThan": {"lambda:Memory": "512"}}, {"lambda:Memory": "512"}, IMPLICIT),
    cond(
        "numeric-less-than-equals", {"NumericLessThanEquals": {"lambda:Memory": "512"}}, {"lambda:Memory": "512"}, ALLOW
    ),
    cond(
        "numeric-greater-than",
        {"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"aws:MultiFactorAuthAge": "3601"},
        ALLOW,
    ),
    cond(
        "numeric-greater-than-equals",
        {"NumericGreaterThanEquals": {"aws:MultiFactorAuthAge": "3600"}},
        {"aws:MultiFactorAuthAge": "3599"},
        IMPLICIT,
    ),
    cond("numeric-not-a-number", {"NumericLessThan": {"lambda:Memory": "512"}}, {"lambda:Memory": "lots"}, IMPLICIT),
    cond(
        "date-less-than",
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2029-12-31T23:59:59Z"},
        ALLOW,
    ),
    cond(
        "date-less-than-after",
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2030-01-01T00:00:01Z"},
        IMPLICIT,
    ),
    cond(
        "date-greater-than-epoch",
        {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}},
        {"aws:TokenIssueTime": "1700000000"},
        ALLOW,
    ),
    cond("date-current-time-filled-in", {"DateGreaterThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}, {}, ALLOW),
    cond(
        "ip-address-cidr",
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "203.0.113.0/24"]}},
        {"aws:SourceIp": "203.0.113.9"},
        ALLOW,
    ),
    cond(
        "ip-address-outside",
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "198.51.100.1"},
        IMPLICIT,
    ),
    cond(
        "ip-address-single-host",
        {"IpAddress": {"aws:SourceIp": "198.51.100.1"}},
        {"aws:SourceIp": "198.51.100.1"},
        ALLOW,
    ),
    cond("ip-address-ipv6", {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8::1"}, ALLOW),
    cond(
        "ip-address-v4-against-v6",
        {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}},
        {"aws:SourceIp": "10.0.0.1"},
        IMPLICIT,
    ),
    cond("not-ip-address", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "10.1.2.3"}, ALLOW),
    cond(
        "not-ip-address-inside",
        {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "203.0.113.3"},
        IMPLICIT,
    ),
    cond("null-true-absent", {"Null": {"aws:TokenIssueTime": "true"}}, {}, ALLOW),
    cond("null-true-present", {"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": "1700000000"}, IMPLICIT),
    cond("null-false-present", {"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "1700000000"}, ALLOW),
    cond("null-false-absent", {"Null": {"aws:TokenIssueTime": False}}, {}, IMPLICIT),
    cond("string-equals-if-exists-absent", {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}, {}, ALLOW),
    cond(
        "string-equals-if-exists-mismatch",
        {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}},
        {"aws:SourceVpc": "vpc-2"},
        IMPLICIT,
    ),
    cond(
        "arn-like-if-exists-match",
        {"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:sns:*"}},
        {"aws:SourceArn": TOPIC},
        ALLOW,
    ),
    cond(
        "for-any-value-one-matches",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}},
        {"aws:TagKeys": ["cost", "team"]},
        ALLOW,
    ),
    cond(
        "for-any-value-none-match",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}},
        {"aws:TagKeys": ["cost"]},
        IMPLICIT,
    ),
    cond("for-any-value-missing-key", {"ForAnyValue:StringEquals": {"aws:TagKeys": "env"}}, {}, IMPLICIT),
    cond(
        "for-all-values-subset",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
        {"aws:TagKeys": ["team", "env"]},
        ALLOW,
    ),
    cond(
        "for-all-values-one-outside",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
        {"aws:TagKeys": ["team", "cost"]},
        IMPLICIT,
    ),
    cond("for-all-values-missing-key-is-true", {"ForAllValues:StringEquals": {"aws:TagKeys": "env"}}, {}, ALLOW),
    cond(
        "for-all-values-string-not-like",
        {"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}},
        {"aws:TagKeys": ["env", "aws:cloudformation"]},
        IMPLICIT,
    ),
    cond(
        "for-any-value-string-not-equals",
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "env"}},
        {"aws:TagKeys": ["env", "team"]},
        ALLOW,
    ),
    cond(
        "negated-plain-operator-on-multivalued-key",
        {"StringNotEquals": {"aws:TagKeys": "env"}},
        {"aws:TagKeys": ["team", "env"]},
        IMPLICIT,
    ),
    cond(
        "keys-in-one-operator-are-and",
        {"StringEquals": {"aws:SourceAccount": ACCT, "aws:SourceVpc": "vpc-1"}},
        {"aws:SourceAccount": ACCT, "aws:SourceVpc": "vpc-2"},
        IMPLICIT,
    ),
    cond(
        "operators-are-and",
        {"StringEquals": {"aws:SourceAccount": ACCT}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:SourceAccount": ACCT, "aws:SecureTransport": "true"},
        ALLOW,
    ),
    cond(
        "condition-value-variable",
        {"StringEquals": {"s3:prefix": "home/${aws:username}/"}},
        {"s3:prefix": "home/alice/"},
        ALLOW,
    ),
    cond(
        "unknown-operator-never-holds",
        {"StringEqualz": {"aws:SourceAccount": ACCT}},
        {"aws:SourceAccount": ACCT},
        IMPLICIT,
    ),
    cond(
        "deny-insecure-transport-applies",
        {"Bool": {"aws:SecureTransport": "false"}},
        {"aws:SecureTransport": "false"},
        DENY,
        effect="Deny",
    ),
    cond(
        "deny-insecure-transport-spares-tls",
        {"Bool": {"aws:SecureTransport": "false"}},
        {"aws:SecureTransport": "true"},
        ALLOW,
        effect="Deny",
    ),
]


@pytest.mark.parametrize(("ctx", "identity", "resource", "root", "expected"), CASES)
def test_evaluate(ctx: dict, identity: list[dict], resource: dict | None, root: bool, expected: Decision) -> None:
    fields = {
        "principal_arn": ALICE,
        "principal_account": ACCT,
        "action": "lambda:InvokeFunction",
        "resource": FN,
        "resource_account": ACCT,
    } | ctx
    assert evaluate(RequestContext(**fields), identity, resource, is_account_root=root) == expected


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 60


# --- validate_policy_document ----------------------------------------------------------------------

VALID_IDENTITY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}'


def invalid(id: str, doc: Any, message: str, kind: str = "identity") -> Any:
    return pytest.param(doc, kind, message, id=id)


def _id_pol(**statement: Any) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"} | statement]}


INVALID = [
    invalid("not-json", "{not json", "Syntax errors in policy."),
    invalid("json-array", "[]", "Syntax errors in policy."),
    invalid("no-statement", {"Version": "2012-10-17"}, "Syntax errors in policy."),
    invalid("bad-version", {"Version": "2024-01-01", "Statement": []}, "Syntax errors in policy."),
    invalid("effect-lower-case", _id_pol(Effect="allow"), "The policy failed legacy parsing"),
    invalid(
        "no-action", {"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "Policy statement must contain actions."
    ),
    invalid(
        "no-resource",
        {"Statement": [{"Effect": "Allow", "Action": "s3:*"}]},
        "Policy statement must contain resources.",
    ),
    invalid("principal-in-identity-policy", _id_pol(Principal="*"), "Policy document should not specify a principal."),
    invalid(
        "action-without-vendor",
        _id_pol(Action="GetObject"),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
    ),
    invalid("unknown-statement-field", _id_pol(Actions="s3:*"), "Syntax errors in policy."),
    invalid(
        "unknown-condition-operator",
        _id_pol(Condition={"StringEqualz": {"aws:SourceIp": "x"}}),
        "Syntax errors in policy.",
    ),
    invalid(
        "sid-not-alphanumeric",
        _id_pol(Sid="my-sid"),
        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular "
        "expression [0-9A-Za-z]*",
    ),
    invalid(
        "trust-without-principal",
        {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]},
        "Missing required field Principal",
        kind="trust",
    ),
    invalid(
        "trust-with-resource",
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": "*",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                }
            ]
        },
        "Has prohibited field Resource",
        kind="trust",
    ),
    invalid(
        "resource-policy-bad-principal",
        {
            "Statement": [
                {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FN, "Principal": {"AWS": "alice"}}
            ]
        },
        'Invalid principal in policy: "AWS":"alice"',
        kind="resource",
    ),
]


@pytest.mark.parametrize(("doc", "kind", "message"), INVALID)
def test_validate_rejects(doc: Any, kind: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        validate_policy_document(doc, kind)
    assert (info.value.code, info.value.message, info.value.status) == ("MalformedPolicyDocument", message, 400)


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        pytest.param(VALID_IDENTITY, "identity", id="identity-json-text"),
        pytest.param(
            _id_pol(Sid="Stmt1", Condition={"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "a*"}}),
            "identity",
            id="identity-with-set-operator-condition",
        ),
        pytest.param(
            {
                "Version": "2012-10-17",
                "Statement": {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                },
            },
            "trust",
            id="trust-single-statement",
        ),
        pytest.param(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "sns-invoke_1",
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "lambda:InvokeFunction",
                        "Resource": FN,
                        "Condition": {"ArnLike": {"AWS:SourceArn": TOPIC}},
                    }
                ],
            },
            "resource",
            id="lambda-permission",
        ),
    ],
)
def test_validate_accepts(doc: Any, kind: str) -> None:
    parsed = validate_policy_document(doc, kind)
    assert parsed == (json.loads(doc) if isinstance(doc, str) else doc)
