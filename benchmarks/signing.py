"""SigV4-signed requests built once with botocore and replayed byte for byte.

A SigV4 signature stays valid for 15 minutes (lambdad checks the clock skew like AWS), so signing a
request once and sending the same bytes many times is what a client that signs per request would
make the server verify, without the client's signing cost in the measured loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

USER_AGENT = f"Boto3 botocore/{botocore.__version__} lambdad-bench"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    target: str  # path and query, as on the request line
    headers: tuple[tuple[str, str], ...]  # including Host; without Content-Length
    body: bytes

    def raw(self) -> bytes:
        head = [f"{self.method} {self.target} HTTP/1.1"]
        head += [f"{name}: {value}" for name, value in self.headers]
        head.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


def sign(method: str, host: str, port: int, path: str, body: bytes, *, access_key: str, secret_key: str,
         region: str, service: str = "lambda", query: str = "",
         headers: dict[str, str] | None = None) -> SignedRequest:
    target = path + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=f"http://{host}:{port}{target}", data=body,
                         headers={"Host": f"{host}:{port}", **(headers or {})})
    SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(request)
    out = [(name, str(value)) for name, value in request.headers.items()]
    out += [("User-Agent", USER_AGENT), ("Accept-Encoding", "identity")]
    return SignedRequest(method, target, tuple(out), body)


def sign_invoke(host: str, port: int, function: str, payload: bytes, *, access_key: str, secret_key: str,
                region: str, qualifier: str | None = None, log_tail: bool = False) -> SignedRequest:
    """The request boto3's `invoke(FunctionName=..., Payload=...)` sends (RequestResponse)."""
    headers = {"X-Amz-Invocation-Type": "RequestResponse"}
    if log_tail:
        headers["X-Amz-Log-Type"] = "Tail"
    return sign("POST", host, port, f"/2015-03-31/functions/{quote(function, safe='')}/invocations", payload,
                access_key=access_key, secret_key=secret_key, region=region,
                query=f"Qualifier={quote(qualifier, safe='')}" if qualifier else "", headers=headers)
