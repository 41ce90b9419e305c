"""DynamoDB tables: definitions, indexes, billing, tags, TTL settings, and their lifecycle.

A table is one row of `ddb_tables` (storage.py) holding its definition as JSON, kept in memory (every
item operation reads it). Status transitions are immediate: CreateTable answers `CREATING`,
DeleteTable `DELETING`, UpdateTable `UPDATING` (a new GSI `CREATING` with `Backfilling`), as AWS
does, and the next DescribeTable sees the table `ACTIVE` (or gone): the work is done by then (a new
GSI is backfilled inside UpdateTable's transaction), so boto3's `table_exists` / `table_not_exists`
waiters succeed on their first poll instead of sleeping their 20 s delay.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdad.clock import SYSTEM, Clock
from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb.storage import ItemRows
from lambdad.store import Store

MAX_GSIS = 20
MAX_LSIS = 5
MAX_TAGS = 50
MAX_PROJECTED = 100
_NAME = re.compile(r"[a-zA-Z0-9_.-]+")


def invalid(message: str) -> DynamoDbError:
    return DynamoDbError("One or more parameter values were invalid: " + message)


def not_found(name: str | None = None) -> DynamoDbError:
    text = "Requested resource not found" + (f": Table: {name} not found" if name else "")
    return DynamoDbError(text, code="ResourceNotFoundException")


@dataclass(slots=True)
class Index:
    name: str
    kind: str  # "GSI" or "LSI"
    hash_key: str
    range_key: str | None
    projection: str  # KEYS_ONLY, INCLUDE, ALL
    non_key: list[str] = field(default_factory=list)
    read_units: int = 0
    write_units: int = 0
    created: float = 0.0


@dataclass(slots=True)
class Table:
    id: int
    account: str
    region: str
    name: str
    table_id: str  # AWS's TableId (a UUID)
    created: float
    hash_key: str
    range_key: str | None
    attributes: dict[str, str]  # attribute name -> S, N or B (key attributes of the table and indexes)
    billing: str  # PROVISIONED or PAY_PER_REQUEST
    read_units: int = 0
    write_units: int = 0
    billing_changed: float | None = None
    gsis: list[Index] = field(default_factory=list)
    lsis: list[Index] = field(default_factory=list)
    ttl_attribute: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deletion_protection: bool = False
    stream: dict[str, Any] | None = None  # StreamSpecification, for DynamoDB Streams
    table_class: str = "STANDARD"

    @property
    def arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{self.name}"

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    @property
    def indexes(self) -> list[Index]:
        return [*self.lsis, *self.gsis]

    def index(self, name: str) -> Index:
        for index in self.indexes:
            if index.name == name:
                return index
        raise DynamoDbError(f"The table does not have the specified index: {name}")

    def spec(self) -> str:
        d = dataclasses.asdict(self)
        for k in ("id", "account", "region", "name"):
            d.pop(k)
        return json.dumps(d)

    @classmethod
    def load(cls, id: int, account: str, region: str, name: str, spec: str) -> Table:
        d = json.loads(spec)
        d["gsis"] = [Index(**i) for i in d.get("gsis", [])]
        d["lsis"] = [Index(**i) for i in d.get("lsis", [])]
        return cls(id=id, account=account, region=region, name=name, **d)


# -- validation of definitions --------------------------------------------------------------------------
def _key_schema(schema: list[dict[str, Any]], what: str) -> tuple[str, str | None]:
    if not schema:
        raise DynamoDbError(f"Invalid KeySchema: {what} must have at least one KeySchemaElement")
    if schema[0]["KeyType"] != "HASH":
        raise DynamoDbError("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(schema) > 1 and schema[1]["KeyType"] != "RANGE":
        raise DynamoDbError("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
    hash_key = schema[0]["AttributeName"]
    range_key = schema[1]["AttributeName"] if len(schema) > 1 else None
    if hash_key == range_key:
        raise invalid("Both the Hash Key and the Range Key element in the KeySchema have the same name")
    return hash_key, range_key


def _projection(p: dict[str, Any], index: str) -> tuple[str, list[str]]:
    kind = p.get("ProjectionType") or "KEYS_ONLY" if p else "KEYS_ONLY"
    non_key = list(p.get("NonKeyAttributes") or []) if p else []
    if kind == "INCLUDE" and not non_key:
        raise invalid(f"NonKeyAttributes must be specified when ProjectionType is INCLUDE for index: {index}")
    if kind != "INCLUDE" and non_key:
        raise invalid(f"ProjectionType is {kind}, but NonKeyAttributes is specified")
    if len(set(non_key)) != len(non_key):
        raise invalid(f"Duplicate attributes in NonKeyAttributes for index: {index}")
    return kind, non_key


def _throughput(billing: str, p: dict[str, Any] | None, what: str = "") -> tuple[int, int]:
    if billing == "PAY_PER_REQUEST":
        if p:
            raise invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is "
                          "PAY_PER_REQUEST")
        return 0, 0
    if not p:
        if what:
            raise invalid(f"ProvisionedThroughput is not specified for index: {what}")
        raise invalid("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is "
                      "PROVISIONED")
    return int(p["ReadCapacityUnits"]), int(p["WriteCapacityUnits"])


def _throughput_out(read: int, write: int, last: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": read, "WriteCapacityUnits": write}
    if last is not None:
        out["LastIncreaseDateTime"] = last
    return out


class Tables:
    """Every account's and region's tables; item storage (`rows`) for what a table change does to items."""

    def __init__(self, store: Store, rows: ItemRows, clock: Clock = SYSTEM) -> None:
        self.store = store
        self.rows = rows
        self.clock = clock
        self._tables: dict[tuple[str, str, str], Table] = {}
        for r in store.all("SELECT id, account, region, name, spec FROM ddb_tables"):
            t = Table.load(r["id"], r["account"], r["region"], r["name"], r["spec"])
            self._tables[(t.account, t.region, t.name)] = t
        # Called with a table being deleted, inside the deletion's transaction (DynamoDB Streams closes
        # its stream there), and for members a description adds (LatestStreamArn, LatestStreamLabel).
        self.on_delete: list[Callable[[Table], None]] = []
        self.describers: list[Callable[[Table], dict[str, Any]]] = []

    # -- lookups -------------------------------------------------------------------------------
    def find(self, account: str, region: str, name: str) -> Table | None:
        return self._tables.get((account, region, name))

    def get(self, account: str, region: str, name: str, *, detail: bool = False) -> Table:
        """The table named (by name or ARN); ResourceNotFoundException otherwise. `detail`: the message
        names the table (DescribeTable's, DeleteTable's words)."""
        account, region, name = resolve(account, region, name)
        table = self._tables.get((account, region, name))
        if table is None:
            raise not_found(name if detail else None)
        return table

    def by_arn(self, arn: str) -> Table:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
            raise DynamoDbError(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
        table = self._tables.get((parts[4], parts[3], parts[5][len("table/"):]))
        if table is None:
            raise DynamoDbError(f"Requested resource not found: ResourcArn: {arn} not found",
                                code="ResourceNotFoundException")
        return table

    def names(self, account: str, region: str) -> list[str]:
        return sorted(t.name for (a, r, _), t in self._tables.items() if a == account and r == region)

    def all(self) -> list[Table]:
        return list(self._tables.values())

    # -- create --------------------------------------------------------------------------------
    def create(self, account: str, region: str, p: dict[str, Any]) -> Table:
        name = p["TableName"]
        if name.startswith("arn:"):
            account, region, name = resolve(account, region, name)
        check_name(name)
        attributes: dict[str, str] = {}
        for d in p["AttributeDefinitions"]:
            if d["AttributeName"] in attributes:
                raise invalid(f"Duplicate AttributeName in AttributeDefinitions: {d['AttributeName']}")
            attributes[d["AttributeName"]] = d["AttributeType"]
        hash_key, range_key = _key_schema(p["KeySchema"], "Table")
        billing = p.get("BillingMode") or "PROVISIONED"
        read, write = _throughput(billing, p.get("ProvisionedThroughput"))
        now = self.clock.time()
        table = Table(id=0, account=account, region=region, name=name, table_id=str(uuid.uuid4()), created=now,
                      hash_key=hash_key, range_key=range_key, attributes=attributes, billing=billing,
                      read_units=read, write_units=write, billing_changed=now if billing == "PAY_PER_REQUEST" else None,
                      deletion_protection=bool(p.get("DeletionProtectionEnabled")),
                      table_class=p.get("TableClass") or "STANDARD")
        seen: set[str] = set()
        for spec in p.get("LocalSecondaryIndexes") or []:
            table.lsis.append(self._index(table, spec, "LSI", billing, seen, now))
        for spec in p.get("GlobalSecondaryIndexes") or []:
            table.gsis.append(self._index(table, spec, "GSI", billing, seen, now))
        if len(table.lsis) > MAX_LSIS:
            raise invalid(f"Cannot have more than {MAX_LSIS} local secondary indexes per table")
        if len(table.gsis) > MAX_GSIS:
            raise DynamoDbError(f"Subscriber limit exceeded: The number of global secondary indexes exceeds the "
                                f"limit of {MAX_GSIS}", code="LimitExceededException")
        used = {hash_key, range_key} | {n for i in table.indexes for n in (i.hash_key, i.range_key)}
        used.discard(None)
        keys = sorted(n for n in used if n is not None)
        if set(keys) - set(attributes):
            raise invalid(f"Some index key attributes are not defined in AttributeDefinitions. Keys: "
                          f"[{', '.join(keys)}], AttributeDefinitions: [{', '.join(attributes)}]")
        if set(attributes) - set(keys):
            raise invalid("Number of attributes in KeySchema does not exactly match number of attributes defined "
                          "in AttributeDefinitions")
        _check_projected(table)
        if p.get("StreamSpecification", {}).get("StreamEnabled"):
            table.stream = dict(p["StreamSpecification"])
        for tag in p.get("Tags") or []:
            table.tags[tag["Key"]] = tag["Value"]
        if (account, region, name) in self._tables:
            raise DynamoDbError(f"Table already exists: {name}", code="ResourceInUseException")
        row = self.store.one("INSERT INTO ddb_tables (account, region, name, spec) VALUES (?, ?, ?, ?) RETURNING id",
                             (account, region, name, table.spec()))
        assert row is not None
        table.id = int(row["id"])
        self._tables[(account, region, name)] = table
        return table

    def _index(self, table: Table, spec: dict[str, Any], kind: str, billing: str, seen: set[str],
               now: float) -> Index:
        name = spec["IndexName"]
        if name in seen:
            raise invalid(f"Duplicate index name: {name}")
        seen.add(name)
        hash_key, range_key = _key_schema(spec["KeySchema"], "Index")
        if kind == "LSI":
            if table.range_key is None:
                raise invalid("Table KeySchema does not have a range key, which is required when specifying a "
                              "LocalSecondaryIndex")
            if hash_key != table.hash_key:
                raise invalid(f"Index KeySchema does not have the same leading hash key as table KeySchema for "
                              f"index: {name}. index hash key: {hash_key}, table hash key: {table.hash_key}")
            if range_key is None:
                raise DynamoDbError("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
        projection, non_key = _projection(spec.get("Projection") or {}, name)
        read, write = (0, 0) if kind == "LSI" else _throughput(billing, spec.get("ProvisionedThroughput"), name)
        return Index(name, kind, hash_key, range_key, projection, non_key, read, write, now)

    # -- describe ------------------------------------------------------------------------------
    def describe(self, table: Table, status: str = "ACTIVE") -> dict[str, Any]:
        count, size = self.rows.stats(table.id) if status != "CREATING" else (0, 0)
        key_schema = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
        if table.range_key is not None:
            key_schema.append({"AttributeName": table.range_key, "KeyType": "RANGE"})
        out: dict[str, Any] = {
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in table.attributes.items()],
            "TableName": table.name, "KeySchema": key_schema, "TableStatus": status,
            "CreationDateTime": table.created,
            "ProvisionedThroughput": _throughput_out(table.read_units, table.write_units),
            "TableSizeBytes": size, "ItemCount": count, "TableArn": table.arn, "TableId": table.table_id,
            "DeletionProtectionEnabled": table.deletion_protection,
        }
        if table.billing == "PAY_PER_REQUEST" or table.billing_changed is not None:
            out["BillingModeSummary"] = {"BillingMode": table.billing,
                                         "LastUpdateToPayPerRequestDateTime": table.billing_changed or table.created}
        if table.table_class != "STANDARD":
            out["TableClassSummary"] = {"TableClass": table.table_class}
        if table.lsis:
            out["LocalSecondaryIndexes"] = [self._describe_index(table, i) for i in table.lsis]
        if table.gsis:
            out["GlobalSecondaryIndexes"] = [self._describe_index(table, i, status) for i in table.gsis]
        if table.stream:
            out["StreamSpecification"] = table.stream
        for describer in self.describers:
            out.update(describer(table))
        return out

    def _describe_index(self, table: Table, index: Index, status: str = "ACTIVE") -> dict[str, Any]:
        key_schema = [{"AttributeName": index.hash_key, "KeyType": "HASH"}]
        if index.range_key is not None:
            key_schema.append({"AttributeName": index.range_key, "KeyType": "RANGE"})
        projection: dict[str, Any] = {"ProjectionType": index.projection}
        if index.non_key:
            projection["NonKeyAttributes"] = index.non_key
        count, size = self.rows.index_stats(table.id, index.name) if status != "CREATING" else (0, 0)
        out: dict[str, Any] = {"IndexName": index.name, "KeySchema": key_schema, "Projection": projection,
                               "IndexSizeBytes": size, "ItemCount": count,
                               "IndexArn": f"{table.arn}/index/{index.name}"}
        if index.kind == "GSI":
            out["IndexStatus"] = status if status in ("CREATING", "ACTIVE") else "ACTIVE"
            out["ProvisionedThroughput"] = _throughput_out(index.read_units, index.write_units)
        return out

    # -- update --------------------------------------------------------------------------------
    def update(self, table: Table, p: dict[str, Any], backfill: Callable[[Table, Index], None]) -> dict[str, Any]:
        """UpdateTable: billing and throughput, GSIs created (backfilled by `backfill`, in the same
        transaction), updated or deleted, streams, deletion protection. Answers the description."""
        changing = ("ProvisionedThroughput", "BillingMode", "GlobalSecondaryIndexUpdates", "StreamSpecification",
                    "SSESpecification", "ReplicaUpdates", "DeletionProtectionEnabled", "TableClass",
                    "OnDemandThroughput", "WarmThroughput")
        if not any(k in p for k in changing):
            raise DynamoDbError("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                                "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
        new = Table.load(table.id, table.account, table.region, table.name, table.spec())
        now = self.clock.time()
        for d in p.get("AttributeDefinitions") or []:
            have = new.attributes.get(d["AttributeName"])
            if have is not None and have != d["AttributeType"]:
                raise invalid(f"Cannot change the type of attribute {d['AttributeName']}, which is a key")
            new.attributes.setdefault(d["AttributeName"], d["AttributeType"])
        if "BillingMode" in p and p["BillingMode"] != new.billing:
            new.billing = p["BillingMode"]
            new.billing_changed = now
            if new.billing == "PAY_PER_REQUEST":
                new.read_units = new.write_units = 0
                for g in new.gsis:
                    g.read_units = g.write_units = 0
            elif "ProvisionedThroughput" not in p:
                raise invalid("ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
        if "ProvisionedThroughput" in p:
            new.read_units, new.write_units = _throughput(new.billing, p["ProvisionedThroughput"])
        created: list[Index] = []
        for change in p.get("GlobalSecondaryIndexUpdates") or []:
            if "Create" in change:
                spec = change["Create"]
                if spec["IndexName"] in {i.name for i in new.indexes}:
                    raise invalid(f"Attempting to create an index which already exists: {spec['IndexName']}")
                index = self._index(new, spec, "GSI", new.billing, set(), now)
                for n in (index.hash_key, index.range_key):
                    if n is not None and n not in new.attributes:
                        raise invalid("Global Secondary Index hash key not specified in Attribute Definitions."
                                      f"Type unknown. (Service: DynamoDb, Status Code: 400, Error Code: "
                                      f"ValidationException) Key: {n}")
                new.gsis.append(index)
                created.append(index)
            elif "Delete" in change:
                gone = change["Delete"]["IndexName"]
                if gone not in {g.name for g in new.gsis}:
                    raise DynamoDbError(f"Requested resource not found: GSI {gone} not found",
                                        code="ResourceNotFoundException")
                new.gsis = [g for g in new.gsis if g.name != gone]
            elif "Update" in change:
                target = next((g for g in new.gsis if g.name == change["Update"]["IndexName"]), None)
                if target is None:
                    raise DynamoDbError(f"Requested resource not found: GSI {change['Update']['IndexName']} not "
                                        "found", code="ResourceNotFoundException")
                target.read_units, target.write_units = _throughput(new.billing,
                                                                    change["Update"].get("ProvisionedThroughput"))
        if len(new.gsis) > MAX_GSIS:
            raise DynamoDbError(f"Subscriber limit exceeded: The number of global secondary indexes exceeds the "
                                f"limit of {MAX_GSIS}", code="LimitExceededException")
        _check_projected(new)
        if "StreamSpecification" in p:
            spec = p["StreamSpecification"]
            if spec.get("StreamEnabled"):
                if new.stream:
                    raise DynamoDbError(f"Table already has an enabled stream: {table.arn}",
                                        code="ValidationException")
                new.stream = dict(spec)
            else:
                if not new.stream:
                    raise DynamoDbError("Table already has no stream enabled")  # best effort wording
                new.stream = None
        if "DeletionProtectionEnabled" in p:
            new.deletion_protection = bool(p["DeletionProtectionEnabled"])
        if "TableClass" in p:
            new.table_class = p["TableClass"]
        removed = {g.name for g in table.gsis} - {g.name for g in new.gsis}
        with self.store.transaction():
            for name in removed:
                self.rows.drop_index(table.id, name)
            for index in created:
                backfill(new, index)
            self._save(new)
        out = self.describe(new, "UPDATING")
        for g in out.get("GlobalSecondaryIndexes", []):
            if g["IndexName"] in {i.name for i in created}:
                g["IndexStatus"] = "CREATING"
                g["Backfilling"] = True
        return out

    def _save(self, table: Table) -> None:
        self.store.execute("UPDATE ddb_tables SET spec=? WHERE id=?", (table.spec(), table.id))
        self._tables[(table.account, table.region, table.name)] = table

    # -- delete --------------------------------------------------------------------------------
    def delete(self, table: Table) -> dict[str, Any]:
        if table.deletion_protection:
            raise DynamoDbError("Resource cannot be deleted as it is currently protected against deletion. "
                                "Disable deletion protection first.")
        out = self.describe(table, "DELETING")
        with self.store.transaction():
            self.rows.drop_table(table.id)
            self.store.execute("DELETE FROM ddb_tables WHERE id=?", (table.id,))
            for hook in self.on_delete:
                hook(table)
        self._tables.pop((table.account, table.region, table.name), None)
        return out

    # -- tags ----------------------------------------------------------------------------------
    def tag(self, table: Table, tags: list[dict[str, str]]) -> None:
        merged = dict(table.tags)
        for t in tags:
            merged[t["Key"]] = t["Value"]
        if len(merged) > MAX_TAGS:
            raise DynamoDbError("The number of tags exceeds the limit of 50.", code="LimitExceededException")
        table.tags = merged
        self._save(table)

    def untag(self, table: Table, keys: list[str]) -> None:
        table.tags = {k: v for k, v in table.tags.items() if k not in keys}
        self._save(table)

    # -- time to live --------------------------------------------------------------------------
    def update_ttl(self, table: Table, spec: dict[str, Any], expiry_of: Callable[[str, dict[str, Any]], float | None]
                   ) -> dict[str, Any]:
        enabled, attribute = bool(spec["Enabled"]), spec["AttributeName"]
        if enabled:
            if table.ttl_attribute is not None:
                raise DynamoDbError("TimeToLive is already enabled")
            table.ttl_attribute = attribute
        else:
            if table.ttl_attribute is None:
                raise DynamoDbError("TimeToLive is already disabled")
            if table.ttl_attribute != attribute:
                raise DynamoDbError(f"TimeToLive is active on a different AttributeName: current AttributeName is "
                                    f"{table.ttl_attribute}")
            table.ttl_attribute = None
        with self.store.transaction():
            self.rows.set_expiry(table.id, table.ttl_attribute,
                                 lambda item: expiry_of(attribute, item) if enabled else None)
            self._save(table)
        return {"Enabled": enabled, "AttributeName": attribute}

    def describe_ttl(self, table: Table) -> dict[str, Any]:
        if table.ttl_attribute is None:
            return {"TimeToLiveStatus": "DISABLED"}
        return {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}


def _check_projected(table: Table) -> None:
    total = sum(len(i.non_key) for i in table.indexes)
    if total > MAX_PROJECTED:
        raise invalid(f"The number of attributes in key schema must match the number of attributes defined "
                      f"in attribute definitions. NonKeyAttributes across all of secondary indexes exceeds "
                      f"the limit of {MAX_PROJECTED}")


def check_name(name: str, what: str = "tableName") -> None:
    """A table name's constraints, in the model's validation words (TableName accepts ARNs, so the
    codec's own check is only 1-1024 characters)."""
    clauses = []
    if len(name) < 3:
        clauses.append(f"Value '{name}' at '{what}' failed to satisfy constraint: Member must have length greater "
                       "than or equal to 3")
    if len(name) > 255:
        clauses.append(f"Value '{name}' at '{what}' failed to satisfy constraint: Member must have length less "
                       "than or equal to 255")
    if not _NAME.fullmatch(name):
        clauses.append(f"Value '{name}' at '{what}' failed to satisfy constraint: Member must satisfy regular "
                       "expression pattern: [a-zA-Z0-9_.-]+")
    if clauses:
        n = len(clauses)
        raise DynamoDbError(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(clauses))


def resolve(account: str, region: str, name: str) -> tuple[str, str, str]:
    """A `TableName` (a name, or since 2024 a table ARN) as (account, region, name)."""
    if not name.startswith("arn:"):
        return account, region, name
    parts = name.split(":", 5)
    if len(parts) != 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
        raise DynamoDbError(f"Invalid TableArn: Invalid ResourceArn provided as input {name}")
    return parts[4], parts[3], parts[5][len("table/"):].split("/")[0]
