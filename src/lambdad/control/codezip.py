"""Validate and extract user-uploaded deployment/layer zips, which may be hostile.

    inspect_zip(data, max_unzipped_bytes=...)        validate fully (decompressing to nowhere)
    extract_zip(data, dest, max_unzipped_bytes=...)  validate + extract atomically into dest
    make_zip_from_dir(src)                           deterministic zip of a directory (CLI deploy)

Every rejection raises CodeZipError whose .message is the AWS text the API returns
(InvalidParameterValueException); .detail says what was actually wrong, for logs and tests.

Policy, and why:
- Only STORED and DEFLATED members, unencrypted. Other methods (bzip2/lzma) decompress a whole
  input chunk in one call with no output bound, so a small member could exhaust memory.
- Names must be relative, '/'-separated, without '..', NUL or backslash. Backslash is rejected
  rather than read as a separator: on Linux it is a literal filename byte, and a reader on
  another OS would see a different tree than the one we validated.
- Duplicate names are rejected, not "last wins": zip readers disagree on which copy a name means
  (Python takes the last, Java the first), so any later tool could see a file we never checked,
  and a duplicate that switches file/symlink type is the classic write-through-symlink trick.
  Duplicate *directory* entries are harmless and allowed.
- Symlinks are allowed when they resolve inside the tree; resolution follows the other symlinks
  of the archive (a link to '.' makes 'link/..' leave the root even though it looks lexically
  inside). No entry may live under a symlink, and symlinks are created last, so nothing is
  ever written through one.
- Sizes: the declared total is checked first, then every byte actually produced is counted
  against the same budget (zipfile truncates each member at its declared size and checks the
  CRC, but the running budget does not depend on that).
- A zip without entries gets AWS's "Uploaded file must be a non-empty zip". A zip holding only
  directories is accepted: it is not empty, and nothing is known about AWS rejecting it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdad.errors import LambdadError

# AWS's texts, as recorded from the real service (InvalidParameterValueException, HTTP 400).
UNZIP_ERROR_MESSAGE = "Could not unzip uploaded file. Please check your file, then try to upload again."
EMPTY_ZIP_MESSAGE = "Uploaded file must be a non-empty zip"


def unzipped_size_message(limit: int) -> str:
    return f"Unzipped size must be smaller than {limit} bytes"


class CodeZipError(LambdadError):
    """An unacceptable package. .message is user-facing (AWS wording); .detail is the real reason."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.detail = detail or message


@dataclass(frozen=True)
class ZipInfoSummary:
    file_count: int  # regular files + symlinks (directories not counted)
    unzipped_size: int  # bytes of file contents + symlink targets
    names: frozenset[str]  # normalized paths of files and symlinks, e.g. "pkg/mod.py"


_CHUNK = 1 << 20
_MAX_LINK_TARGET = 4095  # PATH_MAX - 1: a longer target cannot be used by the kernel anyway
_MAX_COMPONENT_BYTES = 255  # NAME_MAX
_MAX_PATH_BYTES = 2048  # leaves room for the extraction prefix under PATH_MAX (4096)
_MAX_LINK_HOPS = 40  # same bound as Linux's ELOOP
_DRIVE = re.compile(r"^[A-Za-z]:")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # earliest DOS timestamp: reproducible zips
# Exceptions zipfile/zlib raise on malformed input (UnicodeDecodeError is a ValueError).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError,
               RuntimeError, OverflowError, zipfile.LargeZipFile)

_FILE, _DIR, _LINK = "file", "dir", "link"


@dataclass
class _Entry:
    info: zipfile.ZipInfo
    path: str  # normalized relative path, no trailing slash
    kind: str
    mode: int  # permission bits to apply (files: 0o644/0o755)
    target: str = ""  # symlink target


@dataclass
class _Plan:
    entries: list[_Entry]
    dirs: list[str]  # every directory to create (explicit + implicit), parents first

    def summary(self, unzipped_size: int) -> ZipInfoSummary:
        names = frozenset(e.path for e in self.entries if e.kind != _DIR)
        return ZipInfoSummary(file_count=len(names), unzipped_size=unzipped_size, names=names)


class _Budget:
    """Counts bytes actually produced; never trusts declared sizes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise CodeZipError(unzipped_size_message(self.limit),
                               f"more than {self.limit} bytes produced while decompressing")


def _unzip_error(detail: str) -> CodeZipError:
    return CodeZipError(UNZIP_ERROR_MESSAGE, detail)


def _normalize_name(raw: str) -> tuple[str, bool]:
    """Return (relative path, ends-with-slash) or raise for any name that could escape."""
    if "\x00" in raw:
        raise _unzip_error(f"NUL byte in entry name {raw!r}")
    if "\\" in raw:
        raise _unzip_error(f"backslash in entry name {raw!r}")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise _unzip_error(f"absolute entry name {raw!r}")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _unzip_error(f"'..' in entry name {raw!r}")
    if not parts:
        raise _unzip_error(f"empty entry name {raw!r}")
    path = "/".join(parts)
    encoded = [p.encode("utf-8", "surrogateescape") for p in parts]
    if any(len(p) > _MAX_COMPONENT_BYTES for p in encoded) or len(path.encode(
            "utf-8", "surrogateescape")) > _MAX_PATH_BYTES:
        raise _unzip_error(f"entry name too long {raw[:80]!r}...")
    return path, raw.endswith("/")


def _classify(info: zipfile.ZipInfo, trailing_slash: bool) -> tuple[str, int]:
    """Entry kind and permission bits from the Unix mode in external_attr (if any)."""
    unix_mode = info.external_attr >> 16
    fmt = stat.S_IFMT(unix_mode)
    if fmt == stat.S_IFLNK:
        kind = _LINK
    elif fmt == stat.S_IFDIR:
        kind = _DIR
    elif fmt == stat.S_IFREG:
        kind = _FILE
    elif fmt == 0:  # no Unix mode (e.g. made on Windows): trailing slash or MS-DOS dir attribute
        kind = _DIR if trailing_slash or info.external_attr & 0x10 else _FILE
    else:  # devices, fifos, sockets: nothing a package needs
        raise _unzip_error(f"unsupported file type {oct(fmt)} for {info.orig_filename!r}")
    if trailing_slash and kind != _DIR:
        raise _unzip_error(f"{info.orig_filename!r} ends with '/' but is not a directory")
    if kind == _DIR:
        return kind, 0o755
    return kind, 0o755 if unix_mode & 0o111 else 0o644


def _parents(path: str) -> Iterator[str]:
    i = path.find("/")
    while i != -1:
        yield path[:i]
        i = path.find("/", i + 1)


def _resolve_inside(link: str, links: dict[str, str]) -> bool:
    """Does `link` resolve, physically, inside the root? Other archive symlinks are followed,
    and '..' pops the real location reached so far, as the kernel would."""
    location = link.split("/")[:-1]  # the link's directory
    todo = deque(links[link].split("/"))
    hops = 0
    while todo:
        part = todo.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not location:
                return False  # even a later "../root/x" comeback is refused: root's name is ours
            location.pop()
            continue
        location.append(part)
        target = links.get("/".join(location))
        if target is not None:
            hops += 1
            if hops > _MAX_LINK_HOPS or target.startswith("/"):
                return False
            location.pop()
            todo.extendleft(reversed(target.split("/")))
    return True


def _read_link_target(zf: zipfile.ZipFile, entry: _Entry, budget: _Budget) -> str:
    if entry.info.file_size > _MAX_LINK_TARGET:
        raise _unzip_error(f"symlink {entry.path!r} target too long")
    with zf.open(entry.info) as f:
        raw = f.read(_MAX_LINK_TARGET + 1)
    budget.take(len(raw))
    if not raw or len(raw) > _MAX_LINK_TARGET or b"\x00" in raw or b"\\" in raw:
        raise _unzip_error(f"invalid symlink target for {entry.path!r}")
    try:
        target = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _unzip_error(f"symlink {entry.path!r} target is not UTF-8") from None
    if target.startswith("/"):
        raise _unzip_error(f"symlink {entry.path!r} has absolute target {target!r}")
    return target


def _check_declared(declared: int, limit: int) -> None:
    # Cheap early refusal of an honest oversized package; liars are caught by _Budget.
    if declared > limit:
        raise CodeZipError(unzipped_size_message(limit), f"declared unzipped size {declared} bytes")


def _plan(zf: zipfile.ZipFile, max_unzipped_bytes: int, max_files: int, budget: _Budget) -> _Plan:
    infos = zf.infolist()
    if not infos:
        raise CodeZipError(EMPTY_ZIP_MESSAGE, "zip has no entries")
    if len(infos) > max_files:
        raise _unzip_error(f"{len(infos)} entries, more than the {max_files} allowed")

    entries: list[_Entry] = []
    kinds: dict[str, str] = {}
    declared = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise _unzip_error(f"encrypted entry {info.orig_filename!r}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _unzip_error(f"unsupported compression {info.compress_type} for {info.orig_filename!r}")
        path, slash = _normalize_name(info.orig_filename)
        kind, mode = _classify(info, slash)
        if kind == _DIR and info.file_size:
            raise _unzip_error(f"directory entry {path!r} has content")
        seen = kinds.get(path)
        if seen is not None and not (seen == kind == _DIR):
            raise _unzip_error(f"duplicate entry {path!r}")
        kinds[path] = kind
        declared += info.file_size
        entries.append(_Entry(info, path, kind, mode))

    _check_declared(declared, max_unzipped_bytes)

    dirs = {p for p, k in kinds.items() if k == _DIR}
    for path in kinds:
        dirs.update(_parents(path))
    for path in dirs:
        # Covers "a" as a file plus "a/b", and anything stored under a symlink.
        if kinds.get(path, _DIR) != _DIR:
            raise _unzip_error(f"{path!r} is both a {kinds[path]} and a directory")

    links: dict[str, str] = {}
    for entry in entries:
        if entry.kind == _LINK:
            entry.target = _read_link_target(zf, entry, budget)
            links[entry.path] = entry.target
    for path, target in links.items():
        if not _resolve_inside(path, links):
            raise _unzip_error(f"symlink {path!r} -> {target!r} points outside the package")

    return _Plan(entries, sorted(dirs))


def _open_zip(data: bytes) -> zipfile.ZipFile:
    if not data:
        raise CodeZipError(EMPTY_ZIP_MESSAGE, "empty upload")
    try:
        # BytesIO over bytes shares the buffer (no copy) until written to.
        return zipfile.ZipFile(io.BytesIO(data))
    except (*_ZIP_ERRORS, OSError) as exc:
        raise _unzip_error(f"not a readable zip: {exc}") from None


def _stream(zf: zipfile.ZipFile, entry: _Entry, budget: _Budget, sink: io.BufferedWriter | None) -> None:
    written = 0
    with zf.open(entry.info) as f:
        while chunk := f.read(_CHUNK):
            budget.take(len(chunk))
            written += len(chunk)
            if sink is not None:
                sink.write(chunk)
    if written != entry.info.file_size:  # shorter than declared: truncated or lying header
        raise _unzip_error(f"{entry.path!r}: {written} bytes, header says {entry.info.file_size}")


def inspect_zip(data: bytes, *, max_unzipped_bytes: int, max_files: int = 100_000) -> ZipInfoSummary:
    """Validate a package without writing anything: names, types, symlinks, sizes, and every
    member's data (decompressed and CRC-checked, then discarded)."""
    zf = _open_zip(data)
    budget = _Budget(max_unzipped_bytes)
    try:
        with zf:
            plan = _plan(zf, max_unzipped_bytes, max_files, budget)
            for entry in plan.entries:
                if entry.kind == _FILE:
                    _stream(zf, entry, budget, None)
    except _ZIP_ERRORS as exc:
        raise _unzip_error(f"corrupt zip: {exc}") from None
    return plan.summary(budget.used)


def _check_dest(dest: Path) -> None:
    if not os.path.lexists(dest):
        return
    if dest.is_symlink() or not dest.is_dir():
        raise FileExistsError(f"{dest} exists and is not a directory")
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists and is not empty")


def _write_tree(zf: zipfile.ZipFile, plan: _Plan, root: str, budget: _Budget) -> None:
    # Directories first (sorted: parents before children), then files, then symlinks, so that
    # no symlink exists while anything is written. The staging dir is ours and mode 0700, so no
    # other user can plant one meanwhile; O_NOFOLLOW|O_EXCL still refuses any surprise.
    for d in plan.dirs:
        p = os.path.join(root, d)
        os.mkdir(p, 0o755)
        os.chmod(p, 0o755)  # mkdir's mode is filtered by the umask
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for entry in plan.entries:
        if entry.kind != _FILE:
            continue
        fd = os.open(os.path.join(root, entry.path), flags, 0o600)
        with open(fd, "wb") as out:
            os.fchmod(fd, entry.mode)
            _stream(zf, entry, budget, out)
    links = [e for e in plan.entries if e.kind == _LINK]
    for entry in links:
        os.symlink(entry.target, os.path.join(root, entry.path))
    # Belt and braces: with the whole tree in place, let the kernel's view confirm the check.
    real_root = os.path.realpath(root)
    for entry in links:
        real = os.path.realpath(os.path.join(root, entry.path))
        if real != real_root and not real.startswith(real_root + os.sep):
            raise _unzip_error(f"symlink {entry.path!r} resolves outside the package")


def extract_zip(data: bytes, dest: Path, *, max_unzipped_bytes: int,
                max_files: int = 100_000) -> ZipInfoSummary:
    """Validate and extract into `dest` (absent or empty; its parent is created if needed).

    Extraction happens in a private staging directory beside dest, renamed into place only when
    complete, so dest appears whole or not at all; on failure the staging dir is removed.
    Raises CodeZipError for a bad package, FileExistsError if dest is occupied, OSError for
    local failures (e.g. disk full), which are the server's fault, not the user's.
    """
    dest = Path(dest)
    _check_dest(dest)
    zf = _open_zip(data)
    budget = _Budget(max_unzipped_bytes)
    with zf:
        try:
            plan = _plan(zf, max_unzipped_bytes, max_files, budget)
        except _ZIP_ERRORS as exc:
            raise _unzip_error(f"corrupt zip: {exc}") from None
        # Only now, with names, types and sizes validated, touch the filesystem.
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent)
        try:
            try:
                _write_tree(zf, plan, staging, budget)
            except _ZIP_ERRORS as exc:
                raise _unzip_error(f"corrupt zip: {exc}") from None
            os.chmod(staging, 0o755)  # mkdtemp made it 0700
            os.rename(staging, dest)  # atomic; replaces dest only if it is an empty directory
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # rmtree never follows symlinks
            raise
    return plan.summary(budget.used)


def _zip_info(name: str, unix_mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.create_system = 3  # Unix, so readers honour the mode bits in external_attr
    info.external_attr = unix_mode << 16
    return info


def make_zip_from_dir(src: Path, skip: Callable[[str, bool], bool] | None = None) -> bytes:
    """Zip a directory for deployment: sorted entries, fixed timestamps, so identical trees give
    identical bytes (stable CodeSha256). Files keep only the exec bit (0o755/0o644); symlinks are
    stored as symlinks, not followed; sockets/fifos/devices are skipped (a package can't hold them).
    `skip(relative path, is_dir)` leaves entries out (`lambdad deploy --watch`: editor temporaries).
    """
    root = Path(src).resolve()
    if not root.is_dir():
        raise NotADirectoryError(str(src))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:

        def walk(directory: Path, prefix: str) -> None:
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda e: e.name)
            for child in children:
                name = prefix + child.name
                if skip is not None and skip(name, child.is_dir(follow_symlinks=False)):
                    continue
                if child.is_symlink():
                    info = _zip_info(name, stat.S_IFLNK | 0o777)
                    info.compress_type = zipfile.ZIP_STORED
                    zf.writestr(info, os.readlink(child.path))
                elif child.is_dir(follow_symlinks=False):
                    info = _zip_info(name + "/", stat.S_IFDIR | 0o755)
                    info.external_attr |= 0x10  # MS-DOS directory attribute, for Windows readers
                    zf.writestr(info, b"")
                    walk(Path(child.path), name + "/")
                elif child.is_file(follow_symlinks=False):
                    exec_bit = child.stat(follow_symlinks=False).st_mode & 0o111
                    info = _zip_info(name, stat.S_IFREG | (0o755 if exec_bit else 0o644))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with open(child.path, "rb") as f, zf.open(info, "w") as out:
                        shutil.copyfileobj(f, out, _CHUNK)

        walk(root, "")
    return buf.getvalue()
