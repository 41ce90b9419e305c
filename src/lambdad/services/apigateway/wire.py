"""The wire of API Gateway's management APIs: apigatewayv2 (HTTP APIs, under /v2/) and apigateway
(REST APIs), both rest-json over botocore's models, both signed as service `apigateway`; one
Service dispatches between them by path."""

from __future__ import annotations

import json
from typing import Any

from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.restjson import RestJsonService
from lambdad.errors import ApiError
from lambdad.services.apigateway.http_apis import HttpApis

# Child kind per operation noun, with the URI member naming one item.
_CHILDREN = {"Route": ("routes", "RouteId"), "Integration": ("integrations", "IntegrationId"),
             "Stage": ("stages", "StageName"), "Deployment": ("deployments", "DeploymentId"),
             "Authorizer": ("authorizers", "AuthorizerId")}
_VALIDATION_CODES = frozenset({"ValidationException", "InvalidRequestContentException",
                               "InvalidParameterValueException"})


def render_error(exc: ApiError, request: ApiRequest) -> ApiResponse:
    """API Gateway's error shape: `{"message": ...}` and the code in x-amzn-ErrorType (malformed input is
    its BadRequestException, whichever codec found it)."""
    code = "BadRequestException" if exc.code in _VALIDATION_CODES else exc.code
    status = 400 if exc.code in _VALIDATION_CODES else exc.status
    body: dict[str, Any] = {"message": exc.message}
    body.update({k: v for k, v in exc.extra.items() if k != "Type"})
    return ApiResponse(status, json.dumps(body).encode(),
                       [(b"content-type", b"application/json"), (b"x-amzn-errortype", code.encode()),
                        (b"x-amzn-requestid", request.request_id.encode())])


def _account(request: ApiRequest) -> str:
    assert request.principal is not None
    return request.principal.account


def build_v2(apis: HttpApis, authorize: Authorize | None) -> RestJsonService:
    svc = RestJsonService("apigatewayv2", authorize=authorize)

    def where(request: ApiRequest) -> tuple[str, str]:
        return _account(request), request.region

    @svc.handler("CreateApi")
    async def create_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.create_api(*where(request), p).data

    @svc.handler("GetApi")
    async def get_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.get(*where(request), p["ApiId"]).data

    @svc.handler("GetApis")
    async def get_apis(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Items": [a.data for a in apis.in_account(*where(request))]}

    @svc.handler("UpdateApi")
    async def update_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.update_api(*where(request), p["ApiId"], p).data

    @svc.handler("DeleteApi")
    async def delete_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_api(*where(request), p["ApiId"])
        return {}

    @svc.handler("DeleteCorsConfiguration")
    async def delete_cors(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_cors(*where(request), p["ApiId"])
        return {}

    def children(noun: str, kind: str, id_key: str) -> None:
        async def create(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            return apis.create_child(*where(request), p["ApiId"], kind, p)

        async def get(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            return apis.child(*where(request), p["ApiId"], kind, p[id_key])

        async def get_all(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            return {"Items": apis.children(*where(request), p["ApiId"], kind)}

        async def update(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            return apis.update_child(*where(request), p["ApiId"], kind, p[id_key], p)

        async def delete(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            apis.delete_child(*where(request), p["ApiId"], kind, p[id_key])
            return {}

        svc.handler(f"Create{noun}")(create)
        svc.handler(f"Get{noun}")(get)
        svc.handler(f"Get{noun}s")(get_all)
        svc.handler(f"Update{noun}")(update)
        svc.handler(f"Delete{noun}")(delete)

    for noun, (kind, id_key) in _CHILDREN.items():
        children(noun, kind, id_key)
    return svc


class ApiGatewayWire:
    """Both management APIs behind the one SigV4 service name `apigateway`."""

    def __init__(self, v2: RestJsonService, v1: RestJsonService | None, authorize: Authorize | None) -> None:
        self.v2 = v2
        self.v1 = v1
        self.authorize = authorize

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        if request.raw_path.startswith("/v2/") or self.v1 is None:
            return await self.v2.dispatch(request)
        return await self.v1.dispatch(request)
