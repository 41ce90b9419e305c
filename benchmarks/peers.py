"""The peers that run here without Docker, installed on demand into benchmarks/.peers (gitignored).

- python-lambda-local (PyPI): a new process per invoke. Installed into its own venv made from the same
  interpreter lambdad runs python3.12 functions with; needs setuptools < 81 for pkg_resources.
- serverless-offline (npm) v14 with serverless v3 (`--legacy-peer-deps`; serverless v4 downloads its
  binary at run time, which cannot work offline). It keeps one Python worker per function and answers
  the Lambda Invoke API on its lambda port (3002 by default; a free port here).

Every failure to install or start raises PeerUnavailable with the reason, for the table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks import procs

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
PLL_SPEC = ("python-lambda-local==0.1.13", "setuptools<81")
SLS_SPEC = ("serverless@3", "serverless-offline@14")


class PeerUnavailable(Exception):
    """A peer cannot be installed or run on this machine; str() says why."""


def _run(argv: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"{' '.join(argv[:3])} failed: {exc}") from exc
    if out.returncode != 0:
        raise PeerUnavailable(f"{' '.join(argv[:4])} exited {out.returncode}: {(out.stderr or out.stdout)[-400:]}")
    return out


def _installed(marker: Path, spec: tuple[str, ...]) -> bool:
    return marker.exists() and marker.read_text() == json.dumps(spec)


# -- python-lambda-local ------------------------------------------------------------------------------
def python_lambda_local(python: str) -> Path:
    """The python-lambda-local command in its venv (made with `python`), installing it once."""
    venv = PEERS_DIR / "python-lambda-local"
    cli = venv / "bin" / "python-lambda-local"
    marker = venv / ".installed"
    if _installed(marker, PLL_SPEC) and cli.exists():
        return cli
    shutil.rmtree(venv, ignore_errors=True)
    _run([python, "-m", "venv", str(venv)], 120)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PLL_SPEC], 300)
    if not cli.exists():
        raise PeerUnavailable("python-lambda-local installed no command")
    marker.write_text(json.dumps(PLL_SPEC))
    return cli


def python_lambda_local_invoke(cli: Path, project: Path, event: Path) -> float:
    """One invoke (a new process, as python-lambda-local always does); milliseconds."""
    started = time.perf_counter()
    out = subprocess.run([str(cli), "-f", "handler", "-t", "10", "app.py", str(event)], cwd=project,
                         capture_output=True, text=True, timeout=60)
    ms = (time.perf_counter() - started) * 1000
    if out.returncode != 0:
        raise PeerUnavailable(f"python-lambda-local exited {out.returncode}: {out.stderr[-300:]}")
    return ms


# -- serverless-offline -----------------------------------------------------------------------------
def serverless_offline() -> Path:
    """The npm project dir holding serverless v3 + serverless-offline v14, installing them once."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise PeerUnavailable("node and npm are not installed")
    home = PEERS_DIR / "serverless-offline"
    marker = home / ".installed"
    if _installed(marker, SLS_SPEC) and (home / "node_modules" / "serverless-offline").is_dir():
        return home
    home.mkdir(parents=True, exist_ok=True)
    (home / "package.json").write_text(json.dumps({"name": "lambdad-bench-peers", "private": True}))
    _run([npm, "install", "--no-audit", "--no-fund", "--legacy-peer-deps", "--loglevel=error", *SLS_SPEC], 600,
         cwd=home)
    marker.write_text(json.dumps(SLS_SPEC))
    return home


class ServerlessOffline:
    """`serverless offline start` for a service of `functions` (name -> handler file content).

    Its Python workers run `python3` from PATH; a directory whose python3 is `python` goes first, so
    it runs the interpreter lambdad runs (and not, say, a pyenv shim).
    """

    service = "lambdadbench"

    def __init__(self, home: Path, workdir: Path, python: str, functions: list[str], handler_code: str,
                 http_events: bool = False) -> None:
        self.home = home
        self.http_events = http_events  # each function also at GET /<fn> of its HTTP API port (httpApi event)
        self.project = home / "service"  # under home: plugins resolve from its node_modules
        self.python = python
        self.functions = functions
        self.handler_code = handler_code
        self.lambda_port = procs.free_port()
        self.http_port = procs.free_port()
        self.log_path = workdir / f"serverless-offline-{self.lambda_port}.log"
        self.bin_dir = workdir / "peer-bin"
        self.proc: subprocess.Popen[bytes] | None = None

    def function_name(self, fn: str) -> str:
        return f"{self.service}-dev-{fn}"

    def invoke_path(self, fn: str) -> str:
        return f"/2015-03-31/functions/{self.function_name(fn)}/invocations"

    def start(self, timeout: float = 90.0) -> ServerlessOffline:
        shutil.rmtree(self.project, ignore_errors=True)
        self.project.mkdir(parents=True)
        (self.project / "app.py").write_text(self.handler_code)
        events = ("\n    events:\n      - httpApi:\n          path: /{fn}\n          method: get"
                  if self.http_events else "")
        fns = "\n".join(f"  {fn}:\n    handler: app.handler" + events.replace("{fn}", fn) for fn in self.functions)
        (self.project / "serverless.yml").write_text(
            f"service: {self.service}\nframeworkVersion: '3'\nconfigValidationMode: off\n"
            f"provider:\n  name: aws\n  runtime: python3.12\n  region: us-east-1\n"
            f"plugins:\n  - serverless-offline\nfunctions:\n{fns}\n")
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        link = self.bin_dir / "python3"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(self.python)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDAD_", "VIRTUAL_ENV"))}
        env.update({"PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
                    "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*",
                    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["node", str(self.home / "node_modules" / "serverless" / "bin" / "serverless.js"), "offline", "start",
             "--host", "127.0.0.1", "--httpPort", str(self.http_port), "--lambdaPort", str(self.lambda_port),
             "--noPrependStageInUrl"],
            cwd=self.project, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        ok = procs.wait_until(lambda: procs.port_open(self.lambda_port) or self.proc.poll() is not None, timeout, 0.1)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise PeerUnavailable(f"serverless offline did not start: {self.log_tail()}")
        return self

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-600:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop_process(self.proc, timeout=10.0, group=True)  # node and its python workers
            self.proc = None

    def __enter__(self) -> ServerlessOffline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
