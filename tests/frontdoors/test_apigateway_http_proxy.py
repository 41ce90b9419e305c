"""HTTP_PROXY integrations of both API kinds against a backend on loopback (allowed by the operator's
setting), and the refusal of private destinations without it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import Server, free_port, server_env
from tests.frontdoors.test_apigateway_http import call


class Backend:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if "slow" in self.path:
                    import time
                    time.sleep(1.5)
                out = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                                  "agent": self.headers.get("x-agent"),
                                  "forwarded_for": self.headers.get("x-forwarded-for")}).encode()
                self.send_response(207)
                self.send_header("content-type", "application/json")
                self.send_header("x-backend", "yes")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    found = Backend()
    yield found
    found.httpd.shutdown()


@pytest.fixture(scope="module")
def private_ok(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("proxy") / "data", free_port(),
                 server_env(LAMBDAD_APIGATEWAY_PRIVATE_INTEGRATIONS="true"))
    srv.start()
    yield srv
    srv.stop()


def test_http_api_http_proxy(private_ok: Server, backend: Backend) -> None:
    v2 = private_ok.client("apigatewayv2")
    api_id = v2.create_api(Name="proxy", ProtocolType="HTTP")["ApiId"]
    integ = v2.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                  IntegrationUri=backend.url + "/base/{proxy}", PayloadFormatVersion="1.0",
                                  TimeoutInMillis=1000)["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey="ANY /svc/{proxy+}", Target=f"integrations/{integ}")
    v2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    r = call(private_ok, api_id, "/svc/a/b?x=1", "POST", content=b"payload", headers={"x-agent": "t"})
    assert r.status_code == 207 and r.headers["x-backend"] == "yes"
    got = r.json()
    assert got == {"method": "POST", "path": "/base/a/b?x=1", "body": "payload", "agent": "t",
                   "forwarded_for": "127.0.0.1"}
    r = call(private_ok, api_id, "/svc/slow")
    assert (r.status_code, r.json()) == (504, {"message": "Gateway Timeout"})
    quick = v2.create_api(Name="q", ProtocolType="HTTP", Target=backend.url + "/fixed")["ApiId"]
    assert call(private_ok, quick, "/anything").json()["path"] == "/fixed"


def test_rest_http_proxy(private_ok: Server, backend: Backend) -> None:
    v1 = private_ok.client("apigateway")
    api_id = v1.create_rest_api(name="proxy")["id"]
    root = v1.get_resources(restApiId=api_id)["items"][0]["id"]
    res = v1.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    v1.put_method(restApiId=api_id, resourceId=res, httpMethod="ANY", authorizationType="NONE")
    v1.put_integration(restApiId=api_id, resourceId=res, httpMethod="ANY", type="HTTP_PROXY",
                       integrationHttpMethod="ANY", uri=backend.url + "/{proxy}")
    v1.create_deployment(restApiId=api_id, stageName="prod")
    r = call(private_ok, api_id, "/prod/x/y", "DELETE")
    assert r.status_code == 207 and r.json()["method"] == "DELETE" and r.json()["path"] == "/x/y"


def test_private_destinations_are_refused_by_default(server: Server, backend: Backend) -> None:
    v2 = server.client("apigatewayv2")
    for target in (backend.url, "http://localhost:1/", "http://169.254.169.254/latest/meta-data/",
                   "http://10.0.0.1/"):
        api_id = v2.create_api(Name="ssrf", ProtocolType="HTTP", Target=target)["ApiId"]
        r = call(server, api_id, "/")
        assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"}), target
