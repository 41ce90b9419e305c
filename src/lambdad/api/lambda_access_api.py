"""Who may invoke a function: resource policies (Add/RemovePermission, GetPolicy) and function URLs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lambdad.api.base import ApiRequest
from lambdad.api.restjson import RestJsonService
from lambdad.control.functions import LATEST, FunctionRecord
from lambdad.control.names import function_arn, parse_function_ref
from lambdad.errors import ResourceNotFoundException

if TYPE_CHECKING:
    from lambdad.api.lambda_backend import LambdaBackend


def register(svc: RestJsonService, backend: LambdaBackend) -> None:
    registry = backend.registry

    def target(request: ApiRequest, params: dict[str, Any], *, missing: str | None = None
               ) -> tuple[FunctionRecord, str | None]:
        assert request.principal is not None
        r = parse_function_ref(params.get("FunctionName", ""), params.get("Qualifier"), request.principal.account,
                               region=request.region)
        rec = registry.find(r.account, r.region, r.name)
        if rec is None:
            raise ResourceNotFoundException(missing or
                                            f"Function not found: {function_arn(r.region, r.account, r.name)}")
        exists = backend.resolver.qualifier_exists
        if r.qualifier is not None and r.qualifier != LATEST and not exists(rec, r.qualifier):
            if missing:
                raise ResourceNotFoundException(missing)
            if r.qualifier.isdigit():
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(r.region, r.account, r.name, r.qualifier)}")
            raise ResourceNotFoundException(
                f"Cannot find alias arn: {function_arn(r.region, r.account, r.name, r.qualifier)}")
        return rec, r.qualifier

    # -- resource policies ------------------------------------------------------------------
    @svc.handler("AddPermission")
    async def add_permission(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = target(request, params)
        return {"Statement": json.dumps(backend.permissions.add(rec, qualifier, params))}

    @svc.handler("RemovePermission")
    async def remove_permission(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = target(request, params, missing="No policy is associated with the given resource.")
        backend.permissions.remove(rec, qualifier, params.get("StatementId", ""), params.get("RevisionId"))
        return {}

    @svc.handler("GetPolicy")
    async def get_policy(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = target(request, params, missing="The resource you requested does not exist.")
        found = backend.permissions.document(rec, qualifier)
        if found is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        doc, revision = found
        return {"Policy": json.dumps(doc), "RevisionId": revision}

    # -- function URLs ----------------------------------------------------------------------
    urls = backend.function_urls

    def url_target(request: ApiRequest, params: dict[str, Any]) -> tuple[FunctionRecord, str | None]:
        rec, qualifier = target(request, params, missing="The resource you requested does not exist.")
        return rec, None if qualifier == LATEST else qualifier

    @svc.handler("CreateFunctionUrlConfig")
    async def create_url(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = url_target(request, params)
        return urls.create(rec, qualifier, params)

    @svc.handler("GetFunctionUrlConfig")
    async def get_url(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = url_target(request, params)
        return urls.render(rec, qualifier, urls.get_config(rec, qualifier))

    @svc.handler("UpdateFunctionUrlConfig")
    async def update_url(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = url_target(request, params)
        return urls.update(rec, qualifier, params)

    @svc.handler("DeleteFunctionUrlConfig")
    async def delete_url(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        rec, qualifier = url_target(request, params)
        urls.delete(rec, qualifier)
        return {}

    @svc.handler("ListFunctionUrlConfigs")
    async def list_urls(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        from lambdad.api.lambda_common import paginate

        rec, _ = url_target(request, params)
        page, marker = paginate(urls.list(rec), params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"FunctionUrlConfigs": page}
        if marker:
            out["NextMarker"] = marker
        return out
