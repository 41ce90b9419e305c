"""KMS: Encrypt and Decrypt calls per second beside another JSON-protocol call and a bare in-process
AES-GCM seal/open; and warm invoke p50 of a function with a customer managed key beside one without."""

from __future__ import annotations

import base64
import json
import os
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from benchmarks import signing
from benchmarks.context import Context
from benchmarks.httpclient import HttpError, RawClient, round_trips
from benchmarks.scenarios import scenario
from benchmarks.scenarios.common import ECHO_HANDLER, payload
from benchmarks.server import ACCESS_KEY, REGION, ROLE, SECRET_KEY, LambdadServer
from benchmarks.stats import percentile

ROUNDS = 5


def _json_call(srv: LambdadServer, service: str, target: str, body: dict[str, object]) -> bytes:
    content_type = "application/x-amz-json-1.1"
    return signing.sign("POST", "127.0.0.1", srv.port, "/", json.dumps(body).encode(), access_key=ACCESS_KEY,
                        secret_key=SECRET_KEY, region=REGION, service=service,
                        headers={"X-Amz-Target": target, "Content-Type": content_type}).raw()


def _per_second(samples_ms: list[float]) -> float:
    return 1000.0 * len(samples_ms) / sum(samples_ms)


def _aead_per_second(count: int, plaintext: bytes) -> tuple[float, float]:
    aead, aad = AESGCM(AESGCM.generate_key(256)), b'{"purpose":"bench"}'
    started = time.perf_counter()
    sealed = b""
    for _ in range(count):
        nonce = os.urandom(12)
        sealed = nonce + aead.encrypt(nonce, plaintext, aad)
    seal_rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(count):
        aead.decrypt(sealed[:12], sealed[12:], aad)
    return seal_rate, count / (time.perf_counter() - started)


@scenario("kms", "KMS Encrypt/Decrypt per second; invoke p50 with a customer managed key", quick=False)
def kms(ctx: Context) -> None:
    srv = ctx.server()
    client = srv.client("kms")
    key = client.create_key(Description="bench")["KeyMetadata"]
    plaintext = os.urandom(64)
    context = {"purpose": "bench"}
    blob = client.encrypt(KeyId=key["KeyId"], Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]
    encrypt = _json_call(srv, "kms", "TrentService.Encrypt", {
        "KeyId": key["KeyId"], "Plaintext": base64.b64encode(plaintext).decode(), "EncryptionContext": context})
    decrypt = _json_call(srv, "kms", "TrentService.Decrypt", {
        "CiphertextBlob": base64.b64encode(blob).decode(), "EncryptionContext": context})
    # The same kind of call to another JSON-protocol service: what KMS adds on top of the codec and SigV4.
    logs = _json_call(srv, "logs", "Logs_20140328.DescribeLogGroups", {"logGroupNamePrefix": "/aws/lambda/none"})
    count = max(50, ctx.options.warm_requests // ROUNDS)
    enc_ms: list[float] = []
    dec_ms: list[float] = []
    logs_ms: list[float] = []
    with RawClient("127.0.0.1", srv.port) as sock:
        for raw in (encrypt, decrypt, logs):
            first = sock.request(raw)
            if first.status != 200:
                raise HttpError(f"answered {first.status}: {first.body[:300]!r}")
            round_trips(sock, raw, 50)
        for _ in range(ROUNDS):
            enc_ms += round_trips(sock, encrypt, count)
            dec_ms += round_trips(sock, decrypt, count)
            logs_ms += round_trips(sock, logs, count)
    seal_rate, open_rate = _aead_per_second(count * ROUNDS, plaintext)
    logs_rate = _per_second(logs_ms)
    ctx.record(encrypt_p50_ms=percentile(enc_ms, 50), decrypt_p50_ms=percentile(dec_ms, 50),
               logs_p50_ms=percentile(logs_ms, 50), aead_seal_per_s=seal_rate, aead_open_per_s=open_rate,
               method="pre-signed requests replayed sequentially over one keep-alive socket; 64-byte plaintext")
    ctx.add("KMS Encrypt calls/s (64 B, context, 1 conn)", "/s", _per_second(enc_ms), baseline=logs_rate,
            baseline_label="logs DescribeLogGroups calls/s")
    ctx.add("KMS Decrypt calls/s (64 B, context, 1 conn)", "/s", _per_second(dec_ms), baseline=logs_rate,
            baseline_label="logs DescribeLogGroups calls/s")
    ctx.add("in-process AES-256-GCM seal/s (64 B)", "/s", seal_rate, baseline=open_rate,
            baseline_label="in-process AES-256-GCM open/s")

    # Warm invoke with and without a customer managed key (KMSKeyArn: checked on every invocation, as the
    # execution role, which needs kms:Decrypt on the key).
    decrypt_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key["Arn"]}]}
    srv.client("iam").put_role_policy(RoleName=ROLE.rsplit("/", 1)[1], PolicyName="bench-kms",
                                      PolicyDocument=json.dumps(decrypt_policy))
    plain_fn = srv.create_function("bench-kms-plain", {"app.py": ECHO_HANDLER},
                                   Environment={"Variables": {"STAGE": "bench"}})
    keyed_fn = srv.create_function("bench-kms-keyed", {"app.py": ECHO_HANDLER}, KMSKeyArn=key["Arn"],
                                   Environment={"Variables": {"STAGE": "bench"}})
    body = payload(1024)
    plain_raw = srv.sign_invoke(plain_fn, body).raw()
    keyed_raw = srv.sign_invoke(keyed_fn, body).raw()
    plain_ms: list[float] = []
    keyed_ms: list[float] = []
    with RawClient("127.0.0.1", srv.port) as sock:
        for raw in (plain_raw, keyed_raw):
            round_trips(sock, raw, 50)
        for _ in range(ROUNDS):
            keyed_ms += round_trips(sock, keyed_raw, count)
            plain_ms += round_trips(sock, plain_raw, count)
    ctx.add("warm invoke p50, function with a customer managed key (1 KB)", "ms", percentile(keyed_ms, 50),
            baseline=percentile(plain_ms, 50), baseline_label="same function, no KMSKeyArn")
