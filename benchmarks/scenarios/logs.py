"""CloudWatch Logs: PutLogEvents events/s and FilterLogEvents latency over 100,000 events.

Baselines from the same run: the store's floor (the same rows written with sqlite3 executemany,
one WAL commit per batch, in this process) for PutLogEvents, and the matcher's floor (a Python loop
doing json.loads and one comparison over the same 100,000 messages in memory) for FilterLogEvents.
"""

from __future__ import annotations

import json
import sqlite3
import time

from benchmarks.context import Context
from benchmarks.scenarios import scenario
from benchmarks.stats import percentile

BATCH = 1000


def _messages(count: int) -> list[str]:
    levels = ("INFO",) * 98 + ("ERROR", "WARN")  # 1% ERROR, as a real service's logs
    return [json.dumps({"level": levels[i % 100], "message": f"request {i} handled", "ms": i % 500})
            for i in range(count)]


def _sqlite_floor(workdir: str, messages: list[str], now: int) -> float:
    db = sqlite3.connect(f"{workdir}/floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, g TEXT, s TEXT, ts INTEGER, ing INTEGER, m TEXT)")
    db.execute("CREATE INDEX e1 ON e (g, s, ts, id)")
    db.execute("CREATE INDEX e2 ON e (g, ts, id)")
    started = time.perf_counter()
    for b in range(0, len(messages), BATCH):
        db.execute("BEGIN")
        db.executemany("INSERT INTO e (g, s, ts, ing, m) VALUES (?,?,?,?,?)",
                       [("/bench", "s", now + b + i, now, m) for i, m in enumerate(messages[b:b + BATCH])])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return len(messages) / elapsed


@scenario("logs", "CloudWatch Logs: PutLogEvents events/s, FilterLogEvents over 100,000 events")
def logs(ctx: Context) -> None:
    srv = ctx.server()
    client = srv.client("logs")
    count = 10_000 if ctx.options.quick else 100_000
    group = f"/bench/logs-{int(time.time())}"
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    messages = _messages(count)
    now = int(time.time() * 1000) - 3_600_000
    started = time.perf_counter()
    for b in range(0, count, BATCH):
        client.put_log_events(logGroupName=group, logStreamName="s",
                              logEvents=[{"timestamp": now + b + i, "message": m}
                                         for i, m in enumerate(messages[b:b + BATCH])])
    put_rate = count / (time.perf_counter() - started)
    floor = _sqlite_floor(str(ctx.workdir), messages, now)
    ctx.add(f"PutLogEvents, {BATCH}-event batches (boto3)", "events/s", put_rate, baseline=floor,
            baseline_label="sqlite3 executemany floor")

    def timed(pattern: str, rounds: int) -> tuple[float, int]:
        samples, found = [], 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            out = client.filter_log_events(logGroupName=group, filterPattern=pattern)
            samples.append((time.perf_counter() - t0) * 1000)
            found = len(out["events"])
        return percentile(samples, 50), found

    rounds = 3 if ctx.options.quick else 5
    t0 = time.perf_counter()
    for _ in range(rounds):
        hits = sum(1 for m in messages if json.loads(m).get("level") == "ERROR")
    scan_ms = (time.perf_counter() - t0) * 1000 / rounds
    json_ms, json_hits = timed('{ $.level = "ERROR" }', rounds)
    term_ms, _ = timed('"request 4242 handled"', rounds)
    ctx.record(events=count, json_matches=json_hits, expected_matches=hits)
    ctx.add(f"FilterLogEvents {{ $.level = \"ERROR\" }} over {count:,} events", "ms", json_ms, baseline=scan_ms,
            baseline_label="json.loads loop in process")
    ctx.add(f"FilterLogEvents quoted term over {count:,} events", "ms", term_ms, baseline=scan_ms,
            baseline_label="json.loads loop in process")
