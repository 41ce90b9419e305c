"""Authorization of SNS calls: the topic ARN each operation acts on and the topic's policy."""

from __future__ import annotations

import json
from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context
from lambdad.auth.authorizer import Authorizer
from lambdad.services.sns.topics import SnsService


def hook(authz: Authorizer, sns: SnsService) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        if request.principal is None:  # an anonymous action (ConfirmSubscription via SubscribeURL)
            request.action, request.resource = "sns:" + op, str(params.get("TopicArn") or "*")
            return
        principal = request.principal
        account = principal.account
        if op == "CreateTopic":
            resource = sns.topic_arn(account, request.region, str(params.get("Name", "")))
        else:
            resource = str(params.get("TopicArn") or params.get("ResourceArn") or params.get("SubscriptionArn")
                           or "*")
            if op in ("GetSubscriptionAttributes", "SetSubscriptionAttributes", "Unsubscribe") and \
                    resource.count(":") == 6:
                resource = resource.rsplit(":", 1)[0]  # a subscription is authorized on its topic
        parts = resource.split(":")
        if len(parts) > 4 and parts[4]:
            account = parts[4]
        topic = sns.topics.get(resource)
        text = topic.attributes.get("Policy") if topic is not None else None
        request.action, request.resource = "sns:" + op, resource
        if principal.is_root and account == principal.account:
            return
        authz.authorize(principal, request.action, resource, account, json.loads(text) if text else None,
                        request_context(request), code="AuthorizationError")

    return authorize
