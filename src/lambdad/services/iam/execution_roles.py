"""Execution roles: which role a function may be given, and the credentials its environments get."""

from __future__ import annotations

from typing import Protocol

from lambdad.auth.credentials import CredentialStore
from lambdad.errors import InvalidParameterValueException
from lambdad.services.iam.identities import Iam


class RunsAsRole(Protocol):
    """What an execution environment is started for (a function version)."""

    @property
    def account(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...


class ExecutionRoles:
    def __init__(self, iam: Iam, credentials: CredentialStore, *, require_existing: bool) -> None:
        self.iam = iam
        self.credentials = credentials
        self.require_existing = require_existing

    def check(self, account: str, role_arn: str) -> None:
        """A function's Role must be a role of its account that Lambda may assume (as AWS checks)."""
        if not self.require_existing:
            return
        parts = role_arn.split(":")
        if len(parts) > 4 and parts[4] != account:
            raise InvalidParameterValueException("Cross-account pass role is not allowed.")
        if not self.iam.lambda_can_assume(account, role_arn):
            raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")

    def environment_credentials(self, fn: RunsAsRole) -> dict[str, str]:
        """Fresh temporary credentials of the execution role for one new environment (12 h; the pool
        retires environments whose credentials near expiry)."""
        role = fn.role or f"arn:aws:iam::{fn.account}:role/lambdad-default"
        found = self.iam.find_role(fn.account, role.rsplit("/", 1)[-1])
        cred = self.credentials.issue_role_session(role, fn.name, fn.account,
                                                   role_id=found["RoleId"] if found else "")
        return {"AWS_ACCESS_KEY_ID": cred.access_key_id, "AWS_SECRET_ACCESS_KEY": cred.secret_access_key,
                "AWS_SESSION_TOKEN": cred.session_token or ""}
