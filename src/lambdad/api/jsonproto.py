"""The AWS JSON protocol (`X-Amz-Target: Prefix.Operation`, JSON body): dispatch and error shape."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.errors import ApiError, UnknownOperationException

Operation = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any]]]


class JsonService:
    def __init__(self, target_prefix: str, content_type: str = "application/x-amz-json-1.1", *,
                 authorize: Authorize | None) -> None:
        self.target_prefix = target_prefix
        self.content_type = content_type.encode()
        self.operations: dict[str, Operation] = {}
        self.authorize = authorize

    def operation(self, name: str) -> Callable[[Operation], Operation]:
        def register(fn: Operation) -> Operation:
            self.operations[name] = fn
            return fn
        return register

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.partition(".")
        op = self.operations.get(name) if prefix == self.target_prefix else None
        if op is None:
            raise UnknownOperationException(f"Unknown operation {target!r}", code="UnknownOperationException",
                                            status=400)
        try:
            params = json.loads(request.body) if request.body else {}
        except ValueError as exc:
            raise ApiError("Request body is not valid JSON", code="SerializationException") from exc
        if self.authorize is not None:
            self.authorize(request, name, params)
        result = await op(request, params)
        return ApiResponse(200, json.dumps(result).encode(), [(b"content-type", self.content_type)])


def render_error(exc: ApiError, request: ApiRequest) -> ApiResponse:
    body = {"__type": exc.code, "message": exc.message}
    return ApiResponse(exc.status, json.dumps(body).encode(),
                       [(b"content-type", b"application/x-amz-json-1.1"),
                        (b"x-amzn-errortype", exc.code.encode()),
                        (b"x-amzn-requestid", request.request_id.encode())])
