"""Authorization of API calls: (principal, action, resource, context) -> allow, or AWS's AccessDenied.

Every service's codec calls its authorization hook (api/lambda_authz.py, services/<name>/authz.py)
with the operation and its parameters after authentication; the hook names the IAM action and
resource ARN and asks `Authorizer.authorize`.

- The account root acting in its own account is allowed at once: no policy is read, nothing is
  evaluated (the hot path of the common single-user setup).
- Anyone else is judged by `policy.evaluate` with their identity-based policies (an IAM user's
  inline + attached + groups' policies; an assumed role's inline + attached) and the resource's
  policy when it has one. Parsed policy sets are cached per principal and dropped whenever IAM
  changes (`Iam.generation`).
- Denials carry AWS's message, naming which kind of policy refused: "User: ARN is not authorized to
  perform: ACTION on resource: RESOURCE because no identity-based policy allows the ACTION action",
  "... with an explicit deny in an identity-based policy", "... in a resource-based policy".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from lambdad.auth import policy
from lambdad.auth.principal import Principal
from lambdad.errors import AccessDeniedException, ApiError

Policies = list[dict[str, Any]]


class PolicySource(Protocol):
    """Where identity policies come from (the IAM service): policies by user or role, and a call
    whenever any of them changes."""

    def user_policies(self, account: str, name: str) -> Policies: ...

    def role_policies(self, account: str, name: str) -> Policies: ...

    def find_role(self, account: str, name: str) -> dict[str, Any] | None: ...

    def boundary_policy(self, account: str, kind: str, name: str) -> dict[str, Any] | None: ...

    def add_listener(self, listener: Callable[[], None]) -> None: ...


@functools.lru_cache(maxsize=256)
def _session_policy(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(text)
    return parsed


class Authorizer:
    def __init__(self, iam: PolicySource, region: str) -> None:
        self.iam = iam
        self.region = region
        self._cache: dict[tuple[str, str, str], Policies] = {}
        self._boundaries: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        iam.add_listener(self._cache.clear)
        iam.add_listener(self._boundaries.clear)

    # -- identity policies ------------------------------------------------------------------
    def identity_policies(self, principal: Principal) -> Policies:
        if principal.is_root:
            return []
        if principal.role_name is not None:
            key = (principal.account, "role", principal.role_name.lower())
        elif principal.user_name is not None:
            key = (principal.account, "user", principal.user_name.lower())
        else:
            return []
        found = self._cache.get(key)
        if found is None:
            if key[1] == "role":
                found = self.iam.role_policies(principal.account, principal.role_name or "")
            else:
                found = self.iam.user_policies(principal.account, principal.user_name or "")
            self._cache[key] = found
        return found

    def boundary(self, principal: Principal) -> dict[str, Any] | None:
        """The permissions boundary of the caller's user or role (None: none applies)."""
        if principal.is_root:
            return None
        if principal.role_name is not None:
            key = (principal.account, "role", principal.role_name.lower())
        elif principal.user_name is not None:
            key = (principal.account, "user", principal.user_name.lower())
        else:
            return None
        if key not in self._boundaries:
            self._boundaries[key] = self.iam.boundary_policy(*key)
        return self._boundaries[key]

    # -- decisions --------------------------------------------------------------------------
    def decide(self, principal: Principal, action: str, resource: str, resource_account: str,
               resource_policy: Mapping[str, Any] | None = None,
               context: dict[str, str | list[str]] | None = None) -> policy.Decision:
        if principal.is_root and principal.account == resource_account:
            return policy.Decision.ALLOW
        ctx = policy.RequestContext(principal.arn, principal.account, action, resource, resource_account,
                                    context or {})
        decision = policy.evaluate(ctx, self.identity_policies(principal), resource_policy, principal.is_root)
        if decision is policy.Decision.ALLOW:
            # A boundary caps what identity policies grant: the action must be allowed by both
            # (IAM User Guide, "Permissions boundaries for IAM entities").
            limit = self._boundary_decision(principal, ctx)
            if limit is not None and limit is not policy.Decision.ALLOW:
                return limit
        return decision

    def _boundary_decision(self, principal: Principal, ctx: policy.RequestContext) -> policy.Decision | None:
        """The caps on an identity's grants: its permissions boundary, then its session's policies
        (each must allow; IAM User Guide, "Session policies")."""
        boundary = self.boundary(principal)
        alone = policy.RequestContext(ctx.principal_arn, ctx.principal_account, ctx.action, ctx.resource,
                                      ctx.principal_account, ctx.context_keys)
        decision = None
        if boundary is not None:
            decision = policy.evaluate(alone, [boundary], None)
            if decision is not policy.Decision.ALLOW:
                return decision
        if principal.session_policies:
            return policy.evaluate(alone, [_session_policy(text) for text in principal.session_policies], None)
        return decision

    def allowed(self, principal: Principal, action: str, resource: str, resource_account: str,
                resource_policy: Mapping[str, Any] | None = None,
                context: dict[str, str | list[str]] | None = None) -> bool:
        return self.decide(principal, action, resource, resource_account, resource_policy,
                           context) is policy.Decision.ALLOW

    def authorize(self, principal: Principal, action: str, resource: str, resource_account: str,
                  resource_policy: Mapping[str, Any] | None = None,
                  context: dict[str, str | list[str]] | None = None, *,
                  error: type[ApiError] = AccessDeniedException, code: str | None = None) -> None:
        """Return if allowed; raise `error` (403) with AWS's message otherwise."""
        decision = self.decide(principal, action, resource, resource_account, resource_policy, context)
        if decision is policy.Decision.ALLOW:
            return
        raise error(self.denial_message(principal, action, resource, resource_account, resource_policy, context,
                                        decision), code=code, status=403)

    def authorize_assume_role(self, principal: Principal, role_arn: str, role_account: str,
                              trust: Mapping[str, Any], context: dict[str, str | list[str]]) -> None:
        """sts:AssumeRole: the usual evaluation with the trust policy as the resource policy, and, even
        within one account, the trust policy itself must admit the caller (IAM User Guide, "Roles
        terms and concepts": a role can only be assumed by principals its trust policy names)."""
        self.authorize(principal, "sts:AssumeRole", role_arn, role_account, trust, context, code="AccessDenied")
        ctx = policy.RequestContext(principal.arn, principal.account, "sts:AssumeRole", role_arn, "", context)
        if policy.evaluate(ctx, [], trust, is_account_root=True) is not policy.Decision.ALLOW:
            raise AccessDeniedException(f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on "
                                        f"resource: {role_arn}", code="AccessDenied")

    def denial_message(self, principal: Principal, action: str, resource: str, resource_account: str,
                       resource_policy: Mapping[str, Any] | None, context: dict[str, str | list[str]] | None,
                       decision: policy.Decision) -> str:
        head = f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource}"
        identity = self.identity_policies(principal)
        # The identity policies judged alone, as if the resource were the caller's own.
        alone = policy.evaluate(policy.RequestContext(principal.arn, principal.account, action, resource,
                                                      principal.account, context or {}),
                                identity, None, principal.is_root)
        ctx = policy.RequestContext(principal.arn, principal.account, action, resource, principal.account,
                                    context or {})
        limit = self._boundary_decision(principal, ctx)
        if decision is policy.Decision.EXPLICIT_DENY:
            where = "an identity-based" if alone is policy.Decision.EXPLICIT_DENY else \
                "a permissions boundary" if limit is policy.Decision.EXPLICIT_DENY else "a resource-based"
            return f"{head} with an explicit deny in {where} policy"
        if alone is policy.Decision.ALLOW and limit is not None and limit is not policy.Decision.ALLOW:
            boundary = self.boundary(principal)
            capped_by_boundary = boundary is not None and policy.evaluate(ctx, [boundary], None) \
                is not policy.Decision.ALLOW
            return f"{head} because no {'permissions boundary' if capped_by_boundary else 'session policy'} " \
                   f"allows the {action} action"
        if principal.account != resource_account and alone is policy.Decision.ALLOW:
            return f"{head} because no resource-based policy allows the {action} action"
        return f"{head} because no identity-based policy allows the {action} action"

    def execution_role_allowed(self, role_arn: str, session_name: str, action: str, resource: str,
                               resource_policy: Mapping[str, Any] | None = None) -> bool | None:
        """Whether a function's execution role (as its session ``session_name``) may act on a resource,
        as Lambda acts with it for destinations and dead-letter queues; None when there is no such role."""
        parts = role_arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("role/"):
            return None
        account, name = parts[4], parts[5].rpartition("/")[2]
        role = self.iam.find_role(account, name)
        if role is None or role["Arn"] != role_arn:
            return None
        session = Principal(account, f"arn:aws:sts::{account}:assumed-role/{name}/{session_name}", role_name=name)
        target = resource.split(":")
        return self.allowed(session, action, resource, target[4] if len(target) > 4 else account, resource_policy)
