"""HTTP APIs (apigatewayv2): APIs, routes, integrations, authorizers, stages and deployments.

Records are dicts in AWS's field names (what the wire returns), held in memory and written through
to the store before an API call answers. A deployment is a snapshot of the API's routes,
integrations and authorizers; a stage serves the deployment it points at, and an auto-deploy stage
gets a new deployment after every change, as on AWS. `deployed(api_id, stage)` is what the
execute-api front door reads per request: the stage's snapshot compiled into a route table, cached
until the next change.
"""

from __future__ import annotations

import copy
import json
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdad.services.apigateway.errors import BadRequestException, ConflictException, NotFoundException
from lambdad.services.apigateway.routing import PathTemplate, RouteTable, parse_route_key
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS apigw_http (
    api_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (api_id, kind, item_id)
);
"""

KINDS = ("routes", "integrations", "stages", "deployments", "authorizers")
_ID_KEYS = {"routes": "RouteId", "integrations": "IntegrationId", "stages": "StageName",
            "deployments": "DeploymentId", "authorizers": "AuthorizerId"}
_ALNUM = string.ascii_lowercase + string.digits
INTEGRATION_TYPES = frozenset({"AWS_PROXY", "HTTP_PROXY", "AWS", "HTTP", "MOCK"})
AUTHORIZATION_TYPES = frozenset({"NONE", "AWS_IAM", "JWT", "CUSTOM"})
MAX_TIMEOUT_MS = 30000  # HTTP APIs' integration timeout: 50 ms to 30 s, 30 s by default


def new_id(length: int) -> str:
    return "".join(random.choices(_ALNUM, k=length))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def lambda_target(uri: str) -> str | None:
    """The function ARN (with its qualifier) an integration URI names: the ARN itself, or API
    Gateway's `arn:aws:apigateway:region:lambda:path/2015-03-31/functions/<arn>/invocations`."""
    if ":lambda:path/" in uri:
        _, _, rest = uri.partition("/functions/")
        uri = rest.removesuffix("/invocations")
    return uri if uri.startswith("arn:") and ":lambda:" in uri and ":function:" in uri else None


@dataclass(slots=True)
class HttpApi:
    account: str
    region: str
    data: dict[str, Any]
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    integrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: deployment id -> its snapshot (routes, integrations, authorizers at the time)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def api_id(self) -> str:
        return str(self.data["ApiId"])

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = getattr(self, kind)
        return items


@dataclass(slots=True)
class Deployed:
    """One stage of one API as served: its deployment's routes compiled, its variables."""

    api: HttpApi
    stage: dict[str, Any]
    table: RouteTable[dict[str, Any]]
    integrations: dict[str, dict[str, Any]]
    authorizers: dict[str, dict[str, Any]]

    @property
    def stage_name(self) -> str:
        return str(self.stage["StageName"])

    @property
    def variables(self) -> dict[str, str] | None:
        return self.stage.get("StageVariables") or None

    def match(self, method: str, raw_path: str) -> tuple[dict[str, Any], PathTemplate | None, dict[str, str]] | None:
        return self.table.match(method, raw_path)


class HttpApis:
    def __init__(self, store: Store, endpoint: Callable[[str, str], str], clock: Callable[[], float] = time.time
                 ) -> None:
        self.store = store
        self.endpoint = endpoint  # (api id, region) -> the API's invoke URL
        self.clock = clock
        self.apis: dict[str, HttpApi] = {}
        self._deployed: dict[tuple[str, str], Deployed | None] = {}
        store.ensure_schema(SCHEMA)
        rows = store.all("SELECT api_id, kind, item_id, account, region, data FROM apigw_http")
        for row in rows:
            if row["kind"] == "api":
                self.apis[row["api_id"]] = HttpApi(row["account"], row["region"], json.loads(row["data"]))
        for row in rows:
            api = self.apis.get(row["api_id"])
            if api is None or row["kind"] == "api":
                continue
            if row["kind"] == "snapshots":
                api.snapshots[row["item_id"]] = json.loads(row["data"])
            else:
                api.items(row["kind"])[row["item_id"]] = json.loads(row["data"])

    # -- persistence ------------------------------------------------------------------------
    def _save(self, api: HttpApi, kind: str, item_id: str, data: dict[str, Any]) -> None:
        self.store.execute(
            "INSERT INTO apigw_http (api_id, kind, item_id, account, region, data) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (api_id, kind, item_id) DO UPDATE SET data=excluded.data",
            (api.api_id, kind, item_id, api.account, api.region, json.dumps(data)))

    def _forget(self, api: HttpApi, kind: str, item_id: str) -> None:
        self.store.execute("DELETE FROM apigw_http WHERE api_id=? AND kind=? AND item_id=?",
                           (api.api_id, kind, item_id))

    def _changed(self, api: HttpApi) -> None:
        """After any change to what is deployed: auto-deploy stages get a new deployment."""
        for stage in list(api.stages.values()):
            if stage.get("AutoDeploy"):
                self._deploy(api, stage["StageName"], "Automatic deployment triggered by changes to the Api "
                             "configuration", auto=True)
        self._invalidate(api)

    def _invalidate(self, api: HttpApi) -> None:
        for key in [k for k in self._deployed if k[0] == api.api_id]:
            del self._deployed[key]

    # -- APIs -------------------------------------------------------------------------------
    def get(self, account: str, region: str, api_id: str) -> HttpApi:
        api = self.apis.get(api_id)
        if api is None or api.account != account or api.region != region:
            raise NotFoundException(f"Invalid API identifier specified {account}:{api_id}", ResourceType="Api")
        return api

    def in_account(self, account: str, region: str) -> list[HttpApi]:
        return [a for a in self.apis.values() if a.account == account and a.region == region]

    def create_api(self, account: str, region: str, params: dict[str, Any]) -> HttpApi:
        if params.get("ProtocolType") != "HTTP":
            if params.get("ProtocolType") == "WEBSOCKET":
                raise BadRequestException("WebSocket APIs are not supported by this lambdad server.")
            raise BadRequestException("Invalid protocol type specified, must be one of HTTP, WEBSOCKET.")
        api_id = new_id(10)
        while api_id in self.apis:
            api_id = new_id(10)
        data: dict[str, Any] = {
            "ApiId": api_id, "Name": params["Name"], "ProtocolType": "HTTP",
            "ApiEndpoint": self.endpoint(api_id, region), "ApiKeySelectionExpression":
                params.get("ApiKeySelectionExpression", "$request.header.x-api-key"),
            "CreatedDate": _iso(self.clock()),
            "DisableExecuteApiEndpoint": bool(params.get("DisableExecuteApiEndpoint")),
            "RouteSelectionExpression": params.get("RouteSelectionExpression", "${request.method} ${request.path}"),
            "Tags": params.get("Tags") or {}, "IpAddressType": params.get("IpAddressType", "ipv4"),
        }
        for key in ("Description", "Version", "CorsConfiguration", "DisableSchemaValidation"):
            if params.get(key) is not None:
                data[key] = params[key]
        api = HttpApi(account, region, data)
        target = params.get("Target")
        route_key = params.get("RouteKey")
        if route_key is not None and not target:
            raise BadRequestException("RouteKey can only be specified together with Target.")
        if target:  # quick create: an integration, a route and an auto-deployed $default stage
            if lambda_target(target) is None and not str(target).startswith(("http://", "https://")):
                raise BadRequestException(f"Invalid integration URI specified: {target}")
            key = route_key or "$default"
            parse_route_key(key)
        self.apis[api_id] = api
        self._save(api, "api", "", data)
        if target:
            is_lambda = lambda_target(target) is not None
            integration = self.create_child(account, region, api_id, "integrations", {
                "IntegrationType": "AWS_PROXY" if is_lambda else "HTTP_PROXY", "IntegrationUri": target,
                "PayloadFormatVersion": "2.0" if is_lambda else "1.0",
                "IntegrationMethod": None if is_lambda else "ANY",
                "ApiGatewayManaged": True}, managed=True)
            self.create_child(account, region, api_id, "routes", {
                "RouteKey": key, "Target": f"integrations/{integration['IntegrationId']}"}, managed=True)
            self.create_child(account, region, api_id, "stages", {"StageName": "$default", "AutoDeploy": True},
                              managed=True)
            api.data["ApiGatewayManaged"] = True
            self._save(api, "api", "", api.data)
        return api

    def update_api(self, account: str, region: str, api_id: str, params: dict[str, Any]) -> HttpApi:
        api = self.get(account, region, api_id)
        for key in ("Name", "Description", "Version", "CorsConfiguration", "DisableExecuteApiEndpoint",
                    "RouteSelectionExpression", "ApiKeySelectionExpression", "DisableSchemaValidation",
                    "IpAddressType"):
            if key in params and params[key] is not None:
                api.data[key] = params[key]
        self._save(api, "api", "", api.data)
        self._invalidate(api)
        return api

    def delete_cors(self, account: str, region: str, api_id: str) -> None:
        api = self.get(account, region, api_id)
        api.data.pop("CorsConfiguration", None)
        self._save(api, "api", "", api.data)

    def delete_api(self, account: str, region: str, api_id: str) -> None:
        api = self.get(account, region, api_id)
        self._invalidate(api)
        del self.apis[api_id]
        self.store.execute("DELETE FROM apigw_http WHERE api_id=?", (api_id,))

    # -- routes, integrations, authorizers, stages, deployments -----------------------------
    def child(self, account: str, region: str, api_id: str, kind: str, item_id: str) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        item = api.items(kind).get(item_id)
        if item is None:
            singular = kind[:-1].capitalize()
            raise NotFoundException(f"Invalid {singular} identifier specified {item_id}", ResourceType=singular)
        return item

    def children(self, account: str, region: str, api_id: str, kind: str) -> list[dict[str, Any]]:
        return list(self.get(account, region, api_id).items(kind).values())

    def create_child(self, account: str, region: str, api_id: str, kind: str, params: dict[str, Any], *,
                     managed: bool = False) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        fields = {k: v for k, v in params.items() if k != "ApiId" and v is not None}
        if kind == "deployments":
            return self._create_deployment(api, fields)
        if kind == "stages":
            item_id = str(fields["StageName"])
            if item_id in api.stages:
                raise ConflictException(f"Stage already exists: {item_id}")
            now = _iso(self.clock())
            item = {"CreatedDate": now, "LastUpdatedDate": now, "DefaultRouteSettings": {},
                    "RouteSettings": {}, "StageVariables": {}, "Tags": {}, "AutoDeploy": False, **fields}
            if item.get("DeploymentId") and item["DeploymentId"] not in api.deployments:
                raise NotFoundException(f"Invalid Deployment identifier specified {item['DeploymentId']}")
        else:
            item_id = new_id(7 if kind != "authorizers" else 6)
            item = {**fields, _ID_KEYS[kind]: item_id}
        if managed:
            item["ApiGatewayManaged"] = True
        self._check(api, kind, item)
        api.items(kind)[item_id] = item
        self._save(api, kind, item_id, item)
        if kind == "stages":
            if item.get("AutoDeploy"):
                self._deploy(api, item_id, "Automatic deployment triggered by changes to the Api configuration",
                             auto=True)
            self._invalidate(api)
        else:
            self._changed(api)
        return item

    def update_child(self, account: str, region: str, api_id: str, kind: str, item_id: str,
                     params: dict[str, Any]) -> dict[str, Any]:
        api = self.get(account, region, api_id)
        item = self.child(account, region, api_id, kind, item_id)
        ignored = {"ApiId", _ID_KEYS[kind]}
        updated = {**item, **{k: v for k, v in params.items() if k not in ignored and v is not None}}
        if kind == "stages":
            updated["LastUpdatedDate"] = _iso(self.clock())
            if updated.get("DeploymentId") and updated["DeploymentId"] not in api.deployments:
                raise NotFoundException(f"Invalid Deployment identifier specified {updated['DeploymentId']}")
        if kind == "deployments":
            updated = {**item, **{k: v for k, v in params.items() if k == "Description" and v is not None}}
        self._check(api, kind, updated)
        api.items(kind)[item_id] = updated
        self._save(api, kind, item_id, updated)
        if kind == "stages":
            if updated.get("AutoDeploy") and not item.get("AutoDeploy"):
                self._deploy(api, item_id, "Automatic deployment triggered by changes to the Api configuration",
                             auto=True)
            self._invalidate(api)
        elif kind != "deployments":
            self._changed(api)
        return updated

    def delete_child(self, account: str, region: str, api_id: str, kind: str, item_id: str) -> None:
        api = self.get(account, region, api_id)
        self.child(account, region, api_id, kind, item_id)
        if kind == "integrations" and any(r.get("Target") == f"integrations/{item_id}" for r in api.routes.values()):
            raise ConflictException(f"Cannot delete Integration {item_id} because it is in use by a Route.")
        if kind == "authorizers" and any(r.get("AuthorizerId") == item_id for r in api.routes.values()):
            raise ConflictException(f"Cannot delete authorizer '{item_id}', is referenced in route: "
                                    + next(r["RouteKey"] for r in api.routes.values()
                                           if r.get("AuthorizerId") == item_id))
        if kind == "deployments" and any(s.get("DeploymentId") == item_id for s in api.stages.values()):
            raise BadRequestException("Active stages pointing to this deployment must be moved or deleted")
        del api.items(kind)[item_id]
        self._forget(api, kind, item_id)
        if kind == "deployments":
            api.snapshots.pop(item_id, None)
            self._forget(api, "snapshots", item_id)
        if kind in ("stages", "deployments"):
            self._invalidate(api)
        else:
            self._changed(api)

    def _check(self, api: HttpApi, kind: str, item: dict[str, Any]) -> None:
        if kind == "routes":
            parse_route_key(str(item.get("RouteKey", "")))
            if any(r["RouteKey"] == item["RouteKey"] and r["RouteId"] != item["RouteId"]
                   for r in api.routes.values()):
                raise ConflictException(f"Route with key {item['RouteKey']} already exists for this API")
            target = item.get("Target")
            if target:
                kind_, _, target_id = str(target).partition("/")
                if kind_ != "integrations" or target_id not in api.integrations:
                    raise BadRequestException(f"Invalid target specified: {target}")
            auth = item.setdefault("AuthorizationType", "NONE")
            if auth not in AUTHORIZATION_TYPES:
                raise BadRequestException(f"Invalid authorization type specified: {auth}. Valid values are "
                                          "NONE, AWS_IAM, CUSTOM, JWT")
            if auth in ("JWT", "CUSTOM"):
                authorizer = api.authorizers.get(str(item.get("AuthorizerId", "")))
                if authorizer is None:
                    raise BadRequestException(f"Unable to find authorizer with id {item.get('AuthorizerId')}")
                expected = "JWT" if auth == "JWT" else "REQUEST"
                if authorizer["AuthorizerType"] != expected:
                    raise BadRequestException(f"AuthorizationType {auth} requires an authorizer of type {expected}")
            item.setdefault("ApiKeyRequired", False)
        elif kind == "integrations":
            itype = item.get("IntegrationType")
            if itype not in INTEGRATION_TYPES:
                raise BadRequestException(f"Invalid integration type specified: {itype}")
            if itype not in ("AWS_PROXY", "HTTP_PROXY"):
                raise BadRequestException(f"Integration type {itype} is not supported for HTTP APIs; use "
                                          "AWS_PROXY or HTTP_PROXY.")
            uri = str(item.get("IntegrationUri") or "")
            if itype == "AWS_PROXY" and lambda_target(uri) is None:
                raise BadRequestException(f"Invalid integration URI specified: {uri}")
            if itype == "HTTP_PROXY" and not uri.startswith(("http://", "https://")):
                raise BadRequestException(f"Invalid integration URI specified: {uri}")
            version = item.setdefault("PayloadFormatVersion", "1.0")
            if version not in ("1.0", "2.0") or (itype == "HTTP_PROXY" and version != "1.0"):
                raise BadRequestException(f"Invalid payload format version specified: {version}")
            timeout = item.setdefault("TimeoutInMillis", MAX_TIMEOUT_MS)
            if not 50 <= int(timeout) <= MAX_TIMEOUT_MS:
                raise BadRequestException("Timeout must be between 50 ms and 30000 ms.")
            if itype == "HTTP_PROXY":
                item.setdefault("IntegrationMethod", "ANY")
            item.setdefault("ConnectionType", "INTERNET")
            item.setdefault("IntegrationResponseSelectionExpression", None)
        elif kind == "authorizers":
            atype = item.get("AuthorizerType")
            if atype == "JWT":
                jwt = item.get("JwtConfiguration") or {}
                if not jwt.get("Issuer"):
                    raise BadRequestException("JwtConfiguration.Issuer is required for JWT authorizers.")
                if not item.get("IdentitySource"):
                    item["IdentitySource"] = ["$request.header.Authorization"]
            elif atype == "REQUEST":
                if lambda_target(str(item.get("AuthorizerUri") or "")) is None:
                    raise BadRequestException(f"Invalid authorizer URI specified: {item.get('AuthorizerUri')}")
                version = item.get("AuthorizerPayloadFormatVersion")
                if version not in ("1.0", "2.0"):
                    raise BadRequestException("AuthorizerPayloadFormatVersion is required for REQUEST authorizers "
                                              "and must be 1.0 or 2.0.")
                if item.get("EnableSimpleResponses") and version != "2.0":
                    raise BadRequestException("EnableSimpleResponses requires AuthorizerPayloadFormatVersion 2.0.")
                ttl = int(item.setdefault("AuthorizerResultTtlInSeconds", 0))
                if not 0 <= ttl <= 3600:
                    raise BadRequestException("AuthorizerResultTtlInSeconds must be between 0 and 3600.")
                if ttl and not item.get("IdentitySource"):
                    raise BadRequestException("Identity source is required when caching is enabled.")
            else:
                raise BadRequestException(f"Invalid authorizer type specified: {atype}. Valid values are "
                                          "REQUEST, JWT")
        elif kind == "stages":
            name = str(item["StageName"])
            if not name or (name != "$default" and not all(c.isalnum() or c in "-_" for c in name)):
                raise BadRequestException(f"Stage name {name!r} is invalid: use letters, digits, - and _.")

    # -- deployments ------------------------------------------------------------------------
    def _create_deployment(self, api: HttpApi, fields: dict[str, Any]) -> dict[str, Any]:
        stage = fields.get("StageName")
        if stage is not None and stage not in api.stages:
            raise NotFoundException(f"Invalid Stage identifier specified {stage}", ResourceType="Stage")
        if stage is not None and api.stages[stage].get("AutoDeploy"):
            raise BadRequestException(f"Stage {stage} has AutoDeploy enabled; deployments are created for it "
                                      "automatically.")
        return self._deploy(api, stage, fields.get("Description"), auto=False)

    def _deploy(self, api: HttpApi, stage_name: str | None, description: str | None, *, auto: bool
                ) -> dict[str, Any]:
        deployment_id = new_id(6)
        item: dict[str, Any] = {"DeploymentId": deployment_id, "AutoDeployed": auto, "CreatedDate": _iso(self.clock()),
                                "DeploymentStatus": "DEPLOYED"}
        if description:
            item["Description"] = description
        snapshot = {"routes": copy.deepcopy(api.routes), "integrations": copy.deepcopy(api.integrations),
                    "authorizers": copy.deepcopy(api.authorizers)}
        api.deployments[deployment_id] = item
        api.snapshots[deployment_id] = snapshot
        self._save(api, "deployments", deployment_id, item)
        self._save(api, "snapshots", deployment_id, snapshot)
        if stage_name is not None:
            stage = api.stages[stage_name]
            previous = stage.get("DeploymentId")
            stage["DeploymentId"] = deployment_id
            stage["LastUpdatedDate"] = item["CreatedDate"]
            if auto:
                stage["LastDeploymentStatusMessage"] = (f"Successfully deployed stage with deployment ID "
                                                        f"'{deployment_id}'")
            self._save(api, "stages", stage_name, stage)
            # An automatic deployment replaces the previous automatic one: nothing else can use it.
            if auto and previous and api.deployments.get(previous, {}).get("AutoDeployed") and not any(
                    s.get("DeploymentId") == previous for s in api.stages.values()):
                del api.deployments[previous]
                api.snapshots.pop(previous, None)
                self._forget(api, "deployments", previous)
                self._forget(api, "snapshots", previous)
        self._invalidate(api)
        return item

    # -- serving ----------------------------------------------------------------------------
    def deployed(self, api_id: str, stage_name: str) -> Deployed | None:
        key = (api_id, stage_name)
        try:
            return self._deployed[key]
        except KeyError:
            pass
        found: Deployed | None = None
        api = self.apis.get(api_id)
        stage = api.stages.get(stage_name) if api is not None else None
        if api is not None and stage is not None:
            snapshot = api.snapshots.get(str(stage.get("DeploymentId") or ""))
            if snapshot is not None:
                table: RouteTable[dict[str, Any]] = RouteTable()
                for route in snapshot["routes"].values():
                    parsed = parse_route_key(route["RouteKey"])
                    if parsed is None:
                        table.default = route
                    else:
                        table.add(parsed[0], parsed[1], route)
                found = Deployed(api, stage, table, snapshot["integrations"], snapshot["authorizers"])
        self._deployed[key] = found
        return found
