"""Authorization of EventBridge Scheduler calls: the schedule or schedule group ARN each acts on
(Scheduler has no resource policies: another account's schedules are never reachable)."""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.errors import EventsError


def hook(authz: Authorizer) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        account, region = principal.account, request.region
        if op in ("TagResource", "UntagResource", "ListTagsForResource"):
            resource = str(params.get("ResourceArn", ""))
            parts = resource.split(":")
            if len(parts) > 4 and parts[4]:
                account = parts[4]
        elif op.endswith("ScheduleGroup"):
            resource = f"arn:aws:scheduler:{region}:{account}:schedule-group/{params.get('Name', '')}"
        elif op.endswith("Schedule"):
            group = params.get("GroupName") or "default"
            resource = f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{params.get('Name', '')}"
        else:
            resource = "*"
        request.action, request.resource = "scheduler:" + op, resource
        if principal.is_root and account == principal.account:
            return
        authz.authorize(principal, request.action, resource, account, None, request_context(request),
                        error=EventsError, code="AccessDeniedException")

    return authorize
