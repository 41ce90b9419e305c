"""DynamoDB's item operations as the API names them: parameters in, DynamoDB JSON out.

Each method takes (account, region, the decoded parameters) and answers the output members. Expressions
are parsed and evaluated by expressions.py (every expression of a request shares one `Placeholders`,
whose unused names and values are refused after the last parse, as DynamoDB refuses them); every write
goes through `Items` (items.py), whose `change` is the one place an item changes.

A Query becomes one range of the store's primary key or of an index's rows: the key condition's hash
value picks the partition, its range operator the byte range of sort keys (`begins_with` on S or B
is the range [prefix, prefix's successor)). Limit counts the items read before the filter, and a page
stops at 1 MB read, as DynamoDB's do.

TransactWriteItems checks every condition before writing anything, in one store transaction: all of it
commits or none (TransactionCanceledException with a reason per item, in AWS's shape). A
ClientRequestToken is remembered for 10 minutes, in the store and in the writes' transaction: the same
request again answers as the first did without writing again (after a restart too), another request
with that token is IdempotentParameterMismatchException.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb import expressions as ex
from lambdad.services.dynamodb import keys, legacy
from lambdad.services.dynamodb.items import Capacity, Items, expiry_of
from lambdad.services.dynamodb.storage import Item, RowKey, to_json
from lambdad.services.dynamodb.tables import Index, Table, Tables
from lambdad.services.dynamodb.values import check_item_size, item_size, validate_item

TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
# API operation -> DataPlane method
METHODS = {"PutItem": "put_item", "GetItem": "get_item", "DeleteItem": "delete_item", "UpdateItem": "update_item",
           "Query": "query", "Scan": "scan", "BatchGetItem": "batch_get_item", "BatchWriteItem": "batch_write_item",
           "TransactWriteItems": "transact_write_items", "TransactGetItems": "transact_get_items"}
IDEMPOTENCY_SECONDS = 600
MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
MAX_BATCH_GET_BYTES = 16 * 1024 * 1024
MAX_TRANSACT_ITEMS = 100
CONDITION_FAILED = "The conditional request failed"

__all__ = ["METHODS", "TYPES", "DataPlane", "expiry_of"]

Check = Callable[[Item | None], None]


def _ph(p: dict[str, Any]) -> ex.Placeholders:
    return ex.Placeholders(p.get("ExpressionAttributeNames"), p.get("ExpressionAttributeValues"))


def _paths(p: dict[str, Any], ph: ex.Placeholders) -> tuple[ex.Path, ...] | None:
    """What a read projects: ProjectionExpression, or the legacy AttributesToGet; None: everything."""
    if p.get("ProjectionExpression"):
        return ex.parse_projection(p["ProjectionExpression"], ph)
    if p.get("AttributesToGet"):
        return legacy.attributes_to_get(p["AttributesToGet"])
    return None


def _condition_check(cond: ex.Condition | None, on_failure: str | None) -> Check | None:
    if cond is None:
        return None

    def check(old: Item | None) -> None:
        if not ex.evaluate(cond, old):
            extra: dict[str, Any] = {}
            if on_failure == "ALL_OLD" and old is not None:
                extra["Item"] = to_json(old)
            raise DynamoDbError(CONDITION_FAILED, code="ConditionalCheckFailedException", **extra)
    return check


def _return_values(p: dict[str, Any], allowed: tuple[str, ...]) -> str:
    rv = p.get("ReturnValues") or "NONE"
    if rv not in allowed:
        if allowed == ("NONE", "ALL_OLD"):
            raise DynamoDbError("ReturnValues can only be ALL_OLD or NONE")
        raise DynamoDbError(f"1 validation error detected: Value '{rv}' at 'returnValues' failed to satisfy "
                            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")
    return str(rv)


def _with_capacity(out: dict[str, Any], cap: Capacity, p: dict[str, Any], many: bool = False) -> dict[str, Any]:
    rendered = cap.render(p.get("ReturnConsumedCapacity"))
    if rendered:
        out["ConsumedCapacity"] = rendered if many else rendered[0]
    return out


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with `prefix` (None: none is)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _delete(old: Item | None) -> Item | None:
    return None


def _digest(p: dict[str, Any]) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, bytes):
            return base64.b64encode(o).decode()
        raise TypeError(type(o).__name__)
    body = {k: v for k, v in p.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=default).encode()).hexdigest()


class DataPlane:
    def __init__(self, tables: Tables, items: Items) -> None:
        self.tables = tables
        self.items = items
        self.clock = items.clock

    def table(self, account: str, region: str, name: str) -> Table:
        return self.tables.get(account, region, name)

    def backfill(self, table: Table, index: Index) -> None:
        """A GSI created on an existing table: every item that has its keys (of their types) gets its row."""
        for key, item in list(self.items.rows.all_items(table.id)):
            entry = keys.index_key(table, index, item, strict=False)
            if entry is not None:
                self.items.rows.put_index(table.id, key, entry)

    # -- single items --------------------------------------------------------------------------
    def put_item(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(account, region, p["TableName"])
        legacy.check_mixing(p, "PutItem")
        rv = _return_values(p, ("NONE", "ALL_OLD"))
        check = self._condition(p)
        cap = Capacity()
        old = self.items.put(table, p["Item"], check, cap)
        out: dict[str, Any] = {}
        if rv == "ALL_OLD" and old is not None:
            out["Attributes"] = to_json(old)
        return _with_capacity(out, cap, p)

    def _condition(self, p: dict[str, Any], ph: ex.Placeholders | None = None) -> Check | None:
        ph = ph or _ph(p)
        cond: ex.Condition | None = None
        if p.get("ConditionExpression"):
            cond = ex.parse_condition(p["ConditionExpression"], ph)
        elif p.get("Expected"):
            cond = legacy.expected_condition(p["Expected"], p.get("ConditionalOperator"))
        ph.check_unused()
        return _condition_check(cond, p.get("ReturnValuesOnConditionCheckFailure"))

    def get_item(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(account, region, p["TableName"])
        legacy.check_mixing(p, "GetItem")
        ph = _ph(p)
        paths = _paths(p, ph)
        ph.check_unused()
        item = self.items.read(table, keys.given_key(table, p["Key"]))
        cap = Capacity()
        cap.add_read(table.name, 0 if item is None else item_size(item), bool(p.get("ConsistentRead")))
        out: dict[str, Any] = {}
        if item is not None:
            out["Item"] = to_json(ex.project(item, paths) if paths is not None else item)
        return _with_capacity(out, cap, p)

    def delete_item(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(account, region, p["TableName"])
        legacy.check_mixing(p, "DeleteItem")
        rv = _return_values(p, ("NONE", "ALL_OLD"))
        check = self._condition(p)
        cap = Capacity()
        old = self.items.delete(table, p["Key"], check, cap)
        out: dict[str, Any] = {}
        if rv == "ALL_OLD" and old is not None:
            out["Attributes"] = to_json(old)
        return _with_capacity(out, cap, p)

    def _updater(self, table: Table, p: dict[str, Any], ph: ex.Placeholders) -> tuple[
            Callable[[Item | None], Item], ex.Update | None]:
        key = validate_item(p["Key"])
        update: ex.Update | None = None
        if p.get("UpdateExpression"):
            update = ex.parse_update(p["UpdateExpression"], ph)
        elif p.get("AttributeUpdates"):
            update = legacy.attribute_updates(p["AttributeUpdates"])
        if update is not None:
            for name in ex.updated_top_level_names(update):
                if name in table.key_names:
                    raise keys.invalid(f"Cannot update attribute {name}. This attribute is part of the key")

        def apply(old: Item | None) -> Item:
            # a new item's key is there for the update to read (SET b = if_not_exists(b, pk) copies it)
            new = ex.apply_update(update, old or dict(key)) if update is not None else dict(old or {})
            new.update(key)
            return new
        return apply, update

    def update_item(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(account, region, p["TableName"])
        legacy.check_mixing(p, "UpdateItem")
        rv = _return_values(p, ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
        ph = _ph(p)
        apply, update = self._updater(table, p, ph)
        check = self._condition(p, ph)
        cap = Capacity()
        old, new = self.items.update(table, p["Key"], apply, check, cap)
        out: dict[str, Any] = {}
        shown: Item | None = None
        if rv == "ALL_OLD":
            shown = old
        elif rv == "ALL_NEW":
            shown = new
        elif rv in ("UPDATED_OLD", "UPDATED_NEW") and update is not None:
            source = old if rv == "UPDATED_OLD" else new
            shown = ex.project(source, update.paths) if source else None
        if shown:
            out["Attributes"] = to_json(shown)
        return _with_capacity(out, cap, p)

    # -- reads of many ---------------------------------------------------------------------------
    def _select(self, table: Table, index: Index | None, p: dict[str, Any], paths: Any) -> str:
        select = p.get("Select")
        if select is None:
            select = "SPECIFIC_ATTRIBUTES" if paths is not None else (
                "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES")
        if select == "SPECIFIC_ATTRIBUTES" and paths is None:
            raise DynamoDbError("Select type SPECIFIC_ATTRIBUTES requires that either AttributesToGet or "
                                "ProjectionExpression is specified")
        if select != "SPECIFIC_ATTRIBUTES" and paths is not None:
            raise DynamoDbError(f"Cannot specify the ProjectionExpression when choosing to get {select}")
        if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
            raise DynamoDbError("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
        if select == "ALL_ATTRIBUTES" and index is not None and index.kind == "GSI" and index.projection != "ALL":
            raise keys.invalid(f"Select type ALL_ATTRIBUTES is not supported for global secondary index "
                               f"{index.name} because its projection type is not ALL")
        return str(select)

    def _index(self, table: Table, p: dict[str, Any]) -> Index | None:
        name = p.get("IndexName")
        if not name:
            return None
        index = table.index(name)
        if index.kind == "GSI" and p.get("ConsistentRead"):
            raise DynamoDbError("Consistent reads are not supported on global secondary indexes")
        return index

    def _projected(self, table: Table, index: Index | None, item: Item) -> Item:
        """What an index holds of an item (its projection)."""
        if index is None or index.projection == "ALL":
            return item
        names = set(table.key_names) | {index.hash_key}
        if index.range_key:
            names.add(index.range_key)
        names.update(index.non_key)
        return {k: v for k, v in item.items() if k in names}

    def _page(self, table: Table, index: Index | None, p: dict[str, Any], ph: ex.Placeholders,
              read: Callable[[Item | None, int], tuple[list[Item], bool, int]], what: str) -> dict[str, Any]:
        paths = _paths(p, ph)
        filt: ex.Condition | None = None
        if p.get("FilterExpression"):
            filt = ex.parse_condition(p["FilterExpression"], ph, "FilterExpression")
        elif p.get("QueryFilter" if what == "Query" else "ScanFilter"):
            filt = legacy.filter_condition(p["QueryFilter" if what == "Query" else "ScanFilter"],
                                           p.get("ConditionalOperator"))
        ph.check_unused()
        select = self._select(table, index, p, paths)
        limit = p.get("Limit", 2**31 - 1)
        if limit < 1:
            raise DynamoDbError(f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                                "constraint: Member must have value greater than or equal to 1")
        start = validate_item(p["ExclusiveStartKey"]) if p.get("ExclusiveStartKey") else None
        rows, more, size = read(start, limit)
        out_items = []
        for item in rows:
            seen = self._projected(table, index, item) if (index is not None and index.kind == "GSI") else item
            if filt is not None and not ex.evaluate(filt, seen):
                continue
            if select == "COUNT":
                out_items.append(seen)
                continue
            if paths is not None:
                shown = ex.project(seen, paths)
            elif select == "ALL_PROJECTED_ATTRIBUTES":
                shown = self._projected(table, index, item)
            else:
                shown = seen
            out_items.append(shown)
        out: dict[str, Any] = {"Count": len(out_items), "ScannedCount": len(rows)}
        if select != "COUNT":
            out["Items"] = [to_json(i) for i in out_items]
        if more and rows:
            out["LastEvaluatedKey"] = to_json(keys.position_key(table, index, rows[-1]))
        cap = Capacity()
        cap.add_read(table.name, size, bool(p.get("ConsistentRead")),
                     index.name if index is not None and index.kind == "GSI" else None)
        return _with_capacity(out, cap, p)

    def query(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(account, region, p["TableName"])
        legacy.check_mixing(p, "Query")
        index = self._index(table, p)
        if not p.get("KeyConditionExpression") and not p.get("KeyConditions"):
            raise DynamoDbError("Either the KeyConditions or KeyConditionExpression parameter must be specified in "
                                "the request.")
        ph = _ph(p)
        hash_name = index.hash_key if index else table.hash_key
        range_name = index.range_key if index else table.range_key
        hash_spec = (hash_name, table.attributes[hash_name])
        range_spec = (range_name, table.attributes[range_name]) if range_name else None
        if p.get("KeyConditionExpression"):
            kc = ex.parse_key_condition(p["KeyConditionExpression"], ph, hash_spec, range_spec)
        else:
            kc = legacy.key_conditions(p["KeyConditions"], hash_spec, range_spec)
        hk = keys.key_bytes(table.attributes[hash_name], kc.hash_value[table.attributes[hash_name]])
        low: tuple[bytes, bool] | None = None
        high: tuple[bytes, bool] | None = None
        if kc.range_op is not None:
            kind = table.attributes[str(kc.range_name)]
            bounds = [keys.key_bytes(kind, v[kind]) for v in kc.range_values]
            op = kc.range_op
            if op == "=":
                low = high = (bounds[0], True)
            elif op in ("<", "<="):
                high = (bounds[0], op == "<=")
            elif op in (">", ">="):
                low = (bounds[0], op == ">=")
            elif op == "BETWEEN":
                if bounds[0] > bounds[1]:
                    raise DynamoDbError("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound "
                                        "to be greater than or equal to lower bound; lower bound operand: "
                                        f"AttributeValue: {ex.show_value(kc.range_values[0])}, upper bound operand: "
                                        f"AttributeValue: {ex.show_value(kc.range_values[1])}")
                low, high = (bounds[0], True), (bounds[1], True)
            else:  # begins_with
                low = (bounds[0], True)
                succ = _successor(bounds[0])
                high = (succ, False) if succ is not None else None
        forward = p.get("ScanIndexForward", True)

        def read(start: Item | None, limit: int) -> tuple[list[Item], bool, int]:
            if start is not None:
                self._check_start(table, index, start, kc)
            return self.items.query(table, index, hk, low, high, forward, start, limit)
        return self._page(table, index, p, ph, read, "Query")

    def _check_start(self, table: Table, index: Index | None, start: Item, kc: ex.KeyCondition | None) -> None:
        if kc is not None and not ex.KeyCondition(kc.hash_name, kc.hash_value).matches(start):
            raise DynamoDbError("The provided starting key is outside query boundaries based on provided conditions")

    def scan(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(account, region, p["TableName"])
        legacy.check_mixing(p, "Scan")
        index = self._index(table, p)
        segment, total = p.get("Segment"), p.get("TotalSegments")
        if segment is not None and total is None:
            raise DynamoDbError("The TotalSegments parameter is required but was not present in the request when "
                                "Segment parameter is present")
        if total is not None and segment is None:
            raise DynamoDbError("The Segment parameter is required but was not present in the request when parameter "
                                "TotalSegments is present")
        if segment is not None and total is not None and segment >= total:
            raise DynamoDbError(f"The Segment parameter is zero-based and must be less than parameter TotalSegments: "
                                f"Segment: {segment} is not less than TotalSegments: {total}")
        ph = _ph(p)

        def read(start: Item | None, limit: int) -> tuple[list[Item], bool, int]:
            return self.items.scan(table, index, segment or 0, total or 1, start, limit)
        return self._page(table, index, p, ph, read, "Scan")

    # -- batches ---------------------------------------------------------------------------------
    def batch_get_item(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        requests = p["RequestItems"]
        if sum(len(r.get("Keys") or []) for r in requests.values()) > MAX_BATCH_GET:
            raise DynamoDbError("Too many items requested for the BatchGetItem call")
        plan = []
        for name, spec in requests.items():
            table = self.table(account, region, name)
            legacy.check_mixing(spec, "GetItem")
            ph = _ph(spec)
            paths = _paths(spec, ph)
            ph.check_unused()
            row_keys = [keys.given_key(table, k) for k in spec["Keys"]]
            if len(set(row_keys)) != len(row_keys):
                raise DynamoDbError("Provided list of item keys contains duplicates")
            plan.append((name, table, spec, paths, row_keys))
        responses: dict[str, list[Any]] = {}
        unprocessed: dict[str, Any] = {}
        cap = Capacity()
        total = 0
        for name, table, spec, paths, row_keys in plan:
            got = responses.setdefault(name, [])
            for i, key in enumerate(row_keys):
                if total >= MAX_BATCH_GET_BYTES:
                    rest = {k: v for k, v in spec.items() if k != "Keys"}
                    unprocessed[name] = {**rest, "Keys": [to_json(k) for k in spec["Keys"][i:]]}
                    break
                item = self.items.read(table, key)
                cap.add_read(table.name, item_size(item) if item else 0, bool(spec.get("ConsistentRead")))
                if item is not None:
                    total += item_size(item)
                    got.append(to_json(ex.project(item, paths) if paths is not None else item))
        return _with_capacity({"Responses": responses, "UnprocessedKeys": unprocessed}, cap, p, many=True)

    def batch_write_item(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        requests = p["RequestItems"]
        if sum(len(r) for r in requests.values()) > MAX_BATCH_WRITE:
            raise DynamoDbError("Too many items requested for the BatchWriteItem call")
        plan: list[tuple[Table, RowKey, Item | None]] = []
        for name, writes in requests.items():
            table = self.table(account, region, name)
            seen: set[RowKey] = set()
            for w in writes:
                put, delete = w.get("PutRequest"), w.get("DeleteRequest")
                if (put is None) == (delete is None):
                    raise DynamoDbError("Supplied AttributeValue has more than one datatypes set, must contain "
                                        "exactly one of the supported datatypes" if put else
                                        "1 validation error detected: Value null at 'requestItems' failed to "
                                        "satisfy constraint: Member must not be null")
                if put is not None:
                    item = validate_item(put["Item"])
                    check_item_size(item)
                    key = keys.item_key(table, item)
                    keys.index_keys(table, item)
                    new: Item | None = item
                else:
                    key, new = keys.given_key(table, delete["Key"]), None
                if key in seen:
                    raise DynamoDbError("Provided list of item keys contains duplicates")
                seen.add(key)
                plan.append((table, key, new))
        cap = Capacity()
        with self.items.store.transaction():
            for table, key, new in plan:
                old = self.items.rows.get(table.id, key)
                if new is None and old is None:
                    continue
                self.items.change(table, key, old, new)
                cap.add_write(table.name, max(item_size(new) if new else 0, item_size(old) if old else 0),
                              self.items.indexes_touched(table, old, new))
        return _with_capacity({"UnprocessedItems": {}}, cap, p, many=True)

    # -- transactions ----------------------------------------------------------------------------
    def transact_write_items(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        token = p.get("ClientRequestToken")
        now = self.clock.time()
        digest = _digest(p) if token else ""
        if token:
            seen = self.items.rows.token(account, region, token, now)
            if seen is not None:
                if seen[0] != digest:
                    raise DynamoDbError("The request uses the same client token as a previous, but non-identical "
                                        "request.", code="IdempotentParameterMismatchException")
                return seen[1]
        entries = p["TransactItems"]
        # Parse and validate everything first: a malformed part fails the request (ValidationException).
        plan: list[tuple[Table, RowKey, Check | None, Callable[[Item | None], Item | None] | None, str]] = []
        targets: set[tuple[int, RowKey]] = set()
        for entry in entries:
            kinds = [k for k in ("ConditionCheck", "Put", "Delete", "Update") if entry.get(k) is not None]
            if len(kinds) != 1:
                raise DynamoDbError("TransactItems can only contain one of Check, Put, Update or Delete")
            kind = kinds[0]
            part = entry[kind]
            table = self.table(account, region, part["TableName"])
            ph = _ph(part)
            apply: Callable[[Item | None], Item | None] | None
            if kind == "Put":
                item = validate_item(part["Item"])
                check_item_size(item)
                key = keys.item_key(table, item)
                keys.index_keys(table, item)
                apply = (lambda fixed: lambda old: fixed)(item)
            elif kind == "Update":
                key = keys.given_key(table, part["Key"])
                updater, _ = self._updater(table, part, ph)
                apply = updater
            elif kind == "Delete":
                key = keys.given_key(table, part["Key"])
                apply = _delete
            else:
                key = keys.given_key(table, part["Key"])
                apply = None
                if not part.get("ConditionExpression"):
                    raise DynamoDbError("1 validation error detected: Value null at "
                                        "'transactItems.1.member.conditionCheck.conditionExpression' failed to "
                                        "satisfy constraint: Member must not be null")
            cond = ex.parse_condition(part["ConditionExpression"], ph) if part.get("ConditionExpression") else None
            ph.check_unused()
            if (table.id, key) in targets:
                raise DynamoDbError("Transaction request cannot include multiple operations on one item")
            targets.add((table.id, key))
            plan.append((table, key, _condition_check(cond, part.get("ReturnValuesOnConditionCheckFailure")),
                         apply, str(kind)))
        cap = Capacity()
        with self.items.store.transaction():
            reasons: list[dict[str, Any]] = []
            failed = False
            changes: list[tuple[Table, RowKey, Item | None, Item | None]] = []
            for table, key, check, apply, _ in plan:
                old = self.items.rows.get(table.id, key)
                reason: dict[str, Any] = {"Code": "None"}
                try:
                    if check is not None:
                        check(old)
                    if apply is not None:
                        new = apply(old)
                        if new is not None:
                            check_item_size(new)
                            keys.index_keys(table, new)
                        changes.append((table, key, old, new))
                except DynamoDbError as exc:
                    failed = True
                    if exc.code == "ConditionalCheckFailedException":
                        reason = {"Code": "ConditionalCheckFailed", "Message": CONDITION_FAILED}
                        if "Item" in exc.extra:
                            reason["Item"] = exc.extra["Item"]
                    else:
                        reason = {"Code": "ValidationError", "Message": exc.message}
                reasons.append(reason)
            if failed:
                codes = ", ".join(r["Code"] for r in reasons)
                raise DynamoDbError(f"Transaction cancelled, please refer cancellation reasons for specific reasons "
                                    f"[{codes}]", code="TransactionCanceledException", CancellationReasons=reasons)
            for table, key, old, new in changes:
                if old is None and new is None:
                    continue
                self.items.change(table, key, old, new)
                cap.add_write(table.name, max(item_size(new) if new else 0, item_size(old) if old else 0),
                              self.items.indexes_touched(table, old, new), transactional=True)
            for entry_plan in plan:
                if entry_plan[3] is None:  # a ConditionCheck reads
                    cap.add_read(entry_plan[0].name, 0, True, transactional=True)
            out = _with_capacity({}, cap, p, many=True)
            if token:  # with the writes: a retry after a crash finds the token exactly when they committed
                self.items.rows.remember_token(account, region, token, now + IDEMPOTENCY_SECONDS, digest, out)
        return out

    def transact_get_items(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        plan = []
        targets: set[tuple[int, RowKey]] = set()
        for entry in p["TransactItems"]:
            part = entry["Get"]
            table = self.table(account, region, part["TableName"])
            ph = _ph(part)
            paths = ex.parse_projection(part["ProjectionExpression"], ph) if part.get("ProjectionExpression") else None
            ph.check_unused()
            key = keys.given_key(table, part["Key"])
            if (table.id, key) in targets:
                raise DynamoDbError("Transaction request cannot include multiple operations on one item")
            targets.add((table.id, key))
            plan.append((table, key, paths))
        cap = Capacity()
        responses = []
        for table, key, paths in plan:
            item = self.items.read(table, key)
            cap.add_read(table.name, item_size(item) if item else 0, True, transactional=True)
            responses.append({"Item": to_json(ex.project(item, paths) if paths is not None else item)}
                             if item is not None else {})
        return _with_capacity({"Responses": responses}, cap, p, many=True)
