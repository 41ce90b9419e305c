"""Authorization of CloudWatch calls: the IAM action `cloudwatch:<Operation>` on the alarm ARNs an
alarm operation names, `*` for the metric operations (AWS's Service Authorization Reference gives
them no resource). Every operation acts in the caller's own account and region, so another
account's metrics and alarms are never reachable; root of the account passes at once.
"""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer

_BY_NAME = {"PutMetricAlarm", "SetAlarmState", "DescribeAlarmHistory"}
_BY_NAMES = {"DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions", "DescribeAlarms"}
_BY_ARN = {"TagResource", "UntagResource", "ListTagsForResource"}


def hook(authz: Authorizer) -> Authorize:

    def resources(request: ApiRequest, op: str, params: dict[str, Any], account: str) -> list[str]:
        def alarm(name: Any) -> str:
            return f"arn:aws:cloudwatch:{request.region}:{account}:alarm:{name}"

        if op in _BY_NAME and isinstance(params.get("AlarmName"), str):
            return [alarm(params["AlarmName"])]
        if op in _BY_NAMES and params.get("AlarmNames"):
            return [alarm(n) for n in params["AlarmNames"]]
        if op in _BY_ARN and isinstance(params.get("ResourceARN"), str):
            return [params["ResourceARN"]]
        return ["*"]

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        touched = resources(request, op, params, principal.account)
        request.action, request.resource = "cloudwatch:" + op, touched[0]
        if principal.is_root:
            return  # everything it can name is its own account's
        for arn in touched:
            authz.authorize(principal, request.action, arn, principal.account, None, request_context(request),
                            code="AccessDenied")

    return authorize
