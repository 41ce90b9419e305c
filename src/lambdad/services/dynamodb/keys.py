"""Keys: an item's primary key and its place in each secondary index, as the bytes storage orders by.

A key attribute is a scalar of its declared type (S, N or B). Where the item has it of another type
DynamoDB refuses the write ("Type mismatch for key ..."); where an item lacks an index's key
attributes it is simply not in that index (a sparse index).
"""

from __future__ import annotations

from typing import Any

from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb.storage import IndexKey, Item, RowKey
from lambdad.services.dynamodb.tables import Index, Table
from lambdad.services.dynamodb.values import sort_key_bytes, validate_item

MAX_HASH_KEY = 2048
MAX_RANGE_KEY = 1024


def invalid(message: str) -> DynamoDbError:
    return DynamoDbError("One or more parameter values were invalid: " + message)


def key_bytes(kind: str, value: Any) -> bytes:
    return sort_key_bytes({kind: value})


def _scalar(value: dict[str, Any]) -> tuple[str, Any]:
    (kind, v), = value.items()
    return kind, v


def _check_key_value(name: str, kind: str, av: dict[str, Any]) -> bytes:
    actual, v = _scalar(av)
    if actual != kind:
        raise invalid(f"Type mismatch for key {name} expected: {kind} actual: {actual}")
    if kind in ("S", "B") and len(v) == 0:
        raise DynamoDbError("One or more parameter values are not valid. The AttributeValue for a key attribute "
                            f"cannot contain an empty {'string' if kind == 'S' else 'binary'} value. Key: {name}")
    return key_bytes(kind, v)


def item_key(table: Table, item: Item) -> RowKey:
    """The primary key of an item being written (PutItem): both key attributes present and of their type."""
    for name in table.key_names:
        if name not in item:
            raise invalid(f"Missing the key {name} in the item")
    hk = _check_key_value(table.hash_key, table.attributes[table.hash_key], item[table.hash_key])
    if _raw_size(item[table.hash_key]) > MAX_HASH_KEY:
        raise invalid(f"Size of hashkey has exceeded the maximum size limit of{MAX_HASH_KEY} bytes")
    rk = b""
    if table.range_key is not None:
        rk = _check_key_value(table.range_key, table.attributes[table.range_key], item[table.range_key])
        if _raw_size(item[table.range_key]) > MAX_RANGE_KEY:
            raise invalid(f"Aggregated size of all range keys has exceeded the size limit of {MAX_RANGE_KEY} bytes")
    return RowKey(hk, rk)


def _raw_size(av: dict[str, Any]) -> int:
    kind, v = _scalar(av)
    return len(v.encode()) if kind == "S" else len(v) if kind == "B" else 21


def given_key(table: Table, key: Item) -> RowKey:
    """A `Key` parameter (GetItem, DeleteItem, UpdateItem): exactly the table's key attributes."""
    if set(key) != set(table.key_names):
        raise DynamoDbError("The provided key element does not match the schema")
    key = validate_item(key)
    for name in table.key_names:
        kind, _ = _scalar(key[name])
        if kind != table.attributes[name]:
            raise DynamoDbError("The provided key element does not match the schema")
    return item_key(table, key)


def key_of(table: Table, item: Item) -> Item:
    """The key attributes of an item (its `Key`)."""
    return {name: item[name] for name in table.key_names if name in item}


def index_key(table: Table, index: Index, item: Item, *, strict: bool) -> IndexKey | None:
    """An item's entry in `index`, or None when it lacks the index's key attributes (sparse). With
    `strict` a key attribute of the wrong type is refused as DynamoDB refuses the write; without
    (a backfill) the item is left out of the index."""
    parts = []
    for name in (index.hash_key, index.range_key):
        if name is None:
            parts.append(b"")
            continue
        av = item.get(name)
        if av is None:
            return None
        want = table.attributes[name]
        kind, v = _scalar(av)
        if kind != want:
            if not strict:
                return None
            raise invalid(f"Type mismatch for Index Key {name} Expected: {want} Actual: {kind} "
                          f"IndexName: {index.name}")
        if kind in ("S", "B") and len(v) == 0:
            if not strict:
                return None
            raise invalid(f"One or more parameter values are not valid. A value specified for a secondary index "
                          f"key is not supported. The AttributeValue for a key attribute cannot contain an empty "
                          f"{'string' if kind == 'S' else 'binary'} value. IndexName: {index.name}, "
                          f"IndexKey: {name}")
        parts.append(key_bytes(kind, v))
    return IndexKey(index.name, parts[0], parts[1])


def index_keys(table: Table, item: Item, *, strict: bool = True) -> list[IndexKey]:
    out = []
    for index in table.indexes:
        entry = index_key(table, index, item, strict=strict)
        if entry is not None:
            out.append(entry)
    return out


def is_key_attribute(table: Table, name: str) -> bool:
    return name in table.key_names


def position_key(table: Table, index: Index | None, item: Item) -> Item:
    """LastEvaluatedKey of a page ending at `item`: the table's key, plus the index's key attributes."""
    out = key_of(table, item)
    if index is not None:
        for name in (index.hash_key, index.range_key):
            if name is not None and name in item:
                out[name] = item[name]
    return out
