"""Authorization of SQS calls: the queue ARN each operation acts on and the queue's policy."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.services.sqs.queues import SqsService


def hook(authz: Authorizer, sqs: SqsService) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        account = principal.account
        resource_policy = None
        if op == "ListQueues":
            resource = "*"
        elif op in ("CreateQueue", "GetQueueUrl"):
            account = str(params.get("QueueOwnerAWSAccountId") or account)
            resource = sqs.arn(account, request.region, str(params.get("QueueName", "")))
            queue = sqs.find(resource)
        else:
            ref = str(params.get("QueueUrl") or "")
            queue = sqs.find(ref, account, request.region) if ref else None
            if queue is not None:
                resource, account = queue.arn, queue.account
            else:
                segments = [s for s in (urlsplit(ref).path if "://" in ref else ref).split("/") if s]
                if len(segments) == 2:
                    account = segments[0]
                resource = sqs.arn(account, request.region, segments[-1] if segments else "")
        if op not in ("ListQueues", "CreateQueue") and queue is not None:
            text = queue.attributes.get("Policy")
            resource_policy = json.loads(text) if text else None
        request.action, request.resource = "sqs:" + op, resource
        if principal.is_root and account == principal.account:
            return
        authz.authorize(principal, request.action, resource, account, resource_policy, request_context(request),
                        code="AccessDenied")

    return authorize
