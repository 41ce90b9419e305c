"""The request and response objects every protocol codec works with, and the shape of a service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from lambdad import ids, safejson
from lambdad.auth.principal import Principal
from lambdad.errors import ApiError

if TYPE_CHECKING:
    from lambdad.api.streaming import StreamedBody


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str  # decoded
    raw_path: str  # as on the wire (SigV4 and greedy labels need it)
    raw_query: str
    headers: dict[str, str]  # lower-case names; repeated headers comma-joined
    body: bytes
    client: tuple[str, int] | None = None
    request_id: str = field(default_factory=ids.request_id)
    principal: Principal | None = None
    service: str = ""
    # The SigV4 credential scope's region (the server's default region for unsigned requests):
    # resources are scoped by it, as on AWS. Set by the Router once the request is authenticated.
    region: str = ""
    # What authorization decided this request is (IAM action, resource ARN), for the audit log.
    action: str = ""
    resource: str = ""
    # The body of a request to a service that takes it as a stream (api/streaming.py); `body` stays
    # empty then.
    stream: StreamedBody | None = None
    # Every header line as it arrived (lower-case names, repeats kept apart), for the front doors
    # that pass multi-value headers on (API Gateway's payload 1.0).
    header_lines: list[tuple[bytes, bytes]] = field(default_factory=list)
    _query: dict[str, list[str]] | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.raw_query, keep_blank_values=True)
        return self._query

    def json(self) -> Any:
        if not self.body:
            return {}
        return safejson.loads(self.body)


@dataclass(slots=True)
class ApiResponse:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # A body sent as it is produced: an S3 object, `length` bytes long, or an event stream
    # (StartLiveTail) of no declared length, sent chunked until it ends or the client leaves (the
    # iterator is closed then); `length` alone is the Content-Length of a body not sent (HEAD).
    stream: AsyncIterator[bytes] | None = None
    length: int | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> ApiResponse:
        return cls(status, json.dumps(obj).encode(),
                   [(b"content-type", b"application/json"), *(headers or [])])


def json_error(exc: ApiError, request_id: str) -> ApiResponse:
    """Lambda rest-json / JSON-protocol error shape."""
    return ApiResponse(
        exc.status, json.dumps(exc.body()).encode(),
        [(b"content-type", b"application/json"), (b"x-amzn-errortype", exc.code.encode()),
         (b"x-amzn-requestid", request_id.encode())],
    )


def signer(request: ApiRequest) -> Principal:
    """Who signed a request that passed authentication (authorization hooks run only after it)."""
    assert request.principal is not None
    return request.principal


def request_context(request: ApiRequest) -> dict[str, str | list[str]]:
    """The global condition keys of a request (aws:SourceIp, aws:SecureTransport)."""
    return {"aws:SourceIp": (request.client or ("", 0))[0], "aws:SecureTransport": "false"}


# Called with (request, operation name, parsed input) after parsing and before the operation; raises
# to refuse. It also records request.action / request.resource for the audit log.
Authorize = Callable[[ApiRequest, str, dict[str, Any]], None]


class Service(Protocol):
    """What `App.add_service` registers: a codec bound to its operations and its authorization hook.
    `authorize` is None only for a server without authentication (`--auth false`)."""

    authorize: Authorize | None
    # A service whose class sets `streams_body = True` gets its body as `request.stream`, unread
    # (api/streaming.py); the others get it whole in `request.body`.

    async def dispatch(self, request: ApiRequest) -> ApiResponse: ...
