"""The /opt an environment sees: its function's layers merged in order, later layers winning.

Built once per ordered combination of layers, never per environment: the merged tree is made of
hard links to the layers' own extracted trees (content-addressed, shared read-only), so it costs
one directory walk and no file data. A function with a single layer uses that layer's tree as is.
Trees are keyed by the layer digests, so they survive restarts and are shared between functions.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from lambdad.store import BlobStore

log = logging.getLogger("lambdad.opt")


def _remove(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def _overlay(src: str, dst: str) -> None:
    """Lay the tree at src over dst (what unzipping the layers into /opt in order would give)."""
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            _remove(target)
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir(follow_symlinks=False):
            if os.path.lexists(target) and (os.path.islink(target) or not os.path.isdir(target)):
                _remove(target)
            os.makedirs(target, mode=0o755, exist_ok=True)
            _overlay(entry.path, target)
        else:
            _remove(target)
            try:
                os.link(entry.path, target)
            except OSError:  # another filesystem, or links refused: a copy is still correct
                shutil.copy2(entry.path, target)


class OptTrees:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.root = blobs.root / "opt"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._paths: dict[tuple[str, ...], str] = {}
        self._building: dict[tuple[str, ...], Future[str]] = {}
        # One builder thread: a big merge (thousands of links) must not stall the event loop.
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opt-builder")

    def prepare(self, digests: tuple[str, ...]) -> None:
        """Start building the merged tree in the background (when a function is configured)."""
        if digests in self._paths or digests in self._building:
            return
        future = self._builder.submit(self._path, digests)
        self._building[digests] = future
        future.add_done_callback(lambda f: self._done(digests, f))

    def _done(self, digests: tuple[str, ...], future: Future[str]) -> None:
        self._building.pop(digests, None)
        if future.exception() is not None:
            log.warning("could not prepare /opt: %s", future.exception())

    def path(self, digests: tuple[str, ...]) -> str:
        """The merged tree for these layer digests (in order), building it now if it is not there."""
        hit = self._paths.get(digests)
        if hit is not None and os.path.isdir(hit):
            return hit
        pending = self._building.get(digests)
        if pending is not None:
            try:
                return pending.result()
            except OSError:
                pass  # try again below
        return self._path(digests)

    def _path(self, digests: tuple[str, ...]) -> str:
        path = str(self.blobs.tree(digests[0])) if len(digests) == 1 else self._build(digests)
        self._paths[digests] = path
        return path

    def _build(self, digests: tuple[str, ...]) -> str:
        key = hashlib.sha256("\n".join(digests).encode()).hexdigest()
        dest = self.root / key
        if dest.is_dir():
            return str(dest)
        trees = [str(self.blobs.tree(d)) for d in digests]
        staging = tempfile.mkdtemp(prefix=f".{key}.staging-", dir=self.root)
        try:
            for tree in trees:
                _overlay(tree, staging)
            os.chmod(staging, 0o755)
            try:
                os.rename(staging, dest)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                shutil.rmtree(staging, ignore_errors=True)  # someone else built it first
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.debug("built /opt for %d layers at %s", len(digests), dest)
        return str(dest)


def tree_size(path: Path | str) -> int:
    """Bytes of regular files (and symlink targets) under path, as the unzipped-size limit counts them."""
    total = 0
    stack = [str(path)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_symlink():
                    total += len(os.readlink(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
    return total
