"""KMS over the JSON protocol (`X-Amz-Target: TrentService.<Operation>`, JSON 1.1), botocore's model.

Blobs travel base64 (the codec decodes them on the way in; they are encoded here on the way out),
timestamps as epoch seconds. Each operation resolves its key again (authz.py resolved it for the
decision) and calls the domain.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Callable
from typing import Any

from lambdad import botocore_models
from lambdad.api.base import ApiRequest, ApiResponse, Authorize, signer
from lambdad.api.jsonproto import JsonService, Operation, render_error
from lambdad.auth.principal import Principal
from lambdad.errors import KmsError
from lambdad.services.kms import access
from lambdad.services.kms.keys import KmsService, error
from lambdad.services.kms.records import Key

_MODEL = botocore_models.service_model("kms")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _page(items: list[dict[str, Any]], field: str, p: dict[str, Any]) -> dict[str, Any]:
    limit = int(p.get("Limit") or 100)
    if not 1 <= limit <= 1000:
        raise error("ValidationException", f"1 validation error detected: Value '{limit}' at 'limit' failed to "
                                           "satisfy constraint: Member must have value between 1 and 1000")
    start = 0
    marker = p.get("Marker")
    if marker:
        try:
            start = int(base64.b64decode(str(marker)).decode())
        except ValueError:
            raise error("InvalidMarkerException", "Invalid marker") from None
    chunk = items[start:start + limit]
    out: dict[str, Any] = {field: chunk, "Truncated": start + limit < len(items)}
    if out["Truncated"]:
        out["NextMarker"] = _b64(str(start + limit).encode())
    return out


def build(kms: KmsService, authorize: Authorize | None,
          identity_policies: Callable[[Principal], list[dict[str, Any]]]) -> JsonService:
    """`identity_policies` (the Authorizer's) serves PutKeyPolicy's lockout safety check."""
    svc = JsonService("TrentService", model=_MODEL, authorize=authorize)

    def operation(name: str) -> Callable[[Operation], Operation]:
        """Register an operation; with DryRun (authorization has passed by then) it answers as KMS does
        instead of acting."""
        def register(fn: Operation) -> Operation:
            async def run(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any] | ApiResponse:
                if p.get("DryRun"):
                    raise error("DryRunOperationException",
                                "The request would have succeeded, but the DryRun option is set.")
                return await fn(request, p)
            return svc.operation(name)(run)
        return register

    def account(request: ApiRequest) -> str:
        return signer(request).account

    def key(request: ApiRequest, p: dict[str, Any], member: str = "KeyId") -> Key:
        return kms.resolve(account(request), request.region, str(p.get(member, "")))

    def context(p: dict[str, Any], member: str = "EncryptionContext") -> dict[str, str] | None:
        value = p.get(member)
        return dict(value) if value else None

    # -- keys ---------------------------------------------------------------------------------
    @operation("CreateKey")
    async def create_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"KeyMetadata": kms.create_key(account(request), request.region, p).metadata()}

    @operation("DescribeKey")
    async def describe_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"KeyMetadata": key(request, p).metadata()}

    @operation("ListKeys")
    async def list_keys(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        keys = [{"KeyId": k.key_id, "KeyArn": k.arn} for k in kms.list_keys(account(request), request.region)]
        return _page(keys, "Keys", p)

    @operation("EnableKey")
    async def enable_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.set_enabled(key(request, p), True)
        return {}

    @operation("DisableKey")
    async def disable_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.set_enabled(key(request, p), False)
        return {}

    @operation("UpdateKeyDescription")
    async def update_key_description(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.update_description(key(request, p), str(p.get("Description", "")))
        return {}

    @operation("ScheduleKeyDeletion")
    async def schedule_key_deletion(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        days = p.get("PendingWindowInDays")
        k = kms.schedule_deletion(key(request, p), int(days) if days is not None else None)
        window = round(((k.deletion_date or 0) - kms.clock.time()) / 86400)
        return {"KeyId": k.arn, "DeletionDate": k.deletion_date, "KeyState": k.state,
                "PendingWindowInDays": window}

    @operation("CancelKeyDeletion")
    async def cancel_key_deletion(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        kms.cancel_deletion(k)
        return {"KeyId": k.arn}

    # -- policies -----------------------------------------------------------------------------
    @operation("GetKeyPolicy")
    async def get_key_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("PolicyName") or "default"
        if name != "default":
            raise error("NotFoundException", "No such policy exists")
        return {"Policy": key(request, p).policy, "PolicyName": "default"}

    @operation("ListKeyPolicies")
    async def list_key_policies(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        key(request, p)
        return {"PolicyNames": ["default"], "Truncated": False}

    @operation("PutKeyPolicy")
    async def put_key_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("PolicyName") or "default"
        if name != "default":
            raise error("ValidationException", "PolicyName must be default")
        k = key(request, p)
        text = str(p.get("Policy", ""))
        if not p.get("BypassPolicyLockoutSafetyCheck"):
            # KMS's lockout safety check: the caller must still be able to PutKeyPolicy under the new policy.
            trial = dataclasses.replace(k, policy=kms.check_policy(text))
            principal = signer(request)
            verdict = access.decide(principal, identity_policies(principal), "kms:PutKeyPolicy", trial, [],
                                    access.context_keys(principal, trial, None, None, None), None)
            if not verdict.allowed:
                raise error("MalformedPolicyDocumentException",
                            "The new key policy will not allow you to update the key policy in the future.")
        kms.put_policy(k, text)
        return {}

    # -- aliases ------------------------------------------------------------------------------
    @operation("CreateAlias")
    async def create_alias(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.create_alias(account(request), request.region, str(p["AliasName"]), key(request, p, "TargetKeyId"))
        return {}

    @operation("UpdateAlias")
    async def update_alias(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.update_alias(account(request), request.region, str(p["AliasName"]), key(request, p, "TargetKeyId"))
        return {}

    @operation("DeleteAlias")
    async def delete_alias(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.delete_alias(account(request), request.region, str(p["AliasName"]))
        return {}

    @operation("ListAliases")
    async def list_aliases(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        target = key(request, p) if p.get("KeyId") else None
        aliases = [a.listing() for a in kms.list_aliases(account(request), request.region, target)]
        return _page(aliases, "Aliases", p)

    # -- cryptography -------------------------------------------------------------------------
    @operation("Encrypt")
    async def encrypt(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        blob, algorithm = kms.encrypt(k, p["Plaintext"], context(p), p.get("EncryptionAlgorithm"))
        return {"CiphertextBlob": _b64(blob), "KeyId": k.arn, "EncryptionAlgorithm": algorithm}

    @operation("Decrypt")
    async def decrypt(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = kms.key_of_ciphertext(account(request), request.region, p["CiphertextBlob"], p.get("KeyId"))
        plaintext, algorithm = kms.decrypt(k, p["CiphertextBlob"], context(p), p.get("EncryptionAlgorithm"))
        return {"KeyId": k.arn, "Plaintext": _b64(plaintext), "EncryptionAlgorithm": algorithm}

    @operation("ReEncrypt")
    async def re_encrypt(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        source = kms.key_of_ciphertext(account(request), request.region, p["CiphertextBlob"], p.get("SourceKeyId"))
        plaintext, source_algorithm = kms.decrypt(source, p["CiphertextBlob"], context(p, "SourceEncryptionContext"),
                                                  p.get("SourceEncryptionAlgorithm"))
        target = key(request, p, "DestinationKeyId")
        blob, algorithm = kms.encrypt(target, plaintext, context(p, "DestinationEncryptionContext"),
                                      p.get("DestinationEncryptionAlgorithm"))
        return {"CiphertextBlob": _b64(blob), "SourceKeyId": source.arn, "KeyId": target.arn,
                "SourceEncryptionAlgorithm": source_algorithm, "DestinationEncryptionAlgorithm": algorithm}

    @operation("GenerateDataKey")
    async def generate_data_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        plaintext, blob = kms.data_key(k, p.get("KeySpec"), p.get("NumberOfBytes"), context(p))
        return {"CiphertextBlob": _b64(blob), "Plaintext": _b64(plaintext), "KeyId": k.arn}

    @operation("GenerateDataKeyWithoutPlaintext")
    async def generate_data_key_without_plaintext(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        _, blob = kms.data_key(k, p.get("KeySpec"), p.get("NumberOfBytes"), context(p))
        return {"CiphertextBlob": _b64(blob), "KeyId": k.arn}

    @operation("GenerateDataKeyPair")
    async def generate_data_key_pair(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("Recipient"):
            raise error("UnsupportedOperationException", "Recipient (Nitro Enclaves attestation) is not supported "
                                                         "by lambdad's KMS.")
        k = key(request, p)
        private, sealed, public = kms.data_key_pair(k, str(p.get("KeyPairSpec", "")), context(p))
        return {"PrivateKeyCiphertextBlob": _b64(sealed), "PrivateKeyPlaintext": _b64(private),
                "PublicKey": _b64(public), "KeyId": k.arn, "KeyPairSpec": p["KeyPairSpec"]}

    @operation("GenerateDataKeyPairWithoutPlaintext")
    async def generate_data_key_pair_without_plaintext(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        _, sealed, public = kms.data_key_pair(k, str(p.get("KeyPairSpec", "")), context(p))
        return {"PrivateKeyCiphertextBlob": _b64(sealed), "PublicKey": _b64(public), "KeyId": k.arn,
                "KeyPairSpec": p["KeyPairSpec"]}

    @operation("GenerateMac")
    async def generate_mac(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        return {"Mac": _b64(kms.generate_mac(k, str(p["MacAlgorithm"]), p["Message"])),
                "MacAlgorithm": p["MacAlgorithm"], "KeyId": k.arn}

    @operation("VerifyMac")
    async def verify_mac(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        kms.verify_mac(k, str(p["MacAlgorithm"]), p["Message"], p["Mac"])
        return {"KeyId": k.arn, "MacValid": True, "MacAlgorithm": p["MacAlgorithm"]}

    @operation("GenerateRandom")
    async def generate_random(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("CustomKeyStoreId"):
            raise error("UnsupportedOperationException", "Custom key stores are not supported by lambdad's KMS.")
        count = p.get("NumberOfBytes")
        if count is None:
            raise error("ValidationException", "1 validation error detected: Value null at 'numberOfBytes' failed "
                                               "to satisfy constraint: Member must not be null")
        return {"Plaintext": _b64(os.urandom(int(count)))}

    @operation("Sign")
    async def sign(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        signature = kms.sign(k, str(p["SigningAlgorithm"]), p["Message"], p.get("MessageType"))
        return {"KeyId": k.arn, "Signature": _b64(signature), "SigningAlgorithm": p["SigningAlgorithm"]}

    @operation("Verify")
    async def verify(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        kms.verify(k, str(p["SigningAlgorithm"]), p["Message"], p.get("MessageType"), p["Signature"])
        return {"KeyId": k.arn, "SignatureValid": True, "SigningAlgorithm": p["SigningAlgorithm"]}

    @operation("GetPublicKey")
    async def get_public_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        out: dict[str, Any] = {"KeyId": k.arn, "PublicKey": _b64(kms.public_key(k)), "KeySpec": k.spec,
                               "CustomerMasterKeySpec": k.spec, "KeyUsage": k.usage}
        if k.encryption_algorithms():
            out["EncryptionAlgorithms"] = k.encryption_algorithms()
        if k.signing_algorithms():
            out["SigningAlgorithms"] = k.signing_algorithms()
        return out

    # -- rotation -----------------------------------------------------------------------------
    @operation("GetKeyRotationStatus")
    async def get_key_rotation_status(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        out: dict[str, Any] = {"KeyRotationEnabled": k.rotation_enabled, "KeyId": k.arn}
        if k.rotation_enabled:
            out["RotationPeriodInDays"] = k.rotation_period_days
            out["NextRotationDate"] = k.next_rotation
        return out

    @operation("EnableKeyRotation")
    async def enable_key_rotation(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        period = p.get("RotationPeriodInDays")
        kms.set_rotation(key(request, p), True, int(period) if period is not None else None)
        return {}

    @operation("DisableKeyRotation")
    async def disable_key_rotation(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.set_rotation(key(request, p), False)
        return {}

    @operation("RotateKeyOnDemand")
    async def rotate_key_on_demand(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        kms.rotate_now(k)
        return {"KeyId": k.arn}

    @operation("ListKeyRotations")
    async def list_key_rotations(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        if not k.symmetric:
            raise error("UnsupportedOperationException", f"{k.arn} key usage is not supported for rotation.")
        return _page([{"KeyId": k.key_id, **r} for r in k.rotations], "Rotations", p)

    # -- grants -------------------------------------------------------------------------------
    @operation("CreateGrant")
    async def create_grant(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        grant = kms.create_grant(account(request), key(request, p), p)
        return {"GrantToken": grant.token, "GrantId": grant.grant_id}

    @operation("ListGrants")
    async def list_grants(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        k = key(request, p)
        grants = kms.grants_of(k)
        if p.get("GrantId"):
            grants = [g for g in grants if g.grant_id == p["GrantId"]]
        if p.get("GranteePrincipal"):
            grants = [g for g in grants if g.grantee == p["GranteePrincipal"]]
        return _page([g.listing() for g in sorted(grants, key=lambda g: g.created)], "Grants", p)

    @operation("ListRetirableGrants")
    async def list_retirable_grants(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        grants = kms.retirable_grants(account(request), request.region, str(p.get("RetiringPrincipal", "")))
        return _page([g.listing() for g in sorted(grants, key=lambda g: g.created)], "Grants", p)

    @operation("RetireGrant")
    async def retire_grant(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("GrantToken"):
            grant = kms.grant_by_token(str(p["GrantToken"]))
        elif p.get("KeyId") and p.get("GrantId"):
            grant = kms.grant(key(request, p), str(p["GrantId"]))
        else:
            raise error("ValidationException", "Either GrantToken or both KeyId and GrantId are required.")
        kms.delete_grant(grant)
        return {}

    @operation("RevokeGrant")
    async def revoke_grant(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.delete_grant(kms.grant(key(request, p), str(p.get("GrantId", ""))))
        return {}

    # -- tags ---------------------------------------------------------------------------------
    @operation("TagResource")
    async def tag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.tag(key(request, p), list(p.get("Tags") or []))
        return {}

    @operation("UntagResource")
    async def untag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        kms.untag(key(request, p), [str(t) for t in p.get("TagKeys") or []])
        return {}

    @operation("ListResourceTags")
    async def list_resource_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        tags = [{"TagKey": k, "TagValue": v} for k, v in sorted(key(request, p).tags.items())]
        return _page(tags, "Tags", p)

    return svc


__all__ = ["KmsError", "build", "render_error"]
