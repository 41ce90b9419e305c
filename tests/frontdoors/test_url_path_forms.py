"""The path forms of function URLs (`/_aws/lambda-url/<url-id>/...`) and execute-api URLs: what Python's and
Node's clients use without DNS for `*.localhost`; the same front door, the same event, the same auth."""

from __future__ import annotations

import json
import subprocess
from typing import Any
from urllib.parse import urlparse
from urllib.request import urlopen

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, create_function
from tests.frontdoors.test_function_urls import ECHO, call, public_url


def url_id(url: str) -> str:
    return urlparse(url).netloc.split(".", 1)[0]


def test_path_form_serves_the_same_event(server: Server, lam: Any) -> None:
    name = create_function(lam, ECHO)
    url = public_url(lam, name)
    by_host = call(server, url, "POST", "/a/b%20c?k=v&k=w", content=b"hi", headers={"content-type": "text/plain"})
    by_path = httpx.post(f"{server.endpoint}/_aws/lambda-url/{url_id(url)}/a/b%20c?k=v&k=w", content=b"hi",
                         headers={"content-type": "text/plain"}, timeout=30)
    assert by_host.status_code == by_path.status_code == 200, by_path.text
    host_event, path_event = by_host.json()["event"], by_path.json()["event"]
    for key in ("rawPath", "rawQueryString", "queryStringParameters", "body", "isBase64Encoded", "routeKey"):
        assert path_event[key] == host_event[key], key
    assert path_event["rawPath"] == "/a/b%20c"
    for key in ("domainName", "domainPrefix", "apiId", "stage"):
        assert path_event["requestContext"][key] == host_event["requestContext"][key], key
    assert path_event["requestContext"]["http"]["path"] == host_event["requestContext"]["http"]["path"] == "/a/b c"
    # the function's answer mapped the same way
    raw = httpx.get(f"{server.endpoint}/_aws/lambda-url/{url_id(url)}/?mode=raw", timeout=30)
    assert raw.status_code == 201 and raw.text == "created" and raw.headers["x-custom"] == "yes"
    # the root without a trailing slash is the URL's root
    bare = httpx.get(f"{server.endpoint}/_aws/lambda-url/{url_id(url)}", timeout=30)
    assert bare.json()["event"]["rawPath"] == "/"


def test_path_form_keeps_the_urls_authorization(server: Server, lam: Any) -> None:
    open_name = create_function(lam, ECHO)
    no_permission = lam.create_function_url_config(FunctionName=open_name, AuthType="NONE")["FunctionUrl"]
    denied = httpx.get(f"{server.endpoint}/_aws/lambda-url/{url_id(no_permission)}/", timeout=30)
    assert denied.status_code == 403 and "Forbidden" in denied.json()["Message"]

    name = create_function(lam, ECHO)
    iam_url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    target = f"{server.endpoint}/_aws/lambda-url/{url_id(iam_url)}/signed?q=1"
    assert httpx.get(target, timeout=30).status_code == 403
    request = AWSRequest("GET", target, headers={})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", "us-east-1").add_auth(request)
    signed = httpx.get(target, headers=dict(request.headers.items()), timeout=30)
    assert signed.status_code == 200, signed.text
    assert signed.json()["event"]["requestContext"]["authorizer"]["iam"]["accessKey"] == ACCESS_KEY
    assert signed.json()["event"]["rawPath"] == "/signed"
    bad = AWSRequest("GET", target, headers={})
    SigV4Auth(Credentials(ACCESS_KEY, "wrong-secret"), "lambda", "us-east-1").add_auth(bad)
    assert httpx.get(target, headers=dict(bad.headers.items()), timeout=30).status_code == 403


def test_unknown_url_id_by_path(server: Server) -> None:
    for path in ("/_aws/lambda-url/abcdefabcdefabcdefabcdefabcdef12/", "/_aws/lambda-url/", "/_aws/lambda-url/%2e%2e/"):
        assert httpx.get(f"{server.endpoint}{path}", timeout=30).status_code == 404, path


def test_python_and_node_clients_without_dns(server: Server, lam: Any) -> None:
    """urllib and Node's fetch reach a function URL and an HTTP API by their path forms."""
    name = create_function(lam, ECHO)
    fn_url = f"{server.endpoint}/_aws/lambda-url/{url_id(public_url(lam, name))}/from?who=client"
    with urlopen(fn_url, timeout=30) as resp:
        assert json.loads(resp.read())["event"]["rawPath"] == "/from"

    apigw = server.client("apigatewayv2")
    api = apigw.create_api(Name=name, ProtocolType="HTTP", Target=lam.get_function(FunctionName=name)[
        "Configuration"]["FunctionArn"])
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com")
    api_url = f"{server.endpoint}/_aws/execute-api/{api['ApiId']}/hello"
    script = ("Promise.all(process.argv.slice(1).map(u => fetch(u).then(r => r.json()))).then(rs => "
              "console.log(JSON.stringify(rs)))")
    done = subprocess.run(["node", "-e", script, fn_url, api_url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    fn_answer, api_answer = json.loads(done.stdout)
    assert fn_answer["event"]["queryStringParameters"] == {"who": "client"}
    assert api_answer["event"]["rawPath"] == "/hello"
