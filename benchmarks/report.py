"""Rows of the result table, their targets, and the two renderings: a text table and a JSON document."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASS, MISS, INFO, NA = "pass", "miss", "info", "n/a"


@dataclass(frozen=True, slots=True)
class Target:
    """A goal from the performance issue. Bounds on the value itself and/or on value / baseline."""

    text: str
    max_value: float | None = None
    min_value: float | None = None
    max_ratio: float | None = None
    min_ratio: float | None = None

    def check(self, value: float, baseline: float | None) -> bool | None:
        """True/False when every bound that can be evaluated holds/fails; None when none can be."""
        verdicts: list[bool] = []
        if self.max_value is not None:
            verdicts.append(value <= self.max_value)
        if self.min_value is not None:
            verdicts.append(value >= self.min_value)
        if baseline:
            ratio = value / baseline
            if self.max_ratio is not None:
                verdicts.append(ratio <= self.max_ratio)
            if self.min_ratio is not None:
                verdicts.append(ratio >= self.min_ratio)
        return all(verdicts) if verdicts else None


@dataclass(slots=True)
class Row:
    """One figure of lambdad (value) next to what it is compared with (baseline), measured in the same run.

    value is None when the figure could not be measured; `note` then says why.
    """

    scenario: str
    figure: str
    unit: str
    value: float | None
    baseline: float | None = None
    baseline_label: str = ""
    target: Target | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def status(self) -> str:
        if self.value is None:
            return NA
        if self.target is None:
            return INFO
        verdict = self.target.check(self.value, self.baseline)
        if verdict is None:
            return NA
        return PASS if verdict else MISS

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "figure": self.figure, "unit": self.unit, "value": self.value,
            "baseline": self.baseline, "baseline_label": self.baseline_label, "ratio": self.ratio,
            "target": self.target.text if self.target else None, "status": self.status, "note": self.note,
            "extra": self.extra,
        }


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("req/s", "count"):
        text = f"{value:,.0f}"
    elif unit == "ms" and value < 1:
        text = f"{value:.3f}"
    elif abs(value) < 100:
        text = f"{value:.2f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}" if unit != "count" else text


def render_table(rows: list[Row]) -> str:
    """A fixed-width table; notes are numbered below it so the columns stay narrow."""
    header = ("#", "figure", "target", "lambdad", "baseline (same run)", "ratio", "result")
    lines: list[tuple[str, ...]] = []
    notes: list[str] = []
    for i, row in enumerate(rows, 1):
        base = fmt(row.baseline, row.unit)
        if row.baseline_label:
            base = f"{base} {row.baseline_label}" if row.baseline is not None else f"- {row.baseline_label}"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        result = row.status + (f" [{i}]" if row.note else "")
        if row.note:
            notes.append(f"[{i}] {row.note}")
        lines.append((str(i), row.figure, row.target.text if row.target else "", fmt(row.value, row.unit),
                       base, ratio, result))
    widths = [max(len(h), *(len(line[c]) for line in lines)) if lines else len(h) for c, h in enumerate(header)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
           "-+-".join("-" * w for w in widths)]
    out += [" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    if notes:
        out.append("")
        out += notes
    return "\n".join(out)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
