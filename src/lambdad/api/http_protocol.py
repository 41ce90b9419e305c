"""The HTTP/1.1 connection protocol of every lambdad port: the API port and each ALB listener port.

uvicorn's httptools protocol, plus the limits a server facing untrusted clients needs and uvicorn
lacks (uvicorn arms its keep-alive timer only after a first response and bounds neither header
sizes nor the time a request may take to arrive):

- a connection that sends nothing is closed after the keep-alive timeout;
- a request's headers must arrive within `request_read_timeout` of its first byte, and its body
  may not pause longer than that (ALB's idle timeout works the same way), so slow clients
  (slowloris, trickled bodies) cannot pin connections or handler tasks for long;
- the request line plus headers are bounded by `max_header_bytes` (answered 400, as ALB does).

Connections and in-flight requests are further bounded by uvicorn's `limit_concurrency` (503).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadersTooLarge(Exception):
    """Raised inside a parser callback: httptools turns it into a parse error, uvicorn into a 400."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    request_read_timeout: float = 60.0
    max_header_bytes: int = 64 * 1024

    _read_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.timeout_keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm(self.request_read_timeout)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_body(self, body: bytes) -> None:
        self._arm(self.request_read_timeout)  # progress: a large upload on a slow link is fine
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise HeadersTooLarge(f"request headers larger than {self.max_header_bytes} bytes")

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(delay, self._timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self) -> None:
        # Closing makes a handler still reading the body see http.disconnect; a handler that is
        # already answering is unaffected (its request arrived whole, so this timer was disarmed).
        self._read_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(request_read_timeout: float, max_header_bytes: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with these limits (uvicorn instantiates it per connection)."""
    return type("LambdadHttpProtocol", (GuardedHttpToolsProtocol,),
                {"request_read_timeout": request_read_timeout, "max_header_bytes": max_header_bytes})


class ClientDisconnected(Exception):
    """The client went away (or was cut off by the read timeout) before its request body arrived."""


class BodyTooLarge(Exception):
    """The request body is larger than the port accepts; answer 413 and close the connection."""


async def read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    """The whole request body, refusing one larger than `limit` before reading it when its
    Content-Length says so, and as soon as it grows past it otherwise (chunked uploads)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = 0
            if declared > limit:
                raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body"):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
