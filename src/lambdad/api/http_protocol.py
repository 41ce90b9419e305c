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
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lambdad.errors import LambdadError


class HeadersTooLarge(LambdadError):
    """Raised inside a parser callback: httptools turns it into a parse error, uvicorn into a 400."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    request_read_timeout: float = 60.0
    max_header_bytes: int = 64 * 1024

    _read_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport: Any) -> None:
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


class ClientDisconnected(LambdadError):
    """The client went away (or was cut off by the read timeout) before its request body arrived."""


class BodyTooLarge(LambdadError):
    """The request body is larger than the port accepts; answer 413 and close the connection."""


class SpoolFull(LambdadError):
    """Bodies waiting on disk to be verified already use the whole `Spool`."""


class Spool:
    """Where bodies wait, on disk, until their signature can be checked, and the most bytes of
    them kept at once: callers who only know an access key id cannot fill the disk with uploads
    they could never sign."""

    def __init__(self, directory: str, limit: int) -> None:
        self.directory = directory
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        if self.used + size > self.limit:
            raise SpoolFull
        self.used += size

    def release(self, size: int) -> None:
        self.used -= size


def declared_length(scope: dict[str, Any]) -> int | None:
    """The request's Content-Length, None when it has none (chunked) or an unreadable one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestBody:
    """A request body that is read only when (and as far as) its handler decides to.

    The API port verifies who is calling before it reads what they send: an unread body stays in
    the kernel's socket buffer (uvicorn stops reading from a connection whose request is not being
    consumed), and a response to a request whose body was left unread closes the connection.
    """

    def __init__(self, scope: dict[str, Any], receive: Any) -> None:
        self._receive = receive
        self.declared = declared_length(scope)
        chunked = any(name == b"transfer-encoding" for name, _ in scope["headers"])
        # Without Content-Length or Transfer-Encoding an HTTP/1.1 request has no body.
        self.present = not (self.declared == 0 or (self.declared is None and not chunked))
        self._read = False

    @property
    def consumed(self) -> bool:
        """Whether nothing of the request is left on the connection (a later request may follow)."""
        return self._read or not self.present

    async def read(self, limit: int, *, hasher: Any = None, spool: Spool | None = None, spool_after: int = 0,
                   on_complete: Callable[[], object] | None = None) -> bytes:
        """The whole body, refused (BodyTooLarge) past `limit`: before reading it when its
        Content-Length says so, as soon as it grows past it otherwise (chunked uploads).

        `hasher` (a hashlib object) sees every byte as it arrives. With a `spool`, no more than
        `spool_after` bytes are held in memory while the body arrives: the rest waits in an unlinked
        file of the spool until the caller has the whole body (a caller whose signature can only
        be checked against the body's hash must read it before it knows who sent it), counted
        against the spool's limit while it is there (SpoolFull past it). `on_complete` runs once the
        last byte is in, before the body is loaded: an exception from it refuses the body unloaded.
        """
        if self._read:
            raise RuntimeError("the request body was read already")
        if self.declared is not None and self.declared > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        spooled_to: IO[bytes] | None = None
        spooled = 0
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > limit:
                        raise BodyTooLarge
                    if hasher is not None:
                        hasher.update(chunk)
                    if spool is not None and spooled_to is None and size > spool_after:
                        spooled_to = tempfile.TemporaryFile(dir=spool.directory)  # closed below
                        chunks.append(chunk)
                        chunk = b"".join(chunks)
                        chunks.clear()
                    if spooled_to is not None:
                        assert spool is not None
                        spool.take(len(chunk))
                        spooled += len(chunk)
                        spooled_to.write(chunk)
                    else:
                        chunks.append(chunk)
                if not message.get("more_body"):
                    break
            self._read = True
            if on_complete is not None:
                on_complete()
            if spooled_to is not None:
                spooled_to.seek(0)
                return spooled_to.read()  # one allocation of the body's size
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            if spooled_to is not None:
                spooled_to.close()
            if spool is not None:
                spool.release(spooled)


    async def chunks(self, limit: int) -> AsyncIterator[bytes]:
        """The body as it arrives, one received piece at a time, for services that take their body as
        a stream (api/streaming.py); BodyTooLarge past `limit`, ClientDisconnected if the client goes."""
        if self._read:
            raise RuntimeError("the request body was read already")
        if self.declared is not None and self.declared > limit:
            raise BodyTooLarge
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                yield chunk
            if not message.get("more_body"):
                self._read = True
                return


async def read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    """The whole request body, refusing one larger than `limit` (see `RequestBody.read`)."""
    return await RequestBody(scope, receive).read(limit)
