"""Which local interpreter runs each runtime identifier."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def _real(path: str | None) -> str | None:
    if not path:
        return None
    real = os.path.realpath(path)
    # pyenv shims are shell scripts that cost tens of ms per start; never fork from one.
    if "/shims/" in real or not os.access(real, os.X_OK):
        return None
    return real


def _pyenv_candidates(minor: str) -> list[str]:
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{minor}.*/bin/python{minor}"), reverse=True)
    return [p for p in found if os.access(p, os.X_OK)]


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        runtime, _, path = pair.partition("=")
        out[runtime.strip()] = path.strip()
    return out


class Interpreters:
    def __init__(self, overrides: str = "", node: str = "node") -> None:
        self.overrides = _pairs(overrides)
        # node_binary: one executable for every nodejs runtime, or runtime=path pairs
        self.node_overrides = _pairs(node) if "=" in node else {}
        self.node_default = "" if "=" in node else node
        self._cache: dict[str, tuple[str, bool]] = {}
        self._versions: dict[str, str] = {}
        self._node_versions: dict[str, str] = {}

    def python(self, runtime: str) -> tuple[str, bool]:
        """(interpreter path, exact) for a pythonX.Y runtime; exact is False when its minor version differs."""
        hit = self._cache.get(runtime)
        if hit:
            return hit
        minor = runtime.removeprefix("python")
        path: str | None = self.overrides.get(runtime)
        if not path:
            for candidate in (shutil.which(f"python{minor}"), *_pyenv_candidates(minor)):
                path = _real(candidate)
                if path:
                    break
        if not path:
            path = server_python()
        self._cache[runtime] = (path, self.version(path) == minor)
        return self._cache[runtime]

    def version(self, path: str) -> str:
        """The "X.Y" of an interpreter: from its file name when it says, else by asking it once."""
        found = self._versions.get(path)
        if found is None:
            m = re.fullmatch(r"python(\d+\.\d+)", os.path.basename(os.path.realpath(path)))
            if m:
                found = m.group(1)
            else:
                try:
                    found = subprocess.run(
                        [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                        text=True, timeout=30, check=False).stdout.strip()
                except (OSError, subprocess.SubprocessError):
                    found = ""
            self._versions[path] = found
        return found

    def resolve(self, runtime: str) -> str | None:
        """What runs `runtime` on this host, or None when nothing does: the operator's mapping
        (python_interpreters / node_binary pairs), else an interpreter of exactly the runtime's version.
        Never another version silently: that is for the operator to choose."""
        if runtime.startswith("python"):
            if self.overrides.get(runtime):
                return _real(shutil.which(self.overrides[runtime]) or self.overrides[runtime])
            path, exact = self.python(runtime)
            return path if exact else None
        if runtime.startswith("nodejs"):
            path, version = self.node(runtime)
            if not path:
                return None
            if runtime in self.node_overrides:
                return path
            return path if version.split(".")[0] == runtime.removeprefix("nodejs").split(".")[0] else None
        if runtime.startswith("provided"):
            return "the function's own bootstrap executable"
        return None

    def note(self, runtime: str) -> str | None:
        """What a function's log says when its runtime runs on an interpreter of another minor version."""
        path, exact = self.python(runtime)
        if exact:
            return None
        return (f"lambdad: no local interpreter for {runtime}; running it on Python "
                f"{self.version(path) or 'unknown'} ({path})")


    def node(self, runtime: str) -> tuple[str, str]:
        """(node executable, its version like '20.11.1') for a nodejsNN.x runtime; ('', '') if none."""
        path = self.node_overrides.get(runtime) or self.node_default or "node"
        found = shutil.which(path)
        real = os.path.realpath(found) if found else ""
        if not real:
            return "", ""
        version = self._node_versions.get(real)
        if version is None:
            # Once per executable and server lifetime, for the "running nodejsNN.x on Node MM" note.
            try:
                out = subprocess.run([real, "--version"], capture_output=True, timeout=10, check=True).stdout
                version = out.decode().strip().lstrip("v")
            except (OSError, subprocess.SubprocessError):
                version = ""
            self._node_versions[real] = version
        return real, version


def server_python() -> str:
    """The real interpreter running the server (resolving venv and pyenv indirections)."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if base.exists():
        return str(base)
    return os.path.realpath(sys.executable)
