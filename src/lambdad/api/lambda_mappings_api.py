"""Event source mapping operations (rest-json adapters over mappings/registry.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdad.api.base import ApiRequest
from lambdad.api.lambda_common import paginate
from lambdad.api.restjson import RestJsonService
from lambdad.mappings.records import EventSourceMapping

if TYPE_CHECKING:
    from lambdad.api.lambda_backend import LambdaBackend

#: ListEventSourceMappings' page when MaxItems is not given (AWS: 100)
PAGE = 100


def register(svc: RestJsonService, backend: LambdaBackend) -> None:
    mappings = backend.mappings
    engine = backend.mapping_engine
    if mappings is None:
        return

    def render(m: EventSourceMapping) -> dict[str, Any]:
        out = m.to_api()
        if "LastProcessingResult" in out and engine is not None:  # streams show it; AWS omits it for SQS
            out["LastProcessingResult"] = engine.last_result(m.uuid) or out["LastProcessingResult"]
        return out

    def account(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    @svc.handler("CreateEventSourceMapping")
    async def create(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        return render(mappings.create(account(request), request.region, params))

    @svc.handler("GetEventSourceMapping")
    async def get(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        return render(mappings.get(account(request), request.region, params["UUID"]))

    @svc.handler("UpdateEventSourceMapping")
    async def update(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        return render(mappings.update(account(request), request.region, params["UUID"], params))

    @svc.handler("DeleteEventSourceMapping")
    async def delete(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        return render(mappings.delete(account(request), request.region, params["UUID"]))

    @svc.handler("ListEventSourceMappings")
    async def list_mappings(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        found = mappings.list(account(request), request.region, params.get("EventSourceArn"),
                              params.get("FunctionName"))
        page, marker = paginate([render(m) for m in found], params.get("Marker"), params.get("MaxItems") or PAGE)
        out: dict[str, Any] = {"EventSourceMappings": page}
        if marker:
            out["NextMarker"] = marker
        return out
