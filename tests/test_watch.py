"""Hot reload: `lambdad dev DIR ...` (deploy --watch) updates the function as its files change."""

from __future__ import annotations

import io
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lambdad import watch
from tests.conftest import ROLE, Server, unique
from tests.test_cli import client_env

HANDLER = "def handler(event, context):\n    return {{'version': {v}}}\n"


def test_ignored_names() -> None:
    for name in (".app.py.swp", "app.py~", ".#app.py", "#app.py#", "4913", "x.pyc", ".DS_Store"):
        assert watch.ignored(name, False), name
    for name in ("app.py", "index.mjs", "bootstrap", "requirements.txt", ".env"):
        assert not watch.ignored(name, False), name
    assert watch.ignored("__pycache__", True) and watch.ignored(".git", True) and not watch.ignored("lib", True)
    assert watch.skip_path("lib/__pycache__/x.cpython-312.pyc", False) and not watch.skip_path("lib/x.py", False)


def test_watcher_settles_bursts_and_ignores_temporaries(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("v1")
    now = [0.0]
    script: list[Callable[[], Any]] = []

    def sleep(seconds: float) -> None:  # the clock moves only when the watcher waits; edits happen then
        now[0] += seconds
        if script:
            script.pop(0)()

    watcher = watch.Watcher(tmp_path, interval=0.3, settle=0.2, sleep=sleep, clock=lambda: now[0])
    script.extend([
        lambda: (tmp_path / ".app.py.swp").write_text("swap"),  # the editor's swap file: nothing to do
        lambda: (tmp_path / "__pycache__").mkdir(),
        lambda: (tmp_path / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"\0" * 10),
        lambda: (tmp_path / "app.py").write_text("v2 is being written"),  # the save begins...
        lambda: (tmp_path / "app.py").write_text("v2 is being written, and done"),  # ...and goes on
    ])
    assert watcher.wait_for_change() == ["app.py"]  # one change for the whole burst
    assert not script, "the watcher returned before the writes settled"
    settled_at = now[0]
    assert watcher.current["app.py"][1] == len("v2 is being written, and done")

    script.extend([lambda: (tmp_path / "lib").mkdir(), lambda: (tmp_path / "lib" / "util.py").write_text("x")])
    assert watcher.wait_for_change() == ["lib/util.py"]
    script.append(lambda: (tmp_path / "app.py").unlink())
    assert watcher.wait_for_change() == ["app.py"]
    assert now[0] - settled_at < 5  # polls of 0.3 s and a settle of 0.2 s: no long waits


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _next_line(lines: queue.Queue[str], containing: str, deadline: float, seen: list[str]) -> str:
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no line with {containing!r} in:\n{''.join(seen)}"
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        seen.append(line)
        if containing in line:
            return line


def test_lambdad_dev_updates_the_function_on_save(server: Server, tmp_path: Path) -> None:
    name = unique("dev")
    src = tmp_path / "fn"
    src.mkdir()
    (src / "app.py").write_text(HANDLER.format(v=1))
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"stale")
    lam = server.client("lambda")
    proc = subprocess.Popen([sys.executable, "-m", "lambdad", "dev", str(src), "--name", name, "--handler",
                             "app.handler", "--role", ROLE, "--endpoint-url", server.endpoint],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=client_env(),
                            # as from a terminal: a suite started in the background (`.ci/run &`) ignores
                            # SIGINT, and an ignored signal stays ignored across exec
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        _next_line(lines, "watching", time.monotonic() + 60, seen)
        assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == {"version": 1}

        (src / ".app.py.swp").write_text("vim's swap")
        (src / "app.py").write_text(HANDLER.format(v=2))
        saved = time.monotonic()
        deadline = saved + 15  # a poll of 0.3 s, a settle of 0.2 s, the upload: well under this
        while json.loads(lam.invoke(FunctionName=name)["Payload"].read()) != {"version": 2}:
            assert time.monotonic() < deadline, "".join(seen)
            time.sleep(0.1)
        answering = time.monotonic() - saved
        updated = _next_line(lines, "changed", deadline, seen)
        print(f"save to the new code answering: {answering:.2f} s; {updated.strip()}")
        assert "app.py changed" in updated and ".swp" not in updated and "updated in" in updated, updated

        location = lam.get_function(FunctionName=name)["Code"]["Location"]
        names = zipfile.ZipFile(io.BytesIO(httpx.get(location, timeout=30).content)).namelist()
        assert names == ["app.py"], names  # neither the swap file nor __pycache__ was uploaded

        # an edit that breaks nothing of the watcher: a second save is a second update
        (src / "app.py").write_text(HANDLER.format(v=3))
        deadline = time.monotonic() + 15
        while json.loads(lam.invoke(FunctionName=name)["Payload"].read()) != {"version": 3}:
            assert time.monotonic() < deadline, "".join(seen)
            time.sleep(0.1)
        # Ctrl-C once the watcher is idle again (its update and waiter done), as a user presses it
        _next_line(lines, "changed", deadline, seen)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
