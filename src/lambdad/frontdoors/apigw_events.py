"""The events API Gateway sends Lambda proxy integrations, and how it reads their answers (function
URLs read theirs with the same 2.0 mapping).

Payload format 2.0 (HTTP APIs) and 1.0 (REST APIs, and HTTP APIs that ask for it), built as AWS's
developer guide documents them ("Create AWS Lambda proxy integrations for HTTP APIs", "Lambda proxy
integrations in API Gateway" for REST): every requestContext field, `multiValueHeaders` and
`multiValueQueryStringParameters` in 1.0, comma-joined duplicates and `cookies` in 2.0, a named
stage's segment kept in the 2.0 `rawPath` and the 1.0 `path` of HTTP APIs (never for `$default`).

Responses: 2.0 takes `{statusCode, headers, cookies, body, isBase64Encoded}` or, without a
statusCode, any JSON as a 200 body; 1.0 requires a JSON object of exactly `statusCode`, `headers`,
`multiValueHeaders`, `body` (a string) and `isBase64Encoded`. Anything else is a malformed
response (`Malformed`), which the door answers as API Gateway does.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from lambdad import ids, safejson
from lambdad.frontdoors import proxy

# Everything else reaches the function base64-encoded (HTTP APIs; REST APIs use binaryMediaTypes).
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "application/xhtml+xml",
              "application/x-www-form-urlencoded", "application/ld+json", "application/graphql", "+json", "+xml")
V1_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class Malformed(proxy.BadProxyResponse):
    """The function's answer is not a valid proxy response (API Gateway: 'Malformed Lambda proxy response')."""


def short_id() -> str:
    """API Gateway's extended request id shape (`JKJaXmPLvHcESHA=`), also the HTTP API request id."""
    return "".join(random.choices(_B64, k=15)) + "="


def is_text(content_type: str) -> bool:
    ct = content_type.lower()
    return any(t in ct for t in TEXT_TYPES)


@dataclass(slots=True)
class Incoming:
    """One request as the event builders need it."""

    method: str
    raw_path: str  # the path the function sees (with a named stage's segment for HTTP APIs)
    raw_query: str
    headers: dict[str, str]  # lower-case names, repeated values comma-joined
    header_list: list[tuple[str, str]]  # every header line, for multiValueHeaders
    body: bytes
    source_ip: str
    port: int
    domain_name: str
    api_id: str
    account: str
    stage: str
    request_id: str
    extended_request_id: str
    now: float


def forwarded_headers(inc: Incoming) -> dict[str, str]:
    """The client's headers as API Gateway passes them on: X-Forwarded-* and a trace id added."""
    headers = {k: v for k, v in inc.headers.items() if k not in proxy.HOP_BY_HOP}
    if "cookie" in headers:  # several Cookie lines are one header of '; '-separated cookies
        headers["cookie"] = "; ".join(v for k, v in inc.header_list if k == "cookie")
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {inc.source_ip}" if forwarded else inc.source_ip
    headers["x-forwarded-proto"] = "http"
    headers["x-forwarded-port"] = str(inc.port)
    headers.setdefault("x-amzn-trace-id", ids.trace_header().split(";", 1)[0])
    return headers


def _query_lists(raw_query: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        out.setdefault(unquote_plus(key), []).append(unquote_plus(value))
    return out


def _body(inc: Incoming, binary: bool | None = None) -> tuple[str | None, bool]:
    if not inc.body:
        return None, False
    text = not binary if binary is not None else is_text(inc.headers.get("content-type", ""))
    if text:
        try:
            return inc.body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(inc.body).decode(), True


def _request_time(now: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


def v2_event(inc: Incoming, route_key: str, path_params: dict[str, str], stage_variables: dict[str, str] | None,
             authorizer: dict[str, Any] | None) -> dict[str, Any]:
    headers = forwarded_headers(inc)
    headers.pop("cookie", None)
    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key, "rawPath": inc.raw_path,
                             "rawQueryString": inc.raw_query}
    # Each Cookie header line on its own: the joined header would glue two lines' cookies with ','.
    cookies = [c.strip() for name, line in inc.header_list if name == "cookie" for c in line.split(";")
               if c.strip()]
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if inc.raw_query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in _query_lists(inc.raw_query).items()}
    context: dict[str, Any] = {
        "accountId": inc.account, "apiId": inc.api_id, "domainName": inc.domain_name,
        "domainPrefix": inc.domain_name.split(".", 1)[0],
        "http": {"method": inc.method, "path": inc.raw_path, "protocol": "HTTP/1.1", "sourceIp": inc.source_ip,
                 "userAgent": inc.headers.get("user-agent", "")},
        "requestId": inc.request_id, "routeKey": route_key, "stage": inc.stage,
        "time": _request_time(inc.now), "timeEpoch": int(inc.now * 1000),
    }
    if authorizer is not None:
        context = {"accountId": inc.account, "apiId": inc.api_id, "authorizer": authorizer,
                   **{k: v for k, v in context.items() if k not in ("accountId", "apiId")}}
    event["requestContext"] = context
    if path_params:
        event["pathParameters"] = path_params
    if stage_variables:
        event["stageVariables"] = stage_variables
    body, encoded = _body(inc)
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


def v1_identity(inc: Incoming, iam: dict[str, Any] | None = None, api_key: str | None = None,
                rest: bool = False) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None, "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
        "principalOrgId": None, "sourceIp": inc.source_ip, "user": None,
        "userAgent": inc.headers.get("user-agent", ""), "userArn": None,
    }
    if rest:
        identity = {"apiKey": api_key, "apiKeyId": None, **identity, "clientCert": None}
    if iam is not None:
        identity.update({"accessKey": iam["accessKey"], "accountId": iam["accountId"], "caller": iam["callerId"],
                         "user": iam["userId"], "userArn": iam["userArn"]})
    return identity


def v1_event(inc: Incoming, *, resource: str, path: str, request_path: str, resource_id: str | None,
             path_params: dict[str, str], stage_variables: dict[str, str] | None,
             authorizer: dict[str, Any] | None, identity: dict[str, Any], rest: bool,
             binary: bool | None = None) -> dict[str, Any]:
    """`path` is the event's path, `request_path` requestContext.path (REST: the stage's segment
    added), `resource` the route's or resource's path template."""
    headers = forwarded_headers(inc)
    multi: dict[str, list[str]] = {}
    for name, value in inc.header_list:
        if name not in proxy.HOP_BY_HOP:
            multi.setdefault(name, []).append(value)
    for name in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"):
        multi[name] = [headers[name]]
    queries = _query_lists(inc.raw_query)
    context: dict[str, Any] = {"accountId": inc.account, "apiId": inc.api_id}
    if authorizer is not None:
        context["authorizer"] = authorizer
    context.update({"domainName": inc.domain_name, "domainPrefix": inc.domain_name.split(".", 1)[0],
                    "extendedRequestId": inc.extended_request_id, "httpMethod": inc.method, "identity": identity,
                    "path": request_path, "protocol": "HTTP/1.1", "requestId": inc.request_id,
                    "requestTime": _request_time(inc.now), "requestTimeEpoch": int(inc.now * 1000),
                    "resourceId": resource_id, "resourcePath": resource, "stage": inc.stage})
    event: dict[str, Any] = {"resource": resource, "path": path, "httpMethod": inc.method}
    if not rest:
        event = {"version": "1.0", **event}
    body, encoded = _body(inc, binary)
    event.update({
        "headers": headers, "multiValueHeaders": multi,
        "queryStringParameters": {k: v[-1] for k, v in queries.items()} or None,
        "multiValueQueryStringParameters": queries or None,
        "requestContext": context, "pathParameters": path_params or None, "stageVariables": stage_variables or None,
        "body": body, "isBase64Encoded": encoded,
    })
    return event


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    decoded_base64: bool = False  # the body was the function's base64, decoded


def _decode_body(result: dict[str, Any]) -> bytes:
    try:
        return proxy.response_body(result)
    except proxy.BadProxyResponse as exc:
        raise Malformed(str(exc)) from exc


def _status(result: dict[str, Any]) -> int:
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, (int, str)):
        raise Malformed("statusCode must be an integer")
    try:
        value = int(status)
    except ValueError as exc:
        raise Malformed("statusCode must be an integer") from exc
    if not 100 <= value <= 599:
        raise Malformed("statusCode out of range")
    return value


def _header_pairs(headers: Any, multi: Any) -> list[tuple[bytes, bytes]]:
    if headers is not None and not isinstance(headers, dict):
        raise Malformed("headers must be an object")
    if multi is not None and not isinstance(multi, dict):
        raise Malformed("multiValueHeaders must be an object")
    out: list[tuple[bytes, bytes]] = []
    multi = multi or {}
    lowered_multi = {k.lower() for k in multi}
    for name, value in (headers or {}).items():
        if name.lower() in lowered_multi or isinstance(value, (dict, list)):
            if isinstance(value, (dict, list)):
                raise Malformed("header values must be strings")
            continue  # multiValueHeaders wins for a name in both
        out.append((name.lower().encode("latin-1", "replace"), _header_value(value)))
    for name, values in multi.items():
        if not isinstance(values, list):
            raise Malformed("multiValueHeaders values must be lists")
        for value in values:
            out.append((name.lower().encode("latin-1", "replace"), _header_value(value)))
    return [(k, v) for k, v in out if k.decode("latin-1") not in proxy.HOP_BY_HOP and k != b"content-length"]


def _header_value(value: Any) -> bytes:
    text = "true" if value is True else "false" if value is False else "" if value is None else str(value)
    if "\r" in text or "\n" in text:
        raise Malformed("header values may not contain line breaks")
    return text.encode("latin-1", "replace")


def v2_response(payload: bytes, *, raw_fallback: bool = False) -> Reply:
    """Payload format 2.0's answer (HTTP APIs, function URLs). `raw_fallback`: an answer that is not
    JSON at all is passed on as a 200 body (function URLs) instead of being malformed."""
    try:
        result = safejson.loads(payload, max_depth=safejson.PAYLOAD_MAX_DEPTH) if payload else None
    except ValueError as exc:
        if raw_fallback:
            return Reply(200, [(b"content-type", b"application/json")], payload)
        raise Malformed("the function's response is not JSON") from exc
    if not isinstance(result, dict) or "statusCode" not in result:
        data = result.encode() if isinstance(result, str) else payload
        return Reply(200, [(b"content-type", b"application/json")], data)
    status = _status(result)
    headers = _header_pairs(result.get("headers"), result.get("multiValueHeaders"))
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise Malformed("cookies must be a list")
    for cookie in cookies:
        headers.append((b"set-cookie", _header_value(cookie)))
    return Reply(status, headers, _decode_body(result))


def v1_response(payload: bytes) -> Reply:
    try:
        result = safejson.loads(payload, max_depth=safejson.PAYLOAD_MAX_DEPTH) if payload else None
    except ValueError as exc:
        raise Malformed("the function's response is not JSON") from exc
    if not isinstance(result, dict) or "statusCode" not in result or set(result) - V1_RESPONSE_KEYS:
        raise Malformed("a 1.0 response is an object of statusCode, headers, multiValueHeaders, body, "
                        "isBase64Encoded")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise Malformed("body must be a string")
    status = _status(result)
    headers = _header_pairs(result.get("headers"), result.get("multiValueHeaders"))
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    try:
        data = base64.b64decode(body, validate=True) if body and result.get("isBase64Encoded") else (
            (body or "").encode())
    except (binascii.Error, ValueError) as exc:
        raise Malformed("body is not valid base64") from exc
    return Reply(status, headers, data, bool(body) and bool(result.get("isBase64Encoded")))


def message(status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> Reply:
    return Reply(status, [(b"content-type", b"application/json"), *(extra or [])],
                 json.dumps({"message": text}).encode())
