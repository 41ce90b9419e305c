"""Buckets: one global namespace (as on AWS: a name is taken across accounts and regions), each owned
by an account and located in a region, with its configurations (policy, notifications, versioning,
tags, CORS, lifecycle) as JSON. All buckets are held in memory, loaded at start; every change is
committed before it is answered."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lambdad.clock import Clock
from lambdad.errors import S3Error
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_buckets (
    name TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    created REAL NOT NULL,
    config TEXT NOT NULL
);
"""

_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d+\.\d+\.\d+\.\d+")
# The regions S3 accepts as a LocationConstraint (us-east-1 is the absence of one).
REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ca-central-1", "ca-west-1",
    "cn-north-1", "cn-northwest-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1",
    "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2", "EU",
})


@dataclass(slots=True)
class Bucket:
    name: str
    account: str
    region: str
    created: float
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"

    @property
    def versioning(self) -> str:
        """'' (never enabled), 'Enabled' or 'Suspended'."""
        return str(self.config.get("Versioning", ""))


def no_such_bucket(name: str) -> S3Error:
    return S3Error("The specified bucket does not exist", code="NoSuchBucket", status=404, BucketName=name)


def check_name(name: str) -> None:
    """S3's naming rules for new buckets (User Guide, "Bucket naming rules")."""
    if (not _NAME.fullmatch(name) or ".." in name or _IP.fullmatch(name) or name.startswith(("xn--", "sthree-"))
            or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3"))):
        raise S3Error("The specified bucket is not valid.", code="InvalidBucketName", BucketName=name)


class Buckets:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        store.ensure_schema(SCHEMA)
        self._by_name: dict[str, Bucket] = {}
        for row in store.all("SELECT name, account, region, created, config FROM s3_buckets"):
            self._by_name[row["name"]] = Bucket(row["name"], row["account"], row["region"], row["created"],
                                                json.loads(row["config"]))

    def find(self, name: str) -> Bucket | None:
        return self._by_name.get(name)

    def get(self, name: str) -> Bucket:
        bucket = self._by_name.get(name)
        if bucket is None:
            raise no_such_bucket(name)
        return bucket

    def all(self) -> list[Bucket]:
        return list(self._by_name.values())

    def list(self, account: str) -> list[Bucket]:
        return sorted((b for b in self._by_name.values() if b.account == account), key=lambda b: b.name)

    def create(self, account: str, request_region: str, name: str, constraint: str | None) -> Bucket:
        """CreateBucket: the LocationConstraint must name the region the request was signed for (none
        at all means us-east-1), as S3's regional endpoints require."""
        check_name(name)
        if constraint == "us-east-1":
            raise S3Error("The specified location-constraint is not valid", code="InvalidLocationConstraint",
                          LocationConstraint=constraint)
        if constraint is not None and constraint not in REGIONS:
            raise S3Error("The specified location-constraint is not valid", code="InvalidLocationConstraint",
                          LocationConstraint=constraint)
        region = "eu-west-1" if constraint == "EU" else (constraint or "us-east-1")
        if region != request_region:
            shown = constraint or "unspecified"
            raise S3Error(f"The {shown} location constraint is incompatible for the region specific endpoint this "
                          "request was sent to.", code="IllegalLocationConstraintException")
        existing = self._by_name.get(name)
        if existing is not None:
            if existing.account != account:
                raise S3Error("The requested bucket name is not available. The bucket namespace is shared by all "
                              "users of the system. Please select a different name and try again.",
                              code="BucketAlreadyExists", status=409, BucketName=name)
            if existing.region == "us-east-1" and region == "us-east-1":
                return existing  # us-east-1 answers 200 to its owner, for compatibility
            raise S3Error("Your previous request to create the named bucket succeeded and you already own it.",
                          code="BucketAlreadyOwnedByYou", status=409, BucketName=name)
        bucket = Bucket(name, account, region, self.clock.time())
        self.store.execute("INSERT INTO s3_buckets (name, account, region, created, config) VALUES (?, ?, ?, ?, ?)",
                           (name, account, region, bucket.created, "{}"))
        self._by_name[name] = bucket
        return bucket

    def delete(self, name: str) -> None:
        self.store.execute("DELETE FROM s3_buckets WHERE name = ?", (name,))
        self._by_name.pop(name, None)

    def set_config(self, bucket: Bucket, key: str, value: Any) -> None:
        """Store (or with None, remove) one of the bucket's configurations."""
        config = dict(bucket.config)
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
        self.store.execute("UPDATE s3_buckets SET config = ? WHERE name = ?", (json.dumps(config), bucket.name))
        bucket.config = config
