"""The KMS domain: keys, their material and lifecycle, aliases, grants, and the cryptographic operations.

State is per account and region, kept in memory and written through the store before an operation
answers. Key material is stored sealed under lambdad's master key (auth/keyring.py), bound to the
key's id, so the database alone reveals no key. Time (a deletion's due date, the next rotation)
comes from the injected clock; a key pending deletion is deleted when first touched after its date,
and automatic rotation happens when the key is next used after its due date, which is what a client
can observe of either.

Authorization is not here (authz.py asks `access.decide`); what is here is KMS's own state rules:
a disabled key (DisabledException), one pending deletion (KMSInvalidStateException), a missing one
(NotFoundException), ciphertext that does not open (InvalidCiphertextException).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from lambdad.auth import policy as iam_policy
from lambdad.auth.keyring import Keyring, KeyringError
from lambdad.clock import SYSTEM, Clock
from lambdad.errors import KmsError
from lambdad.services.kms import material
from lambdad.services.kms.records import (
    AWS_MANAGED,
    DISABLED,
    ENABLED,
    PENDING_DELETION,
    Alias,
    Grant,
    Key,
    aws_managed_policy,
    default_key_policy,
)
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS kms_keys (
    key_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kms_aliases (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE TABLE IF NOT EXISTS kms_grants (
    grant_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    record TEXT NOT NULL
);
"""

MAX_PLAINTEXT = 4096
DAY = 86400.0
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ALIAS_RE = re.compile(r"alias/[a-zA-Z0-9/_-]+")
GRANT_OPERATIONS = frozenset({
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
    "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
})
# The service an AWS managed key is for, by alias.
AWS_MANAGED_ALIASES = {"alias/aws/lambda": "lambda"}
_USAGES = {"ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"}


def error(code: str, message: str = "") -> KmsError:
    return KmsError(message, code=code)


class KmsService:
    def __init__(self, store: Store, keyring: Keyring, clock: Clock = SYSTEM) -> None:
        self.store = store
        self.keyring = keyring
        self.clock = clock
        store.ensure_schema(SCHEMA)
        self.keys: dict[str, Key] = {}
        self.aliases: dict[tuple[str, str, str], Alias] = {}
        self.grants: dict[str, Grant] = {}
        #: Moves on every change of a key, its policy or its grants (what a cached decision depends on).
        self.generation = 0
        self._load()

    # -- persistence ----------------------------------------------------------------------------
    def _load(self) -> None:
        for row in self.store.all("SELECT key_id, record FROM kms_keys"):
            raw = json.loads(row["record"])
            sealed = raw.pop("materials")
            key = Key(**raw)
            try:
                key.materials = [self.keyring.decrypt(m, f"kms:{key.key_id}") for m in sealed]
            except KeyringError as exc:
                raise KeyringError(f"KMS key {key.key_id}: its material does not open: wrong master key?") from exc
            self.keys[key.key_id] = key
        for row in self.store.all("SELECT account, region, name, key_id, created, updated FROM kms_aliases"):
            alias = Alias(row["account"], row["region"], row["name"], row["key_id"], row["created"], row["updated"])
            self.aliases[(alias.account, alias.region, alias.name)] = alias
        for row in self.store.all("SELECT record FROM kms_grants"):
            grant = Grant.from_stored(row["record"])
            self.grants[grant.grant_id] = grant

    def _save_key(self, key: Key) -> None:
        self.generation += 1
        raw = {name: getattr(key, name) for name in (
            "key_id", "account", "region", "spec", "usage", "created", "policy", "description", "state", "manager",
            "tags", "rotation_enabled", "rotation_period_days", "next_rotation", "deletion_date", "rotations")}
        raw["materials"] = [self.keyring.encrypt(m, f"kms:{key.key_id}") for m in key.materials]
        self.store.execute(
            "INSERT INTO kms_keys (key_id, account, region, record) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key_id) DO UPDATE SET record = excluded.record",
            (key.key_id, key.account, key.region, json.dumps(raw)))

    def _save_alias(self, alias: Alias) -> None:
        self.store.execute(
            "INSERT INTO kms_aliases (account, region, name, key_id, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (account, region, name) DO UPDATE SET key_id = excluded.key_id, updated = excluded.updated",
            (alias.account, alias.region, alias.name, alias.key_id, alias.created, alias.updated))

    def _drop_key(self, key: Key) -> None:
        """The end of a deletion's waiting period: the material is gone, and so are its aliases and grants."""
        self.generation += 1
        with self.store.transaction():
            self.store.execute("DELETE FROM kms_keys WHERE key_id = ?", (key.key_id,))
            self.store.execute("DELETE FROM kms_aliases WHERE key_id = ?", (key.key_id,))
            self.store.execute("DELETE FROM kms_grants WHERE key_id = ?", (key.key_id,))
        self.keys.pop(key.key_id, None)
        for name, alias in list(self.aliases.items()):
            if alias.key_id == key.key_id:
                del self.aliases[name]
        for grant_id, grant in list(self.grants.items()):
            if grant.key_id == key.key_id:
                del self.grants[grant_id]

    # -- finding keys -----------------------------------------------------------------------------
    def _live(self, key_id: str) -> Key | None:
        key = self.keys.get(key_id)
        if key is not None and key.state == PENDING_DELETION and key.deletion_date is not None \
                and self.clock.time() >= key.deletion_date:
            self._drop_key(key)
            return None
        return key

    def find_by_id(self, key_id: str) -> Key | None:
        """A key by its id whatever its account and state (Lambda opening what it sealed)."""
        return self._live(key_id)

    @staticmethod
    def key_arn(account: str, region: str, key_id: str) -> str:
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"

    def find(self, account: str, region: str, ref: str) -> Key | None:
        """The key a KeyId parameter names (key id, key ARN, alias name, alias ARN), or None."""
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms":
                return None
            region, account, resource = parts[3], parts[4], parts[5]
            if resource.startswith("key/"):
                key = self._live(resource[4:])
                return key if key is not None and key.account == account and key.region == region else None
            ref = resource
        if ref.startswith("alias/"):
            if ref in AWS_MANAGED_ALIASES and (account, region, ref) not in self.aliases:
                return None
            alias = self.aliases.get((account, region, ref))
            return self._live(alias.key_id) if alias is not None else None
        key = self._live(ref)
        return key if key is not None and key.account == account and key.region == region else None

    def resolve(self, account: str, region: str, ref: str) -> Key:
        """`find`, or NotFoundException as KMS words it. AWS managed aliases create their key on first use."""
        if ref in AWS_MANAGED_ALIASES or ref.endswith(":" + next(iter(AWS_MANAGED_ALIASES))):
            name = ref.rpartition(":")[2] if ref.startswith("arn:") else ref
            if not ref.startswith("arn:") or ref.split(":")[4] == account:
                self.aws_managed_key(account, region, name)
        key = self.find(account, region, ref)
        if key is not None:
            return key
        if ref.startswith("arn:") and ":alias/" in ref:
            raise error("NotFoundException", f"Alias {ref} is not found.")
        if ref.startswith("alias/"):
            raise error("NotFoundException", f"Alias arn:aws:kms:{region}:{account}:{ref} is not found.")
        if ref.startswith("arn:"):
            raise error("NotFoundException", f"Key '{ref}' does not exist")
        if not _KEY_ID_RE.fullmatch(ref):
            raise error("NotFoundException", f"Invalid keyId '{ref}'")
        raise error("NotFoundException", f"Key '{self.key_arn(account, region, ref)}' does not exist")

    def aws_managed_key(self, account: str, region: str, alias_name: str) -> Key:
        """The AWS managed key behind `alias/aws/<service>`, created the first time it is asked for."""
        alias = self.aliases.get((account, region, alias_name))
        if alias is not None and alias.key_id in self.keys:
            return self.keys[alias.key_id]
        service = AWS_MANAGED_ALIASES[alias_name]
        key = self._new_key(account, region, material.SYMMETRIC, "ENCRYPT_DECRYPT",
                            aws_managed_policy(account, region, service),
                            f"Default key that protects my {service.title()} functions when no other key is "
                            "defined", {}, manager=AWS_MANAGED)
        now = self.clock.time()
        alias = Alias(account, region, alias_name, key.key_id, now, now)
        self._save_alias(alias)
        self.aliases[(account, region, alias_name)] = alias
        return key

    @staticmethod
    def usable(key: Key) -> None:
        """KMS's state rules for using a key in a cryptographic operation."""
        if key.state == DISABLED:
            raise error("DisabledException", f"{key.arn} is disabled.")
        if key.state == PENDING_DELETION:
            raise error("KMSInvalidStateException", f"{key.arn} is pending deletion.")

    # -- keys -----------------------------------------------------------------------------------
    def _new_key(self, account: str, region: str, spec: str, usage: str, policy: str, description: str,
                 tags: dict[str, str], manager: str = "CUSTOMER") -> Key:
        key = Key(str(uuid.uuid4()), account, region, spec, usage, self.clock.time(), policy, description,
                  manager=manager, tags=tags, materials=[material.generate(spec)])
        if manager == AWS_MANAGED:  # AWS rotates its managed keys every year
            key.rotation_enabled = True
            key.next_rotation = key.created + 365 * DAY
        self._save_key(key)
        self.keys[key.key_id] = key
        return key

    def create_key(self, account: str, region: str, p: Mapping[str, Any]) -> Key:
        spec = str(p.get("KeySpec") or p.get("CustomerMasterKeySpec") or material.SYMMETRIC)
        if p.get("KeySpec") and p.get("CustomerMasterKeySpec"):
            raise error("ValidationException", "You cannot specify KeySpec and CustomerMasterKeySpec in the same "
                                               "request. CustomerMasterKeySpec is deprecated.")
        usage = str(p.get("KeyUsage") or ("SIGN_VERIFY" if spec.startswith("ECC_") else "ENCRYPT_DECRYPT"))
        supported = (material.SYMMETRIC, *material.RSA_SPECS, *material.ECC_SPECS, *material.HMAC_SPECS)
        if spec not in supported:
            raise error("UnsupportedOperationException",
                        f"KeySpec {spec} is not supported by lambdad's KMS (it supports {', '.join(supported)}).")
        if usage not in _USAGES:
            raise error("UnsupportedOperationException", f"KeyUsage {usage} is not supported by lambdad's KMS.")
        if (spec == material.SYMMETRIC and usage != "ENCRYPT_DECRYPT") or \
                (spec in material.ECC_SPECS and usage != "SIGN_VERIFY") or \
                ((spec in material.HMAC_SPECS) != (usage == "GENERATE_VERIFY_MAC")):
            raise error("ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        if p.get("Origin", "AWS_KMS") != "AWS_KMS":
            raise error("UnsupportedOperationException",
                        f"Origin {p['Origin']} is not supported by lambdad's KMS: only AWS_KMS key material.")
        if p.get("MultiRegion"):
            raise error("UnsupportedOperationException", "Multi-Region keys are not supported by lambdad's KMS.")
        if p.get("CustomKeyStoreId") or p.get("XksKeyId"):
            raise error("UnsupportedOperationException", "Custom key stores are not supported by lambdad's KMS.")
        text = p.get("Policy")
        policy = self.check_policy(str(text)) if text else default_key_policy(account)
        tags = self._tag_map(p.get("Tags") or [])
        return self._new_key(account, region, spec, usage, policy, str(p.get("Description") or ""), tags)

    @staticmethod
    def check_policy(text: str) -> str:
        try:
            iam_policy.validate_policy_document(text, "resource")
        except iam_policy.PolicyError as exc:
            raise error("MalformedPolicyDocumentException", exc.message) from None
        return text

    def list_keys(self, account: str, region: str) -> list[Key]:
        return [k for k in list(self.keys.values())
                if k.account == account and k.region == region and self._live(k.key_id) is not None]

    def set_enabled(self, key: Key, enabled: bool) -> None:
        self._customer_managed(key)
        if key.state == PENDING_DELETION:
            raise error("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        key.state = ENABLED if enabled else DISABLED
        self._save_key(key)

    @staticmethod
    def _customer_managed(key: Key) -> None:
        if key.manager == AWS_MANAGED:
            raise error("UnsupportedOperationException", f"{key.arn} is an AWS managed key; it cannot be changed.")

    def update_description(self, key: Key, description: str) -> None:
        self._customer_managed(key)
        key.description = description
        self._save_key(key)

    def schedule_deletion(self, key: Key, days: int | None) -> Key:
        self._customer_managed(key)
        window = 30 if days is None else days
        if not 7 <= window <= 30:
            raise error("ValidationException", f"PendingWindowInDays value {window} is not valid: it must be "
                                               "between 7 and 30 days.")
        if key.state != PENDING_DELETION:
            key.state = PENDING_DELETION
            key.deletion_date = self.clock.time() + window * DAY
            self._save_key(key)
        return key

    def cancel_deletion(self, key: Key) -> None:
        if key.state != PENDING_DELETION:
            raise error("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
        key.state, key.deletion_date = DISABLED, None  # as KMS: a cancelled deletion leaves the key disabled
        self._save_key(key)

    def put_policy(self, key: Key, text: str) -> None:
        self._customer_managed(key)
        key.policy = self.check_policy(text)
        self._save_key(key)

    # -- rotation -------------------------------------------------------------------------------
    def set_rotation(self, key: Key, enabled: bool, period_days: int | None = None) -> None:
        self._customer_managed(key)
        if not key.symmetric:
            raise error("UnsupportedOperationException", f"{key.arn} key usage is not supported for rotation: "
                                                         "only symmetric encryption keys rotate.")
        if key.state == DISABLED:
            raise error("DisabledException", f"{key.arn} is disabled.")
        if key.state == PENDING_DELETION:
            raise error("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        if period_days is not None and not 90 <= period_days <= 2560:
            raise error("ValidationException", "RotationPeriodInDays must be between 90 and 2560.")
        key.rotation_enabled = enabled
        if enabled:
            key.rotation_period_days = period_days or key.rotation_period_days or 365
            key.next_rotation = self.clock.time() + key.rotation_period_days * DAY
        else:
            key.next_rotation = None
        self._save_key(key)

    def rotate_now(self, key: Key) -> None:
        self._customer_managed(key)
        self.usable(key)
        if not key.symmetric:
            raise error("UnsupportedOperationException", f"{key.arn} key usage is not supported for rotation.")
        key.materials.append(material.generate(key.spec))
        key.rotations.append({"RotationDate": self.clock.time(), "RotationType": "ON_DEMAND"})
        self._save_key(key)

    def _rotate_if_due(self, key: Key) -> None:
        if key.rotation_enabled and key.next_rotation is not None and self.clock.time() >= key.next_rotation:
            key.materials.append(material.generate(key.spec))
            key.rotations.append({"RotationDate": key.next_rotation, "RotationType": "AUTOMATIC"})
            key.next_rotation = self.clock.time() + key.rotation_period_days * DAY
            self._save_key(key)

    # -- symmetric cryptography -------------------------------------------------------------------
    def _check_algorithm(self, key: Key, algorithm: str | None) -> str:
        chosen = algorithm or material.SYMMETRIC
        if chosen not in key.encryption_algorithms():
            if key.usage != "ENCRYPT_DECRYPT":
                raise error("InvalidKeyUsageException", f"{key.arn} key usage is {key.usage} which is not valid "
                                                        "for this operation.")
            raise error("InvalidKeyUsageException", f"Algorithm {chosen} is incompatible with key spec {key.spec}.")
        return chosen

    def encrypt(self, key: Key, plaintext: bytes, context: Mapping[str, str] | None,
                algorithm: str | None = None) -> tuple[bytes, str]:
        self.usable(key)
        chosen = self._check_algorithm(key, algorithm)
        if not plaintext:
            raise error("ValidationException", "1 validation error detected: Value at 'plaintext' failed to "
                                               "satisfy constraint: Member must have length greater than or "
                                               "equal to 1")
        if chosen == material.SYMMETRIC:
            if len(plaintext) > MAX_PLAINTEXT:
                raise error("ValidationException", "1 validation error detected: Value at 'plaintext' failed to "
                                                   "satisfy constraint: Member must have length less than or "
                                                   f"equal to {MAX_PLAINTEXT}")
            if context and not key.symmetric:
                raise error("InvalidKeyUsageException", "Encryption context is not supported with asymmetric keys.")
            self._rotate_if_due(key)
            version = len(key.materials) - 1
            return material.seal(key.materials[version], key.key_id, version, plaintext, context), chosen
        if context:
            raise error("ValidationException", "EncryptionContext is not supported with asymmetric KMS keys.")
        limit = material.RSA_PLAINTEXT_LIMITS[(key.spec, chosen)]
        if len(plaintext) > limit:
            raise error("ValidationException", f"Plaintext is {len(plaintext)} bytes; {key.spec} with {chosen} "
                                               f"encrypts at most {limit} bytes.")
        return material.rsa_encrypt(key.materials[-1], chosen, plaintext), chosen

    def key_of_ciphertext(self, account: str, region: str, blob: bytes, key_ref: str | None) -> Key:
        """The key Decrypt/ReEncrypt uses: named by KeyId, or read from a symmetric blob's header."""
        if key_ref:
            key = self.resolve(account, region, key_ref)
            if key.symmetric:
                header = self._header(blob)
                if header.key_id != key.key_id:
                    raise error("IncorrectKeyException", "The key ID in the request does not identify a CMK that "
                                                         "can perform this operation.")
            return key
        header = self._header(blob)
        found = self._live(header.key_id)
        if found is None or found.region != region:
            # KMS cannot tell a blob of a deleted key from garbage: it is not a ciphertext it can use.
            raise error("InvalidCiphertextException")
        return found

    @staticmethod
    def _header(blob: bytes) -> material.BlobHeader:
        try:
            return material.peek(blob)
        except material.BadCiphertext:
            raise error("InvalidCiphertextException") from None

    def decrypt(self, key: Key, blob: bytes, context: Mapping[str, str] | None,
                algorithm: str | None = None) -> tuple[bytes, str]:
        self.usable(key)
        chosen = self._check_algorithm(key, algorithm)
        try:
            if chosen == material.SYMMETRIC:
                header = material.peek(blob)
                if header.key_id != key.key_id or header.material_version >= len(key.materials):
                    raise error("InvalidCiphertextException")
                return material.open_blob(key.materials[header.material_version], blob, context), chosen
            return material.rsa_decrypt(key.materials[-1], chosen, blob), chosen
        except material.BadCiphertext:
            raise error("InvalidCiphertextException") from None

    def data_key(self, key: Key, spec: str | None, length: int | None,
                 context: Mapping[str, str] | None) -> tuple[bytes, bytes]:
        if not key.symmetric:
            raise error("InvalidKeyUsageException", f"{key.arn} key usage is not valid for GenerateDataKey: it "
                                                    "needs a symmetric encryption key.")
        if (spec is None) == (length is None):
            raise error("ValidationException", "Please specify either number of bytes or key spec.")
        size = length if length is not None else {"AES_256": 32, "AES_128": 16}[str(spec)]
        plaintext = os.urandom(size)
        return plaintext, self.encrypt(key, plaintext, context)[0]

    # -- signatures -----------------------------------------------------------------------------
    def _signing(self, key: Key, algorithm: str, message: bytes, message_type: str | None) -> bool:
        self.usable(key)
        if key.usage != "SIGN_VERIFY":
            raise error("InvalidKeyUsageException", f"{key.arn} key usage is {key.usage} which is not valid for "
                                                    "signing.")
        if algorithm not in key.signing_algorithms():
            raise error("InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with key spec "
                                                    f"{key.spec}.")
        prehashed = message_type == "DIGEST"
        if prehashed and len(message) != material.digest_length(algorithm):
            raise error("ValidationException", f"Digest is invalid length for algorithm {algorithm}.")
        return prehashed

    def sign(self, key: Key, algorithm: str, message: bytes, message_type: str | None) -> bytes:
        prehashed = self._signing(key, algorithm, message, message_type)
        return material.sign(key.materials[-1], algorithm, message, prehashed)

    def verify(self, key: Key, algorithm: str, message: bytes, message_type: str | None, signature: bytes) -> None:
        prehashed = self._signing(key, algorithm, message, message_type)
        if not material.verify(key.materials[-1], algorithm, message, prehashed, signature):
            raise error("KMSInvalidSignatureException")

    def _mac_key(self, key: Key, algorithm: str) -> None:
        self.usable(key)
        if key.usage != "GENERATE_VERIFY_MAC":
            raise error("InvalidKeyUsageException", f"{key.arn} key usage is {key.usage} which is not valid for "
                                                    "MAC operations.")
        if algorithm not in key.mac_algorithms():
            raise error("InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with key spec "
                                                    f"{key.spec}.")

    def generate_mac(self, key: Key, algorithm: str, message: bytes) -> bytes:
        self._mac_key(key, algorithm)
        return material.mac(key.materials[-1], algorithm, message)

    def verify_mac(self, key: Key, algorithm: str, message: bytes, given: bytes) -> None:
        self._mac_key(key, algorithm)
        if not hmac.compare_digest(material.mac(key.materials[-1], algorithm, message), given):
            raise error("KMSInvalidMacException")

    def data_key_pair(self, key: Key, pair_spec: str, context: Mapping[str, str] | None) -> tuple[bytes, bytes, bytes]:
        """(private key DER, the private key sealed under `key`, public key DER) for GenerateDataKeyPair."""
        if pair_spec not in (*material.RSA_SPECS, *material.ECC_SPECS):
            raise error("UnsupportedOperationException", f"KeyPairSpec {pair_spec} is not supported by lambdad's KMS.")
        private = material.generate(pair_spec)
        if len(private) > MAX_PLAINTEXT:  # an RSA 4096 PKCS#8 key is about 2.4 KB: it fits
            raise error("ValidationException", "The generated private key is too large to encrypt.")
        sealed, _ = self.encrypt(key, private, context)
        return private, sealed, material.public_key_der(private)

    def public_key(self, key: Key) -> bytes:
        if key.symmetric:
            raise error("UnsupportedOperationException", f"{key.arn} key usage is not supported for "
                                                         "GetPublicKey: it is a symmetric key.")
        self.usable(key)
        return material.public_key_der(key.materials[-1])

    # -- aliases --------------------------------------------------------------------------------
    def create_alias(self, account: str, region: str, name: str, key: Key) -> None:
        self._alias_name(name)
        if (account, region, name) in self.aliases:
            raise error("AlreadyExistsException",
                        f"An alias with the name arn:aws:kms:{region}:{account}:{name} already exists")
        self._customer_managed(key)
        now = self.clock.time()
        alias = Alias(account, region, name, key.key_id, now, now)
        self._save_alias(alias)
        self.aliases[(account, region, name)] = alias

    @staticmethod
    def _alias_name(name: str) -> None:
        if name.startswith("alias/aws/"):
            raise error("NotAuthorizedException", "Cannot create, update or delete an alias with the reserved "
                                                  "prefix alias/aws/.")
        if not _ALIAS_RE.fullmatch(name):
            raise error("ValidationException", f"1 validation error detected: Value '{name}' at 'aliasName' failed "
                                               "to satisfy constraint: Member must satisfy regular expression "
                                               "pattern: ^[a-zA-Z0-9:/_-]+$ and begin with alias/")

    def alias(self, account: str, region: str, name: str) -> Alias:
        found = self.aliases.get((account, region, name))
        if found is None:
            raise error("NotFoundException", f"Alias arn:aws:kms:{region}:{account}:{name} is not found.")
        return found

    def update_alias(self, account: str, region: str, name: str, key: Key) -> None:
        self._alias_name(name)
        alias = self.alias(account, region, name)
        self._customer_managed(key)
        current = self.keys.get(alias.key_id)
        if current is not None and (current.spec, current.usage) != (key.spec, key.usage):
            raise error("ValidationException", "The alias's new key must have the same key spec and key usage as "
                                               "its current key.")
        alias.key_id, alias.updated = key.key_id, self.clock.time()
        self._save_alias(alias)

    def delete_alias(self, account: str, region: str, name: str) -> None:
        self._alias_name(name)
        self.alias(account, region, name)
        self.store.execute("DELETE FROM kms_aliases WHERE account = ? AND region = ? AND name = ?",
                           (account, region, name))
        del self.aliases[(account, region, name)]

    def list_aliases(self, account: str, region: str, key: Key | None) -> list[Alias]:
        found = [a for a in self.aliases.values() if a.account == account and a.region == region
                 and self._live(a.key_id) is not None]
        if key is not None:
            found = [a for a in found if a.key_id == key.key_id]
        return sorted(found, key=lambda a: a.name)

    # -- grants ---------------------------------------------------------------------------------
    def create_grant(self, caller_account: str, key: Key, p: Mapping[str, Any]) -> Grant:
        operations = list(p.get("Operations") or [])
        bad = [op for op in operations if op not in GRANT_OPERATIONS]
        if bad or not operations:
            raise error("ValidationException", f"1 validation error detected: Value '{operations}' at 'operations' "
                                               "failed to satisfy constraint: Member must satisfy enum value set")
        constraints = dict(p.get("Constraints") or {})
        if constraints and not key.symmetric:
            raise error("ValidationException", "Grant constraints on the encryption context need a symmetric key.")
        name = str(p.get("Name") or "")
        grantee = str(p.get("GranteePrincipal") or "")
        for existing in self.grants.values():  # CreateGrant with the same name and fields is idempotent
            if name and existing.key_id == key.key_id and existing.name == name and existing.grantee == grantee \
                    and existing.operations == operations and existing.constraints == constraints:
                return existing
        grant_id = os.urandom(32).hex()
        token = base64.urlsafe_b64encode(os.urandom(24) + grant_id.encode()).decode().rstrip("=")
        grant = Grant(grant_id, key.key_id, key.arn, caller_account, grantee, operations, self.clock.time(),
                      token, name, str(p.get("RetiringPrincipal") or ""), constraints)
        self.generation += 1
        self.store.execute("INSERT INTO kms_grants (grant_id, key_id, record) VALUES (?, ?, ?)",
                           (grant_id, key.key_id, grant.to_stored()))
        self.grants[grant_id] = grant
        return grant

    def grants_of(self, key: Key) -> list[Grant]:
        return [g for g in self.grants.values() if g.key_id == key.key_id]

    def retirable_grants(self, account: str, region: str, retiring: str) -> list[Grant]:
        """The grants of the account's keys (in this region) that `retiring` may retire."""
        return [g for g in self.grants.values() if g.retiring == retiring and (key := self.keys.get(g.key_id))
                is not None and key.account == account and key.region == region]

    def grant(self, key: Key, grant_id: str) -> Grant:
        found = self.grants.get(grant_id)
        if found is None or found.key_id != key.key_id:
            raise error("NotFoundException", f"Grant ID {grant_id} not found")
        return found

    def grant_by_token(self, token: str) -> Grant:
        for grant in self.grants.values():
            if grant.token == token:
                return grant
        raise error("InvalidGrantTokenException", "Grant token is not valid.")

    def delete_grant(self, grant: Grant) -> None:
        self.generation += 1
        self.store.execute("DELETE FROM kms_grants WHERE grant_id = ?", (grant.grant_id,))
        self.grants.pop(grant.grant_id, None)

    # -- tags -----------------------------------------------------------------------------------
    @staticmethod
    def _tag_map(tags: list[Mapping[str, Any]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for tag in tags:
            name = str(tag.get("TagKey", ""))
            if name.lower().startswith("aws:"):
                raise error("TagException", "Tags beginning with aws: are reserved.")
            out[name] = str(tag.get("TagValue", ""))
        if len(out) > 50:
            raise error("LimitExceededException", "The request would exceed the 50 tags per key limit.")
        return out

    def tag(self, key: Key, tags: list[Mapping[str, Any]]) -> None:
        self._customer_managed(key)
        merged = {**key.tags, **self._tag_map(tags)}
        self._tag_map([{"TagKey": k, "TagValue": v} for k, v in merged.items()])
        key.tags = merged
        self._save_key(key)

    def untag(self, key: Key, names: list[str]) -> None:
        self._customer_managed(key)
        for name in names:
            key.tags.pop(name, None)
        self._save_key(key)
