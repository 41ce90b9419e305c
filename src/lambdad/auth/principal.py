"""Who is calling: the principal authentication establishes and authorization judges."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Principal:
    """Who signed a request (filled in by authentication)."""

    account: str
    arn: str
    access_key_id: str = ""
    is_root: bool = False
    session_token: str | None = None
    user_name: str | None = None  # an IAM user (its keys or its GetSessionToken session)
    role_name: str | None = None  # an assumed-role session (execution role or AssumeRole)
    principal_id: str = ""
    session_policies: tuple[str, ...] = ()  # a session's own policies: they cap what its identity grants

    @classmethod
    def account_root(cls, account: str) -> Principal:
        return cls(account, f"arn:aws:iam::{account}:root", is_root=True, principal_id=account)
