"""Access rules that are not one API call's authorization: may an AWS service invoke a function
(SNS, ELB, later every event source), may a caller see a function's environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdad.auth import policy
from lambdad.auth.authorizer import Authorizer
from lambdad.auth.principal import Principal


def service_may_invoke(resource_policy: Mapping[str, Any] | None, function_arn: str, function_account: str,
                       service: str, source_arn: str, source_account: str | None = None) -> bool:
    """Whether the service principal (`sns.amazonaws.com`, ...) may invoke the function from source_arn:
    only the function's resource policy can allow it, as on AWS. `source_account` defaults to the
    source ARN's account (S3's ARNs name none: S3 passes the bucket owner's)."""
    return service_allowed(resource_policy, "lambda:InvokeFunction", function_arn, function_account, service,
                           source_arn, source_account)


def service_allowed(resource_policy: Mapping[str, Any] | None, action: str, resource_arn: str,
                    resource_account: str, service: str, source_arn: str, source_account: str | None = None) -> bool:
    """Whether a resource's policy lets an AWS service principal act on it on behalf of `source_arn`
    (S3 sending a bucket's notifications to a queue or a topic)."""
    if source_account is None:
        parts = source_arn.split(":")
        source_account = parts[4] if len(parts) > 5 else ""
    ctx = policy.RequestContext("", resource_account, action, resource_arn, resource_account,
                                {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account},
                                principal_service=service)
    return policy.evaluate(ctx, [], resource_policy) is policy.Decision.ALLOW


def environment_visible(authorizer: Authorizer, principal: Principal | None, function_arn: str,
                        function_account: str, resource_policy: Mapping[str, Any] | None,
                        context: dict[str, str | list[str]]) -> bool:
    """Whether a caller may read a function's environment variables (lambda:GetFunctionConfiguration)."""
    if principal is None or (principal.is_root and principal.account == function_account):
        return True
    return authorizer.allowed(principal, "lambda:GetFunctionConfiguration", function_arn, function_account,
                              resource_policy, context)
