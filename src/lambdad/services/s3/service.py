"""The S3 domain as the wire and the other services see it: buckets, objects, their notifications.

`S3Service` owns the bucket registry, the object metadata and the object files, and tells the
notifier (notifications.py) about every object created or removed. It also lends Lambda the bytes of
a deployment package named by S3Bucket/S3Key (`read_object`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from lambdad.clock import Clock
from lambdad.errors import S3Error
from lambdad.services.s3.buckets import Bucket, Buckets
from lambdad.services.s3.objects import Objects, StoredObject
from lambdad.services.s3.storage import ObjectFiles
from lambdad.store import Store

# (bucket, event name such as "ObjectCreated:Put", the object, who asked, their IP, request id)
Notify = Callable[[Bucket, str, StoredObject, str, str, str], Callable[[], None] | None]


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
        # Set by the notifications module once it exists: the callable answers the work to do inside
        # the object's commit (queueing the events durably), or None when nothing matches.
        self.notify: Notify | None = None

    def delete_bucket(self, name: str) -> None:
        bucket = self.buckets.get(name)
        if self.objects.exists(name):
            raise S3Error("The bucket you tried to delete is not empty", code="BucketNotEmpty", status=409,
                          BucketName=name)
        self.buckets.delete(bucket.name)

    def event(self, bucket: Bucket, name: str, obj: StoredObject, principal_id: str, ip: str,
              request_id: str) -> Callable[[], None] | None:
        if self.notify is None or not bucket.config.get("Notification"):
            return None
        return self.notify(bucket, name, obj, principal_id, ip, request_id)

    def read_object(self, account: str, bucket_name: str, key: str, version: str | None, limit: int) -> bytes:
        """A whole (small) object for the caller's account, as Lambda reads a package from S3: the
        bucket must be the account's (or NoSuchBucket/NoSuchKey as S3 would say)."""
        bucket = self.buckets.get(bucket_name)
        if bucket.account != account:
            raise S3Error("Access Denied", code="AccessDenied", status=403)
        obj = self.objects.head(bucket_name, key, version)
        if obj.size > limit:
            raise S3Error(f"The object is larger than {limit} bytes", code="EntityTooLarge")
        with open(self.files.path(obj.file), "rb") as f:
            return f.read()
