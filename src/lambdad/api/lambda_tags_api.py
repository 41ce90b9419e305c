"""Lambda API operations for tags (rest-json adapters over control/tags.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdad.api.base import ApiRequest
from lambdad.api.restjson import RestJsonService

if TYPE_CHECKING:
    from lambdad.api.lambda_backend import LambdaBackend


def register(svc: RestJsonService, backend: LambdaBackend) -> None:
    tagging = backend.tagging

    @svc.handler("ListTags")
    async def list_tags(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": tagging.list_tags(params.get("Resource", ""))}

    @svc.handler("TagResource")
    async def tag_resource(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        tagging.tag(params.get("Resource", ""), params.get("Tags"))
        return {}

    @svc.handler("UntagResource")
    async def untag_resource(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        tagging.untag(params.get("Resource", ""), params.get("TagKeys"))
        return {}
