"""Lambda API operations (rest-json): thin adapters from wire parameters to control/ and invoke/."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from lambdad.api import lambda_access_api, lambda_async_api
from lambdad.api.base import ApiRequest, ApiResponse
from lambdad.api.restjson import RestJsonService
from lambdad.control.functions import LATEST, FunctionVersion
from lambdad.control.names import parse_function_ref
from lambdad.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    ResourceNotFoundException,
)
from lambdad.invoke.invoker import InvokeMeta

if TYPE_CHECKING:
    from lambdad.server import Lambdad

PAGE_DEFAULT = 50


def public_config(fv: FunctionVersion, *, creating: bool = False, updating: bool = False) -> dict[str, Any]:
    """The FunctionConfiguration as AWS shows it: Pending right after create, InProgress after update."""
    cfg = dict(fv.config)
    if creating:
        cfg.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating")
        cfg.pop("LastUpdateStatus", None)
    elif updating:
        cfg.update(LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being created.",
                   LastUpdateStatusReasonCode="Creating")
    return cfg


def build(core: Lambdad) -> RestJsonService:
    svc = RestJsonService("lambda")
    registry = core.registry
    region = core.config.region

    def ref(request: ApiRequest, params: dict[str, Any], key: str = "FunctionName"):
        assert request.principal is not None
        return parse_function_ref(params.get(key, ""), params.get("Qualifier"), request.principal.account)

    def visible_config(request: ApiRequest, fv: FunctionVersion) -> dict[str, Any]:
        """The configuration, environment variables withheld from callers not allowed
        lambda:GetFunctionConfiguration (they are secrets at rest: see control/functions.py)."""
        cfg = public_config(fv)
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
        return public_config(fv, creating=True)

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
        items = registry.list_latest(request.principal.account)
        page, marker = paginate([visible_config(request, fv) for fv in items], params.get("Marker"),
                                params.get("MaxItems"))
        out: dict[str, Any] = {"Functions": page}
        if marker:
            out["NextMarker"] = marker
        return out

    @svc.handler("UpdateFunctionCode")
    async def update_function_code(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        fv = registry.update_code(r.account, r.name, params)
        if params.get("Publish"):
            fv = core.publish(fv)
            return public_config(fv)
        return public_config(fv, updating=True)

    @svc.handler("UpdateFunctionConfiguration")
    async def update_function_configuration(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        return public_config(registry.update_configuration(r.account, r.name, params), updating=True)

    @svc.handler("DeleteFunction")
    async def delete_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        core.delete_function(r.account, r.name, r.qualifier)
        return {}

    @svc.handler("Invoke")
    async def invoke(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any] | ApiResponse:
        r = ref(request, params)
        fv, invoked_arn = core.resolve_for_invoke(r.account, r.name, r.qualifier)
        invocation_type = params.get("InvocationType") or "RequestResponse"
        payload = params.get("Payload") or b""
        if invocation_type == "DryRun":
            return {"StatusCode": 204, "ExecutedVersion": fv.version}
        if payload:
            _check_json(payload)
        if invocation_type == "Event":
            return await core.invoke_async(fv, r.qualifier, payload, request)
        if invocation_type != "RequestResponse":
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy "
                "constraint: Member must satisfy enum value set: [RequestResponse, Event, DryRun]")
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
        r = ref(request, params)
        value = params.get("ReservedConcurrentExecutions")
        core.set_reserved_concurrency(r.account, r.name, value)
        return {"ReservedConcurrentExecutions": value}

    @svc.handler("GetFunctionConcurrency")
    async def get_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        rec = registry.get_record(r.account, r.name)
        value = rec.meta.get("reserved_concurrency")
        return {} if value is None else {"ReservedConcurrentExecutions": value}

    @svc.handler("DeleteFunctionConcurrency")
    async def delete_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        core.set_reserved_concurrency(r.account, r.name, None)
        return {}

    @svc.handler("ListTags")
    async def list_tags(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = parse_function_ref(params.get("Resource", ""), None, request.principal.account,  # type: ignore[union-attr]
                               field="resource")
        rec = registry.get_record(r.account, r.name)
        return {"Tags": rec.meta.get("tags") or {}}

    @svc.handler("TagResource")
    async def tag_resource(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = parse_function_ref(params.get("Resource", ""), None, request.principal.account,  # type: ignore[union-attr]
                               field="resource")
        rec = registry.get_record(r.account, r.name)
        rec.meta.setdefault("tags", {}).update(params.get("Tags") or {})
        registry.save_meta(rec)
        return {}

    @svc.handler("UntagResource")
    async def untag_resource(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = parse_function_ref(params.get("Resource", ""), None, request.principal.account,  # type: ignore[union-attr]
                               field="resource")
        rec = registry.get_record(r.account, r.name)
        for key in params.get("TagKeys") or []:
            rec.meta.setdefault("tags", {}).pop(key, None)
        registry.save_meta(rec)
        return {}

    del region
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
    size = max_items or PAGE_DEFAULT
    if size < 1 or size > 10000:
        raise InvalidParameterValueException("MaxItems must be between 1 and 10000")
    page = items[start:start + size]
    next_start = start + size
    return page, base64.b64encode(str(next_start).encode()).decode() if next_start < len(items) else None


def _check_json(payload: bytes) -> None:
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: Unexpected character: "
            "was expecting a JSON value") from exc


def _client_context(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(base64.b64decode(raw))
    except (ValueError, binascii.Error) as exc:
        raise InvalidParameterValueException("Client context must be a valid Base64-encoded JSON object.") from exc


__all__ = ["LATEST", "ResourceNotFoundException", "build", "paginate", "public_config"]
