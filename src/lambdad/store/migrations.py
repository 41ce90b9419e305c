"""Schema migrations that more than one table needs, written in the portable SQL of store/__init__.py."""

from __future__ import annotations

from collections.abc import Sequence

from lambdad.store.errors import StoreError
from lambdad.store.interface import Store


def add_region_to_key(store: Store, table: str, create: str, columns: Sequence[str], default_region: str) -> bool:
    """Give `table` a `region` column that is part of its key, as `create` (its `CREATE TABLE IF NOT
    EXISTS` statement, region included) defines it. A table written before regions existed is copied
    into a new one, its rows in `default_region` (rows without a region belong to the default region),
    and takes its place in one transaction (a crash leaves the old table or the new one, never half);
    `columns` are the other columns to copy. Whether it was migrated. Run the table's indexes again
    afterwards (`ensure_schema`): they went with the old table."""
    store.ensure_schema(create)
    try:
        store.one(f"SELECT region FROM {table} WHERE 1=0")
        return False
    except StoreError:  # no such column: a table from before regions
        pass
    head = f"CREATE TABLE IF NOT EXISTS {table} ("
    if head not in create:
        raise ValueError(f"{create!r} does not create {table}")
    staging = f"{table}_with_regions"
    store.ensure_schema(create.replace(head, f"CREATE TABLE IF NOT EXISTS {staging} ("))
    cols = ", ".join(columns)
    with store.transaction():
        store.execute(f"INSERT INTO {staging} ({cols}, region) SELECT {cols}, ? FROM {table}", (default_region,))
        store.execute(f"DROP TABLE {table}")
        store.execute(f"ALTER TABLE {staging} RENAME TO {table}")
    return True
