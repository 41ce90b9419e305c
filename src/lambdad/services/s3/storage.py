"""Object bytes on disk: one immutable file per stored object (or part), under `<data>/s3/objects`.

A body streams into a temp file in `<data>/s3/tmp` while its MD5 (the ETag) and any requested
checksums are computed; it is fsynced and renamed to its final name only after the whole body
arrived and checked out, and the metadata row that names it is committed after that. A crash before
the commit leaves a file no row names: `sweep` removes those (and every temp file) at start, so a
half-written PUT is never visible and an acknowledged one is on disk. Files are never rewritten, so a
reader holding one open keeps reading the version it opened, and a copy can be a hard link.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lambdad.services.s3 import checksums

READ_CHUNK = 1024 * 1024


@dataclass(slots=True)
class Written:
    """A body stored under `name`, and what was computed as it streamed in."""

    name: str  # "" for a body small enough to be kept in its metadata row (`data`)
    size: int
    md5: bytes
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> base64
    data: bytes | None = None


class ObjectFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)  # the data dir is private (store/datadir.py)
        self.objects.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, name: str) -> Path:
        return self.objects / name[:2] / name

    async def write(self, chunks: AsyncIterator[bytes], algorithms: Iterable[str] = (), *,
                    inline_max: int = 0) -> Written:
        """Store a body; the chunks' iterator raising (a bad signature, a client gone) leaves nothing.
        A body of at most `inline_max` bytes is answered in memory (`Written.data`), for its metadata
        row: one commit makes it durable, where a file costs a file and a directory fsync more."""
        md5 = hashlib.md5(usedforsecurity=False)
        sums = {alg: checksums.hasher(alg) for alg in algorithms}
        size = 0
        head: list[bytes] = []
        async for chunk in chunks:
            size += len(chunk)
            md5.update(chunk)
            for h in sums.values():
                h.update(chunk)
            head.append(chunk)
            if size > inline_max:
                break
        else:
            return Written("", size, md5.digest(), {alg: h.b64() for alg, h in sums.items()}, b"".join(head))
        name = uuid.uuid4().hex
        temp = self.tmp / f"{name}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                for chunk in head:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                async for chunk in chunks:
                    size += len(chunk)
                    md5.update(chunk)
                    for h in sums.values():
                        h.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                await asyncio.to_thread(os.fsync, fd)
            finally:
                os.close(fd)
            await asyncio.to_thread(self._place, temp, name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return Written(name, size, md5.digest(), {alg: h.b64() for alg, h in sums.items()})

    def _place(self, temp: Path, name: str) -> None:
        final = self.path(name)
        final.parent.mkdir(exist_ok=True, mode=0o700)
        os.rename(temp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)

    async def concatenate(self, names: list[str]) -> str:
        """One new file holding the named files' bytes in order (CompleteMultipartUpload)."""
        return await asyncio.to_thread(self._concatenate, names)

    def _concatenate(self, names: list[str]) -> str:
        name = uuid.uuid4().hex
        temp = self.tmp / f"{name}.part"
        try:
            with open(temp, "wb") as out:
                for part in names:
                    with open(self.path(part), "rb") as src:
                        size = os.fstat(src.fileno()).st_size
                        offset = 0
                        while offset < size:  # in-kernel copy where the filesystem allows it
                            sent = os.copy_file_range(src.fileno(), out.fileno(), size - offset)
                            if sent == 0:
                                break
                            offset += sent
                out.flush()
                os.fsync(out.fileno())
            self._place(temp, name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return name

    def link(self, name: str) -> str:
        """Another name for the same (immutable) bytes: a copied object costs no copy."""
        new = uuid.uuid4().hex
        target = self.path(new)
        target.parent.mkdir(exist_ok=True, mode=0o700)
        try:
            os.link(self.path(name), target)
        except OSError:  # a filesystem without hard links
            import shutil

            shutil.copyfile(self.path(name), target)
        return new

    def remove(self, name: str) -> None:
        if not name:  # the bytes were in the row
            return
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            pass

    def open(self, name: str) -> int:
        return os.open(self.path(name), os.O_RDONLY)

    @staticmethod
    async def read(fd: int, start: int, length: int) -> AsyncIterator[bytes]:
        """`length` bytes of an open file from `start`, closing it at the end (or when abandoned)."""
        try:
            offset, left = start, length
            while left > 0:
                chunk = os.pread(fd, min(READ_CHUNK, left), offset)
                if not chunk:
                    break
                offset += len(chunk)
                left -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def sweep(self, referenced: set[str]) -> int:
        """Remove temp files and object files no metadata row names (a crash between the file and its
        commit); answer how many went."""
        removed = 0
        for temp in self.tmp.iterdir():
            temp.unlink(missing_ok=True)
            removed += 1
        for folder in self.objects.iterdir():
            for file in folder.iterdir():
                if file.name not in referenced:
                    file.unlink(missing_ok=True)
                    removed += 1
        return removed
