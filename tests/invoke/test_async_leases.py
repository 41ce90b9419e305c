"""The async queue's ownership of events by lease: two nodes (two queues, each with its own connection)
on one database, as a cluster on one PostgreSQL would be. Unit tests of AsyncQueue on the real store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambdad.invoke.async_queue import AsyncQueue
from lambdad.store import SqliteStore, Store

Node = Callable[..., AsyncQueue]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    stores: list[SqliteStore] = []

    def make(owner: str, lease_seconds: float = 60.0) -> AsyncQueue:
        stores.append(SqliteStore(tmp_path / "lambdad.db"))
        return AsyncQueue(stores[-1], 1 << 20, owner=owner, lease_seconds=lease_seconds)

    yield make
    for store in stores:
        store.close()


def lease(store: Store, event_id: str) -> tuple[str | None, float | None]:
    row = store.one("SELECT lease_owner, lease_until FROM async_events WHERE id=?", (event_id,))
    assert row is not None
    return row["lease_owner"], row["lease_until"]


def test_an_accepted_event_is_leased_to_its_node(node: Node) -> None:
    a, b = node("a"), node("b")
    before = time.time()
    event_id = a.accept("123", "us-east-1", "fn", None, b"{}")
    owner, until = lease(b.store, event_id)
    assert owner == "a" and until is not None and until >= before + 60.0
    assert b.load() == 0 and b.maintain() == 0  # held: another node leaves it alone
    assert b.pop_due(time.time() + 1) is None
    ev = a.pop_due(time.time())
    assert ev is not None and ev.id == event_id


def test_a_dead_nodes_events_are_claimed_once_its_lease_runs_out(node: Node) -> None:
    a, b = node("a", lease_seconds=0.2), node("b")
    event_id = a.accept("123", "us-east-1", "fn", "live", b'{"n": 1}')
    time.sleep(0.3)  # a renews nothing: it is as good as dead
    assert b.maintain() == 1
    assert lease(b.store, event_id)[0] == "b"
    ev = b.pop_due(time.time())
    assert ev is not None and (ev.id, ev.qualifier, ev.payload) == (event_id, "live", b'{"n": 1}')
    # a comes back to life: its lease is gone, so it drops the event instead of running it twice
    assert a.pop_due(time.time()) is None
    assert a.pending == 0
    assert b.maintain() == 0


def test_a_restarted_node_takes_its_own_events_back_at_once(node: Node) -> None:
    a = node("a")
    ids = {a.accept("123", "us-east-1", "fn", None, b"%d" % i) for i in range(3)}
    retried = a.pop_due(time.time())
    assert retried is not None
    retried.attempts = 1
    a.reschedule(retried, time.time() + 3600, durable=True)  # a retry due in an hour
    # a is killed; its leases still have a minute to run, but only a restart of `a` holds them
    assert node("b").load() == 0
    again = node("a")
    assert again.load() == 3
    assert {again.pop_due(time.time()).id for _ in range(2)} == ids - {retried.id}  # type: ignore[union-attr]
    assert again.pop_due(time.time()) is None  # the retry is not due yet
    later = again.pop_due(time.time() + 3601)
    assert later is not None and (later.id, later.attempts) == (retried.id, 1)


def test_leases_are_renewed_before_they_run_out(node: Node) -> None:
    a, b = node("a", lease_seconds=0.4), node("b")
    event_id = a.accept("123", "us-east-1", "fn", None, b"{}")
    first = lease(a.store, event_id)[1]
    time.sleep(0.25)  # past half the lease
    a.maintain()
    renewed = lease(a.store, event_id)
    assert renewed[0] == "a" and renewed[1] is not None and first is not None and renewed[1] > first
    assert b.maintain() == 0


def test_a_retry_holds_its_lease_past_its_due_time(node: Node) -> None:
    a = node("a", lease_seconds=30.0)
    a.accept("123", "us-east-1", "fn", None, b"{}")
    ev = a.pop_due(time.time())
    assert ev is not None
    ev.attempts = 1
    due = time.time() + 120
    a.reschedule(ev, due, durable=True)
    row = a.store.one("SELECT attempts, next_at, lease_owner, lease_until FROM async_events WHERE id=?", (ev.id,))
    assert row is not None and tuple(row) == (1, due, "a", due + 30.0)


def test_a_retry_of_an_event_taken_by_another_node_is_dropped(node: Node) -> None:
    a, b = node("a", lease_seconds=0.2), node("b")
    a.accept("123", "us-east-1", "fn", None, b"{}")
    ev = a.pop_due(time.time())
    assert ev is not None  # a runs it ... and stalls past its lease
    time.sleep(0.3)
    assert b.maintain() == 1
    ev.attempts = 1
    a.reschedule(ev, time.time(), durable=True)  # a's failed attempt: not recorded over b's lease
    assert a.pending == 0
    assert lease(b.store, ev.id)[0] == "b"
    assert b.store.one("SELECT attempts FROM async_events")["attempts"] == 0  # type: ignore[index]


def test_an_older_data_dir_gains_the_lease_columns(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "old.db")
    store.ensure_schema("""CREATE TABLE async_events (id TEXT PRIMARY KEY, account TEXT NOT NULL,
        function_name TEXT NOT NULL, qualifier TEXT, payload BLOB NOT NULL, received REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, state TEXT);""")
    store.execute("INSERT INTO async_events (id, account, function_name, payload, received, attempts, next_at) "
                  "VALUES ('old', '123', 'fn', x'7b7d', 1.0, 1, 2.0)")
    queue = AsyncQueue(store, 1 << 20, owner="a")
    assert queue.load() == 1
    assert lease(store, "old")[0] == "a"
    ev = queue.pop_due(time.time())
    assert ev is not None and (ev.id, ev.payload, ev.attempts) == ("old", b"{}", 1)
    store.close()
