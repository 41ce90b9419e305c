"""DynamoDB TTL driven by a FakeClock: expired items are deleted by the sweeper (through the one
change point, as TTL deletions), unexpired and non-numeric ones stay, and the five-year horizon holds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lambdad.clock import FakeClock
from lambdad.services.dynamodb.dataplane import DataPlane
from lambdad.services.dynamodb.items import TTL_HORIZON, Items, expiry_of
from lambdad.services.dynamodb.storage import ItemRows
from lambdad.services.dynamodb.tables import Tables
from lambdad.store import SqliteStore

ACCOUNT, REGION = "000000000000", "us-east-1"


def _plane(tmp_path: Path, clock: FakeClock) -> tuple[SqliteStore, DataPlane]:
    store = SqliteStore(tmp_path / "db.sqlite")
    rows = ItemRows(store)
    tables = Tables(store, rows, clock)
    return store, DataPlane(tables, Items(store, tables, rows, clock))


def test_sweeper_deletes_expired_items(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(start=1_700_000_000.0)
        store, plane = _plane(tmp_path, clock)
        plane.tables.create(ACCOUNT, REGION, {
            "TableName": "ttl", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"})
        table = plane.tables.get(ACCOUNT, REGION, "ttl")
        now = int(clock.time())
        # Written before TTL is enabled: enabling it computes their expiry.
        plane.put_item(ACCOUNT, REGION, {"TableName": "ttl", "Item": {"pk": {"S": "early"},
                                                                       "exp": {"N": str(now + 10)}}})
        plane.tables.update_ttl(table, {"Enabled": True, "AttributeName": "exp"}, expiry_of)
        for pk, exp in (("soon", {"N": str(now + 60)}), ("later", {"N": str(now + 3600)}),
                        ("text", {"S": str(now)}), ("ancient", {"N": str(now - TTL_HORIZON - 10)})):
            plane.put_item(ACCOUNT, REGION, {"TableName": "ttl", "Item": {"pk": {"S": pk}, "exp": exp}})
        plane.put_item(ACCOUNT, REGION, {"TableName": "ttl", "Item": {"pk": {"S": "none"}}})
        deleted: list[tuple[str, str]] = []
        plane.items.listeners.append(lambda t, old, new, cause: deleted.append((old["pk"]["S"], cause))
                                     if old is not None and new is None else None)

        def left() -> list[str]:
            out: dict[str, Any] = plane.scan(ACCOUNT, REGION, {"TableName": "ttl"})
            return sorted(i["pk"]["S"] for i in out["Items"])

        sweeper = asyncio.ensure_future(plane.items.run_ttl_sweeper(interval=30.0))
        try:
            await clock.advance(5)
            assert left() == ["ancient", "early", "later", "none", "soon", "text"]
            await clock.advance(30)
            assert "early" not in left()
            await clock.advance(60)
            assert left() == ["ancient", "later", "none", "text"]
            await clock.advance(3600)
            assert left() == ["ancient", "none", "text"]
            assert deleted == [("early", "ttl"), ("soon", "ttl"), ("later", "ttl")]
            # Disabled: nothing expires any more.
            plane.put_item(ACCOUNT, REGION, {"TableName": "ttl", "Item": {"pk": {"S": "x"},
                                                                           "exp": {"N": str(now)}}})
            plane.tables.update_ttl(table, {"Enabled": False, "AttributeName": "exp"}, expiry_of)
            await clock.advance(10)
            assert "x" in left()
        finally:
            sweeper.cancel()
        store.close()

    asyncio.run(scenario())


def test_ttl_survives_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(start=1_700_000_000.0)
        store, plane = _plane(tmp_path, clock)
        plane.tables.create(ACCOUNT, REGION, {
            "TableName": "ttl2", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"})
        plane.tables.update_ttl(plane.tables.get(ACCOUNT, REGION, "ttl2"), {"Enabled": True, "AttributeName": "e"},
                                expiry_of)
        plane.put_item(ACCOUNT, REGION, {"TableName": "ttl2", "Item": {"pk": {"S": "a"},
                                                                        "e": {"N": str(int(clock.time()) + 5)}}})
        store.close()
        store, plane = _plane(tmp_path, clock)
        assert plane.tables.describe_ttl(plane.tables.get(ACCOUNT, REGION, "ttl2"))["TimeToLiveStatus"] == "ENABLED"
        await clock.advance(6)
        assert plane.items.expire_once() == 1
        assert plane.scan(ACCOUNT, REGION, {"TableName": "ttl2"})["Count"] == 0
        store.close()

    asyncio.run(scenario())
