"""AWS Signature Version 4 verification, server side.

The algorithm is the one in the AWS IAM User Guide, "Create a signed AWS API request" (canonical
request, string to sign, derived signing key) and "Authentication methods" (Authorization header
or query parameters). Where the documents leave room, what botocore actually signs is the judge:
tests/auth/test_sigv4.py signs requests with botocore's own signers and real boto3 clients.

This runs on every API request, so the hot path avoids regular expressions, caches derived signing
keys, and only percent-decodes/encodes what needs it.

Error codes and messages are AWS's (JSON-protocol spelling: ``InvalidSignatureException``;
query-protocol services such as IAM and STS spell the same errors ``SignatureDoesNotMatch``,
``IncompleteSignature``, ...; mapping is the caller's job).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, unquote_to_bytes

from lambdad.errors import LambdadError

__all__ = ["STREAMING_SIGNED", "STREAMING_SIGNED_TRAILER",
           "PendingSignature", "SigV4Error", "SignedRequestInfo", "begin", "parse_scope", "verify"]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
# aws-chunked uploads whose every chunk (and trailer) is signed, chained from the request's signature.
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_TERMINATOR = "aws4_request"
# SigV4 signing keys are valid for seven days, hence AWS's ceiling on X-Amz-Expires.
_MAX_PRESIGN_EXPIRES = 604800
_HEX = frozenset("0123456789abcdefABCDEF")

_MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class SignedRequestInfo:
    """What a signature says about its caller (verified by `verify`, merely read by `parse_scope`)."""

    access_key_id: str
    region: str
    service: str  # credential-scope service, e.g. "lambda", "sqs", "iam"
    session_token: str | None  # X-Amz-Security-Token header or query parameter


class SigV4Error(LambdadError):
    """A request failed authentication; ``code``/``message``/``status`` are what AWS answers."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"SigV4Error({self.code!r}, {self.message!r}, {self.status})"


def _missing_token() -> SigV4Error:
    return SigV4Error("MissingAuthenticationTokenException", "Missing Authentication Token")


def _bad_signature() -> SigV4Error:
    return SigV4Error("InvalidSignatureException", _MSG_BAD_SIGNATURE)


def _incomplete(message: str) -> SigV4Error:
    return SigV4Error("IncompleteSignatureException", message, 400)


# --- signing keys -------------------------------------------------------------------------------

# A signing key depends only on (secret, day, region, service): one derivation (4 HMACs) per
# client per day instead of per request. Cleared wholesale when full; a miss costs ~3 µs.
_KEY_CACHE: dict[tuple[str, str, str, str], bytes] = {}
_KEY_CACHE_MAX = 512


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    cache_key = (secret, date, region, service)
    key = _KEY_CACHE.get(cache_key)
    if key is None:
        key = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
        key = hmac.digest(key, region.encode(), "sha256")
        key = hmac.digest(key, service.encode(), "sha256")
        key = hmac.digest(key, b"aws4_request", "sha256")
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[cache_key] = key
    return key


# --- dates --------------------------------------------------------------------------------------


def _parse_amz_date(value: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 basic timestamp (20240101T000000Z), else None."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not value.isascii():
        return None
    day, clock = value[:8], value[9:15]
    if not (day.isdigit() and clock.isdigit()):
        return None
    year, month, mday = int(day[:4]), int(day[4:6]), int(day[6:8])
    hour, minute, second = int(clock[:2]), int(clock[2:4]), int(clock[4:6])
    if not (1 <= month <= 12 and 1 <= mday <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    return calendar.timegm((year, month, mday, hour, minute, second, 0, 0, 0))


def _format_amz_date(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def _http_date_to_amz(value: str) -> str | None:
    """The `Date` header (RFC 7231) in the ISO 8601 basic form used in the string to sign."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is not None:
        return _format_amz_date(parsed.timestamp())
    # "-0000" (what botocore's formatdate sends) parses naive but means UTC.
    return parsed.strftime("%Y%m%dT%H%M%SZ")


def _span(seconds: int) -> str:
    return f"{seconds // 60} min." if seconds % 60 == 0 else f"{seconds} sec."


def _check_time(amz_date: str, signed_at: float, now: float, max_age: int, max_skew: int) -> None:
    # Wording as AWS answers (e.g. "Signature expired: 20140325T143453Z is now earlier than
    # 20140325T143751Z (20140325T145251Z - 15 min.)"; Lambda itself uses a 5 minute window).
    if now - signed_at > max_age:
        raise SigV4Error(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {_format_amz_date(now - max_age)} "
            f"({_format_amz_date(now)} - {_span(max_age)})",
        )
    if signed_at - now > max_skew:
        raise SigV4Error(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than "
            f"{_format_amz_date(now + max_skew)} ({_format_amz_date(now)} + {_span(max_skew)})",
        )


# --- canonical request pieces --------------------------------------------------------------------


def _normalize_path(path: str) -> str:
    """RFC 3986 dot-segment removal plus collapsing empty segments, as AWS does for non-S3 paths."""
    segments: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    normalized = "/" + "/".join(segments)
    if segments and path.endswith("/"):
        normalized += "/"
    return normalized


def _canonical_uri(raw_path: str, encoding: str, service: str) -> str:
    if not raw_path:
        return "/"
    if service == "s3":
        # S3 signs the path exactly as sent: no normalization, no second encoding.
        return raw_path
    if "//" in raw_path or "/." in raw_path:
        raw_path = _normalize_path(raw_path)
    # Non-S3 services encode the already-encoded wire path once more ("%3A" -> "%253A"), which
    # is also what botocore signs: quote(normalize_url_path(path), safe="/~").
    return quote(raw_path, safe="/~", encoding=encoding)


def _canonical_component(value: str) -> str:
    """Decode a query key or value as received (``+`` or ``%20`` for space) and re-encode per
    RFC 3986 as SigV4 wants: unreserved characters bare, everything else %XX upper-case."""
    if "+" in value:
        value = value.replace("+", " ")
    if "%" in value:
        # Via bytes, so that percent-escapes that are not UTF-8 survive unchanged.
        return quote(unquote_to_bytes(value), safe="")
    return quote(value, safe="")


def _parse_query(raw_query: str, presigned_ok: bool) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Split a raw query into canonical (key, value) pairs and the decoded X-Amz-* parameters
    (keys lower-cased: SDKs disagree on their case)."""
    pairs: list[tuple[str, str]] = []
    amz: dict[str, str] = {}
    if not raw_query:
        return pairs, amz
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if presigned_ok and key[:6].lower() == "x-amz-":
            name = unquote(key).lower()
            amz[name] = unquote(value.replace("+", " "))
        pairs.append((_canonical_component(key), _canonical_component(value)))
    return pairs, amz


def _canonical_query(pairs: list[tuple[str, str]], drop_signature: bool) -> str:
    if not pairs:
        return ""
    if drop_signature:
        # The presigned signature cannot sign itself.
        pairs = [p for p in pairs if p[0].lower() != "x-amz-signature"]
    pairs.sort()
    return "&".join([f"{k}={v}" for k, v in pairs])


def _canonical_headers(signed_headers: str, headers: Mapping[str, str]) -> str:
    lines = []
    for name in signed_headers.split(";"):
        value = headers.get(name)
        if value is None:
            value = headers.get(name.lower(), "")
        # "Trimall": strip, and squeeze runs of whitespace to one space.
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "".join(lines)


# --- request forms -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Claim:
    """What the caller claims before we check it."""

    credential: str
    signed_headers: str
    signature: str
    amz_date: str
    expires: int | None  # presigned only


def _from_authorization(auth: str, headers: Mapping[str, str]) -> _Claim:
    algorithm, _, rest = auth.strip().partition(" ")
    params: dict[str, str] = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq:
            raise _incomplete(
                f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
            )
        params[name.strip()] = value.strip()

    amz_date = headers.get("x-amz-date")
    if amz_date is None and "date" in headers:
        amz_date = _http_date_to_amz(headers["date"])
    # AWS lists everything that is missing at once, then echoes the header.
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if amz_date is None:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems or amz_date is None:
        raise _incomplete(" ".join(problems) + f" Authorization={auth}")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'")
    return _Claim(params["Credential"], params["SignedHeaders"], params["Signature"], amz_date, None)


def _from_query(amz: Mapping[str, str]) -> _Claim:
    required = (
        ("x-amz-algorithm", "X-Amz-Algorithm"),
        ("x-amz-credential", "X-Amz-Credential"),
        ("x-amz-signature", "X-Amz-Signature"),
        ("x-amz-signedheaders", "X-Amz-SignedHeaders"),
        ("x-amz-date", "X-Amz-Date"),
    )
    missing = [label for key, label in required if not amz.get(key)]
    if missing:
        # Wording as STS answers an incomplete presigned URL.
        raise _incomplete(
            " ".join(f"AWS query-string parameters must include '{label}'." for label in missing)
            + " Re-examine the query-string parameters."
        )
    if amz["x-amz-algorithm"] != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{amz['x-amz-algorithm']}'")
    expires: int | None = None
    raw_expires = amz.get("x-amz-expires")
    if raw_expires is not None:
        # Wording from S3's AuthorizationQueryParametersError answers.
        try:
            expires = int(raw_expires)
        except ValueError:
            raise _incomplete("X-Amz-Expires should be a number") from None
        if expires < 0:
            raise _incomplete("X-Amz-Expires must be non-negative")
        if expires > _MAX_PRESIGN_EXPIRES:
            raise _incomplete(
                "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
                "must be less than 604800 seconds"
            )
    return _Claim(
        amz["x-amz-credential"],
        amz["x-amz-signedheaders"],
        amz["x-amz-signature"],
        amz["x-amz-date"],
        expires,
    )


def _split_credential(credential: str) -> list[str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        # AWS's exact wording for a mangled scope is not documented; this names the expected form.
        raise _incomplete(
            f"Credential should be of the form <AccessKeyId>/<YYYYMMDD>/<region>/<service>/aws4_request, "
            f"not '{credential}'."
        )
    if parts[4] != _TERMINATOR:
        raise SigV4Error(
            "InvalidSignatureException",
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{parts[4]}'.",
        )
    return parts


# --- public API ----------------------------------------------------------------------------------


def parse_scope(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> SignedRequestInfo | None:
    """Read access key, region and service from a request's signature without verifying it, to
    dispatch by service. None when the request carries no (readable) SigV4 credential.

    ``headers`` has lower-case names; ``query`` is decoded, as ``urllib.parse.parse_qs`` returns.
    """
    credential: str | None = None
    token = headers.get("x-amz-security-token")
    auth = headers.get("authorization")
    if auth is not None:
        start = auth.find("Credential=")
        if start >= 0:
            start += len("Credential=")
            end = auth.find(",", start)
            credential = (auth[start:] if end < 0 else auth[start:end]).strip()
    else:
        for name in ("X-Amz-Credential", "x-amz-credential"):
            values = query.get(name)
            if values:
                credential = values[0]
                break
        if token is None:
            for name in ("X-Amz-Security-Token", "x-amz-security-token"):
                values = query.get(name)
                if values:
                    token = values[0]
                    break
    if not credential:
        return None
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts[:4]):
        return None
    return SignedRequestInfo(parts[0], parts[2], parts[3], token)


class PendingSignature:
    """A signature whose every part but the payload has been checked (see `begin`).

    ``verified`` says whether the signature itself is checked already: the request declared its
    payload hash in ``x-amz-content-sha256`` (the body must then hash to ``expected_body_hash``),
    or it is an S3 request signed over ``UNSIGNED-PAYLOAD``. Otherwise the signature covers the
    body's hash, and `finish` needs it.
    """

    __slots__ = ("_head", "_key", "_prefix", "_provided", "expected_body_hash", "info", "streaming", "verified")

    def __init__(self, info: SignedRequestInfo, head: str, prefix: str, key: bytes, provided: bytes) -> None:
        self.info = info
        self._head = head
        self._prefix = prefix
        self._key = key
        self._provided = provided
        self.verified = False
        self.expected_body_hash: str | None = None
        #: the x-amz-content-sha256 mode of an aws-chunked S3 upload (STREAMING-...), else None
        self.streaming: str | None = None

    @property
    def seed_signature(self) -> str:
        """The request's own signature: the first chunk's signature chains from it."""
        return self._provided.decode("ascii", "replace")

    def chunk_signature(self, previous: str, chunk_sha256: str) -> str:
        """The signature an aws-chunked chunk must carry (S3 API Reference, "Signature Calculations
        for the Authorization Header: Transferring Payload in Multiple Chunks")."""
        scope = self._prefix.split("\n", 1)[1]  # date and credential scope, as in the request's
        text = f"AWS4-HMAC-SHA256-PAYLOAD\n{scope}{previous}\n{_EMPTY_SHA256}\n{chunk_sha256}"
        return hmac.digest(self._key, text.encode(), "sha256").hex()

    def trailer_signature(self, previous: str, trailer_sha256: str) -> str:
        """The signature of the trailing headers of a signed aws-chunked upload."""
        scope = self._prefix.split("\n", 1)[1]
        text = f"AWS4-HMAC-SHA256-TRAILER\n{scope}{previous}\n{trailer_sha256}"
        return hmac.digest(self._key, text.encode(), "sha256").hex()

    def _matches(self, payload_hash: str) -> bool:
        canonical_hash = hashlib.sha256((self._head + payload_hash).encode("utf-8", "surrogateescape")).hexdigest()
        expected = hmac.digest(self._key, (self._prefix + canonical_hash).encode(), "sha256").hex().encode()
        return hmac.compare_digest(expected, self._provided)

    def finish(self, body_hash: str) -> SignedRequestInfo:
        """Who signed the request, given the hex SHA-256 of the body received; or `SigV4Error`."""
        if not self.verified:
            if not self._matches(body_hash):
                raise _bad_signature()
        elif self.expected_body_hash is not None and self.expected_body_hash != body_hash:
            # The signature covers the header, not the body: the body must be the one hashed.
            raise SigV4Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
        return self.info


def begin(
    method: str,
    raw_path: str | bytes,
    raw_query: bytes | str,
    headers: Mapping[str, str],
    lookup_secret: Callable[[str], str | None],
    now: float | None = None,
    max_skew_seconds: int = 900,
) -> PendingSignature:
    """Check everything of a SigV4 signature that does not need the body (form, scope, dates, the
    key, and the signature itself when the payload hash is declared), before reading the body.

    Arguments as for `verify`. Raises `SigV4Error` for a request that no body could make valid.
    """
    if isinstance(raw_query, bytes):
        raw_query = raw_query.decode("latin-1")
    if isinstance(raw_path, bytes):
        path, path_encoding = raw_path.decode("latin-1"), "latin-1"
    else:
        path, path_encoding = raw_path, "utf-8"
    if now is None:
        now = time.time()

    auth = headers.get("authorization") or None  # an empty header is no credential at all
    presigned = auth is None
    pairs, amz = _parse_query(raw_query, presigned)
    if auth is None:
        if not amz.get("x-amz-signature") and not amz.get("x-amz-credential") and not amz.get("x-amz-algorithm"):
            raise _missing_token()
        claim = _from_query(amz)
        token = headers.get("x-amz-security-token") or amz.get("x-amz-security-token")
    else:
        claim = _from_authorization(auth, headers)
        token = headers.get("x-amz-security-token")

    access_key, scope_date, region, service, _ = _split_credential(claim.credential)

    signed_at = _parse_amz_date(claim.amz_date)
    if signed_at is None:
        raise _incomplete(
            f"Date must be in ISO-8601 'basic format'. Got '{claim.amz_date}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        )
    max_age = max_skew_seconds
    if claim.expires is not None:
        # S3 honours X-Amz-Expires up to seven days. Other services (STS is the known case) keep
        # their usual window from X-Amz-Date whatever a presigned URL says; a shorter
        # X-Amz-Expires still shortens it here, being what the signer asked for.
        max_age = claim.expires if service == "s3" else min(claim.expires, max_skew_seconds)
    if presigned and service == "s3" and now - signed_at > max_age:
        # S3's documented answer to an expired presigned URL.
        raise SigV4Error("AccessDenied", "Request has expired")
    _check_time(claim.amz_date, signed_at, now, max_age, max_skew_seconds)

    secret = lookup_secret(access_key)
    if secret is None:
        raise SigV4Error("UnrecognizedClientException", "The security token included in the request is invalid.")

    if scope_date != claim.amz_date[:8]:
        raise SigV4Error(
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{claim.amz_date[:8]}', from '{claim.amz_date}'.",
        )

    head = (
        f"{method.upper()}\n{_canonical_uri(path, path_encoding, service)}\n"
        f"{_canonical_query(pairs, presigned)}\n"
        f"{_canonical_headers(claim.signed_headers, headers)}\n{claim.signed_headers}\n"
    )
    prefix = f"{ALGORITHM}\n{claim.amz_date}\n{scope_date}/{region}/{service}/{_TERMINATOR}\n"
    key = _signing_key(secret, scope_date, region, service)
    pending = PendingSignature(SignedRequestInfo(access_key, region, service, token), head, prefix, key,
                               claim.signature.encode("utf-8", "replace"))

    # The payload hash in the canonical request. Only S3 lets a signature leave the body out
    # (UNSIGNED-PAYLOAD, header-signed or presigned); every other service signs the body's hash,
    # so a request signed over UNSIGNED-PAYLOAD simply does not match there (AWS's answer too),
    # and no body can be swapped under a signature.
    content_sha = headers.get("x-amz-content-sha256")
    if content_sha is not None:
        if content_sha in (UNSIGNED_PAYLOAD, _STREAMING_UNSIGNED_TRAILER):
            if service == "s3":
                if not pending._matches(content_sha):
                    raise _bad_signature()
                pending.verified = True
                if content_sha == _STREAMING_UNSIGNED_TRAILER:
                    pending.streaming = content_sha
        elif content_sha in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER) and service == "s3":
            # The header signature covers the mode; each chunk then carries its own (api/streaming.py).
            if not pending._matches(content_sha):
                raise _bad_signature()
            pending.verified = True
            pending.streaming = content_sha
        elif len(content_sha) == 64 and _HEX.issuperset(content_sha):
            if not pending._matches(content_sha):
                raise _bad_signature()
            pending.verified = True
            pending.expected_body_hash = content_sha.lower()
        elif content_sha.startswith("STREAMING-"):
            # aws-chunked uploads sign each chunk; nothing here verifies those chunks.
            raise SigV4Error(
                "NotImplemented",
                f"x-amz-content-sha256 '{content_sha}' is not supported by this server.",
                501,
            )
        else:  # not a hash nor a mode: the client's mistake (S3's answer), not a missing feature
            raise SigV4Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                             "STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.", 400)
    elif presigned and service == "s3" and pending._matches(UNSIGNED_PAYLOAD):
        # S3 presigners sign UNSIGNED-PAYLOAD: the URL is made before the body is known.
        pending.verified = True
    return pending


def verify(
    method: str,
    raw_path: str | bytes,
    raw_query: bytes | str,
    headers: Mapping[str, str],
    body: bytes,
    lookup_secret: Callable[[str], str | None],
    now: float | None = None,
    max_skew_seconds: int = 900,
) -> SignedRequestInfo:
    """Verify a SigV4-signed request; return who signed it or raise `SigV4Error`.

    ``raw_path`` and ``raw_query`` are as received on the wire (ASGI ``raw_path`` and
    ``query_string``), not decoded. ``headers`` has lower-case names, repeated headers joined
    with ``","``. ``lookup_secret`` maps an access key id to its secret (None: unknown key); the
    caller judges any session token in the result. (`begin` + `PendingSignature.finish`, for a
    body already in hand.)
    """
    pending = begin(method, raw_path, raw_query, headers, lookup_secret, now, max_skew_seconds)
    return pending.finish(hashlib.sha256(body).hexdigest())
