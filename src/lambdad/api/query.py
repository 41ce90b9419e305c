"""The AWS query protocol (form-encoded `Action=...` requests, XML responses), driven by botocore's model.

Requests flatten nested input into dotted keys (`Attribute.1.Name`, `Entries.member.2.Id`,
`MessageAttributes.entry.1.Value.StringValue`); this module rebuilds the nested input exactly as
botocore's `QuerySerializer` flattened it, from the same service model, so every query service
(SQS for older clients, SNS, IAM, STS, ELBv2) shares one parser and one XML renderer:

    svc = QueryService(model, xmlns)
    @svc.operation("CreateTopic")
    async def create_topic(request, params) -> dict: ...     # params/return use the model's member names

Responses are `<OpResponse><OpResult>...</OpResult><ResponseMetadata><RequestId>` and errors
`<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error><RequestId>`.

EC2's own `ec2` protocol is the same codec with botocore's `EC2Serializer`/`EC2QueryParser` rules
(`QueryService` picks them from the model's `protocol`): a member's wire name is its `queryName`, else
its `locationName` capitalized; every list is flattened as `Name.1`, `Name.2` (no `.member`); the
response has no result wrapper (`<OpResponse><requestId>..</requestId><vpcSet><item>..`), and errors
are `<Response><Errors><Error><Code>..</Code><Message>..</Message></Error></Errors><RequestID>`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel, Shape

from lambdad.api import shapes
from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.refusals import AUTH_CODES, operation_sentence
from lambdad.errors import ApiError, AuthError

Operation = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any] | None]]

_XML_CONTENT_TYPE = (b"content-type", b"text/xml")
# SigV4 failures in the query protocol's spelling (auth/sigv4.py answers with the JSON protocol's).
# XML 1.0 parsers turn a literal CR into LF; escaping it keeps bodies (and their MD5s) intact.
_XML_ENTITIES = {"\r": "&#xD;", '"': "&quot;"}


def _invalid(message: str) -> ApiError:
    """A flattened parameter that cannot be decoded (bad integer or base64, body not UTF-8)."""
    return ApiError(message, code="InvalidParameterValue")


# -- input ------------------------------------------------------------------------------------------

def form_params(request: ApiRequest) -> dict[str, str]:
    """Query-string and form-body parameters of a request, body winning (as AWS treats POSTs).

    Only a header-signed POST takes parameters from its body: a GET's body means nothing in HTTP,
    and a presigned URL's signature covers its query string, not whatever body a holder of the URL
    sends with it, so neither may change the parameters (a presigned GetCallerIdentity must not
    become GetSessionToken).
    """
    params = dict(parse_qsl(request.raw_query, keep_blank_values=True)) if request.raw_query else {}
    if request.body and request.method == "POST" and not _presigned(request):
        ctype = request.headers.get("content-type", "")
        if not ctype or "x-www-form-urlencoded" in ctype:
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _invalid("The request body is not valid UTF-8.") from exc
            params.update(parse_qsl(text, keep_blank_values=True))
    return params


def _presigned(request: ApiRequest) -> bool:
    return not request.headers.get("authorization") and any(
        key.lower() in ("x-amz-signature", "x-amz-credential") for key in request.query)


class _Node:
    """One dotted-key component: its own value (if the key ended here) and its children."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def _tree(params: Mapping[str, str]) -> _Node:
    root = _Node()
    for key, value in params.items():
        node = root
        for part in key.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node()
            node = child
        node.value = value
    return root


_INDEX = re.compile(r"[0-9]{1,9}")


def _wire_name(shape: Shape, default: str) -> str:
    return shape.serialization.get("name") or default


def _indexed(node: _Node) -> list[_Node]:
    """Children named 1, 2, 3... in numeric order (gaps tolerated, as AWS does). Only ASCII decimal
    indexes of a sane length count: `str.isdigit` also accepts '²' (which int() refuses) and a
    5,000-digit index exceeds int()'s digit limit, both a ValueError 500 before."""
    items = [(int(k), child) for k, child in node.children.items() if _INDEX.fullmatch(k)]
    items.sort(key=lambda kv: kv[0])
    return [child for _, child in items]


def decode(shape: Shape, params: Mapping[str, str], *, ec2: bool = False) -> dict[str, Any]:
    """Rebuild an operation's input structure from flattened query parameters (`ec2`: as
    botocore's EC2Serializer flattens them)."""
    return _decode_structure(shape, _tree(params), ec2)


def _ec2_name(shape: Shape, default: str) -> str:
    if "queryName" in shape.serialization:
        return str(shape.serialization["queryName"])
    name = shape.serialization.get("name")
    return name[:1].upper() + name[1:] if name else default


def _decode_member(parent: _Node, member: Shape, name: str, ec2: bool = False) -> Any:
    """The value of `member` (named `name` in its structure) below `parent`; None when absent."""
    if ec2:
        node = parent.children.get(_ec2_name(member, name))
        if node is None:
            return None
        if member.type_name == "list":
            return [_decode_value(member.member, item, ec2) for item in _indexed(node)]
        return _decode_value(member, node, ec2)
    wire = _wire_name(member, name)
    if member.type_name == "list":
        if member.serialization.get("flattened"):
            # botocore replaces the member's own name by the list member's locationName.
            node = parent.children.get(_wire_name(member.member, wire))
            if node is None:
                node = parent.children.get(wire)
                if node is None:
                    return None
            return [_decode_value(member.member, item) for item in _indexed(node)] if node.children else []
        node = parent.children.get(wire)
        if node is None:
            return None
        inner = node.children.get(_wire_name(member.member, "member"))
        return [_decode_value(member.member, item) for item in _indexed(inner)] if inner is not None else []
    node = parent.children.get(wire)
    if node is None:
        return None
    return _decode_value(member, node)


def _decode_value(shape: Shape, node: _Node, ec2: bool = False) -> Any:
    t = shape.type_name
    if t == "structure":
        return _decode_structure(shape, node, ec2)
    if t == "map":
        entries = node if shape.serialization.get("flattened") else node.children.get("entry", _Node())
        key_name = _wire_name(shape.key, "key")
        value_name = _wire_name(shape.value, "value")
        out: dict[str, Any] = {}
        for entry in _indexed(entries):
            key_node = entry.children.get(key_name)
            if key_node is None or key_node.value is None:
                continue
            value_node = entry.children.get(value_name)
            out[key_node.value] = _decode_value(shape.value, value_node, ec2) if value_node is not None else None
        return out
    if t == "list":  # a list nested directly in a list: rare, not flattened
        inner = node if ec2 else node.children.get(_wire_name(shape.member, "member"), node)
        return [_decode_value(shape.member, item, ec2) for item in _indexed(inner)]
    return _scalar(shape, node.value if node.value is not None else "")


def _decode_structure(shape: Shape, node: _Node, ec2: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = _decode_member(node, member, name, ec2)
        if value is not None:
            out[name] = value
    return out


def _scalar(shape: Shape, raw: str) -> Any:
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(raw)
        if t in ("float", "double"):
            return float(raw)
    except ValueError:
        raise _invalid(f"Value {raw} for parameter {shape.name} is invalid.") from None
    if t == "boolean":
        return raw.lower() == "true"
    if t == "blob":
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"Value {raw} for parameter {shape.name} is not valid base64.") from None
    return raw


# -- output -----------------------------------------------------------------------------------------

def _text(value: Any, shape: Shape) -> str:
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "blob":
        raw = value if isinstance(value, bytes) else str(value).encode()
        return base64.b64encode(raw).decode()
    if t == "timestamp":
        if isinstance(value, int | float):
            value = datetime.fromtimestamp(value, UTC)
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return escape(str(value), _XML_ENTITIES)


def _encode_member(out: list[str], member: Shape, name: str, value: Any) -> None:
    wire = _wire_name(member, name)
    t = member.type_name
    if t == "list":
        if member.serialization.get("flattened"):
            tag = _wire_name(member.member, wire)
            for item in value:
                out.append(f"<{tag}>")
                _encode_value(out, member.member, item)
                out.append(f"</{tag}>")
            return
        tag = _wire_name(member.member, "member")
        out.append(f"<{wire}>")
        for item in value:
            out.append(f"<{tag}>")
            _encode_value(out, member.member, item)
            out.append(f"</{tag}>")
        out.append(f"</{wire}>")
        return
    if t == "map":
        key_tag = _wire_name(member.key, "key")
        value_tag = _wire_name(member.value, "value")
        flattened = member.serialization.get("flattened")
        if not flattened:
            out.append(f"<{wire}>")
        for key, item in value.items():
            out.append(f"<{wire}>" if flattened else "<entry>")
            out.append(f"<{key_tag}>{escape(str(key), _XML_ENTITIES)}</{key_tag}><{value_tag}>")
            _encode_value(out, member.value, item)
            out.append(f"</{value_tag}>")
            out.append(f"</{wire}>" if flattened else "</entry>")
        if not flattened:
            out.append(f"</{wire}>")
        return
    out.append(f"<{wire}>")
    _encode_value(out, member, value)
    out.append(f"</{wire}>")


def _encode_value(out: list[str], shape: Shape, value: Any) -> None:
    if shape.type_name == "structure":
        for name, item in value.items():
            member = shape.members.get(name)
            if member is not None and item is not None:
                _encode_member(out, member, name, item)
    elif shape.type_name in ("list", "map"):
        _encode_member(out, shape, shape.name, value)
    else:
        out.append(_text(value, shape))


def render(op: OperationModel, xmlns: str, result: Mapping[str, Any] | None, request_id: str, *,
           ec2: bool = False) -> bytes:
    name = op.name
    out = [f'<?xml version="1.0"?>\n<{name}Response xmlns="{xmlns}">']
    shape = op.output_shape
    if ec2:  # no result wrapper: the members sit beside requestId
        out[0] = f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{xmlns}">'
        out.append(f"<requestId>{request_id}</requestId>")
        if shape is not None and result:
            _encode_value(out, shape, result)
        out.append(f"</{name}Response>")
        return "".join(out).encode()
    if shape is not None:
        wrapper = op.output_shape.serialization.get("resultWrapper") or f"{name}Result"
        out.append(f"<{wrapper}>")
        if result:
            _encode_value(out, shape, result)
        out.append(f"</{wrapper}>")
    out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
    return "".join(out).encode()


def render_error(exc: ApiError, request_id: str, xmlns: str, *, detail: bool = False,
                 ec2: bool = False) -> ApiResponse:
    kind = "Sender" if exc.sender_fault else "Receiver"
    code = AUTH_CODES.get(exc.code, exc.code) if isinstance(exc, AuthError) else exc.code
    if ec2:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
                f"<Message>{escape(exc.message, _XML_ENTITIES)}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
        return ApiResponse(exc.status, body.encode(),
                           [_XML_CONTENT_TYPE, (b"x-amzn-requestid", request_id.encode())])
    body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{xmlns}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(exc.message, _XML_ENTITIES)}</Message>"
            f"{'<Detail/>' if detail else ''}</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return ApiResponse(exc.status, body.encode(),
                       [_XML_CONTENT_TYPE, (b"x-amzn-requestid", request_id.encode())])


# -- dispatch ---------------------------------------------------------------------------------------

class QueryService:
    """Operations of one query-protocol service, parsed and rendered from its botocore model."""

    def __init__(self, model: ServiceModel, xmlns: str | None = None, *, error_detail: bool = False,
                 missing_parameter: Callable[[str, str], ApiError] | None = None,
                 also_required: Mapping[str, tuple[str, ...]] | None = None,
                 validation_code: str | None = None, unchecked: frozenset[str] = frozenset(),
                 authorize: Authorize | None) -> None:
        self.model = model
        self.unchecked = unchecked  # shapes the handlers check in the service's own words
        #: the code of the model's generated constraint errors (api/shapes.py); None: not checked
        self.validation_code = validation_code
        self.also_required = also_required or {}
        self.xmlns = xmlns or model.metadata.get("xmlNamespace", "")
        #: EC2's variant of the protocol (member names, flattened lists, no result wrapper)
        self.ec2 = model.metadata.get("protocol") == "ec2"
        self.error_detail = error_detail
        self.missing_parameter = missing_parameter
        self.operations: dict[str, Operation] = {}
        self.authorize = authorize
        self._models: dict[str, OperationModel] = {}

    def operation(self, name: str) -> Callable[[Operation], Operation]:
        def register(fn: Operation) -> Operation:
            self.operations[name] = fn
            self._models[name] = self.model.operation_model(name)
            return fn
        return register

    def operation_model(self, name: str) -> OperationModel | None:
        return self._models.get(name)

    def parse(self, name: str, params: Mapping[str, str]) -> dict[str, Any]:
        op = self._models[name]
        shape = op.input_shape
        if shape is None:
            return {}
        decoded = decode(shape, params, ec2=self.ec2)
        if self.missing_parameter is not None:
            wire = _ec2_name if self.ec2 else _wire_name
            for required in shape.required_members:
                if required not in decoded:
                    raise self.missing_parameter(name, wire(shape.members[required], required))
            # Below the top level too: handlers index what the model (or AWS) says is always there.
            nested = shapes.missing_in_query(shape, decoded, self.also_required)
            if nested:
                raise self.missing_parameter(name, nested[0])
        if self.validation_code is not None:
            broken = shapes.constraint_errors(shape, decoded, "", self.unchecked)
            if broken:
                raise ApiError(shapes.validation_message([], broken), code=self.validation_code)
        return decoded

    async def dispatch(self, request: ApiRequest, params: Mapping[str, str] | None = None) -> ApiResponse:
        params = form_params(request) if params is None else params
        action = params.get("Action", "")
        fn = self.operations.get(action)
        if fn is None:
            if action in self.model.operation_names:  # AWS has it; lambdad does not (api/refusals.py)
                title = self.model.metadata.get("serviceAbbreviation") or self.model.metadata["serviceFullName"]
                raise ApiError(operation_sentence(title, action), code="InvalidAction")
            raise ApiError(f"The action {action or 'None'} is not valid for this endpoint.", code="InvalidAction")
        parsed = self.parse(action, params)
        if self.authorize is not None:
            self.authorize(request, action, parsed)
        result = await fn(request, parsed)
        return ApiResponse(200, render(self._models[action], self.xmlns, result, request.request_id, ec2=self.ec2),
                           [_XML_CONTENT_TYPE, (b"x-amzn-requestid", request.request_id.encode())])

    def render_error(self, exc: ApiError, request: ApiRequest) -> ApiResponse:
        return render_error(exc, request.request_id, self.xmlns, detail=self.error_detail, ec2=self.ec2)
