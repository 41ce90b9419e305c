"""Customer managed KMS keys for environment variables (a function's KMSKeyArn), as the registry and the
invoker see them. The KMS service implements it (services/kms/lambda_keys.py); without it, KMSKeyArn is
refused rather than accepted and ignored. `region` is the function's: its key must be a key of that region."""

from __future__ import annotations

from typing import Protocol

from lambdad.auth.principal import Principal


class EnvironmentKeys(Protocol):
    def check(self, account: str, region: str, key_arn: str) -> None:
        """At CreateFunction/UpdateFunctionConfiguration: the key exists and is usable, or
        InvalidParameterValueException in Lambda's words."""
        ...

    def check_caller(self, caller: Principal, region: str, key_arn: str) -> None:
        """The caller setting KMSKeyArn may let Lambda use the key (kms:CreateGrant, as Lambda asks KMS
        with the caller's permissions), or InvalidParameterValueException in Lambda's words."""
        ...

    def seal(self, account: str, region: str, key_arn: str, plaintext: bytes, context: dict[str, str]) -> str:
        """The variables encrypted under the key (text, to store)."""
        ...

    def open(self, sealed: str, context: dict[str, str]) -> bytes | None:
        """The variables again (the key's state does not matter at rest); None once its key is deleted."""
        ...

    def check_decrypt(self, account: str, region: str, key_arn: str, role_arn: str, function_name: str) -> None:
        """At invocation: Lambda decrypts the variables as the execution role; raise Lambda's
        KMSDisabledException / KMSInvalidStateException / KMSNotFoundException / KMSAccessDeniedException."""
        ...
