"""Function URLs: HTTP requests routed by Host header, authorized, turned into payload format 2.0.

`<url-id>.lambda-url.<region>.<public-host>` names the target, or, needing no DNS (Python's and Node's
resolvers do not resolve `*.localhost` as curl does), the path form
`http://<host>:<port>/_aws/lambda-url/<url-id>/<path>`: served the same way, the function seeing
`/<path>` and the URL's own domain name, as through the Host form. AWS_IAM URLs need a SigV4 signature
(service `lambda`); every URL needs a resource policy that lets its caller invoke it, as on AWS.
InvokeMode RESPONSE_STREAM is accepted and answered buffered (the whole response at once) until
functions can stream.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from lambdad import ids
from lambdad.api.app import verified_body
from lambdad.api.base import ApiRequest, ApiResponse
from lambdad.api.http_protocol import BodyTooLarge, RequestBody, Spool
from lambdad.auth import policy, sigv4
from lambdad.auth.authn import Authenticator
from lambdad.auth.authorizer import Authorizer
from lambdad.control.function_urls import FunctionUrls, UrlTarget
from lambdad.control.functions import FunctionRegistry
from lambdad.control.names import function_arn
from lambdad.control.permissions import Permissions
from lambdad.control.resolver import Resolver
from lambdad.errors import ApiError, TooManyRequestsException
from lambdad.frontdoors import apigw_events, proxy
from lambdad.frontdoors import cors as cors_rules
from lambdad.invoke.invoker import InvokeMeta, Invoker

FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see: "
             "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")
HOP_BY_HOP = proxy.HOP_BY_HOP
# AWS's limit on a function URL's request payload (as on a synchronous Invoke).
MAX_PAYLOAD = 6 * 1024 * 1024


def _refusal(request: ApiRequest, exc: sigv4.SigV4Error) -> ApiError:
    return ApiError(FORBIDDEN if exc.code == "MissingAuthenticationTokenException" else exc.message,
                    code="AccessDeniedException" if exc.status == 403 else exc.code, status=403)


def _message(status: int, message: str, error_type: str | None = None) -> ApiResponse:
    headers = [(b"content-type", b"application/json")]
    if error_type:
        headers.append((b"x-amzn-errortype", error_type.encode()))
    return ApiResponse(status, json.dumps({"Message": message}).encode(), headers)


PATH_PREFIX = "/_aws/lambda-url/"


def url_id_of(host: str) -> str | None:
    if ".lambda-url." not in host:
        return None
    return host.split(".", 1)[0].lower()


@dataclass(frozen=True, slots=True)
class Located:
    """Which URL a request is for, and what the function sees of it."""

    url_id: str
    raw_path: str  # as sent, without the path form's prefix
    path: str  # decoded
    domain: str


_REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")


def url_region_of(host: str, default: str) -> str:
    """The region a URL's host names (`<id>.lambda-url.<region>.<public-host>`); `default` for a host
    without one."""
    label = host.partition(".lambda-url.")[2].split(".", 1)[0].lower()
    return label if _REGION_RE.fullmatch(label) else default


class FunctionUrlDoor:
    def __init__(self, urls: FunctionUrls, registry: FunctionRegistry, permissions: Permissions, resolver: Resolver,
                 invoker: Invoker, authenticator: Authenticator, authorizer: Authorizer, spool: Spool, *,
                 region: str, port: int) -> None:
        self.urls = urls
        self.registry = registry
        self.permissions = permissions
        self.resolver = resolver
        self.invoker = invoker
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.spool = spool
        self.region = region
        self.port = port

    def matches(self, request: ApiRequest) -> bool:
        return url_id_of(request.headers.get("host", "")) is not None or request.raw_path.startswith(PATH_PREFIX)

    def _locate(self, request: ApiRequest) -> Located:
        host = request.headers.get("host", "")
        url_id = url_id_of(host)
        if url_id is not None:
            return Located(url_id, request.raw_path.split("?", 1)[0], request.path, host.split(":", 1)[0])
        url_id, _, rest = request.raw_path.split("?", 1)[0][len(PATH_PREFIX):].partition("/")
        _, _, path = request.path[len(PATH_PREFIX):].partition("/")
        url_id = url_id.lower()
        region = self.urls.region_of(url_id) or self.region  # the path names no region: the URL's own
        return Located(url_id, "/" + rest, "/" + path, f"{url_id}.lambda-url.{region}.{self.urls.public_host}")

    async def __call__(self, request: ApiRequest, body: RequestBody) -> ApiResponse:
        located = self._locate(request)
        url_id = located.url_id
        target = self.urls.target(url_id, url_region_of(located.domain, self.region))
        if target is None:
            return _message(404, "Not Found")
        cors = target.config.cors
        origin = request.headers.get("origin")
        if cors and cors_rules.is_preflight(request.method, request.headers):
            return ApiResponse(200, b"", cors_rules.preflight_headers(cors, origin or ""))
        response = await self._invoke(request, body, target, located)
        if cors:  # the URL's CORS configuration overrides whatever the function said
            response.headers = cors_rules.apply(cors, origin, response.headers)
        return response

    # -- authorization ----------------------------------------------------------------------
    async def _authorize(self, request: ApiRequest, body: RequestBody, target: UrlTarget) -> dict[str, Any] | None:
        """Read the body of an allowed request (None for NONE URLs, the IAM authorizer context for
        AWS_IAM), else raise 403. Nothing of the body is read before the caller may send it."""
        auth_type = target.config.auth_type
        rec = self.registry.find(target.account, target.region, target.name)
        assert rec is not None
        doc = self.permissions.document(rec, target.qualifier)
        resource_policy = doc[0] if doc else None
        resource = function_arn(target.region, target.account, target.name, target.qualifier)
        if auth_type == "NONE":
            keys = {"lambda:FunctionUrlAuthType": "NONE", "aws:SourceIp": (request.client or ("", 0))[0]}
            for action, extra in (("lambda:InvokeFunctionUrl", {}),
                                  ("lambda:InvokeFunction", {"lambda:InvokedViaFunctionUrl": "true"})):
                ctx = policy.RequestContext("", "", action, resource, target.account, {**keys, **extra})
                if policy.evaluate(ctx, [], resource_policy) is not policy.Decision.ALLOW:
                    raise ApiError(FORBIDDEN, code="AccessDeniedException", status=403)
            request.body = await body.read(MAX_PAYLOAD)
            return None
        request.body, _, who = await verified_body(request, body, self.authenticator, MAX_PAYLOAD, self.spool,
                                                   _refusal)
        ctx = policy.RequestContext(who.arn, who.account, "lambda:InvokeFunctionUrl", resource,
                                    target.account, {"lambda:FunctionUrlAuthType": "AWS_IAM",
                                                     "aws:SourceIp": (request.client or ("", 0))[0]})
        identity = self.authorizer.identity_policies(who)
        decision = policy.evaluate(ctx, identity, resource_policy, is_account_root=who.is_root)
        if decision is not policy.Decision.ALLOW:
            raise ApiError(FORBIDDEN, code="AccessDeniedException", status=403)
        return {"iam": {"accessKey": who.access_key_id, "accountId": who.account, "callerId": who.access_key_id,
                        "cognitoIdentity": None, "principalOrgId": None, "userArn": who.arn,
                        "userId": who.access_key_id}}

    # -- invocation -------------------------------------------------------------------------
    async def _invoke(self, request: ApiRequest, body: RequestBody, target: UrlTarget,
                      located: Located) -> ApiResponse:
        try:
            authorizer = await self._authorize(request, body, target)
            fv, invoked_arn = self.resolver.for_invoke(target.account, target.region, target.name, target.qualifier)
            event = self._event(request, located, target, authorizer)
            result = await self.invoker.invoke(fv, event, InvokeMeta(invoked_arn, request_id=request.request_id))
        except BodyTooLarge:
            return _message(413, "Request Entity Too Large", "RequestTooLargeException")
        except TooManyRequestsException:
            return _message(429, "Rate Exceeded.", "TooManyRequestsException")
        except ApiError as exc:
            if exc.status == 403:
                return _message(403, exc.message, exc.code)
            if exc.status == 413:
                return _message(413, "Request Entity Too Large", exc.code)
            if exc.status == 404:
                return _message(403, FORBIDDEN, "AccessDeniedException")
            return _message(502, "Internal Server Error")
        if result.function_error:
            return _message(502, "Internal Server Error")
        return self._response(result.payload)

    def _event(self, request: ApiRequest, located: Located, target: UrlTarget,
               authorizer: dict[str, Any] | None) -> bytes:
        url_id = located.url_id
        headers = {k: v for k, v in request.headers.items() if k != "cookie" and k not in HOP_BY_HOP}
        client_ip = (request.client or ("127.0.0.1", 0))[0]
        forwarded = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {client_ip}" if forwarded else client_ip
        headers["x-forwarded-proto"] = "http"
        headers["x-forwarded-port"] = str(self.port)
        headers.setdefault("x-amzn-trace-id", ids.trace_header().split(";", 1)[0])
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": located.raw_path,
            "rawQueryString": request.raw_query,
        }
        cookie = request.headers.get("cookie")
        if cookie:
            event["cookies"] = [c.strip() for c in cookie.split(";") if c.strip()]
        event["headers"] = headers
        if request.raw_query:
            params: dict[str, str] = {}
            for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
                params[key] = f"{params[key]},{value}" if key in params else value
            event["queryStringParameters"] = params
        event["requestContext"] = {
            # AWS: the function owner's account, "anonymous" when the URL needs no signature.
            "accountId": "anonymous" if authorizer is None else target.account,
            "apiId": url_id,
            "authorizer": authorizer,
            "domainName": located.domain,
            "domainPrefix": url_id,
            "http": {"method": request.method, "path": located.path, "protocol": "HTTP/1.1",
                     "sourceIp": client_ip, "userAgent": request.headers.get("user-agent", "")},
            "requestId": request.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        if authorizer is None:
            del event["requestContext"]["authorizer"]
        if request.body:
            if apigw_events.is_text(request.headers.get("content-type", "")):
                try:
                    event["body"] = request.body.decode()
                    event["isBase64Encoded"] = False
                except UnicodeDecodeError:
                    event["body"] = base64.b64encode(request.body).decode()
                    event["isBase64Encoded"] = True
            else:
                event["body"] = base64.b64encode(request.body).decode()
                event["isBase64Encoded"] = True
        else:
            event["isBase64Encoded"] = False
        return json.dumps(event).encode()

    @staticmethod
    def _response(payload: bytes) -> ApiResponse:
        try:
            reply = apigw_events.v2_response(payload, raw_fallback=True)
        except apigw_events.Malformed:
            return _message(502, "Internal Server Error")
        return ApiResponse(reply.status, reply.body, reply.headers)
