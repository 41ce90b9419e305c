"""EventBridge's domain: event buses (with their resource policies), rules, targets, tags, and the
routing of accepted events to the targets of the rules they match.

Durability: PutEvents matches each event against the bus's rules (a `PatternIndex` per bus) and, in
one transaction committed before it answers, stores a delivery row per matched target
(delivery.py takes them from there). A `kill -9` after the answer loses nothing; one before it loses
only events nobody was told were accepted.

Scheduled rules: each enabled rule with a ScheduleExpression has a row in `events_fires` with its
next firing. `run_schedules` claims due rows (`store.claim`, so one node fires each), stores the
`Scheduled Event` deliveries and the next firing in one transaction. At start every next firing is
recomputed from now: firings missed while the server was down are not replayed, as on AWS.

Everything is scoped by account and region (the SigV4 scope's region); ARNs carry both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdad import safejson
from lambdad.auth import policy as iam_policy
from lambdad.clock import SYSTEM, Clock
from lambdad.errors import EventsError
from lambdad.event_patterns import EventPattern, InvalidEventPattern, PatternIndex, compile_pattern
from lambdad.services.events import transform
from lambdad.services.events.schedules import Schedule, parse_schedule
from lambdad.store import LEASE_COLUMNS, Store

log = logging.getLogger("lambdad.events")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events_buses (
    arn TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    policy TEXT,
    tags TEXT NOT NULL,
    created REAL NOT NULL,
    modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events_rules (
    arn TEXT PRIMARY KEY,
    bus_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events_targets (
    rule_arn TEXT NOT NULL,
    target_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (rule_arn, target_id)
);
CREATE TABLE IF NOT EXISTS events_deliveries (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    rule_arn TEXT NOT NULL,
    target TEXT NOT NULL,
    event TEXT NOT NULL,
    received REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS events_deliveries_due ON events_deliveries (next_at);
CREATE TABLE IF NOT EXISTS events_fires (
    id TEXT PRIMARY KEY,
    next_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL
);
"""
DELIVERIES = "events_deliveries"
FIRES = "events_fires"

MAX_ENTRY_BYTES = 256 * 1024
MAX_TARGETS_PER_RULE = 5
MAX_RULES_PER_BUS = 300
MAX_BUSES = 100
PAGE = 100
_ARN_RE = re.compile(r"arn:aws[\w-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)")
_BUS_ARN = re.compile(r"arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):event-bus/(.+)")
_NAME = re.compile(r"[\.\-_A-Za-z0-9]+")
_BUS_NAME = re.compile(r"[/\.\-_A-Za-z0-9]+")


def _err(message: str, code: str = "ValidationException") -> EventsError:
    return EventsError(message, code=code)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Rule:
    arn: str
    name: str
    bus: Bus
    pattern_text: str | None = None
    pattern: EventPattern | None = None
    schedule_text: str | None = None
    schedule: Schedule | None = None
    state: str = "ENABLED"
    description: str | None = None
    role_arn: str | None = None
    managed_by: str | None = None
    anchor: float = 0.0  # a rate's grid: first firing at the first whole minute after creation
    tags: dict[str, str] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.state != "DISABLED"

    def data(self) -> dict[str, Any]:
        return {"EventPattern": self.pattern_text, "ScheduleExpression": self.schedule_text, "State": self.state,
                "Description": self.description, "RoleArn": self.role_arn, "ManagedBy": self.managed_by,
                "anchor": self.anchor, "Tags": self.tags}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": self.name, "Arn": self.arn, "State": self.state,
                               "EventBusName": self.bus.name, "CreatedBy": self.bus.account}
        for key, value in (("EventPattern", self.pattern_text), ("ScheduleExpression", self.schedule_text),
                           ("Description", self.description), ("RoleArn", self.role_arn),
                           ("ManagedBy", self.managed_by)):
            if value is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class Bus:
    arn: str
    account: str
    region: str
    name: str
    description: str | None = None
    policy: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    modified: float = 0.0
    rules: dict[str, Rule] = field(default_factory=dict)
    index: PatternIndex[str] = field(default_factory=PatternIndex)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": self.name, "Arn": self.arn, "CreationTime": self.created,
                               "LastModifiedTime": self.modified}
        if self.description:
            out["Description"] = self.description
        if self.policy:
            out["Policy"] = json.dumps(self.policy)
        return out


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one target (what a row of events_deliveries holds)."""

    id: str
    account: str
    region: str
    rule_arn: str
    target: dict[str, Any]
    event: dict[str, Any]
    received: float
    attempts: int


def arn_parts(arn: str) -> tuple[str, str, str, str] | None:
    """(service, region, account, resource) of an ARN."""
    match = _ARN_RE.fullmatch(arn)
    if match is None:
        return None
    return match.group(1), match.group(2), match.group(3) or "", match.group(4)


class EventBridge:
    def __init__(self, store: Store, *, owner: str = "local", clock: Clock = SYSTEM) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self.buses: dict[str, Bus] = {}
        self._rules_by_arn: dict[str, Rule] = {}
        self.delivery_wakeup = asyncio.Event()
        self._fire_wakeup = asyncio.Event()
        store.ensure_schema(SCHEMA)
        for column, decl in LEASE_COLUMNS:
            store.add_column(DELIVERIES, column, decl)
            store.add_column(FIRES, column, decl)
        self._load()

    # -- loading ------------------------------------------------------------------------------------
    def _load(self) -> None:
        for row in self.store.all("SELECT * FROM events_buses"):
            bus = Bus(row["arn"], row["account"], row["region"], row["name"], row["description"],
                      json.loads(row["policy"]) if row["policy"] else None, json.loads(row["tags"]),
                      row["created"], row["modified"])
            self.buses[bus.arn] = bus
        targets: dict[str, dict[str, dict[str, Any]]] = {}
        for row in self.store.all("SELECT * FROM events_targets ORDER BY target_id"):
            targets.setdefault(row["rule_arn"], {})[row["target_id"]] = json.loads(row["data"])
        for row in self.store.all("SELECT * FROM events_rules"):
            owner = self.buses.get(row["bus_arn"])
            if owner is None:
                continue
            data = json.loads(row["data"])
            rule = Rule(row["arn"], row["name"], owner, state=data["State"], description=data.get("Description"),
                        role_arn=data.get("RoleArn"), managed_by=data.get("ManagedBy"),
                        anchor=float(data.get("anchor") or 0.0), tags=data.get("Tags") or {},
                        targets=targets.get(row["arn"], {}))
            if data.get("EventPattern"):
                rule.pattern_text, rule.pattern = data["EventPattern"], compile_pattern(data["EventPattern"])
            if data.get("ScheduleExpression"):
                rule.schedule_text = data["ScheduleExpression"]
                rule.schedule = parse_schedule(rule.schedule_text)
            self._install(rule)
        # No replay of firings missed while down: every next firing is the next one from now.
        now = self.clock.time()
        with self.store.transaction():
            for rule in self._rules_by_arn.values():
                self._set_fire(rule, now)
        self.store.release(DELIVERIES, owner=self.owner)
        self.store.release(FIRES, owner=self.owner)
        waiting = self.pending_deliveries()
        if waiting:
            log.info("resuming %d accepted EventBridge deliveries", waiting)

    # -- buses --------------------------------------------------------------------------------------
    @staticmethod
    def bus_arn(account: str, region: str, name: str) -> str:
        return f"arn:aws:events:{region}:{account}:event-bus/{name}"

    def resolve_bus(self, account: str, region: str, name_or_arn: str | None) -> tuple[str, str, str]:
        """(account, region, name) a bus name or ARN means for a caller in `account`/`region`."""
        text = name_or_arn or "default"
        match = _BUS_ARN.fullmatch(text)
        if match is not None:
            return match.group(2), match.group(1), match.group(3)
        return account, region, text

    def find_bus(self, account: str, region: str, name_or_arn: str | None) -> Bus | None:
        owner, bus_region, name = self.resolve_bus(account, region, name_or_arn)
        arn = self.bus_arn(owner, bus_region, name)
        bus = self.buses.get(arn)
        if bus is None and name == "default":
            bus = self._create_bus(owner, bus_region, "default", None, {})
        return bus

    def get_bus(self, account: str, region: str, name_or_arn: str | None) -> Bus:
        bus = self.find_bus(account, region, name_or_arn)
        if bus is None:
            name = self.resolve_bus(account, region, name_or_arn)[2]
            raise _err(f"Event bus {name} does not exist.", "ResourceNotFoundException")
        return bus

    def _create_bus(self, account: str, region: str, name: str, description: str | None,
                    tags: dict[str, str]) -> Bus:
        now = self.clock.time()
        bus = Bus(self.bus_arn(account, region, name), account, region, name, description, None, tags, now, now)
        self.store.execute("INSERT INTO events_buses (arn, account, region, name, description, policy, tags, "
                           "created, modified) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (arn) DO NOTHING",
                           (bus.arn, account, region, name, description, None, json.dumps(tags), now, now))
        self.buses[bus.arn] = bus
        return bus

    def create_bus(self, account: str, region: str, name: str, description: str | None,
                   tags: dict[str, str], event_source: str | None = None) -> Bus:
        if event_source is not None:
            raise _err(f"Event source {event_source} does not exist.", "ResourceNotFoundException")
        if name == "default" or self.buses.get(self.bus_arn(account, region, name)) is not None:
            raise _err(f"Event bus {name} already exists.", "ResourceAlreadyExistsException")
        if "/" in name:
            raise _err("Event bus name must not contain '/'.")
        if sum(1 for b in self.buses.values() if b.account == account and b.region == region) >= MAX_BUSES:
            raise _err("The requested resource exceeds the maximum number allowed.", "LimitExceededException")
        return self._create_bus(account, region, name, description, tags)

    def update_bus(self, bus: Bus, description: str | None) -> Bus:
        bus.description = description
        bus.modified = self.clock.time()
        self.store.execute("UPDATE events_buses SET description=?, modified=? WHERE arn=?",
                           (description, bus.modified, bus.arn))
        return bus

    def delete_bus(self, account: str, region: str, name: str) -> None:
        if name == "default":
            raise _err("Cannot delete event bus default.")
        bus = self.buses.get(self.bus_arn(account, region, name))
        if bus is None:
            return  # DeleteEventBus of a bus that is not there succeeds, as on AWS
        if bus.rules:
            raise _err("Cannot delete event bus because it still has rules.")
        self.store.execute("DELETE FROM events_buses WHERE arn=?", (bus.arn,))
        del self.buses[bus.arn]

    def list_buses(self, account: str, region: str, prefix: str | None) -> list[Bus]:
        self.find_bus(account, region, "default")
        return sorted((b for b in self.buses.values() if b.account == account and b.region == region
                       and b.name.startswith(prefix or "")), key=lambda b: b.name)

    # -- bus policies -------------------------------------------------------------------------------
    def put_permission(self, bus: Bus, params: Mapping[str, Any]) -> None:
        if params.get("Policy"):
            try:
                document = safejson.loads(params["Policy"])
            except ValueError:
                raise _err("Policy is not valid JSON.") from None
            if not isinstance(document, dict) or not isinstance(document.get("Statement"), list | dict):
                raise _err("Policy is not valid.")
            self._save_policy(bus, document)
            return
        sid, principal, action = params.get("StatementId"), params.get("Principal"), params.get("Action")
        if not sid or not principal or not action:
            raise _err("Parameter(s) StatementId, Principal and Action must be specified.")
        if action != "events:PutEvents":
            raise _err("Provided value in parameter 'action' is not supported.")
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow",
                                     "Principal": "*" if principal == "*" else
                                     {"AWS": f"arn:aws:iam::{principal}:root"},
                                     "Action": action, "Resource": bus.arn}
        condition = params.get("Condition")
        if condition:
            if principal != "*":
                raise _err("Condition can only be specified with Principal '*'.")
            if condition.get("Type") != "StringEquals" or condition.get("Key") != "aws:PrincipalOrgID":
                raise _err("Provided value in parameter 'condition' is not supported.")
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": condition["Value"]}}
        document = bus.policy or {"Version": "2012-10-17", "Statement": []}
        statements = [s for s in _statements(document) if s.get("Sid") != sid]
        statements.append(statement)
        self._save_policy(bus, {"Version": "2012-10-17", "Statement": statements})

    def remove_permission(self, bus: Bus, sid: str | None, remove_all: bool) -> None:
        if remove_all:
            self._save_policy(bus, None)
            return
        statements = _statements(bus.policy) if bus.policy else []
        if not sid or not any(s.get("Sid") == sid for s in statements):
            raise _err("Statement with the provided id does not exist.", "ResourceNotFoundException")
        remaining = [s for s in statements if s.get("Sid") != sid]
        self._save_policy(bus, {"Version": "2012-10-17", "Statement": remaining} if remaining else None)

    def _save_policy(self, bus: Bus, document: dict[str, Any] | None) -> None:
        bus.policy = document
        bus.modified = self.clock.time()
        self.store.execute("UPDATE events_buses SET policy=?, modified=? WHERE arn=?",
                           (json.dumps(document) if document else None, bus.modified, bus.arn))

    def bus_allows(self, bus: Bus, sender_account: str, action: str = "events:PutEvents") -> bool:
        """Whether an account (its root, as a rule's target delivers) may act on another account's bus."""
        if sender_account == bus.account:
            return True
        if not bus.policy:
            return False
        ctx = iam_policy.RequestContext(f"arn:aws:iam::{sender_account}:root", sender_account, action, bus.arn,
                                        bus.account, {"aws:PrincipalAccount": sender_account})
        return iam_policy.evaluate(ctx, [], bus.policy, True) is iam_policy.Decision.ALLOW

    # -- rules --------------------------------------------------------------------------------------
    def rule_arn(self, bus: Bus, name: str) -> str:
        path = name if bus.name == "default" else f"{bus.name}/{name}"
        return f"arn:aws:events:{bus.region}:{bus.account}:rule/{path}"

    def get_rule(self, bus: Bus, name: str) -> Rule:
        rule = bus.rules.get(name)
        if rule is None:
            raise _err(f"Rule {name} does not exist on EventBus {bus.name}.", "ResourceNotFoundException")
        return rule

    def rule_by_arn(self, arn: str) -> Rule | None:
        return self._rules_by_arn.get(arn)

    def put_rule(self, bus: Bus, name: str, *, pattern: str | None, schedule: str | None, state: str | None,
                 description: str | None, role_arn: str | None, tags: dict[str, str]) -> Rule:
        if not pattern and not schedule:
            raise _err("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        compiled = None
        if pattern:
            try:
                compiled = compile_pattern(pattern)
            except InvalidEventPattern as exc:
                raise _err(f"Event pattern is not valid. Reason: {exc.reason}", "InvalidEventPatternException") \
                    from None
        parsed_schedule = None
        if schedule:
            if bus.name != "default":
                raise _err("ScheduleExpression is supported only on the default event bus.")
            parsed_schedule = parse_schedule(schedule)
        existing = bus.rules.get(name)
        if existing is None and len(bus.rules) >= MAX_RULES_PER_BUS:
            raise _err("The requested resource exceeds the maximum number allowed.", "LimitExceededException")
        if existing is not None and existing.managed_by:
            raise _err(f"Rule {name} is managed by {existing.managed_by} and cannot be modified.",
                       "ManagedRuleException")
        now = self.clock.time()
        rule = Rule(self.rule_arn(bus, name), name, bus, pattern, compiled, schedule, parsed_schedule,
                    state or (existing.state if existing is not None else "ENABLED"), description, role_arn,
                    anchor=existing.anchor if existing is not None and existing.schedule_text == schedule
                    else math.floor(now / 60) * 60 + 60,
                    tags=existing.tags if existing is not None else dict(tags),
                    targets=existing.targets if existing is not None else {})
        with self.store.transaction():
            self.store.execute("INSERT INTO events_rules (arn, bus_arn, name, data) VALUES (?,?,?,?) "
                               "ON CONFLICT (arn) DO UPDATE SET data=excluded.data",
                               (rule.arn, bus.arn, name, json.dumps(rule.data())))
            self._set_fire(rule, now)
        if existing is not None:
            self._uninstall(existing)
        self._install(rule)
        return rule

    def _install(self, rule: Rule) -> None:
        rule.bus.rules[rule.name] = rule
        self._rules_by_arn[rule.arn] = rule
        if rule.pattern is not None and rule.enabled:
            rule.bus.index.add(rule.name, rule.pattern)

    def _uninstall(self, rule: Rule) -> None:
        rule.bus.index.remove(rule.name)
        rule.bus.rules.pop(rule.name, None)
        self._rules_by_arn.pop(rule.arn, None)

    def _set_fire(self, rule: Rule, now: float) -> None:
        """The rule's next firing row (none for a disabled or pattern-only rule)."""
        next_at = rule.schedule.next_after(now, rule.anchor) if rule.schedule is not None and rule.enabled \
            else None
        if next_at is None:
            self.store.execute("DELETE FROM events_fires WHERE id=?", (rule.arn,))
        else:
            self.store.execute("INSERT INTO events_fires (id, next_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                               "SET next_at=excluded.next_at, lease_owner=NULL, lease_until=NULL",
                               (rule.arn, next_at))
        self._fire_wakeup.set()

    def set_state(self, rule: Rule, state: str) -> None:
        rule.state = state
        with self.store.transaction():
            self.store.execute("UPDATE events_rules SET data=? WHERE arn=?", (json.dumps(rule.data()), rule.arn))
            self._set_fire(rule, self.clock.time())
        rule.bus.index.remove(rule.name)
        if rule.pattern is not None and rule.enabled:
            rule.bus.index.add(rule.name, rule.pattern)

    def delete_rule(self, bus: Bus, name: str) -> None:
        rule = bus.rules.get(name)
        if rule is None:
            return  # as on AWS: deleting a rule that is not there succeeds
        if rule.targets:
            raise _err("Rule can't be deleted since it has targets.")
        with self.store.transaction():
            self.store.execute("DELETE FROM events_rules WHERE arn=?", (rule.arn,))
            self.store.execute("DELETE FROM events_fires WHERE id=?", (rule.arn,))
        self._uninstall(rule)

    def list_rules(self, bus: Bus, prefix: str | None) -> list[Rule]:
        return sorted((r for r in bus.rules.values() if r.name.startswith(prefix or "")), key=lambda r: r.name)

    def rule_names_by_target(self, bus: Bus, target_arn: str) -> list[str]:
        return sorted(r.name for r in bus.rules.values() if any(t.get("Arn") == target_arn
                                                                 for t in r.targets.values()))

    # -- targets ------------------------------------------------------------------------------------
    def put_targets(self, rule: Rule, targets: list[dict[str, Any]]) -> list[dict[str, str]]:
        failed: list[dict[str, str]] = []
        accepted: list[dict[str, Any]] = []
        for target in targets:
            problem = _target_problem(target)
            if problem is not None:
                failed.append({"TargetId": str(target.get("Id", "")), "ErrorCode": "ValidationException",
                               "ErrorMessage": problem})
            else:
                accepted.append(target)
        ids = set(rule.targets) | {t["Id"] for t in accepted}
        if len(ids) > MAX_TARGETS_PER_RULE:
            raise _err("The requested resource exceeds the maximum number allowed.", "LimitExceededException")
        with self.store.transaction():
            for target in accepted:
                self.store.execute("INSERT INTO events_targets (rule_arn, target_id, data) VALUES (?,?,?) "
                                   "ON CONFLICT (rule_arn, target_id) DO UPDATE SET data=excluded.data",
                                   (rule.arn, target["Id"], json.dumps(target)))
        for target in accepted:
            rule.targets[target["Id"]] = target
        return failed

    def remove_targets(self, rule: Rule, ids: Iterable[str]) -> list[dict[str, str]]:
        failed: list[dict[str, str]] = []
        with self.store.transaction():
            for target_id in ids:
                if target_id not in rule.targets:
                    failed.append({"TargetId": target_id, "ErrorCode": "ResourceNotFoundException",
                                   "ErrorMessage": f"Target {target_id} does not exist on rule {rule.name}."})
                    continue
                self.store.execute("DELETE FROM events_targets WHERE rule_arn=? AND target_id=?",
                                   (rule.arn, target_id))
        for target_id in ids:
            rule.targets.pop(target_id, None)
        return failed

    # -- tags ---------------------------------------------------------------------------------------
    def tagged(self, arn: str) -> Bus | Rule:
        rule = self._rules_by_arn.get(arn)
        if rule is not None:
            return rule
        bus = self.buses.get(arn)
        if bus is None:
            match = _BUS_ARN.fullmatch(arn)
            if match is not None and match.group(3) == "default":
                return self.get_bus(match.group(2), match.group(1), "default")
            resource = arn.rsplit(":", 1)[-1]
            raise _err(f"{resource.replace('/', ' ', 1).capitalize()} does not exist.",
                       "ResourceNotFoundException")
        return bus

    def set_tags(self, resource: Bus | Rule, tags: dict[str, str]) -> None:
        resource.tags = tags
        if isinstance(resource, Rule):
            self.store.execute("UPDATE events_rules SET data=? WHERE arn=?",
                               (json.dumps(resource.data()), resource.arn))
        else:
            self.store.execute("UPDATE events_buses SET tags=? WHERE arn=?", (json.dumps(tags), resource.arn))

    # -- events -------------------------------------------------------------------------------------
    def put_events(self, sender_account: str, region: str, entries: list[dict[str, Any]], *,
                   trusted_source: bool = False) -> list[dict[str, str]]:
        """Accept entries (PutEvents): per-entry results; the accepted ones are routed and durable on return."""
        size = sum(entry_size(entry) for entry in entries)
        if size > MAX_ENTRY_BYTES:
            raise _err("Total size of the entries in the request is over the limit.")
        now = self.clock.time()
        results: list[dict[str, str]] = []
        routed: list[tuple[Bus, dict[str, Any]]] = []
        for entry in entries:
            problem = _entry_problem(entry, trusted_source)
            if problem is not None:
                results.append({"ErrorCode": problem[0], "ErrorMessage": problem[1]})
                continue
            bus = self.find_bus(sender_account, region, entry.get("EventBusName"))
            if bus is None:
                name = self.resolve_bus(sender_account, region, entry.get("EventBusName"))[2]
                results.append({"ErrorCode": "ResourceNotFoundException",
                                "ErrorMessage": f"Event bus {name} does not exist."})
                continue
            event_time = entry.get("Time")
            event = {
                "version": "0", "id": str(uuid.uuid4()), "detail-type": entry["DetailType"],
                "source": entry["Source"], "account": sender_account,
                "time": iso(float(event_time) if isinstance(event_time, int | float) else now),
                "region": bus.region, "resources": list(entry.get("Resources") or []),
                "detail": safejson.loads(entry["Detail"]),
            }
            routed.append((bus, event))
            results.append({"EventId": event["id"]})
        if routed:
            with self.store.transaction():
                for bus, event in routed:
                    self._route(bus, event, now)
            self.delivery_wakeup.set()
        return results

    def route(self, bus: Bus, event: dict[str, Any]) -> int:
        """Route an event that arrived from elsewhere (another bus, a Lambda destination); durable on return."""
        with self.store.transaction():
            count = self._route(bus, event, self.clock.time())
        self.delivery_wakeup.set()
        return count

    def put_service_event(self, account: str, bus_arn: str, event: dict[str, Any]) -> None:
        """An event one of our services sends on `account`'s behalf (a Lambda destination): the bus must
        exist and, in another account, its policy must admit `account`; durable on return."""
        parts = arn_parts(bus_arn)
        if parts is None or parts[0] != "events":
            raise _err(f"Parameter {bus_arn} is not valid.")
        bus = self.find_bus(parts[2] or account, parts[1], bus_arn)
        if bus is None:
            raise _err(f"Event bus {parts[3].split('/', 1)[-1]} does not exist.", "ResourceNotFoundException")
        if not self.bus_allows(bus, account):
            raise _err(f"Account {account} is not authorized to put events to {bus.arn}.", "AccessDeniedException")
        self.route(bus, event)

    def _route(self, bus: Bus, event: dict[str, Any], now: float) -> int:
        count = 0
        for name in sorted(bus.index.matching(event)):
            rule = bus.rules[name]
            count += self.add_deliveries(rule.bus.account, rule.bus.region, rule.arn, rule.targets.values(), event, now)
        return count

    def add_deliveries(self, account: str, region: str, source_arn: str, targets: Iterable[dict[str, Any]],
                       event: dict[str, Any], now: float) -> int:
        """Store one delivery row per target (within the caller's transaction); wake the deliverer after."""
        rows = [(str(uuid.uuid4()), account, region, source_arn, json.dumps(target), json.dumps(event), now, now)
                for target in targets]
        if rows:
            self.store.executemany(
                "INSERT INTO events_deliveries (id, account, region, rule_arn, target, event, received, attempts, "
                "next_at) VALUES (?,?,?,?,?,?,?,0,?)", rows)
        return len(rows)

    def enqueue(self, account: str, region: str, source_arn: str, targets: Iterable[dict[str, Any]],
                event: dict[str, Any]) -> int:
        """Deliveries of one event to given targets (the Scheduler's use); durable on return."""
        with self.store.transaction():
            count = self.add_deliveries(account, region, source_arn, targets, event, self.clock.time())
        self.delivery_wakeup.set()
        return count

    def test_pattern(self, pattern: str, event_text: str) -> bool:
        try:
            compiled = compile_pattern(pattern)
        except InvalidEventPattern as exc:
            raise _err(f"Event pattern is not valid. Reason: {exc.reason}", "InvalidEventPatternException") \
                from None
        try:
            event = safejson.loads(event_text)
        except ValueError:
            raise _err("Parameter Event is not valid.") from None
        if not isinstance(event, dict):
            raise _err("Parameter Event is not valid.")
        for key in ("id", "account", "source", "time", "region", "detail-type"):
            if key not in event:
                raise _err("Parameter Event is not valid.")
        return compiled.matches(event)

    # -- scheduled rules ----------------------------------------------------------------------------
    async def run_schedules(self) -> None:
        """Fire scheduled rules when due, on the injected clock, until cancelled."""
        while True:
            self._fire_wakeup.clear()
            now = self.clock.time()
            for row in self.store.claim(FIRES, owner=self.owner, now=now, due_before=now, lease_seconds=60.0,
                                        limit=100):
                self._fire(row["id"], float(row["next_at"]), now)
            nxt = self.store.one("SELECT MIN(next_at) AS t FROM events_fires WHERE lease_owner IS NULL")
            delay = 60.0
            if nxt is not None and nxt["t"] is not None:
                delay = min(delay, max(0.0, float(nxt["t"]) - self.clock.time()))
            timer = self.clock.call_later(delay, self._fire_wakeup.set)
            try:
                await self._fire_wakeup.wait()
            finally:
                timer.cancel()

    def _fire(self, rule_arn: str, due: float, now: float) -> None:
        rule = self._rules_by_arn.get(rule_arn)
        with self.store.transaction():
            if rule is None or rule.schedule is None or not rule.enabled:
                self.store.execute("DELETE FROM events_fires WHERE id=?", (rule_arn,))
                return
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": rule.bus.account, "time": iso(due),
                     "region": rule.bus.region, "resources": [rule.arn], "detail": {}}
            self.add_deliveries(rule.bus.account, rule.bus.region, rule.arn, rule.targets.values(), event, now)
            # The next firing after now (a firing that came due during a long pause is not repeated).
            next_at = rule.schedule.next_after(max(now, due), rule.anchor)
            if next_at is None:
                self.store.execute("DELETE FROM events_fires WHERE id=?", (rule_arn,))
            else:
                self.store.execute("UPDATE events_fires SET next_at=?, lease_owner=NULL, lease_until=NULL "
                                   "WHERE id=?", (next_at, rule_arn))
        self.delivery_wakeup.set()

    # -- deliveries (delivery.py runs them) ---------------------------------------------------------
    def claim_deliveries(self, limit: int, lease_seconds: float) -> list[Delivery]:
        now = self.clock.time()
        rows = self.store.claim(DELIVERIES, owner=self.owner, now=now, due_before=now,
                                lease_seconds=lease_seconds, limit=limit)
        return [Delivery(r["id"], r["account"], r["region"], r["rule_arn"], json.loads(r["target"]),
                         json.loads(r["event"]), float(r["received"]), int(r["attempts"])) for r in rows]

    def next_delivery_at(self) -> float | None:
        row = self.store.one("SELECT MIN(next_at) AS t FROM events_deliveries WHERE lease_owner IS NULL")
        return float(row["t"]) if row is not None and row["t"] is not None else None

    def delivered(self, delivery: Delivery) -> None:
        self.store.execute("DELETE FROM events_deliveries WHERE id=?", (delivery.id,))

    def retry_later(self, delivery: Delivery, next_at: float) -> None:
        self.store.execute("UPDATE events_deliveries SET attempts=?, next_at=?, lease_owner=NULL, lease_until=NULL "
                           "WHERE id=? AND lease_owner=?", (delivery.attempts + 1, next_at, delivery.id, self.owner))

    def pending_deliveries(self) -> int:
        row = self.store.one("SELECT COUNT(*) AS n FROM events_deliveries")
        return int(row["n"]) if row is not None else 0

    def statistics(self) -> dict[str, int]:
        return {"buses": len(self.buses), "rules": len(self._rules_by_arn),
                "pending_deliveries": self.pending_deliveries()}


def _statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    statements = document.get("Statement", [])
    return [dict(s) for s in (statements if isinstance(statements, list) else [statements]) if isinstance(s, dict)]


def entry_size(entry: Mapping[str, Any]) -> int:
    """AWS's PutEvents entry size: 14 bytes for a Time, plus the UTF-8 bytes of Source, DetailType,
    Detail and each resource."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if isinstance(value, str):
            size += len(value.encode())
    for resource in entry.get("Resources") or []:
        if isinstance(resource, str):
            size += len(resource.encode())
    return size


def _entry_problem(entry: Mapping[str, Any], trusted_source: bool) -> tuple[str, str] | None:
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            return "InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required argument."
    if not trusted_source and str(entry["Source"]).startswith("aws."):
        return "NotAuthorizedForSourceException", "Not authorized for the source."
    try:
        detail = safejson.loads(entry["Detail"])
    except ValueError:
        return "MalformedDetail", "Detail is malformed."
    if not isinstance(detail, dict):
        return "MalformedDetail", "Detail is malformed."
    return None


def _target_problem(target: Mapping[str, Any]) -> str | None:
    """Why PutTargets refuses a target (None: it is fine)."""
    arn = str(target.get("Arn", ""))
    parts = arn_parts(arn)
    if parts is None:
        return f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
    service = parts[0]
    if service not in ("lambda", "sqs", "sns", "events"):
        return f"Target {arn} is not supported by this server (lambda, sqs, sns and events targets are)."
    if sum(1 for key in ("Input", "InputPath", "InputTransformer") if target.get(key) is not None) > 1:
        return "Only one of Input, InputPath, or InputTransformer must be provided."
    if target.get("Input") is not None:
        try:
            safejson.loads(target["Input"])
        except ValueError:
            return "Input is not valid JSON text."
    try:
        if target.get("InputPath") is not None:
            transform.check_input_path(target["InputPath"])
        if target.get("InputTransformer") is not None:
            transform.check_transformer(target["InputTransformer"])
    except EventsError as exc:
        return exc.message
    if service == "sqs" and parts[3].endswith(".fifo") and not (target.get("SqsParameters") or {}).get(
            "MessageGroupId"):
        return "Parameter(s) SqsParameters must be specified because the target is a FIFO queue."
    if service != "sqs" and target.get("SqsParameters"):
        return "Parameter(s) SqsParameters is not valid for this target type."
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if dlq is not None and ((arn_parts(dlq) or ("",))[0] != "sqs"):
        return "The DeadLetterConfig Arn must be an SQS queue ARN."
    if service == "events" and not _BUS_ARN.fullmatch(arn):
        return f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
    return None

