"""Objects: metadata rows in the store, bytes in immutable files (storage.py).

A key has one row per version: `version_id` 'null' in a bucket that never had versioning, a
generated id otherwise; `latest` marks the current one; a delete marker is a row without bytes. A
PUT streams its body to a file first and commits the row naming it after, in one transaction with
the removal of the row it replaces (whose file is unlinked once the commit is done).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lambdad.clock import Clock
from lambdad.errors import S3Error
from lambdad.services.s3 import checksums
from lambdad.services.s3.buckets import Bucket
from lambdad.services.s3.storage import ObjectFiles, Written
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    latest INTEGER NOT NULL,
    delete_marker INTEGER NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    modified REAL NOT NULL,
    file TEXT NOT NULL,
    meta TEXT NOT NULL,
    seq BIGINT NOT NULL,
    data BLOB,
    PRIMARY KEY (bucket, key, version_id)
);
CREATE INDEX IF NOT EXISTS s3_objects_listing ON s3_objects (bucket, latest, key);
CREATE TABLE IF NOT EXISTS s3_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    initiated REAL NOT NULL,
    meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS s3_parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    modified REAL NOT NULL,
    file TEXT NOT NULL,
    checksums TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
"""

MAX_PUT = 5 * 1024 ** 3  # a single PUT (and a part) carries at most 5 GiB
MIN_PART = 5 * 1024 * 1024  # every part but the last is at least 5 MiB
MAX_PARTS = 10000
# Bodies up to this size live in their metadata row (one commit, no file): most objects of most
# buckets are small, and a file costs two more fsyncs (measured: benchmarks/scenarios/s3.py).
INLINE_MAX = 64 * 1024
# The content headers an object keeps and answers with (besides its user metadata).
CONTENT_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl",
                   "Expires", "WebsiteRedirectLocation")


@dataclass(slots=True)
class StoredObject:
    bucket: str
    key: str
    version_id: str
    latest: bool
    delete_marker: bool
    size: int
    etag: str  # quoted, as S3 shows it
    modified: float
    file: str  # "" when the bytes are in the row (or there are none: a delete marker)
    meta: dict[str, Any] = field(default_factory=dict)  # content headers, Metadata, Checksums, PartsCount, Tags
    seq: int = 0
    data: bytes | None = None  # inline bytes being committed (not loaded by reads: see `body`)

    @property
    def checksums(self) -> dict[str, str]:
        return dict(self.meta.get("Checksums") or {})


@dataclass(slots=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: dict[str, Any]


def no_such_key(key: str) -> S3Error:
    return S3Error("The specified key does not exist.", code="NoSuchKey", status=404, Key=key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                   "aborted or completed.", code="NoSuchUpload", status=404, UploadId=upload_id)


def _row(row: Any) -> StoredObject:
    return StoredObject(row["bucket"], row["key"], row["version_id"], bool(row["latest"]), bool(row["delete_marker"]),
                        row["size"], row["etag"], row["modified"], row["file"], json.loads(row["meta"]), row["seq"])


_COLUMNS = "bucket, key, version_id, latest, delete_marker, size, etag, modified, file, meta, seq"


class Objects:
    def __init__(self, store: Store, files: ObjectFiles, clock: Clock) -> None:
        self.store = store
        self.files = files
        self.clock = clock
        store.ensure_schema(SCHEMA)
        row = store.one("SELECT MAX(seq) AS top FROM s3_objects")
        self._seq = int(row["top"] or 0) if row is not None else 0

    def sweep(self) -> int:
        """Files no committed row names (a crash mid-upload) go; answer how many."""
        names = {r["file"] for r in self.store.all("SELECT file FROM s3_objects WHERE file <> ''")}
        names |= {r["file"] for r in self.store.all("SELECT file FROM s3_parts")}
        return self.files.sweep(names)

    # -- reading ----------------------------------------------------------------------------
    def head(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        """The current version (or the one named); NoSuchKey when there is none or it is a delete marker."""
        if version_id is not None:
            row = self.store.one(f"SELECT {_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                                 (bucket, key, version_id))
            if row is None:
                raise S3Error("The specified version does not exist.", code="NoSuchVersion", status=404, Key=key,
                              VersionId=version_id)
        else:
            row = self.store.one(f"SELECT {_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ? AND latest = 1",
                                 (bucket, key))
            if row is None:
                raise no_such_key(key)
        found = _row(row)
        if found.delete_marker:
            if version_id is not None:
                raise S3Error("The specified method is not allowed against this resource.", code="MethodNotAllowed",
                              status=405)
            raise no_such_key(key)
        return found

    def exists(self, bucket: str) -> bool:
        return self.store.one("SELECT key FROM s3_objects WHERE bucket = ? LIMIT 1", (bucket,)) is not None \
            or self.store.one("SELECT upload_id FROM s3_uploads WHERE bucket = ? LIMIT 1", (bucket,)) is not None

    def list_latest(self, bucket: str, prefix: str, after: str, delimiter: str, max_keys: int
                    ) -> tuple[list[StoredObject], list[str], bool]:
        """(objects, common prefixes, truncated) of the current versions after `after`, S3's order
        (UTF-8 bytes, which is also SQLite's TEXT order), prefixes under `delimiter` rolled up."""
        found: list[StoredObject] = []
        prefixes: list[str] = []
        cursor = max(after, prefix) if after >= prefix else prefix
        inclusive = after < prefix
        while len(found) + len(prefixes) <= max_keys:
            op = ">=" if inclusive else ">"
            rows = self.store.all(
                f"SELECT {_COLUMNS} FROM s3_objects WHERE bucket = ? AND latest = 1 AND delete_marker = 0 "
                f"AND key {op} ? ORDER BY key LIMIT ?", (bucket, cursor, max_keys + 1))
            if not rows:
                break
            inclusive = False
            for row in rows:
                key = row["key"]
                if not key.startswith(prefix):
                    return found, prefixes, False
                if len(found) + len(prefixes) >= max_keys:
                    return found, prefixes, True
                rest = key[len(prefix):]
                cut = rest.find(delimiter) if delimiter else -1
                if cut >= 0:
                    common = prefix + rest[:cut + len(delimiter)]
                    prefixes.append(common)
                    cursor = common + "\U0010ffff"  # past every key under it
                    break
                found.append(_row(row))
                cursor = key
            else:
                if len(rows) <= max_keys:
                    break
        return found, prefixes, False

    def list_versions(self, bucket: str, prefix: str, max_keys: int) -> list[StoredObject]:
        rows = self.store.all(f"SELECT {_COLUMNS} FROM s3_objects WHERE bucket = ? AND key >= ? "
                              "ORDER BY key, seq DESC LIMIT ?", (bucket, prefix, max_keys * 4 + 1))
        return [_row(r) for r in rows if r["key"].startswith(prefix)][:max_keys]

    # -- writing ----------------------------------------------------------------------------
    async def receive(self, body: AsyncIterator[bytes], algorithms: Iterable[str], *, inline: bool = True
                      ) -> Written:
        return await self.files.write(body, algorithms, inline_max=INLINE_MAX if inline else 0)

    def inline_bytes(self, obj: StoredObject) -> bytes:
        row = self.store.one("SELECT data FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                             (obj.bucket, obj.key, obj.version_id))
        return bytes(row["data"] or b"") if row is not None else b""

    def body(self, obj: StoredObject, start: int, length: int) -> AsyncIterator[bytes]:
        """`length` bytes of the object from `start`, from its file (opened now: a later overwrite
        or delete does not change what this reads) or its row."""
        if obj.file:
            return self.files.read(self.files.open(obj.file), start, length)
        data = self.inline_bytes(obj)[start:start + length]

        async def once() -> AsyncIterator[bytes]:
            if data:
                yield data
        return once()

    def read_all(self, obj: StoredObject) -> bytes:
        if not obj.file:
            return self.inline_bytes(obj)
        with open(self.files.path(obj.file), "rb") as f:
            return f.read()

    def commit(self, bucket: Bucket, key: str, written: Written, meta: dict[str, Any], *, etag: str | None = None,
               after: Callable[[], None] | None = None) -> StoredObject:
        """Make a received body the key's current version; `after` runs inside the same transaction
        (a notification accepted durably with the object)."""
        obj = StoredObject(bucket.name, key, self._version_for(bucket), True, False, written.size,
                           etag or f'"{written.md5.hex()}"', self.clock.time(), written.name, meta,
                           data=written.data)
        return self._commit(bucket, obj, after)

    def put_marker(self, bucket: Bucket, key: str) -> StoredObject:
        obj = StoredObject(bucket.name, key, self._version_for(bucket), True, True, 0, "", self.clock.time(), "", {})
        return self._commit(bucket, obj, None)

    def _version_for(self, bucket: Bucket) -> str:
        return uuid.uuid4().hex if bucket.versioning == "Enabled" else "null"

    def _commit(self, bucket: Bucket, obj: StoredObject, after: Callable[[], None] | None) -> StoredObject:
        self._seq += 1
        obj.seq = self._seq
        replaced: list[str] = []
        with self.store.transaction():
            old = self.store.one("SELECT file FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                                 (obj.bucket, obj.key, obj.version_id))
            if old is not None and old["file"]:
                replaced.append(old["file"])
            self.store.execute("UPDATE s3_objects SET latest = 0 WHERE bucket = ? AND key = ? AND latest = 1",
                               (obj.bucket, obj.key))
            self.store.execute(
                f"INSERT INTO s3_objects ({_COLUMNS}, data) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (bucket, key, version_id) DO UPDATE SET latest = 1, "
                "delete_marker = excluded.delete_marker, "
                "size = excluded.size, etag = excluded.etag, modified = excluded.modified, file = excluded.file, "
                "meta = excluded.meta, seq = excluded.seq, data = excluded.data",
                (obj.bucket, obj.key, obj.version_id, int(obj.delete_marker), obj.size, obj.etag, obj.modified,
                 obj.file, json.dumps(obj.meta), obj.seq, obj.data))
            if after is not None:
                after()
        obj.data = None  # committed: reads take it from the row
        for name in replaced:
            if name != obj.file:
                self.files.remove(name)
        return obj

    def delete(self, bucket: Bucket, key: str, version_id: str | None) -> StoredObject | None:
        """DeleteObject: without a version id in a versioned bucket, a delete marker; otherwise the
        (named or only) version goes. Answers what was removed or created (None: nothing was there)."""
        if version_id is None and bucket.versioning:
            return self.put_marker(bucket, key)
        vid = version_id or "null"
        row = self.store.one(f"SELECT {_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                             (bucket.name, key, vid))
        if row is None:
            return None
        gone = _row(row)
        with self.store.transaction():
            self.store.execute("DELETE FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                               (bucket.name, key, vid))
            if gone.latest:
                newest = self.store.one("SELECT version_id FROM s3_objects WHERE bucket = ? AND key = ? "
                                        "ORDER BY seq DESC LIMIT 1", (bucket.name, key))
                if newest is not None:
                    self.store.execute("UPDATE s3_objects SET latest = 1 WHERE bucket = ? AND key = ? "
                                       "AND version_id = ?", (bucket.name, key, newest["version_id"]))
        if gone.file:
            self.files.remove(gone.file)
        return gone

    def copy(self, source: StoredObject, bucket: Bucket, key: str, meta: dict[str, Any],
             after: Callable[[], None] | None = None) -> StoredObject:
        name, data = (self.files.link(source.file), None) if source.file else ("", self.inline_bytes(source))
        obj = StoredObject(bucket.name, key, self._version_for(bucket), True, False, source.size, source.etag,
                           self.clock.time(), name, meta, data=data)
        try:
            return self._commit(bucket, obj, after)
        except BaseException:
            if name:
                self.files.remove(name)
            raise

    # -- multipart --------------------------------------------------------------------------
    def create_upload(self, bucket: Bucket, key: str, meta: dict[str, Any]) -> Upload:
        upload = Upload(base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("="),
                        bucket.name, key, self.clock.time(), meta)
        self.store.execute("INSERT INTO s3_uploads (upload_id, bucket, key, initiated, meta) VALUES (?, ?, ?, ?, ?)",
                           (upload.upload_id, bucket.name, key, upload.initiated, json.dumps(meta)))
        return upload

    def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        row = self.store.one("SELECT upload_id, bucket, key, initiated, meta FROM s3_uploads WHERE upload_id = ?",
                             (upload_id,))
        if row is None or row["bucket"] != bucket or row["key"] != key:
            raise no_such_upload(upload_id)
        return Upload(row["upload_id"], row["bucket"], row["key"], row["initiated"], json.loads(row["meta"]))

    def list_uploads(self, bucket: str, prefix: str) -> list[Upload]:
        return [Upload(r["upload_id"], r["bucket"], r["key"], r["initiated"], json.loads(r["meta"]))
                for r in self.store.all("SELECT upload_id, bucket, key, initiated, meta FROM s3_uploads "
                                        "WHERE bucket = ? ORDER BY key, initiated", (bucket,))
                if r["key"].startswith(prefix)]

    def put_part(self, upload: Upload, number: int, written: Written) -> str:
        etag = f'"{written.md5.hex()}"'
        old = self.store.one("SELECT file FROM s3_parts WHERE upload_id = ? AND part_number = ?",
                             (upload.upload_id, number))
        self.store.execute(
            "INSERT INTO s3_parts (upload_id, part_number, size, etag, modified, file, checksums) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, "
            "etag = excluded.etag, modified = excluded.modified, file = excluded.file, checksums = excluded.checksums",
            (upload.upload_id, number, written.size, etag, self.clock.time(), written.name,
             json.dumps(written.checksums)))
        if old is not None and self.store.one("SELECT upload_id FROM s3_uploads WHERE upload_id = ?",
                                              (upload.upload_id,)) is not None:
            self.files.remove(old["file"])
        return etag

    def parts(self, upload_id: str) -> list[dict[str, Any]]:
        return [{"PartNumber": r["part_number"], "Size": r["size"], "ETag": r["etag"], "LastModified": r["modified"],
                 "file": r["file"], "checksums": json.loads(r["checksums"])}
                for r in self.store.all("SELECT part_number, size, etag, modified, file, checksums FROM s3_parts "
                                        "WHERE upload_id = ? ORDER BY part_number", (upload_id,))]

    async def complete(self, bucket: Bucket, upload: Upload, requested: list[dict[str, Any]],
                       after: Callable[[], None] | None = None) -> StoredObject:
        """CompleteMultipartUpload: the listed parts (ascending, each as uploaded, all but the last
        at least 5 MiB) become one object with S3's multipart ETag: MD5 of the parts' MD5s, `-N`."""
        have = {p["PartNumber"]: p for p in self.parts(upload.upload_id)}
        if not requested:
            raise S3Error("You must specify at least one part", code="MalformedXML")
        chosen: list[dict[str, Any]] = []
        last = 0
        for part in requested:
            number = int(part.get("PartNumber") or 0)
            if number <= last:
                raise S3Error("The list of parts was not in ascending order. Parts must be ordered by part number.",
                              code="InvalidPartOrder", UploadId=upload.upload_id)
            last = number
        for index, part in enumerate(requested):
            number = int(part.get("PartNumber") or 0)
            found = have.get(number)
            if found is None or part.get("ETag", "").strip('"') != found["ETag"].strip('"'):
                raise S3Error("One or more of the specified parts could not be found.  The part may not have been "
                              "uploaded, or the specified entity tag may not match the part's entity tag.",
                              code="InvalidPart", UploadId=upload.upload_id, PartNumber=number,
                              ETag=part.get("ETag", ""))
            if index < len(requested) - 1 and found["Size"] < MIN_PART:
                raise S3Error("Your proposed upload is smaller than the minimum allowed size", code="EntityTooSmall",
                              ProposedSize=found["Size"], MinSizeAllowed=MIN_PART, PartNumber=number,
                              ETag=found["ETag"])
            chosen.append(found)
        digest = hashlib.md5(b"".join(bytes.fromhex(p["ETag"].strip('"')) for p in chosen), usedforsecurity=False)
        name = await self.files.concatenate([p["file"] for p in chosen])
        meta = dict(upload.meta)
        meta["PartsCount"] = len(chosen)
        algorithm = meta.get("ChecksumAlgorithm")
        if algorithm and all(algorithm in p["checksums"] for p in chosen):
            meta["Checksums"] = {algorithm: checksums.of_parts(algorithm, [p["checksums"][algorithm] for p in chosen])}
        written = Written(name, sum(p["Size"] for p in chosen), digest.digest())

        def finish() -> None:
            self._drop_upload(upload.upload_id)
            if after is not None:
                after()
        try:
            obj = self.commit(bucket, upload.key, written, meta, etag=f'"{digest.hexdigest()}-{len(chosen)}"',
                              after=finish)
        except BaseException:
            self.files.remove(name)
            raise
        for part in have.values():
            self.files.remove(part["file"])
        return obj

    def abort(self, upload: Upload) -> None:
        parts = self.parts(upload.upload_id)
        with self.store.transaction():
            self._drop_upload(upload.upload_id)
        for part in parts:
            self.files.remove(part["file"])

    def _drop_upload(self, upload_id: str) -> None:
        self.store.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
        self.store.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))
