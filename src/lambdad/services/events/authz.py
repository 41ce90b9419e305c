"""Authorization of EventBridge calls: the bus or rule ARN each operation acts on, and the bus's
resource policy (PutPermission) for callers from another account."""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.errors import ApiError, EventsError
from lambdad.services.events.buses import EventBridge

_BUS_NAMED_BY_NAME = ("CreateEventBus", "DescribeEventBus", "DeleteEventBus", "UpdateEventBus")
_RULE_OPS = ("PutRule", "DescribeRule", "EnableRule", "DisableRule", "DeleteRule", "PutTargets", "RemoveTargets",
             "ListTargetsByRule")


def hook(authz: Authorizer, eb: EventBridge) -> Authorize:

    def check(request: ApiRequest, action: str, resource: str, account: str, policy: Any) -> None:
        principal = signer(request)
        if principal.is_root and account == principal.account:
            return
        try:
            authz.authorize(principal, action, resource, account, policy, request_context(request),
                            error=EventsError, code="AccessDeniedException")
        except ApiError as exc:
            exc.status = 400  # EventBridge answers AccessDeniedException with 400
            raise

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        action = "events:" + op
        region = request.region
        if op == "PutEvents":
            seen: set[str] = set()
            for entry in params.get("Entries") or []:
                account, bus_region, name = eb.resolve_bus(principal.account, region, entry.get("EventBusName"))
                arn = eb.bus_arn(account, bus_region, name)
                if arn in seen:
                    continue
                seen.add(arn)
                bus = eb.buses.get(arn)
                request.action, request.resource = action, arn
                check(request, action, arn, account, bus.policy if bus is not None else None)
            request.action, request.resource = action, ",".join(sorted(seen)) or "*"
            return
        if op in ("TagResource", "UntagResource", "ListTagsForResource"):
            resource = str(params.get("ResourceARN", ""))
            parts = resource.split(":")
            account = parts[4] if len(parts) > 4 and parts[4] else principal.account
            request.action, request.resource = action, resource
            check(request, action, resource, account, None)
            return
        if op in ("ListEventBuses", "TestEventPattern"):
            request.action, request.resource = action, "*"
            check(request, action, "*", principal.account, None)
            return
        key = "Name" if op in _BUS_NAMED_BY_NAME else "EventBusName"
        account, bus_region, name = eb.resolve_bus(principal.account, region, params.get(key))
        bus_arn = eb.bus_arn(account, bus_region, name)
        bus = eb.buses.get(bus_arn)
        resource = bus_arn
        if op in _RULE_OPS:
            rule_name = str(params.get("Name") or params.get("Rule") or "")
            path = rule_name if name == "default" else f"{name}/{rule_name}"
            resource = f"arn:aws:events:{bus_region}:{account}:rule/{path}"
        elif op in ("ListRules", "ListRuleNamesByTarget"):
            resource = f"arn:aws:events:{bus_region}:{account}:rule/*"
        request.action, request.resource = action, resource
        check(request, action, resource, account, bus.policy if bus is not None else None)

    return authorize
