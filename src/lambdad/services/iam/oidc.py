"""IAM OpenID Connect identity providers (domain logic, no HTTP).

A provider is the issuer URL (stored, as IAM shows it, without ``https://``), the audiences (client
ids) tokens may be for, and the thumbprints of the issuer's TLS certificates. Its ARN is
``arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH``, which trust policies name as their
``{"Federated": ...}`` principal (IAM User Guide, "Create an OpenID Connect (OIDC) identity provider
in IAM"). Providers are IAM entities of kind ``oidc`` in IAM's table, keyed by URL.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

from lambdad.services.iam.identities import Iam, already_exists, check_tags, limit_exceeded, no_such_entity, validation

KIND = "oidc"
MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5
_THUMBPRINT_RE = re.compile(r"[0-9A-Fa-f]{40}")


def _url_key(url: str) -> str:
    """IAM's form of an issuer URL: no scheme, no trailing slash, host in lower case."""
    parts = urlsplit(url)
    return (parts.netloc.lower() + parts.path).rstrip("/")


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith("https://"):
        raise validation("Invalid OpenID Connect provider URL: the URL must begin with https://")
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment:
        raise validation("Invalid OpenID Connect provider URL: it may not have a query or a fragment")
    return _url_key(url)


def _check_thumbprints(values: Any) -> list[str]:
    values = list(values or [])
    if len(values) > MAX_THUMBPRINTS:
        raise limit_exceeded(f"Cannot exceed quota for ThumbprintsPerOpenIDConnectProvider: {MAX_THUMBPRINTS}")
    for value in values:
        if not isinstance(value, str) or not _THUMBPRINT_RE.fullmatch(value):
            raise validation(f"Thumbprint {value} is not a 40-character hexadecimal SHA-1 fingerprint.")
    return [v.lower() for v in values]


class OidcProviders:
    def __init__(self, iam: Iam) -> None:
        self.iam = iam

    def arn(self, account: str, url_key: str) -> str:
        return f"arn:aws:iam::{account}:oidc-provider/{url_key}"

    def create(self, account: str, url: Any, client_ids: Any, thumbprints: Any, tags: Any) -> dict[str, Any]:
        key = _check_url(url)
        if key in self.iam._table(account, KIND):
            raise already_exists(f"Provider with url {url} already exists.")
        ids = list(dict.fromkeys(client_ids or []))
        if len(ids) > MAX_CLIENT_IDS:
            raise limit_exceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
        rec = {"Url": key, "Arn": self.arn(account, key), "ClientIDList": ids,
               "ThumbprintList": _check_thumbprints(thumbprints), "CreateDate": time.time(),
               "Tags": check_tags(tags)}
        self.iam._put(account, KIND, key, rec)
        return rec

    def get(self, account: str, arn: Any) -> dict[str, Any]:
        prefix = f"arn:aws:iam::{account}:oidc-provider/"
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise validation("Invalid ARN:  Could not be parsed!")
        rec = self.iam._table(account, KIND).get(arn[len(prefix):]) if arn.startswith(prefix) else None
        if rec is None:
            raise no_such_entity(f"OpenIDConnect Provider not found for arn {arn}")
        return rec

    def for_issuer(self, account: str, issuer: str) -> dict[str, Any] | None:
        """The account's provider for a token's `iss` (None if it has none)."""
        if not issuer.startswith("https://"):
            return None
        return self.iam._table(account, KIND).get(_url_key(issuer))

    def providers(self, account: str) -> list[dict[str, Any]]:
        return sorted(self.iam._table(account, KIND).values(), key=lambda r: r["Url"])

    def delete(self, account: str, arn: Any) -> None:
        rec = self.get(account, arn)
        self.iam._delete(account, KIND, rec["Url"])

    def _save(self, account: str, rec: dict[str, Any]) -> None:
        self.iam._put(account, KIND, rec["Url"], rec)

    def add_client_id(self, account: str, arn: Any, client_id: str) -> None:
        rec = self.get(account, arn)
        if client_id not in rec["ClientIDList"]:
            if len(rec["ClientIDList"]) >= MAX_CLIENT_IDS:
                raise limit_exceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
            rec["ClientIDList"].append(client_id)
            self._save(account, rec)

    def remove_client_id(self, account: str, arn: Any, client_id: str) -> None:
        rec = self.get(account, arn)
        if client_id in rec["ClientIDList"]:
            rec["ClientIDList"].remove(client_id)
            self._save(account, rec)

    def update_thumbprints(self, account: str, arn: Any, thumbprints: Any) -> None:
        rec = self.get(account, arn)
        rec["ThumbprintList"] = _check_thumbprints(thumbprints)
        self._save(account, rec)

    def tag(self, account: str, arn: Any, tags: Any) -> None:
        rec = self.get(account, arn)
        rec["Tags"] = self.iam.merged_tags(rec.get("Tags", []), tags)
        self._save(account, rec)

    def untag(self, account: str, arn: Any, keys: list[str]) -> None:
        rec = self.get(account, arn)
        drop = {k.lower() for k in keys}
        rec["Tags"] = [t for t in rec.get("Tags", []) if t["Key"].lower() not in drop]
        self._save(account, rec)
