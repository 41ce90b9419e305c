"""The VPC resources EC2 keeps per account and region, as typed records.

Each record renders itself as botocore's shape (`to_wire()`, AWS's member names) and persists as one
JSON object (`to_data()` / `from_data()`, `dataclasses.asdict` of its fields). Security group rules
are kept one per source, as AWS's `SecurityGroupRule`s are; `IpPermissions` is their grouping by
protocol and port range.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any

Tags = dict[str, str]


def tag_list(tags: Tags) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def arn(region: str, account: str, kind: str, ident: str) -> str:
    return f"arn:aws:ec2:{region}:{account}:{kind}/{ident}"


@dataclass(slots=True)
class Vpc:
    id: str
    account: str
    region: str
    cidr: str
    cidr_association: str
    dhcp_options: str
    is_default: bool = False
    tags: Tags = field(default_factory=dict)
    dns_support: bool = True
    dns_hostnames: bool | None = None  # None: AWS's default (on in a default VPC only)
    address_usage_metrics: bool = False

    def attribute(self, name: str) -> bool:
        if name == "enableDnsSupport":
            return self.dns_support
        if name == "enableDnsHostnames":
            return self.is_default if self.dns_hostnames is None else self.dns_hostnames
        return self.address_usage_metrics

    def to_wire(self) -> dict[str, Any]:
        return {"VpcId": self.id, "OwnerId": self.account, "State": "available", "CidrBlock": self.cidr,
                "DhcpOptionsId": self.dhcp_options, "InstanceTenancy": "default", "IsDefault": self.is_default,
                "CidrBlockAssociationSet": [{"AssociationId": self.cidr_association, "CidrBlock": self.cidr,
                                             "CidrBlockState": {"State": "associated"}}],
                "Ipv6CidrBlockAssociationSet": [],
                "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"}, "Tags": tag_list(self.tags)}


@dataclass(slots=True)
class Subnet:
    id: str
    account: str
    region: str
    vpc_id: str
    cidr: str
    zone: str
    zone_id: str
    default_for_az: bool = False
    used_addresses: list[str] = field(default_factory=list)  # addresses taken by gateways and interfaces
    tags: Tags = field(default_factory=dict)
    map_public_ip: bool | None = None  # None: AWS's default (on in a default subnet only)

    @property
    def maps_public_ip(self) -> bool:
        return self.default_for_az if self.map_public_ip is None else self.map_public_ip

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    def available(self) -> int:
        # AWS reserves five addresses of every subnet: the network, .1 (router), .2 (DNS), .3, broadcast.
        return self.network.num_addresses - 5 - len(self.used_addresses)

    def take_address(self) -> str:
        """The lowest free address after AWS's four reserved ones."""
        taken = set(self.used_addresses)
        first = int(self.network.network_address) + 4
        for number in range(first, int(self.network.broadcast_address)):
            address = str(ipaddress.IPv4Address(number))
            if address not in taken:
                self.used_addresses.append(address)
                return address
        raise LookupError(self.id)

    def to_wire(self) -> dict[str, Any]:
        return {"SubnetId": self.id, "SubnetArn": arn(self.region, self.account, "subnet", self.id),
                "OwnerId": self.account, "VpcId": self.vpc_id, "State": "available", "CidrBlock": self.cidr,
                "AvailabilityZone": self.zone, "AvailabilityZoneId": self.zone_id,
                "AvailableIpAddressCount": self.available(), "DefaultForAz": self.default_for_az,
                "MapPublicIpOnLaunch": self.maps_public_ip, "MapCustomerOwnedIpOnLaunch": False,
                "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [], "Ipv6Native": False,
                "EnableDns64": False,
                "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                                  "EnableResourceNameDnsAAAARecord": False},
                "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"}, "Tags": tag_list(self.tags)}


@dataclass(slots=True)
class Rule:
    """One security group rule: a protocol and port range from (ingress) or to (egress) one peer."""

    id: str
    egress: bool
    protocol: str  # tcp | udp | icmp | icmpv6 | -1 | another protocol number
    from_port: int | None
    to_port: int | None
    cidr: str | None = None
    cidr_v6: str | None = None
    group_id: str | None = None
    group_owner: str | None = None
    description: str | None = None
    tags: Tags = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        """What makes two rules the same rule (AWS's duplicate check ignores the description)."""
        return (self.egress, self.protocol, self.from_port, self.to_port, self.cidr, self.cidr_v6, self.group_id)

    def peer(self) -> str:
        return self.cidr or self.cidr_v6 or self.group_id or ""

    def to_wire(self, group: SecurityGroup) -> dict[str, Any]:
        out: dict[str, Any] = {
            "SecurityGroupRuleId": self.id, "GroupId": group.id, "GroupOwnerId": group.account,
            "IsEgress": self.egress, "IpProtocol": self.protocol,
            "FromPort": -1 if self.from_port is None else self.from_port,
            "ToPort": -1 if self.to_port is None else self.to_port,
            "SecurityGroupRuleArn": arn(group.region, group.account, "security-group-rule", self.id),
            "Tags": tag_list(self.tags)}
        if self.cidr:
            out["CidrIpv4"] = self.cidr
        if self.cidr_v6:
            out["CidrIpv6"] = self.cidr_v6
        if self.group_id:
            out["ReferencedGroupInfo"] = {"GroupId": self.group_id, "UserId": self.group_owner}
        if self.description is not None:
            out["Description"] = self.description
        return out


def ip_permissions(rules: list[Rule]) -> list[dict[str, Any]]:
    """Rules grouped as AWS's IpPermissions: one per protocol and port range, its peers inside."""
    grouped: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for rule in rules:
        perm = grouped.get((rule.protocol, rule.from_port, rule.to_port))
        if perm is None:
            perm = {"IpProtocol": rule.protocol, "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                    "UserIdGroupPairs": []}
            if rule.protocol != "-1":
                perm["FromPort"], perm["ToPort"] = rule.from_port, rule.to_port
            grouped[(rule.protocol, rule.from_port, rule.to_port)] = perm
        described = {"Description": rule.description} if rule.description is not None else {}
        if rule.cidr:
            perm["IpRanges"].append({"CidrIp": rule.cidr, **described})
        elif rule.cidr_v6:
            perm["Ipv6Ranges"].append({"CidrIpv6": rule.cidr_v6, **described})
        elif rule.group_id:
            perm["UserIdGroupPairs"].append({"GroupId": rule.group_id, "UserId": rule.group_owner, **described})
    return list(grouped.values())


@dataclass(slots=True)
class SecurityGroup:
    id: str
    account: str
    region: str
    vpc_id: str
    name: str
    description: str
    rules: list[Rule] = field(default_factory=list)
    tags: Tags = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return arn(self.region, self.account, "security-group", self.id)

    def to_wire(self) -> dict[str, Any]:
        return {"GroupId": self.id, "GroupName": self.name, "Description": self.description,
                "OwnerId": self.account, "VpcId": self.vpc_id, "SecurityGroupArn": self.arn,
                "IpPermissions": ip_permissions([r for r in self.rules if not r.egress]),
                "IpPermissionsEgress": ip_permissions([r for r in self.rules if r.egress]),
                "Tags": tag_list(self.tags)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SecurityGroup:
        rules = [Rule(**r) for r in data.pop("rules")]
        return cls(**data, rules=rules)


@dataclass(slots=True)
class InternetGateway:
    id: str
    account: str
    region: str
    vpc_id: str | None = None
    tags: Tags = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        attachments = [{"State": "available", "VpcId": self.vpc_id}] if self.vpc_id else []
        return {"InternetGatewayId": self.id, "OwnerId": self.account, "Attachments": attachments,
                "Tags": tag_list(self.tags)}


@dataclass(slots=True)
class NatGateway:
    id: str
    account: str
    region: str
    vpc_id: str
    subnet_id: str
    connectivity: str  # public | private
    private_ip: str
    interface_id: str
    allocation_id: str | None
    created: float
    public_ip: str | None = None
    state: str = "pending"  # pending -> available -> deleting -> deleted
    deleted: float | None = None
    tags: Tags = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        address: dict[str, Any] = {"NetworkInterfaceId": self.interface_id, "PrivateIp": self.private_ip,
                                   "IsPrimary": True, "Status": "succeeded"}
        if self.allocation_id:
            address["AllocationId"] = self.allocation_id
        if self.public_ip:
            address["PublicIp"] = self.public_ip
        out: dict[str, Any] = {"NatGatewayId": self.id, "VpcId": self.vpc_id, "SubnetId": self.subnet_id,
                               "State": self.state, "CreateTime": self.created, "ConnectivityType": self.connectivity,
                               "NatGatewayAddresses": [address], "Tags": tag_list(self.tags)}
        if self.deleted is not None:
            out["DeleteTime"] = self.deleted
        return out


@dataclass(slots=True)
class Address:
    """An Elastic IP address: a public IPv4 address kept for the account until released. lambdad's come
    from 198.51.100.0/24 (TEST-NET-2, reserved for documentation): they name, they do not route."""

    id: str  # eipalloc-...
    account: str
    region: str
    public_ip: str
    nat_id: str | None = None
    interface_id: str | None = None
    private_ip: str | None = None
    association_id: str | None = None
    tags: Tags = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"AllocationId": self.id, "PublicIp": self.public_ip, "Domain": "vpc",
                               "PublicIpv4Pool": "amazon", "NetworkBorderGroup": self.region,
                               "Tags": tag_list(self.tags)}
        if self.interface_id:
            out.update({"AssociationId": self.association_id, "NetworkInterfaceId": self.interface_id,
                        "NetworkInterfaceOwnerId": self.account, "PrivateIpAddress": self.private_ip})
        return out


@dataclass(slots=True)
class Route:
    destination: str
    gateway_id: str | None = None  # "local" or igw-...
    nat_gateway_id: str | None = None
    origin: str = "CreateRoute"

    def target(self) -> str:
        return self.gateway_id or self.nat_gateway_id or ""


@dataclass(slots=True)
class Association:
    id: str
    subnet_id: str | None  # None: the VPC's main association


@dataclass(slots=True)
class RouteTable:
    id: str
    account: str
    region: str
    vpc_id: str
    main: bool
    routes: list[Route] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    tags: Tags = field(default_factory=dict)

    def to_wire(self, route_state: dict[str, str]) -> dict[str, Any]:
        """`route_state`: target id -> "active" | "blackhole" (a detached gateway, a deleted NAT)."""
        routes = []
        for route in self.routes:
            item: dict[str, Any] = {"DestinationCidrBlock": route.destination, "Origin": route.origin,
                                    "State": route_state.get(route.target(), "active")}
            if route.gateway_id:
                item["GatewayId"] = route.gateway_id
            if route.nat_gateway_id:
                item["NatGatewayId"] = route.nat_gateway_id
            routes.append(item)
        associations = []
        for assoc in self.associations:
            entry: dict[str, Any] = {"Main": assoc.subnet_id is None, "RouteTableAssociationId": assoc.id,
                                     "RouteTableId": self.id, "AssociationState": {"State": "associated"}}
            if assoc.subnet_id:
                entry["SubnetId"] = assoc.subnet_id
            associations.append(entry)
        return {"RouteTableId": self.id, "VpcId": self.vpc_id, "OwnerId": self.account, "Routes": routes,
                "Associations": associations, "PropagatingVgws": [], "Tags": tag_list(self.tags)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RouteTable:
        routes = [Route(**r) for r in data.pop("routes")]
        associations = [Association(**a) for a in data.pop("associations")]
        return cls(**data, routes=routes, associations=associations)


@dataclass(slots=True)
class NetworkInterface:
    """An elastic network interface another service asked for (Lambda's, for a function in a VPC)."""

    id: str
    account: str
    region: str
    vpc_id: str
    subnet_id: str
    zone: str
    private_ip: str
    mac: str
    groups: list[str]
    description: str
    requester_id: str
    interface_type: str
    tags: Tags = field(default_factory=dict)

    def to_wire(self, group_names: dict[str, str]) -> dict[str, Any]:
        host = "ip-" + self.private_ip.replace(".", "-")
        dns = f"{host}.ec2.internal" if self.region == "us-east-1" else f"{host}.{self.region}.compute.internal"
        return {"NetworkInterfaceId": self.id, "OwnerId": self.account, "VpcId": self.vpc_id,
                "SubnetId": self.subnet_id, "AvailabilityZone": self.zone, "Description": self.description,
                "Groups": [{"GroupId": g, "GroupName": group_names.get(g, "")} for g in self.groups],
                "InterfaceType": self.interface_type, "MacAddress": self.mac, "PrivateIpAddress": self.private_ip,
                "PrivateDnsName": dns, "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": self.private_ip,
                                                              "PrivateDnsName": dns}],
                "RequesterId": self.requester_id, "RequesterManaged": True, "SourceDestCheck": True,
                "Status": "in-use", "Ipv6Addresses": [], "TagSet": tag_list(self.tags)}


Record = Vpc | Subnet | SecurityGroup | InternetGateway | NatGateway | RouteTable | NetworkInterface | Address
KINDS: dict[str, type[Record]] = {"vpc": Vpc, "subnet": Subnet, "security-group": SecurityGroup,
                                  "internet-gateway": InternetGateway, "natgateway": NatGateway,
                                  "route-table": RouteTable, "network-interface": NetworkInterface,
                                  "elastic-ip": Address}
KIND_OF = {cls: kind for kind, cls in KINDS.items()}


def to_data(record: Record) -> dict[str, Any]:
    return dataclasses.asdict(record)


def from_data(kind: str, data: dict[str, Any]) -> Record:
    cls = KINDS[kind]
    if cls is SecurityGroup:
        return SecurityGroup.from_data(data)
    if cls is RouteTable:
        return RouteTable.from_data(data)
    return cls(**data)
