"""Event invoke configuration operations (retries, maximum age, destinations), per version or alias."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lambdad.api.base import ApiRequest
from lambdad.api.restjson import RestJsonService
from lambdad.control.functions import LATEST, FunctionRecord
from lambdad.control.names import function_arn, parse_function_ref, validation_error
from lambdad.control.records import EventInvokeConfig
from lambdad.control.validation import check_int_range
from lambdad.errors import InvalidParameterValueException, ResourceNotFoundException

if TYPE_CHECKING:
    from lambdad.api.lambda_backend import LambdaBackend

DESTINATION_PATTERN = (
    r"^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)"
)
_DEST_RE = re.compile(DESTINATION_PATTERN)
_DEST_SERVICES = {"sqs", "sns", "lambda", "events"}


def register(svc: RestJsonService, backend: LambdaBackend) -> None:
    registry = backend.registry

    def target(request: ApiRequest, params: dict[str, Any]) -> tuple[FunctionRecord, str]:
        assert request.principal is not None
        r = parse_function_ref(params.get("FunctionName", ""), params.get("Qualifier"), request.principal.account,
                               region=request.region)
        rec = registry.find(r.account, r.region, r.name)
        if rec is None:
            raise ResourceNotFoundException("The function doesn't exist.")
        qualifier = r.qualifier or LATEST
        if not backend.resolver.qualifier_exists(rec, qualifier):
            raise ResourceNotFoundException("The function doesn't exist.")
        return rec, qualifier

    def missing(rec: FunctionRecord, qualifier: str) -> ResourceNotFoundException:
        arn = function_arn(rec.region, rec.account, rec.name, qualifier)
        return ResourceNotFoundException(f"The function {arn} doesn't have an EventInvokeConfig")

    def validate(rec: FunctionRecord, params: dict[str, Any], current: EventInvokeConfig) -> EventInvokeConfig:
        """`current` with what `params` sets (AWS replaces both destinations when DestinationConfig is given)."""
        errors: list[str] = []
        check_int_range(params, "MaximumRetryAttempts", "maximumRetryAttempts", 0, 2, errors)
        check_int_range(params, "MaximumEventAgeInSeconds", "maximumEventAgeInSeconds", 60, 21600, errors)
        out = replace(current, last_modified=time.time())
        if params.get("MaximumRetryAttempts") is not None:
            out = replace(out, maximum_retry_attempts=params["MaximumRetryAttempts"])
        if params.get("MaximumEventAgeInSeconds") is not None:
            out = replace(out, maximum_event_age_s=params["MaximumEventAgeInSeconds"])
        dest_cfg = params.get("DestinationConfig")
        if dest_cfg is not None:
            for key, label in (("OnSuccess", "onSuccess"), ("OnFailure", "onFailure")):
                dest = (dest_cfg.get(key) or {}).get("Destination")
                if dest is not None and not _DEST_RE.fullmatch(dest):
                    errors.append(f"Value '{dest}' at 'destinationConfig.{label}.destination' failed to satisfy "
                                  f"constraint: Member must satisfy regular expression pattern: {DESTINATION_PATTERN}")
        if errors:
            raise validation_error(errors)
        if dest_cfg is not None:
            clean: dict[str, str | None] = {"OnSuccess": None, "OnFailure": None}
            for key in ("OnSuccess", "OnFailure"):
                dest = (dest_cfg.get(key) or {}).get("Destination")
                if not dest:
                    continue
                service = dest.split(":")[2]
                if service not in _DEST_SERVICES:
                    on_success = (dest_cfg.get("OnSuccess") or {}).get("Destination")
                    on_failure = (dest_cfg.get("OnFailure") or {}).get("Destination")
                    raise InvalidParameterValueException(
                        "The provided destination config DestinationConfig(onSuccess="
                        f"{'OnSuccess(destination=' + on_success + ')' if on_success else 'null'}, onFailure="
                        f"{'OnFailure(destination=' + on_failure + ')' if on_failure else 'null'}) is invalid.")
                if service == "lambda":
                    ref = parse_function_ref(dest, None, rec.account, region=dest.split(":")[3])  # the ARN's
                    if (ref.account, ref.region, ref.name) == (rec.account, rec.region, rec.name):
                        raise InvalidParameterValueException(
                            "You can't specify the function as a destination for itself.")
                    if registry.find(ref.account, ref.region, ref.name) is None:
                        raise InvalidParameterValueException(f"The destination ARN {dest} is invalid.")
                denied = backend.delivery_access.denied_action(rec.latest.role, rec.name, dest)
                if denied is not None:  # Lambda delivers as the execution role (checked again at delivery)
                    raise InvalidParameterValueException(
                        f"The function's execution role does not have permissions to call {denied} on {dest}")
                clean[key] = dest
            out = replace(out, on_success=clean["OnSuccess"], on_failure=clean["OnFailure"])
        return out

    def render(rec: FunctionRecord, qualifier: str, cfg: EventInvokeConfig) -> dict[str, Any]:
        return cfg.to_api(function_arn(rec.region, rec.account, rec.name, qualifier))

    def store(rec: FunctionRecord, qualifier: str, cfg: EventInvokeConfig) -> dict[str, Any]:
        rec.event_invoke_configs[qualifier] = cfg
        registry.save_meta(rec)
        return render(rec, qualifier, cfg)

    @svc.handler("PutFunctionEventInvokeConfig")
    async def put_config(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = target(request, params)
        if not any(params.get(k) is not None for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds",
                                                        "DestinationConfig")):
            raise InvalidParameterValueException(
                "You must specify at least one of error handling or destination setting.")
        return store(rec, qualifier, validate(rec, params, EventInvokeConfig(time.time())))

    @svc.handler("UpdateFunctionEventInvokeConfig")
    async def update_config(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = target(request, params)
        current = rec.event_invoke_configs.get(qualifier)
        if current is None:
            raise missing(rec, qualifier)
        return store(rec, qualifier, validate(rec, params, current))

    @svc.handler("GetFunctionEventInvokeConfig")
    async def get_config(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        assert request.principal is not None
        r = parse_function_ref(params.get("FunctionName", ""), params.get("Qualifier"), request.principal.account,
                               region=request.region)
        qualifier = r.qualifier or LATEST
        rec = registry.find(r.account, r.region, r.name)
        cfg = rec.event_invoke_configs.get(qualifier) if rec is not None else None
        if rec is None or cfg is None:
            raise ResourceNotFoundException(f"The function {function_arn(r.region, r.account, r.name, qualifier)} "
                                            "doesn't have an EventInvokeConfig")
        return render(rec, qualifier, cfg)

    @svc.handler("DeleteFunctionEventInvokeConfig")
    async def delete_config(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = target(request, params)
        if qualifier not in rec.event_invoke_configs:
            raise missing(rec, qualifier)
        del rec.event_invoke_configs[qualifier]
        registry.save_meta(rec)
        return {}

    @svc.handler("ListFunctionEventInvokeConfigs")
    async def list_configs(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        from lambdad.api.lambda_common import paginate

        assert request.principal is not None
        r = parse_function_ref(params.get("FunctionName", ""), None, request.principal.account,
                               region=request.region)
        rec = registry.find(r.account, r.region, r.name)
        if rec is None:
            raise ResourceNotFoundException("The function doesn't exist.")
        items = [render(rec, q, cfg) for q, cfg in sorted(rec.event_invoke_configs.items())]
        page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"FunctionEventInvokeConfigs": page}
        if marker:
            out["NextMarker"] = marker
        return out
