"""A raw keep-alive HTTP/1.1 client: sends prepared bytes, parses just enough of the answer.

Used for latency so the figure is the server's round trip plus a few microseconds of parsing that is
the same for lambdad and for its baselines (no client library, no signing in the measured loop).
"""

from __future__ import annotations

import gc
import socket
import time
from dataclasses import dataclass


class HttpError(Exception):
    """The connection closed or the answer was not HTTP/1.1 we understand."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class RawClient:
    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._buf = b""

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> RawClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, raw: bytes) -> Response:
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.sendall(raw)
        response = self._read_response()
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    def _recv(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise HttpError("connection closed by the server")
        self._buf += chunk

    def _read_response(self) -> Response:
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            self._recv()
        head = self._buf[:end].decode("latin-1").split("\r\n")
        self._buf = self._buf[end + 4:]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"not an HTTP/1.x status line: {head[0]!r}")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            size = int(headers["content-length"])
            while len(self._buf) < size:
                self._recv()
            body, self._buf = self._buf[:size], self._buf[size:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = b""
        return Response(int(parts[1]), headers, body)

    def _read_chunked(self) -> bytes:
        pieces = []
        while True:
            while (eol := self._buf.find(b"\r\n")) < 0:
                self._recv()
            size = int(self._buf[:eol].split(b";")[0], 16)
            while len(self._buf) < eol + 2 + size + 2:
                self._recv()
            pieces.append(self._buf[eol + 2:eol + 2 + size])
            self._buf = self._buf[eol + 2 + size + 2:]
            if size == 0:
                return b"".join(pieces)


def round_trips(client: RawClient, raw: bytes, count: int, expect_status: int = 200) -> list[float]:
    """`count` sequential requests on one keep-alive connection; milliseconds each."""
    samples = []
    perf = time.perf_counter_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection in the client would land in someone's p99
    try:
        for _ in range(count):
            started = perf()
            response = client.request(raw)
            samples.append((perf() - started) / 1e6)
            if response.status != expect_status:
                raise HttpError(f"status {response.status}: {response.body[:300]!r}")
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


async def async_request(host: str, port: int, raw: bytes) -> Response:
    """One request on a new connection (asyncio), for many concurrent slow invocations."""
    import asyncio

    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            pieces = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                pieces.append((await reader.readexactly(size + 2))[:size])
                if size == 0:
                    break
            body = b"".join(pieces)
        return Response(int(head[0].split(" ", 2)[1]), headers, body)
    finally:
        writer.close()
