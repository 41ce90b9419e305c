"""The master key: encrypts secrets at rest (IAM secret keys, function environment variables).

The key lives apart from the store: the operator supplies it (`master_key`, base64 of 32 bytes), or it
is read from `master_key_file` (default DATA_DIR/master.key), created there with mode 0600 on first
start. Whoever holds the SQLite file alone learns no secret. SigV4 verification needs the plain secret
access key, so secrets are encrypted (AES-256-GCM), not hashed.

Ciphertexts are text: ``v1:`` + base64(nonce || ciphertext || tag). The associated data names what
a ciphertext is for (e.g. the access key id), so one cannot be moved onto another record.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lambdad.config import Config
from lambdad.errors import LambdadError

PREFIX = "v1:"
_NONCE = 12


class KeyringError(LambdadError):
    """The master key is missing, malformed, or does not open a stored secret."""


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{origin}: the master key must be base64 of 32 bytes") from None
    if len(key) != 32:
        raise KeyringError(f"{origin}: the master key must be 32 bytes, got {len(key)}")
    return key


def load_master_key(config: Config) -> bytes:
    """The operator's key if set, else the key file (created 0600 when absent)."""
    if config.master_key:
        return _decode_key(config.master_key, "master_key setting")
    path = Path(config.master_key_file) if config.master_key_file else config.data_path / "master.key"
    if path.exists():
        return _decode_key(path.read_text(), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode() + "\n")
    return key


class Keyring:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str | bytes, context: str = "") -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, data, context.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str = "") -> bytes:
        if not token.startswith(PREFIX):
            raise KeyringError("not a lambdad ciphertext")
        try:
            raw = base64.b64decode(token[len(PREFIX):], validate=True)
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise KeyringError("a stored secret could not be decrypted: wrong master key?") from None

    def decrypt_text(self, token: str, context: str = "") -> str:
        return self.decrypt(token, context).decode()
