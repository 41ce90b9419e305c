"""Micro benchmark: microseconds per `lambdad.auth.sigv4.verify` call.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sigv4.py

Requests are signed once by botocore (outside the timed loop), as a boto3 client would sign them:
a rest-json Lambda Invoke with a 1 KB JSON body, and an SQS query-protocol form POST. The signing
key cache is warm, as it is in a server that sees the same client more than once a day.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdad.auth import sigv4

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _signed(service: str, method: str, url: str, body: bytes, headers: dict[str, str]) -> tuple:
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    wire_headers = {k.lower(): v for k, v in prepared.headers.items()}
    wire_headers.setdefault("host", parts.netloc)
    # What an ASGI server hands over: bytes path and query, str headers.
    return (prepared.method, parts.path.encode(), parts.query.encode(), wire_headers, body)


def _cases() -> dict[str, tuple]:
    payload = json.dumps({"data": "x" * 1000}).encode()[:1024]
    arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-function"
    return {
        "lambda Invoke, 1 KB JSON": _signed(
            "lambda",
            "POST",
            f"http://localhost:8900/2015-03-31/functions/{arn}/invocations?Qualifier=live",
            payload,
            {"X-Amz-Invocation-Type": "RequestResponse", "User-Agent": "Boto3/1.34"},
        ),
        "sqs SendMessage, query form": _signed(
            "sqs",
            "POST",
            "http://localhost:8900/",
            b"Action=SendMessage&QueueUrl=http%3A%2F%2Flocalhost%3A8900%2F000000000000%2Fq"
            b"&MessageBody=hello%20world&Version=2012-11-05",
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        ),
    }


def _bench(args: tuple, now: float, rounds: int = 7, number: int = 5000) -> float:
    lookup = {ACCESS_KEY: SECRET}.get
    method, path, query, headers, body = args
    sigv4.verify(method, path, query, headers, body, lookup, now)  # warm the key cache
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            sigv4.verify(method, path, query, headers, body, lookup, now)
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def main() -> None:
    now = time.time()
    for name, args in _cases().items():
        print(f"{name:32s} {_bench(args, now):6.1f} µs/verify")


if __name__ == "__main__":
    main()
