"""The rest-json protocol, driven by botocore's own service model.

Routes, where each input member lives (URI label, query string, header, body, payload) and how
outputs map back (status code, headers, payload) all come from the model boto3 itself uses, so
the wire format cannot drift from what clients send. Handlers receive one flat dict of input
members and return one flat dict of output members.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, Shape

from lambdad import botocore_models, safejson
from lambdad.api import shapes
from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.errors import (
    ApiError,
    InvalidRequestContentException,
    UnknownOperationException,
    ValidationException,
)

Handler = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any] | ApiResponse]]
# Called with (request, value) for every value of one output shape, wherever in an output body it appears;
# returns what is shown instead (lambda_api.py masks environment variables this way).
ShapeFilter = Callable[[ApiRequest, dict[str, Any]], dict[str, Any]]
# (shape name, value) -> the value to encode (the filters of one request, in _encode)
Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]

_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")


def uri_pattern(path: str) -> tuple[str, list[str]]:
    """A model's requestUri path as a regex source (a `{label}` one segment, a greedy `{label+}` the
    rest) and its labels in order; the REST codecs each add their own trailing-slash rule."""
    labels: list[str] = []
    pattern = ""
    pos = 0
    for m in _LABEL.finditer(path):
        pattern += re.escape(path[pos:m.start()])
        labels.append(m.group(1))
        pattern += "(.+)" if m.group(2) else "([^/]+)"
        pos = m.end()
    return pattern + re.escape(path[pos:]), labels


@dataclass(slots=True)
class Route:
    operation: OperationModel
    method: str
    regex: re.Pattern[str]
    labels: list[str]
    required_query: dict[str, str | None]
    handler: Handler | None = None


def _compile(op: OperationModel) -> Route:
    uri = op.http["requestUri"]
    path, _, fixed_query = uri.partition("?")
    pattern, labels = uri_pattern(path)
    if pattern.endswith("/") and len(pattern) > 1:
        pattern = pattern[:-1] + "/?"
    else:
        pattern += "/?"
    required: dict[str, str | None] = {}
    for part in filter(None, fixed_query.split("&")):
        key, eq, value = part.partition("=")
        required[key] = value if eq else None
    return Route(op, op.http["method"], re.compile(pattern), labels, required)


class RestJsonService:
    def __init__(self, service_name: str, *, authorize: Authorize | None,
                 unchecked: frozenset[str] = frozenset()) -> None:
        self.model = botocore_models.service_model(service_name)
        #: shapes whose model constraints the handlers check in the service's own words (shapes.py)
        self.unchecked = unchecked
        self.routes: dict[str, list[Route]] = {}
        self.by_name: dict[str, Route] = {}
        self.authorize = authorize
        #: output shape name -> filter applied to each of its values on the way out
        self.filters: dict[str, ShapeFilter] = {}
        for name in self.model.operation_names:
            route = _compile(self.model.operation_model(name))
            self.routes.setdefault(route.method, []).append(route)
            self.by_name[name] = route
        for routes in self.routes.values():
            # More literal characters first, so /functions/{name}/configuration beats /functions/{name}.
            routes.sort(key=lambda r: (-len(r.required_query), -len(r.regex.pattern.replace("([^/]+)", ""))))

    def handler(self, operation: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.by_name[operation].handler = fn
            return fn
        return register

    def match(self, request: ApiRequest) -> tuple[Route, list[str]]:
        query = request.query
        for route in self.routes.get(request.method, ()):
            m = route.regex.fullmatch(request.raw_path)
            if m is None:
                continue
            if any(k not in query or (val is not None and query[k][0] != val)
                   for k, val in route.required_query.items()):
                continue
            return route, [unquote(g) for g in m.groups()]
        raise UnknownOperationException("Unknown operation")

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        route, values = self.match(request)
        if route.handler is None:
            raise UnknownOperationException(
                f"The operation {route.operation.name} is not implemented by this lambdad server.")
        params = self.parse_input(route, values, request)
        if self.authorize is not None:
            self.authorize(request, route.operation.name, params)
        result = await route.handler(request, params)
        if isinstance(result, ApiResponse):
            return result
        return self.render_output(route.operation, result, request)

    # -- input ------------------------------------------------------------------------------
    def parse_input(self, route: Route, values: list[str], request: ApiRequest) -> dict[str, Any]:
        shape = route.operation.input_shape
        params: dict[str, Any] = {}
        if shape is None:
            return params
        payload_member = shape.serialization.get("payload")
        for label, value in zip(route.labels, values, strict=True):
            name = _member_for_location(shape, "uri", label)
            member = shape.members.get(name)
            params[name] = _scalar(member, value) if member is not None else value  # typed, e.g. VersionNumber
        query = request.query
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if location == "querystring":
                key = member.serialization.get("name", name)
                if key in query:
                    raw = query[key]
                    params[name] = raw if member.type_name == "list" else _scalar(member, raw[0])
            elif location == "header":
                key = member.serialization.get("name", name).lower()
                if key in request.headers:
                    params[name] = _scalar(member, request.headers[key])
        if payload_member:
            member = shape.members[payload_member]
            if member.type_name in ("blob", "string"):
                params[payload_member] = request.body
                return params
        missing: list[str] = []
        if request.body:
            try:
                body = safejson.loads(request.body)
            except ValueError as exc:  # UnicodeDecodeError and JsonTooDeep included
                raise InvalidRequestContentException(
                    "Could not parse request body into json: Could not parse payload into json: "
                    f"{exc}") from exc
            if not isinstance(body, dict):
                raise InvalidRequestContentException("Could not parse request body into json: expected an object")
            if payload_member:
                params[payload_member] = _decode(shape.members[payload_member], body, missing)
            else:
                # Members the URI, query or headers carry are theirs: a body cannot override them.
                renames = shapes.wire_names(shape)
                decoded = _decode(shape, {k: v for k, v in body.items() if renames.get(k, k) not in params}, missing)
                params = {**decoded, **params}
        # Each handler may index what the model says is always there (the top level's members may
        # have come from anywhere in the request, so they are looked for in the assembled input).
        present = {shapes.member_path("", name) for name in params}
        missing = [path for path in missing if path not in present]
        top = {shapes.member_path("", name) for name in shape.required_members if name not in params}
        missing.extend(sorted(top - set(missing)))
        if missing:  # AWS's recorded answers name only the absent members when some are
            raise ValidationException(shapes.validation_message(missing))
        broken = shapes.constraint_errors(shape, params, "", self.unchecked)
        if broken:
            raise ValidationException(shapes.validation_message([], broken))
        return params

    # -- output -----------------------------------------------------------------------------
    def render_output(self, op: OperationModel, result: dict[str, Any], request: ApiRequest | None = None
                      ) -> ApiResponse:
        status = op.http.get("responseCode", 200)
        shape = op.output_shape
        headers: list[tuple[bytes, bytes]] = []
        if shape is None:
            return ApiResponse(status, b"", headers)
        payload_member = shape.serialization.get("payload")
        body_fields: dict[str, Any] = {}
        for name, value in result.items():
            member = shape.members.get(name)
            if member is None or value is None:
                continue
            location = member.serialization.get("location")
            if location == "statusCode":
                status = int(value)
            elif location == "header":
                headers.append((member.serialization.get("name", name).lower().encode(), str(value).encode()))
            elif name == payload_member and member.type_name in ("blob", "string"):
                return ApiResponse(status, value if isinstance(value, bytes) else str(value).encode(), headers)
            else:
                body_fields[name] = value
        if status == 204:  # No Content: a body would break HTTP framing for some clients
            return ApiResponse(status, b"", headers)
        if payload_member:
            body_fields = body_fields.get(payload_member, {})
        headers.append((b"content-type", b"application/json"))
        rewrite: Rewrite | None = None
        if request is not None and self.filters:
            def rewrite(shape_name: str, value: dict[str, Any]) -> dict[str, Any]:
                found = self.filters.get(shape_name)
                return value if found is None else found(request, value)
        return ApiResponse(status, json.dumps(_encode(shape, body_fields, rewrite, located=True) if not payload_member
                                              else body_fields).encode(), headers)


def _member_for_location(shape: Shape, location: str, wire_name: str) -> str:
    for name, member in shape.members.items():
        if member.serialization.get("location") == location and member.serialization.get("name", name) == wire_name:
            return name
    return wire_name


def _scalar(member: Shape, raw: str) -> Any:
    t = member.type_name
    try:
        if t in ("integer", "long"):
            return int(raw)
        if t == "boolean":
            return raw.lower() == "true"
        if t in ("float", "double"):
            return float(raw)
    except ValueError as exc:
        raise ApiError(f"Invalid value '{raw}' for {member.name}", code="ValidationException") from exc
    return raw


def _decode(shape: Shape, value: Any, missing: list[str]) -> Any:
    """JSON body value -> Python, checked against the model (api/shapes.py). A value of the wrong JSON
    type is a request the service cannot deserialize, answered (like AWS's Jackson-based front end)
    with InvalidRequestContentException rather than a crash further in."""
    try:
        return shapes.decode_json(shape, value, "", missing, located=True)
    except shapes.TypeMismatch as exc:
        if exc.type_name == "blob" and exc.message.startswith("Base64"):
            raise InvalidRequestContentException(
                "Could not parse request body into json: blob is not valid base64") from None
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not deserialize value of type {exc.type_name} at "
            f"'{exc.path}'") from None


def _encode(shape: Shape, value: Any, rewrite: Rewrite | None = None, *, located: bool = False) -> Any:
    """Python -> JSON value by the shape; `rewrite` may replace each structure (by its shape's name);
    `located`: members named by their `locationName` where the model gives one (rest-json)."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        if rewrite is not None:
            value = rewrite(shape.name, value)
        out = {}
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None or item is None:
                continue
            out[member.serialization.get("name", key) if located else key] = _encode(member, item, rewrite,
                                                                                   located=located)
        return out
    if t == "list" and isinstance(value, list):
        return [_encode(shape.member, item, rewrite, located=located) for item in value]
    if t == "map" and isinstance(value, dict):
        return {k: _encode(shape.value, item, rewrite, located=located) for k, item in value.items()}
    if t == "blob" and isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


# The shape-driven JSON output codec (blobs as base64), shared with the JSON-protocol services.
encode_value = _encode
