"""The platform's own log lines of an invocation (START, END, REPORT; Lambda's "system logs"), in the
function's LoggingConfig format.

Text is Lambda's classic lines. JSON is one `platform.*` record a line, as Lambda writes them with
LogFormat JSON: `{"time", "type": "platform.start" | "platform.runtimeDone" | "platform.report",
"record": {...}}`, filtered by SystemLogLevel: start and report are INFO records, runtimeDone
(which stands where END stands in text) a DEBUG one, so WARN keeps none of them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

from lambdad.control.functions import FunctionVersion

_RANK = {"DEBUG": 0, "INFO": 1, "WARN": 2}


@dataclass(frozen=True, slots=True)
class Report:
    duration_ms: float
    max_memory_mb: int
    init_ms: float | None = None
    restore_ms: float | None = None
    billed_restore_ms: float | None = None
    status: str = "success"  # success | error | timeout
    error_type: str | None = None


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _record(fv: FunctionVersion, level: str, kind: str, record: dict[str, object]) -> list[str]:
    if _RANK[level] < _RANK.get(fv.system_log_level, 1):
        return []
    return [json.dumps({"time": _stamp(), "type": kind, "record": record})]


def start(fv: FunctionVersion, request_id: str) -> list[str]:
    if fv.log_format != "JSON":
        return [f"START RequestId: {request_id} Version: {fv.version}"]
    return _record(fv, "INFO", "platform.start", {"requestId": request_id, "version": fv.version})


def end(fv: FunctionVersion, request_id: str, report: Report) -> list[str]:
    if fv.log_format != "JSON":
        return [f"END RequestId: {request_id}"]
    record: dict[str, object] = {"requestId": request_id, "status": report.status,
                                 "metrics": {"durationMs": round(report.duration_ms, 3)}}
    if report.error_type:
        record["errorType"] = report.error_type
    return _record(fv, "DEBUG", "platform.runtimeDone", record)


def report(fv: FunctionVersion, request_id: str, r: Report) -> list[str]:
    billed = max(1, math.ceil(r.duration_ms))
    if fv.log_format != "JSON":
        line = (f"REPORT RequestId: {request_id}\tDuration: {r.duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
                f"Memory Size: {fv.memory_mb} MB\tMax Memory Used: {r.max_memory_mb} MB\t")
        if r.restore_ms is not None:
            line += (f"Restore Duration: {r.restore_ms:.2f} ms\t"
                     f"Billed Restore Duration: {max(1, math.ceil(r.billed_restore_ms or 0))} ms\t")
        elif r.init_ms is not None:
            line += f"Init Duration: {r.init_ms:.2f} ms\t"
        if r.status == "timeout":
            line += "Status: timeout"
        elif r.error_type:
            line += f"Status: error\tError Type: {r.error_type}"
        return [line]
    metrics: dict[str, object] = {"durationMs": round(r.duration_ms, 3), "billedDurationMs": billed,
                                  "memorySizeMB": fv.memory_mb, "maxMemoryUsedMB": r.max_memory_mb}
    if r.restore_ms is not None:
        metrics["restoreDurationMs"] = round(r.restore_ms, 3)
        metrics["billedRestoreDurationMs"] = max(1, math.ceil(r.billed_restore_ms or 0))
    elif r.init_ms is not None:
        metrics["initDurationMs"] = round(r.init_ms, 3)
    record: dict[str, object] = {"requestId": request_id, "metrics": metrics, "status": r.status}
    if r.error_type:
        record["errorType"] = r.error_type
    return _record(fv, "INFO", "platform.report", record)
