"""S3 lifecycle expiration driven by a FakeClock: objects expire at the midnight after their days,
incomplete multipart uploads are aborted, disabled rules do nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from lambdad.clock import FakeClock
from lambdad.services.s3.lifecycle import DAY, Lifecycle, check_rules
from lambdad.services.s3.service import S3Service
from lambdad.store import SqliteStore


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_expiration_and_abort(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(start=100 * DAY + 3600)  # 01:00 UTC
        store = SqliteStore(tmp_path / "db.sqlite")
        s3 = S3Service(store, tmp_path / "s3", clock)
        bucket = s3.buckets.create("000000000000", "us-east-1", "life-bucket", None)
        for key in ("logs/a", "logs/b", "keep/c"):
            written = await s3.objects.receive(_body(b"x"), ())
            s3.objects.commit(bucket, key, written, {})
        upload = s3.objects.create_upload(bucket, "logs/partial", {})
        s3.buckets.set_config(bucket, "Lifecycle", check_rules({"Rules": [
            {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
            {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"}, "Expiration": {"Days": 1}}]}))
        lifecycle = Lifecycle(s3, clock)
        assert await lifecycle.expire_once() == 0
        # Created at day 100, 01:00: one day later is day 101, 01:00, rounded up to midnight: day 102.
        await clock.advance(2 * DAY - 3600 - 1)
        assert await lifecycle.expire_once() == 0
        await clock.advance(1)
        assert await lifecycle.expire_once() == 2
        keys = [o.key for o in s3.objects.list_latest(bucket.name, "", "", "", 100)[0]]
        assert keys == ["keep/c"]
        assert s3.objects.list_uploads(bucket.name, "") != []  # its two days end at day 103
        await clock.advance(DAY)
        assert await lifecycle.expire_once() == 1
        assert s3.objects.list_uploads(bucket.name, "") == []
        del upload
        store.close()

    asyncio.run(scenario())


def test_rules_are_checked() -> None:
    import pytest

    from lambdad.errors import S3Error

    for bad in ({"Rules": []}, {"Rules": [{"Status": "On", "Expiration": {"Days": 1}}]},
                {"Rules": [{"Status": "Enabled", "Expiration": {"Days": 0}}]},
                {"Rules": [{"Status": "Enabled"}]}):
        with pytest.raises(S3Error):
            check_rules(bad)
