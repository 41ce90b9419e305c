"""The one ASGI app on the one port: authentication, then dispatch by service.

The service is read from the SigV4 credential scope (every AWS SDK signs), then `X-Amz-Target`, then
the query `Action`; lambdad's own endpoints live under `/_lambdad/`. `AsgiApp` is what uvicorn
serves: its lifespan enters the server (`Lambdad`, which builds the `Router`) and leaves it at
shutdown; every request then goes to the Router.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from lambdad.api.base import ApiRequest, ApiResponse, Service, json_error
from lambdad.api.http_protocol import BodyTooLarge, ClientDisconnected, read_body
from lambdad.auth import sigv4
from lambdad.auth.authn import Authenticator
from lambdad.errors import (
    ApiError,
    AuthError,
    LambdadError,
    RequestTooLargeException,
    ServiceException,
    UnknownOperationException,
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
_QUERY_VERSIONS = {b"2010-05-08": "iam", b"2011-06-15": "sts", b"2012-11-05": "sqs", b"2010-03-31": "sns"}


class FrontDoor(Protocol):
    """Plain HTTP on the API port that is not an AWS API call (function URLs, by Host header)."""

    def matches(self, request: ApiRequest) -> bool: ...

    async def __call__(self, request: ApiRequest) -> ApiResponse: ...


class ServiceWithoutAuthorization(LambdadError):
    """A service was registered without an authorization hook while authentication is on: the
    server refuses to start rather than serve it unauthorized."""


class Router:
    """Every request of the API port: front doors, lambdad's own endpoints, then SigV4 and a service."""

    def __init__(self, authenticator: Authenticator, own_endpoints: OwnEndpoints, *,
                 audit: AuditLog | None = None) -> None:
        self.authenticator = authenticator
        self.own_endpoints = own_endpoints
        self.audit = audit
        self.services: dict[str, Service] = {}
        self.error_renderers: dict[str, ErrorRenderer] = {}
        self.front_doors: list[FrontDoor] = []
        self.anonymous: list[tuple[str, Callable[[ApiRequest], bool]]] = []

    def add_service(self, name: str, service: Service, errors: ErrorRenderer | None = None) -> None:
        """Serve `name` (the SigV4 scope's service). With authentication on, the service must carry its
        authorization hook: one without is refused here, so the server fails to start, never open."""
        if self.authenticator.enabled and service.authorize is None:
            raise ServiceWithoutAuthorization(
                f"service {name!r} has no authorization hook; refusing to serve it with authentication on")
        self.services[name] = service
        if errors is not None:
            self.error_renderers[name] = errors

    def add_front_door(self, door: FrontDoor) -> None:
        self.front_doors.append(door)

    def add_anonymous(self, service: str, matches: Callable[[ApiRequest], bool]) -> None:
        """Serve unsigned requests that `matches` by `service` without a principal (AWS serves
        SNS's SubscribeURL and UnsubscribeURL that way)."""
        self.anonymous.append((service, matches))

    async def handle(self, scope: dict[str, Any], receive: Any) -> ApiResponse | None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key in headers:
                headers[key] += "," + value.decode("latin-1")
            else:
                headers[key] = value.decode("latin-1")
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        request = ApiRequest(scope["method"], scope["path"], raw_path, scope["query_string"].decode("latin-1"),
                             headers, b"", scope.get("client"))
        error_code = ""
        try:
            try:
                request.body = await read_body(scope, receive, MAX_BODY)
            except ClientDisconnected:
                return None
            except BodyTooLarge:
                raise RequestTooLargeException("Request must be smaller than 6291456 bytes for the "
                                               "InvokeFunction operation") from None
            front = next((door for door in self.front_doors if door.matches(request)), None)
            if front is not None:
                response = await front(request)  # function URLs answer with a request id too
            elif request.path.startswith("/_lambdad/"):
                return await self.own_endpoints.handle(request, self.authenticate)
            else:
                service = self._anonymous_service(request) or self.authenticate(request)
                handler = self.services.get(service)
                if handler is None:
                    raise UnknownOperationException(f"Service '{service}' is not available on this lambdad server.")
                request.service = service
                response = await handler.dispatch(request)
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
        return json_error(exc, request.request_id)

    def authenticate(self, request: ApiRequest) -> str:
        """Verify the signature, set request.principal, and answer the service the request is for."""
        try:
            info, request.principal = self.authenticator.authenticate(
                request.method, request.raw_path, request.raw_query, request.query, request.headers, request.body)
        except sigv4.SigV4Error as exc:
            # Answer in the protocol of the service asked (an unsigned request names none: guess it).
            scope = sigv4.parse_scope(request.headers, request.query)
            request.service = scope.service if scope is not None else self._guess_service(request)
            err = AuthError(exc.message, code=exc.code, status=exc.status)
            if exc.code == "UnrecognizedClientException":
                err.message_key = "message"
            raise err from None
        return info.service if info is not None else self._guess_service(request)

    def _anonymous_service(self, request: ApiRequest) -> str | None:
        if not self.anonymous or "authorization" in request.headers or "X-Amz-Credential" in request.query:
            return None
        for service, matches in self.anonymous:
            if matches(request):
                return service
        return None

    def _guess_service(self, request: ApiRequest) -> str:
        target = request.headers.get("x-amz-target", "")
        if target.startswith("AmazonSQS"):
            return "sqs"
        if target.startswith("Logs_"):
            return "logs"
        if not target and request.method == "POST" and b"Action=" in request.body:
            # Query protocol without a signature: the API version names the service.
            version = request.body.partition(b"Version=")[2][:10]
            return _QUERY_VERSIONS.get(version, "lambda")
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
        response = await self.router.handle(scope, receive)
        if response is None:  # the client left before its request arrived: nobody to answer
            return
        # An explicit length spares the chunked encoding uvicorn would otherwise choose.
        response.headers.append((b"content-length", str(len(response.body)).encode()))
        if response.status == 413:  # do not read (or wait for) the rest of an oversized body
            response.headers.append((b"connection", b"close"))
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
