"""Authorization of KMS calls: the key each operation acts on, judged by its key policy, IAM and grants.

Unlike the other services, the account's root user does not pass at once: a key whose policy does
not allow the account refuses its root too (access.py). Operations on no key (CreateKey, ListKeys,
ListAliases, GenerateRandom) are judged by IAM policies alone on resource "*", as KMS's are.
"""

from __future__ import annotations

import base64
from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth import policy
from lambdad.auth.authorizer import Authorizer
from lambdad.auth.principal import Principal
from lambdad.errors import KmsError
from lambdad.services.kms import access
from lambdad.services.kms.keys import KmsService
from lambdad.services.kms.records import Key

# Operations on no key: IAM alone, resource "*".
ACCOUNT_OPERATIONS = frozenset({"CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants"})
# Operations a principal of another account may call on a key (with the key policy's leave).
CROSS_ACCOUNT = frozenset({"DescribeKey", "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
                           "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
                           "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "Sign", "Verify",
                           "GetPublicKey",
                           "CreateGrant", "ListGrants", "RevokeGrant", "RetireGrant"})
ALIAS_OPERATIONS = frozenset({"CreateAlias", "UpdateAlias", "DeleteAlias"})


def denied(principal: Principal, action: str, resource: str, reason: str) -> KmsError:
    return KmsError(f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} "
                    f"{reason}".rstrip(), code="AccessDeniedException")


def check_key(authz: Authorizer, kms: KmsService, principal: Principal, action: str, key: Key,
              encryption_context: dict[str, str] | None = None, via_service: str | None = None,
              request_keys: dict[str, str | list[str]] | None = None) -> None:
    """Raise AccessDeniedException unless `principal` may do `action` with `key` (also used by Lambda)."""
    keys = access.context_keys(principal, key, encryption_context, via_service, request_keys)
    verdict = access.decide(principal, authz.identity_policies(principal), action, key, kms.grants_of(key), keys,
                            encryption_context)
    if not verdict.allowed:
        raise denied(principal, action, key.arn, verdict.reason)


def _blob(params: dict[str, Any], name: str) -> bytes:
    value = params.get(name)
    return value if isinstance(value, bytes) else base64.b64decode(value or b"")


def hook(authz: Authorizer, kms: KmsService) -> Authorize:

    def key_for(request: ApiRequest, op: str, ref: str) -> Key:
        account = signer(request).account
        key = kms.resolve(account, request.region, ref)
        if key.account != account and op not in CROSS_ACCOUNT:
            raise KmsError(f"Key '{key.arn}' does not exist", code="NotFoundException")
        return key

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        account = principal.account
        action = "kms:" + op
        globals_ = request_context(request)
        request.action = action
        if op in ACCOUNT_OPERATIONS:
            request.resource = "*"
            if principal.is_root:
                return
            decision = authz.decide(principal, action, "*", account, None, globals_)
            if decision is not policy.Decision.ALLOW:
                raise KmsError(authz.denial_message(principal, action, "*", account, None, globals_, decision),
                               code="AccessDeniedException")
            return
        context = params.get("EncryptionContext")
        if op in ALIAS_OPERATIONS:
            name = str(params.get("AliasName", ""))
            alias_arn = f"arn:aws:kms:{request.region}:{account}:{name}"
            request.resource = alias_arn
            if not principal.is_root and not authz.allowed(principal, action, alias_arn, account, None, globals_):
                raise denied(principal, action, alias_arn, "because no identity-based policy allows the "
                                                           f"{action} action")
            refs = [str(params["TargetKeyId"])] if params.get("TargetKeyId") else []
            if op != "CreateAlias":
                found = kms.aliases.get((account, request.region, name))
                if found is not None:
                    refs.append(found.key_id)
            for ref in refs:
                check_key(authz, kms, principal, action, key_for(request, op, ref), None, None, globals_)
            return
        if op == "RetireGrant":
            grant = (kms.grant_by_token(str(params["GrantToken"])) if params.get("GrantToken")
                     else kms.grant(key_for(request, op, str(params.get("KeyId", ""))), str(params.get("GrantId"))))
            request.resource = grant.key_arn
            # The retiring principal or the grantee (if the grant allows RetireGrant) may retire it, and the
            # account that issued it.
            if principal.arn == grant.retiring or (account == grant.issuing_account and principal.is_root) or (
                    principal.arn == grant.grantee and "RetireGrant" in grant.operations):
                return
            key = kms.keys.get(grant.key_id)
            if key is None:
                raise KmsError(f"Grant ID {grant.grant_id} not found", code="NotFoundException")
            check_key(authz, kms, principal, action, key, None, None, globals_)
            return
        if op in ("Decrypt", "ReEncrypt"):
            key = kms.key_of_ciphertext(account, request.region, _blob(params, "CiphertextBlob"),
                                        params.get("SourceKeyId" if op == "ReEncrypt" else "KeyId"))
            if key.account != account and op not in CROSS_ACCOUNT:
                raise KmsError(f"Key '{key.arn}' does not exist", code="NotFoundException")
            request.resource = key.arn
            source_context = params.get("SourceEncryptionContext" if op == "ReEncrypt" else "EncryptionContext")
            check_key(authz, kms, principal, "kms:ReEncryptFrom" if op == "ReEncrypt" else action, key,
                      source_context, None, globals_)
            if op == "ReEncrypt":
                target = key_for(request, op, str(params.get("DestinationKeyId", "")))
                check_key(authz, kms, principal, "kms:ReEncryptTo", target,
                          params.get("DestinationEncryptionContext"), None, globals_)
            return
        key = key_for(request, op, str(params.get("KeyId", "")))
        request.resource = key.arn
        check_key(authz, kms, principal, action, key, context if isinstance(context, dict) else None, None, globals_)

    return authorize
