"""`GET /`: a short page for browsers and curl; everything signed, or from an SDK, as before."""

from __future__ import annotations

from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from lambdad import __version__
from tests.conftest import Server, unique


def test_plain_get_answers_a_page(server: Server) -> None:
    text = httpx.get(f"{server.endpoint}/", headers={"user-agent": "curl/8.5.0", "accept": "*/*"}, timeout=10)
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert f"lambdad {__version__}" in text.text
    assert f"health:  {server.endpoint}/_lambdad/health\n" in text.text
    assert "console: not built yet" in text.text
    page = httpx.get(f"{server.endpoint}/", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                                                       "user-agent": "Mozilla/5.0"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<a href="/_lambdad/health">' in page.text and f"<h1>lambdad {__version__}</h1>" in page.text
    head = httpx.head(f"{server.endpoint}/", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(text.content)
    # and the health link works unsigned
    assert httpx.get(f"{server.endpoint}/_lambdad/health", timeout=10).json()["status"] == "ok"


@pytest.mark.parametrize("variant", [
    {"params": {"x": "1"}},
    {"headers": {"x-amz-date": "20260101T000000Z"}},
    {"headers": {"authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/s3/aws4_request"}},
    {"headers": {"user-agent": "Boto3/1.34.0 md/Botocore#1.34.0"}},
    {"headers": {"host": "photos.s3.us-east-1.localhost"}},
    {"method": "POST"},
])
def test_anything_else_at_the_root_is_not_the_page(server: Server, variant: dict[str, Any]) -> None:
    method = variant.pop("method", "GET")
    resp = httpx.request(method, f"{server.endpoint}/", timeout=10, **variant)
    assert resp.status_code in (400, 403), resp.text
    assert "lambdad 0.1" not in resp.text


def test_signed_get_root_is_still_s3_list_buckets(server: Server) -> None:
    s3 = server.client("s3")
    bucket = unique("landing").lower()
    s3.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_an_sdks_unsigned_root_request_keeps_its_refusal(server: Server) -> None:
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      config=BotoConfig(signature_version=UNSIGNED, retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as err:
        s3.list_buckets()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
