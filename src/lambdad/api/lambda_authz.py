"""Authorization of Lambda API calls: each operation's IAM action, resource ARN and (for functions) the
function's resource policy, judged by the Authorizer. Actions follow the Service Authorization
Reference ("Actions, resources, and condition keys for AWS Lambda"): an operation authorizes the action
of the same name, except where noted."""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.control.functions import FunctionRegistry
from lambdad.control.names import function_arn, parse_function_ref
from lambdad.control.permissions import Permissions
from lambdad.errors import ApiError

# Lambda operations whose IAM action has another name.
LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
                  "GetLayerVersionByArn": "GetLayerVersion"}
# Operations that take a FunctionName but authorize on "*" (lambda:FunctionArn is a condition key there).
_LAMBDA_STAR = frozenset({"CreateEventSourceMapping", "ListEventSourceMappings", "ListFunctions",
                          "GetAccountSettings", "ListLayers", "ListLayerVersions", "ListCodeSigningConfigs"})


def hook(authz: Authorizer, registry: FunctionRegistry, permissions: Permissions) -> Authorize:

    def target(op: str, params: dict[str, Any], account: str,
               region: str) -> tuple[str, str, tuple[str, str, str] | None, str | None]:
        """(resource ARN, its account, (account, region, name) of the function it names or None, qualifier). The
        function is looked up only when a policy is judged: the root fast path reads no registry."""
        name = params.get("FunctionName")
        if name and op not in _LAMBDA_STAR:
            try:
                ref = parse_function_ref(str(name), params.get("Qualifier"), account, region=region)
            except ApiError:  # the handler answers with the proper validation error
                return function_arn(region, account, str(name)), account, None, None
            return (function_arn(ref.region, ref.account, ref.name, ref.qualifier), ref.account,
                    (ref.account, ref.region, ref.name), ref.qualifier)
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
        given = params.get("Arn") or params.get("CodeSigningConfigArn")
        if given:
            parts = str(given).split(":")
            return str(given), parts[4] if len(parts) > 4 and parts[4] else account, None, None
        if params.get("UUID"):
            return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{params['UUID']}", account, None, None
        return "*", account, None, None

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        action = "lambda:" + LAMBDA_ACTIONS.get(op, op)
        resource, account, function, qualifier = target(op, params, principal.account, request.region)
        request.action, request.resource = action, resource
        key_arn = params.get("KMSKeyArn")
        if op in ("CreateFunction", "UpdateFunctionConfiguration") and key_arn and registry.env_keys is not None:
            # Lambda creates its grant on the key with the caller's permissions: even the root needs the key's leave.
            registry.env_keys.check_caller(principal, request.region, str(key_arn))
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
        rec = registry.find(*function) if function is not None else None
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
