"""IAM policy evaluation, as the AWS IAM User Guide documents it.

The rules, by the guide's pages:

- "Policy evaluation logic" / "How AWS enforcement code logic evaluates requests": everything is
  implicitly denied except for the account root user; an explicit Deny in any applicable policy
  overrides every Allow.
- "Policy evaluation for requests within a single account": an Allow in the identity-based
  policies *or* in a resource-based policy that names the principal is enough.
- "Cross-account policy evaluation logic": the caller's identity-based policies *and* the
  resource-based policy must both allow.
- "IAM JSON policy elements: Principal": naming an account (``"123456789012"`` or its ``:root``
  ARN) delegates to that account, so its principals still need identity-based permission; a role
  ARN also covers that role's assumed-role sessions; AWS services are ``{"Service": ...}``.
- "IAM JSON policy elements: Resource": ``*`` and ``?`` match within an ARN segment, except that
  a ``*`` ending a segment may run across the following colons.
- "IAM JSON policy elements: Condition operators" and "Set operators for multivalued context keys":
  operators, ``...IfExists``, ``Null``, ``ForAnyValue:``/``ForAllValues:``, and what a key missing
  from the request means (false, except for negated operators, ``IfExists``, ``Null``, and
  ``ForAllValues``, which are true).

Service control policies, permission boundaries and session policies are not modelled: lambdad
has one account tree and no organizations.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdad import wildcards
from lambdad.auth import policy_grammar
from lambdad.auth.policy_grammar import PolicyError

__all__ = ["Decision", "PolicyError", "RequestContext", "evaluate", "validate_policy_document"]


class Decision(enum.Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass
class RequestContext:
    """One request as policy evaluation sees it.

    ``principal_arn`` is the calling IAM identity (user, role, assumed-role session, or account
    root); empty for an anonymous caller. A call made by an AWS service on its own behalf sets
    ``principal_service`` (e.g. ``"sns.amazonaws.com"``) and usually passes ``aws:SourceArn`` /
    ``aws:SourceAccount`` in ``context_keys``.
    """

    principal_arn: str
    principal_account: str
    action: str
    resource: str
    resource_account: str
    context_keys: dict[str, str | list[str]] = field(default_factory=dict)
    principal_service: str | None = None
    #: a web-identity (OIDC) or SAML caller: the provider's ARN, as trust policies name it in
    #: ``{"Federated": ...}``; such a caller has no identity policies, only the role's trust policy.
    principal_federated: str | None = None


# --- small helpers ------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _as_str(value: Any) -> str:
    # JSON policies may carry true/false and numbers where IAM compares strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(policy.get("Statement")) if isinstance(s, Mapping)]


def _action_matches(pattern: str, action: str) -> bool:
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == action.lower()
    return wildcards.match(pattern, action, ignore_case=True)


def _arn_matches(pattern: str, arn: str) -> bool:
    return pattern == "*" or wildcards.arn_match(pattern, arn)


# --- policy variables ---------------------------------------------------------------------------

_VARIABLE_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def _substitute(value: str, keys: _Keys) -> str | None:
    """Replace ``${aws:username}``-style variables (2012-10-17 policies); None if one has no
    value, which makes the element fail to match, as IAM does."""
    if "${" not in value:
        return value
    out: list[str] = []
    pos = 0
    while True:
        start = value.find("${", pos)
        if start < 0:
            out.append(value[pos:])
            return "".join(out)
        end = value.find("}", start)
        if end < 0:
            out.append(value[pos:])
            return "".join(out)
        out.append(value[pos:start])
        name, _, default = value[start + 2 : end].partition(",")
        name = name.strip()
        if name in _VARIABLE_ESCAPES:
            out.append(_VARIABLE_ESCAPES[name])
        else:
            found = keys.get(name)
            if isinstance(found, list):
                found = found[0] if len(found) == 1 else None
            if found is None:
                default = default.strip()
                if len(default) >= 2 and default[0] == default[-1] == "'":
                    found = default[1:-1]
                else:
                    return None
            out.append(found)
        pos = end + 1


# --- condition keys -----------------------------------------------------------------------------


class _Keys:
    """Request context keys, looked up case-insensitively as IAM does."""

    __slots__ = ("_values",)

    def __init__(self, ctx: RequestContext) -> None:
        values: dict[str, str | list[str]] = {}
        if ctx.principal_service:
            values["aws:principalservicename"] = ctx.principal_service
        elif ctx.principal_federated:
            values["aws:federatedprovider"] = ctx.principal_federated
        elif ctx.principal_arn:
            values["aws:principalarn"] = ctx.principal_arn
            values["aws:principalaccount"] = ctx.principal_account
            kind, _, name = _arn_resource(ctx.principal_arn).partition("/")
            if kind == "user":
                values["aws:username"] = name.rpartition("/")[2]
        if ctx.resource_account:
            values["aws:resourceaccount"] = ctx.resource_account
        for key, value in ctx.context_keys.items():
            values[key.lower()] = value
        self._values = values

    def get(self, key: str) -> str | list[str] | None:
        lowered = key.lower()
        found = self._values.get(lowered)
        if found is None and lowered in ("aws:currenttime", "aws:epochtime"):
            now = time.time()
            found = str(int(now)) if lowered == "aws:epochtime" else _iso(now)
        return found


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _arn_resource(arn: str) -> str:
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 else ""


# --- condition operators ------------------------------------------------------------------------


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _date(value: str) -> float | None:
    number = _number(value)
    if number is not None:
        return number  # epoch seconds are a valid date in IAM conditions
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(actual: str, wanted: str) -> bool:
        a, b = _number(actual), _number(wanted)
        return a is not None and b is not None and compare(a, b)

    return match


def _dated(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(actual: str, wanted: str) -> bool:
        a, b = _date(actual), _date(wanted)
        return a is not None and b is not None and compare(a, b)

    return match


def _ip_in(actual: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_address(actual.strip()) in ipaddress.ip_network(wanted.strip(), strict=False)
    except ValueError:
        return False
    except TypeError:  # an IPv4 address against an IPv6 network, or the reverse
        return False


# Positive operators: (request value, policy value) -> match.
_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda a, b: a == b,
    "StringEqualsIgnoreCase": lambda a, b: a.casefold() == b.casefold(),
    "StringLike": lambda a, b: wildcards.match(b, a),
    "ArnEquals": lambda a, b: _arn_matches(b, a),  # ArnEquals and ArnLike behave alike in IAM
    "ArnLike": lambda a, b: _arn_matches(b, a),
    "Bool": lambda a, b: a.lower() == b.lower(),
    "BinaryEquals": lambda a, b: a == b,
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericLessThan": _numeric(lambda a, b: a < b),
    "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
    "DateEquals": _dated(lambda a, b: a == b),
    "DateLessThan": _dated(lambda a, b: a < b),
    "DateLessThanEquals": _dated(lambda a, b: a <= b),
    "DateGreaterThan": _dated(lambda a, b: a > b),
    "DateGreaterThanEquals": _dated(lambda a, b: a >= b),
    "IpAddress": _ip_in,
}
# Negated operators: true when the positive form matches none of the policy values.
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}
# Operators whose policy values may hold ${...} variables.
_VARIABLE_OPERATORS = frozenset({"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike"})


@dataclass(frozen=True, slots=True)
class _Operator:
    set_operator: str | None  # "ForAnyValue" / "ForAllValues"
    base: str  # positive operator name, or "Null"
    negated: bool
    if_exists: bool


@functools.lru_cache(maxsize=256)
def _parse_operator(name: str) -> _Operator | None:
    set_operator = None
    prefix, sep, rest = name.partition(":")
    if sep:
        if prefix not in ("ForAnyValue", "ForAllValues"):
            return None
        set_operator, name = prefix, rest
    if name == "Null":
        return None if set_operator else _Operator(None, "Null", False, False)
    if_exists = name.endswith("IfExists")
    if if_exists:
        name = name[: -len("IfExists")]
    negated = name in _NEGATED
    base = _NEGATED.get(name, name)
    if base not in _MATCHERS:
        return None
    return _Operator(set_operator, base, negated, if_exists)


def _condition_holds(operator_name: str, key: str, wanted: Any, keys: _Keys, allow_variables: bool) -> bool:
    op = _parse_operator(operator_name)
    if op is None:
        return False  # validate_policy_document refuses these before they are stored
    found = keys.get(key)
    actual = [] if found is None else [_as_str(v) for v in _as_list(found)]
    policy_values = [_as_str(v) for v in _as_list(wanted)]

    if op.base == "Null":
        is_null = not actual
        return any(v.lower() == ("true" if is_null else "false") for v in policy_values)

    if not actual:
        if op.set_operator == "ForAllValues":
            return True  # vacuously: no request value fails
        if op.set_operator == "ForAnyValue":
            return False
        return op.if_exists or op.negated

    if allow_variables and op.base in _VARIABLE_OPERATORS:
        substituted = [_substitute(v, keys) for v in policy_values]
        policy_values = [v for v in substituted if v is not None]
    match = _MATCHERS[op.base]

    def matches(value: str) -> bool:
        return any(match(value, p) for p in policy_values)

    if op.set_operator == "ForAllValues":
        return all(matches(v) != op.negated for v in actual)
    if op.set_operator == "ForAnyValue":
        return any(matches(v) != op.negated for v in actual)
    # A plain operator on a request value: matching any policy value (OR); negated, matching none.
    return any(matches(v) for v in actual) != op.negated


def _conditions_hold(conditions: Any, keys: _Keys, allow_variables: bool) -> bool:
    if not conditions:
        return True
    if not isinstance(conditions, Mapping):
        return False
    # Every operator, and every key within one, must hold (AND).
    for operator_name, block in conditions.items():
        if not isinstance(block, Mapping):
            return False
        for key, wanted in block.items():
            if not _condition_holds(operator_name, key, wanted, keys, allow_variables):
                return False
    return True


# --- principals ---------------------------------------------------------------------------------

_NO_MATCH, _ACCOUNT, _DIRECT = 0, 1, 2


def _principal_strength(element: Any, ctx: RequestContext) -> int:
    """How a Principal element covers the caller: not at all, through its account (which then
    needs identity-based permission too), or by naming it (or everyone)."""
    if element == "*":
        return _DIRECT
    if not isinstance(element, Mapping):
        return _NO_MATCH
    best = _NO_MATCH
    for kind, values in element.items():
        for value in _as_list(values):
            if not isinstance(value, str):
                continue
            if value == "*" and kind == "AWS":
                return _DIRECT
            if kind == "Service":
                if ctx.principal_service and value.lower() == ctx.principal_service.lower():
                    return _DIRECT
            elif kind == "Federated":
                if ctx.principal_federated and value == ctx.principal_federated:
                    return _DIRECT
            elif kind == "AWS" and ctx.principal_arn and not ctx.principal_service and not ctx.principal_federated:
                best = max(best, _aws_principal_strength(value, ctx))
    return best


def _aws_principal_strength(value: str, ctx: RequestContext) -> int:
    if value.isdigit():
        return _ACCOUNT if value == ctx.principal_account else _NO_MATCH
    if value == f"arn:aws:iam::{ctx.principal_account}:root":
        return _ACCOUNT
    if value == ctx.principal_arn:
        return _DIRECT
    # A role ARN covers its sessions: arn:aws:sts::ACCT:assumed-role/NAME/SESSION.
    caller = ctx.principal_arn.split(":", 5)
    if len(caller) == 6 and caller[2] == "sts" and caller[5].startswith("assumed-role/"):
        role_name = caller[5].split("/")[1]
        parts = value.split(":", 5)
        if (
            len(parts) == 6
            and parts[2] == "iam"
            and parts[4] == caller[4]
            and parts[5].startswith("role/")
            and parts[5].rpartition("/")[2] == role_name
        ):
            return _DIRECT
    return _NO_MATCH


# --- statements ---------------------------------------------------------------------------------


def _resource_element_matches(patterns: list[Any], ctx: RequestContext, keys: _Keys, variables: bool) -> bool:
    for pattern in patterns:
        if not isinstance(pattern, str):
            continue
        if variables:
            pattern = _substitute(pattern, keys)
            if pattern is None:
                continue
        if _arn_matches(pattern, ctx.resource):
            return True
    return False


def _statement_applies(statement: Mapping[str, Any], ctx: RequestContext, keys: _Keys, variables: bool) -> bool:
    if "Action" in statement:
        if not any(isinstance(p, str) and _action_matches(p, ctx.action) for p in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(isinstance(p, str) and _action_matches(p, ctx.action) for p in _as_list(statement["NotAction"])):
            return False
    else:
        return False

    if "Resource" in statement:
        if not _resource_element_matches(_as_list(statement["Resource"]), ctx, keys, variables):
            return False
    elif "NotResource" in statement and _resource_element_matches(
        _as_list(statement["NotResource"]), ctx, keys, variables
    ):
        return False

    return _conditions_hold(statement.get("Condition"), keys, variables)


def _effect(statement: Mapping[str, Any]) -> str | None:
    effect = statement.get("Effect")
    return effect if effect in ("Allow", "Deny") else None


def _policy_statements(policy: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], bool]]:
    variables = policy.get("Version") == "2012-10-17"  # variables are literal text in 2008-10-17
    for statement in _statements(policy):
        yield statement, variables


def evaluate(
    ctx: RequestContext,
    identity_policies: Sequence[Mapping[str, Any]],
    resource_policy: Mapping[str, Any] | None,
    is_account_root: bool = False,
) -> Decision:
    """Decide a request against the caller's identity-based policies (empty for anonymous and
    service callers) and the target's resource-based policy, if it has one."""
    keys = _Keys(ctx)
    is_root = is_account_root or (
        bool(ctx.principal_account) and ctx.principal_arn == f"arn:aws:iam::{ctx.principal_account}:root"
    )
    identity_allows = False
    for policy in identity_policies:
        for statement, variables in _policy_statements(policy):
            effect = _effect(statement)
            if effect is None or not _statement_applies(statement, ctx, keys, variables):
                continue
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            identity_allows = True

    resource_allows = _NO_MATCH
    if resource_policy:
        for statement, variables in _policy_statements(resource_policy):
            effect = _effect(statement)
            if effect is None:
                continue
            if "Principal" in statement:
                strength = _principal_strength(statement["Principal"], ctx)
            elif "NotPrincipal" in statement:
                strength = _DIRECT if _principal_strength(statement["NotPrincipal"], ctx) == _NO_MATCH else _NO_MATCH
            else:
                strength = _NO_MATCH  # a resource-based statement must name its principal
            if strength == _NO_MATCH or not _statement_applies(statement, ctx, keys, variables):
                continue
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            resource_allows = max(resource_allows, strength)

    if ctx.principal_service or ctx.principal_federated or not ctx.principal_arn:
        # Services, federated and anonymous callers have no identity-based policies to consult.
        allowed = resource_allows != _NO_MATCH
    elif ctx.principal_account == ctx.resource_account:
        allowed = is_root or identity_allows or resource_allows == _DIRECT
    else:
        allowed = (is_root or identity_allows) and resource_allows != _NO_MATCH
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


# --- validation ---------------------------------------------------------------------------------


def validate_policy_document(doc: str | Mapping[str, Any], kind: str = "identity") -> dict[str, Any]:
    """Parse and check a policy document the way IAM does when one of this kind is stored
    (``managed``, ``inline``/``identity``, ``trust`` or ``resource``: see auth/policy_grammar.py)."""
    return policy_grammar.validate(doc, kind)
