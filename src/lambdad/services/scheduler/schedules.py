"""EventBridge Scheduler's domain: schedule groups (`default` exists) and schedules that fire.

A schedule has an expression (`at(...)`, `rate(...)`, `cron(...)` in its ScheduleExpressionTimezone),
an optional StartDate/EndDate window, a FlexibleTimeWindow (each firing is delayed by a random amount
up to MaximumWindowInMinutes), and one templated target (Lambda, SQS, SNS, or an EventBridge bus with
EventBridgeParameters) with its Input, RetryPolicy and DeadLetterConfig. Firing hands the target to
EventBridge's durable deliveries (the same retries, dead-letter queues and at-least-once delivery); the
target's RoleArn is judged at each delivery (delivery.py).

Each enabled schedule with a firing ahead has a row in `scheduler_fires`, claimed when due
(`store.claim`), so one node fires it. A finished schedule (an `at` fired, an EndDate passed) is
deleted when its ActionAfterCompletion is DELETE. Recurring firings missed while the server was down
are not replayed; a one-time `at` that came due meanwhile fires once at start.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambdad.clock import SYSTEM, Clock
from lambdad.errors import EventsError
from lambdad.services.events.buses import EventBridge, arn_parts, iso
from lambdad.services.events.schedules import At, Schedule, parse_at, parse_schedule
from lambdad.store import LEASE_COLUMNS, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduler_groups (
    arn TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    tags TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scheduler_schedules (
    arn TEXT PRIMARY KEY,
    group_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scheduler_fires (
    id TEXT PRIMARY KEY,
    next_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL
);
"""
FIRES = "scheduler_fires"
_NAME = re.compile(r"[0-9a-zA-Z-_.]+")
_SETTINGS = ("ScheduleExpression", "ScheduleExpressionTimezone", "StartDate", "EndDate", "Description", "State",
             "KmsKeyArn", "Target", "FlexibleTimeWindow", "ActionAfterCompletion")


def _err(message: str, code: str = "ValidationException", status: int = 400) -> EventsError:
    return EventsError(message, code=code, status=status)


def _not_found(message: str) -> EventsError:
    return _err(message, "ResourceNotFoundException", 404)


def _conflict(message: str) -> EventsError:
    return _err(message, "ConflictException", 409)


@dataclass(slots=True)
class Group:
    arn: str
    account: str
    region: str
    name: str
    created: float
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"Arn": self.arn, "Name": self.name, "State": "ACTIVE", "CreationDate": self.created,
                "LastModificationDate": self.created}


@dataclass(slots=True)
class ScheduleItem:
    arn: str
    group: Group
    name: str
    settings: dict[str, Any]
    created: float
    modified: float
    schedule: Schedule

    @property
    def enabled(self) -> bool:
        return bool(self.settings.get("State", "ENABLED") == "ENABLED")

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in self.settings.items() if v is not None}
        out.setdefault("State", "ENABLED")
        out.setdefault("ScheduleExpressionTimezone", "UTC")
        out.setdefault("ActionAfterCompletion", "NONE")
        out.update(Arn=self.arn, GroupName=self.group.name, Name=self.name, CreationDate=self.created,
                   LastModificationDate=self.modified)
        return out

    def summary(self) -> dict[str, Any]:
        return {"Arn": self.arn, "Name": self.name, "GroupName": self.group.name,
                "State": self.settings.get("State", "ENABLED"), "CreationDate": self.created,
                "LastModificationDate": self.modified, "Target": {"Arn": self.settings["Target"]["Arn"]}}


def _timezone(name: str | None) -> tzinfo:
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _err(f"Invalid timezone {name}.") from None


def _expression(text: str, tz_name: str | None) -> Schedule:
    tz = _timezone(tz_name)
    at = parse_at(text, tz)
    if at is not None:
        return at
    try:
        return parse_schedule(text, tz)
    except EventsError:
        raise _err(f"Invalid Schedule Expression {text}.") from None


def _check_target(target: Mapping[str, Any]) -> None:
    parts = arn_parts(str(target.get("Arn", "")))
    if parts is None:
        raise _err(f"Invalid target arn {target.get('Arn')}.")
    service = parts[0]
    if service not in ("lambda", "sqs", "sns", "events"):
        raise _err(f"Target {target['Arn']} is not supported by this server (Lambda, SQS, SNS and EventBridge "
                   "targets are).")
    if service == "events" and not target.get("EventBridgeParameters"):
        raise _err("EventBridgeParameters must be specified for an EventBridge target.")
    if service == "sqs" and parts[3].endswith(".fifo") and not (target.get("SqsParameters") or {}).get(
            "MessageGroupId"):
        raise _err("MessageGroupId must be specified for a FIFO queue target.")
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if dlq is not None and (arn_parts(dlq) or ("",))[0] != "sqs":
        raise _err("DeadLetterConfig Arn must be an SQS queue ARN.")


class Scheduler:
    def __init__(self, store: Store, eventbridge: EventBridge, *, owner: str = "local", clock: Clock = SYSTEM) -> None:
        self.store = store
        self.eb = eventbridge
        self.owner = owner
        self.clock = clock
        self.groups: dict[str, Group] = {}
        self.schedules: dict[str, ScheduleItem] = {}
        self._wakeup = asyncio.Event()
        self.fired = 0
        store.ensure_schema(SCHEMA)
        for column, decl in LEASE_COLUMNS:
            store.add_column(FIRES, column, decl)
        self._load()

    def _load(self) -> None:
        for row in self.store.all("SELECT * FROM scheduler_groups"):
            self.groups[row["arn"]] = Group(row["arn"], row["account"], row["region"], row["name"], row["created"],
                                            json.loads(row["tags"]))
        for row in self.store.all("SELECT * FROM scheduler_schedules"):
            group = self.groups.get(row["group_arn"])
            if group is None:
                continue
            data = json.loads(row["data"])
            settings = data["settings"]
            self.schedules[row["arn"]] = ScheduleItem(
                row["arn"], group, row["name"], settings, data["created"], data["modified"],
                _expression(settings["ScheduleExpression"], settings.get("ScheduleExpressionTimezone")))
        now = self.clock.time()
        with self.store.transaction():
            for item in self.schedules.values():
                # A one-time schedule that came due while down still fires (once); recurring ones resume
                # from now.
                pending = item.schedule.when if isinstance(item.schedule, At) and self._is_due_at(item) else None
                self._set_fire(item, now, pending)
        self.store.release(FIRES, owner=self.owner)

    def _is_due_at(self, item: ScheduleItem) -> bool:
        return self.store.one("SELECT 1 FROM scheduler_fires WHERE id=?", (item.arn,)) is not None

    # -- groups -------------------------------------------------------------------------------------
    @staticmethod
    def group_arn(account: str, region: str, name: str) -> str:
        return f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"

    def find_group(self, account: str, region: str, name: str | None) -> Group | None:
        name = name or "default"
        group = self.groups.get(self.group_arn(account, region, name))
        if group is None and name == "default":
            group = self._create_group(account, region, "default", {})
        return group

    def get_group(self, account: str, region: str, name: str | None) -> Group:
        group = self.find_group(account, region, name)
        if group is None:
            raise _not_found(f"Schedule group {name} does not exist.")
        return group

    def _create_group(self, account: str, region: str, name: str, tags: dict[str, str]) -> Group:
        group = Group(self.group_arn(account, region, name), account, region, name, self.clock.time(), tags)
        self.store.execute("INSERT INTO scheduler_groups (arn, account, region, name, tags, created) "
                           "VALUES (?,?,?,?,?,?) ON CONFLICT (arn) DO NOTHING",
                           (group.arn, account, region, name, json.dumps(tags), group.created))
        self.groups[group.arn] = group
        return group

    def create_group(self, account: str, region: str, name: str, tags: dict[str, str]) -> Group:
        if self.find_group(account, region, name) is not None:
            raise _conflict(f"Schedule group {name} already exists.")
        return self._create_group(account, region, name, tags)

    def delete_group(self, account: str, region: str, name: str) -> None:
        if name == "default":
            raise _err("Cannot delete the default schedule group.")
        group = self.get_group(account, region, name)
        with self.store.transaction():
            for item in [s for s in self.schedules.values() if s.group is group]:
                self._delete(item)
            self.store.execute("DELETE FROM scheduler_groups WHERE arn=?", (group.arn,))
        del self.groups[group.arn]

    def list_groups(self, account: str, region: str, prefix: str | None) -> list[Group]:
        self.find_group(account, region, "default")
        return sorted((g for g in self.groups.values() if g.account == account and g.region == region
                       and g.name.startswith(prefix or "")), key=lambda g: g.name)

    # -- schedules ----------------------------------------------------------------------------------
    def schedule_arn(self, group: Group, name: str) -> str:
        return f"arn:aws:scheduler:{group.region}:{group.account}:schedule/{group.name}/{name}"

    def get(self, group: Group, name: str) -> ScheduleItem:
        item = self.schedules.get(self.schedule_arn(group, name))
        if item is None:
            raise _not_found(f"Schedule {name} does not exist.")
        return item

    def put(self, group: Group, name: str, params: Mapping[str, Any], *, create: bool) -> ScheduleItem:
        arn = self.schedule_arn(group, name)
        existing = self.schedules.get(arn)
        if create and existing is not None:
            raise _conflict(f"Schedule {name} already exists.")
        if not create and existing is None:
            raise _not_found(f"Schedule {name} does not exist.")
        settings: dict[str, Any] = {key: params[key] for key in _SETTINGS if params.get(key) is not None}
        schedule = _expression(settings["ScheduleExpression"], settings.get("ScheduleExpressionTimezone"))
        window = settings.get("FlexibleTimeWindow") or {}
        if window.get("Mode") == "FLEXIBLE" and not window.get("MaximumWindowInMinutes"):
            raise _err("MaximumWindowInMinutes must be specified when the FlexibleTimeWindow Mode is FLEXIBLE.")
        if window.get("Mode") == "OFF" and window.get("MaximumWindowInMinutes"):
            raise _err("MaximumWindowInMinutes must not be specified when the FlexibleTimeWindow Mode is OFF.")
        start, end = settings.get("StartDate"), settings.get("EndDate")
        if start is not None and end is not None and float(end) <= float(start):
            raise _err("The EndDate must be later than the StartDate.")
        if end is not None and float(end) <= self.clock.time():
            raise _err("The EndDate must be in the future.")
        _check_target(settings["Target"])
        now = self.clock.time()
        created = existing.created if existing is not None else now
        item = ScheduleItem(arn, group, name, settings, created, now, schedule)
        with self.store.transaction():
            self.store.execute("INSERT INTO scheduler_schedules (arn, group_arn, name, data) VALUES (?,?,?,?) "
                               "ON CONFLICT (arn) DO UPDATE SET data=excluded.data",
                               (arn, group.arn, name, json.dumps({"settings": settings, "created": item.created,
                                                                  "modified": now})))
            self._set_fire(item, now)
        self.schedules[arn] = item
        return item

    def delete(self, group: Group, name: str) -> None:
        item = self.get(group, name)
        with self.store.transaction():
            self._delete(item)

    def _delete(self, item: ScheduleItem) -> None:
        self.store.execute("DELETE FROM scheduler_schedules WHERE arn=?", (item.arn,))
        self.store.execute("DELETE FROM scheduler_fires WHERE id=?", (item.arn,))
        self.schedules.pop(item.arn, None)

    def list(self, account: str, region: str, group: str | None, prefix: str | None,
             state: str | None) -> list[ScheduleItem]:
        return sorted((s for s in self.schedules.values() if s.group.account == account and s.group.region == region
                       and (group is None or s.group.name == group) and s.name.startswith(prefix or "")
                       and (state is None or s.settings.get("State", "ENABLED") == state)),
                      key=lambda s: (s.group.name, s.name))

    # -- firing -------------------------------------------------------------------------------------
    def _next(self, item: ScheduleItem, after: float) -> float | None:
        """The next firing after `after` inside the StartDate/EndDate window (None: finished)."""
        start = item.settings.get("StartDate")
        end = item.settings.get("EndDate")
        anchor = float(start) if start is not None else (item.created // 60 + 1) * 60
        if start is not None and after < float(start):
            after = float(start) - 1e-6
        nxt = item.schedule.next_after(after, anchor)
        if nxt is not None and end is not None and nxt > float(end):
            return None
        return nxt

    def _set_fire(self, item: ScheduleItem, now: float, due: float | None = None) -> None:
        nxt = due if due is not None else (self._next(item, now) if item.enabled else None)
        if nxt is None:
            self.store.execute("DELETE FROM scheduler_fires WHERE id=?", (item.arn,))
        else:
            window = item.settings.get("FlexibleTimeWindow") or {}
            if window.get("Mode") == "FLEXIBLE":
                nxt += random.uniform(0, 60.0 * float(window.get("MaximumWindowInMinutes") or 0))
            self.store.execute("INSERT INTO scheduler_fires (id, next_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                               "SET next_at=excluded.next_at, lease_owner=NULL, lease_until=NULL", (item.arn, nxt))
        self._wakeup.set()

    async def run_schedules(self) -> None:
        """Fire schedules when due, on the injected clock, until cancelled."""
        while True:
            self._wakeup.clear()
            now = self.clock.time()
            for row in self.store.claim(FIRES, owner=self.owner, now=now, due_before=now, lease_seconds=60.0,
                                        limit=100):
                self._fire(row["id"], float(row["next_at"]), now)
            nxt = self.store.one("SELECT MIN(next_at) AS t FROM scheduler_fires WHERE lease_owner IS NULL")
            delay = 60.0
            if nxt is not None and nxt["t"] is not None:
                delay = min(delay, max(0.0, float(nxt["t"]) - self.clock.time()))
            timer = self.clock.call_later(delay, self._wakeup.set)
            try:
                await self._wakeup.wait()
            finally:
                timer.cancel()

    def _fire(self, arn: str, due: float, now: float) -> None:
        item = self.schedules.get(arn)
        if item is None or not item.enabled:
            self.store.execute("DELETE FROM scheduler_fires WHERE id=?", (arn,))
            return
        target = dict(item.settings["Target"])
        account, region = item.group.account, item.group.region
        execution = str(uuid.uuid4())
        text = target.get("Input")
        if str(target["Arn"]).split(":")[2] == "events":
            parameters = target.get("EventBridgeParameters") or {}
            try:
                detail = json.loads(text) if text else {}
            except ValueError:
                detail = {}
            event: dict[str, Any] = {
                "version": "0", "id": execution, "detail-type": parameters.get("DetailType", "Scheduled Event"),
                "source": parameters.get("Source", "aws.scheduler"), "account": account, "time": iso(due),
                "region": region, "resources": [arn], "detail": detail if isinstance(detail, dict) else {}}
        else:
            target["Input"] = text if text is not None else "{}"
            event = {"version": "0", "id": execution, "detail-type": "Scheduled Event", "source": "aws.scheduler",
                     "account": account, "time": iso(due), "region": region, "resources": [arn], "detail": {}}
        finished = self._next(item, max(now, due)) is None
        with self.store.transaction():
            self.eb.add_deliveries(account, region, arn, [target], event, now)
            if finished:
                if item.settings.get("ActionAfterCompletion") == "DELETE":
                    self._delete(item)
                else:
                    self.store.execute("DELETE FROM scheduler_fires WHERE id=?", (arn,))
            else:
                self._set_fire(item, max(now, due))
        self.fired += 1
        self.eb.delivery_wakeup.set()

    def tagged(self, arn: str) -> Group:
        group = self.groups.get(arn)
        if group is None:
            raise _not_found(f"Schedule group {arn.rsplit('/', 1)[-1]} does not exist.")
        return group

    def set_tags(self, group: Group, tags: dict[str, str]) -> None:
        group.tags = tags
        self.store.execute("UPDATE scheduler_groups SET tags=? WHERE arn=?", (json.dumps(tags), group.arn))

    def statistics(self) -> dict[str, int]:
        return {"schedules": len(self.schedules), "fired": self.fired}
