"""Application load balancers with Lambda targets: load balancers, target groups, listeners, rules.

Domain logic only: the elbv2 query API (`services/elbv2/wire.py`) calls these methods with parameters
shaped as boto3 passes them, and the listener front door (`frontdoors/alb.py`) asks `match()` which
action answers a request. Everything persists in the store and is reloaded at start.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(slots=True)
class Match:
    """What a listener does with one request."""

    action: dict[str, Any]
    rule_arn: str


class Elbv2:
    def __init__(self, store: Store, region: str, public_host: str) -> None:
        self.store = store
        self.region = region
        self.public_host = public_host
        self.load_balancers: dict[str, dict[str, Any]] = {}
        self.target_groups: dict[str, dict[str, Any]] = {}
        self.listeners: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        #: called with (listener) after create/modify, and (listener, None) on delete, to (un)bind ports
        self.on_listener_change: Callable[[dict[str, Any], bool], Any] | None = None
        #: port -> (listener, its rules by priority); rebuilt after any change, read per request
        self._routes: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] | None = None
        store.ensure_schema(SCHEMA)
        for row in store.all("SELECT arn, kind, data FROM elbv2_resources"):
            getattr(self, row["kind"])[row["arn"]] = json.loads(row["data"])

    # -- persistence ------------------------------------------------------------------------
    def _save(self, kind: str, account: str, item: dict[str, Any], arn_key: str) -> None:
        getattr(self, kind)[item[arn_key]] = item
        self._routes = None
        self.store.execute("INSERT INTO elbv2_resources (arn, account, kind, data) VALUES (?,?,?,?) ON CONFLICT (arn) "
                           "DO UPDATE SET account=excluded.account, kind=excluded.kind, data=excluded.data",
                           (item[arn_key], account, kind, json.dumps(item)))

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
    def create_load_balancer(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name = self._check_name(p.get("Name"), "Load balancer")
        if p.get("Type", "application") != "application":
            raise _error("ValidationError", "Only load balancers of type 'application' are supported by lambdad")
        for lb in self.load_balancers.values():
            if lb["LoadBalancerName"] == name and lb["_account"] == account:
                if lb.get("Scheme") == p.get("Scheme", "internet-facing"):
                    return lb  # AWS: creating an identical load balancer again returns it
                raise _error("DuplicateLoadBalancerName", f"A load balancer with the same name '{name}' exists")
        suffix = secrets.token_hex(8)
        arn = f"arn:aws:elasticloadbalancing:{self.region}:{account}:loadbalancer/app/{name}/{suffix}"
        lb = {
            "LoadBalancerArn": arn,
            "DNSName": f"{name}-{int(suffix[:8], 16) % 10**10}.{self.region}.elb.{self.public_host}",
            "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
            "CreatedTime": _iso(time.time()),
            "LoadBalancerName": name,
            "Scheme": p.get("Scheme", "internet-facing"),
            "VpcId": "vpc-lambdad",
            "State": {"Code": "active"},
            "Type": "application",
            "AvailabilityZones": [],
            "SecurityGroups": p.get("SecurityGroups") or [],
            "IpAddressType": p.get("IpAddressType", "ipv4"),
            "_account": account,
            "_tags": p.get("Tags") or [],
        }
        self._save("load_balancers", account, lb, "LoadBalancerArn")
        return lb

    def describe_load_balancers(self, account: str, arns: list[str] | None, names: list[str] | None
                                ) -> list[dict[str, Any]]:
        mine = [lb for lb in self.load_balancers.values() if lb["_account"] == account]
        if arns:
            found = [lb for lb in mine if lb["LoadBalancerArn"] in arns]
            if len(found) != len(set(arns)):
                raise _error("LoadBalancerNotFound", "One or more load balancers not found")
            return found
        if names:
            found = [lb for lb in mine if lb["LoadBalancerName"] in names]
            if len(found) != len(set(names)):
                raise _error("LoadBalancerNotFound", "One or more load balancers not found")
            return found
        return sorted(mine, key=lambda lb: lb["CreatedTime"])

    def delete_load_balancer(self, account: str, arn: str) -> None:
        lb = self.load_balancers.get(arn)
        if lb is None or lb["_account"] != account:
            return  # AWS: deleting an unknown load balancer succeeds
        for listener in [li for li in self.listeners.values() if li["LoadBalancerArn"] == arn]:
            self.delete_listener(account, listener["ListenerArn"])
        self._delete("load_balancers", arn)

    def load_balancer(self, account: str, arn: str) -> dict[str, Any]:
        lb = self.load_balancers.get(arn)
        if lb is None or lb["_account"] != account:
            raise _error("LoadBalancerNotFound", "One or more load balancers not found")
        return lb

    # -- target groups ----------------------------------------------------------------------
    def create_target_group(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name = self._check_name(p.get("Name"), "Target group")
        if p.get("TargetType") != "lambda":
            raise _error("ValidationError", "lambdad target groups must have TargetType 'lambda'")
        for tg in self.target_groups.values():
            if tg["TargetGroupName"] == name and tg["_account"] == account:
                if _same_health_check(tg, p):
                    return tg  # AWS: creating an identical target group again returns it
                raise _error("DuplicateTargetGroupName", "A target group with the same name '" + name + "' exists, "
                             "but with different settings")
        arn = f"arn:aws:elasticloadbalancing:{self.region}:{account}:targetgroup/{name}/{secrets.token_hex(8)}"
        tg = {
            "TargetGroupArn": arn,
            "TargetGroupName": name,
            "HealthCheckEnabled": bool(p.get("HealthCheckEnabled", False)),
            "HealthCheckIntervalSeconds": p.get("HealthCheckIntervalSeconds", 35),
            "HealthCheckTimeoutSeconds": p.get("HealthCheckTimeoutSeconds", 30),
            "HealthyThresholdCount": p.get("HealthyThresholdCount", 5),
            "UnhealthyThresholdCount": p.get("UnhealthyThresholdCount", 2),
            "HealthCheckPath": p.get("HealthCheckPath", "/"),
            "Matcher": p.get("Matcher") or {"HttpCode": "200"},
            "LoadBalancerArns": [],
            "TargetType": "lambda",
            "IpAddressType": "ipv4",
            "_account": account,
            "_targets": [],
            "_attributes": dict(DEFAULT_TG_ATTRIBUTES),
            "_tags": p.get("Tags") or [],
        }
        self._save("target_groups", account, tg, "TargetGroupArn")
        return tg

    def target_group(self, account: str, arn: str) -> dict[str, Any]:
        tg = self.target_groups.get(arn)
        if tg is None or tg["_account"] != account:
            raise _error("TargetGroupNotFound", "One or more target groups not found")
        return tg

    def describe_target_groups(self, account: str, p: dict[str, Any]) -> list[dict[str, Any]]:
        mine = [tg for tg in self.target_groups.values() if tg["_account"] == account]
        for tg in mine:
            tg["LoadBalancerArns"] = self._lbs_of(tg["TargetGroupArn"])
        if p.get("TargetGroupArns"):
            return [self.target_group(account, arn) for arn in p["TargetGroupArns"]]
        if p.get("Names"):
            found = [tg for tg in mine if tg["TargetGroupName"] in p["Names"]]
            if len(found) != len(set(p["Names"])):
                raise _error("TargetGroupNotFound", "One or more target groups not found")
            return found
        if p.get("LoadBalancerArn"):
            return [tg for tg in mine if p["LoadBalancerArn"] in tg["LoadBalancerArns"]]
        return mine

    def delete_target_group(self, account: str, arn: str) -> None:
        tg = self.target_groups.get(arn)
        if tg is None or tg["_account"] != account:
            return
        if self._lbs_of(arn):
            raise _error("ResourceInUse", f"Target group '{arn}' is currently in use by a listener or a rule")
        self._delete("target_groups", arn)

    def register_targets(self, account: str, arn: str, targets: list[dict[str, Any]],
                         can_invoke: Callable[[str, str], bool]) -> None:
        tg = self.target_group(account, arn)
        replacing_other = bool(tg["_targets"]) and targets and targets[0]["Id"] not in tg["_targets"]
        if len(targets) != 1 or replacing_other:
            raise _error("TooManyTargets", "You've reached the limit on the number of targets per target group "
                         "of type 'lambda'")
        function_arn = targets[0]["Id"]
        if not can_invoke(function_arn, arn):
            raise _error("AccessDenied", f"elasticloadbalancing principal does not have permission to invoke "
                         f"{function_arn} from target group {arn}", 403)
        tg["_targets"] = [function_arn]
        self._save("target_groups", account, tg, "TargetGroupArn")

    def deregister_targets(self, account: str, arn: str, targets: list[dict[str, Any]]) -> None:
        tg = self.target_group(account, arn)
        ids = {t["Id"] for t in targets}
        tg["_targets"] = [t for t in tg["_targets"] if t not in ids]
        self._save("target_groups", account, tg, "TargetGroupArn")

    def target_health(self, account: str, arn: str) -> list[dict[str, Any]]:
        tg = self.target_group(account, arn)
        in_use = bool(self._lbs_of(arn))
        out = []
        for target in tg["_targets"]:
            if not in_use:
                health = {"State": "unused", "Reason": "Target.NotInUse",
                          "Description": "Target group is not configured to receive traffic from the load balancer"}
            else:
                health = {"State": "unavailable", "Reason": "Target.HealthCheckDisabled",
                          "Description": "Health checks are disabled for the target group"}
            out.append({"Target": {"Id": target}, "TargetHealth": health})
        return out

    def attributes(self, account: str, arn: str) -> list[dict[str, str]]:
        tg = self.target_group(account, arn)
        return [{"Key": k, "Value": v} for k, v in tg["_attributes"].items()]

    def modify_attributes(self, account: str, arn: str, attributes: list[dict[str, str]]) -> list[dict[str, str]]:
        tg = self.target_group(account, arn)
        for attr in attributes:
            if attr["Key"] not in DEFAULT_TG_ATTRIBUTES:
                raise _error("ValidationError", f"Target group attribute key '{attr['Key']}' is not recognized")
            if attr["Value"] not in ("true", "false"):
                raise _error("ValidationError", f"Target group attribute value '{attr['Value']}' is not valid")
            tg["_attributes"][attr["Key"]] = attr["Value"]
        self._save("target_groups", account, tg, "TargetGroupArn")
        return self.attributes(account, arn)

    def _lbs_of(self, tg_arn: str) -> list[str]:
        lbs = set()
        for listener in self.listeners.values():
            actions = list(listener["DefaultActions"])
            for rule in self.rules.values():
                if rule["_listener"] == listener["ListenerArn"]:
                    actions.extend(rule["Actions"])
            if any(tg_arn in _target_groups_of(a) for a in actions):
                lbs.add(listener["LoadBalancerArn"])
        return sorted(lbs)

    # -- listeners --------------------------------------------------------------------------
    def _check_actions(self, account: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not actions:
            raise _error("ValidationError", "A listener must have at least one default action")
        clean = []
        for action in actions:
            kind = action.get("Type")
            if kind == "forward":
                for arn in _target_groups_of(action):
                    self.target_group(account, arn)
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

    def create_listener(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        lb = self.load_balancer(account, p.get("LoadBalancerArn", ""))
        port = _port(p.get("Port") or 80)
        if p.get("Protocol", "HTTP") != "HTTP":
            raise _error("ValidationError", "lambdad listeners speak HTTP only")
        for li in self.listeners.values():
            if li["Port"] == port:
                if li["LoadBalancerArn"] == lb["LoadBalancerArn"]:
                    raise _error("DuplicateListener", "A listener already exists on this port for this load balancer "
                                 f"'{lb['LoadBalancerArn']}'")
                raise _error("InvalidConfigurationRequest", f"Port {port} is already used by another load balancer "
                             "listener on this lambdad host")
        lb_id = lb["LoadBalancerArn"].split("loadbalancer/", 1)[1]
        listener = {
            "ListenerArn": (f"arn:aws:elasticloadbalancing:{self.region}:{account}:listener/{lb_id}/"
                            f"{secrets.token_hex(8)}"),
            "LoadBalancerArn": lb["LoadBalancerArn"],
            "Port": port,
            "Protocol": "HTTP",
            "DefaultActions": self._check_actions(account, p.get("DefaultActions") or []),
            "_account": account,
            "_tags": p.get("Tags") or [],
        }
        if self.on_listener_change is not None:
            self.on_listener_change(listener, True)  # binds the port; raises when it cannot
        self._save("listeners", account, listener, "ListenerArn")
        return listener

    def listener(self, account: str, arn: str) -> dict[str, Any]:
        li = self.listeners.get(arn)
        if li is None or li["_account"] != account:
            raise _error("ListenerNotFound", "One or more listeners not found")
        return li

    def describe_listeners(self, account: str, lb_arn: str | None, arns: list[str] | None) -> list[dict[str, Any]]:
        if arns:
            return [self.listener(account, arn) for arn in arns]
        if not lb_arn:
            raise _error("ValidationError", "You must specify either listener ARNs or a load balancer ARN")
        self.load_balancer(account, lb_arn)
        return [li for li in self.listeners.values() if li["_account"] == account
                and (lb_arn is None or li["LoadBalancerArn"] == lb_arn)]

    def modify_listener(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        li = self.listener(account, p.get("ListenerArn", ""))
        actions = self._check_actions(account, p["DefaultActions"]) if p.get("DefaultActions") else None
        if p.get("Protocol") not in (None, "HTTP"):
            raise _error("ValidationError", "lambdad listeners speak HTTP only")
        if p.get("Port") and _port(p["Port"]) != li["Port"]:
            port = _port(p["Port"])
            if any(other["Port"] == port for other in self.listeners.values()):
                raise _error("DuplicateListener", "A listener already exists on this port for this load balancer "
                             f"'{li['LoadBalancerArn']}'")
            old = dict(li)
            li["Port"] = port
            if self.on_listener_change is not None:
                try:
                    self.on_listener_change(li, True)  # bind the new port first: a failure changes nothing
                except ApiError:
                    li["Port"] = old["Port"]
                    raise
                self.on_listener_change(old, False)
        if actions is not None:  # only once nothing can fail: a refused change changes nothing
            li["DefaultActions"] = actions
        self._save("listeners", account, li, "ListenerArn")
        return li

    def delete_listener(self, account: str, arn: str) -> None:
        li = self.listener(account, arn)
        if self.on_listener_change is not None:
            self.on_listener_change(li, False)
        for rule in [r for r in self.rules.values() if r["_listener"] == arn]:
            self._delete("rules", rule["RuleArn"])
        self._delete("listeners", arn)

    # -- rules ------------------------------------------------------------------------------
    def create_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        li = self.listener(account, p.get("ListenerArn", ""))
        priority = int(p.get("Priority") or 0)
        if not 1 <= priority <= 50000:
            raise _error("ValidationError", "Priority must be between 1 and 50000")
        if any(r["_listener"] == li["ListenerArn"] and r["Priority"] == str(priority) for r in self.rules.values()):
            raise _error("PriorityInUse", f"Priority '{priority}' is currently in use")
        conditions = [_normalize_condition(c) for c in p.get("Conditions") or []]
        if not conditions:
            raise _error("ValidationError", "A rule must have at least one condition")
        listener_part = li["ListenerArn"].split("listener/", 1)[1]
        rule = {
            "RuleArn": f"arn:aws:elasticloadbalancing:{self.region}:{account}:listener-rule/{listener_part}/"
                       f"{secrets.token_hex(8)}",
            "Priority": str(priority),
            "Conditions": conditions,
            "Actions": self._check_actions(account, p.get("Actions") or []),
            "IsDefault": False,
            "_listener": li["ListenerArn"],
            "_account": account,
            "_tags": p.get("Tags") or [],
        }
        self._save("rules", account, rule, "RuleArn")
        return rule

    def rule(self, account: str, arn: str) -> dict[str, Any]:
        rule = self.rules.get(arn)
        if rule is None or rule["_account"] != account:
            raise _error("RuleNotFound", "One or more rules not found")
        return rule

    def describe_rules(self, account: str, listener_arn: str | None, arns: list[str] | None) -> list[dict[str, Any]]:
        if arns:
            return [self.rule(account, arn) for arn in arns]
        if not listener_arn:
            raise _error("ValidationError", "You must specify either listener rule ARNs or a listener ARN")
        li = self.listener(account, listener_arn)
        rules = sorted((r for r in self.rules.values() if r["_listener"] == li["ListenerArn"]),
                       key=lambda r: int(r["Priority"]))
        default = {"RuleArn": li["ListenerArn"].replace(":listener/", ":listener-rule/") + "/default",
                   "Priority": "default", "Conditions": [], "Actions": li["DefaultActions"], "IsDefault": True}
        return [*rules, default]

    def modify_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        rule = self.rule(account, p.get("RuleArn", ""))
        if p.get("Conditions"):
            rule["Conditions"] = [_normalize_condition(c) for c in p["Conditions"]]
        if p.get("Actions"):
            rule["Actions"] = self._check_actions(account, p["Actions"])
        self._save("rules", account, rule, "RuleArn")
        return rule

    def delete_rule(self, account: str, arn: str) -> None:
        self.rule(account, arn)
        self._delete("rules", arn)

    def set_rule_priorities(self, account: str, priorities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rules = [self.rule(account, p["RuleArn"]) for p in priorities]
        wanted = {p["RuleArn"]: str(p["Priority"]) for p in priorities}
        for value in wanted.values():
            if not 1 <= int(value) <= 50000:
                raise _error("ValidationError", "Priority must be between 1 and 50000")
        seen: set[tuple[str, str]] = set()
        for rule in rules:
            key = (rule["_listener"], wanted[rule["RuleArn"]])
            if key in seen:
                raise _error("PriorityInUse", f"Priority '{key[1]}' is currently in use")
            seen.add(key)
        for rule in rules:
            clash = [r for r in self.rules.values() if r["_listener"] == rule["_listener"]
                     and r["RuleArn"] not in wanted and r["Priority"] == wanted[rule["RuleArn"]]]
            if clash:
                raise _error("PriorityInUse", f"Priority '{wanted[rule['RuleArn']]}' is currently in use")
        for rule in rules:
            rule["Priority"] = wanted[rule["RuleArn"]]
            self._save("rules", account, rule, "RuleArn")
        return rules

    # -- matching (the listener's hot path) -------------------------------------------------
    def match(self, port: int, method: str, path: str, host: str, headers: dict[str, str],
              query: list[tuple[str, str]], source_ip: str) -> tuple[dict[str, Any], Match] | None:
        if self._routes is None:
            self._routes = {li["Port"]: (li, sorted((r for r in self.rules.values()
                                                     if r["_listener"] == li["ListenerArn"]),
                                                    key=lambda r: int(r["Priority"])))
                            for li in self.listeners.values()}
        route = self._routes.get(port)
        if route is None:
            return None
        listener, rules = route
        for rule in rules:
            if all(_condition_holds(c, method, path, host, headers, query, source_ip) for c in rule["Conditions"]):
                return listener, Match(_first_action(rule["Actions"]), rule["RuleArn"])
        return listener, Match(_first_action(listener["DefaultActions"]), "default")

    # -- tags -------------------------------------------------------------------------------
    def _tagged(self, account: str, arn: str) -> tuple[str, dict[str, Any]]:
        for kind in ("load_balancers", "target_groups", "listeners", "rules"):
            item = getattr(self, kind).get(arn)
            if item is not None and item["_account"] == account:
                return kind, item
        codes = {"loadbalancer": "LoadBalancerNotFound", "targetgroup": "TargetGroupNotFound",
                 "listener": "ListenerNotFound", "listener-rule": "RuleNotFound"}
        code = codes.get(arn.split(":", 5)[-1].split("/", 1)[0], "ValidationError")
        raise _error(code, f"'{arn}' is not a valid resource ARN" if code == "ValidationError" else
                     "One or more resources not found")

    def tags(self, account: str, arns: list[str]) -> list[dict[str, Any]]:
        return [{"ResourceArn": arn, "Tags": self._tagged(account, arn)[1].get("_tags") or []} for arn in arns]

    def add_tags(self, account: str, arns: list[str], tags: list[dict[str, str]]) -> None:
        keys = [t["Key"] for t in tags]
        if len(keys) != len(set(keys)):
            raise _error("DuplicateTagKeys", "Tag keys must be unique")
        found = [self._tagged(account, arn) for arn in arns]
        for kind, item in found:
            merged = {t["Key"]: t.get("Value", "") for t in item.get("_tags") or []}
            merged.update({t["Key"]: t.get("Value", "") for t in tags})
            if len(merged) > 50:
                raise _error("TooManyTags", "You've reached the limit on the number of tags for this resource")
            item["_tags"] = [{"Key": k, "Value": v} for k, v in merged.items()]
            self._save(kind, account, item, _ARN_KEYS[kind])

    def remove_tags(self, account: str, arns: list[str], keys: list[str]) -> None:
        for kind, item in [self._tagged(account, arn) for arn in arns]:
            item["_tags"] = [t for t in item.get("_tags") or [] if t["Key"] not in keys]
            self._save(kind, account, item, _ARN_KEYS[kind])


_ARN_KEYS = {"load_balancers": "LoadBalancerArn", "target_groups": "TargetGroupArn", "listeners": "ListenerArn",
             "rules": "RuleArn"}


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise _error("ValidationError", f"Port '{value}' must be between 1 and 65535")
    return port


def _same_health_check(tg: dict[str, Any], p: dict[str, Any]) -> bool:
    return all(p.get(key) is None or p[key] == tg.get(key)
               for key in ("HealthCheckEnabled", "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                           "HealthyThresholdCount", "UnhealthyThresholdCount", "HealthCheckPath"))


def _first_action(actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The action that answers: actions run in `Order`, and lambdad's are all terminal."""
    return min(actions, key=lambda a: int(a.get("Order") or 0))


def public(item: dict[str, Any]) -> dict[str, Any]:
    """Drop lambdad's private bookkeeping keys before rendering."""
    return {k: v for k, v in item.items() if not k.startswith("_")}


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
