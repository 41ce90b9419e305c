"""Mappings: every event source mapping, durable in the store and indexed in memory.

A change is committed before the API answers (a mapping acknowledged survives `kill -9`), then the
engine is told (`add_listener`), which starts or stops pollers and settles the transitional state the
API answered with (Creating, Enabling, Updating, Disabling, Deleting) into the one it leads to.

Rows carry the store's lease columns: the engine of one node claims a mapping and runs its pollers
(store.claim), so several nodes sharing a PostgreSQL store each run a share of the mappings and one
that dies has its mappings taken over when its leases run out.
"""

from __future__ import annotations

import json
import time
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from lambdad.control.names import parse_function_ref
from lambdad.control.resolver import Resolver
from lambdad.control.validation import check_tags
from lambdad.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from lambdad.mappings import validation
from lambdad.mappings.records import (
    CREATING,
    DELETING,
    DISABLED,
    DISABLING,
    ENABLING,
    SETTLES_TO,
    UPDATING,
    EventSourceMapping,
    source_kind,
)
from lambdad.mappings.source import Source
from lambdad.store import LEASE_COLUMNS, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS esm_mappings (
    uuid TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    source_arn TEXT NOT NULL,
    state TEXT NOT NULL,
    settings TEXT NOT NULL,
    tags TEXT NOT NULL,
    created REAL NOT NULL,
    next_at REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL
);
"""
TABLE = "esm_mappings"
NOT_FOUND = "The resource you requested does not exist."
_LABELS = {"sqs": "SQS", "kinesis": "Kinesis", "dynamodb": "DynamoDB Streams"}

Listener = Callable[[EventSourceMapping], None]


class Mappings:
    def __init__(self, store: Store, resolver: Resolver, sources: Mapping[str, Source]) -> None:
        self.store = store
        self.resolver = resolver
        self.sources = dict(sources)
        self._by_uuid: dict[str, EventSourceMapping] = {}
        self._created: dict[str, float] = {}
        self._listeners: list[Listener] = []
        store.ensure_schema(SCHEMA)
        for column, decl in LEASE_COLUMNS:
            store.add_column(TABLE, column, decl)
        for row in store.all("SELECT * FROM esm_mappings ORDER BY created"):
            self._remember(self._from_row(row), row["created"])

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, mapping: EventSourceMapping) -> None:
        for listener in self._listeners:
            listener(mapping)

    # -- rows ---------------------------------------------------------------------------------
    @staticmethod
    def _from_row(row: Any) -> EventSourceMapping:
        return EventSourceMapping.from_stored(row["uuid"], row["account"], row["region"], row["source_arn"],
                                              row["state"], json.loads(row["settings"]), json.loads(row["tags"]))

    def reload(self, uuid: str) -> EventSourceMapping | None:
        """The mapping as stored now (another node may have changed it), remembered in memory."""
        row = self.store.one("SELECT * FROM esm_mappings WHERE uuid=?", (uuid,))
        if row is None:
            self._forget(uuid)
            return None
        m = self._from_row(row)
        self._remember(m, row["created"])
        return m

    def _remember(self, mapping: EventSourceMapping, created: float) -> None:
        self._by_uuid[mapping.uuid] = mapping
        self._created.setdefault(mapping.uuid, created)

    def _forget(self, uuid: str) -> None:
        self._by_uuid.pop(uuid, None)
        self._created.pop(uuid, None)

    def _save(self, m: EventSourceMapping) -> None:
        self.store.execute(
            "INSERT INTO esm_mappings (uuid, account, region, source_arn, state, settings, tags, created) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (uuid) DO UPDATE SET source_arn=excluded.source_arn, "
            "state=excluded.state, settings=excluded.settings, tags=excluded.tags",
            (m.uuid, m.account, m.region, m.source_arn, m.state, json.dumps(m.to_stored()), json.dumps(m.tags),
             self._created.get(m.uuid, m.last_modified)))
        self._remember(m, self._created.get(m.uuid, m.last_modified))

    # -- reads ----------------------------------------------------------------------------------
    def find(self, uuid: str) -> EventSourceMapping | None:
        return self._by_uuid.get(uuid)

    def get(self, account: str, region: str, uuid: str) -> EventSourceMapping:
        m = self._by_uuid.get(uuid)
        if m is None or m.account != account or m.region != region:
            raise ResourceNotFoundException(NOT_FOUND)
        return m

    def all(self) -> list[EventSourceMapping]:
        return list(self._by_uuid.values())

    def list(self, account: str, region: str, source_arn: str | None = None,
             function: str | None = None) -> list[EventSourceMapping]:
        out = [m for m in self._by_uuid.values() if m.account == account and m.region == region]
        if source_arn:
            out = [m for m in out if m.source_arn == source_arn]
        if function:
            ref = parse_function_ref(function, None, account, region=region)
            out = [m for m in out if m.account == ref.account and m.function_name == ref.name
                   and (ref.qualifier is None or m.qualifier == ref.qualifier)]
        return out

    # -- writes ---------------------------------------------------------------------------------
    def create(self, account: str, region: str, params: dict[str, Any]) -> EventSourceMapping:
        arn = params.get("EventSourceArn")
        kind = source_kind(arn or "")
        source = self.sources.get(kind)
        if not arn or source is None:
            raise InvalidParameterValueException("Unrecognized event source, must be kinesis, dynamodb stream or "
                                                 "sqs.")
        name, qualifier = self._function(account, region, params["FunctionName"])
        now = time.time()
        base = EventSourceMapping(
            uuid=str(uuidlib.uuid4()), account=account, region=region, function_name=name, qualifier=qualifier,
            source_arn=arn, kind=kind, state=CREATING if params.get("Enabled", True) else DISABLED,
            last_modified=now, batch_size=validation.DEFAULT_BATCH[kind])
        m = validation.apply(base, params, creating=True)
        if params.get("Tags"):
            m.tags = check_tags(params["Tags"])
        self._check_source(source, m)
        for other in self._by_uuid.values():
            if (other.account == account and other.source_arn == arn and other.function_name == name
                    and other.qualifier == qualifier and other.state != DELETING):
                raise ResourceConflictException(
                    f'An event source mapping with {_LABELS[kind]} arn (" {arn} ") and function (" {name} ") '
                    f"already exists. Please update or delete the existing mapping with UUID {other.uuid}")
        self._created[m.uuid] = now
        self._save(m)
        self._changed(m)
        return m

    def update(self, account: str, region: str, uuid: str, params: dict[str, Any]) -> EventSourceMapping:
        current = self.get(account, region, uuid)
        if current.state == DELETING:
            raise ResourceInUseException("Cannot update the event source mapping because it is in use.")
        m = validation.apply(current, params, creating=False)
        if params.get("FunctionName") is not None:
            m.function_name, m.qualifier = self._function(account, region, params["FunctionName"])
        self._check_source(self.sources[m.kind], m)
        enabled = params.get("Enabled")
        running = current.polling
        if enabled is False:
            m.state = DISABLING if running or current.state == DISABLING else DISABLED
        elif enabled is True and not running:
            m.state = ENABLING
        elif running:
            m.state = UPDATING
        m.last_modified = time.time()
        self._save(m)
        self._changed(m)
        return m

    def delete(self, account: str, region: str, uuid: str) -> EventSourceMapping:
        m = replace(self.get(account, region, uuid), state=DELETING)
        self._save(m)
        self._changed(m)
        return m

    # -- what the engine reports ----------------------------------------------------------------
    def settle(self, uuid: str) -> EventSourceMapping | None:
        """The pollers now match the mapping: Creating/Enabling/Updating become Enabled, Disabling Disabled;
        a deleted mapping's row goes."""
        m = self._by_uuid.get(uuid)
        if m is None:
            return None
        if m.state == DELETING:
            self.store.execute("DELETE FROM esm_mappings WHERE uuid=?", (uuid,))
            self._forget(uuid)
            return None
        target = SETTLES_TO.get(m.state)
        if target is None:
            return m
        if m.state == UPDATING and not m.polling:
            target = DISABLED
        settled = replace(m, state=target)
        self.store.execute("UPDATE esm_mappings SET state=? WHERE uuid=? AND state=?", (target, uuid, m.state))
        self._remember(settled, self._created.get(uuid, m.last_modified))
        return settled

    def set_tags(self, m: EventSourceMapping, tags: dict[str, str]) -> None:
        m.tags = tags
        self.store.execute("UPDATE esm_mappings SET tags=? WHERE uuid=?", (json.dumps(tags), m.uuid))

    # -- checks ---------------------------------------------------------------------------------
    def _function(self, account: str, region: str, raw: str) -> tuple[str, str | None]:
        ref = parse_function_ref(raw, None, account, region=region)
        if ref.account != account:  # a mapping lives in its function's account: another's is not reachable
            raise ResourceNotFoundException("Function does not exist")
        try:
            self.resolver.resolve(ref.account, ref.region, ref.name, ref.qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException("Function does not exist") from None
        return ref.name, ref.qualifier

    def _check_source(self, source: Source, m: EventSourceMapping) -> None:
        """As AWS checks at create and update: the execution role may read the source, which exists."""
        fv = self.resolver.resolve(m.account, m.region, m.function_name, m.qualifier)
        denied = source.denied_action(fv.role, m.function_name, m.source_arn)
        if denied is not None:
            raise InvalidParameterValueException(
                f"The provided execution role does not have permissions to call {denied} on {_LABELS[m.kind]}")
        source.describe(m.source_arn, m.account, m.region)


class MappingTags:
    """Tags of event source mappings for control/tags.py (`Tagging.register("event-source-mapping", ...)`)."""

    def __init__(self, mappings: Mappings) -> None:
        self.mappings = mappings

    def _mapping(self, account: str, resource: str, arn: str) -> EventSourceMapping:
        m = self.mappings.find(resource)
        region = arn.split(":")[3]
        if m is None or m.account != account or m.region != region or m.state == DELETING:
            raise ResourceNotFoundException(f"Event source mapping not found: {arn}")
        return m

    def get_tags(self, account: str, resource: str, arn: str) -> dict[str, str]:
        return dict(self._mapping(account, resource, arn).tags)

    def set_tags(self, account: str, resource: str, arn: str, tags: dict[str, str]) -> None:
        self.mappings.set_tags(self._mapping(account, resource, arn), tags)

