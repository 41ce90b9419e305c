"""ALB listeners: an HTTP port per listener, rules matched per request, Lambda targets invoked with
the ALB event shape and their responses mapped back (multi-value headers when the target group says so).

Listener ports run on the server's event loop with the same connection protocol and limits as the
API port (`api/http_protocol.py`). What ALB documents for Lambda targets is followed: 1 MB request
bodies (413) and response payloads (502), bodies base64-encoded unless text/*, application/json,
application/javascript or application/xml, query strings passed undecoded, the last value of a
repeated header or parameter unless multi-value headers are enabled, X-Forwarded-* and
X-Amzn-Trace-Id added, hop-by-hop headers of the response dropped, and the function's resource
policy must let elasticloadbalancing.amazonaws.com invoke it (checked at RegisterTargets and per request).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import socket
import time
from email.utils import formatdate
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from lambdad import ids, safejson
from lambdad.api.http_protocol import BodyTooLarge, ClientDisconnected, protocol_class, read_body
from lambdad.config import Config
from lambdad.control.functions import FunctionRegistry
from lambdad.control.names import parse_function_ref
from lambdad.control.resolver import Resolver
from lambdad.errors import ApiError, TooManyRequestsException
from lambdad.frontdoors import proxy
from lambdad.invoke.invoker import InvokeMeta, Invoker
from lambdad.invoke.triggers import Triggers
from lambdad.services.elbv2.load_balancers import Elbv2, Listener

log = logging.getLogger("lambdad.alb")

ELB_PRINCIPAL = "elasticloadbalancing.amazonaws.com"
REASONS = {301: "Moved Permanently", 302: "Found", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
           413: "Request Entity Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
# ALB's documented list: everything else reaches the function base64-encoded.
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
HOP_BY_HOP = proxy.HOP_BY_HOP | {"content-length"}
MAX_BODY = 1024 * 1024  # ALB's limit for Lambda targets: 1 MB request body and response JSON
SERVER = (b"server", b"awselb/2.0")

Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


def _page(status: int) -> Reply:
    """ALB's own HTML error page."""
    title = f"{status} {REASONS.get(status, '')}".rstrip()
    html = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "</body>\r\n</html>\r\n")
    return status, [(b"content-type", b"text/html"), SERVER], html.encode()


class AlbListeners:
    """Owns one listening socket per ALB listener port, and the connections accepted on them."""

    def __init__(self, config: Config, elbv2: Elbv2, registry: FunctionRegistry, resolver: Resolver,
                 invoker: Invoker, triggers: Triggers) -> None:
        self.config = config
        self.elbv2 = elbv2
        self.registry = registry
        self.resolver = resolver
        self.invoker = invoker
        self.triggers = triggers
        elbv2.on_listener_change = self.on_change
        cfg = config
        self.servers: dict[int, asyncio.Task[asyncio.AbstractServer]] = {}
        self._config = uvicorn.Config(
            self._app, http=protocol_class(cfg.request_read_timeout, cfg.max_header_bytes), ws="none",
            lifespan="off", interface="asgi3", log_config=None, log_level="warning", access_log=False,
            proxy_headers=False, server_header=False, date_header=False, limit_concurrency=cfg.max_connections,
            # uvicorn annotates these seconds as int; it only hands them to loop.call_later (a float is fine)
            timeout_keep_alive=cfg.keep_alive_timeout)  # type: ignore[arg-type]
        self._config.load()
        self._state = ServerState()
        self._closing = False

    # -- ports ------------------------------------------------------------------------------
    def on_change(self, listener: Listener, bind: bool) -> None:
        """Bind (synchronously, so CreateListener can answer a failure) or release a listener's port."""
        port = listener.port
        if not bind:
            task = self.servers.pop(port, None)
            if task is not None:
                self._stop(task, port)
            return
        if port in self.servers or self._closing:
            return
        allowed = self.config.alb_listener_ports
        if port not in allowed:  # any tenant may create listeners: the operator says which ports
            raise ApiError(f"1 validation error detected: Value '{port}' at 'port' failed to satisfy constraint: "
                           f"Member must be within this host's listener ports ({allowed})", code="ValidationError")
        host = self.config.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise ApiError(f"Cannot listen on {host}:{port}: {exc.strerror}",
                           code="InvalidConfigurationRequest") from exc
        sock.setblocking(False)
        protocol = self._config.http_protocol_class
        self.servers[port] = asyncio.ensure_future(asyncio.get_running_loop().create_server(
            # uvicorn's Config types the loaded class as a bare asyncio.Protocol; it is an HTTP protocol.
            lambda: protocol(config=self._config, server_state=self._state, app_state={}),  # type: ignore[call-arg]
            sock=sock))

    def _stop(self, task: asyncio.Task[asyncio.AbstractServer], port: int | None) -> None:
        """Stop accepting on a port; its idle connections close, busy ones after their response."""
        def close(done: asyncio.Task[asyncio.AbstractServer]) -> None:
            if not done.cancelled() and done.exception() is None:
                done.result().close()
        if task.done():
            close(task)
        else:
            task.add_done_callback(close)
        for conn in list(self._state.connections):
            # uvicorn's ServerState.connections lists every protocol; all of them but its own
            # AutoZttpProtocol shim (never used here) have `server`.
            if port is None or (conn.server and conn.server[1] == port):  # type: ignore[union-attr]
                conn.shutdown()

    async def start(self) -> None:
        for listener in list(self.elbv2.listeners.values()):
            try:
                self.on_change(listener, True)
            except ApiError as exc:
                log.error("listener %s: %s", listener.arn, exc.message)
        await asyncio.gather(*self.servers.values(), return_exceptions=True)

    def begin_shutdown(self) -> None:
        """Stop accepting on every port; in-flight requests go on (aclose waits for them)."""
        self._closing = True
        for task in self.servers.values():
            self._stop(task, None)

    async def aclose(self) -> None:
        self.begin_shutdown()
        self.servers.clear()
        deadline = time.monotonic() + self.config.shutdown_timeout
        while self._state.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._state.tasks):
            task.cancel()
        for conn in list(self._state.connections):
            conn.transport.close()

    def statistics(self) -> dict[str, int]:
        return {"ports": len(self.servers), "connections": len(self._state.connections),
                "in_flight": len(self._state.tasks)}

    # -- the ASGI app every listener serves --------------------------------------------------
    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        close = False
        try:
            body = await read_body(scope, receive, MAX_BODY)
            status, headers, data = await self.handle(scope, body)
        except ClientDisconnected:
            return
        except BodyTooLarge:
            (status, headers, data), close = _page(413), True
        except Exception:  # a bug: answer like ALB does when it cannot, keep serving
            log.exception("ALB listener request failed")
            status, headers, data = _page(502)
        headers.append((b"content-length", str(len(data)).encode()))
        headers.append((b"date", formatdate(usegmt=True).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def handle(self, scope: dict[str, Any], body: bytes) -> Reply:
        method = scope["method"]
        if method == "TRACE":
            return _page(405)
        headers: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        if "upgrade" in headers:  # WebSockets are not supported for Lambda targets
            return _page(400)
        flat = {k: v[-1] for k, v in headers.items()}
        port = scope["server"][1] if scope.get("server") else 0
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_query = scope["query_string"].decode("latin-1")
        query = [_pair(p) for p in raw_query.split("&") if p] if raw_query else []
        client_ip = (scope.get("client") or ("127.0.0.1", 0))[0]
        host = flat.get("host", "")
        found = self.elbv2.match(port, method, path, host, flat, query, client_ip)
        if found is None:
            return _page(503)
        _listener, match = found
        action = match.action
        kind = action["Type"]
        if kind == "fixed-response":
            cfg = action["FixedResponseConfig"]
            content_type = cfg.get("ContentType") or "text/plain; charset=utf-8"
            return (int(cfg["StatusCode"]), [(b"content-type", content_type.encode()), SERVER],
                    (cfg.get("MessageBody") or "").encode())
        if kind == "redirect":
            return _redirect(action["RedirectConfig"], host, port, path, raw_query)
        tg_arn = _weighted(action["ForwardConfig"]["TargetGroups"])
        if tg_arn is None:
            return _page(503)
        event = (tg_arn, method, path, headers, query, body, client_ip, port)
        return await self._forward(tg_arn, event)

    async def _forward(self, tg_arn: str, request: _Request) -> Reply:
        tg = self.elbv2.target_groups.get(tg_arn)
        if tg is None or not tg.targets:
            return _page(503)
        multi = tg.attributes.get("lambda.multi_value_headers.enabled") == "true"
        function_arn = tg.targets[0]
        try:
            ref = parse_function_ref(function_arn, None, tg.account, region=tg_arn.split(":")[3])
            if not self.can_invoke(function_arn, tg_arn, ref.account):
                return _page(502)
            fv, invoked_arn = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
            result = await self.invoker.invoke(fv, _event(*request, multi), InvokeMeta(invoked_arn))
        except TooManyRequestsException:
            return _page(503)
        except ApiError:
            return _page(502)
        if result.function_error:
            return _page(502)
        return _response(result.payload, multi)

    def can_invoke(self, function_arn: str, tg_arn: str, account: str | None = None) -> bool:
        """The function's resource policy must let elasticloadbalancing invoke it, as on AWS."""
        try:
            # A target group's function is in the target group's region, as on AWS.
            ref = parse_function_ref(function_arn, None, account or self.config.account_id,
                                     region=tg_arn.split(":")[3])
        except ApiError:
            return False
        rec = self.registry.find(ref.account, ref.region, ref.name)
        if rec is None or (ref.qualifier is not None and not self.resolver.qualifier_exists(rec, ref.qualifier)):
            return False
        return self.triggers.may_invoke(rec, ref.qualifier, ELB_PRINCIPAL, tg_arn)


def _pair(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    return key, value


def _weighted(groups: list[dict[str, Any]]) -> str | None:
    if len(groups) == 1:  # a single target group gets everything, whatever its weight
        return groups[0]["TargetGroupArn"]
    weights = [max(0, int(g.get("Weight", 1))) for g in groups]
    if not any(weights):
        return None
    return random.choices(groups, weights)[0]["TargetGroupArn"]


def _redirect(cfg: dict[str, Any], host: str, port: int, path: str, query: str) -> Reply:
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    def fill(template: str) -> str:
        # #{path} is the path without its leading "/", as ALB defines it.
        return (template.replace("#{host}", hostname).replace("#{port}", str(port))
                .replace("#{path}", path.lstrip("/")).replace("#{query}", query).replace("#{protocol}", "http"))

    protocol = fill(cfg.get("Protocol") or "#{protocol}").lower()
    target_port = fill(cfg.get("Port") or "#{port}")
    target_host = fill(cfg.get("Host") or "#{host}")
    target_path = "/" + fill(cfg.get("Path") or "/#{path}").lstrip("/")
    query_template = cfg.get("Query")  # an empty Query drops the query; a missing one keeps it
    target_query = fill(query_template if query_template is not None else "#{query}")
    default_port = (protocol == "http" and target_port == "80") or (protocol == "https" and target_port == "443")
    location = f"{protocol}://{target_host}{'' if default_port else ':' + target_port}{target_path}"
    if target_query:
        location += "?" + target_query
    status = 301 if cfg.get("StatusCode") == "HTTP_301" else 302
    page = _page(status)
    return status, [(b"location", location.encode()), *page[1]], page[2]


def _is_text(headers: dict[str, list[str]]) -> bool:
    if "content-encoding" in headers:
        return False
    content_type = headers.get("content-type", [""])[-1].lower()
    return any(content_type.startswith(t) for t in TEXT_TYPES)


# What _event needs besides the multi-value setting: (tg_arn, method, path, headers, query, body, client_ip, port).
_Request = tuple[str, str, str, dict[str, list[str]], list[tuple[str, str]], bytes, str, int]


def _event(tg_arn: str, method: str, path: str, headers: dict[str, list[str]], query: list[tuple[str, str]],
           body: bytes, client_ip: str, port: int, multi: bool) -> bytes:
    headers = {k: list(v) for k, v in headers.items() if k == "content-length" or k not in HOP_BY_HOP}
    forwarded = ", ".join(headers.get("x-forwarded-for", []))
    headers["x-forwarded-for"] = [f"{forwarded}, {client_ip}" if forwarded else client_ip]
    headers["x-forwarded-proto"] = ["http"]
    headers["x-forwarded-port"] = [str(port)]
    headers.setdefault("x-amzn-trace-id", [ids.trace_header().split(";", 1)[0]])
    event: dict[str, Any] = {"requestContext": {"elb": {"targetGroupArn": tg_arn}}, "httpMethod": method,
                             "path": path}
    if multi:
        mq: dict[str, list[str]] = {}
        for k, v in query:
            mq.setdefault(k, []).append(v)
        event["multiValueQueryStringParameters"] = mq
        event["multiValueHeaders"] = headers
    else:
        event["queryStringParameters"] = dict(query)  # the last value of a repeated key wins
        event["headers"] = {k: v[-1] for k, v in headers.items()}
    encoded = bool(body) and not _is_text(headers)
    if not encoded:
        try:
            event["body"] = body.decode()
        except UnicodeDecodeError:
            encoded = True
    if encoded:
        event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = encoded
    return json.dumps(event).encode()


def _response(payload: bytes, multi: bool) -> Reply:
    if len(payload) > MAX_BODY:
        return _page(502)
    try:
        result = safejson.loads(payload, max_depth=safejson.PAYLOAD_MAX_DEPTH)
        status = int(result["statusCode"])
    except (ValueError, KeyError, TypeError):
        return _page(502)
    if not 100 <= status <= 599:
        return _page(502)
    out_headers: list[tuple[bytes, bytes]] = []
    if multi:
        for k, values in (result.get("multiValueHeaders") or {}).items():
            if k.lower() not in HOP_BY_HOP:
                for value in values if isinstance(values, list) else [values]:
                    out_headers.append((k.encode("latin-1", "replace"), _header_value(value)))
    else:
        for k, value in (result.get("headers") or {}).items():
            if k.lower() not in HOP_BY_HOP:
                out_headers.append((k.encode("latin-1", "replace"), _header_value(value)))
    try:
        data = proxy.response_body(result)
    except proxy.BadProxyResponse:
        return _page(502)
    out_headers.append(SERVER)
    return status, out_headers, data


def _header_value(value: Any) -> bytes:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
    return text.encode("latin-1", "replace")
