"""Lifecycle expiration: a bucket's enabled rules expire current objects a number of days after their
creation (or on a date), noncurrent versions a number of days after they were written (S3 counts from
when they stopped being current: a simplification), and
incomplete multipart uploads a number of days after they were started, as S3's lifecycle does.

`Lifecycle.run_sweeper` is a background loop (started through the supervisor) that applies the rules
every `interval` seconds of the injected clock; `expire_once` is one pass (what tests drive with a
FakeClock). S3 rounds a rule's due time up to the next midnight UTC; so does this.
"""

from __future__ import annotations

import logging
from typing import Any

from lambdad.clock import Clock
from lambdad.errors import S3Error
from lambdad.services.s3.buckets import Bucket
from lambdad.services.s3.service import S3Service

log = logging.getLogger("lambdad.s3")
DAY = 86400.0


def _due(start: float, days: int) -> float:
    """S3's due time: `days` days after `start`, rounded up to midnight UTC."""
    moment = start + days * DAY
    return moment if moment % DAY == 0 else (moment // DAY + 1) * DAY


def check_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of a PutBucketLifecycleConfiguration, checked as S3 checks them."""
    rules = config.get("Rules") or []
    if not rules or len(rules) > 1000:
        raise S3Error("The XML you provided was not well-formed or did not validate against our published schema",
                      code="MalformedXML")
    ids = [r.get("ID") for r in rules if r.get("ID")]
    if len(ids) != len(set(ids)):
        raise S3Error("Rule ID must be unique. Found same ID for more than one rule", code="InvalidArgument")
    for rule in rules:
        if rule.get("Status") not in ("Enabled", "Disabled"):
            raise S3Error("The XML you provided was not well-formed or did not validate against our published "
                          "schema", code="MalformedXML")
        days = (rule.get("Expiration") or {}).get("Days")
        if days is not None and int(days) <= 0:
            raise S3Error("'Days' for Expiration action must be a positive integer", code="InvalidArgument")
        if not any(rule.get(k) for k in ("Expiration", "NoncurrentVersionExpiration",
                                          "AbortIncompleteMultipartUpload", "Transitions",
                                          "NoncurrentVersionTransitions")):
            raise S3Error("At least one action needs to be specified in a rule", code="InvalidRequest")
    return [dict(r) for r in rules]


def _prefix(rule: dict[str, Any]) -> str:
    found = rule.get("Filter") or {}
    return str(found.get("Prefix") or (found.get("And") or {}).get("Prefix") or rule.get("Prefix") or "")


class Lifecycle:
    def __init__(self, s3: S3Service, clock: Clock, interval: float = 3600.0) -> None:
        self.s3 = s3
        self.clock = clock
        self.interval = interval

    async def run_sweeper(self) -> None:
        while True:
            await self.expire_once()
            await self.clock.sleep(self.interval)

    async def expire_once(self) -> int:
        """Apply every bucket's enabled rules now; answer how many objects, versions and uploads went."""
        now = self.clock.time()
        removed = 0
        for bucket in self.s3.buckets.all():
            rules = [r for r in bucket.config.get("Lifecycle") or [] if r.get("Status") == "Enabled"]
            for rule in rules:
                removed += await self._apply(bucket, rule, now)
        return removed

    async def _apply(self, bucket: Bucket, rule: dict[str, Any], now: float) -> int:
        objects = self.s3.objects
        prefix = _prefix(rule)
        removed = 0
        expiration = rule.get("Expiration") or {}
        days, date = expiration.get("Days"), expiration.get("Date")
        if days is not None or date is not None:
            after = ""
            while True:
                found, _, truncated = objects.list_latest(bucket.name, prefix, after, "", 1000)
                for obj in found:
                    due = float(date) if date is not None else _due(obj.modified, int(days or 0))
                    if due <= now:
                        gone = objects.delete(bucket, obj.key, None)
                        if gone is not None:
                            removed += 1
                            event = ("LifecycleExpiration:DeleteMarkerCreated" if gone.delete_marker
                                     else "LifecycleExpiration:Delete")
                            await self.s3.emit(bucket, event, gone, "s3.amazonaws.com", "s3.amazonaws.com", "")
                if not truncated or not found:
                    break
                after = found[-1].key
        noncurrent = (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
        if noncurrent is not None:
            for version in objects.list_versions(bucket.name, prefix, 100000):
                if not version.latest and _due(version.modified, int(noncurrent)) <= now:
                    objects.delete(bucket, version.key, version.version_id)
                    removed += 1
        abort = (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
        if abort is not None:
            for upload in objects.list_uploads(bucket.name, prefix):
                if _due(upload.initiated, int(abort)) <= now:
                    objects.abort(upload)
                    removed += 1
        return removed
