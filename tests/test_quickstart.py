"""The README's quick start, run as printed: a clean clone of HEAD, its server started as `./dev serve`
starts it, every snippet run from another directory with nothing exported but PATH (as the README says).

The clone reuses this venv instead of installing (a real `./dev serve` would download): its `.venv/bin`
holds `lambdad` (this interpreter on the clone's src/) and `aws` (this venv's). The snippets come from
README.md's "Quick start" section, so the test fails when README and behaviour drift. Only the port is
changed (another server may hold 8900). Commit first: the clone is of HEAD, not the working tree.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[1]


def quick_start(readme: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block of the Quick start section."""
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w*)\n(.*?)^```$", section, re.M | re.S)


def commands(block: str) -> list[tuple[str, list[str]]]:
    """Each command of a shell block with the outputs its `# -> ...` lines promise (a text, up to `...`)."""
    found: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("# -> "):
            found[-1][1].append(line[len("# -> "):].split("...", 1)[0])
        elif line.strip() and not line.startswith("#"):
            found.append((line, []))
    return found


def expected(block: str) -> list[str]:
    return [line[len("# -> "):].split("...", 1)[0] for line in block.splitlines() if line.startswith("# -> ")]


def test_readme_quick_start_in_a_clean_clone(tmp_path: Path) -> None:
    clone, home, elsewhere = tmp_path / "lambdad", tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=60)
    bin_dir = clone / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "lambdad").write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(clone / 'src'))} "
                                     f"exec {shlex.quote(sys.executable)} -m lambdad \"$@\"\n")
    (bin_dir / "lambdad").chmod(0o755)
    (bin_dir / "aws").symlink_to(Path(sys.executable).parent / "aws")
    (bin_dir / "python").symlink_to(sys.executable)
    # What the user's shell has: no AWS_*/LAMBDAD_* settings, a fresh home, the venv on PATH (the README's step).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LAMBDAD_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    blocks = quick_start((clone / "README.md").read_text())

    # ./dev serve: after its install, it runs `.venv/bin/lambdad serve <args> "$@"` from the repository
    setup = blocks[0][1]
    assert setup.startswith("./dev serve"), setup
    serve_args = shlex.split(re.search(r'/lambdad" serve (.*) "\$@"', (clone / "dev").read_text()).group(1))
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(bin_dir / "lambdad"), "serve", *serve_args, "--port", str(port)],
                                cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "health:" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/_lambdad/health", timeout=5).json()["status"] == "ok"
        shown = log_path.read_text()

        def as_run(text: str) -> str:
            return text.replace("127.0.0.1:8900", f"127.0.0.1:{port}")

        # The start log the README shows: the same lines (paths and the runtime are the host's)
        banner = next(text for lang, text in blocks if text.startswith("lambdad "))
        for line in banner.splitlines():
            label = line.split(":", 1)[0] + ":"
            real = next((got for got in shown.splitlines() if got.startswith(label)), None)
            assert real is not None, f"the start log has no {label!r} line:\n{shown}"
            if label.strip() in ("try:", "health:"):
                assert real == as_run(line), shown
        assert f"{clone}/.lambdad" in shown and f"{home}/.aws/config" in shown, shown

        checked = 0
        for lang, text in blocks[1:]:
            if lang == "sh":
                for command, outputs in commands(text):
                    done = subprocess.run(["bash", "-c", as_run(command)], cwd=elsewhere, env=env,
                                          capture_output=True, text=True, timeout=60)
                    assert done.returncode == 0, (command, done.stdout, done.stderr)
                    for out in outputs:
                        assert out in done.stdout, (command, out, done.stdout)
                    checked += 1
            elif lang == "python":
                done = subprocess.run([sys.executable, "-c", as_run(text)], cwd=elsewhere, env=env,
                                      capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, (text, done.stderr)
                for out in expected(text):
                    assert out in done.stdout, (out, done.stdout)
                checked += 1
        assert checked >= 5, "the quick start lost its snippets"
    finally:
        proc.terminate()
        proc.wait(15)
