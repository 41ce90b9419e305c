"""Real web frameworks behind both API kinds, unchanged: a Starlette app through Mangum (ASGI),
aws-lambda-powertools' APIGatewayHttpResolver / APIGatewayRestResolver, and a Flask app through
apig-wsgi (WSGI). The packages come from the registry (pip's cache keeps repeat sessions fast) into a
layer the functions use, as a user would deploy them."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import ACCOUNT, REGION, Server, create_function, function_arn
from tests.frontdoors.test_web_frameworks import MANGUM_APP

PACKAGES = ["mangum", "starlette", "aws-lambda-powertools", "flask", "apig-wsgi"]

POWERTOOLS_APP = '''
import json
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver, Response

http_app = APIGatewayHttpResolver()
rest_app = APIGatewayRestResolver()


def routes(app):
    @app.get("/hello/<name>")
    @app.delete("/hello/<name>")
    def hello(name):
        event = app.current_event
        cookies = event.cookies if getattr(event, "cookies", None) else [
            c.strip() for c in (event.headers.get("cookie") or "").split(";") if c.strip()]
        return {"name": name, "method": event.http_method, "agent": event.headers.get("x-agent"),
                "query": event.resolved_query_string_parameters.get("q") or [],
                "cookies": dict(c.split("=", 1) for c in cookies)}

    @app.post("/echo")
    def echo():
        return Response(201, "application/json", json.dumps({"json": app.current_event.json_body}))


routes(http_app)
routes(rest_app)


def handler(event, context):
    if event.get("version") == "2.0":
        return http_app.resolve(event, context)
    return rest_app.resolve(event, context)
'''

FLASK_APP = '''
from apig_wsgi import make_lambda_handler
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/hello/<name>", methods=["GET", "DELETE"])
def hello(name):
    return jsonify(name=name, method=request.method, agent=request.headers.get("x-agent"),
                   query=request.args.getlist("q"), cookies=dict(request.cookies))


@app.post("/echo")
def echo():
    return jsonify(json=request.get_json()), 201


handler = make_lambda_handler(app, binary_support=True)
'''

APPS = {"mangum": MANGUM_APP, "powertools": POWERTOOLS_APP, "flask": FLASK_APP}


@pytest.fixture(scope="session")
def apigw_layer(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("apigw-web-layer")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(root / "python"), "--python-version", "3.12", "--only-binary=:all:",
                    "--implementation", "cp", *PACKAGES], check=True, capture_output=True, timeout=300)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(root).as_posix())
    published = server.client("lambda").publish_layer_version(
        LayerName="apigw-web-frameworks", Content={"ZipFile": buf.getvalue()}, CompatibleRuntimes=["python3.12"])
    return str(published["LayerVersionArn"])


Door = Callable[..., httpx.Response]


def deploy(server: Server, layer: str, code: str, kind: str) -> Door:
    lam = server.client("lambda")
    name = create_function(lam, code, Layers=[layer], Timeout=30, MemorySize=256)
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")
    if kind == "http":
        api_id = server.client("apigatewayv2").create_api(Name=name, ProtocolType="HTTP",
                                                          Target=function_arn(name))["ApiId"]
        prefix = ""
    else:
        v1 = server.client("apigateway")
        api_id = v1.create_rest_api(name=name)["id"]
        root = v1.get_resources(restApiId=api_id)["items"][0]["id"]
        proxy = v1.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
        uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn(name)}/invocations"
        for resource in (root, proxy):
            v1.put_method(restApiId=api_id, resourceId=resource, httpMethod="ANY", authorizationType="NONE")
            v1.put_integration(restApiId=api_id, resourceId=resource, httpMethod="ANY", type="AWS_PROXY",
                               integrationHttpMethod="POST", uri=uri)
        v1.create_deployment(restApiId=api_id, stageName="prod")
        prefix = "/prod"
    host = f"{api_id}.execute-api.{REGION}.localhost:{server.port}"

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"host": host, **kwargs.pop("headers", {})}
        return httpx.request(method, server.endpoint + prefix + path, headers=headers, timeout=60, **kwargs)
    return call


@pytest.mark.parametrize("kind", ["http", "rest"])
@pytest.mark.parametrize("app", sorted(APPS))
def test_framework_behind_api_gateway(server: Server, apigw_layer: str, app: str, kind: str) -> None:
    call = deploy(server, apigw_layer, APPS[app], kind)
    got = call("GET", "/hello/world?q=a%20b&q=2", headers={"Cookie": "c1=v1; c2=v2", "X-Agent": "tests"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["name"] == "world" and body["method"] == "GET" and body["agent"] == "tests"
    assert body["query"] == ["a b", "2"]
    assert body["cookies"] == {"c1": "v1", "c2": "v2"}
    assert call("DELETE", "/hello/x").json()["method"] == "DELETE"
    posted = call("POST", "/echo", json={"k": [1, 2]})
    assert posted.status_code == 201 and posted.json() == {"json": {"k": [1, 2]}}
    assert call("GET", "/nowhere").status_code == 404
