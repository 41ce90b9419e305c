"""IAM's policy simulator (SimulatePrincipalPolicy, SimulateCustomPolicy) on lambdad's own evaluator
(auth/policy.py), so what it answers is what lambdad would decide.

For each action and resource: the decision (``allowed`` / ``explicitDeny`` / ``implicitDeny``), the
statements that applied (each policy's statements tried one at a time with the same evaluator),
and the context keys the applicable statements' conditions name that the caller did not supply.
Statement positions in the document (IAM's StartPosition/EndPosition) are not computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambdad.auth import policy

_DECISION = {policy.Decision.ALLOW: "allowed", policy.Decision.EXPLICIT_DENY: "explicitDeny",
             policy.Decision.IMPLICIT_DENY: "implicitDeny"}
_LIST_TYPES = frozenset({"stringList", "numericList", "booleanList", "dateList", "ipList", "binaryList"})


@dataclass(frozen=True)
class NamedPolicy:
    source_id: str  # what IAM calls SourcePolicyId: the policy's name, or "PolicyInputList.N"
    source_type: str  # "IAM Policy", "user", "group", "role", "aws-managed", "resource", ...
    document: dict[str, Any]


def context_keys(entries: Sequence[dict[str, Any]] | None) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for entry in entries or []:
        name, values = entry.get("ContextKeyName"), [str(v) for v in entry.get("ContextKeyValues") or []]
        if not name or not values:
            continue
        out[name] = values if entry.get("ContextKeyType") in _LIST_TYPES else values[0]
    return out


def _condition_keys(document: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict) and isinstance(statement.get("Condition"), dict):
            for block in statement["Condition"].values():
                if isinstance(block, dict):
                    keys.update(block)
    return keys


def condition_key_names(documents: Sequence[dict[str, Any]]) -> list[str]:
    """The context keys the documents' conditions name (GetContextKeysFor*Policy), sorted, one case each."""
    found: dict[str, str] = {}
    for document in documents:
        for key in _condition_keys(document):
            found.setdefault(key.lower(), key)
    return sorted(found.values(), key=str.lower)


def _matched(ctx: policy.RequestContext, policies: Sequence[NamedPolicy]) -> list[dict[str, Any]]:
    out = []
    for named in policies:
        statements = named.document.get("Statement")
        for statement in statements if isinstance(statements, list) else [statements]:
            single = {"Version": named.document.get("Version", "2008-10-17"), "Statement": [statement]}
            if policy.evaluate(ctx, [single], None) is not policy.Decision.IMPLICIT_DENY:
                out.append({"SourcePolicyId": named.source_id, "SourcePolicyType": named.source_type})
                break
    return out


def simulate(principal_arn: str, account: str, policies: Sequence[NamedPolicy], actions: Sequence[str],
             resources: Sequence[str], keys: dict[str, str | list[str]],
             boundary: dict[str, Any] | None = None,
             resource_policy: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    documents = [p.document for p in policies]
    named_keys = set().union(*(_condition_keys(d) for d in documents)) if documents else set()
    missing = sorted(k for k in named_keys if k.lower() not in {c.lower() for c in keys}
                     and not k.lower().startswith(("aws:currenttime", "aws:epochtime")))
    results = []
    for action in actions:
        for resource in resources or ["*"]:
            ctx = policy.RequestContext(principal_arn, account, action, resource, account, dict(keys))
            decision = policy.evaluate(ctx, documents, resource_policy)
            if decision is policy.Decision.ALLOW and boundary is not None:
                capped = policy.evaluate(ctx, [boundary], None)
                decision = capped if capped is not policy.Decision.ALLOW else decision
            matched = _matched(ctx, policies)
            verdict = _DECISION[decision]
            results.append({
                "EvalActionName": action, "EvalResourceName": resource, "EvalDecision": verdict,
                "MatchedStatements": matched, "MissingContextValues": missing, "EvalDecisionDetails": {},
                "OrganizationsDecisionDetail": {"AllowedByOrganizations": True},
                "ResourceSpecificResults": [{"EvalResourceName": resource, "EvalResourceDecision": verdict,
                                             "MatchedStatements": matched, "MissingContextValues": missing}]})
    return results
