"""Watching a function's folder for `lambdad deploy DIR --watch` (and `lambdad dev`).

Polling, not inotify: a scan of (path, mtime, size) every `interval` seconds costs little for a
function's folder, works on every filesystem (bind mounts, network shares, containers) and needs no
dependency. A change is acted on once the folder has been quiet for `settle` seconds, so an editor's
save (write a temp file, rename, touch a backup) or a `git checkout` gives one update, not five.
Editor temporaries, caches and VCS folders are neither watched nor deployed.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable
from pathlib import Path

# Directory names never descended into (nor zipped).
IGNORED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                          ".idea", ".vscode"})
# File names of editors' swap, backup and probe files, and compiled caches.
IGNORED_FILES = ("*.swp", "*.swo", "*.swx", "*~", ".#*", "#*#", "*.tmp", "4913", ".DS_Store", "*.pyc",
                 "*.pyo", ".*.kate-swp", "*___jb_tmp___", "*___jb_old___")

Snapshot = dict[str, tuple[int, int]]


def ignored(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in IGNORED_DIRS
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORED_FILES)


def skip_path(relative: str, is_dir: bool) -> bool:
    """For the zip: whether a path (relative to the folder) is left out."""
    parts = relative.rstrip("/").split("/")
    return any(ignored(part, True) for part in parts[:-1]) or ignored(parts[-1], is_dir)


def snapshot(root: Path) -> Snapshot:
    """Every watched file's (mtime_ns, size), by relative path."""
    found: Snapshot = {}

    def walk(directory: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(directory))
        except OSError:  # removed while scanning: the next scan sees what stays
            return
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not ignored(entry.name, True):
                        walk(entry.path, prefix + entry.name + "/")
                elif not ignored(entry.name, False):
                    st = entry.stat(follow_symlinks=False)
                    found[prefix + entry.name] = (st.st_mtime_ns, st.st_size)
            except OSError:
                continue

    walk(str(root), "")
    return found


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


class Watcher:
    """Yields the changed paths of each settled change of `root`."""

    def __init__(self, root: Path, *, interval: float = 0.3, settle: float = 0.2,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self.interval = interval
        self.settle = settle
        self.sleep = sleep
        self.clock = clock
        self.current = snapshot(root)

    def wait_for_change(self) -> list[str]:
        """Block until the folder changed and has been quiet for `settle` seconds; the paths changed."""
        while True:
            self.sleep(self.interval)
            latest = snapshot(self.root)
            if latest == self.current:
                continue
            quiet_since = self.clock()
            while self.clock() - quiet_since < self.settle:  # debounce: wait for the writes to stop
                self.sleep(min(self.interval, self.settle) / 2)
                again = snapshot(self.root)
                if again != latest:
                    latest, quiet_since = again, self.clock()
            paths = changed_paths(self.current, latest)
            self.current = latest
            if paths:
                return paths
