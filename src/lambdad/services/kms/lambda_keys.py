"""Lambda's use of KMS: a function's KMSKeyArn seals its environment variables at rest, and each invocation
is refused as Lambda refuses it when the key cannot decrypt them (disabled, pending deletion, deleted,
or the execution role not allowed kms:Decrypt by the key policy and IAM).

The encryption context is Lambda's own, {"LambdaFunctionName": name}, the one the console's
encryption helpers use too.
"""

from __future__ import annotations

import base64

from lambdad.auth.authorizer import Authorizer
from lambdad.auth.principal import Principal
from lambdad.errors import InvalidParameterValueException, KmsError, LambdaKmsError
from lambdad.services.kms import access, material
from lambdad.services.kms.keys import KmsService
from lambdad.services.kms.records import Key

PREFIX = "kms:"
_DECRYPT_CAUSES = {
    "DisabledException": ("KMSDisabledException", "the KMS key used is disabled"),
    "KMSInvalidStateException": ("KMSInvalidStateException", "the KMS key used is in an invalid state for Decrypt"),
    "NotFoundException": ("KMSNotFoundException", "the KMS key was not found"),
    "AccessDeniedException": ("KMSAccessDeniedException", "KMS access was denied"),
}


def _decrypt_error(exc: KmsError) -> LambdaKmsError:
    code, why = _DECRYPT_CAUSES.get(exc.code, ("KMSAccessDeniedException", "KMS access was denied"))
    return LambdaKmsError(f"Lambda was unable to decrypt the environment variables because {why}. Please check "
                          f"the function's KMS key settings. KMS Exception: {exc.code} KMS Message: {exc.message}",
                          code=code)


def _grant_error(exc: KmsError) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        "Lambda was unable to configure access to your environment variables because the KMS key is invalid for "
        f"CreateGrant. Please check your KMS key settings. KMS Exception: {exc.code} KMS Message: {exc.message}")


class LambdaKeys:
    def __init__(self, kms: KmsService, authorizer: Authorizer, region: str) -> None:
        self.kms = kms
        self.authorizer = authorizer
        self.region = region  # the default region only: a function's key is resolved in its own region
        # Allowed decisions by (function, role, key), valid while neither KMS (generation) nor IAM changes:
        # the invoke path then pays a dict lookup, not a policy evaluation.
        self._allowed: dict[tuple[str, str, str, str, str], int] = {}
        authorizer.iam.add_listener(self._allowed.clear)

    def _key(self, account: str, region: str, key_arn: str) -> Key:
        key = self.kms.resolve(account, region, key_arn)
        self.kms.usable(key)
        return key

    def check(self, account: str, region: str, key_arn: str) -> None:
        try:
            key = self._key(account, region, key_arn)
        except KmsError as exc:
            raise _grant_error(exc) from None
        if not key.symmetric:
            raise InvalidParameterValueException(
                "Lambda was unable to configure access to your environment variables because the KMS key is invalid "
                f"for CreateGrant. Please check your KMS key settings. KMS Exception: InvalidKeyUsageException KMS "
                f"Message: {key.arn} is not a symmetric encryption key.")

    def check_caller(self, caller: Principal, region: str, key_arn: str) -> None:
        try:
            key = self._key(caller.account, region, key_arn)
            keys = access.context_keys(caller, key, None, f"lambda.{region}.amazonaws.com", None)
            verdict = access.decide(caller, self.authorizer.identity_policies(caller), "kms:CreateGrant", key,
                                    self.kms.grants_of(key), keys, None)
            if not verdict.allowed:
                raise KmsError(f"User: {caller.arn} is not authorized to perform: kms:CreateGrant on resource: "
                               f"{key.arn} {verdict.reason}", code="AccessDeniedException")
        except KmsError as exc:
            raise _grant_error(exc) from None

    def seal(self, account: str, region: str, key_arn: str, plaintext: bytes, context: dict[str, str]) -> str:
        key = self.kms.resolve(account, region, key_arn)
        version = len(key.materials) - 1
        blob = material.seal(key.materials[version], key.key_id, version, plaintext, context)
        return PREFIX + base64.b64encode(blob).decode()

    def open(self, sealed: str, context: dict[str, str]) -> bytes | None:
        blob = base64.b64decode(sealed.removeprefix(PREFIX))
        header = material.peek(blob)
        key = self.kms.find_by_id(header.key_id)
        if key is None:
            return None
        return material.open_blob(key.materials[header.material_version], blob, context)

    def check_decrypt(self, account: str, region: str, key_arn: str, role_arn: str, function_name: str) -> None:
        try:
            key = self._key(account, region, key_arn)
            cached = (account, region, key_arn, role_arn, function_name)
            if self._allowed.get(cached) == self.kms.generation:
                return
            role_account, role_name = role_arn.split(":")[4], role_arn.rpartition("/")[2]
            if self.authorizer.iam.find_role(role_account, role_name) is None:
                raise KmsError(f"The role {role_arn} does not exist", code="AccessDeniedException")
            session = Principal(role_account, f"arn:aws:sts::{role_account}:assumed-role/{role_name}/{function_name}",
                                role_name=role_name)
            context = {"LambdaFunctionName": function_name}
            keys = access.context_keys(session, key, context, f"lambda.{region}.amazonaws.com", None)
            verdict = access.decide(session, self.authorizer.identity_policies(session), "kms:Decrypt", key,
                                    self.kms.grants_of(key), keys, context)
            if not verdict.allowed:
                raise KmsError(f"User: {session.arn} is not authorized to perform: kms:Decrypt on resource: "
                               f"{key.arn} {verdict.reason}", code="AccessDeniedException")
            if len(self._allowed) > 100_000:
                self._allowed.clear()
            self._allowed[cached] = self.kms.generation
        except KmsError as exc:
            raise _decrypt_error(exc) from None
