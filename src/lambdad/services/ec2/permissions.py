"""Security group permissions as Authorize/Revoke calls give them, turned into rules.

An `IpPermission` names a protocol and port range and any number of peers (IPv4 and IPv6 CIDRs,
other groups); each peer becomes one `Rule`, as AWS's `SecurityGroupRule`s are. The older top-level
form (`IpProtocol`, `FromPort`, `ToPort`, `CidrIp`, `SourceSecurityGroupName`: what `aws ec2
authorize-security-group-ingress --protocol --port --cidr` sends) is one more permission.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from lambdad.services.ec2.common import GROUP_TEXT, cidr, error, limit, new_id
from lambdad.services.ec2.records import Rule, SecurityGroup

RULES_PER_DIRECTION = 60  # AWS's default quota: inbound, and outbound, rules per security group
_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
              "icmpv6": "icmpv6", "58": "icmpv6", "-1": "-1", "all": "-1"}


def rules(p: dict[str, Any], group: SecurityGroup, egress: bool,
          source: Callable[[dict[str, Any]], SecurityGroup]) -> list[Rule]:
    """The rules an Authorize/Revoke call names on `group`; `source` finds a UserIdGroupPair's group."""
    permissions = list(p.get("IpPermissions") or [])
    if p.get("IpProtocol") or p.get("CidrIp") or p.get("SourceSecurityGroupName"):
        legacy: dict[str, Any] = {"IpProtocol": p.get("IpProtocol") or "-1"}
        for key in ("FromPort", "ToPort"):
            if key in p:
                legacy[key] = p[key]
        if p.get("CidrIp"):
            legacy["IpRanges"] = [{"CidrIp": p["CidrIp"]}]
        if p.get("SourceSecurityGroupName"):
            legacy["UserIdGroupPairs"] = [{"GroupName": p["SourceSecurityGroupName"]}]
        permissions.append(legacy)
    if not permissions:
        raise error("MissingParameter", "The request must contain the parameter ipPermissions")
    if len(permissions) > RULES_PER_DIRECTION:
        raise limit("RulesPerSecurityGroupLimitExceeded", "rules per security group")
    out: list[Rule] = []
    for perm in permissions:
        protocol, low, high = protocol_and_ports(perm)
        peers: list[dict[str, Any]] = []
        for r in perm.get("IpRanges") or []:
            peers.append({"cidr": str(cidr(str(r.get("CidrIp") or ""), "cidrIp")), "description": r.get("Description")})
        for r in perm.get("Ipv6Ranges") or []:
            raw = str(r.get("CidrIpv6") or "")
            try:
                net6 = ipaddress.IPv6Network(raw, strict=True)
            except ValueError:
                raise error("InvalidParameterValue", f"Value ({raw[:256]}) for parameter cidrIpv6 is invalid. "
                            "This is not a valid CIDR block.") from None
            peers.append({"cidr_v6": str(net6), "description": r.get("Description")})
        for pair in perm.get("UserIdGroupPairs") or []:
            found = source(pair)
            if found.vpc_id != group.vpc_id:
                raise error("InvalidParameter", "You have specified two resources that belong to different networks.")
            peers.append({"group_id": found.id, "group_owner": found.account, "description": pair.get("Description")})
        if perm.get("PrefixListIds"):
            raise error("InvalidPrefixListId.NotFound",
                        f"The prefix list ID '{perm['PrefixListIds'][0].get('PrefixListId')}' does not exist")
        if len(out) + len(peers) > RULES_PER_DIRECTION:
            raise limit("RulesPerSecurityGroupLimitExceeded", "rules per security group")
        if not peers:
            raise error("InvalidParameterValue", "The request must contain a source: IpRanges, Ipv6Ranges, "
                        "or UserIdGroupPairs")
        for peer in peers:
            description = peer.pop("description")
            if description is not None and (len(description) > 255 or not GROUP_TEXT.fullmatch(description)):
                raise error("InvalidParameterValue", "Invalid rule description. Valid descriptions are strings "
                            "less than 256 characters from the following set: a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
            out.append(Rule(new_id("sgr"), egress, protocol, low, high, description=description, **peer))
    return out


def protocol_and_ports(perm: dict[str, Any]) -> tuple[str, int | None, int | None]:
    """A permission's protocol (by name: tcp, udp, icmp, icmpv6, -1; others by number) and port range
    (ICMP: type and code; none for -1 and other protocols)."""
    raw = str(perm.get("IpProtocol") or "")
    protocol = _PROTOCOLS.get(raw.lower())
    if protocol is None:
        if raw.isdigit() and len(raw) <= 3 and int(raw) <= 255:
            protocol = str(int(raw))
        else:
            raise error("InvalidParameterValue", f"Invalid value '{raw[:64]}' for IP protocol. Unknown protocol.")
    low, high = perm.get("FromPort"), perm.get("ToPort")
    if protocol == "-1":
        return protocol, None, None
    if protocol in ("tcp", "udp"):
        if low is None or high is None:
            raise error("InvalidParameterValue",
                        "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
        if low == -1 and high == -1:
            return protocol, 0, 65535
        if not (0 <= low <= 65535 and 0 <= high <= 65535) or low > high:
            raise error("InvalidParameterValue", f"Invalid TCP/UDP port range ({low} - {high}).")
        return protocol, low, high
    if protocol in ("icmp", "icmpv6"):
        low = -1 if low is None else low
        high = -1 if high is None else high
        if not (-1 <= low <= 255 and -1 <= high <= 255):
            raise error("InvalidParameterValue", f"Invalid value '{low}' for ICMP type, '{high}' for ICMP code.")
        return protocol, low, high
    return protocol, None, None


def duplicate(rule: Rule) -> str:
    """AWS's InvalidPermission.Duplicate sentence for a rule."""
    port = "ALL" if rule.protocol == "-1" else \
        f"{rule.protocol.upper()}, from port: {rule.from_port}, to port: {rule.to_port}"
    return f'the specified rule "peer: {rule.peer()}, {port}, ALLOW" already exists'
