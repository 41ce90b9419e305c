"""Real web frameworks behind both front doors: a Starlette app wrapped by Mangum, and an app on
aws-lambda-powertools' LambdaFunctionUrlResolver / ALBResolver. The packages come from the registry:
pip installs them once per session into a layer the functions use, as a user would deploy them."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import Server, create_function
from tests.frontdoors.alb_helpers import forward, lambda_target_group, make_alb
from tests.frontdoors.test_function_urls import public_url

PACKAGES = ["mangum", "starlette", "aws-lambda-powertools"]

MANGUM_APP = '''
from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"name": request.path_params["name"], "method": request.method,
                         "query": request.query_params.getlist("q"), "cookies": request.cookies,
                         "agent": request.headers.get("x-agent")})


async def echo(request):
    if request.headers.get("content-type", "").startswith("application/json"):
        return JSONResponse({"json": await request.json()}, status_code=201)
    return Response((await request.body())[::-1], media_type="application/octet-stream")


async def cookies(request):
    response = PlainTextResponse("cookies set")
    response.set_cookie("session", "abc", httponly=True)
    response.set_cookie("theme", "dark")
    return response


app = Starlette(routes=[Route("/hello/{name}", hello, methods=["GET", "DELETE"]),
                        Route("/echo", echo, methods=["POST"]), Route("/cookies", cookies)])
handler = Mangum(app, lifespan="off")
'''

POWERTOOLS_APP = '''
import base64, json
from urllib.parse import unquote_plus

from aws_lambda_powertools.event_handler import ALBResolver, LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie

url_app = LambdaFunctionUrlResolver()
alb_app = ALBResolver()


def header(event, name):
    # resolved_headers_field is `multiValueHeaders` when the target group enables them
    value = event.resolved_headers_field.get(name)
    return "; ".join(value) if isinstance(value, list) else value


def routes(app):
    @app.get("/hello/<name>")
    @app.delete("/hello/<name>")
    def hello(name):
        event = app.current_event
        cookie = "; ".join(event.cookies) if getattr(event, "cookies", None) else header(event, "cookie") or ""
        jar = dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)
        return {"name": name, "method": event.http_method, "cookies": jar, "agent": header(event, "x-agent"),
                "query": [unquote_plus(q) if app is alb_app else q  # ALB leaves decoding to the function
                          for q in event.resolved_query_string_parameters.get("q") or []]}

    @app.post("/echo")
    def echo():
        event = app.current_event
        if (header(event, "content-type") or "").startswith("application/json"):
            return Response(201, "application/json", json.dumps({"json": event.json_body}))
        raw = base64.b64decode(event.body) if event.is_base64_encoded else event.body.encode()
        return Response(200, "application/octet-stream", raw[::-1])

    @app.get("/cookies")
    def cookies():
        return Response(200, "text/plain", "cookies set", cookies=[Cookie("session", "abc", http_only=True)])


routes(url_app)
routes(alb_app)


def handler(event, context):
    if event.get("version") == "2.0":
        return url_app.resolve(event, context)
    return alb_app.resolve(event, context)
'''

Door = Callable[..., httpx.Response]


@pytest.fixture(scope="session")
def web_layer(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The frameworks installed from the registry (pip's cache keeps repeat sessions fast), as a layer."""
    root = tmp_path_factory.mktemp("web-layer")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(root / "python"), "--python-version", "3.12", "--only-binary=:all:",
                    "--implementation", "cp", *PACKAGES], check=True, capture_output=True, timeout=300)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(root).as_posix())
    published = server.client("lambda").publish_layer_version(
        LayerName="web-frameworks", Content={"ZipFile": buf.getvalue()}, CompatibleRuntimes=["python3.12"])
    return published["LayerVersionArn"]


def deploy(server: Server, layer: str, code: str, door: str) -> Door:
    lam = server.client("lambda")
    name = create_function(lam, code, Layers=[layer], Timeout=30, MemorySize=256)
    if door == "url":
        host = urlparse(public_url(lam, name)).netloc

        def via_url(method: str, path: str, **kwargs: Any) -> httpx.Response:
            headers = {"host": host, **kwargs.pop("headers", {})}
            return httpx.request(method, server.endpoint + path, headers=headers, timeout=60, **kwargs)
        return via_url
    alb = make_alb(server, forward(lambda_target_group(server, name, multi_value=door == "alb-multi")))
    return lambda method, path, **kwargs: alb.request(method, path, **kwargs)


@pytest.mark.parametrize("door", ["url", "alb", "alb-multi"])
@pytest.mark.parametrize("app", ["mangum", "powertools"])
def test_web_app(server: Server, web_layer: str, app: str, door: str) -> None:
    call = deploy(server, web_layer, MANGUM_APP if app == "mangum" else POWERTOOLS_APP, door)

    got = call("GET", "/hello/world?q=a%20b&q=2", headers={"Cookie": "c1=v1; c2=v2", "X-Agent": "tests"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["name"] == "world" and body["method"] == "GET" and body["agent"] == "tests"
    # A plain ALB passes only the last value of a repeated query parameter (AWS documents this).
    assert body["query"] == (["2"] if door == "alb" else ["a b", "2"])
    assert body["cookies"] == {"c1": "v1", "c2": "v2"}
    assert call("DELETE", "/hello/x").json()["method"] == "DELETE"

    posted = call("POST", "/echo", json={"k": [1, 2]})
    assert posted.status_code == 201 and posted.json() == {"json": {"k": [1, 2]}}
    blob = bytes(range(256)) * 4
    binary = call("POST", "/echo", content=blob, headers={"content-type": "application/octet-stream"})
    assert binary.status_code == 200 and binary.content == blob[::-1]
    assert binary.headers["content-type"] == "application/octet-stream"

    cookies = call("GET", "/cookies")
    assert cookies.status_code == 200 and cookies.text == "cookies set"
    set_cookie = cookies.headers.get_list("set-cookie")
    assert any(c.startswith("session=abc") and "httponly" in c.lower() for c in set_cookie), set_cookie
    if app == "mangum":
        assert any(c.startswith("theme=dark") for c in set_cookie), set_cookie

    assert call("GET", "/nowhere").status_code == 404
