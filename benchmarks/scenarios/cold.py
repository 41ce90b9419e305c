"""Cold start through the Invoke API, sandbox on and off, vs fresh interpreters of the same Python.

A new environment is forced by UpdateFunctionConfiguration (a changed environment variable retires
the function's warm environments, as on AWS); the invoke after it is timed end to end over a raw
keep-alive socket with a request signed before the clock starts. Each invoke asks for the log tail
so the REPORT line's `Init Duration` proves the environment was new.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time

from benchmarks.context import Context
from benchmarks.httpclient import HttpError, RawClient
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import JSON_HANDLER
from benchmarks.server import LambdadServer
from benchmarks.stats import percentile, summary

SETTLE_S = 0.05  # after the update: let the retired environment go before the next one is timed
BUDGET_S = 90.0  # per variant; a hung cold start (10 s init timeout) must not eat the run
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")
_RESTORE = re.compile(r"Restore Duration: ([\d.]+) ms")


def spawn_ms(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, check=True, timeout=30)
    return (time.perf_counter() - started) * 1000


def fresh_interpreter_baselines(ctx: Context) -> dict[str, list[float]]:
    """`python -c pass` and `python -c "import json"` of the interpreter lambdad's zygote runs, interleaved."""
    def measure() -> dict[str, list[float]]:
        python = ctx.interpreter()
        out: dict[str, list[float]] = {"pass": [], "import json": []}
        spawn_ms([python, "-c", "pass"])  # page cache
        for _ in range(ctx.options.baseline_samples):
            out["pass"].append(spawn_ms([python, "-c", "pass"]))
            out["import json"].append(spawn_ms([python, "-c", "import json"]))
        return out
    return ctx.memo("fresh-interpreters", measure)


def log_figure(response_headers: dict[str, str], pattern: re.Pattern[str]) -> float | None:
    tail = response_headers.get("x-amz-log-result")
    if not tail:
        return None
    match = pattern.search(base64.b64decode(tail).decode(errors="replace"))
    return float(match.group(1)) if match else None


def timed_invoke(client: RawClient, raw: bytes) -> tuple[float, dict[str, str], bytes, int]:
    started = time.perf_counter()
    response = client.request(raw)
    return (time.perf_counter() - started) * 1000, response.headers, response.body, response.status


def measure_cold(srv: LambdadServer, name: str, samples: int) -> dict[str, object]:
    """`samples` cold invokes of `name`, each after a configuration change."""
    totals: list[float] = []
    inits: list[float] = []
    problems: list[str] = []
    deadline = time.monotonic() + BUDGET_S
    srv.client().invoke(FunctionName=name, Payload=b"{}")  # the zygote is started, not timed
    with RawClient("127.0.0.1", srv.port, timeout=30) as client:
        for i in range(samples):
            if time.monotonic() > deadline:
                problems.append(f"stopped after {i} samples: {BUDGET_S:.0f} s budget spent")
                break
            srv.update_environment(name, {"BENCH_GENERATION": str(i)})
            time.sleep(SETTLE_S)
            raw = srv.sign_invoke(name, b'{"sample": %d}' % i, log_tail=True).raw()
            try:
                ms, headers, body, status = timed_invoke(client, raw)
            except (OSError, HttpError) as exc:
                problems.append(f"sample {i}: {exc}")
                client.connect()
                continue
            if status != 200 or "x-amz-function-error" in headers:
                problems.append(f"sample {i}: status {status} {headers.get('x-amz-function-error', '')} "
                                f"{body[:160]!r} after {ms:.0f} ms")
                continue
            init = log_figure(headers, _INIT)
            if init is None:
                problems.append(f"sample {i}: no Init Duration in REPORT (a warm environment was reused)")
                continue
            totals.append(ms)
            inits.append(init)
    return {"totals": totals, "inits": inits, "problems": problems}


@scenario("cold", "cold start p50/p99 through the Invoke API, sandbox on and off, vs fresh interpreters")
def cold(ctx: Context) -> None:
    base = fresh_interpreter_baselines(ctx)
    pass50, json50, json99 = (percentile(base["pass"], 50), percentile(base["import json"], 50),
                              percentile(base["import json"], 99))
    ctx.record(interpreter=ctx.interpreter(), python_c_pass_ms=summary(base["pass"]),
               python_c_import_json_ms=summary(base["import json"]))
    for sandbox in ("true", "false"):
        srv = ctx.server() if sandbox == "true" else ctx.server(sandbox="false")
        label = srv.sandbox_label()
        name = srv.create_function(f"bench-cold-{sandbox}", {"app.py": JSON_HANDLER})
        result = measure_cold(srv, name, ctx.options.cold_samples)
        totals, inits, problems = result["totals"], result["inits"], result["problems"]
        assert isinstance(totals, list) and isinstance(inits, list) and isinstance(problems, list)
        ctx.record(**{f"sandbox_{sandbox}": {"label": label, "invoke_ms": summary(totals),
                                             "init_duration_ms": summary(inits), "problems": problems}})
        tag = label["short"]
        notes = []
        if inits:
            notes.append(f"server-side Init Duration p50 {percentile(inits, 50):.2f} ms")
        if problems:
            notes.append(f"{len(problems)} of {ctx.options.cold_samples} samples failed, first: {problems[0]}")
        p50 = percentile(totals, 50) if totals else None
        if sandbox == "true" and p50 is not None:
            ctx.measured["cold.p50"] = p50
        ctx.add(f"cold start p50 [{tag}]", "ms", p50, baseline=pass50, baseline_label="python -c pass",
                target=Target("<= 5 ms, <= 0.75x", max_value=5.0, max_ratio=0.75), note="; ".join(notes))
        ctx.add(f"cold start p50 [{tag}]", "ms", p50, baseline=json50, baseline_label='python -c "import json"')
        ctx.add(f"cold start p99 [{tag}]", "ms", percentile(totals, 99) if totals else None, baseline=json99,
                baseline_label='python -c "import json"')
