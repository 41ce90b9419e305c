"""Authorization of CloudWatch Logs calls: the log group (or stream) ARN each operation acts on."""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer


def hook(authz: Authorizer, region: str) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        account = principal.account
        group = params.get("logGroupName") or params.get("logGroupIdentifier")
        resource = "*"
        if group:
            resource = f"arn:aws:logs:{region}:{account}:log-group:{group}:*"
            if op == "GetLogEvents" and params.get("logStreamName"):
                resource = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{params['logStreamName']}"
        request.action, request.resource = "logs:" + op, resource
        if principal.is_root:
            return
        authz.authorize(principal, request.action, resource, account, None, request_context(request))

    return authorize
