"""The S3 domain as the wire and the other services see it: buckets, objects, their notifications.

`S3Service` owns the bucket registry, the object metadata and the object files, and tells the
notifier (notifications.py) about every object created or removed. It also lends Lambda the bytes of
a deployment package named by S3Bucket/S3Key (`read_object`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lambdad.clock import Clock
from lambdad.errors import S3Error
from lambdad.services.s3.buckets import Bucket, Buckets
from lambdad.services.s3.notifications import Notifier
from lambdad.services.s3.objects import Objects, StoredObject
from lambdad.services.s3.storage import ObjectFiles
from lambdad.store import Store


def canonical_id(account: str) -> str:
    """The 64-hex canonical user id S3 shows as an owner's ID (derived, stable per account)."""
    return hashlib.sha256(f"lambdad-s3-owner:{account}".encode()).hexdigest()


class S3Service:
    def __init__(self, store: Store, root: Path, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.files = ObjectFiles(root)
        self.buckets = Buckets(store, clock)
        self.objects = Objects(store, self.files, clock)
        swept = self.objects.sweep()
        self.swept_at_start = swept
        self.notifier: Notifier | None = None  # set once the services it delivers to exist

    def delete_bucket(self, name: str) -> None:
        bucket = self.buckets.get(name)
        if self.objects.exists(name):
            raise S3Error("The bucket you tried to delete is not empty", code="BucketNotEmpty", status=409,
                          BucketName=name)
        self.buckets.delete(bucket.name)

    async def emit(self, bucket: Bucket, name: str, obj: StoredObject, principal_id: str, ip: str,
                   request_id: str) -> None:
        """Tell the bucket's notification destinations that `obj` was created or removed (`name` is
        S3's event name without "s3:", e.g. "ObjectCreated:Put")."""
        if self.notifier is not None and bucket.config.get("Notification"):
            await self.notifier.emit(bucket, name, obj, principal_id, ip, request_id)

    def read_object(self, account: str, bucket_name: str, key: str, version: str | None, limit: int) -> bytes:
        """A whole (small) object for the caller's account, as Lambda reads a package from S3: the
        bucket must be the account's (or NoSuchBucket/NoSuchKey as S3 would say)."""
        bucket = self.buckets.get(bucket_name)
        if bucket.account != account:
            raise S3Error("Access Denied", code="AccessDenied", status=403)
        obj = self.objects.head(bucket_name, key, version)
        if obj.size > limit:
            raise S3Error(f"The object is larger than {limit} bytes", code="EntityTooLarge")
        return self.objects.read_all(obj)
