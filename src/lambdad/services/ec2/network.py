"""VPCs and what lives in them: subnets, security groups, internet and NAT gateways, route tables,
network interfaces and their tags, per account and region.

Domain logic only: `services/ec2/wire.py` calls these methods with parameters shaped as boto3 passes
them (botocore's member names). State is held in memory per (account, region) and every change is
written to the store before the method returns; it is reloaded at start. A region's default VPC
(172.31.0.0/16, a default subnet per availability zone, its default security group, main route
table and an attached internet gateway, as AWS gives every account) is made the first time the
account uses EC2 in that region, and is not made again once deleted.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lambdad import botocore_models
from lambdad.errors import Ec2Error
from lambdad.services.ec2 import filters, permissions
from lambdad.services.ec2.common import GROUP_TEXT as _GROUP_TEXT
from lambdad.services.ec2.common import cidr as _cidr
from lambdad.services.ec2.common import error as _error
from lambdad.services.ec2.common import limit as _limit
from lambdad.services.ec2.common import new_id
from lambdad.services.ec2.permissions import RULES_PER_DIRECTION
from lambdad.services.ec2.records import (
    KIND_OF,
    Address,
    Association,
    InternetGateway,
    NatGateway,
    NetworkInterface,
    Record,
    Route,
    RouteTable,
    Rule,
    SecurityGroup,
    Subnet,
    Tags,
    Vpc,
    from_data,
    to_data,
)
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS ec2_resources (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
"""

DEFAULT_VPC_CIDR = "172.31.0.0/16"
# Deleted NAT gateways stay visible (State "deleted") for about an hour, as on AWS.
DELETED_NAT_VISIBLE = 3600.0
MAX_TAGS = 50
MAX_IDS = 1000
# AWS's default quotas ("Amazon VPC quotas"): they also bound what one tenant can make a server store.
VPCS_PER_REGION = 5
SUBNETS_PER_VPC = 200
GROUPS_PER_REGION = 2500
GATEWAYS_PER_REGION = 5
NATS_PER_ZONE = 5
TABLES_PER_VPC = 200
ROUTES_PER_TABLE = 50
ADDRESSES_PER_REGION = 5
_ADDRESS_POOL = ipaddress.IPv4Network("198.51.100.0/24")  # TEST-NET-2: see records.Address
_ID = re.compile(r"[a-z]+-[0-9a-f]{8,17}")
_DIRECTIONS = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c", "northeast": "ne",
               "northwest": "nw", "southeast": "se", "southwest": "sw"}

# id prefix -> (record kind, the word AWS's NotFound code and message use)
PREFIXES = {"vpc": ("vpc", "InvalidVpcID.NotFound", "vpc"),
            "subnet": ("subnet", "InvalidSubnetID.NotFound", "subnet"),
            "sg": ("security-group", "InvalidGroup.NotFound", "security group"),
            "igw": ("internet-gateway", "InvalidInternetGatewayID.NotFound", "internetGateway"),
            "nat": ("natgateway", "NatGatewayNotFound", "natGateway"),
            "rtb": ("route-table", "InvalidRouteTableID.NotFound", "routeTable"),
            "eni": ("network-interface", "InvalidNetworkInterfaceID.NotFound", "networkInterface"),
            "eipalloc": ("elastic-ip", "InvalidAllocationID.NotFound", "allocation")}


def known_regions() -> frozenset[str]:
    """The regions botocore's endpoint data gives EC2, in every partition."""
    session = botocore_models.session()
    return frozenset(region for partition in ("aws", "aws-cn", "aws-us-gov")
                     for region in session.get_available_regions("ec2", partition))


def zones(region: str) -> list[tuple[str, str]]:
    """A region's availability zones: (name, id), e.g. ("us-east-1a", "use1-az1")."""
    parts = region.split("-")
    short = parts[0] + "".join(_DIRECTIONS.get(p, p[:1]) for p in parts[1:-1]) + (parts[-1] if len(parts) > 1 else "")
    letters = "abcdef" if region == "us-east-1" else "abc"
    return [(f"{region}{letter}", f"{short}-az{n}") for n, letter in enumerate(letters, 1)]


def _not_found(ident: str) -> Ec2Error:
    prefix = ident.split("-", 1)[0]
    _, code, word = PREFIXES.get(prefix, ("", "InvalidID", ""))
    if prefix == "nat":
        return _error(code, f"The Nat Gateway {ident} was not found")
    if prefix == "sg":
        return _error(code, f"The security group '{ident}' does not exist")
    if not word:
        return _error("InvalidID", f"The ID '{ident}' is not valid")
    return _error(code, f"The {word} ID '{ident}' does not exist")


@dataclass(slots=True)
class RegionState:
    """One account's EC2 resources in one region."""

    account: str
    region: str
    dhcp_options: str
    default_made: bool = False
    vpcs: dict[str, Vpc] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    groups: dict[str, SecurityGroup] = field(default_factory=dict)
    gateways: dict[str, InternetGateway] = field(default_factory=dict)
    nats: dict[str, NatGateway] = field(default_factory=dict)
    tables: dict[str, RouteTable] = field(default_factory=dict)
    interfaces: dict[str, NetworkInterface] = field(default_factory=dict)
    addresses: dict[str, Address] = field(default_factory=dict)

    def collection(self, kind: str) -> dict[str, Any]:
        collections: dict[str, dict[str, Any]] = {
            "vpc": self.vpcs, "subnet": self.subnets, "security-group": self.groups, "internet-gateway": self.gateways,
            "natgateway": self.nats, "route-table": self.tables, "network-interface": self.interfaces,
            "elastic-ip": self.addresses}
        return collections[kind]

    def find(self, ident: str) -> Record | None:
        entry = PREFIXES.get(ident.split("-", 1)[0])
        if entry is None:
            return None
        found: Record | None = self.collection(entry[0]).get(ident)
        return found

    def records(self) -> Iterator[Record]:
        for kind in ("vpc", "subnet", "security-group", "internet-gateway", "natgateway", "route-table",
                     "network-interface", "elastic-ip"):
            yield from self.collection(kind).values()

    def default_vpc(self) -> Vpc | None:
        return next((v for v in self.vpcs.values() if v.is_default), None)


class Ec2:
    """The EC2 network resources of every account and region."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, *,
                 regions: Iterable[str] = ()) -> None:
        self.store = store
        self.clock = clock
        # A SigV4 scope names any region its signer likes: EC2 state is made only in real ones (and the
        # server's own), or every made-up name would cost a default VPC.
        self.regions = known_regions() | frozenset(regions)
        store.ensure_schema(SCHEMA)
        self._regions: dict[tuple[str, str], RegionState] = {}
        self._load(store.all("SELECT id, account, region, kind, data FROM ec2_resources"))

    def _load(self, rows: Iterable[Any]) -> None:
        for row in rows:
            state = self._state(row["account"], row["region"], json.loads(row["data"]) if row["kind"] == "region"
                                else None)
            if row["kind"] == "region":
                continue
            record = from_data(row["kind"], json.loads(row["data"]))
            state.collection(row["kind"])[record.id] = record

    def _reload(self, state: RegionState) -> None:
        """After a failed write: the region as the store has it (the records were changed in place)."""
        self._regions.pop((state.account, state.region), None)
        self._load(self.store.all("SELECT id, account, region, kind, data FROM ec2_resources "
                                  "WHERE account = ? AND region = ?", (state.account, state.region)))

    # -- state and persistence -------------------------------------------------------------------
    def _state(self, account: str, region: str, marker: dict[str, Any] | None = None) -> RegionState:
        state = self._regions.get((account, region))
        if state is None:
            state = self._regions[(account, region)] = RegionState(account, region, new_id("dopt"))
        if marker is not None:
            state.dhcp_options = marker["dhcp_options"]
            state.default_made = True
        return state

    def region(self, account: str, region: str) -> RegionState:
        """The account's state in a region, with its default VPC made on first use."""
        if region not in self.regions:
            raise _error("InvalidParameterValue", f"The region '{region[:64]}' is not a region lambdad serves "
                         "EC2 in.")
        state = self._state(account, region)
        if not state.default_made:
            self._make_default_vpc(state)
        return state

    def _save(self, state: RegionState, *records: Record) -> None:
        try:
            with self.store.transaction():
                for record in records:
                    self.store.execute(
                        "INSERT INTO ec2_resources (id, account, region, kind, data) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                        (record.id, state.account, state.region, KIND_OF[type(record)], json.dumps(to_data(record))))
        except Exception:
            self._reload(state)
            raise

    def _drop(self, state: RegionState, *records: Record) -> None:
        try:
            with self.store.transaction():
                for record in records:
                    self.store.execute("DELETE FROM ec2_resources WHERE id = ?", (record.id,))
        except Exception:
            self._reload(state)
            raise
        for record in records:
            state.collection(KIND_OF[type(record)]).pop(record.id, None)

    def _make_default_vpc(self, state: RegionState) -> None:
        vpc, made = self._new_vpc(state, DEFAULT_VPC_CIDR, is_default=True)
        gateway = InternetGateway(new_id("igw"), state.account, state.region, vpc.id)
        main = next(r for r in made if isinstance(r, RouteTable))
        main.routes.append(Route("0.0.0.0/0", gateway_id=gateway.id))
        subnets = []
        for n, (zone, zone_id) in enumerate(zones(state.region)):
            subnets.append(Subnet(new_id("subnet"), state.account, state.region, vpc.id, f"172.31.{16 * n}.0/20",
                                  zone, zone_id, default_for_az=True))
        marker = {"dhcp_options": state.dhcp_options}
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO ec2_resources (id, account, region, kind, data) VALUES (?, ?, ?, 'region', ?) "
                "ON CONFLICT (id) DO NOTHING",
                (f"region:{state.account}:{state.region}", state.account, state.region, json.dumps(marker)))
            self._save(state, vpc, *made, gateway, *subnets)
        state.default_made = True
        self._index(state, vpc, *made, gateway, *subnets)

    @staticmethod
    def _index(state: RegionState, *records: Record) -> None:
        for record in records:
            state.collection(KIND_OF[type(record)])[record.id] = record

    def _new_vpc(self, state: RegionState, cidr: str, *, is_default: bool = False,
                 tags: Tags | None = None) -> tuple[Vpc, list[Record]]:
        """A VPC and what AWS makes with it: its default security group and main route table."""
        vpc = Vpc(new_id("vpc"), state.account, state.region, cidr, new_id("vpc-cidr-assoc"), state.dhcp_options,
                  is_default, dict(tags or {}))
        group = SecurityGroup(new_id("sg"), state.account, state.region, vpc.id, "default",
                              "default VPC security group")
        group.rules = [Rule(new_id("sgr"), False, "-1", None, None, group_id=group.id, group_owner=state.account),
                       Rule(new_id("sgr"), True, "-1", None, None, cidr="0.0.0.0/0")]
        table = RouteTable(new_id("rtb"), state.account, state.region, vpc.id, True,
                           [Route(cidr, gateway_id="local", origin="CreateRouteTable")],
                           [Association(new_id("rtbassoc"), None)])
        return vpc, [group, table]

    # -- lookups ---------------------------------------------------------------------------------
    def _get(self, state: RegionState, kind: str, ident: str | None, parameter: str) -> Any:
        if not ident:
            raise _error("MissingParameter", f"The request must contain the parameter {parameter}")
        found = state.collection(kind).get(ident)
        if found is None:
            raise _not_found(ident)
        return found

    def vpc(self, state: RegionState, vpc_id: str | None) -> Vpc:
        vpc: Vpc = self._get(state, "vpc", vpc_id, "VpcId")
        return vpc

    def subnet(self, state: RegionState, subnet_id: str | None) -> Subnet:
        subnet: Subnet = self._get(state, "subnet", subnet_id, "SubnetId")
        return subnet

    def group(self, state: RegionState, group_id: str | None) -> SecurityGroup:
        if group_id and group_id not in state.groups and not _ID.fullmatch(group_id):
            raise _error("InvalidGroupId.Malformed", f'Invalid id: "{group_id[:256]}" (expecting "sg-...")')
        group: SecurityGroup = self._get(state, "security-group", group_id, "GroupId")
        return group

    def _group_by_name(self, state: RegionState, name: str) -> SecurityGroup:
        default = state.default_vpc()
        if default is None:
            raise _error("VPCIdNotSpecified", "No default VPC for this user")
        found = next((g for g in state.groups.values() if g.vpc_id == default.id and g.name == name), None)
        if found is None:
            raise _error("InvalidGroup.NotFound",
                         f"The security group '{name[:256]}' does not exist in default VPC '{default.id}'")
        return found

    def _table(self, state: RegionState, table_id: str | None) -> RouteTable:
        table: RouteTable = self._get(state, "route-table", table_id, "RouteTableId")
        return table

    def _by_ids(self, state: RegionState, kind: str, ids: list[str] | None) -> list[Any]:
        collection = state.collection(kind)
        if not ids:
            return sorted(collection.values(), key=lambda r: r.id)
        if len(ids) > MAX_IDS:
            raise _error("InvalidParameterValue", f"The maximum number of IDs ({MAX_IDS}) has been exceeded.")
        out = []
        for ident in dict.fromkeys(ids):
            if kind == "security-group":
                out.append(self.group(state, ident))
            elif ident not in collection:
                raise _not_found(ident)
            else:
                out.append(collection[ident])
        return out

    # -- tags ------------------------------------------------------------------------------------
    @staticmethod
    def _check_tags(tags: Iterable[dict[str, Any]]) -> Tags:
        out: Tags = {}
        for tag in tags:
            key, value = tag.get("Key"), tag.get("Value", "")
            if key is None:
                raise _error("InvalidParameterValue", "Tag keys must be specified")
            if key.lower().startswith("aws:"):
                raise _error("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
            if not 1 <= len(key) <= 128:
                raise _error("InvalidParameterValue", f"Tag key exceeds the maximum length of 128 characters: "
                             f"{key[:256]}" if key else "Tag key must not be empty")
            if len(value) > 256:
                raise _error("InvalidParameterValue",
                             f"Tag value exceeds the maximum length of 256 characters: {value[:256]}")
            out[key] = value
        if len(out) > MAX_TAGS:
            raise _error("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
        return out

    def _spec_tags(self, specs: list[dict[str, Any]] | None, kind: str) -> Tags:
        tags: Tags = {}
        for spec in specs or []:
            resource_type = spec.get("ResourceType")
            if resource_type != kind:
                raise _error("InvalidParameterValue", f"'{str(resource_type)[:64]}' is not a valid taggable resource "
                             "type for this operation.")
            tags.update(self._check_tags(spec.get("Tags") or []))
        return tags

    def create_tags(self, account: str, region: str, resources: list[str], tags: list[dict[str, Any]]) -> None:
        state = self.region(account, region)
        new = self._check_tags(tags)
        if len(resources) > MAX_IDS:
            raise _error("InvalidParameterValue", f"The maximum number of IDs ({MAX_IDS}) has been exceeded.")
        found = []
        for ident in resources:
            record = state.find(ident)
            if record is None:
                raise _not_found(ident)
            if len({**record.tags, **new}) > MAX_TAGS:
                raise _error("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
            found.append(record)
        for record in found:
            record.tags.update(new)
        self._save(state, *found)

    def delete_tags(self, account: str, region: str, resources: list[str], tags: list[dict[str, Any]] | None) -> None:
        state = self.region(account, region)
        found = []
        for ident in resources:
            record = state.find(ident)
            if record is None:
                raise _not_found(ident)
            found.append(record)
        for record in found:
            if not tags:
                record.tags.clear()
            for tag in tags or []:
                key = tag.get("Key")
                if key in record.tags and ("Value" not in tag or record.tags[key] == tag["Value"]):
                    del record.tags[key]
        self._save(state, *found)

    def describe_tags(self, account: str, region: str, p: dict[str, Any]) -> tuple[list[dict[str, str]], str | None]:
        state = self.region(account, region)
        rows = []
        for record in state.records():
            kind = KIND_OF[type(record)]
            rows += [{"ResourceId": record.id, "ResourceType": kind, "Key": k, "Value": v}
                     for k, v in record.tags.items()]
        rows.sort(key=lambda r: (r["ResourceId"], r["Key"]))

        def fields(row: dict[str, str], name: str) -> list[str] | None:
            names = {"resource-id": "ResourceId", "resource-type": "ResourceType", "key": "Key", "value": "Value"}
            if name in names:
                return [row[names[name]]]
            if name.startswith("tag:"):
                return [row["Value"]] if row["Key"] == name[4:] else []
            return None

        chosen = filters.apply(rows, p.get("Filters"), fields)
        return filters.page(chosen, lambda r: f"{r['ResourceId']}\0{r['Key']}", p.get("MaxResults"),
                            p.get("NextToken"))

    # -- VPCs ------------------------------------------------------------------------------------
    def create_vpc(self, account: str, region: str, p: dict[str, Any]) -> Vpc:
        state = self.region(account, region)
        raw = p.get("CidrBlock")
        if not raw:
            raise _error("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
        network = _cidr(raw, "cidrBlock")
        if not 16 <= network.prefixlen <= 28:
            raise _error("InvalidVpc.Range", f"The CIDR '{raw}' is invalid.")
        tags = self._spec_tags(p.get("TagSpecifications"), "vpc")
        if len(state.vpcs) >= VPCS_PER_REGION:
            raise _limit("VpcLimitExceeded", "VPCs")
        vpc, made = self._new_vpc(state, str(network), tags=tags)
        self._save(state, vpc, *made)
        self._index(state, vpc, *made)
        return vpc

    def describe_vpcs(self, account: str, region: str, p: dict[str, Any]) -> tuple[list[Vpc], str | None]:
        state = self.region(account, region)
        filters.no_ids_with_max(p.get("VpcIds"), "vpcIds", p.get("MaxResults"))
        found = self._by_ids(state, "vpc", p.get("VpcIds"))

        def fields(vpc: Vpc, name: str) -> list[str] | None:
            values = {"vpc-id": [vpc.id], "cidr": [vpc.cidr], "cidr-block": [vpc.cidr],
                      "cidr-block-association.cidr-block": [vpc.cidr], "dhcp-options-id": [vpc.dhcp_options],
                      "is-default": [str(vpc.is_default).lower()], "owner-id": [vpc.account],
                      "state": ["available"], "instance-tenancy": ["default"]}.get(name)
            return values if values is not None else filters.tag_values(vpc.tags, name)

        return filters.page(filters.apply(found, p.get("Filters"), fields), lambda v: v.id, p.get("MaxResults"),
                            p.get("NextToken"))

    def delete_vpc(self, account: str, region: str, vpc_id: str) -> None:
        state = self.region(account, region)
        vpc = self.vpc(state, vpc_id)
        busy = (any(s.vpc_id == vpc.id for s in state.subnets.values())
                or any(g.vpc_id == vpc.id for g in state.gateways.values())
                or any(g.vpc_id == vpc.id and g.name != "default" for g in state.groups.values())
                or any(t.vpc_id == vpc.id and not t.main for t in state.tables.values())
                or any(n.vpc_id == vpc.id and n.state != "deleted" for n in state.nats.values()))
        if busy:
            raise _error("DependencyViolation", f"The vpc '{vpc.id}' has dependencies and cannot be deleted.")
        own: list[Record] = [g for g in state.groups.values() if g.vpc_id == vpc.id]
        own += [t for t in state.tables.values() if t.vpc_id == vpc.id]
        own += [n for n in state.nats.values() if n.vpc_id == vpc.id]
        self._drop(state, vpc, *own)

    # -- subnets ---------------------------------------------------------------------------------
    def create_subnet(self, account: str, region: str, p: dict[str, Any]) -> Subnet:
        state = self.region(account, region)
        vpc = self.vpc(state, p.get("VpcId"))
        raw = p.get("CidrBlock")
        if not raw:
            raise _error("MissingParameter", "The request must contain the parameter cidrBlock")
        network = _cidr(raw, "cidrBlock")
        if not 16 <= network.prefixlen <= 28 or not network.subnet_of(ipaddress.IPv4Network(vpc.cidr)):
            raise _error("InvalidSubnet.Range", f"The CIDR '{raw}' is invalid.")
        if any(s.vpc_id == vpc.id and s.network.overlaps(network) for s in state.subnets.values()):
            raise _error("InvalidSubnet.Conflict", f"The CIDR '{raw}' conflicts with another subnet")
        known = zones(region)
        zone_name, zone_id = p.get("AvailabilityZone"), p.get("AvailabilityZoneId")
        if zone_name is not None or zone_id is not None:
            match = next((z for z in known if z[0] == zone_name or (zone_name is None and z[1] == zone_id)), None)
            if match is None:
                asked, parameter = (zone_name, "availabilityZone") if zone_name is not None else \
                    (zone_id, "availabilityZoneId")
                raise _error("InvalidParameterValue",
                             f"Value ({str(asked)[:64]}) for parameter {parameter} is invalid. Subnets can currently "
                             f"only be created in the following availability zones: {', '.join(z[0] for z in known)}.")
        else:
            match = known[sum(1 for s in state.subnets.values() if s.vpc_id == vpc.id) % len(known)]
        tags = self._spec_tags(p.get("TagSpecifications"), "subnet")
        if sum(1 for s in state.subnets.values() if s.vpc_id == vpc.id) >= SUBNETS_PER_VPC:
            raise _limit("SubnetLimitExceeded", "subnets")
        subnet = Subnet(new_id("subnet"), account, region, vpc.id, str(network), match[0], match[1], tags=tags)
        self._save(state, subnet)
        self._index(state, subnet)
        return subnet

    def describe_subnets(self, account: str, region: str, p: dict[str, Any]) -> tuple[list[Subnet], str | None]:
        state = self.region(account, region)
        filters.no_ids_with_max(p.get("SubnetIds"), "subnetIds", p.get("MaxResults"))
        found = self._by_ids(state, "subnet", p.get("SubnetIds"))

        def fields(s: Subnet, name: str) -> list[str] | None:
            values = {"subnet-id": [s.id], "vpc-id": [s.vpc_id], "cidr-block": [s.cidr], "cidr": [s.cidr],
                      "cidrBlock": [s.cidr], "availability-zone": [s.zone], "availabilityZone": [s.zone],
                      "availability-zone-id": [s.zone_id], "default-for-az": [str(s.default_for_az).lower()],
                      "defaultForAz": [str(s.default_for_az).lower()], "state": ["available"],
                      "owner-id": [s.account], "available-ip-address-count": [str(s.available())],
                      "map-public-ip-on-launch": [str(s.default_for_az).lower()]}.get(name)
            return values if values is not None else filters.tag_values(s.tags, name)

        return filters.page(filters.apply(found, p.get("Filters"), fields), lambda s: s.id, p.get("MaxResults"),
                            p.get("NextToken"))

    def delete_subnet(self, account: str, region: str, subnet_id: str) -> None:
        state = self.region(account, region)
        subnet = self.subnet(state, subnet_id)
        if any(i.subnet_id == subnet.id for i in state.interfaces.values()) or any(
                n.subnet_id == subnet.id and n.state != "deleted" for n in state.nats.values()):
            raise _error("DependencyViolation", f"The subnet '{subnet.id}' has dependencies and cannot be deleted.")
        changed = []
        for table in state.tables.values():
            kept = [a for a in table.associations if a.subnet_id != subnet.id]
            if len(kept) != len(table.associations):
                table.associations = kept
                changed.append(table)
        with self.store.transaction():
            self._save(state, *changed)
            self._drop(state, subnet)

    # -- security groups -------------------------------------------------------------------------
    def create_security_group(self, account: str, region: str, p: dict[str, Any]) -> SecurityGroup:
        state = self.region(account, region)
        name, description = p["GroupName"], p["Description"]
        for text, what in ((name, "GroupName"), (description, "GroupDescription")):
            if len(text) > 255:
                raise _error("InvalidParameterValue", f"Invalid value '{text[:256]}' for {what}. Length exceeds "
                             "maximum of 255.")
            if not _GROUP_TEXT.fullmatch(text):
                raise _error("InvalidParameterValue", f"Invalid value '{text[:256]}' for {what}. Character sets "
                             "beyond ASCII are not supported.")
        if not name:
            raise _error("InvalidParameterValue", "Invalid value '' for GroupName. It must not be empty.")
        if name.startswith("sg-"):
            raise _error("InvalidParameterValue", "Group names may not be in the format sg-*.")
        if p.get("VpcId"):
            vpc = self.vpc(state, p["VpcId"])
        else:
            default = state.default_vpc()
            if default is None:
                raise _error("VPCIdNotSpecified", "No default VPC for this user")
            vpc = default
        if name == "default":
            raise _error("InvalidGroup.Reserved", "The security group 'default' is reserved")
        if any(g.vpc_id == vpc.id and g.name == name for g in state.groups.values()):
            raise _error("InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc.id}'")
        tags = self._spec_tags(p.get("TagSpecifications"), "security-group")
        if len(state.groups) >= GROUPS_PER_REGION:
            raise _limit("SecurityGroupLimitExceeded", "security groups")
        group = SecurityGroup(new_id("sg"), account, region, vpc.id, name, description,
                              [Rule(new_id("sgr"), True, "-1", None, None, cidr="0.0.0.0/0")], tags)
        self._save(state, group)
        self._index(state, group)
        return group

    def describe_security_groups(self, account: str, region: str,
                                 p: dict[str, Any]) -> tuple[list[SecurityGroup], str | None]:
        state = self.region(account, region)
        filters.no_ids_with_max(p.get("GroupIds"), "groupIds", p.get("MaxResults"))
        found = self._by_ids(state, "security-group", p.get("GroupIds"))
        if p.get("GroupNames"):
            named = [self._group_by_name(state, n) for n in dict.fromkeys(p["GroupNames"])]
            found = [g for g in found if g in named] if p.get("GroupIds") else named

        def fields(g: SecurityGroup, name: str) -> list[str] | None:
            ingress = [r for r in g.rules if not r.egress]
            values = {"group-id": [g.id], "group-name": [g.name], "vpc-id": [g.vpc_id], "description": [g.description],
                      "owner-id": [g.account], "ip-permission.protocol": [r.protocol for r in ingress],
                      "ip-permission.cidr": [r.cidr for r in ingress if r.cidr],
                      "ip-permission.group-id": [r.group_id for r in ingress if r.group_id],
                      "ip-permission.from-port": [str(r.from_port) for r in ingress if r.from_port is not None],
                      "ip-permission.to-port": [str(r.to_port) for r in ingress if r.to_port is not None],
                      "egress.ip-permission.cidr": [r.cidr for r in g.rules if r.egress and r.cidr],
                      "egress.ip-permission.protocol": [r.protocol for r in g.rules if r.egress]}.get(name)
            return values if values is not None else filters.tag_values(g.tags, name)

        return filters.page(filters.apply(found, p.get("Filters"), fields), lambda g: g.id, p.get("MaxResults"),
                            p.get("NextToken"))

    def delete_security_group(self, account: str, region: str, p: dict[str, Any]) -> SecurityGroup:
        state = self.region(account, region)
        if p.get("GroupId"):
            group = self.group(state, p["GroupId"])
        elif p.get("GroupName"):
            group = self._group_by_name(state, p["GroupName"])
        else:
            raise _error("MissingParameter", "The request must contain the parameter groupName or groupId")
        if group.name == "default":
            raise _error("CannotDelete",
                         f'the specified group: "{group.id}" name: "default" cannot be deleted by a user')
        in_use = any(group.id in i.groups for i in state.interfaces.values()) or any(
            r.group_id == group.id for g in state.groups.values() if g.id != group.id for r in g.rules)
        if in_use:
            raise _error("DependencyViolation", f"resource {group.id} has a dependent object")
        self._drop(state, group)
        return group

    def _permission_rules(self, state: RegionState, group: SecurityGroup, egress: bool,
                          p: dict[str, Any]) -> list[Rule]:
        def source(pair: dict[str, Any]) -> SecurityGroup:
            if pair.get("GroupId"):
                return self.group(state, pair["GroupId"])
            if pair.get("GroupName"):
                return next((g for g in state.groups.values() if g.vpc_id == group.vpc_id
                             and g.name == pair["GroupName"]), None) or self._group_by_name(state, pair["GroupName"])
            raise _error("MissingParameter", "The request must contain the parameter groupId or groupName")

        return permissions.rules(p, group, egress, source)

    def authorize(self, account: str, region: str, p: dict[str, Any], egress: bool) -> list[dict[str, Any]]:
        state = self.region(account, region)
        group = self._group_of(state, p)
        rules = self._permission_rules(state, group, egress, p)
        have = {r.key() for r in group.rules}
        seen: set[tuple[Any, ...]] = set()
        for rule in rules:
            if rule.key() in have or rule.key() in seen:
                raise _error("InvalidPermission.Duplicate", permissions.duplicate(rule))
            seen.add(rule.key())
        if sum(1 for r in group.rules if r.egress == egress) + len(rules) > RULES_PER_DIRECTION:
            raise _limit("RulesPerSecurityGroupLimitExceeded", "rules per security group")
        tags = self._spec_tags(p.get("TagSpecifications"), "security-group-rule")
        for rule in rules:
            rule.tags = dict(tags)
        group.rules.extend(rules)
        self._save(state, group)
        return [rule.to_wire(group) for rule in rules]

    def revoke(self, account: str, region: str, p: dict[str, Any], egress: bool) -> list[dict[str, Any]]:
        state = self.region(account, region)
        group = self._group_of(state, p)
        if p.get("SecurityGroupRuleIds"):
            by_id = {r.id: r for r in group.rules if r.egress == egress}
            gone = []
            for rule_id in p["SecurityGroupRuleIds"]:
                if rule_id not in by_id:
                    raise _error("InvalidSecurityGroupRuleId.NotFound",
                                 f"The security group rule ID '{rule_id[:64]}' does not exist")
                gone.append(by_id[rule_id])
        else:
            by_key = {r.key(): r for r in group.rules}
            gone = []
            for rule in self._permission_rules(state, group, egress, p):
                found = by_key.get(rule.key())
                if found is None:
                    raise _error("InvalidPermission.NotFound",
                                 "The specified rule does not exist in this security group.")
                gone.append(found)
        group.rules = [r for r in group.rules if r not in gone]
        self._save(state, group)
        return [rule.to_wire(group) for rule in gone]

    def _group_of(self, state: RegionState, p: dict[str, Any]) -> SecurityGroup:
        if p.get("GroupId"):
            return self.group(state, p["GroupId"])
        if p.get("GroupName"):
            return self._group_by_name(state, p["GroupName"])
        raise _error("MissingParameter", "The request must contain the parameter groupName or groupId")

    def describe_security_group_rules(self, account: str, region: str,
                                      p: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        state = self.region(account, region)
        rules = [(r, g) for g in sorted(state.groups.values(), key=lambda g: g.id) for r in g.rules]
        wanted = p.get("SecurityGroupRuleIds")
        if wanted:
            filters.no_ids_with_max(wanted, "securityGroupRuleIds", p.get("MaxResults"))
            known = {r.id for r, _ in rules}
            for rule_id in wanted:
                if rule_id not in known:
                    raise _error("InvalidSecurityGroupRuleId.NotFound",
                                 f"The security group rule ID '{rule_id[:64]}' does not exist")
            rules = [(r, g) for r, g in rules if r.id in wanted]

        def fields(item: tuple[Rule, SecurityGroup], name: str) -> list[str] | None:
            rule, group = item
            values = {"group-id": [group.id], "security-group-rule-id": [rule.id]}.get(name)
            return values if values is not None else filters.tag_values(rule.tags, name)

        chosen, token = filters.page(filters.apply(rules, p.get("Filters"), fields), lambda i: i[1].id + i[0].id,
                                     p.get("MaxResults"), p.get("NextToken"))
        return [r.to_wire(g) for r, g in chosen], token

    # -- internet gateways -----------------------------------------------------------------------
    def create_internet_gateway(self, account: str, region: str, p: dict[str, Any]) -> InternetGateway:
        state = self.region(account, region)
        if len(state.gateways) >= GATEWAYS_PER_REGION:
            raise _limit("InternetGatewayLimitExceeded", "internet gateways")
        gateway = InternetGateway(new_id("igw"), account, region,
                                  tags=self._spec_tags(p.get("TagSpecifications"), "internet-gateway"))
        self._save(state, gateway)
        self._index(state, gateway)
        return gateway

    def _gateway(self, state: RegionState, gateway_id: str | None) -> InternetGateway:
        gateway: InternetGateway = self._get(state, "internet-gateway", gateway_id, "InternetGatewayId")
        return gateway

    def attach_internet_gateway(self, account: str, region: str, gateway_id: str, vpc_id: str) -> None:
        state = self.region(account, region)
        gateway = self._gateway(state, gateway_id)
        vpc = self.vpc(state, vpc_id)
        if gateway.vpc_id:
            raise _error("Resource.AlreadyAssociated",
                         f"resource {gateway.id} is already attached to network {gateway.vpc_id}")
        other = next((g for g in state.gateways.values() if g.vpc_id == vpc.id), None)
        if other is not None:
            raise _error("Resource.AlreadyAssociated", f"resource {vpc.id} already has an internet gateway "
                         f"attached ({other.id})")
        gateway.vpc_id = vpc.id
        self._save(state, gateway)

    def detach_internet_gateway(self, account: str, region: str, gateway_id: str, vpc_id: str) -> None:
        state = self.region(account, region)
        gateway = self._gateway(state, gateway_id)
        vpc = self.vpc(state, vpc_id)
        if gateway.vpc_id != vpc.id:
            raise _error("Gateway.NotAttached", f"resource {gateway.id} is not attached to network {vpc.id}")
        gateway.vpc_id = None
        self._save(state, gateway)

    def delete_internet_gateway(self, account: str, region: str, gateway_id: str) -> None:
        state = self.region(account, region)
        gateway = self._gateway(state, gateway_id)
        if gateway.vpc_id:
            raise _error("DependencyViolation",
                         f"The internetGateway '{gateway.id}' has dependencies and cannot be deleted.")
        self._drop(state, gateway)

    def describe_internet_gateways(self, account: str, region: str,
                                   p: dict[str, Any]) -> tuple[list[InternetGateway], str | None]:
        state = self.region(account, region)
        filters.no_ids_with_max(p.get("InternetGatewayIds"), "internetGatewayIds", p.get("MaxResults"))
        found = self._by_ids(state, "internet-gateway", p.get("InternetGatewayIds"))

        def fields(g: InternetGateway, name: str) -> list[str] | None:
            values = {"internet-gateway-id": [g.id], "attachment.vpc-id": [g.vpc_id] if g.vpc_id else [],
                      "attachment.state": ["available"] if g.vpc_id else [], "owner-id": [g.account]}.get(name)
            return values if values is not None else filters.tag_values(g.tags, name)

        return filters.page(filters.apply(found, p.get("Filters"), fields), lambda g: g.id, p.get("MaxResults"),
                            p.get("NextToken"))

    # -- NAT gateways ----------------------------------------------------------------------------
    def create_nat_gateway(self, account: str, region: str, p: dict[str, Any]) -> NatGateway:
        state = self.region(account, region)
        subnet = self.subnet(state, p.get("SubnetId"))
        connectivity = p.get("ConnectivityType") or "public"
        if connectivity not in ("public", "private"):
            raise _error("InvalidParameterValue", f"Value ({connectivity[:64]}) for parameter connectivityType is "
                         "invalid. Valid values are public and private.")
        allocation = p.get("AllocationId")
        if connectivity == "public" and not allocation:
            raise _error("MissingParameter", "The request must contain the parameter AllocationId")
        if connectivity == "private" and allocation:
            raise _error("InvalidParameterCombination", "A private NAT gateway cannot have an Elastic IP address")
        eip: Address | None = None
        if allocation:
            eip = state.addresses.get(allocation)
            if eip is None:
                raise _not_found(allocation) if allocation.startswith("eipalloc-") else _error(
                    "InvalidAllocationID.Malformed", f'Invalid id: "{allocation[:64]}" (expecting "eipalloc-...")')
            if eip.interface_id:
                raise _error("Resource.AlreadyAssociated", f"Elastic IP address [{eip.id}] is already associated")
        tags = self._spec_tags(p.get("TagSpecifications"), "natgateway")
        zone = [n for n in state.nats.values() if n.state != "deleted"
                and state.subnets.get(n.subnet_id, subnet).zone == subnet.zone]
        if len(zone) >= NATS_PER_ZONE:
            raise _limit("NatGatewayLimitExceeded", "NAT gateways")
        try:
            address = subnet.take_address()
        except LookupError:
            raise _error("InsufficientFreeAddressesInSubnet",
                         f"Insufficient free IP addresses in subnet {subnet.id}") from None
        nat = NatGateway(new_id("nat"), account, region, subnet.vpc_id, subnet.id, connectivity, address,
                         new_id("eni"), allocation, self.clock(), public_ip=eip.public_ip if eip else None, tags=tags)
        changed: list[Record] = [nat, subnet]
        if eip is not None:
            eip.nat_id, eip.interface_id, eip.private_ip = nat.id, nat.interface_id, address
            eip.association_id = new_id("eipassoc")
            changed.append(eip)
        self._save(state, *changed)
        self._index(state, nat)
        return nat

    def describe_nat_gateways(self, account: str, region: str,
                              p: dict[str, Any]) -> tuple[list[NatGateway], str | None]:
        state = self.region(account, region)
        now = self.clock()
        ripe = [n for n in state.nats.values() if n.state == "pending"]
        for nat in ripe:  # provisioning is instant here: the first look after creation sees it done
            nat.state = "available"
        gone = [n for n in state.nats.values() if n.deleted is not None and now - n.deleted > DELETED_NAT_VISIBLE]
        if ripe:
            self._save(state, *ripe)
        if gone:
            self._drop(state, *gone)
        filters.no_ids_with_max(p.get("NatGatewayIds"), "natGatewayIds", p.get("MaxResults"))
        found = self._by_ids(state, "natgateway", p.get("NatGatewayIds"))

        def fields(n: NatGateway, name: str) -> list[str] | None:
            values = {"nat-gateway-id": [n.id], "state": [n.state], "subnet-id": [n.subnet_id],
                      "vpc-id": [n.vpc_id]}.get(name)
            return values if values is not None else filters.tag_values(n.tags, name)

        return filters.page(filters.apply(found, p.get("Filter"), fields), lambda n: n.id, p.get("MaxResults"),
                            p.get("NextToken"))

    def delete_nat_gateway(self, account: str, region: str, nat_id: str) -> str:
        state = self.region(account, region)
        nat: NatGateway = self._get(state, "natgateway", nat_id, "NatGatewayId")
        if nat.state != "deleted":
            nat.state = "deleted"
            nat.deleted = self.clock()
            subnet = state.subnets.get(nat.subnet_id)
            changed: list[Record] = [nat]
            if subnet is not None and nat.private_ip in subnet.used_addresses:
                subnet.used_addresses.remove(nat.private_ip)
                changed.append(subnet)
            eip = state.addresses.get(nat.allocation_id or "")
            if eip is not None and eip.nat_id == nat.id:  # the address is the account's again, unassociated
                eip.nat_id = eip.interface_id = eip.private_ip = eip.association_id = None
                changed.append(eip)
            self._save(state, *changed)
        return nat.id

    # -- attributes ------------------------------------------------------------------------------
    def describe_vpc_attribute(self, account: str, region: str, vpc_id: str, attribute: str) -> dict[str, Any]:
        vpc = self.vpc(self.region(account, region), vpc_id)
        names = {"enableDnsSupport": "EnableDnsSupport", "enableDnsHostnames": "EnableDnsHostnames",
                 "enableNetworkAddressUsageMetrics": "EnableNetworkAddressUsageMetrics"}
        if attribute not in names:
            raise _error("InvalidParameterValue", f"Value ({attribute[:64]}) for parameter attribute is invalid. "
                         "Unknown attribute.")
        return {"VpcId": vpc.id, names[attribute]: {"Value": vpc.attribute(attribute)}}

    def modify_vpc_attribute(self, account: str, region: str, p: dict[str, Any]) -> None:
        state = self.region(account, region)
        vpc = self.vpc(state, p.get("VpcId"))
        given = [k for k in ("EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics")
                 if isinstance(p.get(k), dict) and "Value" in p[k]]
        if len(given) != 1:
            raise _error("InvalidParameterCombination" if given else "MissingParameter",
                         "Exactly one attribute must be specified per request" if given else
                         "The request must contain the parameter EnableDnsSupport or EnableDnsHostnames")
        value = bool(p[given[0]]["Value"])
        if given[0] == "EnableDnsSupport":
            vpc.dns_support = value
        elif given[0] == "EnableDnsHostnames":
            vpc.dns_hostnames = value
        else:
            vpc.address_usage_metrics = value
        self._save(state, vpc)

    def modify_subnet_attribute(self, account: str, region: str, p: dict[str, Any]) -> None:
        state = self.region(account, region)
        subnet = self.subnet(state, p.get("SubnetId"))
        public = p.get("MapPublicIpOnLaunch")
        others = [k for k in p if k not in ("SubnetId", "MapPublicIpOnLaunch", "DryRun")]
        if others:
            raise _error("InvalidParameterValue", f"lambdad modifies only MapPublicIpOnLaunch of a subnet, not "
                         f"{others[0]}")
        if not isinstance(public, dict) or "Value" not in public:
            raise _error("MissingParameter", "The request must contain the parameter MapPublicIpOnLaunch")
        subnet.map_public_ip = bool(public["Value"])
        self._save(state, subnet)

    # -- Elastic IP addresses --------------------------------------------------------------------
    def allocate_address(self, account: str, region: str, p: dict[str, Any]) -> Address:
        state = self.region(account, region)
        if p.get("Domain", "vpc") != "vpc":
            raise _error("InvalidParameterValue", f"Invalid value '{str(p.get('Domain'))[:64]}' for domain.")
        if p.get("Address") or p.get("PublicIpv4Pool") not in (None, "amazon") or p.get("IpamPoolId"):
            raise _error("InvalidParameterValue", "lambdad allocates addresses from Amazon's pool only")
        if len(state.addresses) >= ADDRESSES_PER_REGION:
            raise _error("AddressLimitExceeded", "The maximum number of addresses has been reached.")
        taken = {a.public_ip for a in state.addresses.values()}
        public_ip = next(str(ip) for ip in _ADDRESS_POOL.hosts() if str(ip) not in taken)
        address = Address(new_id("eipalloc"), account, region, public_ip,
                          tags=self._spec_tags(p.get("TagSpecifications"), "elastic-ip"))
        self._save(state, address)
        self._index(state, address)
        return address

    def _address(self, state: RegionState, p: dict[str, Any]) -> Address:
        if p.get("AllocationId"):
            found: Address = self._get(state, "elastic-ip", p["AllocationId"], "AllocationId")
            return found
        if p.get("PublicIp"):
            match = next((a for a in state.addresses.values() if a.public_ip == p["PublicIp"]), None)
            if match is None:
                raise _error("InvalidAddress.NotFound", f"Address '{str(p['PublicIp'])[:64]}' not found.")
            return match
        raise _error("MissingParameter", "The request must contain the parameter AllocationId")

    def release_address(self, account: str, region: str, p: dict[str, Any]) -> None:
        state = self.region(account, region)
        address = self._address(state, p)
        if address.interface_id:
            raise _error("InvalidIPAddress.InUse", f"Address {address.id} is in use.")
        self._drop(state, address)

    def describe_addresses(self, account: str, region: str, p: dict[str, Any]) -> list[Address]:
        state = self.region(account, region)
        found = self._by_ids(state, "elastic-ip", p.get("AllocationIds"))
        if p.get("PublicIps"):
            found = [self._address(state, {"PublicIp": ip}) for ip in dict.fromkeys(p["PublicIps"])
                     if not p.get("AllocationIds") or ip in {a.public_ip for a in found}]

        def fields(a: Address, name: str) -> list[str] | None:
            values = {"allocation-id": [a.id], "public-ip": [a.public_ip], "domain": ["vpc"],
                      "association-id": [a.association_id] if a.association_id else [],
                      "network-interface-id": [a.interface_id] if a.interface_id else [],
                      "private-ip-address": [a.private_ip] if a.private_ip else [],
                      "network-border-group": [a.region]}.get(name)
            return values if values is not None else filters.tag_values(a.tags, name)

        return filters.apply(found, p.get("Filters"), fields)

    # -- route tables ----------------------------------------------------------------------------
    def create_route_table(self, account: str, region: str, p: dict[str, Any]) -> RouteTable:
        state = self.region(account, region)
        vpc = self.vpc(state, p.get("VpcId"))
        if sum(1 for t in state.tables.values() if t.vpc_id == vpc.id) >= TABLES_PER_VPC:
            raise _limit("RouteTableLimitExceeded", "route tables")
        table = RouteTable(new_id("rtb"), account, region, vpc.id, False,
                           [Route(vpc.cidr, gateway_id="local", origin="CreateRouteTable")],
                           tags=self._spec_tags(p.get("TagSpecifications"), "route-table"))
        self._save(state, table)
        self._index(state, table)
        return table

    def route_states(self, state: RegionState) -> dict[str, str]:
        out = {}
        for gateway in state.gateways.values():
            out[gateway.id] = "active" if gateway.vpc_id else "blackhole"
        for nat in state.nats.values():
            out[nat.id] = "blackhole" if nat.state in ("deleting", "deleted", "failed") else "active"
        return out

    def describe_route_tables(self, account: str, region: str,
                              p: dict[str, Any]) -> tuple[list[RouteTable], str | None]:
        state = self.region(account, region)
        filters.no_ids_with_max(p.get("RouteTableIds"), "routeTableIds", p.get("MaxResults"))
        found = self._by_ids(state, "route-table", p.get("RouteTableIds"))

        def fields(t: RouteTable, name: str) -> list[str] | None:
            values = {"route-table-id": [t.id], "vpc-id": [t.vpc_id], "owner-id": [t.account],
                      "association.main": ["true"] if t.main else ["false"],
                      "association.subnet-id": [a.subnet_id for a in t.associations if a.subnet_id],
                      "association.route-table-association-id": [a.id for a in t.associations],
                      "association.route-table-id": [t.id] if t.associations else [],
                      "route.destination-cidr-block": [r.destination for r in t.routes],
                      "route.gateway-id": [r.gateway_id for r in t.routes if r.gateway_id],
                      "route.nat-gateway-id": [r.nat_gateway_id for r in t.routes if r.nat_gateway_id]}.get(name)
            return values if values is not None else filters.tag_values(t.tags, name)

        return filters.page(filters.apply(found, p.get("Filters"), fields), lambda t: t.id, p.get("MaxResults"),
                            p.get("NextToken"))

    def delete_route_table(self, account: str, region: str, table_id: str) -> None:
        state = self.region(account, region)
        table = self._table(state, table_id)
        if table.main or table.associations:
            raise _error("DependencyViolation", f"The routeTable '{table.id}' has dependencies and cannot be deleted.")
        self._drop(state, table)

    def create_route(self, account: str, region: str, p: dict[str, Any]) -> None:
        state = self.region(account, region)
        table = self._table(state, p.get("RouteTableId"))
        raw = p.get("DestinationCidrBlock")
        if not raw:
            raise _error("MissingParameter", "The request must contain the parameter destinationCidrBlock or "
                         "destinationIpv6CidrBlock or destinationPrefixListId")
        destination = str(_cidr(raw, "destinationCidrBlock"))
        unsupported = [k for k in ("InstanceId", "NetworkInterfaceId", "VpcPeeringConnectionId", "TransitGatewayId",
                                   "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId",
                                   "VpcEndpointId", "CoreNetworkArn", "OdbNetworkArn") if p.get(k)]
        targets = [k for k in ("GatewayId", "NatGatewayId") if p.get(k)]
        if unsupported:
            raise _error("InvalidParameterValue", f"lambdad routes only to internet and NAT gateways: {unsupported[0]} "
                         "is not supported")
        if len(targets) != 1:
            raise _error("InvalidParameterCombination" if targets else "MissingParameter",
                         "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, "
                         "vpcPeeringConnectionId or instanceId")
        if any(r.destination == destination for r in table.routes):
            raise _error("RouteAlreadyExists", f"The route identified by {destination} already exists.")
        if len(table.routes) >= ROUTES_PER_TABLE:
            raise _limit("RouteLimitExceeded", "routes")
        if p.get("GatewayId"):
            gateway_id = p["GatewayId"]
            gateway = state.gateways.get(gateway_id)
            if gateway is None:
                raise _error("InvalidGatewayID.NotFound", f"The gateway ID '{gateway_id[:64]}' does not exist")
            if gateway.vpc_id != table.vpc_id:
                raise _error("InvalidParameterValue",
                             f"route table {table.id} and network gateway {gateway.id} belong to different networks")
            route = Route(destination, gateway_id=gateway.id)
        else:
            nat_id = p["NatGatewayId"]
            nat = state.nats.get(nat_id)
            if nat is None or nat.state == "deleted":
                raise _error("InvalidNatGatewayID.NotFound", f"The natGateway ID '{nat_id[:64]}' does not exist")
            if nat.vpc_id != table.vpc_id:
                raise _error("InvalidParameterValue",
                             f"route table {table.id} and nat gateway {nat.id} belong to different networks")
            route = Route(destination, nat_gateway_id=nat.id)
        table.routes.append(route)
        self._save(state, table)

    def delete_route(self, account: str, region: str, p: dict[str, Any]) -> None:
        state = self.region(account, region)
        table = self._table(state, p.get("RouteTableId"))
        destination = p.get("DestinationCidrBlock")
        if not destination:
            raise _error("MissingParameter", "The request must contain the parameter destinationCidrBlock or "
                         "destinationIpv6CidrBlock or destinationPrefixListId")
        route = next((r for r in table.routes if r.destination == destination), None)
        if route is None:
            raise _error("InvalidRoute.NotFound", f"no route with destination-cidr-block {destination[:64]} in route "
                         f"table {table.id}")
        if route.gateway_id == "local":
            raise _error("InvalidParameterValue", f"cannot remove local route {destination} in route table {table.id}")
        table.routes.remove(route)
        self._save(state, table)

    def associate_route_table(self, account: str, region: str, p: dict[str, Any]) -> str:
        state = self.region(account, region)
        table = self._table(state, p.get("RouteTableId"))
        if p.get("GatewayId"):
            raise _error("InvalidParameterValue", "lambdad associates route tables with subnets only")
        subnet = self.subnet(state, p.get("SubnetId"))
        if subnet.vpc_id != table.vpc_id:
            raise _error("InvalidParameterValue",
                         f"Route table {table.id} and subnet {subnet.id} belong to different networks")
        for other in state.tables.values():
            if any(a.subnet_id == subnet.id for a in other.associations):
                raise _error("Resource.AlreadyAssociated", f"the specified association for route table {table.id} "
                             "conflicts with an existing association")
        association = Association(new_id("rtbassoc"), subnet.id)
        table.associations.append(association)
        self._save(state, table)
        return association.id

    def disassociate_route_table(self, account: str, region: str, association_id: str) -> None:
        state = self.region(account, region)
        for table in state.tables.values():
            for association in table.associations:
                if association.id == association_id:
                    if association.subnet_id is None:
                        raise _error("InvalidParameterValue",
                                     f"cannot disassociate the main route table association {association_id}")
                    table.associations.remove(association)
                    self._save(state, table)
                    return
        raise _error("InvalidAssociationID.NotFound", f"The association ID '{association_id[:64]}' does not exist")

    # -- network interfaces and zones ------------------------------------------------------------
    def describe_network_interfaces(self, account: str, region: str,
                                    p: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        state = self.region(account, region)
        filters.no_ids_with_max(p.get("NetworkInterfaceIds"), "networkInterfaceIds", p.get("MaxResults"))
        found = self._by_ids(state, "network-interface", p.get("NetworkInterfaceIds"))

        def fields(i: NetworkInterface, name: str) -> list[str] | None:
            values = {"network-interface-id": [i.id], "vpc-id": [i.vpc_id], "subnet-id": [i.subnet_id],
                      "group-id": i.groups, "description": [i.description], "requester-id": [i.requester_id],
                      "interface-type": [i.interface_type], "status": ["in-use"], "owner-id": [i.account],
                      "availability-zone": [i.zone], "private-ip-address": [i.private_ip],
                      "addresses.private-ip-address": [i.private_ip], "requester-managed": ["true"]}.get(name)
            return values if values is not None else filters.tag_values(i.tags, name)

        chosen, token = filters.page(filters.apply(found, p.get("Filters"), fields), lambda i: i.id,
                                     p.get("MaxResults"), p.get("NextToken"))
        names = {g.id: g.name for g in state.groups.values()}
        return [i.to_wire(names) for i in chosen], token

    def describe_availability_zones(self, region: str, p: dict[str, Any]) -> list[dict[str, Any]]:
        known = [{"State": "available", "OptInStatus": "opt-in-not-required", "Messages": [], "RegionName": region,
                  "ZoneName": name, "ZoneId": zone_id, "GroupName": region, "NetworkBorderGroup": region,
                  "ZoneType": "availability-zone", "GroupLongName": region}
                 for name, zone_id in zones(region)]
        names, ids = p.get("ZoneNames") or [], p.get("ZoneIds") or []
        for asked, key in [(n, "ZoneName") for n in names] + [(i, "ZoneId") for i in ids]:
            if not any(z[key] == asked for z in known):
                raise _error("InvalidParameterValue", f"Invalid availability zone: [{asked[:64]}]")
        if names or ids:
            known = [z for z in known if z["ZoneName"] in names or z["ZoneId"] in ids]

        def fields(z: dict[str, Any], name: str) -> list[str] | None:
            keys = {"zone-name": "ZoneName", "zone-id": "ZoneId", "state": "State", "region-name": "RegionName",
                    "group-name": "GroupName", "opt-in-status": "OptInStatus", "zone-type": "ZoneType",
                    "network-border-group": "NetworkBorderGroup"}
            return [z[keys[name]]] if name in keys else None

        return filters.apply(known, p.get("Filters"), fields)
