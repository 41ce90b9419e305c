"""SQS on the wire: the JSON protocol current SDKs send (`X-Amz-Target: AmazonSQS.<Op>`,
`application/x-amz-json-1.0`) and the query protocol older SDKs send (form `Action=<Op>`, XML).

Both are driven by botocore's SQS model. Since SQS moved to JSON, that model no longer carries the
query protocol's wire names (`Attribute.1.Name`, `SendMessageBatchRequestEntry.1.Id`, `<Message>`),
so `_QUERY_NAMES` restores them (they are the names of the model SDKs used until 2023).
Requests may also be POSTed to the queue URL itself (`/<account>/<name>`), as old SDKs do.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

from botocore.model import ServiceModel

from lambdad import botocore_models
from lambdad.api import jsonproto, query
from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.restjson import encode_value
from lambdad.errors import ApiError, SqsError
from lambdad.services.sqs.queues import (
    MAX_BATCH_BYTES,
    Queue,
    SendEntry,
    SqsService,
    check_batch,
    invalid_parameter,
    missing_parameter,
    validate_message_attributes,
)

XMLNS = "http://queue.amazonaws.com/doc/2012-11-05/"
_JSON_CONTENT_TYPE = b"application/x-amz-json-1.0"

Handler = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any] | None]]

# Query-protocol wire names: list members, map keys/values, and renamed structure members.
_LIST_MEMBERS = {
    "AWSAccountIdList": "AWSAccountId", "ActionNameList": "ActionName", "AttributeNameList": "AttributeName",
    "BatchResultErrorEntryList": "BatchResultErrorEntry", "BinaryList": "BinaryListValue",
    "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
    "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
    "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
    "MessageAttributeNameList": "MessageAttributeName", "MessageList": "Message",
    "MessageSystemAttributeList": "MessageSystemAttributeName", "QueueUrlList": "QueueUrl",
    "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
    "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry", "StringList": "StringListValue",
    "TagKeyList": "TagKey",
}
_MAP_NAMES = {  # shape -> (its own name, key name, value name)
    "MessageBodyAttributeMap": (None, "Name", "Value"),
    "MessageBodySystemAttributeMap": (None, "Name", "Value"),
    "MessageSystemAttributeMap": ("Attribute", "Name", "Value"),
    "QueueAttributeMap": ("Attribute", "Name", "Value"),
    "TagMap": ("Tag", "Key", "Value"),
}
_MEMBER_NAMES = {
    ("CreateQueueRequest", "Attributes"): "Attribute", ("CreateQueueRequest", "tags"): "Tag",
    ("GetQueueAttributesResult", "Attributes"): "Attribute", ("ListQueueTagsResult", "Tags"): "Tag",
    ("Message", "Attributes"): "Attribute", ("Message", "MessageAttributes"): "MessageAttribute",
    ("MessageAttributeValue", "StringListValues"): "StringListValue",
    ("MessageAttributeValue", "BinaryListValues"): "BinaryListValue",
    ("MessageSystemAttributeValue", "StringListValues"): "StringListValue",
    ("MessageSystemAttributeValue", "BinaryListValues"): "BinaryListValue",
    ("SendMessageBatchRequestEntry", "MessageAttributes"): "MessageAttribute",
    ("SendMessageBatchRequestEntry", "MessageSystemAttributes"): "MessageSystemAttribute",
    ("SendMessageRequest", "MessageAttributes"): "MessageAttribute",
    ("SendMessageRequest", "MessageSystemAttributes"): "MessageSystemAttribute",
    ("SetQueueAttributesRequest", "Attributes"): "Attribute",
}


def _models() -> tuple[ServiceModel, ServiceModel]:
    """botocore's SQS model (JSON protocol) and the same model with its query-protocol names."""
    loader = botocore_models.data_loader()
    raw = loader.load_service_model("sqs", "service-2")
    json_model = ServiceModel(raw, "sqs")
    q = copy.deepcopy(raw)
    q["metadata"].update(protocol="query", protocols=["query"], xmlNamespace=XMLNS)
    shapes = q["shapes"]
    for name, member_name in _LIST_MEMBERS.items():
        shapes[name]["member"]["locationName"] = member_name
    for name, (own, key, value) in _MAP_NAMES.items():
        if own:
            shapes[name]["locationName"] = own
        shapes[name]["key"]["locationName"] = key
        shapes[name]["value"]["locationName"] = value
    for (shape, member), wire in _MEMBER_NAMES.items():
        shapes[shape]["members"][member]["locationName"] = wire
    shapes["ListMessageMoveTasksResult"]["members"]["Results"]["flattened"] = True
    for op_name, op in q["operations"].items():
        if "output" in op:
            op["output"]["resultWrapper"] = f"{op_name}Result"
    return json_model, ServiceModel(q, "sqs")


def _member_name(path: str) -> str:
    """The model's name of the member at a validation path (`entries.1.member.messageBody` -> MessageBody):
    SQS names a missing parameter by itself, not by its path."""
    last = path.rsplit(".", 1)[-1]
    return last[:1].upper() + last[1:]


# Attribute names SQS refuses itself, in its own words (InvalidAttributeName), not as model enums.
_SQS_CHECKS_ITSELF = frozenset({"QueueAttributeName", "MessageSystemAttributeName",
                                "MessageSystemAttributeNameForSends"})


def _missing_json(operation: str, paths: list[str]) -> list[str]:
    """SQS names the first missing parameter by itself (MissingParameter). The queue URL may be the
    request path instead, so its absence is left to `queue_of`."""
    for path in paths:
        if path != "queueUrl":
            raise missing_parameter(_member_name(path))
    return []


def _as_json(model: ServiceModel, name: str, fn: Handler) -> jsonproto.Operation:
    """A handler's result as the JSON protocol's output members (blobs base64, by the model's shape)."""
    output = model.operation_model(name).output_shape

    async def operation(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        result = await fn(request, params)
        return encode_value(output, result) if result and output is not None else {}
    return operation


def _is_json(request: ApiRequest) -> bool:
    return "x-amz-target" in request.headers


def render_error(exc: ApiError, request: ApiRequest) -> ApiResponse:
    if _is_json(request):
        json_type = exc.json_type if isinstance(exc, SqsError) else exc.code
        headers = [(b"content-type", _JSON_CONTENT_TYPE), (b"x-amzn-requestid", request.request_id.encode())]
        if isinstance(exc, SqsError):
            kind = "Sender" if exc.sender_fault else "Receiver"
            headers.append((b"x-amzn-query-error", f"{exc.code};{kind}".encode()))
        body = {"__type": f"com.amazonaws.sqs#{json_type}", "message": exc.message}
        return ApiResponse(exc.status, json.dumps(body).encode(), headers)
    if isinstance(exc, SqsError) and exc.json_type == "QueueDoesNotExist":
        exc = SqsError("The specified queue does not exist for this wsdl version.", code=exc.code,
                       json_type=exc.json_type)
    return query.render_error(exc, request.request_id, XMLNS, detail=True)


def _int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(str(value))
        except ValueError:
            raise invalid_parameter(name, value, "Must be an integer.") from None
    return value


def _entry(params: dict[str, Any]) -> SendEntry:
    return SendEntry(params.get("MessageBody", ""), params.get("MessageAttributes"), _int(params, "DelaySeconds"),
                     params.get("MessageGroupId"), params.get("MessageDeduplicationId"),
                     params.get("MessageSystemAttributes"), params.get("Id", ""))


def _failed(entry_id: str, exc: SqsError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": exc.sender_fault, "Code": exc.code, "Message": exc.message}


def _batch_result(successful: list[dict[str, Any]], failed: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if successful:
        out["Successful"] = successful
    if failed:
        out["Failed"] = failed
    return out


def _page_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _after(token: str | None) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter("NextToken", token, "Invalid NextToken value.") from None


class SqsWire:
    """SQS's two protocols behind one `Service`: JSON (X-Amz-Target) and query (Action=...)."""

    def __init__(self, by_protocol: Callable[[ApiRequest], Awaitable[ApiResponse]],
                 authorize: Authorize | None) -> None:
        self._by_protocol = by_protocol
        self.authorize = authorize  # both protocols' operations call it (through the query codec's)

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        return await self._by_protocol(request)


def build(sqs: SqsService, authorize: Authorize | None) -> SqsWire:
    json_model, query_model = _models()
    qsvc = query.QueryService(query_model, XMLNS, error_detail=True,
                              missing_parameter=lambda op, name: missing_parameter(_member_name(name)),
                              authorize=authorize)
    jsvc = jsonproto.JsonService("AmazonSQS", "application/x-amz-json-1.0", model=json_model, authorize=authorize,
                                 on_missing=_missing_json, unchecked=_SQS_CHECKS_ITSELF)

    def op(name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            qsvc.operation(name)(fn)
            jsvc.operation(name)(_as_json(json_model, name, fn))
            return fn
        return register

    def account(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    def sender(request: ApiRequest) -> str:
        principal = request.principal
        assert principal is not None
        return principal.account if principal.is_root else (principal.access_key_id or principal.account)

    def queue_of(request: ApiRequest, params: dict[str, Any]) -> Queue:
        ref = params.get("QueueUrl")
        if not ref:
            segments = [s for s in request.path.split("/") if s]
            if len(segments) != 2:
                raise missing_parameter("QueueUrl")
            ref = "/" + "/".join(segments)
        return sqs.get(ref, account(request), request.region)  # a bare name: the caller's queue, as on AWS

    # -- queues -------------------------------------------------------------------------------------
    @op("CreateQueue")
    async def create_queue(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        queue = sqs.create_queue(account(request), request.region, p["QueueName"], p.get("Attributes"), p.get("tags"))
        return {"QueueUrl": queue.url}

    @op("GetQueueUrl")
    async def get_queue_url(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        owner = p.get("QueueOwnerAWSAccountId") or account(request)
        return {"QueueUrl": sqs.get(p["QueueName"], owner, request.region).url}

    @op("ListQueues")
    async def list_queues(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        limit = _int(p, "MaxResults")
        if limit is not None and not 1 <= limit <= 1000:
            raise invalid_parameter("MaxResults", limit, "MaxResults must be an integer between 1 and 1000.")
        after = _after(p.get("NextToken"))
        queues = [q for q in sqs.queues(account(request), request.region, p.get("QueueNamePrefix") or "")
                  if q.name > after]
        page = queues[:limit or 1000]
        out: dict[str, Any] = {}
        if page:
            out["QueueUrls"] = [q.url for q in page]
        if limit is not None and len(queues) > len(page):
            out["NextToken"] = _page_token(page[-1].name)
        return out

    @op("DeleteQueue")
    async def delete_queue(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.delete_queue(queue_of(request, p))

    @op("PurgeQueue")
    async def purge_queue(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.purge(queue_of(request, p))

    @op("GetQueueAttributes")
    async def get_queue_attributes(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        attributes = sqs.get_attributes(queue_of(request, p), p.get("AttributeNames") or [])
        return {"Attributes": attributes} if attributes else {}

    @op("SetQueueAttributes")
    async def set_queue_attributes(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.set_attributes(queue_of(request, p), p.get("Attributes") or {})

    @op("TagQueue")
    async def tag_queue(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.tag(queue_of(request, p), p.get("Tags") or {})

    @op("UntagQueue")
    async def untag_queue(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.untag(queue_of(request, p), p.get("TagKeys") or [])

    @op("ListQueueTags")
    async def list_queue_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        tags = queue_of(request, p).tags
        return {"Tags": dict(tags)} if tags else {}

    @op("AddPermission")
    async def add_permission(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.add_permission(queue_of(request, p), p["Label"], p["AWSAccountIds"], p["Actions"])

    @op("RemovePermission")
    async def remove_permission(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.remove_permission(queue_of(request, p), p["Label"])

    @op("ListDeadLetterSourceQueues")
    async def list_dead_letter_source_queues(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        sources = sqs.dead_letter_sources(queue_of(request, p))
        limit = _int(p, "MaxResults")
        after = _after(p.get("NextToken"))
        sources = [q for q in sources if q.name > after]
        page = sources[:limit or 1000]
        out: dict[str, Any] = {"queueUrls": [q.url for q in page]}
        if limit is not None and len(sources) > len(page):
            out["NextToken"] = _page_token(page[-1].name)
        return out

    for unsupported in ("StartMessageMoveTask", "CancelMessageMoveTask", "ListMessageMoveTasks"):
        async def not_supported(request: ApiRequest, p: dict[str, Any], _name: str = unsupported) -> None:
            raise SqsError(f"{_name} is not supported by this lambdad server.",
                           code="AWS.SimpleQueueService.UnsupportedOperation", json_type="UnsupportedOperation")
        op(unsupported)(not_supported)

    # -- messages -----------------------------------------------------------------------------------
    @op("SendMessage")
    async def send_message(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        queue = queue_of(request, p)
        result = sqs.send(queue, [_entry(p)], sender(request))[0]
        assert not isinstance(result, SqsError)
        return result.as_dict()

    @op("SendMessageBatch")
    async def send_message_batch(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        queue = queue_of(request, p)
        entries = check_batch(p.get("Entries"), "SendMessageBatchRequestEntry")
        total = 0
        for entry in entries:
            total += len(str(entry.get("MessageBody") or "").encode())
            try:
                total += validate_message_attributes(entry.get("MessageAttributes"))[1]
            except SqsError:
                pass  # reported per entry below
        if total > MAX_BATCH_BYTES:
            raise SqsError(f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} "
                           "bytes.", code="AWS.SimpleQueueService.BatchRequestTooLong",
                           json_type="BatchRequestTooLong")
        results = sqs.send(queue, [_entry(e) for e in entries], sender(request), batch=True)
        successful, failed = [], []
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, SqsError):
                failed.append(_failed(entry["Id"], result))
            else:
                successful.append({"Id": entry["Id"], **result.as_dict()})
        return _batch_result(successful, failed)

    @op("ReceiveMessage")
    async def receive_message(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        queue = queue_of(request, p)
        names = [*(p.get("AttributeNames") or []), *(p.get("MessageSystemAttributeNames") or [])]
        max_messages = _int(p, "MaxNumberOfMessages")
        messages = await sqs.receive(queue, max_messages=1 if max_messages is None else max_messages,
                                     visibility_timeout=_int(p, "VisibilityTimeout"),
                                     wait_seconds=_int(p, "WaitTimeSeconds"), attribute_names=names,
                                     message_attribute_names=p.get("MessageAttributeNames") or [])
        return {"Messages": messages} if messages else {}

    @op("DeleteMessage")
    async def delete_message(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.delete_message(queue_of(request, p), p["ReceiptHandle"])

    @op("DeleteMessageBatch")
    async def delete_message_batch(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        queue = queue_of(request, p)
        successful, failed = [], []
        for entry in check_batch(p.get("Entries"), "DeleteMessageBatchRequestEntry"):
            try:
                sqs.delete_message(queue, entry.get("ReceiptHandle") or "")
                successful.append({"Id": entry["Id"]})
            except SqsError as exc:
                failed.append(_failed(entry["Id"], exc))
        return _batch_result(successful, failed)

    @op("ChangeMessageVisibility")
    async def change_message_visibility(request: ApiRequest, p: dict[str, Any]) -> None:
        sqs.change_visibility(queue_of(request, p), p["ReceiptHandle"], _int(p, "VisibilityTimeout") or 0)

    @op("ChangeMessageVisibilityBatch")
    async def change_message_visibility_batch(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        queue = queue_of(request, p)
        successful, failed = [], []
        for entry in check_batch(p.get("Entries"), "ChangeMessageVisibilityBatchRequestEntry"):
            try:
                sqs.change_visibility(queue, entry.get("ReceiptHandle") or "", _int(entry, "VisibilityTimeout") or 0)
                successful.append({"Id": entry["Id"]})
            except SqsError as exc:
                failed.append(_failed(entry["Id"], exc))
        return _batch_result(successful, failed)

    async def dispatch(request: ApiRequest) -> ApiResponse:
        if _is_json(request):
            return await jsvc.dispatch(request)
        params = query.form_params(request)
        if not params.get("QueueUrl"):
            segments = [s for s in request.path.split("/") if s]
            if len(segments) == 2:
                params["QueueUrl"] = "/" + "/".join(segments)
        return await qsvc.dispatch(request, params)

    return SqsWire(dispatch, authorize)
