"""Hostile and ordinary packages through lambdad.control.codezip.

Every hostile zip is built by hand here; after each rejection the whole temp dir is compared
with its state before, so a write anywhere (escape, leftover staging dir, partial dest) fails.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from lambdad.control import codezip
from lambdad.control.codezip import (
    EMPTY_ZIP_MESSAGE,
    UNZIP_ERROR_MESSAGE,
    CodeZipError,
    extract_zip,
    inspect_zip,
    make_zip_from_dir,
)

MB = 1024 * 1024
LIMIT = 10 * MB


# ---------------------------------------------------------------- builders


def info(name: str, mode: int | None = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    zi.create_system = 3
    zi.external_attr = 0 if mode is None else mode << 16
    zi.compress_type = zipfile.ZIP_DEFLATED
    return zi


def link(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    return info(name, stat.S_IFLNK | 0o777), target.encode()


def dir_(name: str, mode: int = 0o755) -> tuple[zipfile.ZipInfo, bytes]:
    return info(name if name.endswith("/") else name + "/", stat.S_IFDIR | mode), b""


def build(*entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for zi, data in entries:
            zf.writestr(info(zi) if isinstance(zi, str) else zi, data)
    return buf.getvalue()


def zeros_zip(name: str, size: int) -> bytes:
    """A single deflated member of `size` zero bytes, written in chunks (small memory)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, zf.open(info(name), "w") as out:
        chunk = bytes(MB)
        for _ in range(size // MB):
            out.write(chunk)
    return buf.getvalue()


def patch_sizes(data: bytes, *, file_size: int, crc: int | None = None) -> bytes:
    """Rewrite the uncompressed size (and optionally CRC) in every local and central header."""
    out = bytearray(data)
    for sig, crc_off, size_off in ((b"PK\x03\x04", 14, 22), (b"PK\x01\x02", 16, 24)):
        pos = out.find(sig)
        while pos != -1:
            struct.pack_into("<I", out, pos + size_off, file_size)
            if crc is not None:
                struct.pack_into("<I", out, pos + crc_off, crc)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with (file type, size) - lstat, so symlinks are seen as such."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), st.st_size)
    return out


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    # Deep enough that "../../../x" from the staging dir still lands inside tmp_path (observable).
    parent = tmp_path / "a" / "b" / "c"
    parent.mkdir(parents=True)
    return parent / "code"


def assert_rejected(data: bytes, dest: Path, tmp_path: Path, message: str, detail: str) -> None:
    before = snapshot(tmp_path)
    with pytest.raises(CodeZipError) as exc:
        inspect_zip(data, max_unzipped_bytes=LIMIT)
    assert exc.value.message == message
    assert detail in exc.value.detail
    with pytest.raises(CodeZipError) as exc:
        extract_zip(data, dest, max_unzipped_bytes=LIMIT)
    assert exc.value.message == message
    assert detail in exc.value.detail
    assert snapshot(tmp_path) == before  # nothing written anywhere: no escape, no staging, no dest


# ---------------------------------------------------------------- hostile names and links


def _nul_name_zip() -> bytes:
    raw = build(("aXb/../../evil", b"x"))
    return raw.replace(b"aXb", b"a\x00b")  # zipfile cannot write a NUL itself; patch both headers


HOSTILE = {
    "dotdot": (lambda tmp: build(("../evil", b"x")), "'..'"),
    "inner-dotdot": (lambda tmp: build(("a/../../evil", b"x")), "'..'"),
    "deep-dotdot": (lambda tmp: build(("ok.txt", b"fine"), ("../../../evil", b"x")), "'..'"),
    "absolute-etc": (lambda tmp: build(("/etc/x", b"x")), "absolute"),
    "absolute-into-tmp": (lambda tmp: build((str(tmp / "abs_evil"), b"x")), "absolute"),
    "drive-letter": (lambda tmp: build(("C:/evil", b"x")), "absolute"),
    "backslash": (lambda tmp: build(("a\\..\\..\\evil", b"x")), "backslash"),
    "nul": (lambda tmp: _nul_name_zip(), "NUL"),
    "empty-name": (lambda tmp: build(("./", b"")), "empty entry name"),
    "link-absolute": (lambda tmp: build(link("shadow", "/etc/shadow")), "absolute target"),
    "link-absolute-tmp": (lambda tmp: build(link("l", str(tmp))), "absolute target"),
    "link-dotdot": (lambda tmp: build(link("x", "../../x")), "outside"),
    "link-nested-dotdot": (lambda tmp: build(link("d/e/x", "../../../x")), "outside"),
    # Lexically "l1/../escape" stays inside, but l1 -> "." makes ".." leave the root.
    "link-via-link": (lambda tmp: build(link("l1", "."), link("l2", "l1/../escape")), "outside"),
    "link-loop": (lambda tmp: build(link("a", "b"), link("b", "a")), "outside"),
    "write-through-link": (
        lambda tmp: build(link("up", "../../.."), ("up/evil", b"x")), "both a link and a directory"),
    "write-through-internal-link": (
        lambda tmp: build(dir_("sub"), link("l", "sub"), ("l/evil", b"x")), "both a link and a directory"),
    "duplicate-file-then-link": (
        lambda tmp: build(("x", b"data"), link("x", "../../../x")), "duplicate"),
    "duplicate-file": (lambda tmp: build(("x", b"one"), ("x", b"two")), "duplicate"),
    "duplicate-after-normalizing": (lambda tmp: build(("a/x", b"one"), ("a//./x", b"two")), "duplicate"),
    "file-and-dir": (lambda tmp: build(("a", b"file"), ("a/b", b"x")), "both a file and a directory"),
    "dir-with-content": (lambda tmp: build((dir_("d")[0], b"hidden")), "directory entry 'd' has content"),
    "slash-but-file": (lambda tmp: build((info("d/", stat.S_IFREG | 0o644), b"")), "not a directory"),
    "device": (lambda tmp: build((info("dev", stat.S_IFCHR | 0o666), b"")), "unsupported file type"),
    "bzip2": (lambda tmp: build((_with_method(info("a"), zipfile.ZIP_BZIP2), b"x" * 100)),
              "unsupported compression"),
}


def _with_method(zi: zipfile.ZipInfo, method: int) -> zipfile.ZipInfo:
    zi.compress_type = method
    return zi


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns while we build the dupes
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_entries_rejected_and_nothing_written(case: str, dest: Path, tmp_path: Path) -> None:
    make, detail = HOSTILE[case]
    etc_x_existed = os.path.lexists("/etc/x")
    assert_rejected(make(tmp_path), dest, tmp_path, UNZIP_ERROR_MESSAGE, detail)
    assert not (tmp_path / "abs_evil").exists()
    assert os.path.lexists("/etc/x") == etc_x_existed


def test_encrypted_entry_rejected(dest: Path, tmp_path: Path) -> None:
    raw = bytearray(build(("secret.py", b"x" * 50)))
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = raw.find(sig)
        raw[pos + off] |= 0x01
    assert_rejected(bytes(raw), dest, tmp_path, UNZIP_ERROR_MESSAGE, "encrypted entry 'secret.py'")


def test_too_many_entries(dest: Path, tmp_path: Path) -> None:
    data = build(("a", b""), ("b", b""), ("c", b""))
    assert inspect_zip(data, max_unzipped_bytes=LIMIT, max_files=3).file_count == 3
    with pytest.raises(CodeZipError, match="more than the 2 allowed") as exc:
        inspect_zip(data, max_unzipped_bytes=LIMIT, max_files=2)
    assert exc.value.message == UNZIP_ERROR_MESSAGE


# ---------------------------------------------------------------- corrupt / empty


def _crc_flipped() -> bytes:
    raw = bytearray(build((_with_method(info("h.py"), zipfile.ZIP_STORED), b"print('hello')\n")))
    raw[raw.find(b"print")] ^= 0xFF
    return bytes(raw)


CORRUPT = {
    "text": b"this is not a zip file at all",
    "random": os.urandom(4096),
    "tiny": b"PK",
    "truncated": build(("a.py", os.urandom(2000)))[:1500],
    "bad-crc": _crc_flipped(),
    "local-header-name-differs": build(("aaa.py", b"x")).replace(b"aaa.py", b"bbb.py", 1),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_zip(case: str, dest: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    for call in (lambda: inspect_zip(CORRUPT[case], max_unzipped_bytes=LIMIT),
                 lambda: extract_zip(CORRUPT[case], dest, max_unzipped_bytes=LIMIT)):
        with pytest.raises(CodeZipError) as exc:
            call()
        assert exc.value.message == UNZIP_ERROR_MESSAGE
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("data", [b"", build()], ids=["zero-bytes", "no-entries"])
def test_empty_zip_gets_aws_non_empty_message(data: bytes, dest: Path, tmp_path: Path) -> None:
    if data:
        assert len(data) == 22  # just the end-of-central-directory record
    assert_rejected(data, dest, tmp_path, EMPTY_ZIP_MESSAGE, "")


def test_directories_only_zip_is_accepted(dest: Path) -> None:
    summary = extract_zip(build(dir_("empty")), dest, max_unzipped_bytes=LIMIT)
    assert summary.file_count == 0 and summary.unzipped_size == 0
    assert (dest / "empty").is_dir()


# ---------------------------------------------------------------- size limits and bombs


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = zeros_zip("zeros.bin", 200 * MB)
    assert len(data) < 1 * MB  # a real bomb: ~200 KB expanding to 200 MB
    return data


def test_declared_bomb_rejected_with_configured_limit(bomb: bytes, dest: Path, tmp_path: Path) -> None:
    start = time.monotonic()
    assert_rejected(bomb, dest, tmp_path, "Unzipped size must be smaller than 10485760 bytes", "declared")
    assert time.monotonic() - start < 1.0  # refused from the headers, not by inflating 200 MB


def test_lying_header_bomb_rejected(bomb: bytes, dest: Path, tmp_path: Path) -> None:
    liar = patch_sizes(bomb, file_size=1000)
    assert zipfile.ZipFile(io.BytesIO(liar)).infolist()[0].file_size == 1000
    start = time.monotonic()
    assert_rejected(liar, dest, tmp_path, UNZIP_ERROR_MESSAGE, "CRC")
    assert time.monotonic() - start < 1.0  # stopped after ~1000 bytes, not 200 MB


def test_lying_header_with_matching_crc_yields_only_declared_bytes(bomb: bytes, dest: Path) -> None:
    liar = patch_sizes(bomb, file_size=1000, crc=zlib.crc32(bytes(1000)))
    summary = extract_zip(liar, dest, max_unzipped_bytes=LIMIT)
    assert summary.unzipped_size == 1000
    assert (dest / "zeros.bin").stat().st_size == 1000


def test_header_claiming_more_than_the_data_is_corrupt(dest: Path, tmp_path: Path) -> None:
    # CRC matches the real 1000 bytes, so zipfile alone would accept the short member.
    data = patch_sizes(build(("f.bin", bytes(1000))), file_size=5000)
    assert_rejected(data, dest, tmp_path, UNZIP_ERROR_MESSAGE, "1000 bytes, header says 5000")


def test_running_budget_stops_bomb_even_if_declared_check_missed(
        bomb: bytes, dest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Defense in depth: disable the header check; the byte budget alone must stop the bomb
    # mid-extraction (after other files were already written) and clean the staging dir.
    monkeypatch.setattr(codezip, "_check_declared", lambda declared, limit: None)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        zf.writestr(info("a_first.txt"), b"already written")
        src = zipfile.ZipFile(io.BytesIO(bomb))
        zf.writestr(info("zeros.bin"), src.read("zeros.bin")[: 50 * MB])
    before = snapshot(tmp_path)
    for call in (lambda: inspect_zip(raw.getvalue(), max_unzipped_bytes=LIMIT),
                 lambda: extract_zip(raw.getvalue(), dest, max_unzipped_bytes=LIMIT)):
        with pytest.raises(CodeZipError) as exc:
            call()
        assert exc.value.message == "Unzipped size must be smaller than 10485760 bytes"
        assert "while decompressing" in exc.value.detail
    assert snapshot(tmp_path) == before


def test_size_limit_boundary(dest: Path) -> None:
    data = build(("a", b"x" * 600), link("l", "a"))  # link target counts: 601 bytes
    assert inspect_zip(data, max_unzipped_bytes=601).unzipped_size == 601
    with pytest.raises(CodeZipError) as exc:
        inspect_zip(data, max_unzipped_bytes=600)
    assert exc.value.message == "Unzipped size must be smaller than 600 bytes"


# ---------------------------------------------------------------- good packages


def test_exec_bits_and_modes(dest: Path) -> None:
    data = build(
        (info("bootstrap", stat.S_IFREG | 0o755), b"#!/bin/sh\n"),
        (info("group_exec", stat.S_IFREG | 0o710), b""),
        (info("private.py", stat.S_IFREG | 0o600), b"x = 1\n"),
        (info("setuid", stat.S_IFREG | 0o4777), b""),
        (info("no_unix_attrs.txt", None), b"dos"),
        dir_("locked", 0o700),
        (info("implicit/parent/f.txt"), b"f"),
    )
    old_umask = os.umask(0o077)  # result must not depend on the server's umask
    try:
        extract_zip(data, dest, max_unzipped_bytes=LIMIT)
    finally:
        os.umask(old_umask)

    def mode(rel: str) -> int:
        return stat.S_IMODE((dest / rel).stat().st_mode)

    assert mode("bootstrap") == 0o755
    assert mode("group_exec") == 0o755
    assert mode("private.py") == 0o644
    assert mode("setuid") == 0o755
    assert mode("no_unix_attrs.txt") == 0o644
    assert mode("locked") == mode("implicit") == mode("implicit/parent") == 0o755
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert os.access(dest / "bootstrap", os.X_OK)
    assert (dest / "bootstrap").stat().st_uid == os.getuid()


def test_internal_symlinks_allowed(dest: Path) -> None:
    data = build(
        (info("node_modules/pkg/cli.js", stat.S_IFREG | 0o755), b"console.log(1)"),
        link("node_modules/.bin/tool", "../pkg/cli.js"),
        link("current", "node_modules/pkg"),
        link("self", "."),
        link("via", "current/../pkg/cli.js"),  # current -> node_modules/pkg, so .. is node_modules
    )
    summary = extract_zip(data, dest, max_unzipped_bytes=LIMIT)
    assert summary.names == {"node_modules/pkg/cli.js", "node_modules/.bin/tool", "current", "self", "via"}
    assert summary.file_count == 5
    tool = dest / "node_modules/.bin/tool"
    assert tool.is_symlink() and os.readlink(tool) == "../pkg/cli.js"
    assert tool.read_bytes() == b"console.log(1)"
    assert (dest / "current" / "cli.js").read_bytes() == b"console.log(1)"
    assert (dest / "via").read_bytes() == b"console.log(1)"
    assert (dest / "self").resolve() == dest.resolve()


def test_inspect_matches_extract_and_writes_nothing(dest: Path, tmp_path: Path) -> None:
    data = build(("lambda_function.py", b"def handler(e, c):\n    return 1\n"),
                 ("données/é.txt", "é".encode()), dir_("pkg"), ("pkg/__init__.py", b""))
    before = snapshot(tmp_path)
    summary = inspect_zip(data, max_unzipped_bytes=LIMIT)
    assert snapshot(tmp_path) == before
    assert summary == extract_zip(data, dest, max_unzipped_bytes=LIMIT)
    assert summary.names == {"lambda_function.py", "données/é.txt", "pkg/__init__.py"}
    assert summary.unzipped_size == 32 + 2
    assert (dest / "données" / "é.txt").read_text() == "é"


def test_atomic_failure_leaves_no_dest_and_no_staging(dest: Path, tmp_path: Path) -> None:
    # Good members come first and get written; the corrupt last one must undo everything.
    raw = bytearray(build(("a.py", b"a" * 5000), ("b.py", b"b" * 5000),
                          (_with_method(info("z.py"), zipfile.ZIP_STORED), b"zzzz-corrupt-me")))
    raw[raw.find(b"zzzz-corrupt-me")] ^= 0xFF
    before = snapshot(tmp_path)
    with pytest.raises(CodeZipError) as exc:
        extract_zip(bytes(raw), dest, max_unzipped_bytes=LIMIT)
    assert exc.value.message == UNZIP_ERROR_MESSAGE
    assert not os.path.lexists(dest)
    assert [p.name for p in dest.parent.iterdir()] == []
    assert snapshot(tmp_path) == before


def test_dest_must_be_absent_or_empty(dest: Path) -> None:
    data = build(("a.py", b"new"))
    dest.mkdir()
    summary = extract_zip(data, dest, max_unzipped_bytes=LIMIT)  # empty dir is replaced
    assert summary.names == {"a.py"} and (dest / "a.py").read_bytes() == b"new"
    with pytest.raises(FileExistsError):
        extract_zip(build(("b.py", b"other")), dest, max_unzipped_bytes=LIMIT)
    assert sorted(os.listdir(dest)) == ["a.py"]
    assert [p.name for p in dest.parent.iterdir()] == ["code"]  # no staging left behind


def test_dest_parent_created(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "code"
    extract_zip(build(("a.py", b"1")), target, max_unzipped_bytes=LIMIT)
    assert (target / "a.py").read_bytes() == b"1"


# ---------------------------------------------------------------- make_zip_from_dir


def test_make_zip_from_dir_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "bootstrap").write_bytes(b"#!/bin/sh\necho hi\n")
    (src / "bootstrap").chmod(0o700)
    (src / "handler.py").write_bytes(b"def h(e, c):\n    return e\n")
    (src / "handler.py").chmod(0o600)
    (src / "sub" / "deeper" / "data.bin").write_bytes(os.urandom(3000))
    os.symlink("handler.py", src / "alias.py")
    os.symlink("sub/deeper", src / "dirlink")
    os.mkfifo(src / "fifo")  # cannot be packaged: skipped

    first = make_zip_from_dir(src)
    os.utime(src / "handler.py", (1_000_000, 1_000_000))
    assert make_zip_from_dir(src) == first  # deterministic: independent of mtimes

    names = [zi.filename for zi in zipfile.ZipFile(io.BytesIO(first)).infolist()]
    assert names == ["alias.py", "bootstrap", "dirlink", "empty/", "handler.py",
                     "sub/", "sub/deeper/", "sub/deeper/data.bin"]
    assert {zi.date_time for zi in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {(1980, 1, 1, 0, 0, 0)}

    out = tmp_path / "out"
    summary = extract_zip(first, out, max_unzipped_bytes=LIMIT)
    assert summary.file_count == 5
    assert stat.S_IMODE((out / "bootstrap").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "handler.py").stat().st_mode) == 0o644
    assert (out / "empty").is_dir() and not any((out / "empty").iterdir())
    assert (out / "alias.py").is_symlink() and os.readlink(out / "alias.py") == "handler.py"
    assert (out / "dirlink").is_symlink() and os.readlink(out / "dirlink") == "sub/deeper"
    for rel in ("bootstrap", "handler.py", "sub/deeper/data.bin", "alias.py", "dirlink/data.bin"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    assert not os.path.lexists(out / "fifo")
