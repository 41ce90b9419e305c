"""Building blocks for ALB tests: a load balancer with a listener on a free port, Lambda target groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Server, create_function, free_port, unique


@dataclass
class Alb:
    elb: Any
    arn: str
    listener_arn: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str = "/", **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)

    def request(self, method: str, path: str = "/", **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, timeout=30, **kwargs)


def lambda_target_group(server: Server, function: str, *, permit: bool = True, qualifier: str | None = None,
                        multi_value: bool = False) -> str:
    """A target group of type lambda with the function registered (and allowed to be invoked by ELB)."""
    lam, elb = server.client("lambda"), server.client("elbv2")
    tg_arn = elb.create_target_group(Name=unique("tg"), TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    function_arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    if qualifier:
        function_arn += f":{qualifier}"
    if permit:
        extra = {"Qualifier": qualifier} if qualifier else {}
        lam.add_permission(FunctionName=function, StatementId=unique("elb"), Action="lambda:InvokeFunction",
                           Principal="elasticloadbalancing.amazonaws.com", SourceArn=tg_arn, **extra)
        elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": function_arn}])
    if multi_value:
        elb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
            {"Key": "lambda.multi_value_headers.enabled", "Value": "true"}])
    return tg_arn


def function_target_group(server: Server, code: str, **kwargs: Any) -> str:
    return lambda_target_group(server, create_function(server.client("lambda"), code), **kwargs)


def make_alb(server: Server, default_action: dict[str, Any]) -> Alb:
    elb = server.client("elbv2")
    lb_arn = elb.create_load_balancer(Name=unique("lb"), Subnets=["subnet-a", "subnet-b"])[
        "LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    listener = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
                                   DefaultActions=[default_action])["Listeners"][0]
    return Alb(elb, lb_arn, listener["ListenerArn"], port)


def forward(tg_arn: str) -> dict[str, Any]:
    return {"Type": "forward", "TargetGroupArn": tg_arn}


def fixed(status: str, body: str = "", content_type: str = "text/plain") -> dict[str, Any]:
    return {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": status, "MessageBody": body,
                                                              "ContentType": content_type}}
