"""Lambda API operations for versions, aliases and provisioned concurrency (rest-json adapters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdad.api.base import ApiRequest
from lambdad.api.lambda_common import paginate, public_config
from lambdad.api.restjson import RestJsonService
from lambdad.control.names import FunctionRef, parse_function_ref, validation_error
from lambdad.control.versions import require_latest

if TYPE_CHECKING:
    from lambdad.api.lambda_backend import LambdaBackend


def function_ref(request: ApiRequest, params: dict[str, Any]) -> FunctionRef:
    assert request.principal is not None
    return parse_function_ref(params.get("FunctionName", ""), params.get("Qualifier"), request.principal.account,
                              region=request.region)


def required_qualifier(ref: FunctionRef) -> str:
    if ref.qualifier is None:
        raise validation_error(["Value null at 'qualifier' failed to satisfy constraint: Member must not be null"])
    return ref.qualifier


def register(svc: RestJsonService, backend: LambdaBackend) -> None:
    versions, aliases, provisioned = backend.versions, backend.aliases, backend.provisioned

    # -- versions ---------------------------------------------------------------------------
    @svc.handler("PublishVersion")
    async def publish_version(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        require_latest(r.qualifier)
        fv = versions.publish(r.account, r.region, r.name, description=params.get("Description"),
                              code_sha256=params.get("CodeSha256"), revision_id=params.get("RevisionId"))
        return public_config(fv)

    @svc.handler("ListVersionsByFunction")
    async def list_versions_by_function(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        require_latest(r.qualifier)
        page, marker = paginate(versions.list(r.account, r.region, r.name), params.get("Marker"),
                                params.get("MaxItems"))
        return {"Versions": page, "NextMarker": marker}

    # -- aliases ----------------------------------------------------------------------------
    @svc.handler("CreateAlias")
    async def create_alias(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        require_latest(r.qualifier)
        return aliases.create(r.account, r.region, r.name, params).to_api()

    @svc.handler("GetAlias")
    async def get_alias(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        return aliases.require(r.account, r.region, r.name, params["Name"]).to_api()

    @svc.handler("UpdateAlias")
    async def update_alias(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        return aliases.update(r.account, r.region, r.name, params["Name"], params).to_api()

    @svc.handler("DeleteAlias")
    async def delete_alias(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        aliases.delete(r.account, r.region, r.name, params["Name"])
        return {}

    @svc.handler("ListAliases")
    async def list_aliases(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        require_latest(r.qualifier)
        items = [a.to_api() for a in aliases.list(r.account, r.region, r.name, params.get("FunctionVersion"))]
        page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
        return {"Aliases": page, "NextMarker": marker}

    # -- provisioned concurrency ------------------------------------------------------------
    @svc.handler("PutProvisionedConcurrencyConfig")
    async def put_provisioned(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        cfg = provisioned.put(r.account, r.region, r.name, required_qualifier(r),
                              params.get("ProvisionedConcurrentExecutions"))
        return provisioned.describe(cfg)

    @svc.handler("GetProvisionedConcurrencyConfig")
    async def get_provisioned(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        return provisioned.describe(provisioned.get(r.account, r.region, r.name, required_qualifier(r)))

    @svc.handler("DeleteProvisionedConcurrencyConfig")
    async def delete_provisioned(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        provisioned.delete(r.account, r.region, r.name, required_qualifier(r))
        return {}

    @svc.handler("ListProvisionedConcurrencyConfigs")
    async def list_provisioned(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        r = function_ref(request, params)
        require_latest(r.qualifier)
        items = [provisioned.describe(cfg, with_arn=True) for cfg in provisioned.list(r.account, r.region, r.name)]
        page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
        return {"ProvisionedConcurrencyConfigs": page, "NextMarker": marker}
