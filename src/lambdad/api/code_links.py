"""Download links for stored code: GetFunction's `Code.Location`, layer versions' `Content.Location`.

On AWS these are presigned S3 URLs valid for 10 minutes. Here a link names the zip's digest, the
resource it was handed out for (a function version ARN such as `...:function:f:$LATEST` or `:3`,
or a layer version ARN) and its expiry, under an HMAC of all three with a secret of this server
process. When it is followed, the signature and the expiry are checked, and the resource must still
exist and still hold that code: deleting a function (or updating its code) ends its links, even
though the zip may stay stored for another function or layer that uses the same bytes.

Refusals look like S3's answers to presigned URLs: 403 with an XML `<Error>` (`AccessDenied`,
"Request has expired" once expired).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

from lambdad.api.base import ApiResponse

PATH_PREFIX = "/_lambdad/code/"
#: What AWS gives a presigned code URL.
DEFAULT_LIFETIME = 600.0

#: resource ARN -> the digest of the code it holds now, or None when it is gone
CodeOf = Callable[[str], str | None]


class CodeLinks:
    def __init__(self, base_url: str, code_of: CodeOf, read_zip: Callable[[str], bytes], *,
                 lifetime: float = DEFAULT_LIFETIME, clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url
        self.code_of = code_of
        self.read_zip = read_zip
        self.lifetime = lifetime
        self.clock = clock
        self._secret = secrets.token_bytes(32)  # links die with the process that signed them

    def url(self, digest: str, resource: str) -> str:
        """A link to `digest` handed out for `resource`, valid for `lifetime` seconds from now."""
        expires = int(self.clock() + self.lifetime)
        return (f"{self.base_url}{PATH_PREFIX}{digest}.zip?resource={quote(resource, safe='')}"
                f"&expires={expires}&signature={self._sign(digest, resource, expires)}")

    def respond(self, path: str, query: dict[str, list[str]], request_id: str) -> ApiResponse:
        """Answer a followed link: the zip, or S3's refusal."""
        digest = path[len(PATH_PREFIX):].removesuffix(".zip")
        resource = _first(query, "resource")
        raw_expires = _first(query, "expires")
        signature = _first(query, "signature")
        try:
            expires = int(raw_expires)
        except ValueError:
            return _refusal("AccessDenied", "Access Denied", request_id)
        if not path.endswith(".zip") or not hmac.compare_digest(signature, self._sign(digest, resource, expires)):
            return _refusal("AccessDenied", "Access Denied", request_id)
        now = self.clock()
        if now >= expires:
            return _refusal("AccessDenied", "Request has expired", request_id,
                            Expires=_iso(expires), ServerTime=_iso(now))
        if self.code_of(resource) != digest:  # deleted, or its code has changed since
            return _refusal("AccessDenied", "Access Denied", request_id)
        try:
            body = self.read_zip(digest)
        except FileNotFoundError:
            return _refusal("AccessDenied", "Access Denied", request_id)
        return ApiResponse(200, body, [(b"content-type", b"application/zip")])

    def _sign(self, digest: str, resource: str, expires: int) -> str:
        message = f"{digest}\n{resource}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _first(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key)
    return values[0] if values else ""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refusal(code: str, message: str, request_id: str, **extra: str) -> ApiResponse:
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
            f"</Message>{fields}<RequestId>{request_id}</RequestId></Error>")
    return ApiResponse(403, body.encode(), [(b"content-type", b"application/xml")])
