"""The request and response objects every protocol codec works with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from lambdad import ids, safejson
from lambdad.errors import ApiError


@dataclass(slots=True)
class Principal:
    """Who signed the request (filled in by authentication)."""

    account: str
    arn: str
    access_key_id: str = ""
    is_root: bool = False
    session_token: str | None = None
    user_name: str | None = None  # an IAM user (its keys or its GetSessionToken session)
    role_name: str | None = None  # an assumed-role session (execution role or AssumeRole)
    principal_id: str = ""


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
    # What authorization decided this request is (IAM action, resource ARN), for the audit log.
    action: str = ""
    resource: str = ""
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
