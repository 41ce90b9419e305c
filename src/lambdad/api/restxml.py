"""The rest-xml protocol (S3), driven by botocore's own service model.

Routes, where each input member lives (URI label, query string, header, prefixed headers such as
`x-amz-meta-*`, XML payload, streamed blob payload) and how outputs map back (status code, headers,
XML body, blob payload) come from the model boto3 uses. Handlers receive one flat dict of input
members and return one flat dict of output members, or an `ApiResponse` (a streamed object).

Routing: S3 puts many operations on one path (`PUT /{Bucket}/{Key+}` is PutObject, CopyObject,
UploadPart or UploadPartCopy), told apart by the query keys and headers each one requires. A route's
requirements are its URI's fixed query plus its required query-string and header members; the route
with the most requirements that the request meets wins.

A service built on this codec takes its body as a stream (`streams_body`): a blob payload stays in
`request.stream` for the handler, an XML payload is read here (at most `MAX_XML_BODY`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from botocore.model import OperationModel, Shape
from defusedxml import ElementTree as SafeXml

from lambdad import botocore_models
from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.restjson import uri_pattern
from lambdad.errors import ApiError, UnknownOperationException

Handler = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any] | ApiResponse]]

# An XML request body (a bucket configuration, a DeleteObjects list of 1,000 keys) is read whole.
MAX_XML_BODY = 2 * 1024 * 1024


class MalformedXml(ApiError):
    """A request body that is not XML of the operation's shape (S3's MalformedXML)."""

    code = "MalformedXML"
    status = 400

    def __init__(self) -> None:
        super().__init__("The XML you provided was not well-formed or did not validate against our published schema")


@dataclass(slots=True)
class Route:
    operation: OperationModel
    method: str
    regex: re.Pattern[str]
    labels: list[str]
    fixed_query: dict[str, str | None]
    required_query: list[str]
    required_headers: list[str]
    handler: Handler | None = None
    specificity: int = field(default=0)


def _compile(op: OperationModel) -> Route:
    uri = op.http["requestUri"]
    path, _, fixed = uri.partition("?")
    pattern, labels = uri_pattern(path)
    if not pattern.endswith("/"):
        pattern += "/?"
    fixed_query: dict[str, str | None] = {}
    for part in filter(None, fixed.split("&")):
        key, eq, value = part.partition("=")
        if key != "x-id":  # newer models name the operation in the URI; older clients do not send it
            fixed_query[key] = value if eq else None
    required_query: list[str] = []
    required_headers: list[str] = []
    shape = op.input_shape
    if shape is not None:
        for name in shape.required_members:
            member = shape.members[name]
            location = member.serialization.get("location")
            if location == "querystring":
                required_query.append(member.serialization.get("name", name))
            elif location == "header":
                required_headers.append(member.serialization.get("name", name).lower())
    route = Route(op, op.http["method"], re.compile(pattern), labels, fixed_query, required_query, required_headers)
    route.specificity = len(fixed_query) + len(required_query) + len(required_headers)
    return route


class RestXmlService:
    """A codec bound to its handlers and authorization hook (a `Service`, api/base.py)."""

    streams_body = True

    def __init__(self, service_name: str, *, authorize: Authorize | None, root_names: dict[str, str],
                 namespace: str) -> None:
        self.model = botocore_models.service_model(service_name)
        self.authorize = authorize
        self.root_names = root_names  # output shape -> the XML document's root element
        self.namespace = namespace
        self.routes: dict[str, list[Route]] = {}
        self.by_name: dict[str, Route] = {}
        for name in self.model.operation_names:
            route = _compile(self.model.operation_model(name))
            self.routes.setdefault(route.method, []).append(route)
            self.by_name[name] = route
        for routes in self.routes.values():
            routes.sort(key=lambda r: (-r.specificity, -len(r.regex.pattern)))
        #: rewrites the request's path before routing (virtual-hosted style buckets)
        self.path_of: Callable[[ApiRequest], str] = lambda request: request.raw_path

    def handler(self, operation: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.by_name[operation].handler = fn
            return fn
        return register

    def match(self, request: ApiRequest) -> tuple[Route, list[str]]:
        query = request.query
        path = self.path_of(request)
        # Deprecated operations share their successors' routes (PutBucketNotification and
        # PutBucketNotificationConfiguration): the one with a handler wins.
        unserved: tuple[Route, list[str]] | None = None
        for route in self.routes.get(request.method, ()):
            m = route.regex.fullmatch(path)
            if m is None:
                continue
            if any(k not in query or (v is not None and query[k][0] != v) for k, v in route.fixed_query.items()):
                continue
            if any(k not in query for k in route.required_query):
                continue
            if any(h not in request.headers for h in route.required_headers):
                continue
            if route.handler is None:
                unserved = unserved or (route, [unquote(g) for g in m.groups()])
                continue
            return route, [unquote(g) for g in m.groups()]
        if unserved is not None:
            return unserved
        raise UnknownOperationException("The specified method is not allowed against this resource.")

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        route, values = self.match(request)
        if route.handler is None:
            raise ApiError(f"{route.operation.name} is not implemented by this lambdad server.",
                           code="NotImplemented", status=501)
        params = await self.parse_input(route, values, request)
        request.action = route.operation.name
        if self.authorize is not None:
            self.authorize(request, route.operation.name, params)
        result = await route.handler(request, params)
        if isinstance(result, ApiResponse):
            return result
        return self.render_output(route.operation, result)

    # -- input ------------------------------------------------------------------------------
    async def parse_input(self, route: Route, values: list[str], request: ApiRequest) -> dict[str, Any]:
        shape = route.operation.input_shape
        params: dict[str, Any] = {}
        if shape is None:
            return params
        for label, value in zip(route.labels, values, strict=True):
            params[_member_for_location(shape, "uri", label)] = value
        query = request.query
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "querystring" and wire in query:
                raw = query[wire]
                params[name] = raw if member.type_name == "list" else _scalar(member, raw[0], header=False)
            elif location == "header":
                found = request.headers.get(wire.lower())
                if found is not None:
                    params[name] = _scalar(member, found, header=True)
            elif location == "headers":
                prefix = wire.lower()
                params[name] = {k[len(prefix):]: v for k, v in request.headers.items() if k.startswith(prefix)}
        payload = shape.serialization.get("payload")
        if payload:
            member = shape.members[payload]
            if member.type_name == "structure":
                data = request.body
                if request.stream is not None:
                    data = await request.stream.read(MAX_XML_BODY)
                if data.strip():
                    params[payload] = parse_xml(member, data)
        return params

    # -- output -----------------------------------------------------------------------------
    def render_output(self, op: OperationModel, result: dict[str, Any]) -> ApiResponse:
        status = int(op.http.get("responseCode", 200))
        shape = op.output_shape
        headers: list[tuple[bytes, bytes]] = []
        if shape is None:
            return ApiResponse(status, b"", headers)
        payload = shape.serialization.get("payload")
        fields: dict[str, Any] = {}
        for name, value in result.items():
            member = shape.members.get(name)
            if member is None or value is None:
                continue
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "statusCode":
                status = int(value)
            elif location == "header":
                headers.append((wire.lower().encode(), _header_text(member, value).encode("utf-8")))
            elif location == "headers":
                for key, item in value.items():
                    headers.append(((wire + key).lower().encode(), str(item).encode("utf-8")))
            else:
                fields[name] = value
        if payload:
            member = shape.members[payload]
            value = fields.get(payload)
            if value is None:
                return ApiResponse(status, b"", headers)
            if member.type_name in ("blob", "string"):
                return ApiResponse(status, value if isinstance(value, bytes) else str(value).encode(), headers)
            root, body_shape, body = member.serialization.get("name", payload), member, value
        else:
            if not fields:
                return ApiResponse(status, b"", headers)
            root, body_shape, body = self.root_names.get(shape.name, shape.name), shape, fields
        headers.append((b"content-type", b"application/xml"))
        return ApiResponse(status, self.document(root, body_shape, body), headers)

    def document(self, root: str, shape: Shape, value: Any) -> bytes:
        inner = _encode_members(shape, value) if shape.type_name == "structure" else escape(str(value))
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{self.namespace}">{inner}</{root}>'
                ).encode()


def _member_for_location(shape: Shape, location: str, wire_name: str) -> str:
    for name, member in shape.members.items():
        if member.serialization.get("location") == location and member.serialization.get("name", name) == wire_name:
            return str(name)
    return wire_name


def _bad_value(member: Shape, raw: str) -> ApiError:
    return ApiError(f"Invalid value for {member.name}: {raw[:100]!r}", code="InvalidArgument", status=400)


def _scalar(member: Shape, raw: str, *, header: bool) -> Any:
    t = member.type_name
    if t in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise _bad_value(member, raw) from None
    if t == "boolean":
        return raw.lower() == "true"
    if t == "timestamp":
        parsed = parse_time(raw)
        if parsed is None:
            raise _bad_value(member, raw)
        return parsed
    return raw


def parse_time(raw: str) -> float | None:
    """Seconds since the epoch from an HTTP date (RFC 7231) or an ISO 8601 time; None if neither."""
    raw = raw.strip()
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        pass
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


def iso_time(seconds: float) -> str:
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return f"{dt.datetime.fromtimestamp(whole, dt.UTC).strftime('%Y-%m-%dT%H:%M:%S')}.{millis:03d}Z"


def _seconds(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return calendar.timegm(value.utctimetuple()) + value.microsecond / 1e6
    return float(value)


def _header_text(member: Shape, value: Any) -> str:
    if member.type_name == "timestamp":
        if member.serialization.get("timestampFormat") == "iso8601":
            return iso_time(_seconds(value))
        return http_date(_seconds(value))
    if member.type_name == "boolean":
        return "true" if value else "false"
    return str(value)


# -- XML bodies ------------------------------------------------------------------------------


def parse_xml(shape: Shape, data: bytes) -> Any:
    """An XML document decoded by `shape` (its root element's name is not checked, as botocore does not)."""
    try:
        root = SafeXml.fromstring(data, forbid_dtd=True)
    except Exception:  # defusedxml and expat raise several kinds; all mean the same to the caller
        raise MalformedXml() from None
    try:
        return _decode(shape, root)
    except (ValueError, TypeError):
        raise MalformedXml() from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _decode(shape: Shape, element: Element) -> Any:
    t = shape.type_name
    if t == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                found = _children(element, wire)
                if found:
                    out[name] = [_decode(member.member, item) for item in found]
                continue
            if member.serialization.get("xmlAttribute"):
                continue
            found = _children(element, wire)
            if found:
                out[name] = _decode(member, found[0])
        return out
    if t == "list":
        item_name = shape.member.serialization.get("name", "member")
        return [_decode(shape.member, item) for item in _children(element, item_name)]
    if t == "map":
        return {(_children(entry, "key")[0].text or ""): _decode(shape.value, _children(entry, "value")[0])
                for entry in _children(element, "entry")}
    text = element.text or ""
    if t in ("integer", "long"):
        return int(text.strip())
    if t == "boolean":
        if text.strip() not in ("true", "false"):
            raise ValueError(text)
        return text.strip() == "true"
    if t == "timestamp":
        parsed = parse_time(text)
        if parsed is None:
            raise ValueError(text)
        return parsed
    return text


def _encode_members(shape: Shape, value: dict[str, Any]) -> str:
    parts: list[str] = []
    for name, member in shape.members.items():
        if name not in value or value[name] is None or member.serialization.get("location"):
            continue
        wire = member.serialization.get("name", name)
        item = value[name]
        if member.type_name == "list" and member.serialization.get("flattened"):
            parts.extend(f"<{wire}>{_encode(member.member, each)}</{wire}>" for each in item)
        else:
            parts.append(f"<{wire}>{_encode(member, item)}</{wire}>")
    return "".join(parts)


def _encode(shape: Shape, value: Any) -> str:
    t = shape.type_name
    if t == "structure":
        return _encode_members(shape, value)
    if t == "list":
        item_name = shape.member.serialization.get("name", "member")
        return "".join(f"<{item_name}>{_encode(shape.member, each)}</{item_name}>" for each in value)
    if t == "map":
        return "".join(f"<entry><key>{escape(str(k))}</key><value>{_encode(shape.value, v)}</value></entry>"
                       for k, v in value.items())
    if t == "timestamp":
        return iso_time(_seconds(value))
    if t == "boolean":
        return "true" if value else "false"
    return escape(str(value))
