"""Cold start of a SnapStart version: environments forked from an initialized template.

Detects support the way a user would: CreateFunction with SnapStart={'ApplyOn': 'PublishedVersions'},
PublishVersion, and the version's OptimizationStatus 'On'. Each sample publishes a new version (after
a configuration change, as PublishVersion needs one), waits until it is Active and times that
version's first invoke, which on AWS is a restore from the snapshot taken at publish time; its REPORT
line's Restore Duration proves it was restored. Measured twice: as lambdad runs by default (a fork of
each template kept parked) and with forks made on demand. Rows say why when this is not available.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from benchmarks.context import Context
from benchmarks.httpclient import HttpError, RawClient
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.scenarios.cold import _INIT, _RESTORE, log_figure, timed_invoke
from benchmarks.scenarios.common import JSON_HANDLER
from benchmarks.server import ROLE, LambdadServer, make_zip
from benchmarks.stats import percentile, summary

BUDGET_S = 90.0
FIGURE = "cold start p50 with SnapStart"


def _error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def _wait_version(lam: Any, name: str, version: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        cfg = lam.get_function_configuration(FunctionName=name, Qualifier=version)
        if cfg.get("State") != "Pending" or time.monotonic() > deadline:
            return cfg
        time.sleep(0.05)


class _Unavailable(Exception):
    """SnapStart cannot be measured on this server (the message says why)."""


def measure(srv: LambdadServer, name: str, samples: int) -> dict[str, Any]:
    """First invokes of `samples` freshly published SnapStart versions of one function."""
    lam = srv.client()
    try:
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                            Role=ROLE,
                            Code={"ZipFile": make_zip({"app.py": JSON_HANDLER})},
                            SnapStart={"ApplyOn": "PublishedVersions"})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    except (ClientError, BotoCoreError) as exc:
        raise _Unavailable(f"CreateFunction with SnapStart: {_error(exc)}") from exc
    applied = (lam.get_function_configuration(FunctionName=name).get("SnapStart") or {}).get("ApplyOn")
    if applied != "PublishedVersions":
        raise _Unavailable(f"SnapStart.ApplyOn came back as {applied!r}")

    totals: list[float] = []
    restores: list[float] = []
    inits: list[float] = []
    problems: list[str] = []
    deadline = time.monotonic() + BUDGET_S
    with RawClient("127.0.0.1", srv.port, timeout=30) as client:
        for i in range(samples + 1):  # the first sample starts the zygote: not kept
            if time.monotonic() > deadline:
                problems.append(f"stopped after {i} samples: {BUDGET_S:.0f} s budget spent")
                break
            try:
                srv.update_environment(name, {"BENCH_GENERATION": str(i)})
                version = lam.publish_version(FunctionName=name)["Version"]
                cfg = _wait_version(lam, name, version)
            except (ClientError, BotoCoreError) as exc:
                if i == 0:
                    raise _Unavailable(f"PublishVersion: {_error(exc)}") from exc
                problems.append(f"sample {i}: {_error(exc)}")
                continue
            status = (cfg.get("SnapStart") or {}).get("OptimizationStatus")
            if status != "On":
                raise _Unavailable(f"published version has SnapStart.OptimizationStatus {status!r}")
            raw = srv.sign_invoke(name, b'{"sample": %d}' % i, qualifier=version, log_tail=True).raw()
            try:
                ms, headers, body, code = timed_invoke(client, raw)
            except (OSError, HttpError) as exc:
                problems.append(f"sample {i}: {exc}")
                client.connect()
                continue
            if code != 200 or "x-amz-function-error" in headers:
                problems.append(f"sample {i}: status {code} {body[:160]!r}")
                continue
            if i == 0:
                continue
            totals.append(ms)
            restore, init = log_figure(headers, _RESTORE), log_figure(headers, _INIT)
            if restore is not None:
                restores.append(restore)
            elif init is not None:
                inits.append(init)
    return {"totals": totals, "restores": restores, "inits": inits, "problems": problems}


def _notes(result: dict[str, Any]) -> str:
    totals, restores, inits, problems = (result["totals"], result["restores"], result["inits"],
                                         result["problems"])
    notes = []
    if restores:
        notes.append(f"server-side Restore Duration p50 {percentile(restores, 50):.2f} ms")
    if inits:
        notes.append(f"{len(inits)} of {len(totals)} REPORT lines show Init Duration (p50 "
                     f"{percentile(inits, 50):.2f} ms) and no Restore Duration: those environments were "
                     "initialized, not restored from a snapshot, although the version reports "
                     "OptimizationStatus On")
    if problems:
        notes.append(f"{len(problems)} problems, first: {problems[0]}")
    return "; ".join(notes)


@scenario("snapstart", "cold start p50 of a SnapStart version (restore from an initialized template)")
def snapstart(ctx: Context) -> None:
    baseline = ctx.measured.get("cold.p50")
    # The default server keeps one fork of each template parked (forked, in its own cgroups, before any
    # user code): the figure the target is about. The second server forks on demand, which is what a
    # restore costs when a burst has taken the parked fork.
    for park in ("true", "false"):
        srv = ctx.server() if park == "true" else ctx.server(snapstart_park_fork="false")
        label = srv.sandbox_label()["short"]
        figure = FIGURE if park == "true" else f"{FIGURE}, forked on demand (no parked fork)"
        target = Target("<= 3 ms", max_value=3.0) if park == "true" else None
        try:
            result = measure(srv, f"bench-snapstart-{park}", ctx.options.snapstart_samples)
        except _Unavailable as exc:
            ctx.record(**{f"park_{park}": {"available": False, "reason": str(exc)}})
            ctx.add(f"{figure} [{label}]", "ms", None, baseline=baseline, baseline_label="cold start without",
                    target=target, note=f"not available on this server yet: {exc}")
            continue
        totals = result["totals"]
        ctx.record(**{f"park_{park}": {"available": True, "invoke_ms": summary(totals),
                                       "restore_duration_ms": summary(result["restores"]),
                                       "init_duration_ms": summary(result["inits"]),
                                       "problems": result["problems"]}})
        ctx.add(f"{figure} [{label}]", "ms", percentile(totals, 50) if totals else None, baseline=baseline,
                baseline_label="cold start without", target=target, note=_notes(result))
