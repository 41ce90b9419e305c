"""The HTTP Runtime API (AWS's `2018-06-01` interface) for environments whose program speaks it.

Custom runtimes (`provided*`, a `bootstrap` in any language) and the official runtime interface
clients (awslambdaric, aws-lambda-ric) poll `GET /2018-06-01/runtime/invocation/next` and answer
with `POST .../invocation/{id}/response|error`, or report `POST .../init/error`.

Each environment gets its own listener on 127.0.0.1 and an ephemeral port (its
`AWS_LAMBDA_RUNTIME_API`); a listener only ever carries its own environment's invocations, and it
accepts a connection only when the kernel says the connecting socket belongs to the environment's
uid and is held open by a process in the environment's cgroup (sockdiag), so no other environment
can fetch or answer its invocations (not even one that somehow still runs with the same uid), and
other local users cannot either.

HttpRuntimeEnvironment is an Environment whose events (init done, init error, result, error) come
from these calls instead of frames, so everything above it is unchanged.

Error replies follow AWS's Runtime API: only a runtime that breaks the protocol (unknown request
id, answering twice, a body over the limit) ever gets a 4xx; a healthy runtime only sees 200/202.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from typing import Any

import httptools

from lambdad import safejson
from lambdad.runtime.environment import Environment, EnvState
from lambdad.runtime.guest import frames
from lambdad.runtime.sockdiag import PeerUids, held_in_cgroup

log = logging.getLogger("lambdad.runtime_api")

PREFIX = b"/2018-06-01/runtime/"
MAX_CONNECTIONS = 32  # per environment; a runtime needs one or two
MAX_HEAD = 64 * 1024  # request line and headers: a function cannot make the server hoard its bytes
MAX_QUEUED = 8  # pipelined requests waiting behind one being answered
_OK = b'{"status":"OK"}'
_REASONS = {100: b"Continue", 200: b"OK", 202: b"Accepted", 400: b"Bad Request", 403: b"Forbidden",
            404: b"Not Found", 405: b"Method Not Allowed", 413: b"Request Entity Too Large"}


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _max_rss_kib(pid: int) -> int:
    """Peak resident memory of the environment's main process (VmHWM), for the REPORT line."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    at = data.find(b"VmHWM:")
    if at < 0:
        return 0
    try:
        return int(data[at + 6:data.index(b"kB", at)])
    except ValueError:
        return 0


class _Request:
    __slots__ = ("body", "headers", "method", "path", "too_large")

    def __init__(self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes,
                 too_large: bool) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.too_large = too_large  # the body went over the limit and was dropped


class _Connection(asyncio.Protocol):
    """One TCP connection from the runtime: httptools parsing, requests handled one at a time."""

    def __init__(self, env: HttpRuntimeEnvironment) -> None:
        self.env = env
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._head = 0
        self._too_large = False
        self._queue: collections.deque[_Request] = collections.deque()
        self._busy = False  # a request is being answered (e.g. a parked /next)
        self._keep_alive = True

    # -- asyncio ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.env._admit(self, transport):
            transport.abort()  # type: ignore[attr-defined]
            self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400)
        except httptools.HttpParserError:
            self._fail(400)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.env._forget(self)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._head = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value
        self._count_head(len(name) + len(value))

    def _count_head(self, n: int) -> None:
        self._head += n
        if self._head > MAX_HEAD:
            raise httptools.HttpParserError("request head too large")

    def on_headers_complete(self) -> None:
        limit = self.env.max_body
        length = self._headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            self._too_large = True
        elif self._headers.get(b"expect", b"").lower() == b"100-continue" and self.transport is not None:
            # curl waits a second for this before sending any body over 1 KiB.
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.env.max_body:
            self._too_large = True
        if not self._too_large:
            self._body.append(chunk)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        self._keep_alive = self.parser.should_keep_alive()
        if len(self._queue) >= MAX_QUEUED:
            raise httptools.HttpParserError("too many pipelined requests")
        self._queue.append(_Request(method, self._url, self._headers, b"".join(self._body), self._too_large))
        self._body = []
        self._next_request()

    # -- replies ---------------------------------------------------------------------------
    def _next_request(self) -> None:
        while self._queue and not self._busy and self.transport is not None:
            self._busy = True
            self.env._handle(self, self._queue.popleft())

    def reply(self, status: int, body: bytes, headers: bytes = b"", close: bool = False) -> None:
        self._busy = False
        transport = self.transport
        if transport is None:
            return
        close = close or not self._keep_alive
        transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s%s\r\n%s" % (
            status, _REASONS.get(status, b"Error"), len(body), headers,
            b"Connection: close\r\n" if close else b"", body))
        if close:
            transport.close()
            self.transport = None
        else:
            self._next_request()

    def _fail(self, status: int) -> None:
        self._queue.clear()
        self._busy = False
        self.reply(status, _error_body("InvalidRequest", _REASONS.get(status, b"").decode()), close=True)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class HttpRuntimeEnvironment(Environment):
    """An environment whose program speaks the HTTP Runtime API on its own loopback listener."""

    def __init__(self, env_id: str, spec: dict[str, Any], kill_fn: Any, *, peer_uid: int | None,
                 peers: PeerUids, max_response: int, peer_procs: str | None = None) -> None:
        super().__init__(env_id, spec, kill_fn)
        #: the uid every connection must come from (None: no check possible)
        self.peer_uid = peer_uid if peers.available else None
        #: the cgroup.procs whose processes must hold the connecting socket (None: no cgroups)
        self.peer_procs = peer_procs if self.peer_uid is not None else None
        self._peers = peers
        self.max_body = max_response
        self.address = ""
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[_Connection] = set()
        self._refused = 0
        self._started = time.perf_counter()
        self._init_done = False
        self._pending: tuple[dict[str, Any], bytes] | None = None  # not yet fetched by /next
        self._current: str | None = None  # request id fetched and not yet answered
        self._answered: collections.deque[str] = collections.deque(maxlen=8)
        self._parked: collections.deque[_Connection] = collections.deque()  # waiting in /next
        self._ready_waiter: asyncio.Future[bool] | None = None

    async def listen(self) -> str:
        """Open the listener; returns host:port for AWS_LAMBDA_RUNTIME_API."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", 0, backlog=16)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        self._started = time.perf_counter()
        return self.address

    # -- connections -----------------------------------------------------------------------
    def _admit(self, conn: _Connection, transport: asyncio.BaseTransport) -> bool:
        if self.state is EnvState.DEAD or len(self._conns) >= MAX_CONNECTIONS:
            return False
        if self.peer_uid is not None:
            peer = transport.get_extra_info("peername")
            local = transport.get_extra_info("sockname")
            owner = self._peers.owner_of(peer, local) if peer and local else None
            uid = owner[0] if owner else None
            why = ""
            if uid != self.peer_uid:
                why = f"from uid {uid} (expects {self.peer_uid})"
            elif self.peer_procs is not None and owner and not held_in_cgroup(owner[1], self.peer_procs):
                why = f"from uid {uid} by no process of the environment's cgroup"
            if why:
                if not self._refused:  # once per environment: refusals must not flood the server log
                    log.warning("runtime API of environment %s refused a connection %s", self.id, why)
                self._refused += 1
                return False
        self._conns.add(conn)
        return True

    def _forget(self, conn: _Connection) -> None:
        self._conns.discard(conn)
        try:
            self._parked.remove(conn)
        except ValueError:
            pass

    # -- the API ---------------------------------------------------------------------------
    def _handle(self, conn: _Connection, req: _Request) -> None:
        path = req.path.split(b"?", 1)[0]
        if not path.startswith(PREFIX):
            conn.reply(404, _error_body("NotFound", "404 page not found"))
            return
        route = path[len(PREFIX):].split(b"/")
        if req.too_large:
            self._too_large(conn, route)
            return
        if route == [b"invocation", b"next"]:
            if req.method != b"GET":
                conn.reply(405, _error_body("MethodNotAllowed", "Method not allowed"))
            else:
                self._next(conn)
        elif len(route) == 3 and route[0] == b"invocation" and route[2] in (b"response", b"error"):
            if req.method != b"POST":
                conn.reply(405, _error_body("MethodNotAllowed", "Method not allowed"))
            else:
                self._answer(conn, route[1].decode("utf-8", "replace"), route[2] == b"response", req)
        elif route == [b"init", b"error"]:
            if req.method != b"POST":
                conn.reply(405, _error_body("MethodNotAllowed", "Method not allowed"))
            else:
                self._init_error(conn, req)
        else:
            conn.reply(404, _error_body("NotFound", "404 page not found"))

    def _next(self, conn: _Connection) -> None:
        if not self._init_done:
            self._init_done = True
            init_ms = (time.perf_counter() - self._started) * 1000.0
            self._on_frame(frames.INIT_DONE, json.dumps({"init_ms": init_ms}).encode())
        self._parked.append(conn)
        self._dispatch()
        if self._parked:
            self._set_ready(True)

    # As on Lambda, an environment takes its next invocation once the runtime asks for it: a
    # runtime that answers and then exits (aws-lambda-ric on an uncaught exception) is never
    # handed a second one.
    @property
    def ready(self) -> bool:
        return bool(self._parked)

    async def wait_ready(self) -> bool:
        if self.state is not EnvState.IDLE:
            return False
        if self._parked:
            return True
        self._ready_waiter = fut = asyncio.get_running_loop().create_future()
        try:
            # It should come straight back; one that does not within the function's timeout is stuck.
            ready = await asyncio.wait_for(fut, float(self.spec.get("timeout", 3)))
        except TimeoutError:
            ready = False
        finally:
            self._ready_waiter = None
        if not ready:
            self.kill()
        return ready and self.state is EnvState.IDLE

    def _set_ready(self, ready: bool) -> None:
        fut = self._ready_waiter
        if fut is not None and not fut.done():
            fut.set_result(ready)

    def _deliver(self, header: dict[str, Any], payload: bytes) -> None:
        self._pending = (header, payload)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._pending is not None and self._parked:
            conn = self._parked.popleft()
            if conn.transport is None:
                continue
            header, payload = self._pending
            self._pending = None
            self._current = header["id"]
            extra = [b"Lambda-Runtime-Aws-Request-Id: ", header["id"].encode(),
                     b"\r\nLambda-Runtime-Deadline-Ms: ", str(header["deadline"]).encode(),
                     b"\r\nLambda-Runtime-Invoked-Function-Arn: ", header["arn"].encode(),
                     b"\r\nLambda-Runtime-Trace-Id: ", header.get("trace", "").encode(), b"\r\n"]
            if header.get("client_context") is not None:
                extra += [b"Lambda-Runtime-Client-Context: ", _json_header(header["client_context"]), b"\r\n"]
            if header.get("identity") is not None:
                extra += [b"Lambda-Runtime-Cognito-Identity: ", _json_header(header["identity"]), b"\r\n"]
            if header.get("tenant_id"):
                extra += [b"Lambda-Runtime-Aws-Tenant-Id: ", header["tenant_id"].encode(), b"\r\n"]
            conn.reply(200, payload or b"{}", b"".join(extra))

    def _answer(self, conn: _Connection, request_id: str, ok: bool, req: _Request) -> None:
        if request_id != self._current:
            if request_id in self._answered:
                conn.reply(403, _error_body(
                    "InvalidStateTransition", "State transition from RuntimeResponseSentState to "
                    f"{'InvocationResponse' if ok else 'InvocationErrorResponse'} failed for runtime. "
                    "Error: State transition is not allowed"))
            else:
                conn.reply(400, _error_body("InvalidRequestID", "Invalid request ID"))
            return
        self._current = None
        self._answered.append(request_id)
        conn.reply(202, _OK)
        rss = frames.U32.pack(_max_rss_kib(self.pid))
        if ok:
            self._on_frame(frames.RESULT, rss + req.body)
        else:
            self._on_frame(frames.ERROR, rss + _error_payload(req))

    def _init_error(self, conn: _Connection, req: _Request) -> None:
        if self._init_done:
            conn.reply(403, _error_body(
                "InvalidStateTransition", "State transition from Ready to InitError failed for runtime. "
                "Error: State transition is not allowed"))
            return
        conn.reply(202, _OK)
        self._init_done = True
        self._on_frame(frames.INIT_ERROR, _error_payload(req))

    def _too_large(self, conn: _Connection, route: list[bytes]) -> None:
        limit = self.max_body
        conn.reply(413, _error_body("RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({limit} "
                                                             "bytes)."))
        if len(route) == 3 and route[0] == b"invocation" and route[1].decode("utf-8", "replace") == self._current:
            self._answered.append(self._current)
            self._current = None
            self._on_frame(frames.ERROR, frames.U32.pack(_max_rss_kib(self.pid)) + _error_body(
                "Function.ResponseSizeTooLarge",
                f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."))

    # -- lifecycle -------------------------------------------------------------------------
    def _on_channel_closed(self) -> None:
        """The framed channel closes when the program is exec'd; its death comes from on_exit."""

    def kill(self) -> None:
        super().kill()
        self._set_ready(False)

    def on_exit(self, info: dict[str, Any]) -> None:
        # The listener goes with the process (this was `_close_fds`, a hook the base class never had:
        # every custom-runtime environment leaked its listening socket; mypy found it).
        super().on_exit(info)
        self._set_ready(False)
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            conn.close()
        self._conns.clear()
        self._parked.clear()


def _json_header(value: Any) -> bytes:
    if isinstance(value, (bytes, str)):
        value = value.encode() if isinstance(value, str) else value
        return value.replace(b"\r", b"").replace(b"\n", b"")
    return json.dumps(value, separators=(",", ":")).encode()


def _error_payload(req: _Request) -> bytes:
    """The error a runtime reported, as the caller will see it: its own JSON, or one built around it."""
    body = req.body
    try:
        if isinstance(safejson.loads(body), dict):
            return body
    except ValueError:
        pass
    error_type = req.headers.get(b"lambda-runtime-function-error-type", b"Runtime.Unknown").decode("utf-8", "replace")
    return json.dumps({"errorType": error_type, "errorMessage": body.decode("utf-8", "replace")}).encode()


__all__ = ["HttpRuntimeEnvironment", "PeerUids"]
