"""AWS's Node.js runtime interface client (aws-lambda-ric), built once per version into a cache that
outlives the clone.

`npm install aws-lambda-ric` compiles curl and aws-lambda-cpp from source (~35 s of two cores idle,
minutes on a loaded host). Built under `~/.cache/lambdad-tests/aws-lambda-ric-<version>/` (or
$LAMBDAD_TEST_CACHE, else $XDG_CACHE_HOME), a clean clone builds it once and reruns never; and
`tests/conftest.py` starts the build in the background when the session collects a test that needs
it, so it overlaps the files before that test instead of sitting on the critical path. A file lock
makes concurrent sessions and xdist workers build it once between them; the build goes to a temp
dir renamed into place, so an interrupted build leaves nothing half made.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

VERSION = "4.0.2"
PACKAGE = f"aws-lambda-ric@{VERSION}"
_CHECK = "rapid-client.node"  # the native part: its presence means the build finished


def cache_root() -> Path:
    if os.environ.get("LAMBDAD_TEST_CACHE"):
        return Path(os.environ["LAMBDAD_TEST_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambdad-tests"


def package_dir() -> Path:
    return cache_root() / f"aws-lambda-ric-{VERSION}" / "node_modules" / "aws-lambda-ric"


def available() -> bool:
    return bool(shutil.which("npm") and shutil.which("node"))


def build() -> str | None:
    """Make sure the package is built; None when it is, else why it could not be."""
    if (package_dir() / _CHECK).exists():
        return None
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"aws-lambda-ric-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session or worker may be building it right now
        if (package_dir() / _CHECK).exists():
            return None
        for stale in root.glob(f"aws-lambda-ric-{VERSION}-*"):  # of a session stopped mid-build
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f"aws-lambda-ric-{VERSION}-", dir=root))
        try:
            # niced: the build runs beside the first tests, some of which bound the server's latency
            nice = ["nice", "-n", "19"] if shutil.which("nice") else []
            proc = subprocess.run(
                [*nice, "npm", "install", "--no-audit", "--no-fund", "--prefix", str(work), PACKAGE],
                capture_output=True, text=True, timeout=900,
                env={**os.environ, "npm_config_update_notifier": "false"})
            if proc.returncode != 0 or not (work / "node_modules" / "aws-lambda-ric" / _CHECK).exists():
                return f"npm install {PACKAGE} failed here: {proc.stderr[-1500:]}"
            final = package_dir().parent.parent
            shutil.rmtree(final, ignore_errors=True)  # a build from before this lock existed
            work.rename(final)
            return None
        except (OSError, subprocess.SubprocessError) as exc:
            return f"npm install {PACKAGE} failed here: {exc}"
        finally:
            shutil.rmtree(work, ignore_errors=True)


class _Background:
    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.error: str | None = None

    def start(self) -> None:
        if self.thread is None and available() and not (package_dir() / _CHECK).exists():
            self.thread = threading.Thread(target=self._run, name="aws-lambda-ric build", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        self.error = build()

    def result(self) -> str | None:
        """Wait for the background build if one runs, else build here; None when the package is there."""
        if self.thread is not None:
            self.thread.join()
            return self.error
        return build()


background = _Background()
