"""The SQLite store. Each domain module owns its tables and registers their schema here.

Writes commit immediately (autocommit outside `transaction()`); WAL with synchronous=NORMAL keeps
every committed row across a `kill -9` of the server (the OS still holds the pages), which is the
durability this server promises; only a power loss can cost the last few commits.

The connection lives on the event loop's thread, so SQLite's busy handler would sleep the whole
server while another process holds a lock on the database (an operator's `sqlite3` shell, a
backup): the busy timeout is short (BUSY_TIMEOUT_MS) and a statement that still finds the database
locked fails as a retryable `StoreError` (answered 500, which SDKs retry) instead of stalling every
other request. Only the server's own connection writes, so in normal operation nothing waits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lambdad.store.datadir import DiskReserve, is_disk_full, private_file
from lambdad.store.errors import StoreError

# Longest the loop may sit in SQLite's busy handler per statement.
BUSY_TIMEOUT_MS = 50


def _failure(exc: sqlite3.Error) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StoreError("The service is busy (its state is locked by another process); retry the request.")
    return StoreError(f"Store failure: {exc}")


class Store:
    def __init__(self, path: Path, reserve: DiskReserve | None = None) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        #: released before a write when the disk is nearly full, so deletes still commit (store/datadir.py)
        self.reserve = reserve
        private_file(path)  # before SQLite creates it 0644 (its -wal and -shm files copy this mode)
        # The event loop thread owns the connection; the lock covers the rare executor user.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0  # open transaction() blocks (guarded by the lock)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def ensure_schema(self, ddl: str) -> None:
        with self._lock:
            self._conn.executescript(ddl)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        write = sql.lstrip()[:6].upper() != "SELECT"
        try:
            with self._lock:
                if write:
                    self._before_write()
                try:
                    return self._conn.execute(sql, params)
                except sqlite3.Error as exc:
                    if not (write and self._retry_full(exc)):
                        raise
                    return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _failure(exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            with self._lock:
                self._before_write()
                try:
                    self._conn.executemany(sql, rows)
                except sqlite3.Error as exc:
                    if not self._retry_full(exc):
                        raise
                    self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _failure(exc) from exc

    # -- a full disk --------------------------------------------------------------------------
    def _before_write(self) -> None:
        if self.reserve is not None and self._depth == 0:
            self.reserve.before_write()

    def _retry_full(self, exc: sqlite3.Error) -> bool:
        """A statement failed on a full disk: give the reserve back, and say whether to run it again
        (only outside a transaction: inside one, SQLite has rolled the whole transaction back)."""
        if not is_disk_full(exc) or self.reserve is None or not self.reserve.release():
            return False
        return self._depth == 0 and not self._conn.in_transaction

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic commit. Nested use becomes a savepoint of the outer transaction, so a
        component can call another that has its own transactions (SNS fanning out to SQS)."""
        with self._lock:
            depth = self._depth
            begin, commit, rollback = (("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK") if depth == 0 else
                                       (f"SAVEPOINT s{depth}", f"RELEASE s{depth}",
                                        f"ROLLBACK TO s{depth}; RELEASE s{depth}"))
            if depth == 0:
                self._before_write()
            self._run(begin)
            self._depth = depth + 1
            try:
                yield
            except BaseException:
                self._depth = depth
                # SQLite may have rolled the whole transaction back itself (SQLITE_FULL does).
                if self._conn.in_transaction:
                    for statement in rollback.split("; "):
                        self._conn.execute(statement)
                raise
            self._depth = depth
            try:
                self._conn.execute(commit)
            except sqlite3.Error as exc:
                if depth == 0 and self.reserve is not None and is_disk_full(exc):
                    self.reserve.release()  # rolled back: this call fails, the next one has room
                if depth == 0 and self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")  # a COMMIT that found the database locked
                raise _failure(exc) from exc

    def _run(self, statement: str) -> None:
        try:
            self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise _failure(exc) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
