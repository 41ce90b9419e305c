"""What every scenario gets: the options, shared servers, the echo baseline, the load generator, and
the place to put rows and raw data. Everything started here is stopped by `close()`."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import procs
from benchmarks.loadgen import LoadGenerator
from benchmarks.report import Row
from benchmarks.server import REPO, LambdadServer, ServerError, child_env

T = TypeVar("T")


@dataclass(slots=True)
class Options:
    quick: bool = False
    warm_requests: int = 5000  # per target, after warm-up
    load_seconds: int = 5  # per throughput measurement
    concurrencies: tuple[int, ...] = (1, 8, 64)
    cold_samples: int = 40
    baseline_samples: int = 30  # fresh interpreter starts
    snapstart_samples: int = 20
    env_counts: tuple[int, ...] = (100, 1000)
    peer_cold_samples: int = 10
    peers: bool = True
    load_generator: str = "auto"  # auto | wrk | asyncio

    @classmethod
    def quick_defaults(cls) -> Options:
        return cls(quick=True, warm_requests=300, load_seconds=1, concurrencies=(8,), cold_samples=4,
                   baseline_samples=4, snapstart_samples=2, env_counts=(10,), peer_cold_samples=2, peers=False)


@dataclass
class Context:
    options: Options
    workdir: Path
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: figures later scenarios compare with, e.g. "warm.p50" (ms); set by the scenario that measured them
    measured: dict[str, float] = field(default_factory=dict)
    #: what the run ran on: sandbox state per server, load generator, interpreters
    labels: dict[str, Any] = field(default_factory=dict)
    scenario: str = ""
    _servers: dict[tuple[tuple[str, str], ...], LambdadServer] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict)
    _echo: tuple[subprocess.Popen[bytes], int] | None = None
    _loadgen: LoadGenerator | None = None

    # -- results ----------------------------------------------------------------------------------
    def add(self, figure: str, unit: str, value: float | None, **kwargs: Any) -> Row:
        row = Row(self.scenario, figure, unit, value, **kwargs)
        self.rows.append(row)
        return row

    def record(self, **data: Any) -> None:
        """Raw figures of the current scenario for the JSON (samples summaries, settings, errors)."""
        self.raw.setdefault(self.scenario, {}).update(data)

    def memo(self, key: str, factory: Callable[[], T]) -> T:
        """Something built once per run and shared by scenarios (a deployed function, a measured baseline)."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    # -- servers ------------------------------------------------------------------------------------
    def server(self, **settings: str) -> LambdadServer:
        """A started lambdad shared by scenarios asking for the same settings (LAMBDAD_* names, lower case)."""
        key = tuple(sorted(settings.items()))
        srv = self._servers.get(key)
        if srv is None or srv.proc is None or srv.proc.poll() is not None:
            srv = LambdadServer(self.workdir, settings).start()
            self._servers[key] = srv
            self.labels.setdefault("servers", {})[_key_text(key)] = srv.sandbox_label()
        return srv

    @contextlib.contextmanager
    def own_server(self, **settings: str) -> Iterator[LambdadServer]:
        """A lambdad for one measurement only (e.g. 1,000 environments), stopped afterwards."""
        srv = LambdadServer(self.workdir, settings).start()
        try:
            self.labels.setdefault("servers", {})[_key_text(tuple(sorted(settings.items())))] = srv.sandbox_label()
            yield srv
        finally:
            srv.stop()

    def echo_port(self) -> int:
        """The bare ASGI echo app (own process), started on first use."""
        if self._echo is None or self._echo[0].poll() is not None:
            port = procs.free_port()
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.echo_app", "--port", str(port)],
                                    cwd=REPO, env=child_env(), stdin=subprocess.DEVNULL)
            if not procs.wait_until(lambda: procs.port_open(port) or proc.poll() is not None, 30):
                procs.stop_process(proc)
                raise ServerError("the echo app did not start")
            if proc.poll() is not None:
                raise ServerError(f"the echo app exited with {proc.returncode}")
            self._echo = (proc, port)
        return self._echo[1]

    def echo_pid(self) -> int:
        self.echo_port()
        assert self._echo is not None
        return self._echo[0].pid

    @property
    def loadgen(self) -> LoadGenerator:
        if self._loadgen is None:
            # --quick never installs anything: it uses wrk when present, else the asyncio generator
            self._loadgen = LoadGenerator(self.workdir, self.options.load_generator, install=not self.options.quick)
            self.labels["load_generator"] = self._loadgen.name
        return self._loadgen

    def interpreter(self) -> str:
        """The real interpreter lambdad's python3.12 zygote runs (after it has run one function)."""
        return self.memo("interpreter", lambda: _zygote_interpreter(self))

    def close(self) -> None:
        for srv in self._servers.values():
            srv.stop()
        self._servers.clear()
        if self._echo is not None:
            procs.stop_process(self._echo[0])
            self._echo = None


def _key_text(key: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{k}={v}" for k, v in key) or "defaults"


def _zygote_interpreter(ctx: Context) -> str:
    srv = ctx.server()
    name = ctx.memo("probe-function", lambda: srv.create_function(
        "bench-probe", {"app.py": "def handler(event, context):\n    return 1\n"}))
    srv.client().invoke(FunctionName=name, Payload=b"{}")
    path = srv.interpreter()
    if not path:
        raise ServerError("could not find lambdad's Python zygote process")
    ctx.labels["interpreter"] = path
    return path
