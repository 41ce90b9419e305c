"""Who may use a KMS key: the key policy first, then IAM policies, then grants, as KMS decides.

From the KMS Developer Guide ("Key policies", "Determining access to a KMS key", "Grants"):

- Every KMS key has a key policy, and no principal, not even the account's root user, may use a key
  unless the key policy, a grant, or (only where the key policy lets them) IAM policies allow it.
- A key policy statement whose principal is the account (``arn:aws:iam::ACCOUNT:root``) lets IAM
  policies in that account decide; one naming a principal directly allows it by itself.
- Another account's principal needs both: the key policy allowing it (or its account) and an IAM
  policy in its own account allowing the action (its root needs no IAM policy).
- An explicit Deny in the key policy or an IAM policy wins.
- A grant allows its grantee the grant's operations (within its encryption-context constraints),
  whatever the policies say, except an explicit Deny.

The policy language is `lambdad.auth.policy`'s; the key policy plays the resource policy. That
evaluator's same-account rule (an identity allow is enough) is not KMS's, so the key is evaluated as
a resource of no caller's account: then identity-and-key-policy is required, which is KMS's rule for
principals covered through their account, and a second evaluation, with the caller's account
hidden, tells whether the key policy names the caller directly.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdad.auth import policy
from lambdad.auth.principal import Principal
from lambdad.services.kms.records import Grant, Key

_NO_ACCOUNT = "kms-key-policy"
_ALLOW_ALL: list[dict[str, Any]] = [{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}]


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str = ""  # why not, in AWS's words (the tail of the AccessDeniedException message)


def context_keys(principal: Principal, key: Key, encryption_context: Mapping[str, str] | None,
                 via_service: str | None, request_keys: Mapping[str, str | list[str]] | None
                 ) -> dict[str, str | list[str]]:
    keys: dict[str, str | list[str]] = dict(request_keys or {})
    keys["kms:CallerAccount"] = principal.account
    keys["kms:KeySpec"] = key.spec
    keys["kms:KeyUsage"] = key.usage
    keys["kms:KeyOrigin"] = "AWS_KMS"
    if via_service:
        keys["kms:ViaService"] = via_service
    if encryption_context:
        keys["kms:EncryptionContextKeys"] = sorted(encryption_context)
        for name, value in encryption_context.items():
            keys[f"kms:EncryptionContext:{name}"] = value
    return keys


def _grantee_matches(grantee: str, principal: Principal) -> bool:
    if grantee == principal.arn:
        return True
    if principal.role_name is not None:  # a grant to a role covers its sessions (the role may have a path)
        prefix = f"arn:aws:iam::{principal.account}:role/"
        return grantee.startswith(prefix) and grantee.rpartition("/")[2] == principal.role_name
    return False


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> dict[str, Any]:
    """A key policy as evaluation reads it (parsed once per distinct text; evaluation does not change it)."""
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def decide(principal: Principal, identity: list[dict[str, Any]], action: str, key: Key,
           grants: Iterable[Grant], keys: dict[str, str | list[str]],
           encryption_context: Mapping[str, str] | None) -> Verdict:
    key_policy = _parsed(key.policy)
    # Covered through the account (cross-account semantics: identity AND key policy).
    through = policy.evaluate(policy.RequestContext(principal.arn, principal.account, action, key.arn, _NO_ACCOUNT,
                                                    keys), identity, key_policy, principal.is_root)
    if through is policy.Decision.EXPLICIT_DENY:
        alone = policy.evaluate(policy.RequestContext(principal.arn, principal.account, action, key.arn,
                                                      principal.account, keys), identity, None, principal.is_root)
        where = "an identity-based" if alone is policy.Decision.EXPLICIT_DENY else "a resource-based"
        return Verdict(False, f"with an explicit deny in {where} policy")
    if through is policy.Decision.ALLOW:
        return Verdict(True)
    same_account = principal.account == key.account
    if same_account:
        # Named directly by the key policy: allowed without any IAM policy.
        direct = policy.evaluate(policy.RequestContext(principal.arn, _NO_ACCOUNT + "-caller", action, key.arn,
                                                       _NO_ACCOUNT, keys), _ALLOW_ALL, key_policy, False)
        if direct is policy.Decision.ALLOW:
            return Verdict(True)
    operation = action.removeprefix("kms:")
    context = dict(encryption_context or {})
    for grant in grants:
        if operation in grant.operations and _grantee_matches(grant.grantee, principal) and grant.admits(context):
            return Verdict(True)
    # Say which side is missing: the key policy (it covers neither the caller nor its account) or IAM.
    covered = policy.evaluate(policy.RequestContext(principal.arn, principal.account, action, key.arn, _NO_ACCOUNT,
                                                    keys), _ALLOW_ALL, key_policy, False)
    if covered is policy.Decision.ALLOW:
        return Verdict(False, f"because no identity-based policy allows the {action} action")
    return Verdict(False, f"because no resource-based policy allows the {action} action")
