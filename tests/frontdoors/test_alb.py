"""ALB end to end: the elbv2 API through boto3 and the AWS CLI, listeners on real ports, rules,
actions, the Lambda event and response formats, and the resource-policy check."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.auth.test_authz import _create_account, _parse_keys
from tests.auth.test_pathological_policies import health_watch
from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, create_function, free_port, unique
from tests.frontdoors.alb_helpers import Alb, fixed, forward, function_target_group, lambda_target_group, make_alb

ECHO = """
import base64, json

TAG = "echo"

def handler(event, context):
    single = event.get("queryStringParameters")
    query = single if single is not None else {
        k: v[-1] for k, v in (event.get("multiValueQueryStringParameters") or {}).items()}
    mode = query.get("mode")
    if mode == "binary":
        return {"statusCode": 200, "statusDescription": "200 OK", "isBase64Encoded": True,
                "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode()}
    if mode == "multi":
        return {"statusCode": 201, "statusDescription": "201 Created", "isBase64Encoded": False,
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-One": ["x"]},
                "headers": {"X-Single": "s"}, "body": "multi"}
    if mode == "hop":
        return {"statusCode": 200, "headers": {"Connection": "close", "Content-Length": "999",
                                               "Transfer-Encoding": "chunked", "X-Kept": "1"}, "body": "ok"}
    if mode == "fail":
        raise ValueError("boom")
    if mode == "big":
        return {"statusCode": 200, "body": "x" * (1024 * 1024 + 10)}
    if mode == "bad":
        return {"hello": "world"}
    return {"statusCode": 200, "statusDescription": "200 OK", "isBase64Encoded": False,
            "headers": {"Content-Type": "application/json", "X-Tag": TAG}, "body": json.dumps(event)}
"""


def tagged(tag: str) -> str:
    return ECHO.replace('TAG = "echo"', f'TAG = "{tag}"')


@pytest.fixture(scope="module")
def echo_alb(server: Server) -> Alb:
    return make_alb(server, forward(function_target_group(server, ECHO)))


@pytest.fixture(scope="module")
def elb(server: Server) -> Any:
    return server.client("elbv2")


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call()
    return {**err.value.response["Error"], "Status": err.value.response["ResponseMetadata"]["HTTPStatusCode"]}


# -- the API --------------------------------------------------------------------------------------
def test_load_balancer_and_target_group_lifecycle(elb: Any) -> None:
    name = unique("lb")
    created = elb.create_load_balancer(Name=name, Subnets=["subnet-a"], Tags=[{"Key": "team", "Value": "web"}])
    lb = created["LoadBalancers"][0]
    assert lb["LoadBalancerName"] == name and lb["Type"] == "application" and lb["State"]["Code"] == "active"
    assert lb["LoadBalancerArn"].startswith(f"arn:aws:elasticloadbalancing:{REGION}:000000000000:loadbalancer/app/"
                                            f"{name}/")
    again = elb.create_load_balancer(Name=name, Subnets=["subnet-a"])["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == lb["LoadBalancerArn"], "CreateLoadBalancer is idempotent"
    assert [x["LoadBalancerArn"] for x in elb.describe_load_balancers(Names=[name])["LoadBalancers"]] == [
        lb["LoadBalancerArn"]]
    err = error_of(lambda: elb.describe_load_balancers(Names=[unique("nolb")]))
    assert (err["Code"], err["Status"]) == ("LoadBalancerNotFound", 400)
    err = error_of(lambda: elb.create_load_balancer(Name="-bad-", Subnets=["subnet-a"]))
    assert err["Code"] == "ValidationError"
    err = error_of(lambda: elb.create_load_balancer(Name=unique("nlb"), Type="network", Subnets=["subnet-a"]))
    assert err["Code"] == "ValidationError"

    tg_name = unique("tg")
    tg = elb.create_target_group(Name=tg_name, TargetType="lambda")["TargetGroups"][0]
    assert tg["TargetType"] == "lambda" and tg["HealthCheckEnabled"] is False and tg["LoadBalancerArns"] == []
    assert elb.create_target_group(Name=tg_name, TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"] == \
        tg["TargetGroupArn"]
    err = error_of(lambda: elb.create_target_group(Name=tg_name, TargetType="lambda", HealthCheckPath="/other"))
    assert err["Code"] == "DuplicateTargetGroupName"
    err = error_of(lambda: elb.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"] + "0"]))
    assert (err["Code"], err["Status"]) == ("TargetGroupNotFound", 400)
    attrs = elb.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
    assert attrs == [{"Key": "lambda.multi_value_headers.enabled", "Value": "false"}]
    changed = elb.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"], Attributes=[
        {"Key": "lambda.multi_value_headers.enabled", "Value": "true"}])["Attributes"]
    assert changed == [{"Key": "lambda.multi_value_headers.enabled", "Value": "true"}]

    elb.add_tags(ResourceArns=[lb["LoadBalancerArn"], tg["TargetGroupArn"]], Tags=[{"Key": "env", "Value": "test"}])
    elb.remove_tags(ResourceArns=[lb["LoadBalancerArn"]], TagKeys=["team"])
    described = {d["ResourceArn"]: d["Tags"] for d in elb.describe_tags(
        ResourceArns=[lb["LoadBalancerArn"], tg["TargetGroupArn"]])["TagDescriptions"]}
    assert described == {lb["LoadBalancerArn"]: [{"Key": "env", "Value": "test"}],
                         tg["TargetGroupArn"]: [{"Key": "env", "Value": "test"}]}

    elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])  # deleting again succeeds, as on AWS
    assert error_of(lambda: elb.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]]))["Code"] == \
        "LoadBalancerNotFound"


def test_listener_and_rule_lifecycle(server: Server, elb: Any) -> None:
    tg_arn = function_target_group(server, ECHO)
    alb = make_alb(server, forward(tg_arn))
    assert alb.get("/").status_code == 200
    assert elb.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]["LoadBalancerArns"] == [alb.arn]
    health = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"][0]
    assert health["TargetHealth"] == {"State": "unavailable", "Reason": "Target.HealthCheckDisabled",
                                      "Description": "Health checks are disabled for the target group"}
    err = error_of(lambda: elb.create_listener(LoadBalancerArn=alb.arn, Protocol="HTTP", Port=alb.port,
                                               DefaultActions=[forward(tg_arn)]))
    assert (err["Code"], err["Status"]) == ("DuplicateListener", 400)
    err = error_of(lambda: elb.delete_target_group(TargetGroupArn=tg_arn))
    assert err["Code"] == "ResourceInUse"

    rule = elb.create_rule(ListenerArn=alb.listener_arn, Priority=10, Actions=[fixed("200", "ten")],
                           Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/r*"]}}])["Rules"][0]
    assert rule["Priority"] == "10" and rule["IsDefault"] is False
    err = error_of(lambda: elb.create_rule(ListenerArn=alb.listener_arn, Priority=10, Actions=[fixed("200")],
                                           Conditions=[{"Field": "path-pattern", "Values": ["/x"]}]))
    assert err["Code"] == "PriorityInUse"
    rules = elb.describe_rules(ListenerArn=alb.listener_arn)["Rules"]
    assert [(r["Priority"], r["IsDefault"]) for r in rules] == [("10", False), ("default", True)]
    assert alb.get("/rule").text == "ten"
    elb.modify_rule(RuleArn=rule["RuleArn"], Actions=[fixed("202", "modified")])
    assert (alb.get("/rule").status_code, alb.get("/rule").text) == (202, "modified")
    elb.delete_rule(RuleArn=rule["RuleArn"])
    assert alb.get("/rule").headers["x-tag"] == "echo"
    for call in (lambda: elb.delete_rule(RuleArn=rule["RuleArn"]),
                 lambda: elb.describe_rules(RuleArns=[rule["RuleArn"]])):
        assert error_of(call)["Code"] == "RuleNotFound"

    new_port = free_port()
    elb.modify_listener(ListenerArn=alb.listener_arn, Port=new_port)
    assert httpx.get(f"http://127.0.0.1:{new_port}/", timeout=30).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(alb.url, timeout=5)
    elb.delete_listener(ListenerArn=alb.listener_arn)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{new_port}/", timeout=5)
    assert error_of(lambda: elb.describe_listeners(ListenerArns=[alb.listener_arn]))["Code"] == "ListenerNotFound"
    elb.delete_target_group(TargetGroupArn=tg_arn)  # no longer in use


def test_register_targets_needs_the_elb_permission(server: Server, elb: Any) -> None:
    lam = server.client("lambda")
    name = create_function(lam, ECHO)
    tg_arn = lambda_target_group(server, name, permit=False)
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    err = error_of(lambda: elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": function_arn}]))
    assert (err["Code"], err["Status"]) == ("AccessDenied", 403)
    assert err["Message"] == (f"elasticloadbalancing principal does not have permission to invoke {function_arn} "
                              f"from target group {tg_arn}")
    other_tg = elb.create_target_group(Name=unique("tg"), TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    lam.add_permission(FunctionName=name, StatementId="elb-other", Action="lambda:InvokeFunction",
                       Principal="elasticloadbalancing.amazonaws.com", SourceArn=other_tg)
    err = error_of(lambda: elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": function_arn}]))
    assert err["Code"] == "AccessDenied", "a permission for another target group does not count"
    elb.register_targets(TargetGroupArn=other_tg, Targets=[{"Id": function_arn}])

    # Revoking the permission afterwards makes the load balancer's invocations fail (502), as on AWS.
    alb = make_alb(server, forward(other_tg))
    assert alb.get("/").status_code == 200
    lam.remove_permission(FunctionName=name, StatementId="elb-other")
    denied = alb.get("/")
    assert denied.status_code == 502 and denied.headers["server"] == "awselb/2.0"


def test_api_errors_are_query_protocol_xml(server: Server) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest("POST", server.endpoint + "/", data="Action=DescribeListeners&Version=2015-12-01",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "elasticloadbalancing", REGION).add_auth(request)
    resp = httpx.post(server.endpoint + "/", content=request.body, headers=dict(request.headers.items()))
    assert resp.status_code == 400 and resp.headers["content-type"] == "text/xml"
    assert "<Code>ValidationError</Code>" in resp.text and "<Type>Sender</Type>" in resp.text


def test_aws_cli_elbv2(server: Server) -> None:
    aws = str(Path(sys.executable).parent / "aws")
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
           "PATH": "/usr/bin:/bin"}
    name = unique("cli-lb")
    created = subprocess.run([aws, "elbv2", "create-load-balancer", "--name", name, "--subnets", "subnet-a",
                              "--endpoint-url", server.endpoint, "--output", "json"],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
    assert created.returncode == 0, created.stderr
    arn = json.loads(created.stdout)["LoadBalancers"][0]["LoadBalancerArn"]
    missing = subprocess.run([aws, "elbv2", "describe-listeners", "--load-balancer-arn", arn + "x",
                              "--endpoint-url", server.endpoint], capture_output=True, text=True, env=env,
                             timeout=60, check=False)
    assert missing.returncode in (254, 255)
    assert "LoadBalancerNotFound" in missing.stderr


# -- requests through a listener ------------------------------------------------------------------
def test_event_shape(echo_alb: Alb) -> None:
    resp = echo_alb.request("POST", "/some/pa%20th?x=1&x=2&enc=a%20b", json={"k": "v"},
                            headers={"X-Dup": "one", "Cookie": "c1=v1", "X-Forwarded-For": "10.0.0.1"})
    assert resp.status_code == 200 and resp.headers["x-tag"] == "echo" and resp.headers["server"] == "awselb/2.0"
    event = resp.json()
    assert event["requestContext"]["elb"]["targetGroupArn"].startswith("arn:aws:elasticloadbalancing:")
    assert event["httpMethod"] == "POST" and event["path"] == "/some/pa%20th"
    assert event["queryStringParameters"] == {"x": "2", "enc": "a%20b"}, "last value wins; not decoded"
    assert "multiValueHeaders" not in event and "multiValueQueryStringParameters" not in event
    headers = event["headers"]
    assert headers["x-dup"] == "one" and headers["cookie"] == "c1=v1"
    assert headers["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-port"] == str(echo_alb.port)
    assert headers["x-amzn-trace-id"].startswith("Root=1-") and "connection" not in headers
    assert json.loads(event["body"]) == {"k": "v"} and event["isBase64Encoded"] is False

    get = echo_alb.get("/").json()
    assert get["body"] == "" and get["isBase64Encoded"] is False and get["queryStringParameters"] == {}

    blob = bytes(range(256))
    binary = echo_alb.request("PUT", "/", content=blob, headers={"content-type": "application/octet-stream"}).json()
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == blob
    form = echo_alb.request("POST", "/", content=b"a=1&b=2",
                            headers={"content-type": "application/x-www-form-urlencoded"}).json()
    assert form["isBase64Encoded"] is True, "only text/*, json, javascript and xml pass as text"


def test_response_mapping_and_errors(echo_alb: Alb) -> None:
    binary = echo_alb.get("/?mode=binary")
    assert binary.content == bytes(range(256)) and binary.headers["content-type"] == "application/octet-stream"
    hop = echo_alb.get("/?mode=hop")
    assert hop.text == "ok" and hop.headers["x-kept"] == "1" and hop.headers["content-length"] == "2"
    assert "transfer-encoding" not in hop.headers and "connection" not in hop.headers
    multi = echo_alb.get("/?mode=multi")
    assert multi.status_code == 201 and multi.headers["x-single"] == "s" and "x-one" not in multi.headers
    for mode in ("fail", "bad", "big"):
        failed = echo_alb.get(f"/?mode={mode}")
        assert failed.status_code == 502, mode
        assert "502 Bad Gateway" in failed.text and failed.headers["server"] == "awselb/2.0"
    too_big = echo_alb.request("POST", "/", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "text/plain"})
    assert too_big.status_code == 413
    assert echo_alb.request("TRACE", "/").status_code == 405


def test_multi_value_headers(server: Server) -> None:
    alb = make_alb(server, forward(function_target_group(server, ECHO, multi_value=True)))
    resp = alb.get("/p?x=1&x=2&y=a%2Fb", headers=[("X-Dup", "one"), ("X-Dup", "two")])
    event = resp.json()
    assert "headers" not in event and "queryStringParameters" not in event
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["a%2Fb"]}
    assert event["multiValueHeaders"]["x-dup"] == ["one", "two"]
    multi = alb.get("/?mode=multi")
    assert multi.headers.get_list("set-cookie") == ["a=1", "b=2"] and multi.headers["x-one"] == "x"
    assert "x-single" not in multi.headers, "with multi-value headers on, `headers` is not used"


def test_fixed_response_and_redirect(server: Server, elb: Any) -> None:
    alb = make_alb(server, fixed("404", '{"error": "none"}', "application/json"))
    missing = alb.get("/anything")
    assert missing.status_code == 404 and missing.json() == {"error": "none"}
    assert missing.headers["content-type"] == "application/json"
    elb.create_rule(ListenerArn=alb.listener_arn, Priority=1, Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/old/*"]}}], Actions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "Host": "example.com",
                                                "Path": "/new/#{path}", "Query": "#{query}&moved=1",
                                                "StatusCode": "HTTP_301"}}])
    elb.create_rule(ListenerArn=alb.listener_arn, Priority=2, Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/same"]}}], Actions=[
        {"Type": "redirect", "RedirectConfig": {"Path": "/elsewhere", "StatusCode": "HTTP_302"}}])
    moved = alb.get("/old/page?q=1")
    assert moved.status_code == 301
    assert moved.headers["location"] == "https://example.com/new/old/page?q=1&moved=1"
    same = alb.get("/same?z=9")
    assert same.status_code == 302 and same.headers["location"] == f"http://127.0.0.1:{alb.port}/elsewhere?z=9"


def test_rule_conditions(server: Server, elb: Any) -> None:
    alb = make_alb(server, fixed("200", "default"))

    def rule(priority: int, condition: dict[str, Any], body: str) -> str:
        return elb.create_rule(ListenerArn=alb.listener_arn, Priority=priority, Conditions=[condition],
                               Actions=[fixed("200", body)])["Rules"][0]["RuleArn"]

    path_rule = rule(10, {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/v?/x"]}}, "path")
    rule(20, {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}}, "host")
    rule(30, {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env",
                                                            "Values": ["stag*"]}}, "header")
    rule(40, {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["DELETE"]}}, "method")
    rule(50, {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "version", "Value": "v2"},
                                                                        {"Value": "beta"}]}}, "query")
    rule(60, {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}, "source")

    assert alb.get("/api/users").text == "path"
    assert alb.get("/v2/x").text == "path" and alb.get("/v22/x").text == "default"
    assert alb.get("/API/users").text == "default", "path patterns are case-sensitive"
    assert alb.get("/", headers={"Host": "shop.EXAMPLE.com"}).text == "host"
    assert alb.get("/", headers={"X-Env": "Staging"}).text == "header"
    assert alb.request("DELETE", "/").text == "method"
    assert alb.get("/?version=V2").text == "query" and alb.get("/?flag=beta").text == "query"
    assert alb.get("/?version=v3").text == "default"
    assert alb.get("/other").text == "default", "the client is 127.0.0.1, outside 10.0.0.0/8"
    # The lowest priority number wins; SetRulePriorities reorders.
    assert alb.get("/api/x", headers={"X-Env": "staging"}).text == "path"
    elb.set_rule_priorities(RulePriorities=[{"RuleArn": path_rule, "Priority": 35}])
    assert alb.get("/api/x", headers={"X-Env": "staging"}).text == "header"
    err = error_of(lambda: elb.set_rule_priorities(RulePriorities=[{"RuleArn": path_rule, "Priority": 20}]))
    assert err["Code"] == "PriorityInUse"


def test_weighted_forwarding(server: Server) -> None:
    tg_a = function_target_group(server, tagged("a"))
    tg_b = function_target_group(server, tagged("b"))
    alb = make_alb(server, {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": tg_a, "Weight": 1}, {"TargetGroupArn": tg_b, "Weight": 3}]}})
    n = 400
    with httpx.Client(base_url=alb.url, timeout=30) as client:
        tags = [client.get("/").headers["x-tag"] for _ in range(n)]
    share_a = tags.count("a")
    # Binomial(400, 0.25): mean 100, sd 8.7; the bounds are 5 sd wide (false failure ~ 1 in 3.5 million).
    assert 57 <= share_a <= 143 and tags.count("b") == n - share_a, share_a
    server.client("elbv2").modify_listener(ListenerArn=alb.listener_arn, DefaultActions=[
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg_a, "Weight": 0}, {"TargetGroupArn": tg_b, "Weight": 5}]}}])
    with httpx.Client(base_url=alb.url, timeout=30) as client:
        assert {client.get("/").headers["x-tag"] for _ in range(50)} == {"b"}


def test_alias_target(server: Server) -> None:
    lam = server.client("lambda")
    name = create_function(lam, tagged("v1"))
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    alb = make_alb(server, forward(lambda_target_group(server, name, qualifier="live")))
    assert alb.get("/").headers["x-tag"] == "v1"


def test_no_registered_target_answers_503(server: Server, elb: Any) -> None:
    tg_arn = elb.create_target_group(Name=unique("tg"), TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    alb = make_alb(server, forward(tg_arn))
    assert alb.get("/").status_code == 503


def test_listener_survives_restart(fresh_server: Server) -> None:
    fresh_server.start()
    alb = make_alb(fresh_server, forward(function_target_group(fresh_server, tagged("kept"))))
    assert alb.get("/").headers["x-tag"] == "kept"
    fresh_server.stop()
    fresh_server.start()
    assert alb.get("/").headers["x-tag"] == "kept"


# -- what a tenant may do with the host (issue 12) -----------------------------------------------------
def test_listener_ports_come_from_the_configured_range(server: Server, lam: Any) -> None:
    """Any account can create listeners, so the privileged port 81 of a root server is refused; a port in
    `alb_listener_ports` (default 1024-65535) works, and moving a listener out of the range is refused."""
    created = _create_account(server, unique("acct"))
    assert created.returncode == 0, created.stderr
    _, keys = _parse_keys(created.stdout)
    tenant = server.client("elbv2", **keys)
    lb_arn = tenant.create_load_balancer(Name=unique("lb"), Subnets=["subnet-a"])["LoadBalancers"][0][
        "LoadBalancerArn"]
    err = error_of(lambda: tenant.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=81,
                                                  DefaultActions=[fixed("200", "mine")]))
    assert (err["Code"], err["Status"]) == ("ValidationError", 400)
    assert err["Message"] == ("1 validation error detected: Value '81' at 'port' failed to satisfy constraint: "
                              "Member must be within this host's listener ports (1024-65535)")
    with pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:81/", timeout=5)
    assert tenant.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"] == []

    port = free_port()
    listener = tenant.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
                                      DefaultActions=[fixed("200", "mine")])["Listeners"][0]
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).text == "mine"
    err = error_of(lambda: tenant.modify_listener(ListenerArn=listener["ListenerArn"], Port=80,
                                                  DefaultActions=[fixed("200", "changed")]))
    assert (err["Code"], err["Status"]) == ("ValidationError", 400)
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).text == "mine", "a refused change changes nothing"


def test_operator_may_allow_privileged_listener_ports(fresh_server: Server) -> None:
    fresh_server.env["LAMBDAD_ALB_LISTENER_PORTS"] = "81,20000-20010"
    fresh_server.start()
    elb = fresh_server.client("elbv2")
    lb_arn = elb.create_load_balancer(Name=unique("lb"), Subnets=["subnet-a"])["LoadBalancers"][0][
        "LoadBalancerArn"]
    err = error_of(lambda: elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=free_port(),
                                               DefaultActions=[fixed("200", "x")]))
    assert err["Message"].endswith("Member must be within this host's listener ports (81,20000-20010)")
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=81, DefaultActions=[fixed("200", "on 81")])
    assert httpx.get("http://127.0.0.1:81/", timeout=30).text == "on 81"


def test_pathological_path_pattern_does_not_stall_the_server(server: Server, elb: Any) -> None:
    """Rule patterns are the tenant's and paths the world's: `*a*a*...*b` against a long run of "a"s took a
    backtracking regex forever, on the server's only event loop (issue 12, finding 2)."""
    alb = make_alb(server, fixed("200", "default"))
    elb.create_rule(ListenerArn=alb.listener_arn, Priority=1, Actions=[fixed("200", "evil")],
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/" + "*a" * 9 + "*b"]}}])
    with health_watch(server) as seen:
        for _ in range(3):
            assert alb.get("/" + "a" * 4000).text == "default"
        assert alb.get("/" + "xa" * 9 + "b").text == "evil"
    assert seen and not [s for s in seen if isinstance(s, str)], seen[:3]
