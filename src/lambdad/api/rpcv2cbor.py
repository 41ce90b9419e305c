"""Smithy RPC v2 CBOR (`POST /service/<Service>/operation/<Operation>`, `smithy-protocol: rpc-v2-cbor`,
CBOR bodies): the protocol botocore picks first for the services that list it (CloudWatch).

Requests decode (with the `cbor2` library) to the values a JSON-protocol body decodes to, once
timestamps (CBOR tag 1, epoch seconds) become numbers and byte strings become the base64 text JSON
carries; from there the checks against the operation's input shape are the JSON protocol's own
(`JsonService.check_input`, api/shapes.py). Responses are CBOR of the output members, timestamps as
tag 1. Errors carry `__type` and `message`; a service that was a query service first (the model's
`awsQueryCompatible`) also answers `x-amzn-query-error: Code;Sender`, from which botocore takes the
code its clients have always seen (`InvalidParameterValue`, `ResourceNotFound`).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import cbor2
from botocore.model import ServiceModel, Shape

from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.jsonproto import JsonService, OnMissing
from lambdad.api.refusals import operation_sentence
from lambdad.errors import ApiError, AuthError, UnknownOperationException
from lambdad.safejson import MAX_DEPTH

CONTENT_TYPE = b"application/cbor"
_PREFIX = "/service/"


def is_rpcv2(request: ApiRequest) -> bool:
    """Whether a request is in this protocol (botocore sends the header; the path alone says it too)."""
    return request.headers.get("smithy-protocol") == "rpc-v2-cbor" or request.path.startswith(_PREFIX)


def target(path: str) -> tuple[str, str]:
    """(service, operation) of `/service/<service>/operation/<operation>`; ("", "") for another path."""
    parts = path.split("/")
    if len(parts) == 5 and parts[0] == "" and parts[1] == "service" and parts[3] == "operation":
        return parts[2], parts[4]
    return "", ""


def _serialization(message: str) -> ApiError:
    return ApiError(message, code="SerializationException")


def _plain(value: Any, depth: int = 0) -> Any:
    """A decoded CBOR value in the JSON protocol's terms: timestamps as epoch seconds, byte strings
    as base64 text, so one set of shape checks serves both protocols."""
    if depth > MAX_DEPTH:
        raise _serialization(f"CBOR nesting depth exceeds the maximum allowed ({MAX_DEPTH})")
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return value  # the shape checks pass NaN and infinities on; the service judges them
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # a tag botocore never sends (a set, a regex, a UUID): judged as the text it is


def decode(body: bytes) -> dict[str, Any]:
    """A request body as an object (empty: no members), or SerializationException."""
    if not body:
        return {}
    try:
        value = cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError, OverflowError, TypeError, RecursionError, MemoryError):
        raise _serialization("Request body is not valid CBOR") from None
    if not isinstance(value, dict):
        raise _serialization("Request body must be a CBOR map")
    plain = _plain(value)
    assert isinstance(plain, dict)
    return plain


def _out(shape: Shape | None, value: Any) -> Any:
    """An output value in CBOR's terms: timestamps (epoch seconds or datetimes) as tag 1."""
    if shape is None or value is None:
        return value
    t = shape.type_name
    if t == "structure" and isinstance(value, Mapping):
        return {k: _out(shape.members.get(k), v) for k, v in value.items() if v is not None}
    if t == "list" and isinstance(value, list):
        return [_out(shape.member, v) for v in value]
    if t == "map" and isinstance(value, Mapping):
        return {k: _out(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        seconds = value.timestamp() if isinstance(value, datetime) else float(value)
        return cbor2.CBORTag(1, seconds)
    if t in ("double", "float") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def query_error(model: ServiceModel | None, exc: ApiError) -> tuple[str, str]:
    """(`__type`, `x-amzn-query-error`) of an error: the model's error shape whose query code is the
    error's (`InvalidParameterValue` -> InvalidParameterValueException), and `Code;Sender`."""
    kind = "Sender" if exc.sender_fault else "Receiver"
    code = exc.code
    shape_name = code
    if model is not None:
        for shape in model.error_shapes:
            if shape.metadata.get("error", {}).get("code") == code:
                shape_name = shape.name
                break
    return shape_name, f"{code};{kind}"


def render_error(exc: ApiError, request: ApiRequest, model: ServiceModel | None = None) -> ApiResponse:
    if isinstance(exc, AuthError):  # SigV4's refusals keep their own names in every protocol
        type_name, header = exc.code, f"{exc.code};Sender"
    else:
        type_name, header = query_error(model, exc)
    body = cbor2.dumps({"__type": type_name, "message": exc.message})
    headers = [(b"content-type", CONTENT_TYPE), (b"smithy-protocol", b"rpc-v2-cbor"),
               (b"x-amzn-requestid", request.request_id.encode())]
    if model is not None and "awsQueryCompatible" in model.metadata:
        headers.append((b"x-amzn-query-error", header.encode()))
    return ApiResponse(exc.status, body, headers)


class RpcV2CborService(JsonService):
    """Operations of one service over RPC v2 CBOR; the same handlers a `JsonService` would hold."""

    def __init__(self, model: ServiceModel, *, validation_code: str = "ValidationException",
                 authorize: Authorize | None, on_missing: OnMissing | None = None,
                 unchecked: frozenset[str] = frozenset()) -> None:
        super().__init__(model.metadata["targetPrefix"], "application/cbor", model=model,
                         validation_code=validation_code, authorize=authorize, on_missing=on_missing,
                         unchecked=unchecked)
        self.service_model = model

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        service, name = target(request.path)
        if request.method != "POST" or service != self.target_prefix:
            raise UnknownOperationException(f"Unknown operation {request.path!r}",
                                            code="UnknownOperationException", status=404)
        op = self.operations.get(name)
        if op is None:
            if name in self.service_model.operation_names:
                title = (self.service_model.metadata.get("serviceAbbreviation")
                         or self.service_model.metadata["serviceFullName"])
                raise UnknownOperationException(operation_sentence(title, name), status=400)
            raise UnknownOperationException(f"Unknown operation {name!r}", code="UnknownOperationException",
                                            status=404)
        params = self.check_input(name, decode(request.body))
        if self.authorize is not None:
            self.authorize(request, name, params)
        result = await op(request, params)
        if isinstance(result, ApiResponse):
            return result
        output = self.service_model.operation_model(name).output_shape
        return ApiResponse(200, cbor2.dumps(_out(output, result)),
                           [(b"content-type", CONTENT_TYPE), (b"smithy-protocol", b"rpc-v2-cbor"),
                            (b"x-amzn-requestid", request.request_id.encode())])

    def render_error(self, exc: ApiError, request: ApiRequest) -> ApiResponse:
        return render_error(exc, request, self.service_model)
