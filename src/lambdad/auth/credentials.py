"""Access keys the server accepts: the root keys, and temporary keys issued to execution roles."""

from __future__ import annotations

import os
import secrets
import string
import time
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path

from lambdad.config import Config

_KEY_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(slots=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    account: str
    principal_arn: str
    session_token: str | None = None
    expires: float | None = None
    is_root: bool = False


def _new_key_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


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
    key_id = _new_key_id("AKIA")
    secret = secrets.token_urlsafe(30)[:40]
    write_credentials_file(path, key_id, secret, config.region)
    return key_id, secret


def write_credentials_file(path: Path, key_id: str, secret: str, region: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\nregion = {region}\n")
    os.chmod(path, 0o600)


class CredentialStore:
    def __init__(self, config: Config) -> None:
        self.account = config.account_id
        key_id, secret = load_or_create_root(config)
        self.root = Credential(key_id, secret, self.account, f"arn:aws:iam::{self.account}:root", is_root=True)
        self._by_key: dict[str, Credential] = {key_id: self.root}

    def lookup(self, access_key_id: str) -> Credential | None:
        cred = self._by_key.get(access_key_id)
        if cred is not None and cred.expires is not None and cred.expires < time.time():
            del self._by_key[access_key_id]
            return None
        return cred

    def secret_for(self, access_key_id: str) -> str | None:
        cred = self.lookup(access_key_id)
        return cred.secret_access_key if cred else None

    def issue_role_session(
        self, role_arn: str, session_name: str, account: str, duration: float = 12 * 3600
    ) -> Credential:
        """Temporary credentials as STS AssumeRole would give an execution role."""
        role_name = role_arn.rsplit("/", 1)[-1]
        cred = Credential(
            _new_key_id("ASIA"),
            secrets.token_urlsafe(30)[:40],
            account,
            f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
            session_token=secrets.token_urlsafe(96),
            expires=time.time() + duration,
        )
        self._by_key[cred.access_key_id] = cred
        return cred

    def revoke(self, access_key_id: str) -> None:
        self._by_key.pop(access_key_id, None)
