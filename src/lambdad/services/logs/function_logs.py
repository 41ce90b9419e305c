"""Function logs in CloudWatch Logs' shape: groups, streams, events; written in batches.

The invoke path only appends to a list; a background task writes the batch to SQLite every
`flush_interval` seconds, so no invocation waits for a disk write. One row holds all the lines one
invocation wrote (START..REPORT), a quarter of the rows of a row per line; reads split them back
into one event per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from lambdad.store import Store
from lambdad.store.datadir import is_disk_full
from lambdad.store.errors import StoreError

log = logging.getLogger("lambdad.logs")

log = logging.getLogger("lambdad.logs")

SCHEMA = """
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    log_group TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts INTEGER NOT NULL,
    ingested INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_group ON log_events (account, log_group, id);
"""


class LogStore:
    def __init__(self, store: Store, flush_interval: float = 0.2) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self._pending: list[tuple[str, str, str, int, int, str]] = []
        store.ensure_schema(SCHEMA)

    def append(self, account: str, group: str, stream: str, lines: list[str]) -> None:
        now = int(time.time() * 1000)
        self._pending.append((account, group, stream, now, now, "\n".join(lines)))

    def flush(self) -> None:
        """Write what is pending; on a store failure (a locked database) keep it for the next try."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            with self.store.transaction():  # one commit per batch, not one per row
                self.store.executemany(
                    "INSERT INTO log_events (account, log_group, stream, ts, ingested, message) VALUES (?,?,?,?,?,?)",
                    batch)
        except Exception as exc:
            if is_disk_full(exc):
                # Keep the flusher (and reads, which flush first) alive; the server log says what was lost.
                log.warning("the data disk is full: %d function log events dropped", len(batch))
                return
            if isinstance(exc, StoreError):  # a locked database: the batch waits for the next try
                self._pending[:0] = batch
            raise

    async def run_flusher(self) -> None:
        delay = self.flush_interval
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    self.flush()
                    delay = self.flush_interval
                except StoreError as exc:
                    # Invocations keep running; their lines wait in memory until the store is back.
                    if delay == self.flush_interval:
                        log.warning("function logs not written yet: %s", exc)
                    delay = min(delay * 2, 5.0)
        finally:
            with contextlib.suppress(StoreError):  # still locked: nothing more to do at close
                self.flush()

    # -- reads (FilterLogEvents / GetLogEvents / DescribeLogStreams) -------------------------
    def filter_events(self, account: str, group: str, *, streams: list[str] | None = None,
                      start_time: int | None = None, end_time: int | None = None, after_id: int = 0,
                      pattern: str | None = None, limit: int = 10000) -> list[dict[str, Any]]:
        self.flush()
        sql = ("SELECT id, stream, ts, ingested, message FROM log_events WHERE account=? AND log_group=? "
               "AND id>?")
        params: list[Any] = [account, group, after_id]
        if streams:
            sql += f" AND stream IN ({','.join('?' * len(streams))})"
            params.extend(streams)
        if start_time is not None:
            sql += " AND ts>=?"
            params.append(start_time)
        if end_time is not None:
            sql += " AND ts<=?"
            params.append(end_time)
        needle = pattern.strip('"') if pattern else None
        if needle:
            sql += " AND instr(message, ?) > 0"
            params.append(needle)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        events = []
        for r in self.store.all(sql, params):
            for n, line in enumerate(r["message"].split("\n")):
                if needle and needle not in line:
                    continue
                events.append({"eventId": f"{r['id']}.{n}", "logStreamName": r["stream"], "timestamp": r["ts"],
                               "ingestionTime": r["ingested"], "message": line})
        return events

    def streams(self, account: str, group: str) -> list[dict[str, Any]]:
        self.flush()
        rows = self.store.all(
            "SELECT stream, MIN(ts) AS first, MAX(ts) AS last FROM log_events WHERE account=? AND log_group=? "
            "GROUP BY stream ORDER BY last DESC", (account, group))
        return [{"logStreamName": r["stream"], "creationTime": r["first"], "firstEventTimestamp": r["first"],
                 "lastEventTimestamp": r["last"], "lastIngestionTime": r["last"]} for r in rows]

    def groups(self, account: str, prefix: str = "") -> list[str]:
        self.flush()
        rows = self.store.all("SELECT DISTINCT log_group FROM log_events WHERE account=? AND log_group LIKE ? "
                              "ORDER BY log_group", (account, prefix + "%"))
        return [r["log_group"] for r in rows]

    def delete_group(self, account: str, group: str) -> None:
        self.store.execute("DELETE FROM log_events WHERE account=? AND log_group=?", (account, group))
