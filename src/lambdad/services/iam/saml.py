"""IAM SAML 2.0 identity providers (domain logic, no HTTP): the provider's name and its IdP metadata
document, which trust policies name as ``{"Federated": "arn:aws:iam::ACCOUNT:saml-provider/NAME"}``.

The metadata is checked to be an ``EntityDescriptor`` XML document; one with a DTD is refused before
parsing (SAML metadata never needs one, and entity declarations are how XML bombs are made).
``sts:AssumeRoleWithSAML`` itself is not served: verifying XML signatures needs exclusive XML
canonicalization, which no dependency lambdad has provides.
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from lambdad.services.iam.identities import Iam, already_exists, check_tags, invalid_input, no_such_entity

KIND = "saml"
MAX_METADATA = 10_000_000


def _check_metadata(document: Any) -> dict[str, Any]:
    if not isinstance(document, str) or len(document) > MAX_METADATA or "<!DOCTYPE" in document.upper() \
            or "<!ENTITY" in document.upper():
        raise invalid_input("Could not parse metadata")
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        raise invalid_input("Could not parse metadata") from None
    if not root.tag.endswith("EntityDescriptor") and not root.tag.endswith("EntitiesDescriptor"):
        raise invalid_input("Could not parse metadata")
    out: dict[str, Any] = {}
    valid_until = root.get("validUntil")
    if valid_until:
        try:
            out["ValidUntil"] = datetime.fromisoformat(valid_until.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise invalid_input("Could not parse metadata") from None
    return out


class SamlProviders:
    def __init__(self, iam: Iam) -> None:
        self.iam = iam

    def create(self, account: str, name: str, metadata: Any, tags: Any) -> dict[str, Any]:
        if name.lower() in self.iam._table(account, KIND):
            raise already_exists(f"SAMLProvider {name} already exists")
        rec = {"Name": name, "Arn": f"arn:aws:iam::{account}:saml-provider/{name}", "SAMLMetadataDocument": metadata,
               "SAMLProviderUUID": str(uuid.uuid4()), "CreateDate": time.time(), "Tags": check_tags(tags),
               **_check_metadata(metadata)}
        self.iam._put(account, KIND, name.lower(), rec)
        return rec

    def get(self, account: str, arn: Any) -> dict[str, Any]:
        prefix = f"arn:aws:iam::{account}:saml-provider/"
        rec = self.iam._table(account, KIND).get(arn[len(prefix):].lower()) \
            if isinstance(arn, str) and arn.startswith(prefix) else None
        if rec is None:
            raise no_such_entity(f"Manifest not found for arn {arn}")
        return rec

    def providers(self, account: str) -> list[dict[str, Any]]:
        return sorted(self.iam._table(account, KIND).values(), key=lambda r: r["Name"].lower())

    def update(self, account: str, arn: Any, metadata: Any) -> dict[str, Any]:
        rec = self.get(account, arn)
        if metadata is not None:
            rec.pop("ValidUntil", None)
            rec.update(SAMLMetadataDocument=metadata, **_check_metadata(metadata))
            self.iam._put(account, KIND, rec["Name"].lower(), rec)
        return rec

    def delete(self, account: str, arn: Any) -> None:
        rec = self.get(account, arn)
        self.iam._delete(account, KIND, rec["Name"].lower())

    def tag(self, account: str, arn: Any, tags: Any) -> None:
        rec = self.get(account, arn)
        rec["Tags"] = self.iam.merged_tags(rec.get("Tags", []), tags)
        self.iam._put(account, KIND, rec["Name"].lower(), rec)

    def untag(self, account: str, arn: Any, keys: list[str]) -> None:
        rec = self.get(account, arn)
        drop = {k.lower() for k in keys}
        rec["Tags"] = [t for t in rec.get("Tags", []) if t["Key"].lower() not in drop]
        self.iam._put(account, KIND, rec["Name"].lower(), rec)
