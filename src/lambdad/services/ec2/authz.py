"""Authorization of EC2 calls, after AWS's Service Authorization Reference: `ec2:<Operation>` on the
ARNs of the resources the call names (`arn:aws:ec2:<region>:<account>:vpc/vpc-...`); a create is
also on `<type>/*`; the Describe operations take no resource (`*`). EC2 ids carry no account: a call
only ever reaches its caller's own resources (another account's id is not found), so the resource
account is always the caller's. A denial is EC2's `UnauthorizedOperation` (403).
"""

from __future__ import annotations

from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.errors import AccessDeniedException, Ec2Error
from lambdad.services.ec2.network import PREFIXES

# parameters that name a resource -> its ARN resource type
_ID_PARAMS = {"VpcId": "vpc", "SubnetId": "subnet", "GroupId": "security-group",
              "InternetGatewayId": "internet-gateway", "NatGatewayId": "natgateway", "RouteTableId": "route-table",
              "AllocationId": "elastic-ip"}
_CREATES = {"CreateVpc": "vpc", "CreateSubnet": "subnet", "CreateSecurityGroup": "security-group",
            "CreateInternetGateway": "internet-gateway", "CreateNatGateway": "natgateway",
            "CreateRouteTable": "route-table", "AllocateAddress": "elastic-ip"}
_MAX_CHECKED = 50  # CreateTags on many resources: each is checked, up to the API's own limit of sense


def resources(op: str, params: dict[str, Any], region: str, account: str) -> list[str]:
    if op.startswith("Describe"):
        return ["*"]
    base = f"arn:aws:ec2:{region}:{account}:"
    out = []
    if op in _CREATES:
        out.append(f"{base}{_CREATES[op]}/*")
    for param, kind in _ID_PARAMS.items():
        value = params.get(param)
        if isinstance(value, str) and value:
            out.append(f"{base}{kind}/{value}")
    for ident in (params.get("Resources") or [])[:_MAX_CHECKED]:
        kind = PREFIXES.get(str(ident).split("-", 1)[0], ("",))[0]
        if kind:
            out.append(f"{base}{kind}/{ident}")
    return out or ["*"]


def hook(authz: Authorizer) -> Authorize:

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        principal = signer(request)
        request.action = "ec2:" + op
        arns = resources(op, params, request.region, principal.account)
        request.resource = arns[0]
        if principal.is_root:
            return  # only the caller's own resources are reachable (see above)
        for arn in arns:
            try:
                authz.authorize(principal, request.action, arn, principal.account, None, request_context(request))
            except AccessDeniedException as exc:
                raise Ec2Error(f"You are not authorized to perform this operation. {exc.message}",
                               code="UnauthorizedOperation", status=403) from None

    return authorize
