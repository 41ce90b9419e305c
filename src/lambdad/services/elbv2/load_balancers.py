"""Application load balancers with Lambda targets: load balancers, target groups, listeners, rules.

Domain logic only: the elbv2 query API (`services/elbv2/wire.py`) calls these methods with parameters
shaped as boto3 passes them, and the listener front door (`frontdoors/alb.py`) asks `match()` which
action answers a request. Everything persists in the store and is reloaded at start.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdad import wildcards
from lambdad.errors import ApiError
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS elbv2_resources (
    arn TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
"""

_NAME_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?")
DEFAULT_TG_ATTRIBUTES = {"lambda.multi_value_headers.enabled": "false"}


def _error(code: str, message: str, status: int = 400) -> ApiError:
    return ApiError(message, code=code, status=status)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


# -- the records --------------------------------------------------------------------------------
# Each record is persisted as one JSON object in `elbv2_resources.data`: its wire members plus
# lambdad's own bookkeeping under `_` keys (the format of earlier versions, so data dirs load as
# they are). `to_wire()` is what the API answers; actions and conditions stay AWS's own shapes.
Tags = list[dict[str, str]]


@dataclass(slots=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    created_time: str
    scheme: str
    security_groups: list[str]
    ip_address_type: str
    account: str
    tags: Tags = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"LoadBalancerArn": self.arn, "DNSName": self.dns_name, "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
                "CreatedTime": self.created_time, "LoadBalancerName": self.name, "Scheme": self.scheme,
                "VpcId": "vpc-lambdad", "State": {"Code": "active"}, "Type": "application",
                "AvailabilityZones": [], "SecurityGroups": self.security_groups,
                "IpAddressType": self.ip_address_type}

    def to_record(self) -> dict[str, Any]:
        return {**self.to_wire(), "_account": self.account, "_tags": self.tags}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> LoadBalancer:
        return cls(d["LoadBalancerArn"], d["LoadBalancerName"], d["DNSName"], d["CreatedTime"], d["Scheme"],
                   d.get("SecurityGroups") or [], d.get("IpAddressType", "ipv4"), d["_account"], d.get("_tags") or [])


@dataclass(slots=True)
class TargetGroup:
    arn: str
    name: str
    account: str
    health_check_enabled: bool = False
    health_check_interval: int = 35
    health_check_timeout: int = 30
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    health_check_path: str = "/"
    matcher: dict[str, Any] = field(default_factory=lambda: {"HttpCode": "200"})
    targets: list[str] = field(default_factory=list)  # function ARNs (at most one, as on AWS)
    attributes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TG_ATTRIBUTES))
    tags: Tags = field(default_factory=list)

    def health_check(self) -> dict[str, Any]:
        return {"HealthCheckEnabled": self.health_check_enabled,
                "HealthCheckIntervalSeconds": self.health_check_interval,
                "HealthCheckTimeoutSeconds": self.health_check_timeout,
                "HealthyThresholdCount": self.healthy_threshold, "UnhealthyThresholdCount": self.unhealthy_threshold,
                "HealthCheckPath": self.health_check_path}

    def to_wire(self, load_balancer_arns: list[str] | None = None) -> dict[str, Any]:
        return {"TargetGroupArn": self.arn, "TargetGroupName": self.name, **self.health_check(),
                "Matcher": self.matcher, "LoadBalancerArns": load_balancer_arns or [], "TargetType": "lambda",
                "IpAddressType": "ipv4"}

    def to_record(self) -> dict[str, Any]:
        return {**self.to_wire(), "_account": self.account, "_targets": self.targets,
                "_attributes": self.attributes, "_tags": self.tags}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> TargetGroup:
        return cls(d["TargetGroupArn"], d["TargetGroupName"], d["_account"], bool(d.get("HealthCheckEnabled")),
                   d.get("HealthCheckIntervalSeconds", 35), d.get("HealthCheckTimeoutSeconds", 30),
                   d.get("HealthyThresholdCount", 5), d.get("UnhealthyThresholdCount", 2),
                   d.get("HealthCheckPath", "/"), d.get("Matcher") or {"HttpCode": "200"}, d.get("_targets") or [],
                   {**DEFAULT_TG_ATTRIBUTES, **(d.get("_attributes") or {})}, d.get("_tags") or [])


@dataclass(slots=True)
class Listener:
    arn: str
    load_balancer_arn: str
    port: int
    default_actions: list[dict[str, Any]]
    account: str
    tags: Tags = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"ListenerArn": self.arn, "LoadBalancerArn": self.load_balancer_arn, "Port": self.port,
                "Protocol": "HTTP", "DefaultActions": self.default_actions}

    def to_record(self) -> dict[str, Any]:
        return {**self.to_wire(), "_account": self.account, "_tags": self.tags}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Listener:
        return cls(d["ListenerArn"], d["LoadBalancerArn"], int(d["Port"]), d["DefaultActions"], d["_account"],
                   d.get("_tags") or [])


@dataclass(slots=True)
class Rule:
    arn: str
    priority: str  # "1".."50000", or "default" for a listener's default rule (as AWS renders it)
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    listener_arn: str
    account: str
    is_default: bool = False
    tags: Tags = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"RuleArn": self.arn, "Priority": self.priority, "Conditions": self.conditions,
                "Actions": self.actions, "IsDefault": self.is_default}

    def to_record(self) -> dict[str, Any]:
        return {**self.to_wire(), "_listener": self.listener_arn, "_account": self.account, "_tags": self.tags}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Rule:
        return cls(d["RuleArn"], str(d["Priority"]), d["Conditions"], d["Actions"], d["_listener"], d["_account"],
                   bool(d.get("IsDefault")), d.get("_tags") or [])


Resource = LoadBalancer | TargetGroup | Listener | Rule
_KINDS: dict[str, type[LoadBalancer] | type[TargetGroup] | type[Listener] | type[Rule]] = {
    "load_balancers": LoadBalancer, "target_groups": TargetGroup, "listeners": Listener, "rules": Rule}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}


@dataclass(slots=True)
class Match:
    """What a listener does with one request."""

    action: dict[str, Any]
    rule_arn: str


def _owned(item: Any, account: str, region: str) -> bool:
    """Whether `account` sees `item` from `region`: resources are scoped by account and region (the ARN
    says which region), as on AWS."""
    return bool(item.account == account and item.arn.split(":")[3] == region)


class Elbv2:
    def __init__(self, store: Store, region: str, public_host: str) -> None:
        self.store = store
        self.region = region  # the default region only: every resource is in its ARN's region
        self.public_host = public_host
        self.load_balancers: dict[str, LoadBalancer] = {}
        self.target_groups: dict[str, TargetGroup] = {}
        self.listeners: dict[str, Listener] = {}
        self.rules: dict[str, Rule] = {}
        #: called with (listener, True) after create/modify, and (listener, False) on delete, to (un)bind ports
        self.on_listener_change: Callable[[Listener, bool], Any] | None = None
        #: port -> (listener, its rules by priority); rebuilt after any change, read per request
        self._routes: dict[int, tuple[Listener, list[Rule]]] | None = None
        store.ensure_schema(SCHEMA)
        for row in store.all("SELECT arn, kind, data FROM elbv2_resources"):
            kind = row["kind"]
            getattr(self, kind)[row["arn"]] = _KINDS[kind].from_record(json.loads(row["data"]))

    # -- persistence ------------------------------------------------------------------------
    def _save(self, item: Resource) -> None:
        kind = _KIND_OF[type(item)]
        getattr(self, kind)[item.arn] = item
        self._routes = None
        self.store.execute("INSERT INTO elbv2_resources (arn, account, kind, data) VALUES (?,?,?,?) ON CONFLICT (arn) "
                           "DO UPDATE SET account=excluded.account, kind=excluded.kind, data=excluded.data",
                           (item.arn, item.account, kind, json.dumps(item.to_record())))

    def _delete(self, kind: str, arn: str) -> None:
        getattr(self, kind).pop(arn, None)
        self._routes = None
        self.store.execute("DELETE FROM elbv2_resources WHERE arn=?", (arn,))

    @staticmethod
    def _check_name(name: Any, what: str) -> str:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise _error("ValidationError", f"{what} name '{name}' cannot be longer than '32' characters" if
                         isinstance(name, str) and len(name) > 32 else
                         f"{what} name '{name}' can contain only alphanumeric characters or hyphens, and must not "
                         "begin or end with a hyphen")
        return name

    # -- load balancers ---------------------------------------------------------------------
    def create_load_balancer(self, account: str, region: str, p: dict[str, Any]) -> LoadBalancer:
        name = self._check_name(p.get("Name"), "Load balancer")
        if p.get("Type", "application") != "application":
            raise _error("ValidationError", "Only load balancers of type 'application' are supported by lambdad")
        scheme = p.get("Scheme", "internet-facing")
        for lb in self.load_balancers.values():
            if lb.name == name and _owned(lb, account, region):
                if lb.scheme == scheme:
                    return lb  # AWS: creating an identical load balancer again returns it
                raise _error("DuplicateLoadBalancerName", f"A load balancer with the same name '{name}' exists")
        suffix = secrets.token_hex(8)
        lb = LoadBalancer(
            arn=f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/{suffix}",
            name=name, dns_name=f"{name}-{int(suffix[:8], 16) % 10**10}.{region}.elb.{self.public_host}",
            created_time=_iso(time.time()), scheme=scheme, security_groups=p.get("SecurityGroups") or [],
            ip_address_type=p.get("IpAddressType", "ipv4"), account=account, tags=p.get("Tags") or [])
        self._save(lb)
        return lb

    def describe_load_balancers(self, account: str, region: str, arns: list[str] | None, names: list[str] | None
                                ) -> list[LoadBalancer]:
        mine = [lb for lb in self.load_balancers.values() if _owned(lb, account, region)]
        if arns:
            found = [lb for lb in mine if lb.arn in arns]
            if len(found) != len(set(arns)):
                raise _error("LoadBalancerNotFound", "One or more load balancers not found")
            return found
        if names:
            found = [lb for lb in mine if lb.name in names]
            if len(found) != len(set(names)):
                raise _error("LoadBalancerNotFound", "One or more load balancers not found")
            return found
        return sorted(mine, key=lambda lb: lb.created_time)

    def delete_load_balancer(self, account: str, region: str, arn: str) -> None:
        lb = self.load_balancers.get(arn)
        if lb is None or not _owned(lb, account, region):
            return  # AWS: deleting an unknown load balancer succeeds
        for listener in [li for li in self.listeners.values() if li.load_balancer_arn == arn]:
            self.delete_listener(account, region, listener.arn)
        self._delete("load_balancers", arn)

    def load_balancer(self, account: str, region: str, arn: str) -> LoadBalancer:
        lb = self.load_balancers.get(arn)
        if lb is None or not _owned(lb, account, region):
            raise _error("LoadBalancerNotFound", "One or more load balancers not found")
        return lb

    # -- target groups ----------------------------------------------------------------------
    def create_target_group(self, account: str, region: str, p: dict[str, Any]) -> TargetGroup:
        name = self._check_name(p.get("Name"), "Target group")
        if p.get("TargetType") != "lambda":
            raise _error("ValidationError", "lambdad target groups must have TargetType 'lambda'")
        for tg in self.target_groups.values():
            if tg.name == name and _owned(tg, account, region):
                if _same_health_check(tg, p):
                    return tg  # AWS: creating an identical target group again returns it
                raise _error("DuplicateTargetGroupName", "A target group with the same name '" + name + "' exists, "
                             "but with different settings")
        tg = TargetGroup(
            arn=f"arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{secrets.token_hex(8)}",
            name=name, account=account, health_check_enabled=bool(p.get("HealthCheckEnabled", False)),
            health_check_interval=p.get("HealthCheckIntervalSeconds", 35),
            health_check_timeout=p.get("HealthCheckTimeoutSeconds", 30),
            healthy_threshold=p.get("HealthyThresholdCount", 5),
            unhealthy_threshold=p.get("UnhealthyThresholdCount", 2),
            health_check_path=p.get("HealthCheckPath", "/"), matcher=p.get("Matcher") or {"HttpCode": "200"},
            tags=p.get("Tags") or [])
        self._save(tg)
        return tg

    def target_group(self, account: str, region: str, arn: str) -> TargetGroup:
        tg = self.target_groups.get(arn)
        if tg is None or not _owned(tg, account, region):
            raise _error("TargetGroupNotFound", "One or more target groups not found")
        return tg

    def describe_target_groups(self, account: str, region: str, p: dict[str, Any]) -> list[TargetGroup]:
        mine = [tg for tg in self.target_groups.values() if _owned(tg, account, region)]
        if p.get("TargetGroupArns"):
            return [self.target_group(account, region, arn) for arn in p["TargetGroupArns"]]
        if p.get("Names"):
            found = [tg for tg in mine if tg.name in p["Names"]]
            if len(found) != len(set(p["Names"])):
                raise _error("TargetGroupNotFound", "One or more target groups not found")
            return found
        if p.get("LoadBalancerArn"):
            return [tg for tg in mine if p["LoadBalancerArn"] in self.load_balancers_of(tg.arn)]
        return mine

    def delete_target_group(self, account: str, region: str, arn: str) -> None:
        tg = self.target_groups.get(arn)
        if tg is None or not _owned(tg, account, region):
            return
        if self.load_balancers_of(arn):
            raise _error("ResourceInUse", f"Target group '{arn}' is currently in use by a listener or a rule")
        self._delete("target_groups", arn)

    def register_targets(self, account: str, region: str, arn: str, targets: list[dict[str, Any]],
                         can_invoke: Callable[[str, str], bool]) -> None:
        tg = self.target_group(account, region, arn)
        replacing_other = bool(tg.targets) and targets and targets[0]["Id"] not in tg.targets
        if len(targets) != 1 or replacing_other:
            raise _error("TooManyTargets", "You've reached the limit on the number of targets per target group "
                         "of type 'lambda'")
        function_arn = targets[0]["Id"]
        if not can_invoke(function_arn, arn):
            raise _error("AccessDenied", f"elasticloadbalancing principal does not have permission to invoke "
                         f"{function_arn} from target group {arn}", 403)
        tg.targets = [function_arn]
        self._save(tg)

    def deregister_targets(self, account: str, region: str, arn: str, targets: list[dict[str, Any]]) -> None:
        tg = self.target_group(account, region, arn)
        ids = {t["Id"] for t in targets}
        tg.targets = [t for t in tg.targets if t not in ids]
        self._save(tg)

    def target_health(self, account: str, region: str, arn: str) -> list[dict[str, Any]]:
        tg = self.target_group(account, region, arn)
        in_use = bool(self.load_balancers_of(arn))
        out = []
        for target in tg.targets:
            if not in_use:
                health = {"State": "unused", "Reason": "Target.NotInUse",
                          "Description": "Target group is not configured to receive traffic from the load balancer"}
            else:
                health = {"State": "unavailable", "Reason": "Target.HealthCheckDisabled",
                          "Description": "Health checks are disabled for the target group"}
            out.append({"Target": {"Id": target}, "TargetHealth": health})
        return out

    def attributes(self, account: str, region: str, arn: str) -> list[dict[str, str]]:
        tg = self.target_group(account, region, arn)
        return [{"Key": k, "Value": v} for k, v in tg.attributes.items()]

    def modify_attributes(self, account: str, region: str, arn: str,
                          attributes: list[dict[str, str]]) -> list[dict[str, str]]:
        tg = self.target_group(account, region, arn)
        for attr in attributes:
            if attr["Key"] not in DEFAULT_TG_ATTRIBUTES:
                raise _error("ValidationError", f"Target group attribute key '{attr['Key']}' is not recognized")
            if attr["Value"] not in ("true", "false"):
                raise _error("ValidationError", f"Target group attribute value '{attr['Value']}' is not valid")
            tg.attributes[attr["Key"]] = attr["Value"]
        self._save(tg)
        return self.attributes(account, region, arn)

    def load_balancers_of(self, tg_arn: str) -> list[str]:
        """The load balancers whose listeners or rules forward to a target group (DescribeTargetGroups)."""
        lbs = set()
        for listener in self.listeners.values():
            actions = list(listener.default_actions)
            for rule in self.rules.values():
                if rule.listener_arn == listener.arn:
                    actions.extend(rule.actions)
            if any(tg_arn in _target_groups_of(a) for a in actions):
                lbs.add(listener.load_balancer_arn)
        return sorted(lbs)

    # -- listeners --------------------------------------------------------------------------
    def _check_actions(self, account: str, region: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not actions:
            raise _error("ValidationError", "A listener must have at least one default action")
        clean = []
        for action in actions:
            kind = action.get("Type")
            if kind == "forward":
                for arn in _target_groups_of(action):
                    self.target_group(account, region, arn)
                if action.get("TargetGroupArn") and not action.get("ForwardConfig"):
                    action = {**action, "ForwardConfig": {"TargetGroups": [
                        {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]}}
            elif kind == "fixed-response":
                cfg = action.get("FixedResponseConfig") or {}
                if not re.fullmatch(r"[2-5]\d\d", str(cfg.get("StatusCode", ""))):
                    raise _error("ValidationError", "Fixed response status code must be 2XX, 4XX or 5XX")
            elif kind == "redirect":
                cfg = action.get("RedirectConfig") or {}
                if cfg.get("StatusCode") not in ("HTTP_301", "HTTP_302"):
                    raise _error("ValidationError", "Redirect status code must be HTTP_301 or HTTP_302")
            else:
                raise _error("ValidationError", f"Action type '{kind}' is not supported by lambdad")
            clean.append(action)
        return clean

    def create_listener(self, account: str, region: str, p: dict[str, Any]) -> Listener:
        lb = self.load_balancer(account, region, p.get("LoadBalancerArn", ""))
        port = _port(p.get("Port") or 80)
        if p.get("Protocol", "HTTP") != "HTTP":
            raise _error("ValidationError", "lambdad listeners speak HTTP only")
        for li in self.listeners.values():
            if li.port == port:
                if li.load_balancer_arn == lb.arn:
                    raise _error("DuplicateListener", "A listener already exists on this port for this load balancer "
                                 f"'{lb.arn}'")
                raise _error("InvalidConfigurationRequest", f"Port {port} is already used by another load balancer "
                             "listener on this lambdad host")
        lb_id = lb.arn.split("loadbalancer/", 1)[1]
        listener = Listener(
            arn=f"arn:aws:elasticloadbalancing:{region}:{account}:listener/{lb_id}/{secrets.token_hex(8)}",
            load_balancer_arn=lb.arn, port=port,
            default_actions=self._check_actions(account, region, p.get("DefaultActions") or []), account=account,
            tags=p.get("Tags") or [])
        if self.on_listener_change is not None:
            self.on_listener_change(listener, True)  # binds the port; raises when it cannot
        self._save(listener)
        return listener

    def listener(self, account: str, region: str, arn: str) -> Listener:
        li = self.listeners.get(arn)
        if li is None or not _owned(li, account, region):
            raise _error("ListenerNotFound", "One or more listeners not found")
        return li

    def describe_listeners(self, account: str, region: str, lb_arn: str | None,
                           arns: list[str] | None) -> list[Listener]:
        if arns:
            return [self.listener(account, region, arn) for arn in arns]
        if not lb_arn:
            raise _error("ValidationError", "You must specify either listener ARNs or a load balancer ARN")
        self.load_balancer(account, region, lb_arn)
        return [li for li in self.listeners.values() if _owned(li, account, region) and li.load_balancer_arn == lb_arn]

    def modify_listener(self, account: str, region: str, p: dict[str, Any]) -> Listener:
        li = self.listener(account, region, p.get("ListenerArn", ""))
        actions = self._check_actions(account, region, p["DefaultActions"]) if p.get("DefaultActions") else None
        if p.get("Protocol") not in (None, "HTTP"):
            raise _error("ValidationError", "lambdad listeners speak HTTP only")
        if p.get("Port") and _port(p["Port"]) != li.port:
            port = _port(p["Port"])
            if any(other.port == port for other in self.listeners.values()):
                raise _error("DuplicateListener", "A listener already exists on this port for this load balancer "
                             f"'{li.load_balancer_arn}'")
            old = dataclasses.replace(li)
            li.port = port
            if self.on_listener_change is not None:
                try:
                    self.on_listener_change(li, True)  # bind the new port first: a failure changes nothing
                except ApiError:
                    li.port = old.port
                    raise
                self.on_listener_change(old, False)
        if actions is not None:  # only once nothing can fail: a refused change changes nothing
            li.default_actions = actions
        self._save(li)
        return li

    def delete_listener(self, account: str, region: str, arn: str) -> None:
        li = self.listener(account, region, arn)
        if self.on_listener_change is not None:
            self.on_listener_change(li, False)
        for rule in [r for r in self.rules.values() if r.listener_arn == arn]:
            self._delete("rules", rule.arn)
        self._delete("listeners", arn)

    # -- rules ------------------------------------------------------------------------------
    def create_rule(self, account: str, region: str, p: dict[str, Any]) -> Rule:
        li = self.listener(account, region, p.get("ListenerArn", ""))
        priority = int(p.get("Priority") or 0)
        if not 1 <= priority <= 50000:
            raise _error("ValidationError", "Priority must be between 1 and 50000")
        if any(r.listener_arn == li.arn and r.priority == str(priority) for r in self.rules.values()):
            raise _error("PriorityInUse", f"Priority '{priority}' is currently in use")
        conditions = [_normalize_condition(c) for c in p.get("Conditions") or []]
        if not conditions:
            raise _error("ValidationError", "A rule must have at least one condition")
        listener_part = li.arn.split("listener/", 1)[1]
        rule = Rule(
            arn=f"arn:aws:elasticloadbalancing:{region}:{account}:listener-rule/{listener_part}/"
                f"{secrets.token_hex(8)}",
            priority=str(priority), conditions=conditions,
            actions=self._check_actions(account, region, p.get("Actions") or []),
            listener_arn=li.arn, account=account, tags=p.get("Tags") or [])
        self._save(rule)
        return rule

    def rule(self, account: str, region: str, arn: str) -> Rule:
        rule = self.rules.get(arn)
        if rule is None or not _owned(rule, account, region):
            raise _error("RuleNotFound", "One or more rules not found")
        return rule

    def describe_rules(self, account: str, region: str, listener_arn: str | None, arns: list[str] | None) -> list[Rule]:
        if arns:
            return [self.rule(account, region, arn) for arn in arns]
        if not listener_arn:
            raise _error("ValidationError", "You must specify either listener rule ARNs or a listener ARN")
        li = self.listener(account, region, listener_arn)
        rules = sorted((r for r in self.rules.values() if r.listener_arn == li.arn), key=lambda r: int(r.priority))
        default = Rule(li.arn.replace(":listener/", ":listener-rule/") + "/default", "default", [],
                       li.default_actions, li.arn, account, is_default=True)
        return [*rules, default]

    def modify_rule(self, account: str, region: str, p: dict[str, Any]) -> Rule:
        rule = self.rule(account, region, p.get("RuleArn", ""))
        if p.get("Conditions"):
            rule.conditions = [_normalize_condition(c) for c in p["Conditions"]]
        if p.get("Actions"):
            rule.actions = self._check_actions(account, region, p["Actions"])
        self._save(rule)
        return rule

    def delete_rule(self, account: str, region: str, arn: str) -> None:
        self.rule(account, region, arn)
        self._delete("rules", arn)

    def set_rule_priorities(self, account: str, region: str, priorities: list[dict[str, Any]]) -> list[Rule]:
        rules = [self.rule(account, region, p["RuleArn"]) for p in priorities]
        wanted = {p["RuleArn"]: str(p["Priority"]) for p in priorities}
        for value in wanted.values():
            if not 1 <= int(value) <= 50000:
                raise _error("ValidationError", "Priority must be between 1 and 50000")
        seen: set[tuple[str, str]] = set()
        for rule in rules:
            key = (rule.listener_arn, wanted[rule.arn])
            if key in seen:
                raise _error("PriorityInUse", f"Priority '{key[1]}' is currently in use")
            seen.add(key)
        for rule in rules:
            clash = [r for r in self.rules.values() if r.listener_arn == rule.listener_arn
                     and r.arn not in wanted and r.priority == wanted[rule.arn]]
            if clash:
                raise _error("PriorityInUse", f"Priority '{wanted[rule.arn]}' is currently in use")
        for rule in rules:
            rule.priority = wanted[rule.arn]
            self._save(rule)
        return rules

    # -- matching (the listener's hot path) -------------------------------------------------
    def match(self, port: int, method: str, path: str, host: str, headers: dict[str, str],
              query: list[tuple[str, str]], source_ip: str) -> tuple[Listener, Match] | None:
        if self._routes is None:
            self._routes = {li.port: (li, sorted((r for r in self.rules.values() if r.listener_arn == li.arn),
                                                 key=lambda r: int(r.priority)))
                            for li in self.listeners.values()}
        route = self._routes.get(port)
        if route is None:
            return None
        listener, rules = route
        for rule in rules:
            if all(_condition_holds(c, method, path, host, headers, query, source_ip) for c in rule.conditions):
                return listener, Match(_first_action(rule.actions), rule.arn)
        return listener, Match(_first_action(listener.default_actions), "default")

    # -- tags -------------------------------------------------------------------------------
    def _tagged(self, account: str, region: str, arn: str) -> Resource:
        for kind in _KINDS:
            item: Resource | None = getattr(self, kind).get(arn)
            if item is not None and _owned(item, account, region):
                return item
        codes = {"loadbalancer": "LoadBalancerNotFound", "targetgroup": "TargetGroupNotFound",
                 "listener": "ListenerNotFound", "listener-rule": "RuleNotFound"}
        code = codes.get(arn.split(":", 5)[-1].split("/", 1)[0], "ValidationError")
        raise _error(code, f"'{arn}' is not a valid resource ARN" if code == "ValidationError" else
                     "One or more resources not found")

    def tags(self, account: str, region: str, arns: list[str]) -> list[dict[str, Any]]:
        return [{"ResourceArn": arn, "Tags": self._tagged(account, region, arn).tags} for arn in arns]

    def add_tags(self, account: str, region: str, arns: list[str], tags: list[dict[str, str]]) -> None:
        keys = [t["Key"] for t in tags]
        if len(keys) != len(set(keys)):
            raise _error("DuplicateTagKeys", "Tag keys must be unique")
        found = [self._tagged(account, region, arn) for arn in arns]
        for item in found:
            merged = {t["Key"]: t.get("Value", "") for t in item.tags}
            merged.update({t["Key"]: t.get("Value", "") for t in tags})
            if len(merged) > 50:
                raise _error("TooManyTags", "You've reached the limit on the number of tags for this resource")
            item.tags = [{"Key": k, "Value": v} for k, v in merged.items()]
            self._save(item)

    def remove_tags(self, account: str, region: str, arns: list[str], keys: list[str]) -> None:
        for item in [self._tagged(account, region, arn) for arn in arns]:
            item.tags = [t for t in item.tags if t["Key"] not in keys]
            self._save(item)


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise _error("ValidationError", f"Port '{value}' must be between 1 and 65535")
    return port


def _same_health_check(tg: TargetGroup, p: dict[str, Any]) -> bool:
    current = tg.health_check()
    return all(p.get(key) is None or p[key] == value for key, value in current.items())


def _first_action(actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The action that answers: actions run in `Order`, and lambdad's are all terminal."""
    return min(actions, key=lambda a: int(a.get("Order") or 0))


def _target_groups_of(action: dict[str, Any]) -> list[str]:
    arns = [tg["TargetGroupArn"] for tg in (action.get("ForwardConfig") or {}).get("TargetGroups") or []]
    if action.get("TargetGroupArn"):
        arns.append(action["TargetGroupArn"])
    return arns


_CONFIG_KEYS = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig",
                "http-request-method": "HttpRequestMethodConfig", "source-ip": "SourceIpConfig"}


def _normalize_condition(cond: dict[str, Any]) -> dict[str, Any]:
    field = cond.get("Field")
    out = {"Field": field}
    if field in _CONFIG_KEYS:
        values = (cond.get(_CONFIG_KEYS[field]) or {}).get("Values") or cond.get("Values") or []
        out[_CONFIG_KEYS[field]] = {"Values": values}
        if field in ("path-pattern", "host-header"):
            out["Values"] = values
    elif field == "http-header":
        out["HttpHeaderConfig"] = cond.get("HttpHeaderConfig") or {}
    elif field == "query-string":
        out["QueryStringConfig"] = cond.get("QueryStringConfig") or {}
    else:
        raise _error("ValidationError", f"Condition field '{field}' is not supported")
    return out


def _glob(pattern: str, value: str, case_sensitive: bool) -> bool:
    """ELB wildcards: `*` any run of characters, `?` exactly one; nothing else is special."""
    return wildcards.match(pattern, value, ignore_case=not case_sensitive)


def _in_cidrs(ip: str, cidrs: list[str]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in cidrs:
        try:
            if addr in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def _condition_holds(cond: dict[str, Any], method: str, path: str, host: str, headers: dict[str, str],
                     query: list[tuple[str, str]], source_ip: str = "") -> bool:
    field = cond["Field"]
    if field == "path-pattern":
        return any(_glob(v, path, True) for v in cond["PathPatternConfig"]["Values"])
    if field == "host-header":
        hostname = host.split(":", 1)[0]
        return any(_glob(v, hostname, False) for v in cond["HostHeaderConfig"]["Values"])
    if field == "http-request-method":
        return method in cond["HttpRequestMethodConfig"]["Values"]
    if field == "http-header":
        cfg = cond["HttpHeaderConfig"]
        value = headers.get(cfg.get("HttpHeaderName", "").lower())
        return value is not None and any(_glob(v, value, False) for v in cfg.get("Values") or [])
    if field == "query-string":
        for wanted in cond["QueryStringConfig"].get("Values") or []:
            key = wanted.get("Key")
            if any((key is None or _glob(key, k, False)) and _glob(wanted.get("Value", "*"), v, False)
                   for k, v in query):
                return True
        return False
    if field == "source-ip":
        return _in_cidrs(source_ip, cond["SourceIpConfig"]["Values"])
    return False
