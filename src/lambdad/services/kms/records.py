"""The records KMS keeps: keys, aliases, grants. Plain data in KMS's field names; no storage, no policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lambdad.services.kms import material

CUSTOMER, AWS_MANAGED = "CUSTOMER", "AWS"
ENABLED, DISABLED, PENDING_DELETION = "Enabled", "Disabled", "PendingDeletion"


def default_key_policy(account: str) -> str:
    """The default key policy KMS gives a key created through the API: the account may manage and use
    it, so IAM policies in the account decide who does."""
    return json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}]}, indent=2)


def aws_managed_policy(account: str, region: str, service: str) -> str:
    """The policy of an AWS managed key (aws/lambda): use only through that service by principals of the
    account, and reading its metadata directly."""
    return json.dumps({"Version": "2012-10-17", "Id": f"auto-aws{service}", "Statement": [
        {"Sid": f"Allow access through AWS {service.title()} for all principals in the account that are "
                f"authorized to use AWS {service.title()}",
         "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
                    "kms:DescribeKey"],
         "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": account,
                                        "kms:ViaService": f"{service}.{region}.amazonaws.com"}}},
        {"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"], "Resource": "*"}]}, indent=2)


@dataclass
class Key:
    key_id: str
    account: str
    region: str
    spec: str
    usage: str
    created: float
    policy: str
    description: str = ""
    state: str = ENABLED
    manager: str = CUSTOMER
    tags: dict[str, str] = field(default_factory=dict)
    rotation_enabled: bool = False
    rotation_period_days: int = 365
    next_rotation: float | None = None
    deletion_date: float | None = None
    # Each rotation: {"RotationDate": epoch seconds, "RotationType": "AUTOMATIC" | "ON_DEMAND"}
    rotations: list[dict[str, Any]] = field(default_factory=list)
    # Plain key material, newest last; sealed under the master key when stored.
    materials: list[bytes] = field(default_factory=list, repr=False)

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:key/{self.key_id}"

    @property
    def symmetric(self) -> bool:
        return self.spec == material.SYMMETRIC

    def encryption_algorithms(self) -> list[str]:
        if self.symmetric:
            return [material.SYMMETRIC]
        if self.usage == "ENCRYPT_DECRYPT":
            return list(material.RSA_ENCRYPTION)
        return []

    def signing_algorithms(self) -> list[str]:
        if self.usage != "SIGN_VERIFY":
            return []
        return list(material.RSA_SIGNING) if self.spec in material.RSA_SPECS else material.ECC_SIGNING[self.spec]

    def mac_algorithms(self) -> list[str]:
        return [material.HMAC_SPECS[self.spec][1]] if self.spec in material.HMAC_SPECS else []

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AWSAccountId": self.account, "KeyId": self.key_id, "Arn": self.arn, "CreationDate": self.created,
            "Enabled": self.state == ENABLED, "Description": self.description, "KeyUsage": self.usage,
            "KeyState": self.state, "Origin": "AWS_KMS", "KeyManager": self.manager,
            "CustomerMasterKeySpec": self.spec, "KeySpec": self.spec, "MultiRegion": False,
        }
        if self.encryption_algorithms():
            out["EncryptionAlgorithms"] = self.encryption_algorithms()
        if self.signing_algorithms():
            out["SigningAlgorithms"] = self.signing_algorithms()
        if self.mac_algorithms():
            out["MacAlgorithms"] = self.mac_algorithms()
        if self.deletion_date is not None:
            out["DeletionDate"] = self.deletion_date
        return out


@dataclass
class Alias:
    account: str
    region: str
    name: str  # alias/...
    key_id: str
    created: float
    updated: float

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:{self.name}"

    def listing(self) -> dict[str, Any]:
        return {"AliasName": self.name, "AliasArn": self.arn, "TargetKeyId": self.key_id,
                "CreationDate": self.created, "LastUpdatedDate": self.updated}


@dataclass
class Grant:
    grant_id: str
    key_id: str
    key_arn: str
    issuing_account: str
    grantee: str
    operations: list[str]
    created: float
    token: str
    name: str = ""
    retiring: str = ""
    constraints: dict[str, dict[str, str]] = field(default_factory=dict)

    def listing(self) -> dict[str, Any]:
        out: dict[str, Any] = {"KeyId": self.key_arn, "GrantId": self.grant_id, "Name": self.name,
                               "CreationDate": self.created, "GranteePrincipal": self.grantee,
                               "IssuingAccount": f"arn:aws:iam::{self.issuing_account}:root",
                               "Operations": list(self.operations)}
        if self.retiring:
            out["RetiringPrincipal"] = self.retiring
        if self.constraints:
            out["Constraints"] = self.constraints
        return out

    def admits(self, context: dict[str, str]) -> bool:
        """Whether the grant's encryption-context constraints hold for a request's context."""
        equals = self.constraints.get("EncryptionContextEquals")
        if equals is not None and dict(equals) != context:
            return False
        subset = self.constraints.get("EncryptionContextSubset")
        return subset is None or all(context.get(k) == v for k, v in subset.items())

    def to_stored(self) -> str:
        return json.dumps({"grant_id": self.grant_id, "key_id": self.key_id, "key_arn": self.key_arn,
                           "issuing_account": self.issuing_account, "grantee": self.grantee,
                           "operations": self.operations, "created": self.created, "token": self.token,
                           "name": self.name, "retiring": self.retiring, "constraints": self.constraints})

    @classmethod
    def from_stored(cls, text: str) -> Grant:
        return cls(**json.loads(text))
