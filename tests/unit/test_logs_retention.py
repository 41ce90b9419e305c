"""CloudWatch Logs retention on the injected clock: the supervised sweeper deletes what a group's
retention no longer keeps, and reads stop showing it at once."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from lambdad.clock import FakeClock
from lambdad.services.logs.filter_pattern import compile_pattern
from lambdad.services.logs.groups import DAY_MS, LogsService
from lambdad.store import SqliteStore


def count(logs: LogsService) -> int:
    row = logs.store.one("SELECT COUNT(*) AS n FROM logs_events")
    assert row is not None
    return int(row["n"])


def test_retention_sweeper_on_a_fake_clock(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        logs = LogsService(SqliteStore(tmp_path / "lambdad.db"), clock=clock)
        g = logs.create_group("1", "r", "/g")
        logs.create_stream(g, "s")
        now = logs.now()
        logs.put_events(g, "s", [{"timestamp": now - 2 * DAY_MS, "message": "old"}])
        logs.put_events(g, "s", [{"timestamp": now, "message": "new"}])
        logs.put_retention(g, 3)
        sweeper = asyncio.ensure_future(logs.run_retention(interval=3600))
        try:
            await clock.advance(3601)
            assert count(logs) == 2  # both within 3 days
            await clock.advance(1.5 * 86_400)  # "old" is 3.5 days old now
            assert count(logs) == 1
            rows, more = logs.filter_events(g, streams=None, prefix=None, start=None, end=None,
                                            pattern=compile_pattern(""), after=None, limit=10)
            assert [e.message for e in rows] == ["new"] and not more
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    asyncio.run(scenario())


def test_state_reloads(tmp_path: Path) -> None:
    logs = LogsService(SqliteStore(tmp_path / "lambdad.db"), clock=FakeClock())
    g = logs.create_group("1", "r", "/g", {"k": "v"})
    logs.create_stream(g, "s")
    logs.put_metric_filter(g, "m", "ERROR", [{"metricName": "E", "metricNamespace": "N", "metricValue": "1"}])
    again = LogsService(SqliteStore(tmp_path / "lambdad.db"), clock=FakeClock())
    g2 = again.group("1", "r", "/g")
    assert g2.tags == {"k": "v"} and list(g2.streams) == ["s"] and list(g2.metric_filters) == ["m"]
    assert [(grp.name, f.name) for grp, f in again.metric_filters("1", "r")] == [("/g", "m")]


def test_many_streams_page_by_name(tmp_path: Path) -> None:
    """5,000 streams in one group: paging by name walks a sorted list (bisect), never a full sort."""
    from lambdad.services.logs.wire import _by_name
    logs = LogsService(SqliteStore(tmp_path / "lambdad.db"), clock=FakeClock())
    g = logs.create_group("1", "r", "/g")
    with logs.store.transaction():
        for i in range(5_000):
            logs.create_stream(g, f"s{i:06d}")
    seen, after = 0, None
    while True:
        page, token = _by_name(g.sorted_streams, "s001", after, 50, False)
        seen += len(page)
        if token is None:
            break
        after = token
    assert seen == 1_000  # s001000..s001999
    last, _ = _by_name(g.sorted_streams, "", None, 3, True)
    assert last == ["s004999", "s004998", "s004997"]
