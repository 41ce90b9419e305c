"""The one ASGI app on the one port: authentication, then dispatch by service.

The service is read from the SigV4 credential scope (every AWS SDK signs), then `X-Amz-Target`, then
the query `Action`; lambdad's own endpoints live under `/_lambdad/`. `AsgiApp` is what uvicorn
serves: its lifespan enters the server (`Lambdad`, which builds the `Router`) and leaves it at
shutdown; every request then goes to the Router.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from lambdad.api import landing, refusals
from lambdad.api.base import ApiRequest, ApiResponse, Service, json_error
from lambdad.api.http_protocol import BodyTooLarge, ClientDisconnected, RequestBody, Spool, SpoolFull
from lambdad.api.streaming import StreamedBody
from lambdad.auth import sigv4
from lambdad.auth.authn import Authenticator
from lambdad.auth.principal import Principal
from lambdad.errors import (
    ApiError,
    AuthError,
    LambdadError,
    RequestTooLargeException,
    ServiceException,
    TooManyRequestsException,
)
from lambdad.store.errors import StoreError

if TYPE_CHECKING:
    from lambdad.api.audit import AuditLog
    from lambdad.api.own_endpoints import OwnEndpoints

log = logging.getLogger("lambdad.api")

ErrorRenderer = Callable[[ApiError, ApiRequest], ApiResponse]

# Largest request body read at all: a sync payload of 6 MB arrives base64-free, a 50 MB zip as
# base64 inside JSON (4/3 larger).
MAX_BODY = 70 * 1024 * 1024
# Largest body of a request that names no signer: SNS's anonymous confirmation links, lambdad's own
# endpoints, and whatever an unsigned caller sends before it is refused.
ANONYMOUS_MAX_BODY = 64 * 1024
# Most of a body held in memory before its signature is checked; the rest of a larger one waits on
# disk (in the data dir) until the whole body has arrived and its hash shows who sent it.
UNVERIFIED_IN_MEMORY = 256 * 1024
# Most bytes of such bodies waiting on disk at once (across requests): past it they are answered 429.
SPOOL_BYTES = 2 * 1024 * 1024 * 1024
_S3_PATH = re.compile(r"/(?!20\d\d-\d\d-\d\d)[a-z0-9][a-z0-9.-]{2,62}(/|$)")
_QUERY_VERSIONS = {b"2010-05-08": "iam", b"2011-06-15": "sts", b"2012-11-05": "sqs", b"2010-03-31": "sns",
                   b"2016-11-15": "ec2", b"2010-08-01": "monitoring"}
# lambdad's own endpoint outside /_lambdad/: what Prometheus scrapes by default (unsigned GETs only, so a
# signed GET /metrics still lists the S3 bucket of that name).
PROMETHEUS_PATH = "/metrics"


class FrontDoor(Protocol):
    """Plain HTTP on the API port that is not an AWS API call (function URLs, by Host header)."""

    def matches(self, request: ApiRequest) -> bool: ...

    async def __call__(self, request: ApiRequest, body: RequestBody) -> ApiResponse: ...


class ServiceWithoutAuthorization(LambdadError):
    """A service was registered without an authorization hook while authentication is on: the
    server refuses to start rather than serve it unauthorized."""


class Router:
    """Every request of the API port: front doors, lambdad's own endpoints, then SigV4 and a service."""

    def __init__(self, authenticator: Authenticator, own_endpoints: OwnEndpoints, spool: Spool, *,
                 default_region: str, audit: AuditLog | None = None) -> None:
        self.authenticator = authenticator
        self.default_region = default_region
        self.own_endpoints = own_endpoints
        self.spool = spool  # bodies waiting for their signature check (api/http_protocol.py)
        self.audit = audit
        self.services: dict[str, Service] = {}
        self.error_renderers: dict[str, ErrorRenderer] = {}
        self.front_doors: list[FrontDoor] = []
        self.anonymous: list[tuple[str, Callable[[ApiRequest], bool]]] = []
        # X-Amz-Target prefixes and RPC v2 service names (`/service/<name>/...`) -> the service, so that
        # an unsigned request is refused in its service's protocol (a service lists its `target_prefixes`).
        self.targets: dict[str, str] = {}
        self.console_path: str | None = None  # the web console's link on the `GET /` page, once there is one

    def add_service(self, name: str, service: Service, errors: ErrorRenderer | None = None) -> None:
        """Serve `name` (the SigV4 scope's service). With authentication on, the service must carry its
        authorization hook: one without is refused here, so the server fails to start, never open."""
        if self.authenticator.enabled and service.authorize is None:
            raise ServiceWithoutAuthorization(
                f"service {name!r} has no authorization hook; refusing to serve it with authentication on")
        self.services[name] = service
        for prefix in getattr(service, "target_prefixes", ()):
            self.targets[prefix] = name
        if errors is not None:
            self.error_renderers[name] = errors

    def add_front_door(self, door: FrontDoor) -> None:
        self.front_doors.append(door)

    def add_anonymous(self, service: str, matches: Callable[[ApiRequest], bool]) -> None:
        """Serve unsigned requests that `matches` by `service` without a principal (AWS serves
        SNS's SubscribeURL and UnsubscribeURL that way)."""
        self.anonymous.append((service, matches))

    async def handle(self, scope: dict[str, Any], body: RequestBody) -> ApiResponse | None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key in headers:
                headers[key] += "," + value.decode("latin-1")
            else:
                headers[key] = value.decode("latin-1")
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        request = ApiRequest(scope["method"], scope["path"], raw_path, scope["query_string"].decode("latin-1"),
                             headers, b"", scope.get("client"), region=self.default_region,
                             header_lines=scope["headers"])
        error_code = ""
        try:
            try:
                if body.declared is not None and body.declared > MAX_BODY and not self._streamed(request):
                    raise BodyTooLarge  # more than any request may send, whoever sends it
                front = next((door for door in self.front_doors if door.matches(request)), None)
                if front is not None:
                    response = await front(request, body)  # function URLs answer with a request id too
                elif landing.is_landing(request):  # a browser's or curl's plain GET / (api/landing.py)
                    response = landing.page(request, self.console_path)
                elif request.path.startswith("/_lambdad/") or self._prometheus(request):
                    request.body = await body.read(ANONYMOUS_MAX_BODY)
                    return await self.own_endpoints.handle(request, self.authenticate)
                else:
                    service = await self._authenticate_and_read(request, body)
                    handler = self.services.get(service)
                    request.service = service
                    if handler is None:  # answered in that service's own protocol (api/refusals.py)
                        refusal, response = refusals.unserved(request, service)
                        error_code = refusal.code
                    else:
                        response = await handler.dispatch(request)
            except ClientDisconnected:
                return None
            except BodyTooLarge:
                raise RequestTooLargeException("Request must be smaller than 6291456 bytes for the "
                                               "InvokeFunction operation") from None
        except ApiError as exc:
            error_code = exc.code
            response = self._render_error(exc, request)
        except StoreError as exc:  # the storage beneath failed: AWS's 500 for a failure on its side
            log.error("store failure for %s %s: %s", request.method, request.path, exc)
            error_code = "ServiceException"
            response = self._render_error(ServiceException(str(exc)), request)
        except Exception as exc:  # a bug: answer like AWS's ServiceException, keep serving
            log.exception("unhandled error for %s %s", request.method, request.path)
            error_code = "ServiceException"
            response = self._render_error(ServiceException(f"Internal error: {type(exc).__name__}"), request)
        if not any(name == b"x-amzn-requestid" for name, _ in response.headers):
            response.headers.append((b"x-amzn-requestid", request.request_id.encode()))
        if self.audit is not None:
            self.audit.record(request, response.status, error_code)
        return response

    def _render_error(self, exc: ApiError, request: ApiRequest) -> ApiResponse:
        renderer = self.error_renderers.get(request.service)
        if renderer is not None:
            return renderer(exc, request)
        if request.service and request.service not in self.services:  # e.g. a bad signature for EC2
            return refusals.render(refusals.identify(request, request.service), exc, request.request_id)
        return json_error(exc, request.request_id)

    def _prometheus(self, request: ApiRequest) -> bool:
        return (request.path == PROMETHEUS_PATH and request.method == "GET" and self.own_endpoints is not None
                and "authorization" not in request.headers and "X-Amz-Credential" not in request.query)

    def _streamed(self, request: ApiRequest) -> bool:
        """Whether the request names (by its signature's scope) a service that takes its body as a stream."""
        scope = sigv4.parse_scope(request.headers, request.query)
        handler = self.services.get(scope.service) if scope is not None else None
        return bool(getattr(handler, "streams_body", False))

    async def _authenticate_stream(self, request: ApiRequest, body: RequestBody) -> str:
        """Authenticate a request whose service reads the body itself: the signature is checked as far
        as the headers go, and what it says of the payload is checked as the body streams
        (api/streaming.py). A signature over the body's own hash (no x-amz-content-sha256) can only be
        checked once the body is in: such a body is read (spooled) first, as for any service."""
        if not self.authenticator.enabled:
            request.stream = StreamedBody(body, None, request.headers)
            return self.authenticate(request)
        try:
            pending = self.authenticator.begin(request.method, request.raw_path, request.raw_query, request.headers)
            if pending.signature.verified:
                info = pending.signature.info
                request.principal = self.authenticator.principal_for(pending, info)
                request.stream = StreamedBody(body, pending.signature, request.headers)
                request.region = info.region
                return info.service
        except sigv4.SigV4Error as exc:
            raise self._refuse(request, exc) from None
        data, info, request.principal = await verified_body(
            request, body, self.authenticator, MAX_BODY, self.spool, self._refuse)
        request.stream = StreamedBody.of_bytes(data, request.headers)
        request.region = info.region
        return info.service

    async def _authenticate_and_read(self, request: ApiRequest, body: RequestBody) -> str:
        """Authenticate a request to an AWS API, reading its body only as far as the caller has
        shown who it is; answer the service it is for."""
        if self._streamed(request):
            return await self._authenticate_stream(request, body)
        if not self.authenticator.enabled:
            request.body = await body.read(MAX_BODY)
            return self.authenticate(request)
        signed = "authorization" in request.headers or "X-Amz-Credential" in request.query
        if not signed:
            # Nobody to answer to: a small body (SNS's anonymous confirmation links have none; the
            # rest only says which protocol to refuse it in), an unread one past that.
            try:
                request.body = await body.read(ANONYMOUS_MAX_BODY)
            except BodyTooLarge:
                pass
            return self._anonymous_service(request) or self.authenticate(request)
        request.body, info, request.principal = await verified_body(
            request, body, self.authenticator, MAX_BODY, self.spool, self._refuse)
        request.region = info.region
        return info.service

    def authenticate(self, request: ApiRequest) -> str:
        """For a request whose body is read: verify the signature, set request.principal, and answer
        the service the request is for."""
        try:
            info, request.principal = self.authenticator.authenticate(
                request.method, request.raw_path, request.raw_query, request.query, request.headers, request.body)
        except sigv4.SigV4Error as exc:
            raise self._refuse(request, exc) from None
        if info is None:
            return self._guess_service(request)
        request.region = info.region
        return info.service

    def _refuse(self, request: ApiRequest, exc: sigv4.SigV4Error) -> ApiError:
        # Answer in the protocol of the service asked (an unsigned request names none: guess it).
        scope = sigv4.parse_scope(request.headers, request.query)
        request.service = scope.service if scope is not None else self._guess_service(request)
        err = AuthError(exc.message, code=exc.code, status=exc.status)
        if exc.code == "UnrecognizedClientException":
            err.message_key = "message"
        return err

    def _anonymous_service(self, request: ApiRequest) -> str | None:
        if not self.anonymous or "authorization" in request.headers or "X-Amz-Credential" in request.query:
            return None
        for service, matches in self.anonymous:
            if matches(request):
                return service
        return None

    def _guess_service(self, request: ApiRequest) -> str:
        target = request.headers.get("x-amz-target", "")
        if self.targets:
            parts = request.path.split("/")
            named = parts[2] if len(parts) > 2 and parts[1] == "service" else target.partition(".")[0]
            if named in self.targets:
                return self.targets[named]
        if target.startswith("AmazonSQS"):
            return "sqs"
        if target.startswith("Logs_"):
            return "logs"
        if not target and request.method == "POST" and b"Action=" in request.body:
            # Query protocol without a signature: the API version names the service.
            version = request.body.partition(b"Version=")[2][:10]
            # Another query API (EC2's, RDS's): no service here, so its refusal is XML (api/refusals.py).
            return _QUERY_VERSIONS.get(version, "unknown")
        if "s3" in self.services and _S3_PATH.match(request.path):
            return "s3"  # every Lambda path starts with its API version (/2015-03-31/...): a bucket's does not
        return "lambda"


class Lifecycle(Protocol):
    """The server behind the app: entered at ASGI startup (building its Router), left at shutdown."""

    @property
    def router(self) -> Router: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


class AsgiApp:
    """The ASGI callable uvicorn serves: the lifespan enters the server, requests go to its Router."""

    def __init__(self, server: Lifecycle) -> None:
        self.server = server
        self.router: Router | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http" or self.router is None:  # uvicorn serves only after startup
            return
        body = RequestBody(scope, receive)
        response = await self.router.handle(scope, body)
        if response is None:  # the client left before its request arrived: nobody to answer
            return
        # An explicit length spares the chunked encoding uvicorn would otherwise choose; a stream of
        # unknown length (an event stream) goes chunked.
        length = response.length if response.length is not None else \
            (None if response.stream is not None else len(response.body))
        if length is not None:
            response.headers.append((b"content-length", str(length).encode()))
        if not body.consumed:  # do not read (or wait for) the rest of a body refused unread
            response.headers.append((b"connection", b"close"))
        if response.stream is not None:
            await _send_stream(response, receive, send)
            return
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.server.__aenter__()
                except Exception as exc:  # the server has released whatever it had acquired
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self.router = self.server.router
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.server.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _send_stream(response: ApiResponse, receive: Any, send: Any) -> None:
    """A streamed response: chunks as the iterator yields them, stopped when the client leaves."""
    assert response.stream is not None
    stream = response.stream

    async def pump() -> None:
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping, watching = asyncio.ensure_future(pump()), asyncio.ensure_future(gone())
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watching):
            task.cancel()
        await asyncio.gather(pumping, watching, return_exceptions=True)
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


async def verified_body(request: ApiRequest, body: RequestBody, authenticator: Authenticator, limit: int,
                        spool: Spool, refuse: Callable[[ApiRequest, sigv4.SigV4Error], ApiError]
                        ) -> tuple[bytes, sigv4.SignedRequestInfo, Principal]:
    """The body of a SigV4-signed request, read only once what the headers can prove is proven, with
    what its signature says and who signed it.

    A request whose signature fails without its body (unknown key, stale date, a declared payload
    hash it was not signed with) is refused before any of its body is read. When the signature
    covers a declared hash it is checked first and the body is hashed as it arrives; otherwise the
    body's hash is what the signature is checked against, so the body is read first, holding no
    more than UNVERIFIED_IN_MEMORY of it in memory until then.
    """
    try:
        pending = authenticator.begin(request.method, request.raw_path, request.raw_query, request.headers)
    except sigv4.SigV4Error as exc:
        raise refuse(request, exc) from None
    signature = pending.signature
    hasher = hashlib.sha256()
    verified: list[sigv4.SignedRequestInfo] = []

    def check() -> None:  # once the last byte is in, before a spooled body is loaded into memory
        verified.append(signature.finish(hasher.hexdigest()))

    try:
        data = await body.read(limit, hasher=hasher, spool=None if signature.verified else spool,
                               spool_after=UNVERIFIED_IN_MEMORY, on_complete=check)
        principal = authenticator.principal_for(pending, verified[0])
    except sigv4.SigV4Error as exc:
        raise refuse(request, exc) from None
    except SpoolFull:
        request.service = signature.info.service
        raise TooManyRequestsException("Too many large requests are being verified at once; retry later.",
                                       Reason="CallerRateLimitExceeded") from None
    return data, verified[0], principal
