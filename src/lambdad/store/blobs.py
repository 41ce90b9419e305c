"""Content-addressed blobs: zips stored once by SHA-256, unpacked once, shared read-only."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

#: Unpacks a zip's bytes into a new directory, refusing more than `max_unzipped_bytes` (control/codezip.py).
Extract = Callable[[bytes, Path, int], object]


class BlobStore:
    def __init__(self, root: Path, max_unzipped_bytes: int, extract: Extract) -> None:
        self.root = root
        self.extract = extract
        self.zips = root / "zips"
        self.trees = root / "trees"
        # Users' code: the server's uid only. Environments (other uids) read their unpacked trees
        # through bind mounts the root zygote makes, which need no path to them (store/datadir.py).
        for path in (root, self.zips, self.trees):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path, 0o700)
        self.max_unzipped_bytes = max_unzipped_bytes
        self._lock = threading.Lock()

    def put_zip(self, data: bytes) -> str:
        """Store a zip durably; return its hex SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.zips / f"{digest}.zip"
        if not path.exists():
            tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        return digest

    def zip_path(self, digest: str) -> Path:
        return self.zips / f"{digest}.zip"

    def read_zip(self, digest: str) -> bytes:
        return self.zip_path(digest).read_bytes()

    def tree(self, digest: str) -> Path:
        """The unpacked tree of a stored zip, unpacking it on first use."""
        path = self.trees / digest
        if path.is_dir():
            return path
        with self._lock:
            if not path.is_dir():
                self.extract(self.read_zip(digest), path, self.max_unzipped_bytes)
        return path

    def remove_tree(self, digest: str) -> None:
        shutil.rmtree(self.trees / digest, ignore_errors=True)
