"""HTTP_PROXY integrations: one request forwarded to an HTTP(S) URL and its answer passed back.

A plain HTTP/1.1 exchange on a connection of its own (`Connection: close`), on the server's loop.
The destination is resolved once and the connection made to that address (so a name cannot resolve
to one address for the check and another for the connection); loopback, private, link-local and
other non-global addresses are refused unless the operator allows them
(`--apigateway-private-integrations`): any account can create an integration, and the server must not
become a way into its own host's network. Answers are capped at MAX_RESPONSE.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from lambdad.errors import LambdadError
from lambdad.frontdoors import proxy

MAX_RESPONSE = 10 * 1024 * 1024
_SKIP_REQUEST = proxy.HOP_BY_HOP | {"host", "content-length", "expect"}
_SKIP_RESPONSE = proxy.HOP_BY_HOP | {"content-length"}


class ForwardFailed(LambdadError):
    """The destination could not be reached, refused, or answered something that is not HTTP."""


class DestinationRefused(ForwardFailed):
    """The destination's address is not one integrations may reach."""


async def _address(host: str, port: int, allow_private: bool) -> str:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ForwardFailed(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if allow_private or ip.is_global:
            return address
    raise DestinationRefused(f"{host} resolves to no address integrations may reach")


def _chunked(data: bytes) -> bytes:
    out = bytearray()
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            raise ForwardFailed("truncated chunked body")
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError as exc:
            raise ForwardFailed("bad chunk size") from exc
        if size == 0:
            return bytes(out)
        out += rest[:size]
        data = rest[size + 2:]


async def forward(url: str, method: str, headers: list[tuple[str, str]], body: bytes, *, timeout: float,
                  allow_private: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of the destination's answer; ForwardFailed, or TimeoutError past `timeout`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForwardFailed(f"not an HTTP URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    async with asyncio.timeout(timeout):
        address = await _address(parts.hostname, port, allow_private)
        context = ssl.create_default_context() if parts.scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=parts.hostname if context else None)
        except OSError as exc:
            raise ForwardFailed(f"cannot connect to {parts.hostname}:{port}: {exc}") from exc
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            host = parts.hostname + (f":{parts.port}" if parts.port else "")
            lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close",
                     f"Content-Length: {len(body)}"]
            lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _SKIP_REQUEST and "\n" not in v + k]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body)
            await writer.drain()
            data = await reader.read(MAX_RESPONSE + 65536)
            while data and len(data) <= MAX_RESPONSE + 65536:
                more = await reader.read(65536)
                if not more:
                    break
                data += more
        except OSError as exc:
            raise ForwardFailed(f"the exchange with {parts.hostname} failed: {exc}") from exc
        finally:
            writer.close()
    head, sep, payload = data.partition(b"\r\n\r\n")
    if not sep:
        raise ForwardFailed("no HTTP answer")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise ForwardFailed(f"not an HTTP status line: {status_line[:80]!r}") from exc
    out: list[tuple[bytes, bytes]] = []
    chunked = False
    for line in header_lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        if key and key not in _SKIP_RESPONSE:
            out.append((key.encode("latin-1"), value.strip().encode("latin-1")))
    if chunked:
        payload = _chunked(payload)
    if len(payload) > MAX_RESPONSE:
        raise ForwardFailed("the answer is larger than 10 MB")
    return status, out, payload
