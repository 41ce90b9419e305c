"""Per-service authorization hooks: each maps an operation and its parameters to the IAM action, the
resource ARN and (where the resource has one) its resource-based policy, then asks the Authorizer.

A hook is `hook(request, operation_name, params)`; codecs call it after parsing the input and before
the handler (`RestJsonService.authorize`, `JsonService.authorize`, `QueryService.authorize`). It also
records `request.action` / `request.resource` for the audit log.

Actions follow the Service Authorization Reference ("Actions, resources, and condition keys for
AWS Lambda", ... ): an operation authorizes the action of the same name, except where noted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lambdad.api.base import ApiRequest, Authorize
from lambdad.auth.authorizer import Authorizer
from lambdad.auth.principal import Principal
from lambdad.control.names import function_arn, parse_function_ref
from lambdad.errors import ApiError

if TYPE_CHECKING:
    from lambdad.control.functions import FunctionRegistry
    from lambdad.control.permissions import Permissions
    from lambdad.services.iam import Iam
    from lambdad.services.sns import SnsService
    from lambdad.services.sqs import SqsService

Hook = Authorize

# Lambda operations whose IAM action has another name.
LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
                  "GetLayerVersionByArn": "GetLayerVersion"}
# Operations that take a FunctionName but authorize on "*" (lambda:FunctionArn is a condition key there).
_LAMBDA_STAR = frozenset({"CreateEventSourceMapping", "ListEventSourceMappings", "ListFunctions",
                          "GetAccountSettings", "ListLayers", "ListLayerVersions", "ListCodeSigningConfigs"})


def request_context(request: ApiRequest) -> dict[str, str | list[str]]:
    return {"aws:SourceIp": (request.client or ("", 0))[0], "aws:SecureTransport": "false"}


def _principal(request: ApiRequest) -> Principal:
    assert request.principal is not None
    return request.principal


# -- Lambda ---------------------------------------------------------------------------------------

def lambda_hook(authz: Authorizer, registry: FunctionRegistry, permissions: Permissions, region: str) -> Hook:

    def target(op: str, params: dict[str, Any], account: str) -> tuple[str, str, Any, str | None]:
        """(resource ARN, its account, function record or None, qualifier)."""
        name = params.get("FunctionName")
        if name and op not in _LAMBDA_STAR:
            try:
                ref = parse_function_ref(str(name), params.get("Qualifier"), account)
            except ApiError:  # the handler answers with the proper validation error
                return function_arn(region, account, str(name)), account, None, None
            return (function_arn(region, ref.account, ref.name, ref.qualifier), ref.account,
                    registry.find(ref.account, ref.name), ref.qualifier)
        resource = params.get("Resource")
        if resource:
            parts = str(resource).split(":")
            return str(resource), parts[4] if len(parts) > 4 and parts[4] else account, None, None
        layer = params.get("LayerName")
        if layer:
            layer = str(layer)
            arn = layer if layer.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:layer:{layer}"
            version = params.get("VersionNumber")
            arn = f"{arn}:{version}" if version is not None else arn
            return arn, arn.split(":")[4] or account, None, None
        arn = params.get("Arn") or params.get("CodeSigningConfigArn")
        if arn:
            parts = str(arn).split(":")
            return str(arn), parts[4] if len(parts) > 4 and parts[4] else account, None, None
        if params.get("UUID"):
            return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{params['UUID']}", account, None, None
        return "*", account, None, None

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = _principal(request)
        action = "lambda:" + LAMBDA_ACTIONS.get(op, op)
        resource, account, rec, qualifier = target(op, params, principal.account)
        request.action, request.resource = action, resource
        if principal.is_root and account == principal.account:
            return
        context = request_context(request)
        if ":layer:" in resource:
            # Other accounts' layers are the layers module's to judge (owner-only operations, layer version
            # policies granting lambda:GetLayerVersion); here the caller's own identity policies must allow.
            if not principal.is_root:
                authz.authorize(principal, action, resource, principal.account, None, context)
            return
        resource_policy = None
        if rec is not None:
            found = permissions.document(rec, None if qualifier == "$LATEST" else qualifier)
            resource_policy = found[0] if found else None
        authz.authorize(principal, action, resource, account, resource_policy, context)
        role = params.get("Role")
        if op in ("CreateFunction", "UpdateFunctionConfiguration") and isinstance(role, str) and role:
            parts = role.split(":")
            authz.authorize(principal, "iam:PassRole", role, parts[4] if len(parts) > 4 else account, None,
                            {**context, "iam:PassedToService": "lambda.amazonaws.com"})

    return authorize


# -- CloudWatch Logs ------------------------------------------------------------------------------

def logs_hook(authz: Authorizer, region: str) -> Hook:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = _principal(request)
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


# -- SQS ------------------------------------------------------------------------------------------

def sqs_hook(authz: Authorizer, sqs: SqsService) -> Hook:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = _principal(request)
        account = principal.account
        resource_policy = None
        if op == "ListQueues":
            resource = "*"
        elif op in ("CreateQueue", "GetQueueUrl"):
            account = str(params.get("QueueOwnerAWSAccountId") or account)
            resource = sqs.arn(account, str(params.get("QueueName", "")))
            queue = sqs.find(resource)
        else:
            ref = str(params.get("QueueUrl") or "")
            queue = sqs.find(ref, account) if ref else None
            if queue is not None:
                resource, account = queue.arn, queue.account
            else:
                segments = [s for s in (urlsplit(ref).path if "://" in ref else ref).split("/") if s]
                if len(segments) == 2:
                    account = segments[0]
                resource = sqs.arn(account, segments[-1] if segments else "")
        if op not in ("ListQueues", "CreateQueue") and queue is not None:
            text = queue.attributes.get("Policy")
            resource_policy = json.loads(text) if text else None
        request.action, request.resource = "sqs:" + op, resource
        if principal.is_root and account == principal.account:
            return
        authz.authorize(principal, request.action, resource, account, resource_policy, request_context(request),
                        code="AccessDenied")

    return authorize


# -- SNS ------------------------------------------------------------------------------------------

def sns_hook(authz: Authorizer, sns: SnsService) -> Hook:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        if request.principal is None:  # an anonymous action (ConfirmSubscription via SubscribeURL)
            request.action, request.resource = "sns:" + op, str(params.get("TopicArn") or "*")
            return
        principal = request.principal
        account = principal.account
        if op == "CreateTopic":
            resource = sns.topic_arn(account, str(params.get("Name", "")))
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


# -- ELBv2 ----------------------------------------------------------------------------------------

_ELBV2_ARN_PARAMS = ("RuleArn", "ListenerArn", "TargetGroupArn", "LoadBalancerArn")


def elbv2_hook(authz: Authorizer) -> Hook:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = _principal(request)
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


# -- IAM ------------------------------------------------------------------------------------------

def iam_resource(iam: Iam, principal: Principal, op: str, params: dict[str, Any]) -> str:
    """The resource an IAM operation acts on (IAM is global: no region in its ARNs)."""
    account = principal.account
    if params.get("PolicyArn") and not any(k in params for k in ("UserName", "RoleName", "GroupName")):
        return str(params["PolicyArn"])
    if params.get("RoleName"):
        role = iam.find_role(account, str(params["RoleName"]))
        return role["Arn"] if role else f"arn:aws:iam::{account}:role{params.get('Path') or '/'}{params['RoleName']}"
    if params.get("GroupName"):
        group = iam._table(account, "group").get(str(params["GroupName"]).lower())
        return group["Arn"] if group else \
            f"arn:aws:iam::{account}:group{params.get('Path') or '/'}{params['GroupName']}"
    if params.get("UserName"):
        user = iam._table(account, "user").get(str(params["UserName"]).lower())
        return user["Arn"] if user else f"arn:aws:iam::{account}:user{params.get('Path') or '/'}{params['UserName']}"
    if op in ("CreatePolicy",) and params.get("PolicyName"):
        return f"arn:aws:iam::{account}:policy{params.get('Path') or '/'}{params['PolicyName']}"
    if op in ("GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey",
              "ListGroupsForUser", "ListUserPolicies", "ListAttachedUserPolicies"):
        return principal.arn  # these act on the caller when no UserName is given
    return "*"


def iam_hook(authz: Authorizer, iam: Iam) -> Hook:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = _principal(request)
        resource = iam_resource(iam, principal, op, params)
        request.action, request.resource = "iam:" + op, resource
        if principal.is_root:
            return
        authz.authorize(principal, request.action, resource, principal.account, None, request_context(request),
                        code="AccessDenied")

    return authorize


# -- STS ------------------------------------------------------------------------------------------

def sts_hook() -> Hook:
    """STS judges in its operations: GetCallerIdentity needs no permission (a Deny cannot stop it),
    AssumeRole is decided with the role's trust policy (`Authorizer.authorize_assume_role`), and
    GetSessionToken is open to IAM users. Here the call is named for the audit log."""

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        request.action = "sts:" + op
        request.resource = str(params.get("RoleArn") or "*") if op == "AssumeRole" else "*"

    return authorize
