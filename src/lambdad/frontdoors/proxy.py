"""What both HTTP front doors share when a function answers in the proxy format
(`{statusCode, headers, body, isBase64Encoded}`): the connection-level headers never passed on,
and the decoding of the body."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from lambdad.errors import LambdadError

# Connection-level headers are the front door's business: never passed on, in either direction.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade"})


class BadProxyResponse(LambdadError, ValueError):
    """The function's answer cannot be turned into an HTTP response (the caller answers 502)."""


def response_body(result: dict[str, Any]) -> bytes:
    """The bytes of a proxy response's body: base64-decoded when it says so, JSON for non-strings."""
    body = result.get("body")
    if body is None:
        return b""
    if result.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise BadProxyResponse("body is not valid base64") from exc
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()
