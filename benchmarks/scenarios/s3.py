"""Embedded S3: small-object PUT and GET per second (1 KB, 8 connections) beside moto's server mode
driven by the same load generator with the same signed requests in the same run; large-object upload
and download MB/s beside `cp` of the same file on the same disk, with the server's peak RSS over a
1 GB transfer (64 MB with --quick)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from benchmarks import procs
from benchmarks.context import Context
from benchmarks.report import Target
from benchmarks.scenarios import scenario
from benchmarks.server import ACCESS_KEY, REGION, SECRET_KEY
from benchmarks.signing import USER_AGENT, SignedRequest, sign

MORE = Target(">= moto", min_ratio=1.0)
BUCKET = "bench-bucket"


def _client(endpoint: str) -> object:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=Config(retries={"max_attempts": 0}))


def _requests(port: int) -> tuple[SignedRequest, SignedRequest]:
    """A PUT of 1 KB (payload hash signed, as boto3 signs over http) and a GET of it."""
    body = base64.b64encode(os.urandom(768))  # 1 KB of text: wrk's Lua script carries the body as a string
    put = sign("PUT", "127.0.0.1", port, f"/{BUCKET}/small", body, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
               region=REGION, service="s3", headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    get = sign("GET", "127.0.0.1", port, f"/{BUCKET}/small", b"", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
               region=REGION, service="s3", headers={"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()})
    return put, get


def _start_moto(ctx: Context) -> tuple[subprocess.Popen[bytes], int] | None:
    try:
        import moto  # noqa: F401  (the bench extra installs moto[server])
    except ImportError:
        return None
    port = procs.free_port()
    log = open(ctx.workdir / "moto.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if not procs.wait_until(lambda: procs.port_open(port), 30):
        proc.kill()
        return None
    return proc, port


def _stream_put(port: int, key: str, path: Path) -> float:
    """Seconds to PUT a file as one streamed request (UNSIGNED-PAYLOAD, as presigned and https SDKs send)."""
    size = path.stat().st_size
    request = AWSRequest("PUT", f"http://127.0.0.1:{port}/{BUCKET}/{key}",
                         headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(size)})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)  # signs the header as given
    headers = dict(request.headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    with open(path, "rb") as f:
        conn.request("PUT", f"/{BUCKET}/{key}", body=f, headers={**headers, "User-Agent": USER_AGENT})
        answer = conn.getresponse()
        answer.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if answer.status != 200:
        raise RuntimeError(f"large PUT answered {answer.status}")
    return elapsed


def _stream_get(port: int, key: str, target: Path) -> float:
    request = AWSRequest("GET", f"http://127.0.0.1:{port}/{BUCKET}/{key}",
                         headers={"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", f"/{BUCKET}/{key}", headers=dict(request.headers.items()))
    answer = conn.getresponse()
    with open(target, "wb") as out:
        while chunk := answer.read(1024 * 1024):
            out.write(chunk)
    elapsed = time.perf_counter() - started
    conn.close()
    if answer.status != 200:
        raise RuntimeError(f"large GET answered {answer.status}")
    return elapsed


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@scenario("s3", "S3 small-object PUT/GET per second beside moto; large-object MB/s beside cp; peak RSS")
def s3_scenario(ctx: Context) -> None:
    quick = ctx.options.quick
    duration = 2 if quick else 10
    gen = ctx.loadgen
    srv = ctx.server()
    _client(srv.endpoint).create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    put, get = _requests(srv.port)
    ours_put = gen.run(srv.port, put, 8, duration)
    ours_get = gen.run(srv.port, get, 8, duration)
    moto = None if quick else _start_moto(ctx)
    moto_put = moto_get = None
    if moto is not None:
        proc, port = moto
        try:
            _client(f"http://127.0.0.1:{port}").create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
            m_put, m_get = _requests(port)
            moto_put = gen.run(port, m_put, 8, duration)
            moto_get = gen.run(port, m_get, 8, duration)
        finally:
            procs.stop_process(proc)
    label = "moto_server, same generator" if moto is not None else "moto not installed (pip install .[bench])"
    ctx.add("S3 PUT 1 KB, 8 connections", "/s", ours_put.rps, baseline=moto_put.rps if moto_put else None,
            baseline_label=label, target=MORE)
    ctx.add("S3 GET 1 KB, 8 connections", "/s", ours_get.rps, baseline=moto_get.rps if moto_get else None,
            baseline_label=label, target=MORE)

    # Large objects: one streamed PUT and GET on a server of its own (its peak RSS is the transfer's).
    size_mb = 64 if quick else 1024
    source = ctx.workdir / "s3-large.bin"
    with open(source, "wb") as f:
        block = os.urandom(1024 * 1024)
        for _ in range(size_mb):
            f.write(block)
    copy = ctx.workdir / "s3-large.copy"
    started = time.perf_counter()
    shutil.copyfile(source, copy)
    os.sync()
    cp_s = time.perf_counter() - started
    copy.unlink()
    with ctx.own_server() as big:
        _client(big.endpoint).create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
        rss_before = _peak_rss_kb(big.pid)
        up_s = _stream_put(big.port, "large", source)
        down_s = _stream_get(big.port, "large", copy)
        peak_kb = _peak_rss_kb(big.pid)
    copy.unlink()
    source.unlink()
    ctx.record(small={"put": ours_put.to_json(), "get": ours_get.to_json(),
                      "moto_put": moto_put.to_json() if moto_put else None,
                      "moto_get": moto_get.to_json() if moto_get else None},
               large={"size_mb": size_mb, "upload_s": up_s, "download_s": down_s, "cp_s": cp_s,
                      "peak_rss_kb_before": rss_before, "peak_rss_kb": peak_kb},
               method="small: the load generator replays one signed PUT (payload hash signed) or GET on 8 "
                      "keep-alive connections against each server; large: one streamed http.client PUT "
                      "(UNSIGNED-PAYLOAD) and GET of the same file; cp: shutil.copyfile + sync on the same disk")
    ctx.add(f"S3 upload {size_mb} MB (one PUT)", "MB/s", size_mb / up_s, baseline=size_mb / cp_s,
            baseline_label="cp of the same file, same disk")
    ctx.add(f"S3 download {size_mb} MB (one GET)", "MB/s", size_mb / down_s, baseline=size_mb / cp_s,
            baseline_label="cp of the same file, same disk")
    ctx.add(f"S3 server peak RSS over a {size_mb} MB transfer", "MB", peak_kb / 1024,
            baseline=rss_before / 1024, baseline_label="peak RSS before the transfer")
