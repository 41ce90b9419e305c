"""EC2 on the wire: the `ec2` protocol (query-style `Action=<Op>` requests, XML answers with
`requestId` and `<item>` lists, errors as `<Response><Errors><Error>`), from botocore's `ec2` model
through `api/query.py`'s EC2 variant. The operations are thin: `services/ec2/network.py` holds the
domain, the records render themselves as the model's shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdad import botocore_models
from lambdad.api import query
from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.errors import ApiError, AuthError, Ec2Error
from lambdad.services.ec2.network import Ec2

# EC2's namespace as its answers spell it (botocore's model leaves off the trailing slash).
XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"


# Every operation `build` serves (benchmarks/fuzz.py fuzzes these; `build` checks the list is whole).
SERVED = frozenset({
    "CreateVpc", "DescribeVpcs", "DeleteVpc", "DescribeVpcAttribute", "ModifyVpcAttribute",
    "CreateSubnet", "DescribeSubnets", "DeleteSubnet", "ModifySubnetAttribute",
    "CreateSecurityGroup", "DescribeSecurityGroups", "DeleteSecurityGroup", "DescribeSecurityGroupRules",
    "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress", "CreateInternetGateway", "AttachInternetGateway", "DetachInternetGateway",
    "DeleteInternetGateway", "DescribeInternetGateways", "AllocateAddress", "ReleaseAddress", "DescribeAddresses",
    "CreateNatGateway", "DescribeNatGateways", "DeleteNatGateway", "CreateRouteTable", "DescribeRouteTables",
    "DeleteRouteTable", "CreateRoute", "DeleteRoute", "AssociateRouteTable", "DisassociateRouteTable",
    "DescribeNetworkInterfaces", "DescribeAvailabilityZones", "CreateTags", "DeleteTags", "DescribeTags"})


def _missing(operation: str, name: str) -> ApiError:
    return Ec2Error(f"The request must contain the parameter {name}", code="MissingParameter")


def render_error(exc: ApiError, request: ApiRequest) -> ApiResponse:
    if isinstance(exc, AuthError) and exc.code == "UnrecognizedClientException":
        # EC2's answer to an access key it does not know (a bad signature stays SignatureDoesNotMatch).
        exc = AuthError("AWS was not able to validate the provided access credentials", code="AuthFailure",
                        status=401)
    return query.render_error(exc, request.request_id, XMLNS, ec2=True)


def build(ec2: Ec2, authorize: Authorize | None) -> query.QueryService:
    model = botocore_models.service_model("ec2")
    svc = query.QueryService(model, XMLNS, missing_parameter=_missing, authorize=authorize)

    def where(request: ApiRequest) -> tuple[str, str]:
        assert request.principal is not None
        return request.principal.account, request.region

    def dry_run(p: dict[str, Any]) -> None:
        # Authorization already passed (the hook runs before the operation): AWS's answer to a
        # permitted dry run is this error.
        if p.get("DryRun"):
            raise Ec2Error("Request would have succeeded, but DryRun flag is set.", code="DryRunOperation",
                           status=412)

    def creation(operation: str, member: str, create: Callable[[str, str, dict[str, Any]], Any]) -> None:
        """An operation answering the record it made, e.g. CreateVpc -> {"Vpc": ...}."""
        @svc.operation(operation)
        async def handler(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            dry_run(p)
            return {member: create(*where(request), p).to_wire()}

    def listing(operation: str, member: str, describe: Callable[[str, str, dict[str, Any]], tuple[list[Any], Any]],
                records: bool = True) -> None:
        """A Describe* operation answering one page (records rendered, or already in wire form) and its token."""
        @svc.operation(operation)
        async def handler(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            dry_run(p)
            found, token = describe(*where(request), p)
            return {member: [r.to_wire() for r in found] if records else found, "NextToken": token}

    def action(operation: str, act: Callable[[str, str, dict[str, Any]], Any]) -> None:
        """An operation whose answer is empty (its success is the status)."""
        @svc.operation(operation)
        async def handler(request: ApiRequest, p: dict[str, Any]) -> None:
            dry_run(p)
            act(*where(request), p)

    # -- VPCs --------------------------------------------------------------------------------
    creation("CreateVpc", "Vpc", ec2.create_vpc)
    listing("DescribeVpcs", "Vpcs", ec2.describe_vpcs)

    @svc.operation("DeleteVpc")
    async def delete_vpc(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.delete_vpc(*where(request), p["VpcId"])

    # -- subnets -----------------------------------------------------------------------------
    creation("CreateSubnet", "Subnet", ec2.create_subnet)
    listing("DescribeSubnets", "Subnets", ec2.describe_subnets)

    @svc.operation("DeleteSubnet")
    async def delete_subnet(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.delete_subnet(*where(request), p["SubnetId"])

    # -- security groups ---------------------------------------------------------------------
    @svc.operation("CreateSecurityGroup")
    async def create_security_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        group = ec2.create_security_group(*where(request), p)
        wire = group.to_wire()
        return {"GroupId": group.id, "Tags": wire["Tags"], "SecurityGroupArn": group.arn}

    listing("DescribeSecurityGroups", "SecurityGroups", ec2.describe_security_groups)

    @svc.operation("DeleteSecurityGroup")
    async def delete_security_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"Return": True, "GroupId": ec2.delete_security_group(*where(request), p).id}

    @svc.operation("AuthorizeSecurityGroupIngress")
    async def authorize_ingress(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"Return": True, "SecurityGroupRules": ec2.authorize(*where(request), p, egress=False)}

    @svc.operation("AuthorizeSecurityGroupEgress")
    async def authorize_egress(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"Return": True, "SecurityGroupRules": ec2.authorize(*where(request), p, egress=True)}

    @svc.operation("RevokeSecurityGroupIngress")
    async def revoke_ingress(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"Return": True, "RevokedSecurityGroupRules": ec2.revoke(*where(request), p, egress=False)}

    @svc.operation("RevokeSecurityGroupEgress")
    async def revoke_egress(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"Return": True, "RevokedSecurityGroupRules": ec2.revoke(*where(request), p, egress=True)}

    listing("DescribeSecurityGroupRules", "SecurityGroupRules", ec2.describe_security_group_rules, records=False)

    # -- internet gateways -------------------------------------------------------------------
    creation("CreateInternetGateway", "InternetGateway", ec2.create_internet_gateway)

    @svc.operation("AttachInternetGateway")
    async def attach_internet_gateway(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.attach_internet_gateway(*where(request), p["InternetGatewayId"], p["VpcId"])

    @svc.operation("DetachInternetGateway")
    async def detach_internet_gateway(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.detach_internet_gateway(*where(request), p["InternetGatewayId"], p["VpcId"])

    @svc.operation("DeleteInternetGateway")
    async def delete_internet_gateway(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.delete_internet_gateway(*where(request), p["InternetGatewayId"])

    listing("DescribeInternetGateways", "InternetGateways", ec2.describe_internet_gateways)

    # -- NAT gateways ------------------------------------------------------------------------
    @svc.operation("CreateNatGateway")
    async def create_nat_gateway(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        out: dict[str, Any] = {"NatGateway": ec2.create_nat_gateway(*where(request), p).to_wire()}
        if p.get("ClientToken"):
            out["ClientToken"] = p["ClientToken"]
        return out

    listing("DescribeNatGateways", "NatGateways", ec2.describe_nat_gateways)

    @svc.operation("DeleteNatGateway")
    async def delete_nat_gateway(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"NatGatewayId": ec2.delete_nat_gateway(*where(request), p["NatGatewayId"])}

    # -- attributes and Elastic IP addresses -------------------------------------------------
    @svc.operation("DescribeVpcAttribute")
    async def describe_vpc_attribute(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return ec2.describe_vpc_attribute(*where(request), p["VpcId"], p["Attribute"])

    action("ModifyVpcAttribute", ec2.modify_vpc_attribute)
    action("ModifySubnetAttribute", ec2.modify_subnet_attribute)

    @svc.operation("AllocateAddress")
    async def allocate_address(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        wire = ec2.allocate_address(*where(request), p).to_wire()
        return {k: wire[k] for k in ("AllocationId", "PublicIp", "Domain", "PublicIpv4Pool", "NetworkBorderGroup")}

    action("ReleaseAddress", ec2.release_address)

    @svc.operation("DescribeAddresses")
    async def describe_addresses(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"Addresses": [a.to_wire() for a in ec2.describe_addresses(*where(request), p)]}

    # -- route tables ------------------------------------------------------------------------
    @svc.operation("CreateRouteTable")
    async def create_route_table(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        account, region = where(request)
        table = ec2.create_route_table(account, region, p)
        return {"RouteTable": table.to_wire(ec2.route_states(ec2.region(account, region)))}

    @svc.operation("DescribeRouteTables")
    async def describe_route_tables(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        account, region = where(request)
        found, token = ec2.describe_route_tables(account, region, p)
        states = ec2.route_states(ec2.region(account, region))
        return {"RouteTables": [t.to_wire(states) for t in found], "NextToken": token}

    @svc.operation("DeleteRouteTable")
    async def delete_route_table(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.delete_route_table(*where(request), p["RouteTableId"])

    @svc.operation("CreateRoute")
    async def create_route(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        ec2.create_route(*where(request), p)
        return {"Return": True}

    action("DeleteRoute", ec2.delete_route)

    @svc.operation("AssociateRouteTable")
    async def associate_route_table(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"AssociationId": ec2.associate_route_table(*where(request), p),
                "AssociationState": {"State": "associated"}}

    @svc.operation("DisassociateRouteTable")
    async def disassociate_route_table(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.disassociate_route_table(*where(request), p["AssociationId"])

    # -- interfaces, zones, tags -------------------------------------------------------------
    listing("DescribeNetworkInterfaces", "NetworkInterfaces", ec2.describe_network_interfaces, records=False)

    @svc.operation("DescribeAvailabilityZones")
    async def describe_availability_zones(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        dry_run(p)
        return {"AvailabilityZones": ec2.describe_availability_zones(request.region, p)}

    @svc.operation("CreateTags")
    async def create_tags(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.create_tags(*where(request), p["Resources"], p["Tags"])

    @svc.operation("DeleteTags")
    async def delete_tags(request: ApiRequest, p: dict[str, Any]) -> None:
        dry_run(p)
        ec2.delete_tags(*where(request), p["Resources"], p.get("Tags"))

    listing("DescribeTags", "Tags", ec2.describe_tags, records=False)

    assert set(svc.operations) == SERVED, set(svc.operations) ^ SERVED
    return svc
