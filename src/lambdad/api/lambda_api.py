"""Lambda API operations (rest-json): thin adapters from wire parameters to control/ and invoke/."""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from lambdad import safejson
from lambdad.api import lambda_access_api, lambda_async_api, lambda_mappings_api
from lambdad.api.base import ApiRequest, ApiResponse, Authorize, request_context
from lambdad.api.lambda_common import listed_config, paginate, public_config
from lambdad.api.restjson import RestJsonService
from lambdad.auth.access import environment_visible
from lambdad.control.functions import LATEST, FunctionVersion
from lambdad.control.names import FunctionRef, function_arn, parse_function_ref
from lambdad.control.versions import require_latest
from lambdad.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    ResourceNotFoundException,
)
from lambdad.invoke.invoker import InvokeMeta

if TYPE_CHECKING:
    from lambdad.api.lambda_backend import LambdaBackend

_ALIAS_RE = re.compile(r"[a-zA-Z0-9-_]+")


def build(backend: LambdaBackend, authorize: Authorize | None) -> RestJsonService:
    # Shapes the handlers check in AWS's words, not the model's: an unknown runtime is
    # InvalidParameterValueException; AWS's layer ARN pattern is not the one botocore ships; a layer's
    # architectures fail in one sentence with its runtimes (control/layers.py), which the model cannot word;
    # AWS lists InvokeMode's values in another order than the model (recorded: control/function_urls.py).
    svc = RestJsonService("lambda", authorize=authorize,
                          unchecked=frozenset({"Runtime", "LayerVersionArn", "CompatibleArchitectures",
                                               "InvokeMode"}))
    registry = backend.registry
    resolver = backend.resolver

    def ref(request: ApiRequest, params: dict[str, Any], *, max_name: int = 170,
            qualifier: bool = True) -> FunctionRef:
        assert request.principal is not None
        return parse_function_ref(params.get("FunctionName", ""), params.get("Qualifier") if qualifier else None,
                                  request.principal.account, max_name=max_name, region=request.region)

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
                                  max_name=256, region=request.region)

    def mask_environment(request: ApiRequest, cfg: dict[str, Any]) -> dict[str, Any]:
        """The one rule for every configuration an answer carries (GetFunction, ListFunctions,
        PublishVersion, ListVersionsByFunction, Create/Update..., whatever renders a FunctionConfiguration):
        environment variables are secrets at rest (control/functions.py), shown only to callers allowed
        lambda:GetFunctionConfiguration on the version shown; others get EnvironmentResponse's Error."""
        env = cfg.get("Environment")
        if not env or not env.get("Variables"):
            return cfg
        arn = cfg.get("FunctionArn", "")
        if _environment_visible(request, arn):
            return cfg
        who = request.principal.arn if request.principal else "anonymous"
        return {**cfg, "Environment": {"Error": {"ErrorCode": "AccessDeniedException", "Message": (
            f"User: {who} is not authorized to perform: lambda:GetFunctionConfiguration on resource: {arn}")}}}

    svc.filters["FunctionConfiguration"] = mask_environment

    def _environment_visible(request: ApiRequest, arn: str) -> bool:
        """Allowed lambda:GetFunctionConfiguration on the ARN shown, as that call itself would be (same
        resource, same resource policy: api/lambda_authz.py)."""
        parts = arn.split(":")
        account = parts[4] if len(parts) > 6 else ""
        rec = registry.find_arn(arn) if account else None
        qualifier = parts[7] if len(parts) > 7 else None
        found = backend.permissions.document(rec, None if qualifier == LATEST else qualifier) if rec else None
        return environment_visible(backend.authorizer, request.principal, arn, account,
                                   found[0] if found else None, request_context(request))

    def code_location(fv: FunctionVersion) -> str:
        """A link bound to the version holding the code (an alias may move; that version keeps its code)."""
        return backend.code_links.url(fv.code_digest, function_arn(fv.region, fv.account, fv.name, fv.version))

    def publish(fv: FunctionVersion) -> FunctionVersion:
        """Publish $LATEST of fv's function (CreateFunction/UpdateFunctionCode with Publish)."""
        return backend.versions.publish(fv.account, fv.region, fv.name)

    def check_vpc(request: ApiRequest, account: str, name: str, role: str | None, params: dict[str, Any]) -> None:
        """VpcConfig's own errors in AWS's words, before validation refuses what lambdad cannot apply."""
        vpc = params.get("VpcConfig")
        if backend.vpc_check is not None and isinstance(vpc, dict):
            backend.vpc_check(account, request.region, name, role, vpc)

    @svc.handler("CreateFunction")
    async def create_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        assert request.principal is not None
        role = params.get("Role")
        check_vpc(request, request.principal.account, str(params.get("FunctionName") or ""),
                  role if isinstance(role, str) else None, params)
        registry.check_create(request.principal.account, request.region, params)  # before the code is unpacked
        code = await backend.code_staging.function_code(params.get("Code") or {}, request.principal.account)
        fv = registry.create(request.principal.account, request.region, params, code)
        out = public_config(fv, creating=True)
        if params.get("Publish"):
            out["Version"] = publish(fv).version  # AWS answers with the unqualified ARN, Version "1"
        return out

    @svc.handler("GetFunction")
    async def get_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        fv = resolver.resolve(r.account, r.region, r.name, r.qualifier)
        out: dict[str, Any] = {"Configuration": public_config(fv),
                               "Code": {"RepositoryType": "S3", "Location": code_location(fv)}}
        tags = fv.function.tags
        if tags:
            out["Tags"] = tags
        reserved = backend.reservations.get(fv.account, fv.region, fv.name)
        if reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return out

    @svc.handler("GetFunctionConfiguration")
    async def get_function_configuration(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        return public_config(resolver.resolve(r.account, r.region, r.name, r.qualifier))

    @svc.handler("ListFunctions")
    async def list_functions(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        assert request.principal is not None
        which = params.get("FunctionVersion")  # the model's enum [ALL], checked by the codec
        if which == "ALL":
            items = [listed_config(fv, qualified=True)
                     for rec in registry.list_records(request.principal.account, request.region)
                     for fv in sorted(rec.versions.values(), key=_version_order)]
        else:
            items = [listed_config(fv) for fv in registry.list_latest(request.principal.account, request.region)]
        page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"Functions": page}
        if marker:
            out["NextMarker"] = marker
        return out

    @svc.handler("UpdateFunctionCode")
    async def update_function_code(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        require_latest(r.qualifier)
        registry.get_record(r.account, r.region, r.name)  # a missing function is answered before its upload is unpacked
        code = await backend.code_staging.function_code(registry.code_of_update(params), r.account)
        fv = registry.update_code(r.account, r.region, r.name, params, code)
        if params.get("Publish"):
            return public_config(publish(fv), creating=True)
        return public_config(fv, updating=True)

    @svc.handler("UpdateFunctionConfiguration")
    async def update_function_configuration(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params)
        require_latest(r.qualifier)
        if isinstance(params.get("VpcConfig"), dict):
            role = params.get("Role") or registry.get_record(r.account, r.region, r.name).latest.config.get("Role")
            check_vpc(request, r.account, r.name, role if isinstance(role, str) else None, params)
        return public_config(registry.update_configuration(r.account, r.region, r.name, params), updating=True)

    @svc.handler("DeleteFunction")
    async def delete_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = ref(request, params, max_name=140)
        if r.qualifier is not None and _ALIAS_RE.fullmatch(r.qualifier) and not r.qualifier.isdigit():
            raise InvalidParameterValueException("Deletion of aliases is not currently supported.")
        if r.qualifier is not None:
            backend.versions.delete(r.account, r.region, r.name, r.qualifier)
        else:
            registry.delete(r.account, r.region, r.name, None)  # its reserved concurrency goes with it (Reservations)
        return {"StatusCode": 204}

    @svc.handler("Invoke")
    async def invoke(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any] | ApiResponse:
        r = ref(request, params)
        fv, invoked_arn = resolver.for_invoke(r.account, r.region, r.name, r.qualifier)
        invocation_type = params.get("InvocationType") or "RequestResponse"
        payload = params.get("Payload") or b""
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        if payload:
            _check_json(payload)
        if invocation_type == "Event":
            event_id = backend.async_queue.accept(fv.account, fv.region, fv.name, r.qualifier, payload,
                                                  request.request_id)
            return ApiResponse(202, b"", [(b"x-amzn-requestid", event_id.encode())])
        meta = InvokeMeta(invoked_arn, log_tail=params.get("LogType") == "Tail",
                          client_context=_client_context(params.get("ClientContext")),
                          request_id=request.request_id)
        result = await backend.invoker.invoke(fv, payload, meta)
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
        fv, _ = resolver.for_invoke(r.account, r.region, r.name, None)
        payload = params.get("InvokeArgs") or b""
        if payload:
            _check_json(payload)
        backend.async_queue.accept(fv.account, fv.region, fv.name, None, payload, request.request_id)
        return {"Status": 202}

    @svc.handler("GetAccountSettings")
    async def get_account_settings(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        assert request.principal is not None
        account = request.principal.account
        functions = registry.list_records(account, request.region)  # AWS counts per account per region
        code_size = sum(fv.config.get("CodeSize", 0) for rec in functions for fv in rec.versions.values())
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": backend.limits.max_unzipped_bytes,
                "CodeSizeZipped": backend.limits.max_zip_bytes,
                "ConcurrentExecutions": backend.limiter.account_limit,
                "UnreservedConcurrentExecutions": backend.limiter.unreserved_limit((account, request.region)),
            },
            "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": len(functions)},
        }

    @svc.handler("PutFunctionConcurrency")
    async def put_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = unqualified(request, params)
        if registry.find(r.account, r.region, r.name) is None:
            raise ResourceNotFoundException(f"Function not found: {function_arn(r.region, r.account, r.name, LATEST)}")
        value = params.get("ReservedConcurrentExecutions")
        backend.reservations.set(r.account, r.region, r.name, value)
        return {"ReservedConcurrentExecutions": value}

    @svc.handler("GetFunctionConcurrency")
    async def get_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = unqualified(request, params)
        value = backend.reservations.get(r.account, r.region, r.name)
        return {} if value is None else {"ReservedConcurrentExecutions": value}

    @svc.handler("DeleteFunctionConcurrency")
    async def delete_function_concurrency(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = unqualified(request, params)
        backend.reservations.set(r.account, r.region, r.name, None)
        return {}

    # Versions, aliases, provisioned concurrency, layers and tags live in their own modules.
    from lambdad.api import lambda_layers_api, lambda_tags_api, lambda_versions_api

    for module in (lambda_versions_api, lambda_layers_api, lambda_tags_api):
        module.register(svc, backend)

    lambda_async_api.register(svc, backend)
    lambda_access_api.register(svc, backend)
    lambda_mappings_api.register(svc, backend)
    return svc


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
