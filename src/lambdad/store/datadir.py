"""The data dir: one server at a time, private to the server's uid, with disk space kept in reserve.

- **One server**: `serve` holds an exclusive `flock` on `DATA_DIR/lambdad.lock` for its lifetime; a
  second server on the same directory would run every pending event twice, so it is refused.
- **Private**: the directory is 0700, the files lambdad writes 0600 and its directories 0700 (also an
  existing data dir's, fixed at start). The unpacked code trees (`code/trees/<digest>`, `code/opt/...`)
  keep their 0644/0755 modes: environments run as other uids and read them through a bind mount the
  root zygote made (a bind needs no path to be traversable, so the 0700 above still keeps every other
  local user out). Environments' scratch (`sandbox/`, `tmp/`) is the sandbox's to shape.
- **Reserve**: `DATA_DIR/reserve` holds `disk_reserve_bytes` of preallocated space. SQLite needs free
  space even to delete (a commit appends to the WAL before the database shrinks), so when the disk is
  nearly full the store releases the reserve, and DeleteFunction and friends keep working: the API can
  still free space. It is taken again once there is room. A server that cannot secure it at start says
  so in one line instead of failing later.
- **Node id**: `DATA_DIR/node-id` names this server among the nodes that may share a database: it owns
  the leases it takes (store/__init__.py) under that name, and finds them again after a restart.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import time
import uuid
from pathlib import Path

log = logging.getLogger("lambdad.store")

LOCK_NAME = "lambdad.lock"
RESERVE_NAME = "reserve"
NODE_ID_NAME = "node-id"
#: What lambdad keeps in the data dir (make_private touches nothing else).
_OWN = ("lambdad.db", "lambdad.db-wal", "lambdad.db-shm", "lambdad.db-journal", "audit.log", "credentials",
        "master.key", LOCK_NAME, RESERVE_NAME, NODE_ID_NAME, "code", "sandbox", "tmp", "spool", "s3", "aws-config")
#: Subtrees whose contents environments read or write as other uids: only their roots are made 0700.
_NOT_PRIVATE = ("code/trees", "code/opt", "sandbox", "tmp")


class DataDirError(Exception):
    """The server cannot use its data dir; the message is one line for the operator."""


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether an error (or what it was raised from) is a full disk: ENOSPC/EDQUOT or SQLITE_FULL."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DataDir:
    """Opened by the server before anything else touches the directory; `close()` when stopped."""

    def __init__(self, path: Path, reserve_bytes: int) -> None:
        self.path = path
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        self._lock_fd = self._lock()
        make_private(path)
        self.reserve = DiskReserve(path / RESERVE_NAME, reserve_bytes)
        try:
            self.reserve.take()
        except OSError as exc:
            self.close()
            if not is_disk_full(exc):
                raise
            raise DataDirError(
                f"the disk of the data dir {path} is full ({free_bytes(path)} bytes free): lambdad keeps "
                f"{reserve_bytes} bytes in reserve there so that deletes work on a full disk; free some space "
                "and start again") from None
        self.node_id = _node_id(path / NODE_ID_NAME)

    def _lock(self) -> int:
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise DataDirError(
                f"the data dir {self.path} is in use by another lambdad server"
                f"{f' (pid {holder})' if holder.isdigit() else ''}; stop it or choose another --data-dir"
            ) from None
        try:  # who holds it, for the message above; best effort (the disk may be full)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        return fd

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = -1


def _node_id(path: Path) -> str:
    """This data dir's node id, made once (the lock above keeps a second server from sharing it)."""
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    node_id = uuid.uuid4().hex
    tmp = path.with_suffix(".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "w") as fh:
        fh.write(node_id + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return node_id


def make_private(root: Path) -> None:
    """Directories 0700 and files 0600 of what lambdad keeps in root (an older server left them
    0755/0644). Only its own entries: a data dir may be shared with files that are none of its business."""
    for name in _OWN:
        path = root / name
        if path.is_symlink() or not path.exists():
            continue
        if not path.is_dir():
            os.chmod(path, 0o600)
            continue
        os.chmod(path, 0o700)
        if name in _NOT_PRIVATE:
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            rel = os.path.relpath(dirpath, root)
            keep = []
            for d in dirnames:
                full = os.path.join(dirpath, d)
                if os.path.islink(full):
                    continue
                os.chmod(full, 0o700)
                if os.path.normpath(os.path.join(rel, d)) not in _NOT_PRIVATE:
                    keep.append(d)
            dirnames[:] = keep
            for f in filenames:
                full = os.path.join(dirpath, f)
                if not os.path.islink(full):
                    os.chmod(full, 0o600)


def private_file(path: Path) -> None:
    """Create `path` (empty) with mode 0600 if it is missing, so what opens it later inherits 0600
    (SQLite gives its -wal and -shm files the database file's mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    os.chmod(path, 0o600)


class DiskReserve:
    """Preallocated space the store gives back to the filesystem when the disk is nearly full."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self.held = False
        self._retry_at = 0.0

    def take(self) -> None:
        """Allocate the reserve (a no-op when it is already whole); raises OSError (ENOSPC) otherwise."""
        if self.size <= 0:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.size)
        except OSError:
            os.close(fd)
            self.path.unlink(missing_ok=True)  # a partial reserve would only hide the free space
            raise
        os.close(fd)
        self.held = True

    def release(self) -> bool:
        """Give the space back; whether there was any to give."""
        if not self.held:
            return False
        self.path.unlink(missing_ok=True)
        self.held = False
        log.warning("the data disk is nearly full: released the %d-byte reserve so that deletes keep working; "
                    "free some space", self.size)
        return True

    def before_write(self) -> None:
        """Called before each store write: release below half the reserve free, take it again with room."""
        if self.size <= 0:
            return
        try:
            free = free_bytes(self.path.parent)
        except OSError:
            return
        if self.held:
            if free < self.size // 2:
                self.release()
            return
        now = time.monotonic()
        if free > 2 * self.size and now >= self._retry_at:
            self._retry_at = now + 5.0
            try:
                self.take()
                log.info("the data disk has room again: reserve of %d bytes taken", self.size)
            except OSError:
                pass
