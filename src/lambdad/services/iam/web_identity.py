"""Web identity tokens (OIDC ID tokens) for sts:AssumeRoleWithWebIdentity: who signed one, and for whom.

As STS does it (IAM User Guide, "Create a role for OpenID Connect federation" and "Obtain the
thumbprint for an OpenID Connect identity provider"):

- the token's ``iss`` must be an OIDC provider registered in the role's account;
- the issuer's signing keys come from its discovery document
  (``ISSUER/.well-known/openid-configuration`` -> ``jwks_uri``), fetched over HTTPS; the issuer's
  certificate must either chain to a trusted CA or match one of the provider's thumbprints (the
  SHA-1 of the certificate, which for a self-signed issuer is the one it presents);
- the signature must verify with the key the header's ``kid`` names, by an asymmetric algorithm
  (``none`` and HMAC are refused: anyone could forge those), and ``exp`` must be in the future;
- one of the token's audiences must be in the provider's client id list.

Keys are cached per issuer for a few minutes (and fetched again once when a token names a key the
cache lacks: issuers rotate). Fetches run in a thread with a short timeout and a size cap; they are
made only for issuers a tenant registered, with the token's ``iss`` matched first.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt

from lambdad.clock import SYSTEM, Clock
from lambdad.errors import IamError, LambdadError

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT = 256 * 1024
CACHE_SECONDS = 300.0


def invalid_token(message: str) -> IamError:
    return IamError(message, code="InvalidIdentityToken", status=400)


def idp_unreachable() -> IamError:
    return IamError("Couldn't retrieve verification key from your identity provider, please reference "
                    "AssumeRoleWithWebIdentity documentation for requirements", code="IDPCommunicationError",
                    status=400)


def unverified_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) before any check: to find the issuer whose keys will check them."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise invalid_token("The ID Token provided is not a valid JWT. (You may see this error if you sent an "
                            "Access Token)") from None
    if not isinstance(claims.get("iss"), str):
        raise invalid_token("The ID Token provided is not a valid JWT. (You may see this error if you sent an "
                            "Access Token)")
    return header, claims


class _ThumbprintMismatch(LambdadError):
    """The issuer's certificate is neither CA-signed nor one the provider's thumbprints name."""


def _get(url: str, thumbprints: frozenset[str]) -> bytes:
    """GET an https URL (no redirects), trusting a CA-signed certificate or a thumbprint-matched one."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise OSError("not an https URL")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=FETCH_TIMEOUT,
                                           context=ssl.create_default_context())
        conn.connect()
    except ssl.SSLCertVerificationError:
        # Not signed by a CA this host trusts: the provider's thumbprints decide.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=FETCH_TIMEOUT,
                                           context=context)
        conn.connect()
        assert conn.sock is not None
        der = conn.sock.getpeercert(binary_form=True) or b""
        if hashlib.sha1(der).hexdigest() not in thumbprints:  # IAM thumbprints are SHA-1
            conn.close()
            raise _ThumbprintMismatch from None
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
        body = response.read(MAX_DOCUMENT + 1)
        if len(body) > MAX_DOCUMENT:
            raise OSError("document too large")
        return body
    finally:
        conn.close()


def fetch_jwks(issuer: str, thumbprints: frozenset[str]) -> dict[str, Any]:
    """The issuer's JSON Web Key Set, by its discovery document (blocking: run it in a thread)."""
    discovery = json.loads(_get(issuer.rstrip("/") + "/.well-known/openid-configuration", thumbprints))
    jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
    if not isinstance(jwks_uri, str):
        raise OSError("no jwks_uri")
    keys = json.loads(_get(jwks_uri, thumbprints))
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise OSError("not a key set")
    return keys


@dataclass
class _Cached:
    fetched: float
    keys: dict[str, Any]


@dataclass
class KeyCache:
    clock: Clock = SYSTEM
    _entries: dict[tuple[str, frozenset[str]], _Cached] = field(default_factory=dict)

    async def keys(self, issuer: str, thumbprints: frozenset[str], *, fresh: bool = False) -> dict[str, Any]:
        key = (issuer, thumbprints)
        cached = self._entries.get(key)
        now = self.clock.time()
        if cached is not None and not fresh and now - cached.fetched < CACHE_SECONDS:
            return cached.keys
        try:
            keys = await asyncio.to_thread(fetch_jwks, issuer, thumbprints)
        except _ThumbprintMismatch:
            raise invalid_token("OpenIDConnect provider's HTTPS certificate doesn't match configured "
                                "thumbprint") from None
        except (OSError, ValueError, http.client.HTTPException):
            raise idp_unreachable() from None
        self._entries[key] = _Cached(now, keys)
        return keys


def _signing_key(keys: dict[str, Any], kid: Any, alg: str) -> Any | None:
    for jwk in keys.get("keys", []):
        if not isinstance(jwk, dict) or (kid is not None and jwk.get("kid") != kid):
            continue
        try:
            return jwt.PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
    return None


async def verify(token: str, provider: dict[str, Any], cache: KeyCache) -> dict[str, Any]:
    """The token's claims once its signature, expiry and audience pass for this provider."""
    header, claims = unverified_claims(token)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise invalid_token("The ID Token provided is not a valid JWT. (You may see this error if you sent an "
                            "Access Token)")
    issuer = claims["iss"]
    thumbprints = frozenset(provider.get("ThumbprintList", []))
    keys = await cache.keys(issuer, thumbprints)
    key = _signing_key(keys, header.get("kid"), alg)
    if key is None:  # perhaps a rotated key: ask the issuer once more
        key = _signing_key(await cache.keys(issuer, thumbprints, fresh=True), header.get("kid"), alg)
    if key is None:
        raise idp_unreachable()
    try:
        verified: dict[str, Any] = jwt.decode(token, key, algorithms=[alg], leeway=0,
                                              options={"verify_aud": False, "require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise IamError("Token expired: current date/time must be before the expiration date/time.",
                       code="ExpiredTokenException", status=400) from None
    except jwt.PyJWTError:
        raise invalid_token("Token signature could not be verified with the identity provider's keys.") from None
    audiences = verified.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if not any(a in provider.get("ClientIDList", []) for a in audiences):
        raise invalid_token("Incorrect token audience")
    return verified
