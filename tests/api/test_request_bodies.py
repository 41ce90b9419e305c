"""Request bodies are read only once the caller has shown who it is.

Unsigned or wrongly signed requests are answered without their body being read (or, when only the
body's hash can tell, with no more than a small part of it in memory), so a crowd of unauthenticated
uploads cannot make the server hold them; signed large uploads still work.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import re
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdad.api.http_protocol import RequestBody, Spool, SpoolFull
from tests.conftest import ACCESS_KEY, REGION, ROLE, SECRET_KEY, Server, running_server, unique

BODY = 60 * 1024 * 1024
CHUNK = 256 * 1024
CONNECTIONS = 12
PATH = "/2015-03-31/functions"


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module's own, so its memory is only what these requests made it use."""
    yield from running_server(tmp_path_factory, "bodies")


def _status_kb(pid: int, field: str) -> int:
    text = open(f"/proc/{pid}/status").read()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    assert match, text
    return int(match.group(1))


def _signed_headers(endpoint: str, body: bytes, *, secret: str = SECRET_KEY, key: str = ACCESS_KEY,
                    extra: dict[str, str] | None = None) -> dict[str, str]:
    request = AWSRequest("POST", f"{endpoint}{PATH}", data=body, headers=dict(extra or {}))
    SigV4Auth(Credentials(key, secret), "lambda", REGION).add_auth(request)
    return dict(request.headers.items())


class Upload(threading.Thread):
    """One connection that declares a BODY-byte request and trickles the body, while its answer is
    awaited; records how much it had sent when the answer came."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.headers = headers
        self.sent = 0
        self.sent_at_answer: int | None = None
        self.answer = b""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=120)
            head = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {BODY}",
                    "Content-Type: application/json"]
            head += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() not in ("content-length", "host")]
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            reader = threading.Thread(target=self._read, args=(sock,), daemon=True)
            reader.start()
            chunk = b"x" * CHUNK
            try:
                while self.sent < BODY and self.sent_at_answer is None:
                    sock.sendall(chunk)
                    self.sent += CHUNK
                    time.sleep(0.002)  # a slow client, not a fast one
            except OSError:
                pass  # the server answered and closed the connection
            reader.join(120)
            sock.close()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _read(self, sock: socket.socket) -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        self.sent_at_answer = self.sent
        self.answer = data

    @property
    def status(self) -> int:
        match = re.match(rb"HTTP/1.1 (\d{3})", self.answer)
        assert match, self.answer[:200]
        return int(match.group(1))


def _run(uploads: list[Upload], pid: int) -> int:
    """Start the uploads together; the server's peak RSS growth (kB) while they run."""
    base = _status_kb(pid, "VmRSS")
    peak = base
    for upload in uploads:
        upload.start()
    while any(u.is_alive() for u in uploads):
        peak = max(peak, _status_kb(pid, "VmRSS"))
        time.sleep(0.02)
    for upload in uploads:
        assert upload.error is None, upload.error
    return peak - base


def test_unauthenticated_uploads_are_refused_unread(own_server: Server) -> None:
    assert own_server.proc is not None
    pid = own_server.proc.pid
    endpoint = own_server.endpoint
    declared = {"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()}
    kinds = [
        {},  # no signature at all
        _signed_headers(endpoint, b"", key="AKIANOSUCHKEY0000000"),  # a key the server does not know
        _signed_headers(endpoint, b"", secret="not-the-secret", extra=declared),  # declared hash, wrong secret
        {**_signed_headers(endpoint, b""), "X-Amz-Date": "20000101T000000Z"},  # stale
    ]
    uploads = [Upload(own_server.port, kinds[i % len(kinds)]) for i in range(CONNECTIONS)]
    growth = _run(uploads, pid)
    for upload in uploads:
        assert upload.status in (400, 403), upload.answer[:300]
        # Answered while the body was still arriving: nothing waited for (or read) the 60 MB.
        assert upload.sent_at_answer is not None and upload.sent_at_answer < BODY, upload.answer[:300]
    assert growth < 300 * 1024, f"the server grew {growth // 1024} MB"
    assert httpx.get(f"{endpoint}/_lambdad/health", timeout=30).status_code == 200


def test_uploads_with_a_known_key_but_a_wrong_signature_are_not_held_in_memory(own_server: Server) -> None:
    # Only the body's hash can show these signatures are wrong (boto3 declares no payload hash
    # for Lambda), so the server reads the bodies: to disk past a small part, then refuses them.
    assert own_server.proc is not None
    pid = own_server.proc.pid
    uploads = [Upload(own_server.port, _signed_headers(own_server.endpoint, b"{}", secret="not-the-secret"))
               for _ in range(CONNECTIONS)]
    growth = _run(uploads, pid)
    for upload in uploads:
        assert upload.status == 403, upload.answer[:300]
        assert b"InvalidSignatureException" in upload.answer
    assert growth < 300 * 1024, f"the server grew {growth // 1024} MB"
    spool = own_server.data_dir / "spool"
    assert spool.is_dir() and not os.listdir(spool)  # nothing left behind


def test_unsigned_bodies_are_small(own_server: Server) -> None:
    big = httpx.post(f"{own_server.endpoint}{PATH}", content=b"{" + b" " * (1 << 20) + b"}", timeout=30)
    assert big.status_code == 403
    assert big.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_declared_payload_hash_is_checked_while_reading(own_server: Server) -> None:
    body = json.dumps({"FunctionName": "x"}).encode()
    headers = _signed_headers(own_server.endpoint, body,
                              extra={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    swapped = body.replace(b'"x"', b'"y"')
    response = httpx.post(f"{own_server.endpoint}{PATH}", content=swapped, headers=headers, timeout=30)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "XAmzContentSHA256Mismatch"


def _big_zip(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return 'big'\n")
        zf.writestr("blob.bin", os.urandom(size))  # random: the zip is as large as its content
    return buf.getvalue()


def test_signed_50mb_create_function_still_works(own_server: Server) -> None:
    data = _big_zip(49 * 1024 * 1024)
    assert len(base64.b64encode(data)) > 64 * 1024 * 1024  # a body far past any unverified bound
    lam = own_server.client("lambda")
    name = unique("big")
    out = lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                              Code={"ZipFile": data})
    assert out["CodeSha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    result: Any = lam.invoke(FunctionName=name)
    assert result["Payload"].read() == b'"big"'


# -- the spool, driven through the ASGI receive interface ----------------------------------------------


def _receiver(data: bytes, chunk: int = 65536) -> Any:
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]

    async def receive() -> dict[str, Any]:
        part = parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    return receive


def _scope(size: int) -> dict[str, Any]:
    return {"headers": [(b"content-length", str(size).encode())]}


def test_spooled_bodies_are_bounded_on_disk_too(tmp_path: Any) -> None:
    spool = Spool(str(tmp_path), 1024 * 1024)
    data = os.urandom(900 * 1024)
    hasher = hashlib.sha256()
    got = asyncio.run(RequestBody(_scope(len(data)), _receiver(data)).read(
        BODY, hasher=hasher, spool=spool, spool_after=256 * 1024))
    assert got == data and hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert spool.used == 0 and not os.listdir(tmp_path)

    big = os.urandom(2 * 1024 * 1024)
    with pytest.raises(SpoolFull):
        asyncio.run(RequestBody(_scope(len(big)), _receiver(big)).read(BODY, spool=spool, spool_after=256 * 1024))
    assert spool.used == 0 and not os.listdir(tmp_path)

    class Refused(Exception):
        pass

    def refuse() -> None:
        raise Refused

    with pytest.raises(Refused):  # checked once the last byte is in, before the body is loaded
        asyncio.run(RequestBody(_scope(len(data)), _receiver(data)).read(
            BODY, spool=spool, spool_after=256 * 1024, on_complete=refuse))
    assert spool.used == 0
