"""What isolation this host can give, probed once at start (shown by `lambdad doctor` and the log)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdad.config import Config


@dataclass(slots=True)
class Protections:
    enabled: bool
    active: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def report_lines(self) -> list[str]:
        lines = []
        for name, on in self.active.items():
            why = self.reasons.get(name, "")
            lines.append(f"{name:<22} {'active' if on else 'OFF'}{'  (' + why + ')' if why else ''}")
        return lines

    def zygote_config(self, data_dir: Path) -> dict[str, Any]:
        return {"enabled": False, "data_dir": str(data_dir)}


def probe(config: Config) -> Protections:
    root = os.geteuid() == 0
    p = Protections(enabled=False)
    p.active["process-group"] = True
    for name in ("namespaces", "memory-cgroup", "pids-cgroup", "private-tmp", "unprivileged-uid"):
        p.active[name] = False
        p.reasons[name] = "sandbox not built yet" if root else "needs root"
    return p
