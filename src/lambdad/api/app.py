"""The one ASGI app on the one port: authentication, then dispatch by service.

The service is read from the SigV4 credential scope (every AWS SDK signs), then `X-Amz-Target`, then
the query `Action`; lambdad's own endpoints live under `/_lambdad/`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lambdad import __version__
from lambdad.api.base import ApiRequest, ApiResponse, Principal, json_error
from lambdad.api.http_protocol import BodyTooLarge, ClientDisconnected, RequestBody, Spool, SpoolFull
from lambdad.auth import sigv4
from lambdad.control import code_links
from lambdad.errors import (
    AccessDeniedException,
    ApiError,
    AuthError,
    RequestTooLargeException,
    TooManyRequestsException,
    UnknownOperationException,
)

if TYPE_CHECKING:
    from lambdad.server import Lambdad

log = logging.getLogger("lambdad.api")

ServiceHandler = Callable[[ApiRequest], Awaitable[ApiResponse]]
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
_QUERY_VERSIONS = {b"2010-05-08": "iam", b"2011-06-15": "sts", b"2012-11-05": "sqs", b"2010-03-31": "sns"}


class App:
    def __init__(self, core: Lambdad) -> None:
        self.core = core
        self.services: dict[str, ServiceHandler] = {}
        self.error_renderers: dict[str, ErrorRenderer] = {}
        self.anonymous: list[tuple[str, Callable[[ApiRequest], bool]]] = []
        self.auth = core.config.auth
        self.lookup_secret = core.credentials.secret_for
        self.audit = getattr(core, "audit", None)
        spool_dir = core.config.data_path / "spool"
        os.makedirs(spool_dir, mode=0o700, exist_ok=True)
        self.spool = Spool(str(spool_dir), SPOOL_BYTES)

    def add_service(self, name: str, handler: ServiceHandler, errors: ErrorRenderer | None = None) -> None:
        self.services[name] = handler
        if errors is not None:
            self.error_renderers[name] = errors

    def add_anonymous(self, service: str, matches: Callable[[ApiRequest], bool]) -> None:
        """Serve unsigned requests that `matches` by `service` without a principal (AWS serves
        SNS's SubscribeURL and UnsubscribeURL that way)."""
        self.anonymous.append((service, matches))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = RequestBody(scope, receive)
        response = await self.handle(scope, body)
        if response is None:  # the client left before its request arrived: nobody to answer
            return
        # An explicit length spares the chunked encoding uvicorn would otherwise choose.
        response.headers.append((b"content-length", str(len(response.body)).encode()))
        if not body.consumed:  # do not read (or wait for) the rest of a body refused unread
            response.headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.core.start()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.core.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

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
                             headers, b"", scope.get("client"))
        error_code = ""
        try:
            try:
                if body.declared is not None and body.declared > MAX_BODY:
                    raise BodyTooLarge  # more than any request may send, whoever sends it
                front = self.core.front_door_for(request)
                if front is not None:
                    response = await front(request, body)  # function URLs answer with a request id too
                elif request.path.startswith("/_lambdad/"):
                    request.body = await body.read(ANONYMOUS_MAX_BODY)
                    return await self._own_endpoint(request)
                else:
                    service = await self._authenticate_and_read(request, body)
                    handler = self.services.get(service)
                    if handler is None:
                        raise UnknownOperationException(
                            f"Service '{service}' is not available on this lambdad server.")
                    request.service = service
                    response = await handler(request)
            except ClientDisconnected:
                return None
            except BodyTooLarge:
                raise RequestTooLargeException("Request must be smaller than 6291456 bytes for the "
                                               "InvokeFunction operation") from None
        except ApiError as exc:
            error_code = exc.code
            response = self._render_error(exc, request)
        except Exception as exc:  # a bug: answer like AWS's ServiceException, keep serving
            log.exception("unhandled error for %s %s", request.method, request.path)
            from lambdad.errors import ServiceException

            error_code = "ServiceException"
            response = self._render_error(ServiceException(f"Internal error: {type(exc).__name__}"), request)
        if not any(name == b"x-amzn-requestid" for name, _ in response.headers):
            response.headers.append((b"x-amzn-requestid", request.request_id.encode()))
        if self.audit is not None:
            self.audit.record(request, response.status, error_code)
        return response

    async def _authenticate_and_read(self, request: ApiRequest, body: RequestBody) -> str:
        """Authenticate a request to an AWS API, reading its body only as far as the caller has
        shown who it is; answer the service it is for."""
        if not self.auth:
            request.body = await body.read(MAX_BODY)
            return self._authenticate(request)
        signed = "authorization" in request.headers or "X-Amz-Credential" in request.query
        if not signed:
            # Nobody to answer to: a small body (SNS's anonymous confirmation links have none; the
            # rest only says which protocol to refuse it in), an unread one past that.
            try:
                request.body = await body.read(ANONYMOUS_MAX_BODY)
            except BodyTooLarge:
                pass
            return self._anonymous_service(request) or self._authenticate(request)
        request.body, info = await verified_body(request, body, self.lookup_secret, MAX_BODY, self.spool,
                                                 self._refuse)
        return self._authenticate(request, info)

    def _refuse(self, request: ApiRequest, exc: sigv4.SigV4Error) -> ApiError:
        # Answer in the protocol of the service asked (an unsigned request names none: guess it).
        info = sigv4.parse_scope(request.headers, request.query)
        request.service = info.service if info is not None else self._guess_service(request)
        err = AuthError(exc.message, code=exc.code, status=exc.status)
        if exc.code == "UnrecognizedClientException":
            err.message_key = "message"
        return err

    def _render_error(self, exc: ApiError, request: ApiRequest) -> ApiResponse:
        renderer = self.error_renderers.get(request.service)
        if renderer is not None:
            return renderer(exc, request)
        return json_error(exc, request.request_id)

    def _authenticate(self, request: ApiRequest, verified: sigv4.SignedRequestInfo | None = None) -> str:
        """Who sent a request whose body is read (`verified`: what `verified_body` found its
        signature to say); set request.principal and answer the service it is for."""
        if not self.auth:
            info = sigv4.parse_scope(request.headers, request.query)
            account = self.core.config.account_id
            request.principal = Principal(account, f"arn:aws:iam::{account}:root", is_root=True,
                                          principal_id=account)
            return info.service if info else self._guess_service(request)
        info = verified
        if info is None:
            try:
                info = sigv4.verify(request.method, request.raw_path, request.raw_query, request.headers,
                                    request.body, self.lookup_secret)
            except sigv4.SigV4Error as exc:
                raise self._refuse(request, exc) from None
        cred = self.core.credentials.lookup(info.access_key_id)
        assert cred is not None
        if cred.session_token is not None and info.session_token != cred.session_token:
            raise AuthError("The security token included in the request is invalid.",
                            code="UnrecognizedClientException")
        request.principal = Principal(cred.account, cred.principal_arn, cred.access_key_id, cred.is_root,
                                      cred.session_token, cred.user_name, cred.role_name, cred.principal_id)
        return info.service

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

    async def _own_endpoint(self, request: ApiRequest) -> ApiResponse:
        path = request.path
        if path == "/_lambdad/health":
            return ApiResponse.json({"status": "ok", "version": __version__,
                                     "environments": self.core.pools.statistics(),
                                     "snapstart": self.core.snapstart.statistics(),
                                     "async": self.core.async_queue.statistics()})
        if path.startswith(code_links.PATH_PREFIX):  # signed, expiring code links (control/code_links.py)
            return self.core.code_links.respond(path, request.query, request.request_id)
        if path == "/_lambdad/accounts":
            return self._accounts_endpoint(request)
        return ApiResponse(404, json.dumps({"message": "Not Found"}).encode(),
                           [(b"content-type", b"application/json")])

    def _accounts_endpoint(self, request: ApiRequest) -> ApiResponse:
        """Accounts administration (`lambdad account`): only the configured account's root may use it.
        GET lists accounts; POST {"Name": ...} creates one and answers its root keys (shown once)."""
        try:
            self._authenticate(request)
            principal = request.principal
            if principal is None or not principal.is_root or principal.account != self.core.config.account_id:
                raise AccessDeniedException("Only the root user of the server's own account may manage accounts.")
            iam = self.core.iam
            if request.method == "GET":
                return ApiResponse.json({"Accounts": iam.list_accounts()})
            if request.method != "POST":
                raise UnknownOperationException("Use GET or POST.")
            body = request.json()
            account, key_id, secret = iam.create_account(body.get("Name") if isinstance(body, dict) else None)
            log.info("account %s created by %s", account, principal.arn)
            return ApiResponse.json({"AccountId": account, "Name": body["Name"], "AccessKeyId": key_id,
                                     "SecretAccessKey": secret})
        except ValueError:
            return json_error(ApiError("The body must be JSON."), request.request_id)
        except ApiError as exc:
            return json_error(exc, request.request_id)


async def verified_body(request: ApiRequest, body: RequestBody, lookup_secret: Callable[[str], str | None],
                        limit: int, spool: Spool, refuse: Callable[[ApiRequest, sigv4.SigV4Error], ApiError]
                        ) -> tuple[bytes, sigv4.SignedRequestInfo]:
    """The body of a SigV4-signed request, read only once what the headers can prove is proven.

    A request whose signature fails without its body (unknown key, stale date, a declared payload
    hash it was not signed with) is refused before any of its body is read. When the signature
    covers a declared hash it is checked first and the body is hashed as it arrives; otherwise the
    body's hash is what the signature is checked against, so the body is read first, holding no
    more than UNVERIFIED_IN_MEMORY of it in memory until then.
    """
    try:
        pending = sigv4.begin(request.method, request.raw_path, request.raw_query, request.headers, lookup_secret)
    except sigv4.SigV4Error as exc:
        raise refuse(request, exc) from None
    hasher = hashlib.sha256()
    verified: list[sigv4.SignedRequestInfo] = []

    def check() -> None:  # once the last byte is in, before a spooled body is loaded into memory
        verified.append(pending.finish(hasher.hexdigest()))

    try:
        data = await body.read(limit, hasher=hasher, spool=None if pending.verified else spool,
                               spool_after=UNVERIFIED_IN_MEMORY, on_complete=check)
    except sigv4.SigV4Error as exc:
        raise refuse(request, exc) from None
    except SpoolFull:
        request.service = pending.info.service
        raise TooManyRequestsException("Too many large requests are being verified at once; retry later.",
                                       Reason="CallerRateLimitExceeded") from None
    return data, verified[0]
