"""Embedded S3 against a real server: boto3, the AWS CLI and curl, path-style and virtual-hosted."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, running_server, unique


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from running_server(tmp_path_factory, "s3")


@pytest.fixture(scope="module")
def s3(s3_server: Server) -> Any:
    return s3_server.client("s3")


def regional(server: Server, region: str) -> Any:
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=region, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=BotoConfig(retries={"max_attempts": 0}))


def bucket_name() -> str:
    return unique("bkt").lower().replace("_", "-")


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def cli(server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION})
    return subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True,
                          text=True, check=check, timeout=300)


# -- buckets ---------------------------------------------------------------------------------


def test_bucket_lifecycle(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error_of(exc) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert error_of(exc)[0] == 404
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=name)
    assert error_of(exc) == (404, "NoSuchBucket")
    assert exc.value.response["Error"]["BucketName"] == name


def test_bucket_region_constraint(s3_server: Server) -> None:
    west = regional(s3_server, "us-west-2")
    name = bucket_name()
    with pytest.raises(ClientError) as exc:
        west.create_bucket(Bucket=name)  # no constraint means us-east-1: not this endpoint's region
    assert error_of(exc) == (400, "IllegalLocationConstraintException")
    west.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert west.get_bucket_location(Bucket=name)["LocationConstraint"] == "us-west-2"
    east = s3_server.client("s3")
    with pytest.raises(ClientError) as exc:
        east.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert error_of(exc) == (400, "InvalidLocationConstraint")
    with pytest.raises(ClientError) as exc:
        west.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert error_of(exc) == (409, "BucketAlreadyOwnedByYou")
    with pytest.raises(ClientError) as exc:
        east.create_bucket(Bucket="Bad_Name")
    assert error_of(exc) == (400, "InvalidBucketName")


# -- objects ---------------------------------------------------------------------------------


def test_put_get_head_with_metadata(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    body = b"hello world" * 100
    put = s3.put_object(Bucket=name, Key="dir/a b+c.txt", Body=body, ContentType="text/plain",
                        Metadata={"colour": "blue"}, CacheControl="max-age=60", ContentDisposition="inline")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=name, Key="dir/a b+c.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=name, Key="dir/a b+c.txt")
    assert head["ContentLength"] == len(body)
    assert head["ContentDisposition"] == "inline"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="nope")
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=name, Key="nope")
    assert error_of(exc)[0] == 404


def test_default_checksums_boto3_sends(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    body = os.urandom(3000)
    for algorithm in ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"):
        try:
            out = s3.put_object(Bucket=name, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
        except Exception as exc:  # botocore without the CRT has no CRC32C/CRC64NVME of its own
            if "CRT" in str(exc) or "crt" in str(exc):
                continue
            raise
        assert out[f"Checksum{algorithm}"]
        head = s3.head_object(Bucket=name, Key=algorithm, ChecksumMode="ENABLED")
        assert head[f"Checksum{algorithm}"] == out[f"Checksum{algorithm}"]
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert s3.put_object(Bucket=name, Key="plain", Body=body)["ChecksumCRC32"] == crc


def test_bad_digest_is_refused_and_not_stored(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="k", Body=b"abc", ContentMD5=base64.b64encode(b"0" * 16).decode())
    assert error_of(exc) == (400, "BadDigest")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="k")


def test_ranges_and_conditionals(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    body = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=name, Key="r", Body=body)["ETag"]
    part = s3.get_object(Bucket=name, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=name, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=name, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", Range="bytes=5000-6000")
    assert error_of(exc) == (416, "InvalidRange")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", IfNoneMatch=etag)
    assert error_of(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", IfMatch='"0000"')
    assert error_of(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=name, Key="r", IfMatch=etag)["Body"].read() == body
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", IfModifiedSince=future)
    assert error_of(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="r", IfUnmodifiedSince=datetime(2000, 1, 1, tzinfo=UTC))
    assert error_of(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="r", Body=b"new", IfNoneMatch="*")
    assert error_of(exc) == (412, "PreconditionFailed")


def test_copy_and_metadata_directive(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="src", Body=b"data", ContentType="text/x-a", Metadata={"a": "1"})
    s3.copy_object(Bucket=name, Key="same", CopySource={"Bucket": name, "Key": "src"})
    same = s3.head_object(Bucket=name, Key="same")
    assert same["Metadata"] == {"a": "1"} and same["ContentType"] == "text/x-a"
    s3.copy_object(Bucket=name, Key="new", CopySource=f"{name}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/x-b")
    new = s3.get_object(Bucket=name, Key="new")
    assert new["Metadata"] == {"b": "2"} and new["ContentType"] == "text/x-b"
    assert new["Body"].read() == b"data"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=name, Key="src", CopySource=f"{name}/src")
    assert error_of(exc) == (400, "InvalidRequest")
    s3.delete_object(Bucket=name, Key="src")
    assert s3.get_object(Bucket=name, Key="new")["Body"].read() == b"data"  # a copy outlives its source


def test_listing_prefix_delimiter_continuation(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d+e f"]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    listed = s3.list_objects_v2(Bucket=name)
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys)
    top = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["c", "d+e f"]
    under = s3.list_objects_v2(Bucket=name, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in under["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in under["CommonPrefixes"]] == ["a/b/"]
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=name, PaginationConfig={"PageSize": 2}))
    assert [o["Key"] for page in pages for o in page.get("Contents", [])] == sorted(keys)
    assert len(pages) == 3
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=name, PaginationConfig={"PageSize": 4}))
    assert [o["Key"] for page in v1 for o in page.get("Contents", [])] == sorted(keys)
    deleted = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys[:3]]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == sorted(keys[:3])
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["b/4", "c", "d+e f"]


def test_cli_sync_ls_rm(s3_server: Server, s3: Any, tmp_path: Path) -> None:
    name = bucket_name()
    cli(s3_server, "s3", "mb", f"s3://{name}")
    (tmp_path / "src").mkdir()
    for i in range(3):
        (tmp_path / "src" / f"f{i}.txt").write_text(f"file {i}")
    cli(s3_server, "s3", "sync", str(tmp_path / "src"), f"s3://{name}/up")
    out = cli(s3_server, "s3", "ls", f"s3://{name}/up/").stdout
    assert "f0.txt" in out and "f2.txt" in out
    cli(s3_server, "s3", "rm", "--recursive", f"s3://{name}/up")
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_multipart_100mb_with_cli(s3_server: Server, s3: Any, tmp_path: Path) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1024 * 1024))
    cli(s3_server, "s3", "cp", str(source), f"s3://{name}/big.bin")
    head = s3.head_object(Bucket=name, Key="big.bin")
    assert head["ContentLength"] == 100 * 1024 * 1024
    assert head["ETag"].endswith('-13"')  # the CLI's 8 MiB parts
    back = tmp_path / "back.bin"
    cli(s3_server, "s3", "cp", f"s3://{name}/big.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()


def test_multipart_api(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    up = s3.create_multipart_upload(Bucket=name, Key="mp", ContentType="application/x-mp")
    uid = up["UploadId"]
    one = os.urandom(5 * 1024 * 1024)
    two = b"tail"
    e1 = s3.upload_part(Bucket=name, Key="mp", UploadId=uid, PartNumber=1, Body=one)["ETag"]
    e2 = s3.upload_part(Bucket=name, Key="mp", UploadId=uid, PartNumber=2, Body=two)["ETag"]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=name, Key="mp", UploadId=uid)["Parts"]] == [1, 2]
    assert uid in [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=name)["Uploads"]]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert error_of(exc) == (400, "InvalidPartOrder")
    done = s3.complete_multipart_upload(Bucket=name, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    expected = hashlib.md5(hashlib.md5(one).digest() + hashlib.md5(two).digest()).hexdigest() + "-2"
    assert done["ETag"] == f'"{expected}"'
    got = s3.get_object(Bucket=name, Key="mp")
    assert got["Body"].read() == one + two and got["ContentType"] == "application/x-mp"
    small = s3.create_multipart_upload(Bucket=name, Key="small")["UploadId"]
    a = s3.upload_part(Bucket=name, Key="small", UploadId=small, PartNumber=1, Body=b"a")["ETag"]
    b = s3.upload_part(Bucket=name, Key="small", UploadId=small, PartNumber=2, Body=b"b")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="small", UploadId=small, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": a}, {"PartNumber": 2, "ETag": b}]})
    assert error_of(exc) == (400, "EntityTooSmall")
    s3.abort_multipart_upload(Bucket=name, Key="small", UploadId=small)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=name, Key="small", UploadId=small)
    assert error_of(exc) == (404, "NoSuchUpload")


def test_presigned_urls_with_curl(s3_server: Server) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY, config=BotoConfig(signature_version="s3v4"))
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": name, "Key": "p"}, ExpiresIn=300)
    done = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                           "--data-binary", "presigned body", put_url], capture_output=True, text=True, timeout=30)
    assert done.stdout == "200", done.stderr
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "p"}, ExpiresIn=300)
    assert subprocess.run(["curl", "-sS", get_url], capture_output=True, timeout=30).stdout == b"presigned body"
    tampered = get_url.replace("/p?", "/q?")
    answer = httpx.get(tampered)
    assert answer.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in answer.content


def test_unsigned_request_is_refused_in_xml(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"secret")
    answer = httpx.get(f"{s3_server.endpoint}/{name}/k")
    assert answer.status_code == 403
    assert b"<Code>AccessDenied</Code>" in answer.content


def test_virtual_hosted_style(s3_server: Server) -> None:
    client = boto3.client("s3", endpoint_url=f"http://localhost:{s3_server.port}", region_name=REGION,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          config=BotoConfig(s3={"addressing_style": "virtual"}, retries={"max_attempts": 0}))
    name = bucket_name()
    path_client = s3_server.client("s3")
    path_client.create_bucket(Bucket=name)
    # boto3 would resolve <bucket>.localhost; route it to loopback by hand with the Host header.
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"http://127.0.0.1:{s3_server.port}/vk"
    host = f"{name}.s3.{REGION}.localhost:{s3_server.port}"
    request = AWSRequest("PUT", url, data=b"virtual", headers={"Host": host})
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    answer = httpx.put(url, content=b"virtual", headers=dict(request.headers.items()))
    assert answer.status_code == 200, answer.text
    assert path_client.get_object(Bucket=name, Key="vk")["Body"].read() == b"virtual"
    del client


def test_malformed_xml_and_oversized_key(s3: Any, s3_server: Server) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="k" * 1025, Body=b"x")
    assert error_of(exc) == (400, "KeyTooLongError")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="m", Body=b"x", Metadata={"big": "v" * 3000})
    assert error_of(exc) == (400, "MetadataTooLarge")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    for body in (b"<Delete><Object><Key>a</Key></Obj", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Delete>&a;</Delete>'):
        url = f"{s3_server.endpoint}/{name}?delete"
        request = AWSRequest("POST", url, data=body, headers={"Content-MD5": base64.b64encode(
            hashlib.md5(body).digest()).decode()})
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
        answer = httpx.post(url, content=body, headers=dict(request.headers.items()))
        assert answer.status_code == 400, answer.text
        assert b"<Code>MalformedXML</Code>" in answer.content


def test_bucket_policy_and_cross_account(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="shared/x", Body=b"x")
    s3.put_object(Bucket=name, Key="private/y", Body=b"y")
    iam = s3_server.client("iam")
    user = unique("u")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": f"arn:aws:s3:::{name}/shared/*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    scoped = s3_server.client("s3", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert scoped.get_object(Bucket=name, Key="shared/x")["Body"].read() == b"x"
    with pytest.raises(ClientError) as exc:
        scoped.get_object(Bucket=name, Key="private/y")
    assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        scoped.put_object(Bucket=name, Key="shared/z", Body=b"z")
    assert error_of(exc) == (403, "AccessDenied")
    # A bucket policy can deny what the identity policy allows.
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                                "Resource": f"arn:aws:s3:::{name}/shared/*"}]}))
    with pytest.raises(ClientError) as exc:
        scoped.get_object(Bucket=name, Key="shared/x")
    assert error_of(exc) == (403, "AccessDenied")
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"][0]["Effect"] == "Deny"
    s3.delete_bucket_policy(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=name, Policy="not json")
    assert error_of(exc) == (400, "MalformedPolicy")


def test_versioning(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=name, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    assert s3.get_object(Bucket=name, Key="k", VersionId=v1)["Body"].read() == b"one"
    marker = s3.delete_object(Bucket=name, Key="k")
    assert marker["DeleteMarker"] is True
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k")
    assert error_of(exc)[0] == 404
    versions = s3.list_object_versions(Bucket=name)
    assert sorted(v["VersionId"] for v in versions["Versions"]) == sorted([v1, v2])
    assert len(versions["DeleteMarkers"]) == 1
    s3.delete_object(Bucket=name, Key="k", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"


def test_tagging(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="t", Body=b"x", Tagging="a=1&b=2")
    assert {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=name, Key="t")["TagSet"]} == {"a": "1", "b": "2"}
    s3.put_object_tagging(Bucket=name, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=name, Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "x"}]})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "team", "Value": "x"}]


# -- event notifications ---------------------------------------------------------------------


def _queue_for_s3(server: Server, bucket: str, allow: bool = True) -> tuple[str, str]:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique("s3q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if allow:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": arn, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}}]})})
    return url, arn


def _messages(server: Server, url: str, count: int) -> list[dict[str, Any]]:
    sqs = server.client("sqs")
    found: list[dict[str, Any]] = []
    for _ in range(20):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            found.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(found) >= count:
            break
    return found


def test_notifications_to_sqs(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    _, denied_arn = _queue_for_s3(s3_server, name, allow=False)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": denied_arn, "Events": ["s3:ObjectCreated:*"]}]})
    assert error_of(exc) == (400, "InvalidArgument")
    assert exc.value.response["Error"]["Message"] == "Unable to validate the following destination configurations"
    url, arn = _queue_for_s3(s3_server, name)
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"QueueConfigurations": [
        {"Id": "created", "QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"},
                                            {"Name": "suffix", "Value": ".txt"}]}}}]})
    test_event = _messages(s3_server, url, 1)
    assert test_event[0]["Event"] == "s3:TestEvent" and test_event[0]["Bucket"] == name
    got = s3.get_bucket_notification_configuration(Bucket=name)["QueueConfigurations"][0]
    assert got["QueueArn"] == arn and got["Id"] == "created"
    s3.put_object(Bucket=name, Key="in/a b.txt", Body=b"my_body_1")
    s3.put_object(Bucket=name, Key="out/skip.txt", Body=b"x")  # filtered out by prefix
    s3.put_object(Bucket=name, Key="in/skip.bin", Body=b"x")  # and by suffix
    s3.copy_object(Bucket=name, Key="in/copy.txt", CopySource=f"{name}/in/a b.txt")
    s3.delete_object(Bucket=name, Key="in/copy.txt")
    records = [m["Records"][0] for m in _messages(s3_server, url, 3)]
    assert [r["eventName"] for r in records] == ["ObjectCreated:Put", "ObjectCreated:Copy", "ObjectRemoved:Delete"]
    put = records[0]
    assert put["eventVersion"] == "2.1" and put["eventSource"] == "aws:s3" and put["awsRegion"] == REGION
    assert put["s3"]["bucket"] == {"name": name, "ownerIdentity": put["s3"]["bucket"]["ownerIdentity"],
                                   "arn": f"arn:aws:s3:::{name}"}
    assert put["s3"]["object"]["key"] == "in/a+b.txt"
    assert put["s3"]["object"]["size"] == 9
    assert put["s3"]["object"]["eTag"] == hashlib.md5(b"my_body_1").hexdigest()
    assert put["s3"]["configurationId"] == "created"
    assert set(put) == {"eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity",
                        "requestParameters", "responseElements", "s3"}
    assert records[1]["s3"]["object"]["sequencer"] > put["s3"]["object"]["sequencer"]
    assert "size" not in records[2]["s3"]["object"]
    from aws_lambda_powertools.utilities.data_classes import S3Event

    event = S3Event({"Records": records})
    assert next(iter(event.records)).s3.get_object.key == "in/a+b.txt"
    assert event.object_key == "in/a b.txt"


def test_notifications_to_sns(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    sns = s3_server.client("sns")
    topic = sns.create_topic(Name=unique("s3t"))["TopicArn"]
    with pytest.raises(ClientError) as exc:  # the default topic policy does not let S3 publish
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"TopicConfigurations": [
            {"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    assert error_of(exc) == (400, "InvalidArgument")
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                "Action": "sns:Publish", "Resource": topic}]}))
    url, queue_arn = _queue_for_s3(s3_server, name, allow=False)
    s3_server.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": queue_arn}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"TopicConfigurations": [
        {"TopicArn": topic, "Events": ["s3:ObjectCreated:Put"]}]})
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    bodies = _messages(s3_server, url, 2)
    assert bodies[0]["Event"] == "s3:TestEvent"
    assert bodies[1]["Records"][0]["eventName"] == "ObjectCreated:Put"


THUMBNAILER = '''
import hashlib, os, urllib.parse
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    record = event["Records"][0]
    bucket = record["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    derived = f"size={len(data)} sha256={hashlib.sha256(data).hexdigest()}"
    s3.put_object(Bucket=bucket, Key="thumbnails/" + key.split("/", 1)[1] + ".txt", Body=derived.encode())
    return derived
'''


def test_image_upload_triggers_function_that_writes_derived_object(s3_server: Server, s3: Any,
                                                                     tmp_path: Path) -> None:
    from tests.conftest import create_function, function_arn

    lam = s3_server.client("lambda")
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    fn = create_function(lam, THUMBNAILER, Timeout=30)
    config = {"LambdaFunctionConfigurations": [{
        "LambdaFunctionArn": function_arn(fn), "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}}}]}
    with pytest.raises(ClientError) as exc:  # the function's policy does not let S3 invoke it yet
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
    assert error_of(exc) == (400, "InvalidArgument")
    assert "Not authorized to invoke function" in exc.value.response["Error"]["ArgumentValue1"]
    lam.add_permission(FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{name}", SourceAccount="000000000000")
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
    image = tmp_path / "cat photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000))
    cli(s3_server, "s3", "cp", str(image), f"s3://{name}/uploads/cat photo.png")
    expected = f"size={image.stat().st_size} sha256={hashlib.sha256(image.read_bytes()).hexdigest()}"
    derived = None
    for _ in range(100):
        try:
            derived = s3.get_object(Bucket=name, Key="thumbnails/cat photo.png.txt")["Body"].read().decode()
            break
        except ClientError:
            import time

            time.sleep(0.2)
    assert derived == expected
    # The function's own write is under thumbnails/: no notification, no loop.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == [
        "thumbnails/cat photo.png.txt", "uploads/cat photo.png"]


# -- streamed uploads, durability, attacks ---------------------------------------------------


def _signed_headers(server: Server, method: str, path: str, content_sha: str, extra: dict[str, str]) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method, f"{server.endpoint}{path}", headers={"X-Amz-Content-SHA256": content_sha, **extra})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    return dict(request.headers.items())


def _chunk_signer(headers: dict[str, str]) -> tuple[str, Any]:
    import hmac

    auth = headers["Authorization"]
    seed = auth.rpartition("Signature=")[2]
    date = headers["X-Amz-Date"]
    scope = f"{date[:8]}/{REGION}/s3/aws4_request"
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date[:8], REGION, "s3", "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    empty = hashlib.sha256(b"").hexdigest()

    def sign(previous: str, data: bytes) -> str:
        text = f"AWS4-HMAC-SHA256-PAYLOAD\n{date}\n{scope}\n{previous}\n{empty}\n{hashlib.sha256(data).hexdigest()}"
        return hmac.digest(key, text.encode(), "sha256").hex()
    return seed, sign


def test_aws_chunked_signed_upload(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    payload = os.urandom(200_000)
    chunks = [payload[i:i + 65536] for i in range(0, len(payload), 65536)] + [b""]

    def body(tamper: bool) -> tuple[dict[str, str], bytes]:
        headers = _signed_headers(s3_server, "PUT", f"/{name}/chunked", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", {
            "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(payload))})
        previous, sign = _chunk_signer(headers)
        out = b""
        for index, chunk in enumerate(chunks):
            signature = sign(previous, chunk)
            previous = signature
            sent = chunk[:-1] + b"X" if tamper and index == 1 else chunk
            out += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + sent + b"\r\n"
        return headers, out

    headers, data = body(tamper=False)
    answer = httpx.put(f"{s3_server.endpoint}/{name}/chunked", content=data, headers=headers)
    assert answer.status_code == 200, answer.text
    assert s3.get_object(Bucket=name, Key="chunked")["Body"].read() == payload
    headers, data = body(tamper=True)
    answer = httpx.put(f"{s3_server.endpoint}/{name}/tampered", content=data, headers=headers)
    assert answer.status_code == 403 and b"SignatureDoesNotMatch" in answer.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="tampered")


def test_unsigned_trailer_checksum_upload(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    payload = b"trailing checksum body" * 100
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    for given, status in ((crc, 200), ("AAAAAA==", 400)):
        headers = _signed_headers(s3_server, "PUT", f"/{name}/t", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", {
            "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(payload)),
            "X-Amz-Trailer": "x-amz-checksum-crc32"})
        data = (f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n"
                + f"x-amz-checksum-crc32:{given}\r\n\r\n".encode())
        answer = httpx.put(f"{s3_server.endpoint}/{name}/t", content=data, headers=headers)
        assert answer.status_code == status, answer.text
    assert s3.get_object(Bucket=name, Key="t")["Body"].read() == payload


def test_payload_hash_mismatch_is_refused(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    headers = _signed_headers(s3_server, "PUT", f"/{name}/h", hashlib.sha256(b"signed").hexdigest(), {})
    answer = httpx.put(f"{s3_server.endpoint}/{name}/h", content=b"swapped", headers=headers)
    assert answer.status_code == 400 and b"XAmzContentSHA256Mismatch" in answer.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="h")


def test_another_accounts_bucket(s3_server: Server, s3: Any) -> None:
    import sys

    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": REGION}
    created = subprocess.run([sys.executable, "-m", "lambdad", "account", "create", unique("acct"), "--endpoint-url",
                              s3_server.endpoint], env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    other = created.stdout.split("# account ", 1)[1].split(" ", 1)[0]
    values = dict(line.split(" = ", 1) for line in created.stdout.splitlines() if " = " in line)
    theirs = s3_server.client("s3", key=values["aws_access_key_id"], secret=values["aws_secret_access_key"])
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="mine", Body=b"secret")
    assert name not in [b["Name"] for b in theirs.list_buckets()["Buckets"]]
    for attempt in (lambda: theirs.get_object(Bucket=name, Key="mine"),
                    lambda: theirs.put_object(Bucket=name, Key="theirs", Body=b"x"),
                    lambda: theirs.list_objects_v2(Bucket=name),
                    lambda: theirs.delete_bucket(Bucket=name)):
        with pytest.raises(ClientError) as exc:
            attempt()
        assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:  # the name is taken across accounts
        theirs.create_bucket(Bucket=name)
    assert error_of(exc) == (409, "BucketAlreadyExists")
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*"}]}))
    assert theirs.get_object(Bucket=name, Key="mine")["Body"].read() == b"secret"
    with pytest.raises(ClientError) as exc:
        theirs.put_object(Bucket=name, Key="theirs", Body=b"x")
    assert error_of(exc) == (403, "AccessDenied")


def test_truncated_upload_stores_nothing(s3_server: Server, s3: Any) -> None:
    import socket

    name = bucket_name()
    s3.create_bucket(Bucket=name)
    headers = _signed_headers(s3_server, "PUT", f"/{name}/cut", "UNSIGNED-PAYLOAD", {"Content-Length": "100000"})
    with socket.create_connection(("127.0.0.1", s3_server.port)) as sock:
        head = f"PUT /{name}/cut HTTP/1.1\r\nHost: 127.0.0.1:{s3_server.port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
        sock.sendall(head.encode() + b"x" * 5000)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=name, Key="cut")
    assert error_of(exc)[0] == 404
    assert list((s3_server.data_dir / "s3" / "tmp").iterdir()) == [] or wait_empty(s3_server.data_dir / "s3" / "tmp")


def wait_empty(folder: Path) -> bool:
    import time

    for _ in range(50):
        if not list(folder.iterdir()):
            return True
        time.sleep(0.1)
    return False


def test_kill_9_mid_upload_loses_nothing_acknowledged(fresh_server: Server) -> None:
    import signal
    import socket
    import time

    fresh_server.start()
    s3 = fresh_server.client("s3")
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="kept", Body=b"acknowledged")
    up = s3.create_multipart_upload(Bucket=name, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=name, Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 1000)["ETag"]
    headers = _signed_headers(fresh_server, "PUT", f"/{name}/kept", "UNSIGNED-PAYLOAD",
                              {"Content-Length": str(50_000_000)})
    sock = socket.create_connection(("127.0.0.1", fresh_server.port))
    head = f"PUT /{name}/kept HTTP/1.1\r\nHost: 127.0.0.1:{fresh_server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
    sock.sendall(head.encode())
    for _ in range(20):
        sock.sendall(b"y" * 1_000_000)
    time.sleep(0.3)
    assert list((fresh_server.data_dir / "s3" / "tmp").iterdir())  # the overwrite is in flight
    fresh_server.stop(signal.SIGKILL)
    sock.close()
    fresh_server.start()
    s3 = fresh_server.client("s3")
    assert s3.get_object(Bucket=name, Key="kept")["Body"].read() == b"acknowledged"
    assert list((fresh_server.data_dir / "s3" / "tmp").iterdir()) == []  # the half-written file is gone
    done = s3.complete_multipart_upload(Bucket=name, Key="mp", UploadId=up,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    assert done["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=name, Key="mp")["Body"].read() == b"p" * 1000


def test_function_code_and_layer_from_s3(s3_server: Server, s3: Any) -> None:
    from tests.conftest import ROLE, make_zip

    lam = s3_server.client("lambda")
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="code/v1.zip", Body=make_zip({"app.py": "def handler(e, c):\n    return 'v1'\n"}))
    s3.put_object(Bucket=name, Key="code/v2.zip", Body=make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    fn = unique("s3code")
    lam.create_function(FunctionName=fn, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"S3Bucket": name, "S3Key": "code/v1.zip"})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.2})
    assert json.loads(lam.invoke(FunctionName=fn)["Payload"].read()) == "v1"
    lam.update_function_code(FunctionName=fn, S3Bucket=name, S3Key="code/v2.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.2})
    assert json.loads(lam.invoke(FunctionName=fn)["Payload"].read()) == "v2"
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=fn, S3Bucket=name, S3Key="code/missing.zip")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "NoSuchKey" in exc.value.response["Error"]["Message"]
    s3.put_object(Bucket=name, Key="layer.zip", Body=make_zip({"python/shared.py": "VALUE = 42\n"}))
    layer = lam.publish_layer_version(LayerName=unique("s3layer"), Content={"S3Bucket": name, "S3Key": "layer.zip"})
    assert layer["Version"] == 1 and layer["Content"]["CodeSize"] > 0


def test_cors_configuration_and_preflight(s3_server: Server, s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    url = f"{s3_server.endpoint}/{name}/k"
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"}
    answer = httpx.options(url, headers=preflight)
    assert answer.status_code == 403 and b"<Code>AccessForbidden</Code>" in answer.content
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=name)
    assert error_of(exc) == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["Content-*"], "MaxAgeSeconds": 300, "ExposeHeaders": ["ETag"]}]})
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"][0]["MaxAgeSeconds"] == 300
    answer = httpx.options(url, headers={**preflight, "Access-Control-Request-Headers": "content-type"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://app.example.com"
    assert answer.headers["access-control-max-age"] == "300"
    assert httpx.options(url, headers={**preflight, "Origin": "https://evil.test"}).status_code == 403
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest("GET", url, headers={"Origin": "https://app.example.com"})
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    got = httpx.get(url, headers=dict(request.headers.items()))
    assert got.status_code == 200 and got.headers["access-control-expose-headers"] == "ETag"
    s3.delete_bucket_cors(Bucket=name)
    assert httpx.options(url, headers=preflight).status_code == 403


def test_lifecycle_configuration(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=name)
    assert error_of(exc) == (404, "NoSuchLifecycleConfiguration")
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert rules[0]["ID"] == "tmp" and rules[0]["Expiration"]["Days"] == 7
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
            {"ID": "bad", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 0}}]})
    assert error_of(exc) == (400, "InvalidArgument")
    s3.delete_bucket_lifecycle(Bucket=name)


def test_slow_upload_is_cut_off_and_stores_nothing(tmp_path: Path) -> None:
    import socket
    import time

    from tests.conftest import free_port, server_env

    srv = Server(tmp_path / "data", free_port(), server_env(LAMBDAD_REQUEST_READ_TIMEOUT="1"))
    srv.start()
    try:
        s3 = srv.client("s3")
        name = bucket_name()
        s3.create_bucket(Bucket=name)
        headers = _signed_headers(srv, "PUT", f"/{name}/slow", "UNSIGNED-PAYLOAD", {"Content-Length": "1000000"})
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            head = f"PUT /{name}/slow HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
            sock.sendall(head.encode() + b"z" * 100_000)
            time.sleep(2.5)  # longer than the read timeout without a byte
            sock.settimeout(5)
            assert sock.recv(100) == b""  # the server hung up
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=name, Key="slow")
        assert error_of(exc)[0] == 404
        assert wait_empty(srv.data_dir / "s3" / "tmp")
        s3.put_object(Bucket=name, Key="after", Body=b"still serving")
    finally:
        srv.stop()


def test_upload_part_copy(s3: Any) -> None:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    source = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket=name, Key="src", Body=source)
    uid = s3.create_multipart_upload(Bucket=name, Key="dst")["UploadId"]
    first = s3.upload_part_copy(Bucket=name, Key="dst", UploadId=uid, PartNumber=1, CopySource=f"{name}/src",
                                CopySourceRange=f"bytes=0-{5 * 1024 * 1024 - 1}")["CopyPartResult"]["ETag"]
    second = s3.upload_part(Bucket=name, Key="dst", UploadId=uid, PartNumber=2, Body=b"end")["ETag"]
    s3.complete_multipart_upload(Bucket=name, Key="dst", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    assert s3.get_object(Bucket=name, Key="dst")["Body"].read() == source[:5 * 1024 * 1024] + b"end"
