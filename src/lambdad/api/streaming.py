"""Request bodies a service takes as a stream (S3 objects up to 5 GB), checked as they arrive.

A service that sets `streams_body = True` is dispatched before its body is read: the Router checks
the signature as far as the headers go, then hands the service a `StreamedBody` in `request.stream`.
Whatever the signature says about the payload is enforced while the bytes flow:

- a declared `x-amz-content-sha256` hash: the bytes are hashed as they pass, and the end of the
  stream raises (XAmzContentSHA256Mismatch) if they are not the ones signed;
- `UNSIGNED-PAYLOAD` (S3 only, and presigned URLs): nothing to check;
- `aws-chunked` bodies (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`,
  `STREAMING-UNSIGNED-PAYLOAD-TRAILER`): decoded here, every chunk's signature checked against the
  chain seeded by the request's, trailing headers (checksums) collected into `trailers`, their
  signature checked too.

A consumer that writes the chunks somewhere must not make them visible before the iteration ends
without an exception: the last check runs after the last chunk. Nothing here holds more than one
chunk in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Protocol

from lambdad.auth import sigv4
from lambdad.errors import ApiError, AuthError

# The largest chunk of an aws-chunked body (SDKs send 64 KB; S3 documents at least 8 KB).
MAX_CHUNK = 16 * 1024 * 1024
_MAX_LINE = 4096


class RawBody(Protocol):
    """What the connection gives: the body's bytes as they arrive (http_protocol.RequestBody)."""

    def chunks(self, limit: int) -> AsyncIterator[bytes]: ...


class MalformedChunkedBody(ApiError):
    """An aws-chunked body that does not follow the framing (S3 answers such a body 400)."""

    code = "IncompleteBody"
    status = 400


class StreamedBody:
    """One request's body, read once, as decoded chunks (see the module docstring)."""

    def __init__(self, raw: RawBody | None, signature: sigv4.PendingSignature | None, headers: dict[str, str],
                 *, data: bytes | None = None) -> None:
        self._raw = raw
        self._data = data
        self._signature = signature
        self._headers = headers
        self.trailers: dict[str, str] = {}
        self.started = False
        mode = signature.streaming if signature is not None else None
        if mode is None and headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
            mode = headers["x-amz-content-sha256"]  # authentication off: decode it all the same
        self.mode = mode
        self.chunked = mode is not None

    @classmethod
    def of_bytes(cls, data: bytes, headers: dict[str, str]) -> StreamedBody:
        """A body that had to be read whole before its signature could be checked (it is)."""
        return cls(None, None, headers, data=data)

    @property
    def decoded_length(self) -> int | None:
        """The payload's size as the client declared it (x-amz-decoded-content-length for aws-chunked
        bodies, Content-Length otherwise); None when it declared none."""
        raw = self._headers.get("x-amz-decoded-content-length" if self.chunked else "content-length")
        if raw is None or not raw.isdigit():
            return None
        return int(raw)

    async def read(self, limit: int) -> bytes:
        """The whole (small) body: XML configurations and the like. ApiError past `limit`."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks(limit):
            size += len(chunk)
            parts.append(chunk)
        return b"".join(parts)

    async def chunks(self, limit: int) -> AsyncIterator[bytes]:
        """The payload's bytes; raises AuthError (after the last chunk at the latest) if they are not
        what was signed. `limit` bounds the bytes read off the connection."""
        if self.started:
            raise RuntimeError("the request body was read already")
        self.started = True
        if self._data is not None:
            if len(self._data) > limit:
                raise MalformedChunkedBody("Your proposed upload exceeds the maximum allowed size",
                                           code="EntityTooLarge")
            if self._data:
                yield self._data
            return
        if self._raw is None:
            return
        source = self._raw.chunks(limit)
        if self.chunked:
            async for piece in self._dechunk(source):
                yield piece
            return
        sig = self._signature
        hasher = hashlib.sha256() if sig is not None and sig.expected_body_hash is not None else None
        async for piece in source:
            if hasher is not None:
                hasher.update(piece)
            yield piece
        if hasher is not None and sig is not None:
            _finish(sig, hasher.hexdigest())

    async def _dechunk(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        sig = self._signature
        signed = self.mode in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER) and sig is not None
        previous = sig.seed_signature if sig is not None else ""
        reader = _Buffered(source)
        while True:
            line = await reader.line()
            size_text, _, ext = line.partition(";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError:
                raise MalformedChunkedBody("The request body is not valid aws-chunked encoding.") from None
            if size < 0 or size > MAX_CHUNK:
                raise MalformedChunkedBody("An aws-chunked chunk is larger than this server accepts.")
            data = await reader.exactly(size)
            if signed and sig is not None:
                claimed = ext.partition("chunk-signature=")[2].strip()
                expected = sig.chunk_signature(previous, hashlib.sha256(data).hexdigest())
                if not hmac.compare_digest(claimed.encode(), expected.encode()):
                    raise AuthError(_BAD_CHUNK, code="SignatureDoesNotMatch", status=403)
                previous = expected
            if size == 0:
                break
            if await reader.line() != "":
                raise MalformedChunkedBody("An aws-chunked chunk does not end where its size says.")
            yield data
        # Trailing headers (checksums), then an empty line; a body without a trailer may just end.
        trailer_lines: list[str] = []
        claimed_trailer = ""
        while True:
            trailer = await reader.line_or_eof()
            if trailer is None or trailer == "":
                break
            name, _, value = trailer.partition(":")
            if name.strip().lower() == "x-amz-trailer-signature":
                claimed_trailer = value.strip()
                continue
            trailer_lines.append(f"{name.strip().lower()}:{value.strip()}\n")
            self.trailers[name.strip().lower()] = value.strip()
        if self.mode == sigv4.STREAMING_SIGNED_TRAILER and sig is not None:
            expected = sig.trailer_signature(previous, hashlib.sha256("".join(trailer_lines).encode()).hexdigest())
            if not hmac.compare_digest(claimed_trailer.encode(), expected.encode()):
                raise AuthError(_BAD_CHUNK, code="SignatureDoesNotMatch", status=403)


_BAD_CHUNK = ("The request signature we calculated does not match the signature you provided. Check your key "
              "and signing method.")


def _finish(sig: sigv4.PendingSignature, body_hash: str) -> None:
    try:
        sig.finish(body_hash)
    except sigv4.SigV4Error as exc:
        raise AuthError(exc.message, code=exc.code, status=exc.status) from None


class _Buffered:
    """Lines and exact byte counts over an iterator of arbitrary pieces."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self._buf = bytearray()
        self._done = False

    async def _more(self) -> bool:
        if self._done:
            return False
        try:
            self._buf += await anext(self._source)
        except StopAsyncIteration:
            self._done = True
            return False
        return True

    async def line(self) -> str:
        found = await self.line_or_eof(eof_ok=False)
        assert found is not None
        return found

    async def line_or_eof(self, *, eof_ok: bool = True) -> str | None:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                text = bytes(self._buf[:end]).decode("latin-1")
                del self._buf[:end + 2]
                return text
            if len(self._buf) > _MAX_LINE:
                raise MalformedChunkedBody("An aws-chunked header line is too long.")
            if not await self._more():
                if eof_ok and not self._buf:
                    return None
                raise MalformedChunkedBody("The aws-chunked body ended early.")

    async def exactly(self, size: int) -> bytes:
        while len(self._buf) < size:
            if not await self._more():
                raise MalformedChunkedBody("The aws-chunked body ended early.")
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data
