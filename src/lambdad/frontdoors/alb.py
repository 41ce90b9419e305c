"""ALB listeners: an HTTP server per listener port, rules matched per request, Lambda targets invoked
with the ALB event shape and their responses mapped back (multi-value headers when enabled).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from lambdad.auth import policy
from lambdad.control.names import parse_function_ref
from lambdad.errors import ApiError, TooManyRequestsException
from lambdad.invoke.invoker import InvokeMeta

if TYPE_CHECKING:
    from lambdad.server import Lambdad

log = logging.getLogger("lambdad.alb")

ELB_PRINCIPAL = "elasticloadbalancing.amazonaws.com"
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
           302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "+json", "+xml",
              "application/x-www-form-urlencoded")
MAX_BODY = 1024 * 1024  # ALB's limit for Lambda targets: 1 MB request and response bodies


def _plain(status: int, body: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    html = (f"<html>\r\n<head><title>{status} {REASONS.get(status, '')}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {REASONS.get(status, '')}</h1></center>\r\n</body>\r\n</html>\r\n")
    return status, [(b"content-type", b"text/html"), (b"server", b"awselb/2.0")], (body or html).encode()


class AlbListeners:
    """Owns one listening socket per ALB listener port."""

    def __init__(self, core: Lambdad) -> None:
        self.core = core
        self.servers: dict[int, asyncio.Task[asyncio.AbstractServer]] = {}
        self._config = uvicorn.Config(self._app, loop="none", http="httptools", lifespan="off", log_level="warning",
                                      access_log=False)
        self._config.load()
        self._state = ServerState()

    def on_change(self, listener: dict[str, Any], bind: bool) -> None:
        port = listener["Port"]
        if not bind:
            task = self.servers.pop(port, None)
            if task is not None:
                task.add_done_callback(lambda t: t.exception() is None and t.result().close())
            return
        if port in self.servers:
            return
        loop = asyncio.get_running_loop()
        # A blocking bind keeps errors synchronous, so CreateListener can answer them.
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.core.config.host, port))
        except OSError as exc:
            sock.close()
            raise ApiError(f"Cannot listen on port {port}: {exc.strerror}", code="InvalidConfigurationRequest") from exc
        sock.listen(512)
        sock.setblocking(False)
        self.servers[port] = asyncio.ensure_future(loop.create_server(
            lambda: HttpToolsProtocol(self._config, self._state, app_state={}), sock=sock))

    async def start(self) -> None:
        for listener in list(self.core.elbv2.listeners.values()):
            try:
                self.on_change(listener, True)
            except ApiError as exc:
                log.error("listener %s: %s", listener["ListenerArn"], exc.message)
        await asyncio.gather(*self.servers.values(), return_exceptions=True)

    async def aclose(self) -> None:
        for task in self.servers.values():
            try:
                (await task).close()
            except OSError:
                pass
        self.servers.clear()

    # -- the ASGI app every listener serves --------------------------------------------------
    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                status, headers, data = _plain(413, "")
                break
            if not message.get("more_body"):
                status, headers, data = await self.handle(scope, body)
                break
        headers.append((b"content-length", str(len(data)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def handle(self, scope: dict[str, Any], body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        headers: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        flat = {k: v[-1] for k, v in headers.items()}
        port = scope["server"][1] if scope.get("server") else 0
        raw_query = scope["query_string"].decode("latin-1")
        query = parse_qsl(raw_query, keep_blank_values=True)
        client_ip = (scope.get("client") or ("127.0.0.1", 0))[0]
        found = self.core.elbv2.match(port, scope["method"], scope["path"], flat.get("host", ""), flat, query,
                                      client_ip)
        if found is None:
            return _plain(503, "")
        listener, match = found
        action = match.action
        if action["Type"] == "fixed-response":
            cfg = action["FixedResponseConfig"]
            return (int(cfg["StatusCode"]), [(b"content-type", cfg.get("ContentType", "text/plain").encode()),
                                              (b"server", b"awselb/2.0")], cfg.get("MessageBody", "").encode())
        if action["Type"] == "redirect":
            return self._redirect(action["RedirectConfig"], flat.get("host", ""), port, scope["path"], raw_query)
        groups = action["ForwardConfig"]["TargetGroups"]
        tg_arn = _weighted(groups)
        return await self._forward(listener, tg_arn, scope, headers, raw_query, body, client_ip)

    @staticmethod
    def _redirect(cfg: dict[str, Any], host: str, port: int, path: str, query: str
                  ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        hostname = host.split(":", 1)[0]

        def fill(template: str) -> str:
            return (template.replace("#{host}", hostname).replace("#{port}", str(port))
                    .replace("#{path}", path.lstrip("/")).replace("#{query}", query)
                    .replace("#{protocol}", "http"))

        protocol = fill(cfg.get("Protocol", "#{protocol}")).lower()
        target_port = fill(cfg.get("Port", "#{port}"))
        target_host = fill(cfg.get("Host", "#{host}"))
        target_path = "/" + fill(cfg.get("Path", "/#{path}")).lstrip("/")
        target_query = fill(cfg.get("Query", "#{query}"))
        default_port = (protocol == "http" and target_port == "80") or (protocol == "https" and target_port == "443")
        location = f"{protocol}://{target_host}{'' if default_port else ':' + target_port}{target_path}"
        if target_query:
            location += "?" + target_query
        status = 301 if cfg.get("StatusCode") == "HTTP_301" else 302
        return status, [(b"location", location.encode()), (b"server", b"awselb/2.0"),
                        (b"content-type", b"text/html")], _plain(status, "")[2]

    async def _forward(self, listener: dict[str, Any], tg_arn: str, scope: dict[str, Any],
                       headers: dict[str, list[str]], raw_query: str, body: bytes, client_ip: str
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        core = self.core
        tg = core.elbv2.target_groups.get(tg_arn)
        if tg is None or not tg["_targets"]:
            return _plain(503, "")
        multi = tg["_attributes"].get("lambda.multi_value_headers.enabled") == "true"
        function_arn = tg["_targets"][0]
        try:
            ref = parse_function_ref(function_arn, None, tg["_account"])
            if not self.can_invoke(function_arn, tg_arn, ref.account):
                return _plain(502, "")
            fv, invoked_arn = core.resolve_for_invoke(ref.account, ref.name, ref.qualifier)
            event = _event(tg_arn, scope, headers, raw_query, body, client_ip, multi)
            result = await core.invoker.invoke(fv, event, InvokeMeta(invoked_arn))
        except TooManyRequestsException:
            return _plain(503, "")
        except ApiError:
            return _plain(502, "")
        if result.function_error:
            return _plain(502, "")
        return _response(result.payload, multi)

    def can_invoke(self, function_arn: str, tg_arn: str, account: str | None = None) -> bool:
        """The function's resource policy must let elasticloadbalancing invoke it, as on AWS."""
        core = self.core
        try:
            ref = parse_function_ref(function_arn, None, account or core.config.account_id)
        except ApiError:
            return False
        rec = core.registry.find(ref.account, ref.name)
        if rec is None:
            return False
        doc = core.permissions.document(rec, ref.qualifier)
        ctx = policy.RequestContext("", ref.account, "lambda:InvokeFunction",
                                    core.function_arn(ref.account, ref.name, ref.qualifier), ref.account,
                                    {"aws:SourceArn": tg_arn, "aws:SourceAccount": ref.account},
                                    principal_service=ELB_PRINCIPAL)
        return policy.evaluate(ctx, [], doc[0] if doc else None) is policy.Decision.ALLOW


def _weighted(groups: list[dict[str, Any]]) -> str:
    if len(groups) == 1:
        return groups[0]["TargetGroupArn"]
    weights = [max(0, int(g.get("Weight", 1))) for g in groups]
    if not any(weights):
        return groups[0]["TargetGroupArn"]
    return random.choices(groups, weights)[0]["TargetGroupArn"]


def _is_text(content_type: str) -> bool:
    return any(t in content_type.lower() for t in TEXT_TYPES)


def _event(tg_arn: str, scope: dict[str, Any], headers: dict[str, list[str]], raw_query: str, body: bytes,
           client_ip: str, multi: bool) -> bytes:
    headers = {k: list(v) for k, v in headers.items()}
    headers.setdefault("x-forwarded-for", [client_ip])
    headers.setdefault("x-forwarded-proto", ["http"])
    headers.setdefault("x-forwarded-port", [str(scope["server"][1]) if scope.get("server") else "80"])
    # ALB passes query strings through without decoding them.
    pairs = [p.partition("=")[::2] for p in raw_query.split("&") if p] if raw_query else []
    event: dict[str, Any] = {"requestContext": {"elb": {"targetGroupArn": tg_arn}}, "httpMethod": scope["method"],
                             "path": scope["path"]}
    if multi:
        mq: dict[str, list[str]] = {}
        for k, v in pairs:
            mq.setdefault(k, []).append(v)
        event["multiValueQueryStringParameters"] = mq
        event["multiValueHeaders"] = headers
    else:
        event["queryStringParameters"] = {k: v for k, v in pairs}
        event["headers"] = {k: v[-1] for k, v in headers.items()}
    content_type = headers.get("content-type", [""])[-1]
    if body and not _is_text(content_type):
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
    else:
        try:
            event["body"] = body.decode()
            event["isBase64Encoded"] = False
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return json.dumps(event).encode()


def _response(payload: bytes, multi: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    try:
        result = json.loads(payload)
        status = int(result["statusCode"])
    except (ValueError, KeyError, TypeError):
        return _plain(502, "")
    out_headers: list[tuple[bytes, bytes]] = []
    if multi:
        for k, values in (result.get("multiValueHeaders") or {}).items():
            for value in values if isinstance(values, list) else [values]:
                out_headers.append((k.lower().encode(), str(value).encode()))
    else:
        for k, value in (result.get("headers") or {}).items():
            out_headers.append((k.lower().encode(), str(value).encode()))
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body)
        except (binascii.Error, ValueError):
            return _plain(502, "")
    else:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    if len(data) > MAX_BODY:
        return _plain(502, "")
    out_headers.append((b"server", b"awselb/2.0"))
    return status, out_headers, data
