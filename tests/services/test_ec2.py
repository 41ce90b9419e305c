"""EC2's VPC subset through unmodified boto3 and the AWS CLI: VPCs, subnets, security groups and
their rules, internet and NAT gateways, route tables, tags, filters and pagination, the default VPC,
EC2's own error codes, another account's resources, malformed input, and durability."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.auth.test_authz import _create_account, _parse_keys, _user
from tests.conftest import (
    ACCESS_KEY,
    ACCOUNT,
    REGION,
    ROLE,
    SECRET_KEY,
    Server,
    api_error,
    free_port,
    make_zip,
    server_env,
    unique,
)
from tests.services.conftest import aws_cli


@pytest.fixture(scope="module")
def ec2(server: Server) -> Any:
    return server.client("ec2")


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def _vpc(ec2: Any, cidr: str = "10.0.0.0/16", **kwargs: Any) -> dict[str, Any]:
    return ec2.create_vpc(CidrBlock=cidr, **kwargs)["Vpc"]


def _named(name: str, kind: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


# -- the default VPC ------------------------------------------------------------------------------

def test_the_default_vpc_is_there_as_on_aws(ec2: Any) -> None:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    vpc = vpcs[0]
    assert vpc["CidrBlock"] == "172.31.0.0/16" and vpc["IsDefault"] is True and vpc["State"] == "available"
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", vpc["VpcId"]) and vpc["OwnerId"] == ACCOUNT
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    assert zones == [f"{REGION}{c}" for c in "abcdef"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == zones
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] and s["CidrBlock"].endswith("/20")
               and s["AvailableIpAddressCount"] == 4091 for s in subnets)
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    default = groups[0]
    assert default["IpPermissions"][0]["IpProtocol"] == "-1"
    assert default["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == default["GroupId"]
    assert default["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    assert len(tables) == 1 and tables[0]["Associations"][0]["Main"] is True
    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    assert len(gateways) == 1
    routes = {r["DestinationCidrBlock"]: r for r in tables[0]["Routes"]}
    assert routes["172.31.0.0/16"]["GatewayId"] == "local"
    assert routes["0.0.0.0/0"]["GatewayId"] == gateways[0]["InternetGatewayId"]


def test_regions_are_apart_and_name_their_own_zones(server: Server) -> None:
    west = boto3.client("ec2", endpoint_url=server.endpoint, region_name="us-west-2", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY)
    zones = west.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"]) for z in zones] == [("us-west-2a", "usw2-az1"), ("us-west-2b", "usw2-az2"),
                                                              ("us-west-2c", "usw2-az3")]
    vpc = _vpc(west, "10.9.0.0/16")
    with pytest.raises(ClientError) as exc:
        server.client("ec2").describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert _err(exc) == (400, "InvalidVpcID.NotFound", f"The vpc ID '{vpc['VpcId']}' does not exist")
    with pytest.raises(ClientError) as exc:
        west.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1a")
    assert _err(exc)[1] == "InvalidParameterValue" and "us-west-2a, us-west-2b, us-west-2c" in _err(exc)[2]


# -- VPCs and subnets -----------------------------------------------------------------------------

def test_vpc_lifecycle_with_tags_and_ids_as_aws_forms_them(ec2: Any) -> None:
    name = unique("vpc")
    vpc = _vpc(ec2, "10.1.0.0/16", TagSpecifications=_named(name, "vpc"))
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", vpc["VpcId"]) and vpc["IsDefault"] is False
    assert vpc["Tags"] == [{"Key": "Name", "Value": name}]
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlock"] == "10.1.0.0/16"
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    assert [v["VpcId"] for v in found] == [vpc["VpcId"]]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                                   {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert len(groups) == 1  # every VPC gets its default group
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert len(main) == 1 and main[0]["Routes"] == [{"DestinationCidrBlock": "10.1.0.0/16", "GatewayId": "local",
                                                     "Origin": "CreateRouteTable", "State": "active"}]
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert _err(exc) == (400, "InvalidVpcID.NotFound", f"The vpc ID '{vpc['VpcId']}' does not exist")
    assert not ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    assert _err(exc)[1] == "InvalidVpcID.NotFound"


@pytest.mark.parametrize(("cidr", "code"), [("10.0.0.0/8", "InvalidVpc.Range"), ("10.0.0.0/29", "InvalidVpc.Range"),
                                            ("10.0.0.0/33", "InvalidParameterValue"),
                                            ("not-a-cidr", "InvalidParameterValue"),
                                            ("10.0.0.1/16", "InvalidParameterValue")])
def test_vpc_cidr_blocks_outside_16_to_28_are_refused(ec2: Any, cidr: str, code: str) -> None:
    with pytest.raises(ClientError) as exc:
        ec2.create_vpc(CidrBlock=cidr)
    status, got, message = _err(exc)
    assert (status, got) == (400, code)
    if code == "InvalidVpc.Range":
        assert message == f"The CIDR '{cidr}' is invalid."


def test_subnets_sit_inside_their_vpc_without_overlapping(ec2: Any) -> None:
    vpc = _vpc(ec2, "10.2.0.0/16")["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]
    assert re.fullmatch(r"subnet-[0-9a-f]{17}", subnet["SubnetId"])
    assert subnet["AvailabilityZone"] == f"{REGION}b" and subnet["AvailableIpAddressCount"] == 251
    assert subnet["SubnetArn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{subnet['SubnetId']}"
    for cidr, code, message in [("10.3.0.0/24", "InvalidSubnet.Range", "The CIDR '10.3.0.0/24' is invalid."),
                                ("10.2.0.0/29", "InvalidSubnet.Range", "The CIDR '10.2.0.0/29' is invalid."),
                                ("10.2.1.128/25", "InvalidSubnet.Conflict",
                                 "The CIDR '10.2.1.128/25' conflicts with another subnet")]:
        with pytest.raises(ClientError) as exc:
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)
        assert _err(exc) == (400, code, message)
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.2.0/24", AvailabilityZone=f"{REGION}z")
    assert _err(exc)[1] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId="vpc-0123456789abcdef0", CidrBlock="10.2.2.0/24")
    assert _err(exc) == (400, "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vpc)
    assert _err(exc) == (400, "DependencyViolation", f"The vpc '{vpc}' has dependencies and cannot be deleted.")
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    with pytest.raises(ClientError) as exc:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    assert _err(exc) == (400, "InvalidSubnetID.NotFound", f"The subnet ID '{subnet['SubnetId']}' does not exist")
    ec2.delete_vpc(VpcId=vpc)


# -- security groups ------------------------------------------------------------------------------

def test_security_group_rules_authorize_revoke_and_duplicates(ec2: Any) -> None:
    vpc = _vpc(ec2, "10.4.0.0/16")["VpcId"]
    name = unique("web")
    created = ec2.create_security_group(GroupName=name, Description="web tier", VpcId=vpc,
                                        TagSpecifications=_named(name, "security-group"))
    web = created["GroupId"]
    assert re.fullmatch(r"sg-[0-9a-f]{17}", web) and created["Tags"] == [{"Key": "Name", "Value": name}]
    with pytest.raises(ClientError) as exc:
        ec2.create_security_group(GroupName=name, Description="again", VpcId=vpc)
    assert _err(exc) == (400, "InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc}'")
    db = ec2.create_security_group(GroupName=unique("db"), Description="db tier", VpcId=vpc)["GroupId"]
    answer = ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0",
                                                                            "Description": "https"}]},
        {"IpProtocol": "udp", "FromPort": 5000, "ToPort": 5010, "IpRanges": [{"CidrIp": "10.4.0.0/16"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert answer["Return"] is True and len(answer["SecurityGroupRules"]) == 3
    assert all(re.fullmatch(r"sgr-[0-9a-f]{17}", r["SecurityGroupRuleId"]) for r in answer["SecurityGroupRules"])
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}])
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    duplicate = 'the specified rule "peer: 0.0.0.0/0, TCP, from port: 443, to port: 443, ALLOW" already exists'
    assert _err(exc) == (400, "InvalidPermission.Duplicate", duplicate)
    group = ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]
    perms = {p["IpProtocol"]: p for p in group["IpPermissions"]}
    assert perms["tcp"]["FromPort"] == 443 and perms["tcp"]["IpRanges"] == [{"CidrIp": "0.0.0.0/0",
                                                                              "Description": "https"}]
    assert (perms["udp"]["FromPort"], perms["udp"]["ToPort"]) == (5000, 5010)
    assert (perms["icmp"]["FromPort"], perms["icmp"]["ToPort"]) == (8, -1)
    assert group["IpPermissionsEgress"][0]["IpProtocol"] == "-1"  # a new group may send anywhere
    pair = ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0]["IpPermissions"][0]["UserIdGroupPairs"]
    assert pair == [{"GroupId": web, "UserId": ACCOUNT}]
    with pytest.raises(ClientError) as exc:  # db's rule refers to web
        ec2.delete_security_group(GroupId=web)
    assert _err(exc) == (400, "DependencyViolation", f"resource {web} has a dependent object")

    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 5000, "ToPort": 5010, "IpRanges": [{"CidrIp": "10.4.0.0/16"}]}])
    with pytest.raises(ClientError) as exc:
        ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 5000, "ToPort": 5010, "IpRanges": [{"CidrIp": "10.4.0.0/16"}]}])
    assert _err(exc) == (400, "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
    egress = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [web]}])["SecurityGroupRules"]
    all_out = [r for r in egress if r["IsEgress"]]
    assert len(all_out) == 1 and all_out[0]["CidrIpv4"] == "0.0.0.0/0" and all_out[0]["IpProtocol"] == "-1"
    ec2.revoke_security_group_egress(GroupId=web, SecurityGroupRuleIds=[all_out[0]["SecurityGroupRuleId"]])
    ec2.authorize_security_group_egress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db}]}])
    group = ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]
    assert [p["UserIdGroupPairs"][0]["GroupId"] for p in group["IpPermissionsEgress"]] == [db]

    ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}])
    ec2.revoke_security_group_egress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db}]}])
    ec2.delete_security_group(GroupId=web)
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=[web])
    assert _err(exc) == (400, "InvalidGroup.NotFound", f"The security group '{web}' does not exist")
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=default["SecurityGroups"][0]["GroupId"])
    assert _err(exc)[1] == "CannotDelete"


@pytest.mark.parametrize("perm", [
    {"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},  # no ports
    {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 70000, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "gre-ish", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/40"}]},
    {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "x" * 100_000}]},
])
def test_bad_permissions_are_invalid_parameter_values(ec2: Any, perm: dict[str, Any]) -> None:
    group = ec2.create_security_group(GroupName=unique("bad"), Description="bad")["GroupId"]
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm])
    status, code, message = _err(exc)
    assert (status, code) == (400, "InvalidParameterValue") and len(message) < 1000


def test_security_group_by_name_in_the_default_vpc_and_missing_parameters(ec2: Any) -> None:
    name = unique("byname")
    group = ec2.create_security_group(GroupName=name, Description="in the default vpc")["GroupId"]
    found = ec2.describe_security_groups(GroupNames=[name])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [group]
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=["not-an-id"])
    assert _err(exc)[:2] == (400, "InvalidGroupId.Malformed")
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"])
    assert _err(exc) == (400, "InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist")
    ec2.delete_security_group(GroupName=name)
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId="")
    assert _err(exc)[1] in ("MissingParameter", "InvalidVpcID.NotFound")


# -- gateways and routes --------------------------------------------------------------------------

def test_internet_gateway_nat_gateway_and_routes(ec2: Any) -> None:
    vpc = _vpc(ec2, "10.5.0.0/16")["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.0.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway(TagSpecifications=_named("gw", "internet-gateway"))["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    assert re.fullmatch(r"igw-[0-9a-f]{17}", igw_id) and igw["Attachments"] == []
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    with pytest.raises(ClientError) as exc:  # not attached to this VPC yet
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assert _err(exc)[1] == "InvalidParameterValue"
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    with pytest.raises(ClientError) as exc:
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    assert _err(exc) == (400, "Resource.AlreadyAssociated", f"resource {igw_id} is already attached to network {vpc}")
    attached = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
    assert attached["Attachments"] == [{"State": "available", "VpcId": vpc}]
    assert ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)["Return"]
    with pytest.raises(ClientError) as exc:
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assert _err(exc) == (400, "RouteAlreadyExists", "The route identified by 0.0.0.0/0 already exists.")
    association = ec2.associate_route_table(RouteTableId=table, SubnetId=public)
    assert association["AssociationState"]["State"] == "associated"

    with pytest.raises(ClientError) as exc:
        ec2.create_nat_gateway(SubnetId=public, AllocationId="eipalloc-0123456789abcdef0")
    assert _err(exc) == (400, "InvalidAllocationID.NotFound",
                         "The allocation ID 'eipalloc-0123456789abcdef0' does not exist")
    eip = ec2.allocate_address(Domain="vpc")
    assert re.fullmatch(r"eipalloc-[0-9a-f]{17}", eip["AllocationId"]) and eip["PublicIp"].startswith("198.51.100.")
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"])["NatGateway"]
    assert re.fullmatch(r"nat-[0-9a-f]{17}", nat["NatGatewayId"]) and nat["State"] == "pending"
    assert nat["VpcId"] == vpc and nat["NatGatewayAddresses"][0]["PrivateIp"] == "10.5.0.4"
    assert nat["NatGatewayAddresses"][0]["PublicIp"] == eip["PublicIp"]
    with pytest.raises(ClientError) as exc:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert _err(exc) == (400, "InvalidIPAddress.InUse", f"Address {eip['AllocationId']} is in use.")
    shown = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert shown["NetworkInterfaceId"] == nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat["NatGatewayId"]],
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    assert ec2.describe_subnets(SubnetIds=[public])["Subnets"][0]["AvailableIpAddressCount"] == 250
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"])
    ec2.associate_route_table(RouteTableId=private_table, SubnetId=private)
    with pytest.raises(ClientError) as exc:
        ec2.associate_route_table(RouteTableId=table, SubnetId=private)
    assert _err(exc)[1] == "Resource.AlreadyAssociated"
    shown = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [private]}])["RouteTables"]
    assert [t["RouteTableId"] for t in shown] == [private_table]
    assert {r["DestinationCidrBlock"]: r.get("NatGatewayId") for r in shown[0]["Routes"]} == {
        "10.5.0.0/16": None, "0.0.0.0/0": nat["NatGatewayId"]}

    with pytest.raises(ClientError) as exc:
        ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    assert _err(exc)[1] == "DependencyViolation"
    with pytest.raises(ClientError) as exc:
        ec2.delete_route_table(RouteTableId=table)
    assert _err(exc)[1] == "DependencyViolation"
    with pytest.raises(ClientError) as exc:
        ec2.delete_route(RouteTableId=table, DestinationCidrBlock="10.5.0.0/16")
    assert _err(exc)[1] == "InvalidParameterValue"  # the local route stays
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    with pytest.raises(ClientError) as exc:
        ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    assert _err(exc) == (400, "InvalidRoute.NotFound",
                         f"no route with destination-cidr-block 0.0.0.0/0 in route table {table}")
    ec2.disassociate_route_table(AssociationId=association["AssociationId"])
    ec2.delete_route_table(RouteTableId=table)

    assert ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])["NatGatewayId"] == nat["NatGatewayId"]
    gone = ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"][0]
    assert gone["State"] == "deleted" and "DeleteTime" in gone
    ec2.release_address(AllocationId=eip["AllocationId"])  # free again once its gateway is gone
    blackhole = ec2.describe_route_tables(RouteTableIds=[private_table])["RouteTables"][0]["Routes"]
    assert [r["State"] for r in blackhole if r.get("NatGatewayId")] == ["blackhole"]
    with pytest.raises(ClientError) as exc:
        ec2.describe_nat_gateways(NatGatewayIds=["nat-0123456789abcdef0"])
    assert _err(exc)[1] == "NatGatewayNotFound"
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    with pytest.raises(ClientError) as exc:
        ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    assert _err(exc) == (400, "Gateway.NotAttached", f"resource {igw_id} is not attached to network {vpc}")
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    for subnet in (public, private):
        ec2.delete_subnet(SubnetId=subnet)  # its associations go with it
    ec2.delete_route_table(RouteTableId=private_table)
    ec2.delete_vpc(VpcId=vpc)


def test_vpc_and_subnet_attributes(ec2: Any) -> None:
    vpc = _vpc(ec2, "10.12.0.0/16")["VpcId"]
    assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsSupport")["EnableDnsSupport"] == {"Value": True}
    assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {
        "Value": False}
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {
        "Value": True}
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.12.0.0/24")["Subnet"]
    assert subnet["MapPublicIpOnLaunch"] is False
    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]["MapPublicIpOnLaunch"] is True
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc)


# -- tags, filters, pagination --------------------------------------------------------------------

def test_tags_filters_and_pagination(ec2: Any) -> None:
    marker = unique("page")
    vpc = _vpc(ec2, "10.100.0.0/16")["VpcId"]
    ids = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.100.{n}.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "batch", "Value": marker}, {"Key": "n", "Value": str(n)}]}]
    )["Subnet"]["SubnetId"] for n in range(7)]
    batch = [{"Name": "tag:batch", "Values": [marker]}]
    first = ec2.describe_subnets(Filters=batch, MaxResults=5)
    assert len(first["Subnets"]) == 5 and first["NextToken"]
    second = ec2.describe_subnets(Filters=batch, MaxResults=5, NextToken=first["NextToken"])
    assert len(second["Subnets"]) == 2 and "NextToken" not in second
    assert sorted(v["SubnetId"] for v in first["Subnets"] + second["Subnets"]) == sorted(ids)
    paged = ec2.get_paginator("describe_subnets").paginate(Filters=batch, PaginationConfig={"PageSize": 5})
    assert sorted(v["SubnetId"] for v in paged.build_full_result()["Subnets"]) == sorted(ids)
    wild = ec2.describe_subnets(Filters=[*batch, {"Name": "tag:n", "Values": ["1", "[0-9]", "6*"]}])["Subnets"]
    assert sorted(v["SubnetId"] for v in wild) == sorted([ids[1], ids[6]])
    by_vpc = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                           {"Name": "cidr-block", "Values": ["10.100.?.0/24"]}])["Subnets"]
    assert len(by_vpc) == 7
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert _err(exc) == (400, "InvalidParameterValue", "The filter 'no-such-filter' is invalid")
    with pytest.raises(ClientError) as exc:
        ec2.describe_subnets(MaxResults=5, NextToken="garbage!")
    assert _err(exc)[1] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.describe_subnets(SubnetIds=ids[:1], MaxResults=5)
    assert _err(exc)[1] == "InvalidParameterCombination"

    ec2.create_tags(Resources=[*ids[:2], vpc], Tags=[{"Key": "env", "Value": "prod"}])
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]},
                                      {"Name": "resource-id", "Values": [*ids, vpc]}])["Tags"]
    assert sorted(t["ResourceId"] for t in tags) == sorted([*ids[:2], vpc])
    assert {t["ResourceType"] for t in tags} == {"subnet", "vpc"} and all(t["Value"] == "prod" for t in tags)
    ec2.delete_tags(Resources=[ids[0]], Tags=[{"Key": "env", "Value": "not-this"}])  # value differs: kept
    ec2.delete_tags(Resources=[ids[1], vpc], Tags=[{"Key": "env"}])
    left = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}, {"Name": "resource-id", "Values": ids}])
    assert [t["ResourceId"] for t in left["Tags"]] == [ids[0]]
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["vpc-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert _err(exc)[1] == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "aws:owned", "Value": "b"}])
    assert _err(exc)[1] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(51)])
    assert _err(exc)[1] == "TagLimitExceeded"
    for subnet in ids:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def test_aws_default_quotas_bound_what_an_account_makes(server: Server) -> None:
    region = "eu-west-1"
    ec2 = boto3.client("ec2", endpoint_url=server.endpoint, region_name=region, aws_access_key_id=ACCESS_KEY,
                       aws_secret_access_key=SECRET_KEY)
    made = [_vpc(ec2, f"10.{n}.0.0/16")["VpcId"] for n in range(4)]  # with the default VPC: five
    with pytest.raises(ClientError) as exc:
        _vpc(ec2, "10.200.0.0/16")
    assert _err(exc) == (400, "VpcLimitExceeded", "The maximum number of VPCs has been reached.")
    group = ec2.create_security_group(GroupName="many", Description="many", VpcId=made[0])["GroupId"]
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": f"10.0.{n}.0/24"}
                                                                           for n in range(61)]}])
    assert _err(exc)[1] == "RulesPerSecurityGroupLimitExceeded"
    ec2.delete_security_group(GroupId=group)
    for vpc in made:
        ec2.delete_vpc(VpcId=vpc)
    made_up = boto3.client("ec2", endpoint_url=server.endpoint, region_name="xx-nowhere-9",
                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    with pytest.raises(ClientError) as exc:  # a made-up region gets no default VPC
        made_up.describe_vpcs()
    assert _err(exc)[:2] == (400, "InvalidParameterValue")


def test_network_interfaces_are_empty_and_take_filters(ec2: Any) -> None:
    found = ec2.describe_network_interfaces(Filters=[{"Name": "requester-id", "Values": ["*"]},
                                                     {"Name": "interface-type", "Values": ["lambda"]}])
    assert found["NetworkInterfaces"] == []
    with pytest.raises(ClientError) as exc:
        ec2.describe_network_interfaces(NetworkInterfaceIds=["eni-0123456789abcdef0"])
    assert _err(exc)[1] == "InvalidNetworkInterfaceID.NotFound"


# -- the AWS CLI ----------------------------------------------------------------------------------

def test_the_aws_cli_drives_a_vpc(server: Server, ec2: Any) -> None:
    # Four CLI calls (each is a process start); the rest through boto3.
    vpc = aws_cli(server, "ec2", "create-vpc", "--cidr-block", "10.6.0.0/16",
                  "--tag-specifications", "ResourceType=vpc,Tags=[{Key=Name,Value=cli-vpc}]")["Vpc"]["VpcId"]
    subnet = aws_cli(server, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.6.0.0/20",
                     "--availability-zone", f"{REGION}c")["Subnet"]
    assert subnet["AvailabilityZone"] == f"{REGION}c" and subnet["AvailableIpAddressCount"] == 4091
    group = ec2.create_security_group(GroupName=unique("cli"), Description="cli", VpcId=vpc)["GroupId"]
    aws_cli(server, "ec2", "authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp",
            "--port", "22", "--cidr", "192.168.0.0/24")  # the older top-level form
    rules = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert rules["IpPermissions"][0]["FromPort"] == 22 and rules["IpPermissions"][0]["IpRanges"] == [
        {"CidrIp": "192.168.0.0/24"}]
    named = aws_cli(server, "ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=cli-vpc")["Vpcs"]
    assert [v["VpcId"] for v in named] == [vpc]
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc)


# -- other accounts, IAM, malformed input ---------------------------------------------------------

def test_another_accounts_vpc_is_invisible(server: Server, ec2: Any) -> None:
    created = _create_account(server, unique("acct"))
    assert created.returncode == 0, created.stderr
    other, keys = _parse_keys(created.stdout)
    theirs = server.client("ec2", **keys)
    mine = _vpc(ec2, "10.7.0.0/16")["VpcId"]
    their_vpcs = theirs.describe_vpcs()["Vpcs"]
    assert [v["IsDefault"] for v in their_vpcs] == [True] and their_vpcs[0]["OwnerId"] == other
    for call in (lambda: theirs.describe_vpcs(VpcIds=[mine]), lambda: theirs.delete_vpc(VpcId=mine),
                 lambda: theirs.create_subnet(VpcId=mine, CidrBlock="10.7.0.0/24"),
                 lambda: theirs.create_tags(Resources=[mine], Tags=[{"Key": "a", "Value": "b"}])):
        with pytest.raises(ClientError) as exc:
            call()
        assert _err(exc) == (400, "InvalidVpcID.NotFound", f"The vpc ID '{mine}' does not exist")
    assert ec2.describe_vpcs(VpcIds=[mine])["Vpcs"][0]["Tags"] == []
    ec2.delete_vpc(VpcId=mine)


def test_iam_users_need_ec2_actions(server: Server) -> None:
    _, keys = _user(server, {"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"})
    user = server.client("ec2", **keys)
    assert user.describe_vpcs()["Vpcs"]
    with pytest.raises(ClientError) as exc:
        user.create_vpc(CidrBlock="10.8.0.0/16")
    status, code, message = _err(exc)
    assert (status, code) == (403, "UnauthorizedOperation")
    assert message.startswith("You are not authorized to perform this operation.")
    assert f"ec2:CreateVpc on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/*" in message
    _, keys = _user(server, {"Effect": "Allow", "Action": ["ec2:CreateVpc", "ec2:DeleteVpc"], "Resource": "*"})
    allowed = server.client("ec2", **keys)
    vpc = allowed.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError) as exc:
        allowed.create_vpc(CidrBlock="10.8.0.0/16", DryRun=True)
    assert _err(exc)[:2] == (412, "DryRunOperation")
    allowed.delete_vpc(VpcId=vpc)


def _raw(server: Server, body: str) -> httpx.Response:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest("POST", server.endpoint + "/", data=body.encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ec2", REGION).add_auth(request)
    return httpx.post(server.endpoint + "/", content=body.encode(), headers=dict(request.headers.items()), timeout=30)


@pytest.mark.parametrize("body", [
    "Action=CreateVpc&Version=2016-11-15",  # no CidrBlock
    "Action=CreateSubnet&Version=2016-11-15&CidrBlock=10.0.0.0/24",  # no VpcId
    "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-0123&IpPermissions.1.FromPort=abc",
    "Action=DescribeVpcs&Version=2016-11-15&MaxResults=99999999999999999999",
    "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Value.1=x",  # a filter without a name
    "Action=DescribeVpcs&Version=2016-11-15&MaxResults=2",  # below the model's 5
    "Action=CreateVpc&Version=2016-11-15&CidrBlock=" + "1" * 50_000,
    "Action=NoSuchAction&Version=2016-11-15",
    "Action=CreateTags&Version=2016-11-15&ResourceId.1=vpc-1&Tag.1.Key=" + "k" * 5000,
    "Action=DescribeVpcs&Version=2016-11-15&" + "&".join(f"VpcId.{n}=vpc-{n:017x}" for n in range(1, 1002)),
    "Action=DescribeVpcs&Version=2016-11-15&" + "&".join(f"Filter.{n}.Name=vpc-id&Filter.{n}.Value.1=x"
                                                         for n in range(1, 60)),
])
def test_malformed_input_is_a_400_in_ec2_xml(server: Server, body: str) -> None:
    response = _raw(server, body)
    assert response.status_code == 400, response.text[:500]
    assert re.search(r"<Response><Errors><Error><Code>[A-Za-z.]+</Code><Message>", response.text)
    assert "<RequestID>" in response.text and len(response.content) < 5000


def test_unknown_keys_and_bad_signatures_in_ec2s_codes(server: Server) -> None:
    with pytest.raises(ClientError) as exc:
        server.client("ec2", key="AKIANOSUCHKEY0000000", secret="x").describe_vpcs()
    assert _err(exc) == (401, "AuthFailure", "AWS was not able to validate the provided access credentials")
    with pytest.raises(ClientError) as exc:
        server.client("ec2", secret="not-the-secret").describe_vpcs()
    assert _err(exc)[:2] == (403, "SignatureDoesNotMatch")


def test_an_unsigned_call_is_refused_in_ec2_xml(server: Server) -> None:
    response = httpx.post(server.endpoint + "/", content=b"Action=DescribeVpcs&Version=2016-11-15",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 403 and response.text.startswith("<?xml")
    assert "<Response><Errors><Error>" in response.text


# -- Lambda's VpcConfig ---------------------------------------------------------------------------

def _lambda_vpc(server: Server, vpc_config: dict[str, Any], role: str = ROLE) -> tuple[int, str, str]:
    lam = server.client("lambda")
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=unique("vpcfn"), Runtime="python3.12", Handler="app.handler", Role=role,
                            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})},
                            VpcConfig=vpc_config)
    return api_error(exc)


def test_lambda_checks_vpc_config_against_ec2_then_refuses_it_honestly(server: Server, ec2: Any) -> None:
    vpc = _vpc(ec2, "10.11.0.0/16")["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.11.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=unique("fn"), Description="fn", VpcId=vpc)["GroupId"]
    defaults = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
    default_group = next(g["GroupId"] for g in defaults["SecurityGroups"] if g["VpcId"] != vpc)
    missing = "subnet-0123456789abcdef0"
    assert _lambda_vpc(server, {"SubnetIds": [missing], "SecurityGroupIds": [group]}) == (
        400, "InvalidParameterValueException", "Error occurred while DescribeSubnets. EC2 Error Code: "
        f"InvalidSubnetID.NotFound. EC2 Error Message: The subnet ID '{missing}' does not exist")
    assert _lambda_vpc(server, {"SubnetIds": [subnet], "SecurityGroupIds": ["sg-0123456789abcdef0"]}) == (
        400, "InvalidParameterValueException", "Error occurred while DescribeSecurityGroups. EC2 Error Code: "
        "InvalidGroup.NotFound. EC2 Error Message: The security group 'sg-0123456789abcdef0' does not exist")
    assert _lambda_vpc(server, {"SubnetIds": [subnet], "SecurityGroupIds": []})[2] == \
        "SubnetIds and SecurityIds must coexist or be both empty list."
    assert _lambda_vpc(server, {"SubnetIds": [subnet], "SecurityGroupIds": [default_group]})[2] == \
        "Security Groups are required to be in the same VPC."
    iam = server.client("iam")
    bare = unique("novpc")
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
             '"Action":"sts:AssumeRole"}]}')
    bare_arn = iam.create_role(RoleName=bare, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    assert _lambda_vpc(server, {"SubnetIds": [subnet], "SecurityGroupIds": [group]}, bare_arn)[2] == \
        "The provided execution role does not have permissions to call CreateNetworkInterface on EC2"
    # What AWSLambdaVPCAccessExecutionRole grants.
    iam.put_role_policy(RoleName=bare, PolicyName="eni", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:CreateNetworkInterface",'
        '"ec2:DescribeNetworkInterfaces","ec2:DescribeSubnets","ec2:DeleteNetworkInterface",'
        '"ec2:AssignPrivateIpAddresses","ec2:UnassignPrivateIpAddresses"],"Resource":"*"}]}'))
    status, code, message = _lambda_vpc(server, {"SubnetIds": [subnet], "SecurityGroupIds": [group]}, bare_arn)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "VpcConfig is not supported by lambdad yet" in message and "not enforced" in message
    assert ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"] == []
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


# -- durability -----------------------------------------------------------------------------------

def test_everything_survives_kill_9(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", free_port(), server_env())
    srv.start()
    try:
        ec2 = srv.client("ec2")
        default = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        vpc = _vpc(ec2, "10.10.0.0/16", TagSpecifications=_named("durable", "vpc"))["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.10.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="durable", Description="d", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        nat = ec2.create_nat_gateway(SubnetId=subnet, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
        srv.stop(signal.SIGKILL)
        srv.start()
        ec2 = srv.client("ec2")
        vpcs = {v["VpcId"]: v for v in ec2.describe_vpcs()["Vpcs"]}
        assert set(vpcs) == {default, vpc} and vpcs[vpc]["Tags"] == [{"Key": "Name", "Value": "durable"}]
        assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"] == 250
        perms = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
        assert perms[0]["FromPort"] == 80
        assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"] == "available"
        with pytest.raises(ClientError) as exc:
            ec2.create_security_group(GroupName="durable", Description="d", VpcId=vpc)
        assert _err(exc)[1] == "InvalidGroup.Duplicate"
    finally:
        srv.stop()
