"""Lambda API operations (rest-json): thin adapters from wire parameters to control/ and invoke/."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from typing import TYPE_CHECKING, Any

from lambdad import safejson
from lambdad.api import lambda_access_api, lambda_async_api
from lambdad.api.base import ApiRequest, ApiResponse
from lambdad.api.restjson import RestJsonService
from lambdad.control.functions import LATEST, FunctionVersion
from lambdad.control.names import FunctionRef, function_arn, parse_function_ref, validation_error
from lambdad.control.versions import require_latest
from lambdad.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    ResourceNotFoundException,
)
from lambdad.invoke.invoker import InvokeMeta

if TYPE_CHECKING:
    from lambdad.server import Lambdad

PAGE_DEFAULT = 50
_ALIAS_RE = re.compile(r"[a-zA-Z0-9-_]+")


# Fields AWS leaves out of ListFunctions entries (the state lives on GetFunction/GetFunctionConfiguration).
_NOT_LISTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
               "LastUpdateStatusReasonCode")


def public_config(fv: FunctionVersion, *, creating: bool = False, updating: bool = False) -> dict[str, Any]:
    """The FunctionConfiguration as AWS shows it: Pending right after create, InProgress after update.

    lambdad finishes creates and updates before answering, so the transient state is only what the
    answer shows; as on AWS, it carries a revision of its own that the finished state replaces.
    """
    cfg = dict(fv.config)
    if creating:
        cfg.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating",
                   RevisionId=str(uuid.uuid4()))
        cfg.pop("LastUpdateStatus", None)
    elif updating:
        cfg.update(LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being created.",
                   LastUpdateStatusReasonCode="Creating", RevisionId=str(uuid.uuid4()))
    return cfg


def listed_config(fv: FunctionVersion, qualified: bool = False) -> dict[str, Any]:
    cfg = {k: v for k, v in fv.config.items() if k not in _NOT_LISTED}
    if qualified:
        cfg["FunctionArn"] = f"{fv.function.latest.arn}:{fv.version}"
    return cfg


def build(core: Lambdad) -> RestJsonService:
    svc = RestJsonService("lambda")
    registry = core.registry
    region = core.config.region

    def ref(request: ApiRequest, params: dict[str, Any], *, max_name: int = 170,
            qualifier: bool = True) -> FunctionRef:
        assert request.principal is not None
        return parse_function_ref(params.get("FunctionName", ""), params.get("Qualifier") if qualifier else None,
                                  request.principal.account, max_name=max_name, region=region)

    def unqualified(request: ApiRequest, params: dict[str, Any], *, max_name: int = 140) -> FunctionRef:
        """For operations on the function itself (concurrency, ...): no version or alias."""
        r = ref(request, params, max_name=max_name, qualifier=False)
        if r.qualifier is not None:
            raise InvalidParameterValueException(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
                "operation. Please specify either a function name or an unqualified function ARN.")
        return r

    def resource_ref(request: ApiRequest, params: dict[str, Any]) -> FunctionRef:
        assert request.principal is not None
        return parse_function_ref(params.get("Resource", ""), None, request.principal.account, field="resource",
                                  max_name=256, region=region)

    def visible_config(request: ApiRequest, fv: FunctionVersion) -> dict[str, Any]:
        return redacted(request, fv, public_config(fv))

    def redacted(request: ApiRequest, fv: FunctionVersion, cfg: dict[str, Any]) -> dict[str, Any]:
        """Environment variables withheld from callers not allowed lambda:GetFunctionConfiguration
        (they are secrets at rest: see control/functions.py)."""
        if (cfg.get("Environment") or {}).get("Variables") and not core.environment_visible(request, fv):
            cfg["Environment"] = {"Error": {"ErrorCode": "AccessDeniedException", "Message": (
                f"User: {request.principal.arn if request.principal else 'anonymous'} is not authorized to "
                f"perform: lambda:GetFunctionConfiguration on resource: {fv.arn}")}}
        return cfg

    def code_location(fv: FunctionVersion) -> str:
        token = hmac.new(core.url_secret, fv.code_digest.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{core.public_url}/_lambdad/code/{fv.code_digest}.zip?token={token}"

    @svc.handler("CreateFunction")
    async def create_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        assert request.principal is not None
        fv = registry.create(request.principal.account, params)
        out = public_config(fv, creating=True)
        if params.get("Publish"):
            out["Version"] = core.publish(fv).version  # AWS answers with the unqualified ARN, Version "1"
        return out

    @svc.handler("GetFunction")
    async def get_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        fv = core.resolve(r.account, r.name, r.qualifier)
        out: dict[str, Any] = {"Configuration": visible_config(request, fv),
                               "Code": {"RepositoryType": "S3", "Location": code_location(fv)}}
        tags = fv.function.meta.get("tags")
        if tags:
            out["Tags"] = tags
        reserved = fv.function.meta.get("reserved_concurrency")
        if reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return out

    @svc.handler("GetFunctionConfiguration")
    async def get_function_configuration(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        return public_config(core.resolve(r.account, r.name, r.qualifier))

    @svc.handler("ListFunctions")
    async def list_functions(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        assert request.principal is not None
        which = params.get("FunctionVersion")
        if which is not None and which != "ALL":
            raise validation_error([f"Value '{which}' at 'functionVersion' failed to satisfy constraint: Member "
                                    "must satisfy enum value set: [ALL]"])
        if which == "ALL":
            items = [redacted(request, fv, listed_config(fv, qualified=True))
                     for rec in registry.list_records(request.principal.account)
                     for fv in sorted(rec.versions.values(), key=_version_order)]
        else:
            items = [redacted(request, fv, listed_config(fv)) for fv in registry.list_latest(request.principal.account)]
        page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"Functions": page}
        if marker:
            out["NextMarker"] = marker
        return out

    @svc.handler("UpdateFunctionCode")
    async def update_function_code(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        require_latest(r.qualifier)
        fv = registry.update_code(r.account, r.name, params)
        if params.get("Publish"):
            return public_config(core.publish(fv), creating=True)
        return public_config(fv, updating=True)

    @svc.handler("UpdateFunctionConfiguration")
    async def update_function_configuration(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        require_latest(r.qualifier)
        return public_config(registry.update_configuration(r.account, r.name, params), updating=True)

    @svc.handler("DeleteFunction")
    async def delete_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params, max_name=140)
        if r.qualifier is not None and _ALIAS_RE.fullmatch(r.qualifier) and not r.qualifier.isdigit():
            raise InvalidParameterValueException("Deletion of aliases is not currently supported.")
        core.delete_function(r.account, r.name, r.qualifier)
        return {"StatusCode": 204}

    @svc.handler("Invoke")
    async def invoke(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any] | ApiResponse:
        r = ref(request, params)
        fv, invoked_arn = core.resolve_for_invoke(r.account, r.name, r.qualifier)
        invocation_type = params.get("InvocationType") or "RequestResponse"
        payload = params.get("Payload") or b""
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        if payload:
            _check_json(payload)
        if invocation_type == "Event":
            return await core.invoke_async(fv, r.qualifier, payload, request)
        if invocation_type != "RequestResponse":
            raise validation_error([f"Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: "
                                    "Member must satisfy enum value set: [RequestResponse, Event, DryRun]"])
        meta = InvokeMeta(invoked_arn, log_tail=params.get("LogType") == "Tail",
                          client_context=_client_context(params.get("ClientContext")),
                          request_id=request.request_id)
        result = await core.invoker.invoke(fv, payload, meta)
        headers = [(b"content-type", b"application/json"),
                   (b"x-amz-executed-version", result.executed_version.encode()),
                   (b"x-amzn-requestid", request.request_id.encode())]
        if result.function_error:
            headers.append((b"x-amz-function-error", result.function_error.encode()))
        if result.log_result:
            headers.append((b"x-amz-log-result", result.log_result.encode()))
        return ApiResponse(200, result.payload, headers)

    @svc.handler("InvokeAsync")
    async def invoke_async(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        fv, _ = core.resolve_for_invoke(r.account, r.name, None)
        payload = params.get("InvokeArgs") or b""
        if payload:
            _check_json(payload)
        await core.invoke_async(fv, None, payload, request)
        return {"Status": 202}

    @svc.handler("GetAccountSettings")
    async def get_account_settings(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        assert request.principal is not None
        account = request.principal.account
        functions = [rec for rec in registry.all_records() if rec.account == account]
        code_size = sum(fv.config.get("CodeSize", 0) for rec in functions for fv in rec.versions.values())
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": core.config.max_unzipped_bytes,
                "CodeSizeZipped": core.config.max_zip_bytes,
                "ConcurrentExecutions": core.limiter.account_limit,
                "UnreservedConcurrentExecutions": core.limiter.unreserved_limit,
            },
            "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": len(functions)},
        }

    @svc.handler("PutFunctionConcurrency")
    async def put_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = unqualified(request, params)
        if registry.find(r.account, r.name) is None:
            raise ResourceNotFoundException(f"Function not found: {function_arn(region, r.account, r.name, LATEST)}")
        value = params.get("ReservedConcurrentExecutions")
        core.set_reserved_concurrency(r.account, r.name, value)
        return {"ReservedConcurrentExecutions": value}

    @svc.handler("GetFunctionConcurrency")
    async def get_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = unqualified(request, params)
        rec = registry.get_record(r.account, r.name)
        value = rec.meta.get("reserved_concurrency")
        return {} if value is None else {"ReservedConcurrentExecutions": value}

    @svc.handler("DeleteFunctionConcurrency")
    async def delete_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = unqualified(request, params)
        core.set_reserved_concurrency(r.account, r.name, None)
        return {}

    # Versions, aliases, provisioned concurrency, layers and tags live in their own modules.
    from lambdad.api import lambda_layers_api, lambda_tags_api, lambda_versions_api

    for module in (lambda_versions_api, lambda_layers_api, lambda_tags_api):
        module.register(svc, core)

    lambda_async_api.register(svc, core)
    lambda_access_api.register(svc, core)
    return svc


def paginate(items: list[Any], marker: str | None, max_items: int | None) -> tuple[list[Any], str | None]:
    """Opaque markers are base64 offsets, as stable as the sorted listing they index."""
    start = 0
    if marker:
        try:
            start = int(base64.b64decode(marker).decode())
        except (ValueError, binascii.Error) as exc:
            raise InvalidParameterValueException("Invalid marker") from exc
    size = PAGE_DEFAULT if max_items is None else max_items
    if size < 1:
        raise validation_error([f"Value '{size}' at 'maxItems' failed to satisfy constraint: Member must have "
                                "value greater than or equal to 1"])
    if size > 10000:
        raise validation_error([f"Value '{size}' at 'maxItems' failed to satisfy constraint: Member must have "
                                "value less than or equal to 10000"])
    page = items[start:start + size]
    next_start = start + size
    return page, base64.b64encode(str(next_start).encode()).decode() if next_start < len(items) else None


def _check_json(payload: bytes) -> None:
    try:
        safejson.loads(payload, max_depth=safejson.PAYLOAD_MAX_DEPTH)
    except ValueError as exc:  # UnicodeDecodeError and JsonTooDeep included
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: Unexpected character: "
            "was expecting a JSON value") from exc


def _client_context(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return safejson.loads(base64.b64decode(raw))
    except (ValueError, binascii.Error) as exc:
        raise InvalidParameterValueException("Client context must be a valid Base64-encoded JSON object.") from exc



def _version_order(fv: FunctionVersion) -> tuple[int, int]:
    return (0, 0) if fv.version == LATEST else (1, int(fv.version))
