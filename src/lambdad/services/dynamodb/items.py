"""Items: the writes and reads of DynamoDB's data plane on the store.

Every change of an item goes through `Items.change(table, key, old, new)`, inside the caller's
transaction: it writes the item row, keeps each secondary index's rows in step (an item leaves an
index it no longer has the keys of: sparse indexes), and records the item's TTL expiry. It is the one
place an item changes (PutItem, UpdateItem, DeleteItem, batches, transactions, TTL deletions), so
DynamoDB Streams hooks there: the `listeners` are called with (table, old, new, cause) in the same
transaction, and a record they write commits with the change or not at all.

The store's connection serves one statement at a time on the event loop, and an operation here does
not await between reading an item and writing it: a conditional write is atomic with its condition,
and concurrent conditional increments lose no update. Each write commits before the API answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdad.clock import SYSTEM, Clock
from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb import keys
from lambdad.services.dynamodb.storage import Item, ItemRows, RowKey
from lambdad.services.dynamodb.tables import Index, Table, Tables
from lambdad.services.dynamodb.values import check_item_size, item_size, validate_item
from lambdad.store import Store

# TTL: items whose attribute is more than five years in the past are not expired (AWS's rule).
TTL_HORIZON = 5 * 365 * 86400
PAGE_BYTES = 1024 * 1024

# (table, old item or None, new item or None, cause) inside the change's transaction; cause is "user"
# or "ttl" (a TTL deletion, which DynamoDB Streams records as the service's).
Listener = Callable[[Table, Item | None, Item | None, str], None]


def expiry_of(attribute: str, item: dict[str, Any]) -> float | None:
    """When an item expires under TTL on `attribute`: a number of epoch seconds; else never."""
    av = item.get(attribute)
    if not isinstance(av, dict) or "N" not in av:
        return None
    try:
        return float(av["N"])
    except (ValueError, OverflowError):
        return None


@dataclass(slots=True)
class Capacity:
    """Capacity units one request consumed, per table and index (ReturnConsumedCapacity)."""

    read: dict[str, float] = field(default_factory=dict)
    write: dict[str, float] = field(default_factory=dict)
    indexes: dict[str, dict[str, float]] = field(default_factory=dict)

    def add_read(self, table: str, size: int, consistent: bool, index: str | None = None,
                 transactional: bool = False) -> None:
        units = max(1, math.ceil(size / 4096)) * (2.0 if transactional else 1.0 if consistent else 0.5)
        if index is not None:
            per = self.indexes.setdefault(table, {})
            per[index] = per.get(index, 0.0) + units
        self.read[table] = self.read.get(table, 0.0) + (0.0 if index is not None else units)

    def add_write(self, table: str, size: int, indexes: list[str], transactional: bool = False) -> None:
        units = max(1, math.ceil(size / 1024)) * (2.0 if transactional else 1.0)
        self.write[table] = self.write.get(table, 0.0) + units
        per = self.indexes.setdefault(table, {})
        for name in indexes:
            per[name] = per.get(name, 0.0) + units

    def render(self, mode: str | None) -> list[dict[str, Any]]:
        if mode not in ("TOTAL", "INDEXES"):
            return []
        out = []
        for name in sorted(set(self.read) | set(self.write) | set(self.indexes)):
            r, w = self.read.get(name, 0.0), self.write.get(name, 0.0)
            per = self.indexes.get(name, {})
            entry: dict[str, Any] = {"TableName": name, "CapacityUnits": r + w + sum(per.values())}
            if r:
                entry["ReadCapacityUnits"] = r + (sum(per.values()) if not w else 0.0)
            if w:
                entry["WriteCapacityUnits"] = w + sum(per.values())
            if mode == "INDEXES":
                entry["Table"] = {"CapacityUnits": r + w}
                if per:
                    entry["GlobalSecondaryIndexes"] = {k: {"CapacityUnits": v} for k, v in per.items()}
            out.append(entry)
        return out


class Items:
    def __init__(self, store: Store, tables: Tables, rows: ItemRows, clock: Clock = SYSTEM) -> None:
        self.store = store
        self.tables = tables
        self.rows = rows
        self.clock = clock
        self.listeners: list[Listener] = []

    # -- the choke point -----------------------------------------------------------------------
    def change(self, table: Table, key: RowKey, old: Item | None, new: Item | None, cause: str = "user") -> None:
        """Make `new` the item at `key` (None: delete it), replacing `old` (what was there). Call inside
        a transaction; every item change of the service passes here (DynamoDB Streams listens)."""
        old_entries = keys.index_keys(table, old, strict=False) if old is not None else []
        new_entries = keys.index_keys(table, new, strict=True) if new is not None else []
        for entry in old_entries:
            if entry not in new_entries:
                self.rows.delete_index(table.id, key, entry)
        if new is None:
            if old is not None:
                self.rows.delete(table.id, key)
        else:
            expires = expiry_of(table.ttl_attribute, new) if table.ttl_attribute else None
            self.rows.put(table.id, key, new, item_size(new), expires)
            for entry in new_entries:
                if entry not in old_entries:
                    self.rows.put_index(table.id, key, entry)
        for listener in self.listeners:
            listener(table, old, new, cause)

    def indexes_touched(self, table: Table, old: Item | None, new: Item | None) -> list[str]:
        """GSIs and LSIs whose rows a change writes (for consumed capacity)."""
        touched: set[str] = set()
        for item in (old, new):
            if item is not None:
                touched.update(e.index for e in keys.index_keys(table, item, strict=False))
        return sorted(touched)

    # -- single items --------------------------------------------------------------------------
    def read(self, table: Table, key: RowKey) -> Item | None:
        return self.rows.get(table.id, key)

    def put(self, table: Table, item: Item, check: Callable[[Item | None], None] | None = None,
            capacity: Capacity | None = None) -> Item | None:
        """Write a whole item; `check` (a condition) sees what was there and raises to refuse. The old item."""
        item = validate_item(item)
        check_item_size(item)
        key = keys.item_key(table, item)
        with self.store.transaction():
            old = self.rows.get(table.id, key)
            if check is not None:
                check(old)
            self.change(table, key, old, item)
        if capacity is not None:
            capacity.add_write(table.name, max(item_size(item), item_size(old) if old else 0),
                               self.indexes_touched(table, old, item))
        return old

    def delete(self, table: Table, key_item: Item, check: Callable[[Item | None], None] | None = None,
               capacity: Capacity | None = None) -> Item | None:
        key = keys.given_key(table, key_item)
        with self.store.transaction():
            old = self.rows.get(table.id, key)
            if check is not None:
                check(old)
            if old is not None:
                self.change(table, key, old, None)
        if capacity is not None:
            capacity.add_write(table.name, item_size(old) if old else 0, self.indexes_touched(table, old, None))
        return old

    def update(self, table: Table, key_item: Item, apply: Callable[[Item | None], Item],
               check: Callable[[Item | None], None] | None = None,
               capacity: Capacity | None = None) -> tuple[Item | None, Item]:
        """UpdateItem: `apply` makes the new item from the old (or from the key alone). (old, new)."""
        key = keys.given_key(table, key_item)
        with self.store.transaction():
            old = self.rows.get(table.id, key)
            if check is not None:
                check(old)
            new = apply(old)
            check_item_size(new, "Item size to update has exceeded the maximum allowed size")
            keys.item_key(table, new)
            self.change(table, key, old, new)
        if capacity is not None:
            capacity.add_write(table.name, max(item_size(new), item_size(old) if old else 0),
                               self.indexes_touched(table, old, new))
        return old, new

    # -- ranges --------------------------------------------------------------------------------
    def query(self, table: Table, index: Index | None, hk: bytes, low: tuple[bytes, bool] | None,
              high: tuple[bytes, bool] | None, forward: bool, start: Item | None, limit: int
              ) -> tuple[list[Item], bool, int]:
        """Items of one partition, range-key order, from past `start` (an ExclusiveStartKey); at most
        `limit` and at most 1 MB read. (items, whether more may follow, bytes read)."""
        after = self._query_position(table, index, start) if start else None
        out: list[Item] = []
        read = 0
        while len(out) < limit:
            want = min(1000, limit - len(out))
            rows = self.rows.query(table.id, index.name if index else None, hk, low, high, forward, after, want)
            for row_hk, row_rk, item, size in rows:
                out.append(item)
                read += size
                if index is None:
                    after = (row_rk,)
                else:
                    entry = keys.index_key(table, index, item, strict=False)
                    assert entry is not None
                    after = (entry.irk, row_hk, row_rk)
                if read >= PAGE_BYTES:
                    return out, True, read
            if len(rows) < want:
                return out, False, read
        return out, True, read

    def _query_position(self, table: Table, index: Index | None, start: Item) -> tuple[bytes, ...]:
        base = self._start_key(table, index, start)
        if index is None:
            return (base.rk,)
        entry = keys.index_key(table, index, start, strict=False)
        if entry is None:
            raise DynamoDbError("The provided starting key is invalid")
        return (entry.irk, base.hk, base.rk)

    def _start_key(self, table: Table, index: Index | None, start: Item) -> RowKey:
        wanted = set(table.key_names)
        if index is not None:
            wanted |= {n for n in (index.hash_key, index.range_key) if n is not None}
        if set(start) != wanted:
            raise DynamoDbError("The provided starting key is invalid: The provided key element does not match the "
                                "schema")
        try:
            return keys.item_key(table, start)
        except DynamoDbError:
            raise DynamoDbError("The provided starting key is invalid: The provided key element does not match "
                                "the schema") from None

    def scan(self, table: Table, index: Index | None, segment: int, total: int, start: Item | None,
             limit: int) -> tuple[list[Item], bool, int]:
        """Items of a segment in storage order from past `start`: at most `limit` and 1 MB."""
        from lambdad.services.dynamodb.storage import segment_range

        low, high = segment_range(segment, total)
        after: tuple[Any, ...] | None = None
        if start:
            base = self._start_key(table, index, start)
            if index is None:
                after = (base.hh, base.hk, base.rk)
            else:
                entry = keys.index_key(table, index, start, strict=False)
                if entry is None:
                    raise DynamoDbError("The provided starting key is invalid")
                from lambdad.services.dynamodb.storage import key_hash

                after = (key_hash(entry.ihk), entry.ihk, entry.irk, base.hk, base.rk)
        out: list[Item] = []
        read = 0
        while len(out) < limit:
            want = min(1000, limit - len(out))
            rows = self.rows.scan(table.id, index.name if index else None, low, high, after, want)
            for pos, item, size in rows:
                out.append(item)
                read += size
                after = pos
                if read >= PAGE_BYTES:
                    return out, True, read
            if len(rows) < want:
                return out, False, read
        return out, True, read

    # -- TTL -----------------------------------------------------------------------------------
    def expire_once(self, limit: int = 100) -> int:
        """Delete items whose TTL has passed (within AWS's five-year horizon); how many."""
        now = self.clock.time()
        done = 0
        for table in self.tables.all():
            if table.ttl_attribute is None:
                continue
            for key, item in self.rows.expired(table.id, now, limit):
                expires = expiry_of(table.ttl_attribute, item)
                with self.store.transaction():
                    current = self.rows.get(table.id, key)
                    if current is None or expiry_of(table.ttl_attribute, current) != expires:
                        continue
                    if expires is not None and expires < now - TTL_HORIZON:
                        # Too old to be a TTL (AWS ignores it): never expires.
                        self.rows.put(table.id, key, current, item_size(current), None)
                        continue
                    self.change(table, key, current, None, cause="ttl")
                    done += 1
        return done

    async def run_ttl_sweeper(self, interval: float = 1.0) -> None:
        """Delete expired items until cancelled (the supervisor's `dynamodb-ttl` loop)."""
        while True:
            while self.expire_once() >= 100:
                await self.clock.sleep(0)
            await self.clock.sleep(interval)
