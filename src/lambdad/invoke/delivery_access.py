"""May a function's execution role deliver to a target? Lambda sends destination records and
dead-letter messages as the execution role, so the role must allow sqs:SendMessage, sns:Publish,
lambda:InvokeFunction or events:PutEvents on the target, and a target of another account must allow
it too (its resource-based policy). Checked when the configuration is set and again at delivery."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambdad.auth import policy
from lambdad.auth.authorizer import Authorizer
from lambdad.control.functions import FunctionRegistry
from lambdad.control.names import parse_function_ref
from lambdad.control.permissions import Permissions
from lambdad.errors import ApiError
from lambdad.services.sns.topics import SnsService
from lambdad.services.sqs.queues import SqsService

DELIVERY_ACTIONS = {"sqs": "SendMessage", "sns": "Publish", "lambda": "InvokeFunction", "events": "PutEvents"}
#: (role ARN, function name, target ARN) -> None if the role may deliver there, else the API it may not call
DeliveryCheck = Callable[[str, str, str], str | None]


class DeliveryAccess:
    def __init__(self, authorizer: Authorizer, sqs: SqsService, sns: SnsService, registry: FunctionRegistry,
                 permissions: Permissions, *, require_existing_roles: bool, default_account: str) -> None:
        self.authorizer = authorizer
        self.sqs = sqs
        self.sns = sns
        self.registry = registry
        self.permissions = permissions
        self.require_existing_roles = require_existing_roles
        self.default_account = default_account

    def denied_action(self, role_arn: str, function_name: str, target: str) -> str | None:
        service = target.split(":")[2] if target.count(":") >= 5 else ""
        api = DELIVERY_ACTIONS.get(service)
        if api is None:
            return None  # not a target Lambda can deliver to; validation says so
        allowed = self.authorizer.execution_role_allowed(role_arn, function_name, f"{service}:{api}", target,
                                                         self._resource_policy(service, target))
        if allowed is None:
            # No such role: with require_existing_roles off a function may name any role, and its deliveries
            # keep working (nothing to judge them by); otherwise the role is gone and allows nothing.
            allowed = not self.require_existing_roles
        return None if allowed else api

    def service_may_deliver(self, service_principal: str, target: str, source_arn: str) -> bool:
        """Whether a service (events.amazonaws.com for an EventBridge rule) may send to an SQS queue or SNS
        topic from `source_arn`: the target's resource-based policy must allow it, as on AWS."""
        service = target.split(":")[2] if target.count(":") >= 5 else ""
        api = DELIVERY_ACTIONS.get(service)
        if api is None:
            return False
        parts = source_arn.split(":")
        ctx = policy.RequestContext("", target.split(":")[4], f"{service}:{api}", target, target.split(":")[4],
                                    {"aws:SourceArn": source_arn, "aws:SourceAccount": parts[4] if len(parts) > 4
                                     else ""}, principal_service=service_principal)
        return policy.evaluate(ctx, [], self._resource_policy(service, target)) is policy.Decision.ALLOW

    def _resource_policy(self, service: str, target: str) -> dict[str, Any] | None:
        text = None
        if service == "sqs":
            queue = self.sqs.find(target)
            text = queue.attributes.get("Policy") if queue is not None else None
        elif service == "sns":
            topic = self.sns.topics.get(target)
            text = topic.attributes.get("Policy") if topic is not None else None
        elif service == "lambda":
            try:
                parts = target.split(":")
                ref = parse_function_ref(target, None, self.default_account,
                                         region=parts[3] if len(parts) > 3 else self.registry.default_region)
            except ApiError:
                return None
            rec = self.registry.find(ref.account, ref.region, ref.name)
            found = self.permissions.document(rec, ref.qualifier) if rec is not None else None
            return found[0] if found else None
        return json.loads(text) if text else None
