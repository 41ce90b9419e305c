"""API Gateway's authorizers: JWT (HTTP APIs) and Lambda authorizers (REQUEST for both API kinds,
TOKEN for REST APIs), with their result caches.

JWT, as the HTTP API developer guide describes it: the token is the identity source's value (a
leading `Bearer ` dropped), its `kid` names a key of the issuer's JWKS (found through
`<issuer>/.well-known/openid-configuration`, fetched by the server and kept for KEY_TTL), RSA
signatures only, `iss` equal to the configured Issuer, `aud` or `client_id` one of the configured
Audience, `exp`/`nbf`/`iat` checked, and the route's AuthorizationScopes against `scope`/`scp`.

Lambda authorizers get API Gateway's authorizer event and answer either a simple response
(`{"isAuthorized": bool, "context": {...}}`) or an IAM policy (`principalId`, `policyDocument`,
`context`), evaluated for `execute-api:Invoke` on the request's ARN. Results are cached for the
authorizer's TTL by its identity sources' values (a policy is re-evaluated per ARN).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt

from lambdad import safejson
from lambdad.auth import policy
from lambdad.clock import Clock
from lambdad.errors import LambdadError

log = logging.getLogger("lambdad.apigateway")

KEY_TTL = 300.0  # seconds a fetched JWKS is trusted before it is fetched again
FETCH_TIMEOUT = 1.5  # API Gateway gives the issuer 1.5 s to answer
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
MAX_CACHE = 10_000


class Unauthorized(LambdadError):
    """401: no identity, or a token that does not hold."""


class Forbidden(LambdadError):
    """403: an identity that may not call this route."""


class AuthorizerFailed(LambdadError):
    """500: the authorizer itself failed (function error, malformed answer, permission missing)."""


# -- identity sources -------------------------------------------------------------------------
@dataclass(slots=True)
class Sources:
    headers: dict[str, str]
    query: dict[str, list[str]]
    stage_variables: dict[str, str]
    context: dict[str, str]


def identity_values(expressions: list[str], sources: Sources) -> list[str] | None:
    """The values of `$request.header.X`, `$request.querystring.x`, `$stageVariables.x`, `$context.x`
    (or REST's `method.request.header.X` ...), or None when one is missing or empty (no invocation then)."""
    values: list[str] = []
    for expr in expressions:
        for raw in expr.split(","):
            source = raw.strip()
            if not source:
                continue
            value: str | None = None
            for prefix in ("$request.header.", "method.request.header."):
                if source.startswith(prefix):
                    value = sources.headers.get(source[len(prefix):].lower())
            for prefix in ("$request.querystring.", "method.request.querystring."):
                if source.startswith(prefix):
                    found = sources.query.get(source[len(prefix):])
                    value = ",".join(found) if found else None
            for prefix in ("$stageVariables.", "stageVariables."):
                if source.startswith(prefix):
                    value = sources.stage_variables.get(source[len(prefix):])
            for prefix in ("$context.", "context."):
                if source.startswith(prefix):
                    value = sources.context.get(source[len(prefix):])
            if not value:
                return None
            values.append(value)
    return values


# -- JWT --------------------------------------------------------------------------------------
class JwksCache:
    """Keys per issuer, fetched off the event loop; a failed fetch is retried on the next request."""

    def __init__(self, clock: Clock, fetch: Callable[[str], bytes] | None = None) -> None:
        self.clock = clock
        self.fetch = fetch or _http_get
        self._keys: dict[str, tuple[float, dict[str, Any]]] = {}

    async def key(self, issuer: str, kid: str | None) -> Any:
        keys = await self._load(issuer, force=False)
        if kid not in keys:  # the issuer may have rotated: look once more
            keys = await self._load(issuer, force=True)
        if kid not in keys:
            raise Unauthorized(f"no key {kid!r} in the issuer's JWKS")
        return keys[kid]

    async def _load(self, issuer: str, *, force: bool) -> dict[str, Any]:
        now = self.clock.monotonic()
        cached = self._keys.get(issuer)
        if cached is not None and not force and now - cached[0] < KEY_TTL:
            return cached[1]
        try:
            keys = await asyncio.to_thread(self._fetch_keys, issuer)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            log.warning("cannot fetch the JWKS of issuer %s: %s", issuer, exc)
            if cached is not None:
                return cached[1]
            raise Unauthorized("the issuer's keys cannot be fetched") from exc
        self._keys[issuer] = (now, keys)
        return keys

    def _fetch_keys(self, issuer: str) -> dict[str, Any]:
        config = json.loads(self.fetch(issuer.rstrip("/") + "/.well-known/openid-configuration"))
        jwks = jwt.PyJWKSet.from_json(self.fetch(str(config["jwks_uri"])).decode())
        return {str(k.key_id): k.key for k in jwks.keys if k.key_id}


def _http_get(url: str) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
        data: bytes = response.read(1024 * 1024)
        return data


def _claim_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


async def verify_jwt(keys: JwksCache, config: dict[str, Any], token: str, scopes: list[str]
                     ) -> tuple[dict[str, str], list[str] | None]:
    """The token's claims (as strings, as API Gateway passes them) and scopes, or Unauthorized/Forbidden."""
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("not a JWT") from exc
    issuer = str(config.get("Issuer", ""))
    key = await keys.key(issuer, header.get("kid"))
    try:
        claims = jwt.decode(token, key, algorithms=ALGORITHMS, issuer=issuer,
                            options={"verify_aud": False, "require": ["exp", "iss"]}, leeway=0)
    except jwt.PyJWTError as exc:
        raise Unauthorized(str(exc)) from exc
    audiences = config.get("Audience") or []
    aud = claims.get("aud")
    token_auds = aud if isinstance(aud, list) else [aud] if aud else []
    if claims.get("client_id"):
        token_auds.append(claims["client_id"])
    if audiences and not any(a in audiences for a in token_auds):
        raise Unauthorized("the token's audience is not accepted")
    raw_scopes = claims.get("scope", claims.get("scp"))
    token_scopes = (raw_scopes.split() if isinstance(raw_scopes, str)
                    else [str(s) for s in raw_scopes] if isinstance(raw_scopes, list) else [])
    if scopes and not any(s in token_scopes for s in scopes):
        raise Forbidden("the token has none of the route's scopes")
    return {k: _claim_text(v) for k, v in claims.items()}, token_scopes or None


# -- Lambda authorizers ---------------------------------------------------------------------
@dataclass(slots=True)
class LambdaDecision:
    allowed: bool | None  # simple responses; None when a policy decides per ARN
    principal_id: str | None
    policy_doc: dict[str, Any] | None
    context: dict[str, Any]

    def allows(self, arn: str, account: str) -> bool:
        return self.verdict(arn, account) is policy.Decision.ALLOW

    def verdict(self, arn: str, account: str) -> policy.Decision:
        if self.allowed is not None:
            return policy.Decision.ALLOW if self.allowed else policy.Decision.IMPLICIT_DENY
        # The document is an identity policy of the caller the authorizer vouched for (a principal of
        # the API's account, named by the principalId it returned).
        caller = f"arn:aws:iam::{account}:user/{self.principal_id or 'authorized'}"
        ctx = policy.RequestContext(caller, account, "execute-api:Invoke", arn, account, {})
        doc = self.policy_doc or {}
        return policy.evaluate(ctx, [doc], None, is_account_root=False)


def parse_lambda_answer(payload: bytes, simple: bool) -> LambdaDecision:
    try:
        result = safejson.loads(payload) if payload else None
    except ValueError as exc:
        raise AuthorizerFailed("the authorizer's answer is not JSON") from exc
    if not isinstance(result, dict):
        raise AuthorizerFailed("the authorizer's answer is not an object")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise AuthorizerFailed("context must be an object")
    if simple and "isAuthorized" in result:
        if not isinstance(result["isAuthorized"], bool):
            raise AuthorizerFailed("isAuthorized must be a boolean")
        return LambdaDecision(result["isAuthorized"], None, None, context)
    doc = result.get("policyDocument")
    if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), (list, dict)):
        raise AuthorizerFailed("the authorizer's answer has no policyDocument")
    if isinstance(doc["Statement"], dict):
        doc = {**doc, "Statement": [doc["Statement"]]}
    principal = result.get("principalId")
    return LambdaDecision(None, None if principal is None else str(principal), doc, context)


class DecisionCache:
    """Authorizer results by (authorizer, identity values), each for the authorizer's TTL."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._entries: dict[tuple[str, ...], tuple[float, LambdaDecision]] = {}

    def get(self, key: tuple[str, ...]) -> LambdaDecision | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if self.clock.monotonic() >= found[0]:
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: tuple[str, ...], ttl: int, decision: LambdaDecision) -> None:
        if ttl <= 0:
            return
        if len(self._entries) >= MAX_CACHE:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (self.clock.monotonic() + ttl, decision)

    def forget(self, prefix: str) -> None:
        for key in [k for k in self._entries if k[0] == prefix]:
            del self._entries[key]


InvokeAuthorizer = Callable[[str, bytes], Awaitable[bytes]]
