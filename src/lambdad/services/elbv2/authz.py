"""Authorization of ELBv2 calls: the load balancer, listener, rule or target group ARNs named."""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer

_ELBV2_ARN_PARAMS = ("RuleArn", "ListenerArn", "TargetGroupArn", "LoadBalancerArn")


def hook(authz: Authorizer) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        resources = [str(params[k]) for k in _ELBV2_ARN_PARAMS if params.get(k)][:1]
        resources += [str(arn) for arn in params.get("ResourceArns") or []]
        request.action = "elasticloadbalancing:" + op
        request.resource = resources[0] if resources else "*"
        for resource in resources or ["*"]:
            parts = resource.split(":")
            account = parts[4] if len(parts) > 4 and parts[4] else principal.account
            if principal.is_root and account == principal.account:
                continue
            authz.authorize(principal, request.action, resource, account, None, request_context(request),
                            code="AccessDenied")

    return authorize
