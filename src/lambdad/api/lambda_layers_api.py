"""Lambda API operations for layers and their permission policies (rest-json adapters)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lambdad.api.base import ApiRequest
from lambdad.api.lambda_common import paginate
from lambdad.api.restjson import RestJsonService

if TYPE_CHECKING:
    from lambdad.api.lambda_backend import LambdaBackend


def register(svc: RestJsonService, backend: LambdaBackend) -> None:
    layers = backend.layers

    def caller(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    def owner_and_name(request: ApiRequest, params: dict[str, Any], action: str | None = None) -> tuple[str, str]:
        """The layer's account and name; with `action`, only its owner may go on."""
        account, name = layers.parse_name(params.get("LayerName"), caller(request), request.region)
        if action is not None:
            layers.require_owner(caller(request), account, request.region, name, action)
        return account, name

    @svc.handler("PublishLayerVersion")
    async def publish_layer_version(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        account, name = owner_and_name(request, params, "PublishLayerVersion")
        content = await backend.code_staging.layer_content(params, account)  # unpacking blocks: not on the loop
        lv = layers.publish(account, request.region, name, params, content)
        return lv.to_api(backend.code_links.url(lv.digest, lv.arn))

    @svc.handler("GetLayerVersion")
    async def get_layer_version(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        account, name = owner_and_name(request, params)
        lv = layers.get(caller(request), account, request.region, name, params["VersionNumber"])
        return lv.to_api(backend.code_links.url(lv.digest, lv.arn))

    @svc.handler("GetLayerVersionByArn")
    async def get_layer_version_by_arn(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        lv = layers.get_by_arn(caller(request), request.region, params.get("Arn"))
        return lv.to_api(backend.code_links.url(lv.digest, lv.arn))

    @svc.handler("ListLayerVersions")
    async def list_layer_versions(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        account, name = owner_and_name(request, params, "ListLayerVersions")
        items = [lv.listing() for lv in layers.list_versions(account, request.region, name,
                                                             params.get("CompatibleRuntime"),
                                                             params.get("CompatibleArchitecture"))]
        page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
        return {"LayerVersions": page, "NextMarker": marker}

    @svc.handler("ListLayers")
    async def list_layers(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        items = [{"LayerName": lv.name, "LayerArn": lv.layer_arn, "LatestMatchingVersion": lv.listing()}
                 for lv in layers.list_layers(caller(request), request.region, params.get("CompatibleRuntime"),
                                              params.get("CompatibleArchitecture"))]
        page, marker = paginate(items, params.get("Marker"), params.get("MaxItems"))
        return {"Layers": page, "NextMarker": marker}

    @svc.handler("DeleteLayerVersion")
    async def delete_layer_version(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        account, name = owner_and_name(request, params, "DeleteLayerVersion")
        layers.delete(account, request.region, name, params["VersionNumber"])
        return {}

    @svc.handler("AddLayerVersionPermission")
    async def add_layer_version_permission(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        account, name = owner_and_name(request, params, "AddLayerVersionPermission")
        statement, revision = layers.add_permission(account, request.region, name, params["VersionNumber"], params)
        return {"Statement": json.dumps(statement), "RevisionId": revision}

    @svc.handler("RemoveLayerVersionPermission")
    async def remove_layer_version_permission(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        account, name = owner_and_name(request, params, "RemoveLayerVersionPermission")
        layers.remove_permission(account, request.region, name, params["VersionNumber"], params.get("StatementId", ""),
                                 params.get("RevisionId"))
        return {}

    @svc.handler("GetLayerVersionPolicy")
    async def get_layer_version_policy(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        account, name = owner_and_name(request, params, "GetLayerVersionPolicy")
        policy, revision = layers.get_policy(account, request.region, name, params["VersionNumber"])
        return {"Policy": json.dumps(policy), "RevisionId": revision}
