"""Access keys the server accepts, and who each one is.

- Root keys of the configured account: from the settings, or generated at first start into
  DATA_DIR/credentials (mode 0600, AWS shared-credentials format). Root keys of further accounts and
  IAM users' access keys are registered here by the IAM domain (services/iam/identities.py), which keeps their
  secrets encrypted in the store.
- Temporary keys (``ASIA...`` + session token): STS AssumeRole / GetSessionToken sessions, persisted
  encrypted so they outlive a restart, and execution-role sessions handed to function environments,
  kept in memory only (every new environment gets fresh ones).

A lookup is one dict access; expired sessions are dropped when met and swept in batches.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import time
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdad.config import Config

if TYPE_CHECKING:
    from lambdad.auth.keyring import Keyring
    from lambdad.store import Store

_KEY_ALPHABET = string.ascii_uppercase + string.digits
# Environments are reaped long before this; the pool retires any whose keys near expiry.
EXECUTION_SESSION_SECONDS = 12 * 3600
_SWEEP_EVERY = 512

SCHEMA = """
CREATE TABLE IF NOT EXISTS sts_sessions (
    access_key_id TEXT PRIMARY KEY,
    expires REAL NOT NULL,
    data TEXT NOT NULL
);
"""


@dataclass(slots=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    account: str
    principal_arn: str
    session_token: str | None = None
    expires: float | None = None
    is_root: bool = False
    user_name: str | None = None  # an IAM user's keys, and that user's GetSessionToken sessions
    role_name: str | None = None  # an assumed-role session (the execution role's, or AssumeRole's)
    principal_id: str = ""  # what GetCallerIdentity calls UserId
    source_identity: str = ""  # for a role session: the ARN of who assumed it ("" for Lambda)
    session_policies: tuple[str, ...] = ()  # a session's own policies (GetFederationToken), capping its grants


def new_key_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return secrets.token_urlsafe(30)[:40]


def load_or_create_root(config: Config) -> tuple[str, str]:
    """Root keys from the settings, else from DATA_DIR/credentials, else newly generated there."""
    if config.root_access_key_id and config.root_secret_access_key:
        return config.root_access_key_id, config.root_secret_access_key
    path = config.data_path / "credentials"
    parser = ConfigParser()
    if path.exists():
        parser.read(path)
        if parser.has_section("default"):
            return (parser.get("default", "aws_access_key_id"), parser.get("default", "aws_secret_access_key"))
    key_id = new_key_id("AKIA")
    secret = new_secret()
    write_credentials_file(path, key_id, secret, config.region)
    return key_id, secret


def write_credentials_file(path: Path, key_id: str, secret: str, region: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\nregion = {region}\n")
    os.chmod(path, 0o600)


class CredentialStore:
    def __init__(self, config: Config, store: Store | None = None, keyring: Keyring | None = None) -> None:
        self.account = config.account_id
        key_id, secret = load_or_create_root(config)
        self.root = Credential(key_id, secret, self.account, f"arn:aws:iam::{self.account}:root", is_root=True,
                               principal_id=self.account)
        self._by_key: dict[str, Credential] = {key_id: self.root}
        self._issued = 0
        self._store = store
        self._keyring = keyring
        if store is not None and keyring is not None:
            store.ensure_schema(SCHEMA)
            self._load_sessions()

    # -- lookups (every request) --------------------------------------------------------------
    def lookup(self, access_key_id: str) -> Credential | None:
        cred = self._by_key.get(access_key_id)
        if cred is not None and cred.expires is not None and cred.expires < time.time():
            self.revoke(access_key_id)
            return None
        return cred

    def secret_for(self, access_key_id: str) -> str | None:
        cred = self.lookup(access_key_id)
        return cred.secret_access_key if cred else None

    # -- long-term keys (registered by the IAM domain) ----------------------------------------
    def add(self, cred: Credential) -> None:
        self._by_key[cred.access_key_id] = cred

    def revoke(self, access_key_id: str) -> None:
        cred = self._by_key.pop(access_key_id, None)
        if cred is not None and cred.session_token is not None and self._store is not None:
            self._store.execute("DELETE FROM sts_sessions WHERE access_key_id=?", (access_key_id,))

    # -- temporary keys -----------------------------------------------------------------------
    def issue_session(self, account: str, principal_arn: str, duration: float, *, role_name: str | None = None,
                      user_name: str | None = None, principal_id: str = "", source_identity: str = "",
                      is_root: bool = False, persist: bool = True,
                      session_policies: tuple[str, ...] = ()) -> Credential:
        cred = Credential(new_key_id("ASIA"), new_secret(), account, principal_arn,
                          session_token=secrets.token_urlsafe(96), expires=time.time() + duration, is_root=is_root,
                          role_name=role_name, user_name=user_name, principal_id=principal_id,
                          source_identity=source_identity, session_policies=session_policies)
        self._by_key[cred.access_key_id] = cred
        if persist and self._store is not None and self._keyring is not None:
            data = {"secret": self._keyring.encrypt(cred.secret_access_key, cred.access_key_id),
                    "token": self._keyring.encrypt(cred.session_token or "", cred.access_key_id + "/token"),
                    "account": account, "arn": principal_arn, "role": role_name, "user": user_name,
                    "id": principal_id, "source": source_identity, "root": is_root,
                    "policies": list(session_policies)}
            self._store.execute("INSERT INTO sts_sessions (access_key_id, expires, data) VALUES (?,?,?) "
                                "ON CONFLICT (access_key_id) DO UPDATE SET expires=excluded.expires, "
                                "data=excluded.data",
                                (cred.access_key_id, cred.expires, json.dumps(data)))
        self._issued += 1
        if self._issued % _SWEEP_EVERY == 0:
            self.sweep()
        return cred

    def issue_role_session(self, role_arn: str, session_name: str, account: str,
                           duration: float = EXECUTION_SESSION_SECONDS, role_id: str = "") -> Credential:
        """Temporary credentials of an execution role, as Lambda's own AssumeRole would give them."""
        role_name = role_arn.rsplit("/", 1)[-1]
        return self.issue_session(account, f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
                                  duration, role_name=role_name, principal_id=f"{role_id or role_name}:{session_name}",
                                  persist=False)

    def sweep(self) -> None:
        now = time.time()
        for key in [k for k, c in self._by_key.items() if c.expires is not None and c.expires < now]:
            self._by_key.pop(key, None)
        if self._store is not None:
            self._store.execute("DELETE FROM sts_sessions WHERE expires < ?", (now,))

    def _load_sessions(self) -> None:
        assert self._store is not None and self._keyring is not None
        now = time.time()
        for row in self._store.all("SELECT access_key_id, expires, data FROM sts_sessions WHERE expires >= ?",
                                   (now,)):
            data = json.loads(row["data"])
            key_id = row["access_key_id"]
            self._by_key[key_id] = Credential(
                key_id, self._keyring.decrypt_text(data["secret"], key_id), data["account"], data["arn"],
                session_token=self._keyring.decrypt_text(data["token"], key_id + "/token"), expires=row["expires"],
                is_root=bool(data.get("root")),
                role_name=data.get("role"), user_name=data.get("user"), principal_id=data.get("id", ""),
                source_identity=data.get("source", ""), session_policies=tuple(data.get("policies", ())))
