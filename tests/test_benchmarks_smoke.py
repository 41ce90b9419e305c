"""The benchmark command still runs: `python -m benchmarks --quick` writes its JSON with every expected key.

No figures are judged here (performance lives in benchmarks/, never in timed assertions); a scenario
that raises, or a row missing, fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROW_KEYS = {"scenario", "figure", "unit", "value", "baseline", "baseline_label", "ratio", "target", "status",
            "note", "extra"}


@pytest.mark.timeout(300)  # the quick run takes minutes on a loaded host
def test_quick_run_writes_json_with_expected_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--envs", "4", "--output", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert {"schema", "started_at", "duration_s", "quick", "host", "labels", "rows", "scenarios"} <= doc.keys()
    assert doc["quick"] is True
    ran = {name for name, s in doc["scenarios"].items() if s["status"] != "skipped"}
    assert ran == {"warm", "throughput", "cold", "snapstart", "async", "memory", "events", "s3", "apigateway",
                   "logs"}
    errors = {name: s.get("error") for name, s in doc["scenarios"].items() if s["status"] == "error"}
    assert not errors, errors
    for row in doc["rows"]:
        assert row.keys() >= ROW_KEYS, row
        assert row["status"] in {"pass", "miss", "info", "n/a"}
    figures = [row["figure"] for row in doc["rows"]]
    for expected in ("warm invoke p50 (1 KB, SigV4)", "throughput, 8 connections", "cold start p50",
                     "cold start p50 with SnapStart", "memory per idle environment", "concurrent environments"):
        assert any(expected in f for f in figures), (expected, figures)
    by_figure = {row["figure"]: row for row in doc["rows"]}
    warm = by_figure["warm invoke p50 (1 KB, SigV4)"]
    assert warm["value"] > 0 and warm["baseline"] > 0 and warm["baseline_label"] == "ASGI echo"
    assert doc["labels"]["load_generator"]
    assert all("short" in label for label in doc["labels"]["servers"].values())
    assert "lambdad benchmarks (quick)" in proc.stdout and str(out) in proc.stdout
