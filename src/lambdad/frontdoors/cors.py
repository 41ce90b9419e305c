"""CORS as function URLs and HTTP APIs answer it from their CorsConfiguration (the same field names:
AllowOrigins, AllowMethods, AllowHeaders, ExposeHeaders, MaxAge, AllowCredentials): preflights are
answered by the front door without calling the function, and on other responses the configuration's
headers replace whatever the function said."""

from __future__ import annotations

from typing import Any

Headers = list[tuple[bytes, bytes]]


def is_preflight(method: str, headers: dict[str, str]) -> bool:
    return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


def _allowed_origin(cors: dict[str, Any], origin: str) -> str | None:
    allowed = cors.get("AllowOrigins") or []
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


def response_headers(cors: dict[str, Any], origin: str) -> Headers:
    allow = _allowed_origin(cors, origin)
    if allow is None:
        return []
    out = [(b"access-control-allow-origin", allow.encode()), (b"vary", b"Origin")]
    if cors.get("ExposeHeaders"):
        out.append((b"access-control-expose-headers", ",".join(cors["ExposeHeaders"]).encode()))
    if cors.get("AllowCredentials"):
        out.append((b"access-control-allow-credentials", b"true"))
    return out


def preflight_headers(cors: dict[str, Any], origin: str) -> Headers:
    headers = response_headers(cors, origin)
    if headers:
        if cors.get("AllowMethods"):
            headers.append((b"access-control-allow-methods", ",".join(cors["AllowMethods"]).encode()))
        if cors.get("AllowHeaders"):
            headers.append((b"access-control-allow-headers", ",".join(cors["AllowHeaders"]).encode()))
        if cors.get("MaxAge") is not None:
            headers.append((b"access-control-max-age", str(cors["MaxAge"]).encode()))
    return headers


def apply(cors: dict[str, Any], origin: str | None, headers: Headers) -> Headers:
    """A response's headers with the configuration's CORS headers in place of the function's."""
    kept = [h for h in headers if not h[0].startswith(b"access-control-")]
    if origin:
        kept.extend(response_headers(cors, origin))
    return kept
