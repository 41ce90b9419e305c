"""The AWS JSON protocol (`X-Amz-Target: Prefix.Operation`, JSON body): dispatch and error shape.

With the service's botocore model, each body is checked against the operation's input shape before
its handler runs (api/shapes.py): a value of the wrong JSON type is a `SerializationException` with
the deserializer's words, as AWS answers; absent required members and integers outside the model's
range are one validation error in AWS's wording, under the service's own code (`validation_code`:
CloudWatch Logs says InvalidParameterException).

A service with its own words for a missing member (SQS: `MissingParameter`) passes `on_missing`;
one whose model enums it checks itself, in its own words, names those shapes in `unchecked`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from botocore.model import ServiceModel

from lambdad import safejson
from lambdad.api import shapes
from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.refusals import operation_sentence
from lambdad.errors import ApiError, UnknownOperationException

# An operation answers its output members, or a whole response (an event stream: StartLiveTail).
Operation = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any] | ApiResponse]]
# (operation name, paths of the absent required members) -> raise the service's own error, or return
# the paths still to report as AWS's generic validation error.
OnMissing = Callable[[str, list[str]], list[str]]


class JsonService:
    def __init__(self, target_prefix: str, content_type: str = "application/x-amz-json-1.1", *,
                 model: ServiceModel | None = None, validation_code: str = "ValidationException",
                 authorize: Authorize | None, on_missing: OnMissing | None = None,
                 unchecked: frozenset[str] = frozenset()) -> None:
        self.target_prefix = target_prefix
        self.model = model
        self.validation_code = validation_code
        self.content_type = content_type.encode()
        self.on_missing = on_missing
        self.unchecked = unchecked
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
            if prefix == self.target_prefix and self.model is not None and name in self.model.operation_names:
                title = self.model.metadata.get("serviceAbbreviation") or self.model.metadata["serviceFullName"]
                raise UnknownOperationException(operation_sentence(title, name), status=400)
            raise UnknownOperationException(f"Unknown operation {target!r}", code="UnknownOperationException",
                                            status=400)
        params = self.parse(name, request.body)
        if self.authorize is not None:
            self.authorize(request, name, params)
        result = await op(request, params)
        if isinstance(result, ApiResponse):
            return result
        return ApiResponse(200, json.dumps(result).encode(),
                           [(b"content-type", self.content_type), (b"x-amzn-requestid", request.request_id.encode())])

    def parse(self, name: str, body: bytes) -> dict[str, Any]:
        return self.check_input(name, parse_body(body))

    def check_input(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """A decoded body checked against the operation's input shape (shared with api/rpcv2cbor.py,
        whose bodies decode to the same values)."""
        shape = self.model.operation_model(name).input_shape if self.model is not None else None
        if shape is None:
            return params
        missing: list[str] = []
        try:
            params = shapes.decode_json(shape, params, "", missing)
        except shapes.TypeMismatch as exc:
            raise ApiError(exc.message, code="SerializationException") from None
        if missing and self.on_missing is not None:
            missing = self.on_missing(name, missing)
        out_of_range = shapes.constraint_errors(shape, params, unchecked=self.unchecked)
        if missing or out_of_range:
            raise ApiError(shapes.validation_message(missing, out_of_range), code=self.validation_code)
        return params


def parse_body(body: bytes) -> dict[str, Any]:
    """A JSON-protocol body as an object (empty: no members), or SerializationException as AWS answers."""
    if not body:
        return {}
    try:
        params = safejson.loads(body)
    except safejson.JsonTooDeep as exc:
        raise ApiError(str(exc), code="SerializationException") from None
    except ValueError:  # UnicodeDecodeError included
        raise ApiError("Request body is not valid JSON", code="SerializationException") from None
    if isinstance(params, list):
        raise ApiError("Start of list found where not expected", code="SerializationException")
    if not isinstance(params, dict):
        raise ApiError("Request body must be a JSON object", code="SerializationException")
    return params


def render_error(exc: ApiError, request: ApiRequest) -> ApiResponse:
    body = {"__type": exc.code, "message": exc.message}
    return ApiResponse(exc.status, json.dumps(body).encode(),
                       [(b"content-type", b"application/x-amz-json-1.1"),
                        (b"x-amzn-errortype", exc.code.encode()),
                        (b"x-amzn-requestid", request.request_id.encode())])
