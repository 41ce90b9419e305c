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
from lambdad.services.apigateway.rest_apis import RestApis
from lambdad.services.apigateway.usage_plans import UsagePlans

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


def build_v1(apis: RestApis, plans: UsagePlans, authorize: Authorize | None) -> RestJsonService:
    svc = RestJsonService("apigateway", authorize=authorize)

    def where(request: ApiRequest) -> tuple[str, str]:
        return _account(request), request.region

    def shown(key: dict[str, Any], include_value: bool) -> dict[str, Any]:
        return key if include_value else {k: v for k, v in key.items() if k != "value"}

    @svc.handler("CreateApiKey")
    async def create_api_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return plans.create_key(*where(request), p)

    @svc.handler("GetApiKey")
    async def get_api_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return shown(plans.key(*where(request), p["apiKey"]), bool(p.get("includeValue")))

    @svc.handler("GetApiKeys")
    async def get_api_keys(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        keys = [k for k in plans.key_list(*where(request)) if str(p.get("nameQuery") or "") in k["name"]]
        return {"items": [shown(k, bool(p.get("includeValues"))) for k in keys]}

    @svc.handler("UpdateApiKey")
    async def update_api_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return shown(plans.update_key(*where(request), p["apiKey"], p.get("patchOperations") or []), False)

    @svc.handler("DeleteApiKey")
    async def delete_api_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        plans.delete_key(*where(request), p["apiKey"])
        return {}

    @svc.handler("CreateUsagePlan")
    async def create_usage_plan(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        for stage in p.get("apiStages") or []:
            apis.stage(*where(request), str(stage.get("apiId")), str(stage.get("stage")))
        return plans.create_plan(*where(request), p)

    @svc.handler("GetUsagePlan")
    async def get_usage_plan(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return plans.plan(*where(request), p["usagePlanId"])

    @svc.handler("GetUsagePlans")
    async def get_usage_plans(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"items": [x for x in plans.plan_list(*where(request))
                          if not p.get("keyId") or p["keyId"] in x["_keys"]]}

    @svc.handler("DeleteUsagePlan")
    async def delete_usage_plan(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        plans.delete_plan(*where(request), p["usagePlanId"])
        return {}

    @svc.handler("CreateUsagePlanKey")
    async def create_usage_plan_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return plans.add_plan_key(*where(request), p["usagePlanId"], p["keyId"], p["keyType"])

    @svc.handler("GetUsagePlanKeys")
    async def get_usage_plan_keys(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"items": plans.plan_keys(*where(request), p["usagePlanId"])}

    @svc.handler("DeleteUsagePlanKey")
    async def delete_usage_plan_key(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        plans.remove_plan_key(*where(request), p["usagePlanId"], p["keyId"])
        return {}

    @svc.handler("CreateRestApi")
    async def create_rest_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.create_api(*where(request), p).data

    @svc.handler("GetRestApi")
    async def get_rest_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.get(*where(request), p["restApiId"]).data

    @svc.handler("GetRestApis")
    async def get_rest_apis(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"items": [a.data for a in apis.in_account(*where(request))]}

    @svc.handler("UpdateRestApi")
    async def update_rest_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.update_api(*where(request), p["restApiId"], p.get("patchOperations") or []).data

    @svc.handler("DeleteRestApi")
    async def delete_rest_api(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_api(*where(request), p["restApiId"])
        return {}

    @svc.handler("GetResources")
    async def get_resources(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"items": list(apis.get(*where(request), p["restApiId"]).resources.values())}

    @svc.handler("GetResource")
    async def get_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.resource(*where(request), p["restApiId"], p["resourceId"])

    @svc.handler("CreateResource")
    async def create_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.create_resource(*where(request), p["restApiId"], p["parentId"], p["pathPart"])

    @svc.handler("DeleteResource")
    async def delete_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_resource(*where(request), p["restApiId"], p["resourceId"])
        return {}

    @svc.handler("PutMethod")
    async def put_method(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.put_method(*where(request), p["restApiId"], p["resourceId"], p)

    @svc.handler("GetMethod")
    async def get_method(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.method(*where(request), p["restApiId"], p["resourceId"], p["httpMethod"])

    @svc.handler("DeleteMethod")
    async def delete_method(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_method(*where(request), p["restApiId"], p["resourceId"], p["httpMethod"])
        return {}

    @svc.handler("PutIntegration")
    async def put_integration(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.put_integration(*where(request), p["restApiId"], p["resourceId"], p["httpMethod"], p)

    @svc.handler("GetIntegration")
    async def get_integration(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.integration(*where(request), p["restApiId"], p["resourceId"], p["httpMethod"])

    @svc.handler("DeleteIntegration")
    async def delete_integration(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_integration(*where(request), p["restApiId"], p["resourceId"], p["httpMethod"])
        return {}

    @svc.handler("PutMethodResponse")
    async def put_method_response(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.method(*where(request), p["restApiId"], p["resourceId"], p["httpMethod"])
        return {"statusCode": p["statusCode"], "responseParameters": p.get("responseParameters"),
                "responseModels": p.get("responseModels")}

    @svc.handler("PutIntegrationResponse")
    async def put_integration_response(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.integration(*where(request), p["restApiId"], p["resourceId"], p["httpMethod"])
        return {k: p.get(k) for k in ("statusCode", "selectionPattern", "responseParameters", "responseTemplates",
                                      "contentHandling")}

    @svc.handler("CreateAuthorizer")
    async def create_authorizer(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.create_authorizer(*where(request), p["restApiId"], p)

    @svc.handler("GetAuthorizer")
    async def get_authorizer(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.authorizer(*where(request), p["restApiId"], p["authorizerId"])

    @svc.handler("GetAuthorizers")
    async def get_authorizers(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"items": list(apis.get(*where(request), p["restApiId"]).authorizers.values())}

    @svc.handler("DeleteAuthorizer")
    async def delete_authorizer(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_authorizer(*where(request), p["restApiId"], p["authorizerId"])
        return {}

    @svc.handler("CreateDeployment")
    async def create_deployment(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.create_deployment(*where(request), p["restApiId"], p)

    @svc.handler("GetDeployments")
    async def get_deployments(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"items": list(apis.get(*where(request), p["restApiId"]).deployments.values())}

    @svc.handler("DeleteDeployment")
    async def delete_deployment(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_deployment(*where(request), p["restApiId"], p["deploymentId"])
        return {}

    @svc.handler("CreateStage")
    async def create_stage(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.create_stage(*where(request), p["restApiId"], p)

    @svc.handler("GetStage")
    async def get_stage(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.stage(*where(request), p["restApiId"], p["stageName"])

    @svc.handler("GetStages")
    async def get_stages(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"item": list(apis.get(*where(request), p["restApiId"]).stages.values())}

    @svc.handler("UpdateStage")
    async def update_stage(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return apis.update_stage(*where(request), p["restApiId"], p["stageName"], p.get("patchOperations") or [])

    @svc.handler("DeleteStage")
    async def delete_stage(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        apis.delete_stage(*where(request), p["restApiId"], p["stageName"])
        return {}
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
