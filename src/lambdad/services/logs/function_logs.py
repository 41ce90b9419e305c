"""Lambda's own function logs, written through the CloudWatch Logs service in batches.

The invoke path only appends an invocation's lines to a list; a supervised task commits what is
pending every `flush_interval` seconds in one transaction (`LogsService.ingest`: events, stream
statistics, then live tails and subscription filters), so no invocation waits for a disk write.
The group (`/aws/lambda/<name>` or the function's LoggingConfig.LogGroup) and the stream are
created on first write, as Lambda creates them.
"""

from __future__ import annotations

import logging

from lambdad.services.logs.groups import LogsService
from lambdad.services.logs.records import LogGroup, LogStream
from lambdad.store.datadir import is_disk_full
from lambdad.store.errors import StoreError
from lambdad.supervisor import flush_periodically

log = logging.getLogger("lambdad.logs")


class LogStore:
    def __init__(self, logs: LogsService, flush_interval: float = 0.2) -> None:
        self.logs = logs
        self.flush_interval = flush_interval
        self._pending: list[tuple[str, str, str, str, int, list[str]]] = []
        logs.pending_writers.append(self.flush)

    def append(self, account: str, region: str, group: str, stream: str, lines: list[str]) -> None:
        """Lines for a group of the function's own account and region (as Lambda writes them)."""
        self._pending.append((account, region, group, stream, self.logs.now(), lines))

    def flush(self) -> None:
        """Write what is pending; on a store failure (a locked database) keep it for the next try."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            known: dict[tuple[str, str, str, str], tuple[LogGroup, LogStream]] = {}
            invocations: list[tuple[LogGroup, LogStream, int, list[str]]] = []
            for account, region, group, stream, ts, lines in batch:
                key = (account, region, group, stream)
                found = known.get(key)
                if found is None:
                    found = known[key] = self.logs.ensure(account, region, group, stream)
                invocations.append((found[0], found[1], ts, lines))
            self.logs.ingest_invocations(invocations)
        except Exception as exc:
            if is_disk_full(exc):
                # Keep the flusher (and reads, which flush first) alive; the server log says what was lost.
                log.warning("the data disk is full: %d function log batches dropped", len(batch))
                return
            if isinstance(exc, StoreError):  # a locked database: the batch waits for the next try
                self._pending[:0] = batch
            raise

    async def run_flusher(self) -> None:
        # Invocations keep running while the store is locked; their lines wait in memory until it is back.
        await flush_periodically(self.flush, self.flush_interval, max_delay=5.0, what="function logs")
