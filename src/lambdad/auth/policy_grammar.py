"""IAM's policy grammar: whether a document may be stored, with IAM's MalformedPolicyDocument words.

IAM checks a document in stages and reports the first stage that fails, each with a fixed message
(IAM User Guide, "Grammar of the IAM JSON policy language" and "IAM JSON policy elements"; the
order is IAM's observable one):

1. grammar: JSON object of Version / Id / Statement, statements of the known fields, elements of
   the right JSON types, known condition operators ("Syntax errors in policy.");
2. version: managed policies must say 2012-10-17 ("Policy document must be version 2012-10-17 or
   greater."); inline and trust policies may still omit it or say 2008-10-17;
3. the legacy parser: Effect spelled in another case, dates that are not dates, ARNs with a wrong
   number of parts ("The policy failed legacy parsing");
4. statement ids unique in the document, then alphanumeric (identity policies);
5. actions present, then principals and resources present or absent as the policy kind requires;
6. resource ARN formats (the message names the resource), then action vendors.

``kind`` is ``managed`` (CreatePolicy, CreatePolicyVersion), ``inline`` (Put{User,Group,Role}Policy;
``identity`` is its old name), ``trust`` (a role's assume-role policy) or ``resource`` (a policy
attached to a resource, which names principals). Sizes are checked by the callers, which know the
quota that applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lambdad import safejson
from lambdad.errors import LambdadError

__all__ = ["KINDS", "PolicyError", "policy_size", "validate"]

KINDS = frozenset({"managed", "inline", "identity", "trust", "resource"})


class PolicyError(LambdadError):
    """A policy document IAM would refuse (``MalformedPolicyDocument``, HTTP 400)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _malformed(message: str) -> PolicyError:
    return PolicyError("MalformedPolicyDocument", message)


SYNTAX = "Syntax errors in policy."
VERSION = "Policy document must be version 2012-10-17 or greater."
LEGACY = "The policy failed legacy parsing"
VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."

_TOP_FIELDS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_FIELDS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"})
_VERSIONS = ("2012-10-17", "2008-10-17")
_PRINCIPAL_KINDS = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})

# Condition operators ("IAM JSON policy elements: Condition operators"); each also takes IfExists
# (but Null), and the set prefixes ForAnyValue: / ForAllValues:.
_STRING_OPS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
               "StringLike", "StringNotLike")
_NUMERIC_OPS = ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
                "NumericGreaterThan", "NumericGreaterThanEquals")
_DATE_OPS = ("DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
             "DateGreaterThanEquals")
_OTHER_OPS = ("Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnNotEquals", "ArnLike",
              "ArnNotLike")
_OPERATORS = frozenset((*_STRING_OPS, *_NUMERIC_OPS, *_DATE_OPS, *_OTHER_OPS))

# Partitions an ARN in a policy may name.
_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f",
                         "aws-eusc", "*"})
# What an IAM ARN's resource part may start with (IAM's own list, in its message's order).
_IAM_RESOURCE_TYPES = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
                       "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/", "report/",
                       "access-report/")
# A vendor (the part of an action before its colon): letters, digits, '-', '.', '_' and wildcards.
_VENDOR_RE = re.compile(r"[A-Za-z0-9_.*?-]+")
# Dates IAM's legacy parser takes: ISO 8601 with optional parts, or epoch seconds in a signed 64 bits.
_DATE_RE = re.compile(
    r"(\d{4}(-\d{2}(-\d{2})?)?|\d{2})?"
    r"([Tt](\d{1,2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?)?"
    r"(Z|z|[+-]\d{2}(:?\d{2})?)?")
_EPOCH_RE = re.compile(r"-?\d+")
_SID_RE = re.compile(r"[0-9A-Za-z]*")
_STS_ACTION_RE = re.compile(r"sts:[A-Za-z*?]+", re.IGNORECASE)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_size(text: str) -> int:
    """A document's size as IAM counts it against its quotas: whitespace outside strings excluded
    (IAM "IAM and AWS STS quotas": "IAM doesn't count white space when calculating the size")."""
    return len("".join(text.split()))


# --- 1. grammar ---------------------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value is not None


def _string_list(value: Any, *, allow_empty: bool = True) -> bool:
    """A string or a list of strings (the form of Action, Resource and principal values)."""
    if isinstance(value, str):
        return True
    return isinstance(value, list) and (allow_empty or bool(value)) and all(isinstance(v, str) for v in value)


def _operator_known(name: str) -> bool:
    prefix, sep, rest = name.partition(":")
    if sep:
        if prefix not in ("ForAnyValue", "ForAllValues"):
            return False
        name = rest
    if name in ("Null", "NullIfExists") and not sep:
        return name == "Null"
    if name.endswith("IfExists"):
        name = name[: -len("IfExists")]
    return name in _OPERATORS


def _grammar_condition(conditions: Any) -> None:
    if not isinstance(conditions, dict):
        raise _malformed(SYNTAX)
    for operator, block in conditions.items():
        if not isinstance(block, dict):
            raise _malformed(SYNTAX)
        if block and not _operator_known(operator):
            raise _malformed(SYNTAX)
        for key, values in block.items():
            if not key:
                raise _malformed(SYNTAX)
            if isinstance(values, list):
                if not all(_scalar(v) for v in values):
                    raise _malformed(SYNTAX)
            elif not _scalar(values):
                raise _malformed(SYNTAX)


def _grammar_principal(element: Any) -> None:
    if element == "*":
        return
    if not isinstance(element, dict):
        raise _malformed(SYNTAX)
    for kind, values in element.items():
        if kind not in _PRINCIPAL_KINDS or not _string_list(values):
            raise _malformed(SYNTAX)


def _grammar_statement(statement: Any) -> None:
    if not isinstance(statement, dict) or set(statement) - _STATEMENT_FIELDS:
        raise _malformed(SYNTAX)
    if "Effect" not in statement or not isinstance(statement["Effect"], str) \
            or statement["Effect"].lower() not in ("allow", "deny"):
        raise _malformed(SYNTAX)
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise _malformed(SYNTAX)
    for one, other in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if one in statement and other in statement:
            raise _malformed(SYNTAX)
    for name in ("Action", "NotAction", "Resource", "NotResource"):
        if name in statement and not _string_list(statement[name]):
            raise _malformed(SYNTAX)
    for name in ("Principal", "NotPrincipal"):
        if name in statement:
            _grammar_principal(statement[name])
    if "Condition" in statement:
        _grammar_condition(statement["Condition"])


def _grammar(parsed: Any) -> list[dict[str, Any]]:
    if not isinstance(parsed, dict) or "Statement" not in parsed or set(parsed) - _TOP_FIELDS:
        raise _malformed(SYNTAX)
    if "Version" in parsed and parsed["Version"] not in _VERSIONS:
        raise _malformed(SYNTAX)
    if "Id" in parsed and not isinstance(parsed["Id"], str):
        raise _malformed(SYNTAX)
    statements = parsed["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise _malformed(SYNTAX)
    for statement in statements:
        _grammar_statement(statement)
    return statements


# --- 3. the legacy parser -----------------------------------------------------------------------


def _arn_parts(resource: str) -> list[str]:
    return resource.split(":", 5)


def _legacy_resource(resource: str) -> bool:
    """Whether the legacy parser takes a resource: "*", text without colons (refused later, with
    its own message), or an ARN that names its service and has all six parts once it has four."""
    if not resource.startswith("arn:"):
        return True  # not an ARN at all: refused later, with its own message
    parts = _arn_parts(resource)
    if len(parts) <= 3:
        return True
    return len(parts) == 6 and parts[2] != ""


def _date_ok(value: Any) -> bool:
    text = str(value) if not isinstance(value, bool) else ""
    if _EPOCH_RE.fullmatch(text):
        return -(2 ** 63) <= int(text) < 2 ** 63
    return bool(text) and _DATE_RE.fullmatch(text) is not None


def _legacy_statement(statement: dict[str, Any]) -> None:
    if statement["Effect"] not in ("Allow", "Deny"):
        raise _malformed(LEGACY)
    for name in ("Resource", "NotResource"):
        for resource in _as_list(statement.get(name, [])):
            if not _legacy_resource(resource):
                raise _malformed(LEGACY)
    for operator, block in (statement.get("Condition") or {}).items():
        base = operator.rpartition(":")[2].removesuffix("IfExists")
        if base in _DATE_OPS:
            for values in block.values():
                if not all(_date_ok(v) for v in _as_list(values)):
                    raise _malformed(LEGACY)


# --- 6. resources and actions -------------------------------------------------------------------


def _resource_error(resource: str) -> str | None:
    if resource == "*":
        return None
    if ":" not in resource:
        return f'Resource {resource} must be in ARN format or "*".'
    parts = _arn_parts(resource)
    padded = ["arn", *parts[1:], *["*"] * (6 - len(parts))]
    if parts[1] not in _PARTITIONS:
        return f'Partition "{parts[1]}" is not valid for resource "{":".join(padded)}".'
    if len(parts) < 3:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service, region = padded[2], padded[3]
    if service == "iam":
        if region and region != "*":
            return f"IAM resource {resource} cannot contain region information."
        rest = padded[5]
        if rest != "*" and not rest.startswith(_IAM_RESOURCE_TYPES) and len(parts) == 6:
            return ('IAM resource path must either be "*" or start with ' + ", ".join(_IAM_RESOURCE_TYPES) + ".")
    elif service == "s3" and region and region != "*":
        return f"Resource {resource} can not contain region information."
    return None


def _action_error(action: str) -> str | None:
    if action == "*":
        return None
    vendor, sep, rest = action.partition(":")
    if not sep:
        return VENDOR
    if ":" in rest:
        return "Actions/Condition can contain only one colon."
    if not _VENDOR_RE.fullmatch(vendor):
        return f"Vendor {vendor} is not valid"
    return None


# --- the stages, in order -----------------------------------------------------------------------


def _parse(doc: str | Mapping[str, Any]) -> Any:
    if isinstance(doc, str):
        try:
            return safejson.loads(doc)
        except ValueError:
            raise _malformed(SYNTAX) from None
    return json.loads(json.dumps(doc))  # a private, JSON-clean copy


def validate(doc: str | Mapping[str, Any], kind: str = "inline") -> dict[str, Any]:
    """Check a document as IAM does when it stores one of this kind; the parsed document."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}")
    parsed = _parse(doc)
    statements = _grammar(parsed)
    if kind == "managed" and parsed.get("Version") != "2012-10-17":
        raise _malformed(VERSION)
    for statement in statements:
        _legacy_statement(statement)

    sids = [s["Sid"] for s in statements if s.get("Sid")]
    if len(set(sids)) != len(sids):
        raise _malformed("Statement IDs (SID) in a single policy must be unique.")
    # Resource policies (Lambda's StatementId, SQS/SNS labels) take any string.
    if kind in ("managed", "inline", "identity", "trust") and not all(_SID_RE.fullmatch(s) for s in sids):
        raise _malformed("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular "
                         "expression [0-9A-Za-z]*")

    for statement in statements:
        actions = statement.get("Action", statement.get("NotAction"))
        if actions is None or actions == []:
            raise _malformed("Policy statement must contain actions.")
    for statement in statements:
        _presence(statement, kind)
    for statement in statements:
        for name in ("Resource", "NotResource"):
            for resource in _as_list(statement.get(name, [])):
                message = _resource_error(resource)
                if message is not None:
                    raise _malformed(message)
    for statement in statements:
        for action in _as_list(statement.get("Action", statement.get("NotAction"))):
            message = _action_error(action)
            if message is not None:
                raise _malformed(message)
        if kind == "trust":
            _trust_actions(statement)
        if kind in ("trust", "resource"):
            _principal_values(statement)
    document: dict[str, Any] = parsed  # _grammar checked it is an object
    return document


def _presence(statement: dict[str, Any], kind: str) -> None:
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    has_resource = "Resource" in statement or "NotResource" in statement
    if kind in ("managed", "inline", "identity"):
        if has_principal:
            raise _malformed("Policy document should not specify a principal.")
        if not has_resource or statement.get("Resource", statement.get("NotResource")) == []:
            raise _malformed("Policy statement must contain resources.")
        return
    if not has_principal:
        raise _malformed("Missing required field Principal")
    if kind == "trust":
        if has_resource:
            raise _malformed("Has prohibited field Resource")
        if "NotPrincipal" in statement and statement["Effect"] == "Allow":
            # "IAM JSON policy elements: NotPrincipal": not supported with Allow in trust policies.
            raise _malformed("Has prohibited field NotPrincipal")
    elif not has_resource or statement.get("Resource", statement.get("NotResource")) == []:
        raise _malformed("Policy statement must contain resources.")


def _trust_actions(statement: dict[str, Any]) -> None:
    for action in _as_list(statement.get("Action", statement.get("NotAction"))):
        if action != "*" and not _STS_ACTION_RE.fullmatch(action):
            raise _malformed("AssumeRole policy may only specify STS AssumeRole actions.")


def _principal_values(statement: dict[str, Any]) -> None:
    element = statement.get("Principal", statement.get("NotPrincipal"))
    if not isinstance(element, dict):
        return
    for kind, values in element.items():
        for value in _as_list(values):
            bad = not value or (kind == "AWS" and not (value == "*" or (value.isdigit() and len(value) == 12)
                                                       or value.startswith("arn:")))
            # A principal is one identity: wildcards in its ARN are refused ("*" alone means everyone).
            bad = bad or (kind == "AWS" and value != "*" and ("*" in value or "?" in value))
            if kind == "Service" and (" " in value or not value):
                bad = True
            if bad:
                raise _malformed(f'Invalid principal in policy: "{kind}":"{value}"')
