"""Authorization of IAM and STS calls (IAM is global: no region in its ARNs)."""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.auth.principal import Principal
from lambdad.services.iam.identities import Iam


def iam_resource(iam: Iam, principal: Principal, op: str, params: dict[str, Any]) -> str:
    """The resource an IAM operation acts on (IAM is global: no region in its ARNs)."""
    account = principal.account
    if params.get("PolicyArn") and not any(k in params for k in ("UserName", "RoleName", "GroupName")):
        return str(params["PolicyArn"])
    if params.get("SAMLProviderArn"):
        return str(params["SAMLProviderArn"])
    if op == "CreateSAMLProvider" and isinstance(params.get("Name"), str):
        return f"arn:aws:iam::{account}:saml-provider/{params['Name']}"
    if params.get("OpenIDConnectProviderArn"):
        return str(params["OpenIDConnectProviderArn"])
    if op == "CreateOpenIDConnectProvider" and isinstance(params.get("Url"), str):
        return f"arn:aws:iam::{account}:oidc-provider/{params['Url'].removeprefix('https://').rstrip('/')}"
    if params.get("InstanceProfileName"):
        return f"arn:aws:iam::{account}:instance-profile{params.get('Path') or '/'}{params['InstanceProfileName']}"
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


def iam(authz: Authorizer, iam: Iam) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        resource = iam_resource(iam, principal, op, params)
        request.action, request.resource = "iam:" + op, resource
        if principal.is_root:
            return
        authz.authorize(principal, request.action, resource, principal.account, None, request_context(request),
                        code="AccessDenied")

    return authorize


def sts() -> Authorize:
    """STS judges in its operations: GetCallerIdentity needs no permission (a Deny cannot stop it),
    AssumeRole is decided with the role's trust policy (`Authorizer.authorize_assume_role`), and
    GetSessionToken is open to IAM users. Here the call is named for the audit log."""

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        request.action = "sts:" + op
        request.resource = str(params.get("RoleArn") or "*") if op == "AssumeRole" else "*"

    return authorize
