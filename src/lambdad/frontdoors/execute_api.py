"""API Gateway's invoke URLs on the API port: HTTP APIs (and REST APIs) served to plain HTTP clients.

Two ways to name an API:
  - by Host, as on AWS: `<api-id>.execute-api.<region>.<public-host>:<port>/<stage>/<path>`
    (no stage segment for an HTTP API's `$default` stage);
  - by path, needing no DNS: `http://<host>:<port>/_aws/execute-api/<api-id>/<stage>/<path>`
    (the form LocalStack users know), served exactly like the Host form.

Per request: the API and stage, the CORS preflight (answered without the function), the route
(most specific first, `$default` last), the route's authorization (NONE, AWS_IAM, JWT, CUSTOM), the
function's resource policy (apigateway.amazonaws.com from
`arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<route path>`, checked as AWS checks
it), the event in the integration's payload format, and the answer mapped back. Errors are API
Gateway's: `{"message":"Not Found"}` 404, 401 Unauthorized, 403 Forbidden, 413 past 10 MB, 500
Internal Server Error for a function error or malformed answer (HTTP APIs), 503 past the
integration timeout.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from typing import Any
from urllib.parse import quote

from lambdad.api.app import verified_body
from lambdad.api.base import ApiRequest, ApiResponse
from lambdad.api.http_protocol import BodyTooLarge, RequestBody, Spool
from lambdad.auth import policy, sigv4
from lambdad.auth.access import service_may_invoke
from lambdad.auth.authn import Authenticator
from lambdad.auth.authorizer import Authorizer
from lambdad.clock import Clock
from lambdad.control.names import function_arn, parse_function_ref
from lambdad.control.permissions import Permissions
from lambdad.control.resolver import Resolver
from lambdad.errors import ApiError, LambdadError, TooManyRequestsException
from lambdad.frontdoors import apigw_auth as auth
from lambdad.frontdoors import apigw_events as events
from lambdad.frontdoors import cors as cors_rules
from lambdad.frontdoors import http_forward
from lambdad.invoke.invoker import InvokeMeta, Invoker, InvokeResult
from lambdad.services.apigateway.http_apis import Deployed, HttpApis, lambda_target
from lambdad.services.apigateway.rest_apis import RestApis, RestDeployed
from lambdad.services.apigateway.routing import PathTemplate
from lambdad.services.apigateway.throttling import Throttles, http_route_limits, rest_method_limits
from lambdad.services.apigateway.usage_plans import UsagePlans

log = logging.getLogger("lambdad.apigateway")

PATH_PREFIX = "/_aws/execute-api/"
_URI_PARAM = re.compile(r"\{([A-Za-z0-9._:-]+)(\+?)\}")
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's request payload limit
PRINCIPAL = "apigateway.amazonaws.com"


class _Answer(LambdadError):
    """Stop here and answer this (an API Gateway error response)."""

    def __init__(self, reply: events.Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _fail(status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> _Answer:
    return _Answer(events.message(status, text, extra))


class ExecuteApiDoor:
    def __init__(self, http_apis: HttpApis, rest_apis: RestApis, usage_plans: UsagePlans, permissions: Permissions,
                 resolver: Resolver, invoker: Invoker, authenticator: Authenticator, authorizer: Authorizer,
                 spool: Spool, clock: Clock, *, public_host: str, port: int,
                 allow_private_integrations: bool = False) -> None:
        self.http_apis = http_apis
        self.rest_apis = rest_apis
        self.usage_plans = usage_plans
        self.permissions = permissions
        self.resolver = resolver
        self.invoker = invoker
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.spool = spool
        self.clock = clock
        self.public_host = public_host
        self.port = port
        self.jwks = auth.JwksCache(clock)
        self.decisions = auth.DecisionCache(clock)
        self.throttles = Throttles()
        self.allow_private_integrations = allow_private_integrations
        # (function, qualifier, policy revision, source ARN) -> allowed: a policy is evaluated once per change
        self._permitted: dict[tuple[str, str, str, str | None, str, str], bool] = {}

    # -- locating the API ---------------------------------------------------------------------
    def matches(self, request: ApiRequest) -> bool:
        return ".execute-api." in request.headers.get("host", "") or request.raw_path.startswith(PATH_PREFIX)

    def _locate(self, request: ApiRequest) -> tuple[str, str, str] | None:
        """(api id, the path after it, the API's domain name)."""
        raw = request.raw_path
        if raw.startswith(PATH_PREFIX):
            api_id, _, rest = raw[len(PATH_PREFIX):].partition("/")
            region = self._region_of(api_id) or request.region
            return api_id, "/" + rest, f"{api_id}.execute-api.{region}.{self.public_host}"
        host = request.headers.get("host", "").split(":", 1)[0].lower()
        api_id = host.split(".", 1)[0]
        return api_id, raw or "/", host

    def _region_of(self, api_id: str) -> str | None:
        api = self.http_apis.apis.get(api_id) or self.rest_apis.apis.get(api_id)
        return api.region if api is not None else None

    async def __call__(self, request: ApiRequest, body: RequestBody) -> ApiResponse:
        try:
            located = self._locate(request)
            if located is None:
                raise _fail(404, "Not Found")
            api_id, path, domain = located
            api = self.http_apis.apis.get(api_id)
            if api is not None and not api.data.get("DisableExecuteApiEndpoint"):
                reply = await self._http_api(request, body, api_id, path, domain)
            else:
                rest = self.rest_apis.apis.get(api_id)
                if rest is None or rest.data.get("disableExecuteApiEndpoint"):
                    raise _fail(404, "Not Found")
                reply = await self._rest_api(request, body, api_id, path, domain)
        except _Answer as answer:
            reply = answer.reply
        return ApiResponse(reply.status, reply.body, reply.headers)

    # -- HTTP APIs ----------------------------------------------------------------------------
    def _stage(self, api_id: str, path: str) -> tuple[Deployed, str, str]:
        """The stage serving `path`, the path the routes see, and the path the function sees."""
        first, _, rest = path[1:].partition("/")
        if first and first != "$default":
            deployed = self.http_apis.deployed(api_id, first)
            if deployed is not None:
                return deployed, "/" + rest, path
        deployed = self.http_apis.deployed(api_id, "$default")
        if deployed is None:
            raise _fail(404, "Not Found")
        return deployed, path, path

    async def _http_api(self, request: ApiRequest, body: RequestBody, api_id: str, path: str,
                        domain: str) -> events.Reply:
        deployed, route_path, event_path = self._stage(api_id, path)
        api = deployed.api
        request_id = events.short_id()
        id_header = [(b"apigw-requestid", request_id.encode())]
        cors = api.data.get("CorsConfiguration")
        origin = request.headers.get("origin")
        if cors and cors_rules.is_preflight(request.method, request.headers):
            return events.Reply(204, [*cors_rules.preflight_headers(cors, origin or ""), *id_header], b"")
        matched = deployed.match(request.method, route_path)
        if matched is None:
            raise _fail(404, "Not Found", id_header)
        route, template, params = matched
        limits = http_route_limits(deployed.stage, route["RouteKey"])
        if limits is not None and not self.throttles.allow((api_id, deployed.stage_name, route["RouteKey"]), *limits,
                                                           self.clock.monotonic()):
            raise _fail(429, "Too Many Requests", id_header)
        integration = deployed.integrations.get(str(route.get("Target", "")).partition("/")[2])
        if integration is None:
            raise _fail(404, "Not Found", id_header)
        method_path = template.text if template is not None else None
        route_arn = (f"arn:aws:execute-api:{api.region}:{api.account}:{api_id}/{deployed.stage_name}/"
                     f"{request.method}{route_path}")
        now = self.clock.time()
        inc = events.Incoming(request.method, event_path, request.raw_query, request.headers,
                              _header_list(request), b"", (request.client or ("127.0.0.1", 0))[0], self.port,
                              domain, api_id, api.account, deployed.stage_name, request_id, request_id, now)
        try:
            authorizer_context = await self._authorize_http(request, body, route, deployed, inc, route_arn)
            inc.body = request.body
            if integration["IntegrationType"] == "HTTP_PROXY":
                reply = await self._forward(request, inc, str(integration["IntegrationUri"]), params,
                                            str(integration.get("IntegrationMethod") or "ANY"),
                                            int(integration.get("TimeoutInMillis", 30000)) / 1000,
                                            "Internal Server Error", template)
                raise _Answer(reply)
            if integration["IntegrationType"] != "AWS_PROXY":
                raise _fail(500, "Internal Server Error", id_header)
            version = integration.get("PayloadFormatVersion", "1.0")
            if version == "2.0":
                event = events.v2_event(inc, route["RouteKey"], params, deployed.variables, authorizer_context)
            else:
                v1_auth = authorizer_context
                if authorizer_context is not None and "jwt" in authorizer_context:
                    v1_auth = authorizer_context["jwt"]
                elif authorizer_context is not None and "lambda" in authorizer_context:
                    v1_auth = authorizer_context["lambda"]
                iam = authorizer_context.get("iam") if authorizer_context else None
                event = events.v1_event(inc, resource=method_path or event_path, path=event_path,
                                        request_path=event_path, resource_id=route["RouteKey"],
                                        path_params=params, stage_variables=deployed.variables,
                                        authorizer=None if iam else v1_auth, identity=events.v1_identity(inc, iam),
                                        rest=False)
            source_arn = (f"arn:aws:execute-api:{api.region}:{api.account}:{api_id}/{deployed.stage_name}/"
                          + (f"{request.method}{method_path}" if method_path else "$default"))
            result = await self._invoke(api.account, _with_variables(integration["IntegrationUri"], deployed.variables),
                                        source_arn, event,
                                        int(integration.get("TimeoutInMillis", 30000)) / 1000, request_id)
            if result is None:
                raise _fail(503, "Service Unavailable", id_header)
            if result.function_error:
                raise _fail(500, "Internal Server Error", id_header)
            try:
                reply = (events.v2_response(result.payload) if version == "2.0"
                         else events.v1_response(result.payload))
            except events.Malformed:
                raise _fail(500, "Internal Server Error", id_header) from None
        except _Answer as answer:
            reply = answer.reply
        if cors:
            reply.headers = cors_rules.apply(cors, origin, reply.headers)
        if not any(k == b"apigw-requestid" for k, _ in reply.headers):
            reply.headers.extend(id_header)
        return reply

    # -- REST APIs ----------------------------------------------------------------------------
    async def _rest_api(self, request: ApiRequest, body: RequestBody, api_id: str, path: str,
                        domain: str) -> events.Reply:
        stage_name, _, rest = path[1:].partition("/")
        deployed = self.rest_apis.deployed(api_id, stage_name) if stage_name else None
        if deployed is None:
            raise _fail(403, "Forbidden")
        api = deployed.api
        extended = events.short_id()
        id_headers = [(b"x-amz-apigw-id", extended.encode())]
        route_path = "/" + rest
        matched = deployed.match(request.method, route_path)
        if matched is None:
            raise _fail(403, "Missing Authentication Token",
                        [(b"x-amzn-errortype", b"MissingAuthenticationTokenException"), *id_headers])
        (resource, method), template, params = matched
        limits = rest_method_limits(deployed.stage, resource["path"], method["httpMethod"])
        if limits is not None and not self.throttles.allow((api_id, stage_name, resource["id"], method["httpMethod"]),
                                                           *limits, self.clock.monotonic()):
            raise _fail(429, "Too Many Requests", id_headers)
        integration = method.get("methodIntegration") or {}
        method_arn = (f"arn:aws:execute-api:{api.region}:{api.account}:{api_id}/{stage_name}/"
                      f"{request.method}{route_path}")
        inc = events.Incoming(request.method, route_path, request.raw_query, request.headers, _header_list(request),
                              b"", (request.client or ("127.0.0.1", 0))[0], self.port, domain, api_id, api.account,
                              stage_name, request.request_id, extended, self.clock.time())
        try:
            api_key: str | None = None
            if method.get("apiKeyRequired"):
                gate = self.usage_plans.admit(api.account, api.region, api_id, stage_name,
                                              request.headers.get("x-api-key"), self.clock.time())
                if gate.status != 200:
                    raise _fail(gate.status, gate.message)
                api_key = gate.key["value"] if gate.key else None
            authorizer_context, iam = await self._authorize_rest(request, body, method, deployed, inc, method_arn,
                                                                  params)
            inc.body = request.body
            binary = _is_binary(api.data.get("binaryMediaTypes") or [], request.headers.get("content-type", ""))
            event = events.v1_event(inc, resource=resource["path"], path=route_path,
                                    request_path=f"/{stage_name}{route_path}", resource_id=resource["id"],
                                    path_params=params, stage_variables=deployed.variables,
                                    authorizer=authorizer_context, identity=events.v1_identity(
                                        inc, iam, api_key=api_key, rest=True), rest=True, binary=binary)
            event["requestContext"]["deploymentId"] = deployed.deployment_id
            if integration.get("type") == "HTTP_PROXY":
                raise _Answer(await self._forward(request, inc, str(integration["uri"]), params,
                                                  str(integration.get("httpMethod") or "ANY"),
                                                  int(integration.get("timeoutInMillis", 29000)) / 1000,
                                                  "Internal server error", template))
            if integration.get("type") != "AWS_PROXY":
                raise _fail(500, "Internal server error")
            source_arn = (f"arn:aws:execute-api:{api.region}:{api.account}:{api_id}/{stage_name}/"
                          f"{request.method}{resource['path']}")
            result = await self._invoke(api.account, _with_variables(integration["uri"], deployed.variables),
                                        source_arn, event,
                                        int(integration.get("timeoutInMillis", 29000)) / 1000, request.request_id,
                                        "Internal server error")
            if result is None:
                raise _fail(504, "Endpoint request timed out")
            if result.function_error:
                raise _fail(502, "Internal server error", [(b"x-amzn-errortype", b"InternalServerErrorException")])
            try:
                reply = events.v1_response(result.payload)
            except events.Malformed:
                raise _fail(502, "Internal server error",
                            [(b"x-amzn-errortype", b"InternalServerErrorException")]) from None
            if reply.decoded_base64 and not _wants_binary(api.data.get("binaryMediaTypes") or [], request.headers):
                reply.body = base64.b64encode(reply.body)  # not asked for binary: the base64 text, as on AWS
        except _Answer as answer:
            reply = answer.reply
        reply.headers.extend(id_headers)
        return reply

    async def _authorize_rest(self, request: ApiRequest, body: RequestBody, method: dict[str, Any],
                              deployed: RestDeployed, inc: events.Incoming, method_arn: str, params: dict[str, str]
                              ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        kind = method.get("authorizationType", "NONE")
        api = deployed.api
        if kind == "AWS_IAM":
            iam = await self._iam(request, body, api.account, method_arn)
            return None, iam["iam"]
        await self._read(request, body)
        if kind != "CUSTOM":
            return None, None
        authorizer = deployed.authorizers.get(str(method.get("authorizerId", "")))
        if authorizer is None:
            raise _fail(500, "Internal server error")
        sources = auth.Sources(request.headers, request.query, deployed.variables or {},
                               {"requestId": inc.request_id, "stage": inc.stage})
        values = auth.identity_values([str(authorizer.get("identitySource") or "")], sources)
        is_token = authorizer["type"] == "TOKEN"
        if values is None or (is_token and not values):
            raise _fail(401, "Unauthorized")
        pattern = authorizer.get("identityValidationExpression")
        if is_token and pattern and re.fullmatch(pattern, values[0]) is None:
            raise _fail(401, "Unauthorized")
        ttl = int(authorizer.get("authorizerResultTtlInSeconds") or 0)
        key = (f"{api.api_id}/{authorizer['id']}", *values)
        decision = self.decisions.get(key) if ttl and values else None
        latency = 0
        if decision is None:
            if is_token:
                event: dict[str, Any] = {"type": "TOKEN", "methodArn": method_arn, "authorizationToken": values[0]}
            else:
                full = events.v1_event(inc, resource=inc.raw_path, path=inc.raw_path,
                                       request_path=f"/{inc.stage}{inc.raw_path}", resource_id=None,
                                       path_params=params, stage_variables=deployed.variables, authorizer=None,
                                       identity=events.v1_identity(inc, rest=True), rest=True)
                event = {"type": "REQUEST", "methodArn": method_arn,
                         **{k: v for k, v in full.items() if k not in ("body", "isBase64Encoded")}}
            source_arn = (f"arn:aws:execute-api:{api.region}:{api.account}:{api.api_id}/authorizers/"
                          f"{authorizer['id']}")
            started = self.clock.monotonic()
            result = await self._invoke(api.account, str(authorizer["authorizerUri"]), source_arn, event, 10.0,
                                        inc.request_id, "Internal server error")
            latency = int((self.clock.monotonic() - started) * 1000)
            if result is None:
                raise _fail(500, "Internal server error")
            if result.function_error:
                if b'"Unauthorized"' in result.payload:  # the authorizer's documented way to say 401
                    raise _fail(401, "Unauthorized")
                raise _Answer(events.Reply(500, [(b"content-type", b"application/json"),
                                                 (b"x-amzn-errortype", b"AuthorizerConfigurationException")],
                                           b'{"message":null}'))
            try:
                decision = auth.parse_lambda_answer(result.payload, simple=False)
            except auth.AuthorizerFailed:
                raise _Answer(events.Reply(500, [(b"content-type", b"application/json"),
                                                 (b"x-amzn-errortype", b"AuthorizerConfigurationException")],
                                           b'{"message":null}')) from None
            if values:
                self.decisions.put(key, ttl, decision)
        verdict = decision.verdict(method_arn, api.account)
        if verdict is not policy.Decision.ALLOW:
            text = ("User is not authorized to access this resource with an explicit deny"
                    if verdict is policy.Decision.EXPLICIT_DENY else "User is not authorized to access this resource")
            raise _Answer(events.Reply(403, [(b"content-type", b"application/json"),
                                             (b"x-amzn-errortype", b"AccessDeniedException")],
                                       json.dumps({"Message": text}).encode()))
        context = {k: v for k, v in decision.context.items() if not isinstance(v, (dict, list))}
        return {**context, "principalId": decision.principal_id, "integrationLatency": latency}, None

    async def _authorize_http(self, request: ApiRequest, body: RequestBody, route: dict[str, Any],
                              deployed: Deployed, inc: events.Incoming, route_arn: str) -> dict[str, Any] | None:
        """Read the body once the route's authorization lets the caller send it; the authorizer context."""
        kind = route.get("AuthorizationType", "NONE")
        if kind == "AWS_IAM":
            return await self._iam(request, body, deployed.api.account, route_arn)
        await self._read(request, body)
        if kind == "NONE":
            return None
        authorizer = deployed.authorizers.get(str(route.get("AuthorizerId", "")))
        if authorizer is None:
            raise _fail(500, "Internal Server Error")
        sources = auth.Sources(request.headers, request.query, deployed.variables or {},
                               {"requestId": inc.request_id, "stage": inc.stage, "routeKey": route["RouteKey"]})
        if kind == "JWT":
            values = auth.identity_values(authorizer.get("IdentitySource") or [], sources)
            if not values:
                raise _fail(401, "Unauthorized", [(b"www-authenticate", b"Bearer")])
            try:
                claims, scopes = await auth.verify_jwt(self.jwks, authorizer.get("JwtConfiguration") or {},
                                                       values[0], route.get("AuthorizationScopes") or [])
            except auth.Unauthorized:
                raise _fail(401, "Unauthorized", [(b"www-authenticate", b"Bearer")]) from None
            except auth.Forbidden:
                raise _fail(403, "Forbidden") from None
            return {"jwt": {"claims": claims, "scopes": scopes}}
        return await self._lambda_authorizer(authorizer, sources, deployed, inc, route, route_arn)

    async def _lambda_authorizer(self, authorizer: dict[str, Any], sources: auth.Sources, deployed: Deployed,
                                 inc: events.Incoming, route: dict[str, Any], route_arn: str) -> dict[str, Any]:
        api = deployed.api
        expressions = authorizer.get("IdentitySource") or []
        values = auth.identity_values(expressions, sources)
        if values is None:
            raise _fail(401, "Unauthorized")
        ttl = int(authorizer.get("AuthorizerResultTtlInSeconds") or 0)
        key = (f"{api.api_id}/{authorizer['AuthorizerId']}", *values)
        decision = self.decisions.get(key) if ttl and values else None
        if decision is None:
            version = authorizer.get("AuthorizerPayloadFormatVersion", "2.0")
            if version == "2.0":
                event = events.v2_event(inc, route["RouteKey"], {}, deployed.variables, None)
                event = {"version": "2.0", "type": "REQUEST", "routeArn": route_arn, "identitySource": values,
                         **{k: v for k, v in event.items() if k not in ("version", "body", "isBase64Encoded")}}
            else:
                event = events.v1_event(inc, resource=inc.raw_path, path=inc.raw_path, request_path=inc.raw_path,
                                        resource_id=route["RouteKey"], path_params={},
                                        stage_variables=deployed.variables, authorizer=None,
                                        identity=events.v1_identity(inc), rest=False)
                event = {"version": "1.0", "type": "REQUEST", "methodArn": route_arn,
                         "identitySource": ",".join(values), "authorizationToken": values[0] if values else None,
                         **{k: v for k, v in event.items() if k not in ("version", "body", "isBase64Encoded")}}
            source_arn = f"arn:aws:execute-api:{api.region}:{api.account}:{api.api_id}/authorizers/" \
                         f"{authorizer['AuthorizerId']}"
            result = await self._invoke(api.account, str(authorizer["AuthorizerUri"]), source_arn, event, 10.0,
                                        inc.request_id)
            if result is None or result.function_error:
                raise _fail(500, "Internal Server Error")
            try:
                decision = auth.parse_lambda_answer(result.payload, bool(authorizer.get("EnableSimpleResponses")))
            except auth.AuthorizerFailed:
                raise _fail(500, "Internal Server Error") from None
            if values:
                self.decisions.put(key, ttl, decision)
        if not decision.allows(route_arn, api.account):
            raise _fail(403, "Forbidden")
        return {"lambda": decision.context}

    async def _iam(self, request: ApiRequest, body: RequestBody, account: str, arn: str) -> dict[str, Any]:
        def refuse(req: ApiRequest, exc: sigv4.SigV4Error) -> ApiError:
            return ApiError(exc.message, code="Forbidden", status=403)

        try:
            request.body, _, who = await verified_body(request, body, self.authenticator, MAX_PAYLOAD, self.spool,
                                                       refuse)
        except ApiError:
            raise _fail(403, "Forbidden") from None
        except BodyTooLarge:
            raise _fail(413, "Request Entity Too Large") from None
        decision = self.authorizer.decide(who, "execute-api:Invoke", arn, account, None,
                                          {"aws:SourceIp": (request.client or ("", 0))[0]})
        if decision is not policy.Decision.ALLOW:
            raise _fail(403, "Forbidden")
        return {"iam": {"accessKey": who.access_key_id, "accountId": who.account, "callerId": who.principal_id,
                        "cognitoIdentity": None, "principalOrgId": None, "userArn": who.arn,
                        "userId": who.principal_id}}

    @staticmethod
    async def _read(request: ApiRequest, body: RequestBody) -> None:
        try:
            request.body = await body.read(MAX_PAYLOAD)
        except BodyTooLarge:
            raise _fail(413, "Request Entity Too Large") from None

    # -- HTTP_PROXY ---------------------------------------------------------------------------
    async def _forward(self, request: ApiRequest, inc: events.Incoming, uri: str, params: dict[str, str],
                       method: str, timeout: float, error: str, template: PathTemplate | None) -> events.Reply:
        """The request passed to `uri` (its `{name}`/`{name+}` filled from the path parameters, the
        query string appended) and the destination's answer passed back. A greedy parameter keeps its
        slashes; any other value stays one segment (an encoded slash stays encoded)."""
        greedy = template.greedy if template is not None else None

        def fill(m: re.Match[str]) -> str:
            value = params.get(m.group(1))
            return quote(value, safe="/" if m.group(1) == greedy else "") if value is not None else m.group(0)
        url = _URI_PARAM.sub(fill, uri)
        if inc.raw_query:
            url += ("&" if "?" in url else "?") + inc.raw_query
        headers = list(events.forwarded_headers(inc).items())
        try:
            status, reply_headers, data = await http_forward.forward(
                url, request.method if method == "ANY" else method, headers, inc.body, timeout=timeout,
                allow_private=self.allow_private_integrations)
        except TimeoutError:
            return events.message(504, "Gateway Timeout" if error.endswith("Error") else "Endpoint request timed out")
        except http_forward.ForwardFailed as exc:
            log.info("HTTP_PROXY integration %s: %s", uri, exc)
            return events.message(500, error)
        return events.Reply(status, reply_headers, data)

    # -- invoking -----------------------------------------------------------------------------
    def _permitted_by_policy(self, account: str, region: str, name: str, qualifier: str | None,
                             source_arn: str) -> bool:
        rec = self.resolver.registry.find(account, region, name)
        if rec is None:
            return False
        found = self.permissions.document(rec, qualifier)
        key = (account, region, name, qualifier, found[1] if found else "", source_arn)
        allowed = self._permitted.get(key)
        if allowed is None:
            if len(self._permitted) > 10_000:
                self._permitted.clear()
            allowed = service_may_invoke(found[0] if found else None,
                                         function_arn(region, account, name, qualifier), account,
                                         PRINCIPAL, source_arn)
            self._permitted[key] = allowed
        return allowed

    async def _invoke(self, api_account: str, uri: str, source_arn: str, event: dict[str, Any], timeout: float,
                      request_id: str, error: str = "Internal Server Error") -> InvokeResult | None:
        """The function's result; None past `timeout` (the function runs on, as on AWS); 500 when
        API Gateway may not invoke it or it cannot run."""
        target = lambda_target(uri)
        if target is None:
            raise _fail(500, error)
        try:
            # The integration's function ARN names its region (an API may integrate another region's
            # function, as on AWS); a bare name is in the API's region.
            parts = (target if target.startswith("arn:") else source_arn).split(":")
            ref = parse_function_ref(target, None, api_account, region=parts[3] if len(parts) > 3 else "")
            if not self._permitted_by_policy(ref.account, ref.region, ref.name, ref.qualifier, source_arn):
                log.info("apigateway.amazonaws.com may not invoke %s from %s", target, source_arn)
                raise _fail(500, error)
            fv, invoked_arn = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
            payload = json.dumps(event).encode()
            task = asyncio.ensure_future(self.invoker.invoke(fv, payload, InvokeMeta(invoked_arn,
                                                                                     request_id=request_id)))
            try:
                return await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.add_done_callback(_drain)
                return None
        except TooManyRequestsException:
            raise _fail(429, "Too Many Requests") from None
        except ApiError as exc:
            log.info("cannot invoke %s for API Gateway: %s", target, exc.message)
            raise _fail(500, error) from None


_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def _with_variables(uri: str, variables: dict[str, str] | None) -> str:
    """An integration URI with its `${stageVariables.name}` references filled in (a function name or
    alias per stage, the common use)."""
    if "${" not in uri:
        return uri
    return _STAGE_VARIABLE.sub(lambda m: (variables or {}).get(m.group(1), ""), uri)


def _drain(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late failure of an abandoned invocation is not "never retrieved"


def _media_matches(patterns: list[str], media: str) -> bool:
    media = media.split(";", 1)[0].strip().lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*/*" or pattern == media or (pattern.endswith("/*") and media.startswith(pattern[:-1])):
            return True
    return False


def _is_binary(binary_media_types: list[str], content_type: str) -> bool:
    """REST APIs: a request body is base64-encoded for the function when its type is a binary media type."""
    return bool(content_type) and _media_matches(binary_media_types, content_type)


def _wants_binary(binary_media_types: list[str], headers: dict[str, str]) -> bool:
    """REST APIs decode a base64 answer only when the client's Accept (its first type) is a binary media type."""
    accept = headers.get("accept", "").split(",", 1)[0]
    return bool(accept) and _media_matches(binary_media_types, accept)


def _header_list(request: ApiRequest) -> list[tuple[str, str]]:
    """Every header line apart, as multiValueHeaders lists them."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.header_lines]
