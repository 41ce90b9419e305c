"""REST APIs (apigateway): rest APIs, resources and their methods and integrations, authorizers,
deployments and stages.

Records are dicts in AWS's field names (the apigateway model's lower-camel members), kept in memory
and written through to the store before a call answers. A deployment snapshots the resource tree
(methods and integrations included) and the authorizers; a stage serves the snapshot of its
deployment, compiled into a route table on first use (`deployed`).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdad.services.apigateway.errors import BadRequestException, ConflictException, NotFoundException
from lambdad.services.apigateway.http_apis import lambda_target, new_id
from lambdad.services.apigateway.routing import METHODS, PathTemplate, RouteTable, compile_path
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS apigw_rest (
    api_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (api_id, kind, item_id)
);
"""

AUTH_TYPES = frozenset({"NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS"})
MAX_TIMEOUT_MS = 29000  # REST APIs' default (and, without a quota increase, largest) integration timeout


@dataclass(slots=True)
class RestApi:
    account: str
    region: str
    data: dict[str, Any]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def api_id(self) -> str:
        return str(self.data["id"])

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = getattr(self, kind)
        return items


@dataclass(slots=True)
class RestDeployed:
    api: RestApi
    stage: dict[str, Any]
    table: RouteTable[tuple[dict[str, Any], dict[str, Any]]]  # (resource, method)
    authorizers: dict[str, dict[str, Any]]

    @property
    def stage_name(self) -> str:
        return str(self.stage["stageName"])

    @property
    def variables(self) -> dict[str, str] | None:
        return self.stage.get("variables") or None

    @property
    def deployment_id(self) -> str:
        return str(self.stage.get("deploymentId", ""))

    def match(self, method: str, raw_path: str
              ) -> tuple[tuple[dict[str, Any], dict[str, Any]], PathTemplate | None, dict[str, str]] | None:
        return self.table.match(method, raw_path)


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


class RestApis:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time,
                 taken: Callable[[str], bool] = lambda api_id: False) -> None:
        self.store = store
        self.clock = clock
        self.taken = taken  # whether an HTTP API already has this id (one id space for both kinds)
        self.apis: dict[str, RestApi] = {}
        self._deployed: dict[tuple[str, str], RestDeployed | None] = {}
        store.ensure_schema(SCHEMA)
        rows = store.all("SELECT api_id, kind, item_id, account, region, data FROM apigw_rest")
        for row in rows:
            if row["kind"] == "api":
                self.apis[row["api_id"]] = RestApi(row["account"], row["region"], json.loads(row["data"]))
        for row in rows:
            api = self.apis.get(row["api_id"])
            if api is not None and row["kind"] != "api":
                api.items(row["kind"])[row["item_id"]] = json.loads(row["data"])

    # -- persistence ------------------------------------------------------------------------
    def _save(self, api: RestApi, kind: str, item_id: str, data: dict[str, Any]) -> None:
        self.store.execute(
            "INSERT INTO apigw_rest (api_id, kind, item_id, account, region, data) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (api_id, kind, item_id) DO UPDATE SET data=excluded.data",
            (api.api_id, kind, item_id, api.account, api.region, json.dumps(data)))

    def _forget(self, api: RestApi, kind: str, item_id: str) -> None:
        self.store.execute("DELETE FROM apigw_rest WHERE api_id=? AND kind=? AND item_id=?",
                           (api.api_id, kind, item_id))

    def _invalidate(self, api: RestApi) -> None:
        for key in [k for k in self._deployed if k[0] == api.api_id]:
            del self._deployed[key]

    # -- rest APIs --------------------------------------------------------------------------
    def get(self, account: str, region: str, api_id: str) -> RestApi:
        api = self.apis.get(api_id)
        if api is None or api.account != account or api.region != region:
            raise NotFoundException("Invalid API identifier specified " + f"{account}:{api_id}")
        return api

    def in_account(self, account: str, region: str) -> list[RestApi]:
        return [a for a in self.apis.values() if a.account == account and a.region == region]

    def create_api(self, account: str, region: str, params: dict[str, Any]) -> RestApi:
        api_id = new_id(10)
        while api_id in self.apis or self.taken(api_id):
            api_id = new_id(10)
        root = new_id(10)
        data: dict[str, Any] = {
            "id": api_id, "name": params["name"], "createdDate": int(self.clock()), "rootResourceId": root,
            "apiKeySource": params.get("apiKeySource", "HEADER"),
            "endpointConfiguration": params.get("endpointConfiguration") or {"types": ["EDGE"]},
            "disableExecuteApiEndpoint": bool(params.get("disableExecuteApiEndpoint")),
            "binaryMediaTypes": params.get("binaryMediaTypes") or [], "tags": params.get("tags") or {},
        }
        for key in ("description", "version", "policy", "minimumCompressionSize"):
            if params.get(key) is not None:
                data[key] = params[key]
        api = RestApi(account, region, data)
        self.apis[api_id] = api
        self._save(api, "api", "", data)
        resource = {"id": root, "path": "/"}
        api.resources[root] = resource
        self._save(api, "resources", root, resource)
        return api

    def update_api(self, account: str, region: str, api_id: str, patch: list[dict[str, Any]]) -> RestApi:
        api = self.get(account, region, api_id)
        for op in patch:
            path, value, kind = str(op.get("path", "")), op.get("value"), op.get("op")
            if path.startswith("/binaryMediaTypes/"):
                media = _unescape(path[len("/binaryMediaTypes/"):])
                types = [t for t in api.data.get("binaryMediaTypes", []) if t != media]
                api.data["binaryMediaTypes"] = types + ([media] if kind in ("add", "replace") else [])
            elif path in ("/name", "/description", "/version", "/apiKeySource", "/policy"):
                api.data[path[1:]] = value
            elif path == "/disableExecuteApiEndpoint":
                api.data["disableExecuteApiEndpoint"] = str(value).lower() == "true"
            else:
                raise BadRequestException(f"Invalid patch path {path}")
        self._save(api, "api", "", api.data)
        self._invalidate(api)
        return api

    def delete_api(self, account: str, region: str, api_id: str) -> None:
        api = self.get(account, region, api_id)
        self._invalidate(api)
        del self.apis[api_id]
        self.store.execute("DELETE FROM apigw_rest WHERE api_id=?", (api_id,))

    # -- resources, methods, integrations -----------------------------------------------------
    def resource(self, account: str, region: str, api_id: str, resource_id: str) -> dict[str, Any]:
        found = self.get(account, region, api_id).resources.get(resource_id)
        if found is None:
            raise NotFoundException("Invalid Resource identifier specified")
        return found

    def create_resource(self, account: str, region: str, api_id: str, parent_id: str, part: str) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        parent = self.resource(account, region, api_id, parent_id)
        path = ("" if parent["path"] == "/" else parent["path"]) + "/" + part
        compile_path(path)  # a pathPart API Gateway would refuse
        if "/" in part or not part:
            raise BadRequestException("Resource's path part only allow a-zA-Z0-9._- and curly braces at the "
                                      "beginning and the end and an optional plus sign before the closing brace.")
        siblings = [r for r in api.resources.values() if r.get("parentId") == parent_id]
        if any(r["pathPart"] == part for r in siblings):
            raise ConflictException(f"Another resource with the same parent already has this name: {part}")
        if parent["path"].endswith("+}"):
            raise BadRequestException("A greedy path variable must be the last part of a resource path.")
        resource = {"id": new_id(6), "parentId": parent_id, "pathPart": part, "path": path}
        api.resources[resource["id"]] = resource
        self._save(api, "resources", resource["id"], resource)
        return resource

    def delete_resource(self, account: str, region: str, api_id: str, resource_id: str) -> None:
        api = self.get(account, region, api_id)
        resource = self.resource(account, region, api_id, resource_id)
        if resource_id == api.data["rootResourceId"]:
            raise BadRequestException("Cannot delete root resource")
        doomed = [rid for rid, r in api.resources.items() if r["path"] == resource["path"]
                  or r["path"].startswith(resource["path"] + "/")]
        for rid in doomed:
            del api.resources[rid]
            self._forget(api, "resources", rid)

    def method(self, account: str, region: str, api_id: str, resource_id: str, http_method: str) -> dict[str, Any]:
        resource = self.resource(account, region, api_id, resource_id)
        found = (resource.get("resourceMethods") or {}).get(http_method)
        if found is None:
            raise NotFoundException("Invalid Method identifier specified")
        method: dict[str, Any] = found
        return method

    def put_method(self, account: str, region: str, api_id: str, resource_id: str, params: dict[str, Any]
                   ) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        resource = self.resource(account, region, api_id, resource_id)
        http_method = str(params["httpMethod"]).upper()
        if http_method not in METHODS:
            raise BadRequestException(f"Invalid HttpMethod specified. Valid options are {','.join(sorted(METHODS))}")
        auth = params.get("authorizationType")
        if auth not in AUTH_TYPES:
            raise BadRequestException(f"Invalid authorization type specified. Valid options are "
                                      f"{','.join(sorted(AUTH_TYPES))}")
        if auth == "CUSTOM" and params.get("authorizerId") not in api.authorizers:
            raise BadRequestException("Invalid authorizer ID specified. Setting the authorization type to CUSTOM "
                                      "or COGNITO_USER_POOLS requires a valid authorizer.")
        method = {"httpMethod": http_method, "authorizationType": auth,
                  "apiKeyRequired": bool(params.get("apiKeyRequired"))}
        for key in ("authorizerId", "operationName", "requestParameters", "requestModels", "authorizationScopes"):
            if params.get(key) is not None:
                method[key] = params[key]
        resource.setdefault("resourceMethods", {})[http_method] = method
        self._save(api, "resources", resource_id, resource)
        return method

    def delete_method(self, account: str, region: str, api_id: str, resource_id: str, http_method: str) -> None:
        api = self.get(account, region, api_id)
        self.method(account, region, api_id, resource_id, http_method)
        resource = api.resources[resource_id]
        del resource["resourceMethods"][http_method]
        self._save(api, "resources", resource_id, resource)

    def put_integration(self, account: str, region: str, api_id: str, resource_id: str, http_method: str,
                        params: dict[str, Any]) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        method = self.method(account, region, api_id, resource_id, http_method)
        itype = params.get("type")
        if itype not in ("AWS_PROXY", "HTTP_PROXY", "AWS", "HTTP", "MOCK"):
            raise BadRequestException("Invalid integration type specified")
        uri = str(params.get("uri") or "")
        if itype == "AWS_PROXY":
            if lambda_target(uri) is None:
                raise BadRequestException("Invalid ARN specified in the request")
            if params.get("integrationHttpMethod") != "POST":
                raise BadRequestException("Lambda proxy integrations must use integrationHttpMethod POST.")
        elif itype == "HTTP_PROXY":
            if not uri.startswith(("http://", "https://")):
                raise BadRequestException("Invalid HTTP endpoint specified for URI")
            if params.get("integrationHttpMethod") not in METHODS:
                raise BadRequestException("Enumeration value for HttpMethod must be non-empty")
        elif itype != "MOCK":
            raise BadRequestException(f"Integration type {itype} is not supported by this lambdad server; use "
                                      "AWS_PROXY or HTTP_PROXY.")
        timeout = int(params.get("timeoutInMillis") or MAX_TIMEOUT_MS)
        if not 50 <= timeout <= MAX_TIMEOUT_MS:
            raise BadRequestException("Timeout should be between 50 ms and 29000 ms")
        integration = {"type": itype, "httpMethod": params.get("integrationHttpMethod"), "uri": uri,
                       "passthroughBehavior": params.get("passthroughBehavior", "WHEN_NO_MATCH"),
                       "timeoutInMillis": timeout, "cacheNamespace": resource_id, "cacheKeyParameters": [],
                       "connectionType": params.get("connectionType", "INTERNET")}
        if params.get("contentHandling"):
            integration["contentHandling"] = params["contentHandling"]
        method["methodIntegration"] = integration
        self._save(api, "resources", resource_id, api.resources[resource_id])
        return integration

    def integration(self, account: str, region: str, api_id: str, resource_id: str, http_method: str
                    ) -> dict[str, Any]:
        found = self.method(account, region, api_id, resource_id, http_method).get("methodIntegration")
        if found is None:
            raise NotFoundException("No integration defined for method")
        integration: dict[str, Any] = found
        return integration

    def delete_integration(self, account: str, region: str, api_id: str, resource_id: str, http_method: str
                           ) -> None:
        api = self.get(account, region, api_id)
        self.integration(account, region, api_id, resource_id, http_method)
        del api.resources[resource_id]["resourceMethods"][http_method]["methodIntegration"]
        self._save(api, "resources", resource_id, api.resources[resource_id])

    # -- authorizers ------------------------------------------------------------------------
    def create_authorizer(self, account: str, region: str, api_id: str, params: dict[str, Any]) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        atype = params.get("type")
        if atype not in ("TOKEN", "REQUEST", "COGNITO_USER_POOLS"):
            raise BadRequestException("Invalid authorizer type specified")
        if atype == "COGNITO_USER_POOLS":
            raise BadRequestException("COGNITO_USER_POOLS authorizers are not supported by this lambdad server.")
        if lambda_target(str(params.get("authorizerUri") or "")) is None:
            raise BadRequestException("Invalid Authorizer URI specified")
        ttl = int(params.get("authorizerResultTtlInSeconds", 300))
        if not 0 <= ttl <= 3600:
            raise BadRequestException("Invalid authorizerResultTtlInSeconds: must be between 0 and 3600")
        source = params.get("identitySource") or ("method.request.header.Authorization" if atype == "TOKEN" else None)
        if atype == "REQUEST" and ttl and not source:
            raise BadRequestException("Identity source is required when caching is enabled")
        item = {"id": new_id(6), "name": params["name"], "type": atype, "authorizerUri": params["authorizerUri"],
                "authorizerResultTtlInSeconds": ttl, "authType": params.get("authType", "custom")}
        if source:
            item["identitySource"] = source
        if params.get("identityValidationExpression"):
            item["identityValidationExpression"] = params["identityValidationExpression"]
        api.authorizers[item["id"]] = item
        self._save(api, "authorizers", item["id"], item)
        return item

    def authorizer(self, account: str, region: str, api_id: str, authorizer_id: str) -> dict[str, Any]:
        found = self.get(account, region, api_id).authorizers.get(authorizer_id)
        if found is None:
            raise NotFoundException("Invalid Authorizer identifier specified")
        return found

    def delete_authorizer(self, account: str, region: str, api_id: str, authorizer_id: str) -> None:
        api = self.get(account, region, api_id)
        self.authorizer(account, region, api_id, authorizer_id)
        del api.authorizers[authorizer_id]
        self._forget(api, "authorizers", authorizer_id)

    # -- deployments and stages ---------------------------------------------------------------
    def create_deployment(self, account: str, region: str, api_id: str, params: dict[str, Any]) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        methods = [m for r in api.resources.values() for m in (r.get("resourceMethods") or {}).values()]
        if not methods:
            raise BadRequestException("The REST API doesn't contain any methods")
        if any("methodIntegration" not in m for m in methods):
            raise BadRequestException("No integration defined for method")
        item: dict[str, Any] = {"id": new_id(6), "createdDate": int(self.clock())}
        if params.get("description"):
            item["description"] = params["description"]
        snapshot = {"resources": copy.deepcopy(api.resources), "authorizers": copy.deepcopy(api.authorizers)}
        api.deployments[item["id"]] = item
        api.snapshots[item["id"]] = snapshot
        self._save(api, "deployments", item["id"], item)
        self._save(api, "snapshots", item["id"], snapshot)
        stage_name = params.get("stageName")
        if stage_name:
            stage = api.stages.get(stage_name)
            if stage is None:
                self.create_stage(account, region, api_id, {"stageName": stage_name, "deploymentId": item["id"],
                                                            "description": params.get("stageDescription"),
                                                            "variables": params.get("variables")})
            else:
                stage["deploymentId"] = item["id"]
                stage["lastUpdatedDate"] = int(self.clock())
                if params.get("variables"):
                    stage["variables"] = {**stage.get("variables", {}), **params["variables"]}
                self._save(api, "stages", stage_name, stage)
        self._invalidate(api)
        return item

    def delete_deployment(self, account: str, region: str, api_id: str, deployment_id: str) -> None:
        api = self.get(account, region, api_id)
        if deployment_id not in api.deployments:
            raise NotFoundException("Invalid Deployment identifier specified")
        if any(s.get("deploymentId") == deployment_id for s in api.stages.values()):
            raise BadRequestException("Active stages pointing to this deployment must be moved or deleted")
        del api.deployments[deployment_id]
        api.snapshots.pop(deployment_id, None)
        self._forget(api, "deployments", deployment_id)
        self._forget(api, "snapshots", deployment_id)

    def create_stage(self, account: str, region: str, api_id: str, params: dict[str, Any]) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        name = str(params["stageName"])
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise BadRequestException("Stage name only allows a-zA-Z0-9_")
        if name in api.stages:
            raise ConflictException("Stage already exists")
        if params.get("deploymentId") not in api.deployments:
            raise BadRequestException("Invalid deployment identifier specified")
        now = int(self.clock())
        stage: dict[str, Any] = {"stageName": name, "deploymentId": params["deploymentId"], "createdDate": now,
                                 "lastUpdatedDate": now, "cacheClusterEnabled": False, "cacheClusterStatus":
                                 "NOT_AVAILABLE", "methodSettings": {}, "tracingEnabled": False,
                                 "variables": params.get("variables") or {}, "tags": params.get("tags") or {}}
        if params.get("description"):
            stage["description"] = params["description"]
        api.stages[name] = stage
        self._save(api, "stages", name, stage)
        self._invalidate(api)
        return stage

    def stage(self, account: str, region: str, api_id: str, name: str) -> dict[str, Any]:
        found = self.get(account, region, api_id).stages.get(name)
        if found is None:
            raise NotFoundException("Invalid Stage identifier specified")
        return found

    def update_stage(self, account: str, region: str, api_id: str, name: str, patch: list[dict[str, Any]]
                     ) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        stage = self.stage(account, region, api_id, name)
        for op in patch:
            path, value, kind = str(op.get("path", "")), op.get("value"), op.get("op")
            if path.startswith("/variables/"):
                key = _unescape(path[len("/variables/"):])
                if kind == "remove":
                    stage["variables"].pop(key, None)
                else:
                    stage["variables"][key] = value
            elif path == "/deploymentId":
                if value not in api.deployments:
                    raise BadRequestException("Invalid deployment identifier specified")
                stage["deploymentId"] = value
            elif path in ("/description", "/tracingEnabled"):
                stage[path[1:]] = value if path == "/description" else str(value).lower() == "true"
            elif "/throttling/" in path or "/caching/" in path or "/logging/" in path or "/metrics/" in path:
                self._method_setting(stage, path, value)
            else:
                raise BadRequestException(f"Invalid patch path {path}")
        stage["lastUpdatedDate"] = int(self.clock())
        self._save(api, "stages", name, stage)
        self._invalidate(api)
        return stage

    @staticmethod
    def _method_setting(stage: dict[str, Any], path: str, value: Any) -> None:
        """`/{resource path, ~1 for /}/{method}/throttling/rateLimit` (or `/*/*/...`) into methodSettings."""
        parts = path[1:].split("/")
        if len(parts) != 4:
            raise BadRequestException(f"Invalid method setting path: {path}")
        resource, method, group, name = parts
        key = f"{_unescape(resource).lstrip('/')}/{method}"
        field_name = group + name[0].upper() + name[1:]  # throttling + rateLimit -> throttlingRateLimit
        numeric = {"throttlingRateLimit": float, "throttlingBurstLimit": int, "cachingTtlInSeconds": int}
        try:
            converted: Any = numeric[field_name](value) if field_name in numeric else (
                str(value).lower() == "true" if str(value).lower() in ("true", "false") else value)
        except (TypeError, ValueError) as exc:
            raise BadRequestException(f"Invalid value for {field_name}: {value}") from exc
        stage.setdefault("methodSettings", {}).setdefault(key, {})[field_name] = converted

    def delete_stage(self, account: str, region: str, api_id: str, name: str) -> None:
        api = self.get(account, region, api_id)
        self.stage(account, region, api_id, name)
        del api.stages[name]
        self._forget(api, "stages", name)
        self._invalidate(api)

    # -- serving ----------------------------------------------------------------------------
    def deployed(self, api_id: str, stage_name: str) -> RestDeployed | None:
        key = (api_id, stage_name)
        try:
            return self._deployed[key]
        except KeyError:
            pass
        found: RestDeployed | None = None
        api = self.apis.get(api_id)
        stage = api.stages.get(stage_name) if api is not None else None
        if api is not None and stage is not None:
            snapshot = api.snapshots.get(str(stage.get("deploymentId", "")))
            if snapshot is not None:
                table: RouteTable[tuple[dict[str, Any], dict[str, Any]]] = RouteTable()
                for resource in snapshot["resources"].values():
                    template = compile_path(resource["path"])
                    for method_name, method in (resource.get("resourceMethods") or {}).items():
                        table.add(method_name, template, (resource, method))
                found = RestDeployed(api, stage, table, snapshot["authorizers"])
        self._deployed[key] = found
        return found
