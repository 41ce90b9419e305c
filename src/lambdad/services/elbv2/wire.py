"""ELBv2 on the wire: the query protocol (form `Action=<Op>`, XML), from botocore's `elbv2` model.

boto3's `elbv2` client and `aws elbv2` sign with the service name `elasticloadbalancing`, which is
what the app dispatches on. The operations are thin: `services/elbv2/load_balancers.py` holds the domain, and the
records (typed dataclasses) render themselves as the model's shapes (`to_wire()`). Every
ELBv2 error is a Sender fault with HTTP 400 except AccessDenied (403), as botocore's model says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdad import botocore_models
from lambdad.api import query
from lambdad.api.base import ApiRequest, Authorize
from lambdad.errors import ApiError
from lambdad.services.elbv2.load_balancers import Elbv2

# (function ARN, target group ARN) -> whether the function's policy lets ELB invoke it
CanInvoke = Callable[[str, str], bool]


def _missing(operation: str, name: str) -> ApiError:
    member = name[:1].lower() + name[1:]
    return ApiError(f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
                    "Member must not be null", code="ValidationError")


def build(elbv2: Elbv2, can_invoke: CanInvoke, authorize: Authorize | None) -> query.QueryService:
    model = botocore_models.service_model("elbv2")
    # botocore's model marks no member of RulePriorityPair required, but a pair without either one means
    # nothing: AWS answers it with a validation error, not by guessing.
    # The model's constraints (ports, priorities, health-check ranges, status-code patterns, enums, tag
    # lengths) are checked before any handler, in AWS's generated wording (ValidationError).
    svc = query.QueryService(model, missing_parameter=_missing,
                             also_required={"RulePriorityPair": ("RuleArn", "Priority")},
                             validation_code="ValidationError", authorize=authorize)

    def account(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    # -- load balancers ---------------------------------------------------------------------
    @svc.operation("CreateLoadBalancer")
    async def create_load_balancer(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"LoadBalancers": [elbv2.create_load_balancer(account(request), request.region, p).to_wire()]}

    @svc.operation("DescribeLoadBalancers")
    async def describe_load_balancers(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        found = elbv2.describe_load_balancers(account(request), request.region, p.get("LoadBalancerArns"),
                                              p.get("Names"))
        return {"LoadBalancers": [lb.to_wire() for lb in found]}

    @svc.operation("DeleteLoadBalancer")
    async def delete_load_balancer(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.delete_load_balancer(account(request), request.region, p["LoadBalancerArn"])

    # -- target groups ----------------------------------------------------------------------
    @svc.operation("CreateTargetGroup")
    async def create_target_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        tg = elbv2.create_target_group(account(request), request.region, p)
        return {"TargetGroups": [tg.to_wire(elbv2.load_balancers_of(tg.arn))]}

    @svc.operation("DescribeTargetGroups")
    async def describe_target_groups(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"TargetGroups": [tg.to_wire(elbv2.load_balancers_of(tg.arn))
                                 for tg in elbv2.describe_target_groups(account(request), request.region, p)]}

    @svc.operation("DeleteTargetGroup")
    async def delete_target_group(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.delete_target_group(account(request), request.region, p["TargetGroupArn"])

    @svc.operation("DescribeTargetGroupAttributes")
    async def describe_target_group_attributes(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": elbv2.attributes(account(request), request.region, p["TargetGroupArn"])}

    @svc.operation("ModifyTargetGroupAttributes")
    async def modify_target_group_attributes(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": elbv2.modify_attributes(account(request), request.region, p["TargetGroupArn"],
                                                      p["Attributes"])}

    @svc.operation("RegisterTargets")
    async def register_targets(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.register_targets(account(request), request.region, p["TargetGroupArn"], p["Targets"], can_invoke)

    @svc.operation("DeregisterTargets")
    async def deregister_targets(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.deregister_targets(account(request), request.region, p["TargetGroupArn"], p["Targets"])

    @svc.operation("DescribeTargetHealth")
    async def describe_target_health(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        found = elbv2.target_health(account(request), request.region, p["TargetGroupArn"])
        wanted = {t["Id"] for t in p.get("Targets") or []}
        if wanted:
            found = [d for d in found if d["Target"]["Id"] in wanted]
        return {"TargetHealthDescriptions": found}

    # -- listeners --------------------------------------------------------------------------
    @svc.operation("CreateListener")
    async def create_listener(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Listeners": [elbv2.create_listener(account(request), request.region, p).to_wire()]}

    @svc.operation("DescribeListeners")
    async def describe_listeners(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        found = elbv2.describe_listeners(account(request), request.region, p.get("LoadBalancerArn"),
                                         p.get("ListenerArns"))
        return {"Listeners": [li.to_wire() for li in found]}

    @svc.operation("ModifyListener")
    async def modify_listener(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Listeners": [elbv2.modify_listener(account(request), request.region, p).to_wire()]}

    @svc.operation("DeleteListener")
    async def delete_listener(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.delete_listener(account(request), request.region, p["ListenerArn"])

    # -- rules ------------------------------------------------------------------------------
    @svc.operation("CreateRule")
    async def create_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Rules": [elbv2.create_rule(account(request), request.region, p).to_wire()]}

    @svc.operation("DescribeRules")
    async def describe_rules(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        found = elbv2.describe_rules(account(request), request.region, p.get("ListenerArn"), p.get("RuleArns"))
        return {"Rules": [rule.to_wire() for rule in found]}

    @svc.operation("ModifyRule")
    async def modify_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Rules": [elbv2.modify_rule(account(request), request.region, p).to_wire()]}

    @svc.operation("DeleteRule")
    async def delete_rule(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.delete_rule(account(request), request.region, p["RuleArn"])

    @svc.operation("SetRulePriorities")
    async def set_rule_priorities(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rules = elbv2.set_rule_priorities(account(request), request.region, p["RulePriorities"])
        return {"Rules": [rule.to_wire() for rule in rules]}

    # -- tags -------------------------------------------------------------------------------
    @svc.operation("AddTags")
    async def add_tags(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.add_tags(account(request), request.region, p["ResourceArns"], p["Tags"])

    @svc.operation("RemoveTags")
    async def remove_tags(request: ApiRequest, p: dict[str, Any]) -> None:
        elbv2.remove_tags(account(request), request.region, p["ResourceArns"], p["TagKeys"])

    @svc.operation("DescribeTags")
    async def describe_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"TagDescriptions": elbv2.tags(account(request), request.region, p["ResourceArns"])}

    return svc
