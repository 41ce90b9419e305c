"""SigV4 verification against what botocore really signs.

Requests are signed by botocore's own signers (SigV4Auth, SigV4QueryAuth, S3SigV4Auth,
S3SigV4QueryAuth) or by real boto3 clients whose prepared request is captured at ``before-send``
(nothing is sent). Each is then handed to `verify` the way an ASGI server sees it: raw path and
query bytes, lower-case header names, body bytes.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from lambdad.auth import sigv4
from lambdad.auth.sigv4 import SignedRequestInfo, SigV4Error, parse_scope, verify

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OTHER_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE//token+with/odd=chars"
ENDPOINT = "http://localhost:8900"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def lookup(key: str) -> str | None:
    return {ACCESS_KEY: SECRET}.get(key)


class Wire:
    """A request as the server receives it; mutable so tests can tamper with it."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        self.method = method
        self.path = parts.path.encode()
        self.query = parts.query.encode()
        # Prepared requests may hold bytes values; a server hands over text.
        self.headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}
        # The HTTP client adds Host from the URL, as botocore assumed when signing.
        self.headers.setdefault("host", parts.netloc)
        self.body = body

    def verify(self, now: float | None = None, secrets=lookup, **kwargs: Any) -> SignedRequestInfo:
        return verify(self.method, self.path, self.query, self.headers, self.body, secrets, now, **kwargs)

    @property
    def amz_date(self) -> str:
        return self.headers.get("x-amz-date") or parse_qs(self.query.decode())["X-Amz-Date"][0]

    @property
    def signed_at(self) -> float:
        return sigv4._parse_amz_date(self.amz_date)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        return body.read()
    return bytes(body)


def sign(
    service: str,
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    signer: type[SigV4Auth] = SigV4Auth,
    token: str | None = None,
    secret: str = SECRET,
    **signer_kwargs: Any,
) -> Wire:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer(Credentials(ACCESS_KEY, secret, token), service, "us-east-1", **signer_kwargs).add_auth(request)
    prepared = request.prepare()
    return Wire(prepared.method, prepared.url, dict(prepared.headers.items()), _body_bytes(prepared.body))


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _capture(request: Any, **_: Any) -> None:
    raise _Captured(request)


def client(service: str, token: str | None = None, region: str = "us-east-1") -> Any:
    c = boto3.client(
        service,
        region_name=region,
        endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )
    c.meta.events.register("before-send", _capture)
    return c


def captured(call: Any) -> Wire:
    """Run a boto3 call, stop it at before-send, and return the request it would have sent."""
    with pytest.raises(_Captured) as info:
        call()
    request = info.value.request
    return Wire(request.method, request.url, dict(request.headers.items()), _body_bytes(request.body))


def expect_error(wire: Wire, code: str, message: str | None = None, status: int = 403, **kw: Any) -> SigV4Error:
    with pytest.raises(SigV4Error) as info:
        wire.verify(**kw)
    assert info.value.code == code, info.value
    assert info.value.status == status
    if message is not None:
        assert info.value.message == message
    return info.value


# --- real clients ------------------------------------------------------------------------------


def test_boto3_lambda_invoke_by_arn_with_qualifier() -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:my-function"
    wire = captured(lambda: client("lambda").invoke(FunctionName=arn, Qualifier="live", Payload=b'{"k": "v"}'))
    # The ARN's colons travel percent-encoded, so the canonical path double-encodes them.
    assert b"%3A" in wire.path
    assert wire.query == b"Qualifier=live"
    info = wire.verify()
    assert info == SignedRequestInfo(ACCESS_KEY, "us-east-1", "lambda", None)


def test_boto3_lambda_get_function_latest_qualifier_and_token() -> None:
    wire = captured(lambda: client("lambda", token=TOKEN).get_function(FunctionName="fn", Qualifier="$LATEST"))
    assert wire.query == b"Qualifier=%24LATEST"
    assert wire.verify().session_token == TOKEN


def test_boto3_lambda_list_functions_with_awkward_marker() -> None:
    wire = captured(lambda: client("lambda").list_functions(Marker="a b+c/d=e&f~g", MaxItems=5, FunctionVersion="ALL"))
    assert wire.query.count(b"&") == 2
    assert wire.verify().service == "lambda"


def test_boto3_lambda_other_region() -> None:
    wire = captured(lambda: client("lambda", region="eu-west-3").list_functions())
    assert wire.verify().region == "eu-west-3"


def test_boto3_sqs_json_protocol() -> None:
    wire = captured(
        lambda: client("sqs").send_message(QueueUrl=f"{ENDPOINT}/000000000000/q", MessageBody="héllo wörld ✓ & more")
    )
    assert wire.headers["x-amz-target"] == "AmazonSQS.SendMessage"
    assert wire.verify().service == "sqs"


def test_boto3_iam_query_protocol() -> None:
    wire = captured(lambda: client("iam").list_users(PathPrefix="/a b/", MaxItems=3))
    assert wire.body.startswith(b"Action=ListUsers")
    assert wire.verify() == SignedRequestInfo(ACCESS_KEY, "us-east-1", "iam", None)


def test_boto3_sts_query_protocol_with_token() -> None:
    wire = captured(lambda: client("sts", token=TOKEN).get_caller_identity())
    info = wire.verify()
    assert (info.service, info.session_token) == ("sts", TOKEN)


# --- botocore signers, request shapes ---------------------------------------------------------------


def test_sqs_query_protocol_form_body() -> None:
    body = b"Action=SendMessage&QueueUrl=http%3A%2F%2Flocalhost%3A8900%2F000000000000%2Fq&MessageBody=a%20b"
    wire = sign(
        "sqs",
        "POST",
        f"{ENDPOINT}/",
        body,
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert wire.verify().service == "sqs"


def test_get_with_repeated_unsorted_params_and_spaces() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/2015-03-31/functions/?z=1&b=two%20words&a=2&a=1&empty=&flag")
    assert wire.verify().service == "lambda"


def test_params_list_signed_by_botocore_params_path() -> None:
    request = AWSRequest(
        method="GET", url=f"{ENDPOINT}/things", params=[("b", "x y"), ("a", "é/ü"), ("a", "*"), ("c", "~-._")]
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    assert Wire(prepared.method, prepared.url, dict(prepared.headers.items()), b"").verify().service == "lambda"


def test_query_space_sent_as_plus_is_canonicalized() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/x?name=two%20words&other=a%2Bb")
    wire.query = wire.query.replace(b"two%20words", b"two+words")
    assert wire.verify().service == "lambda"
    # ... but a literal plus (%2B) is not a space.
    wire.query = wire.query.replace(b"a%2Bb", b"a+b")
    expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE)


def test_lowercase_percent_escapes_in_query_are_canonicalized() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/x?p=a%2Fb")
    wire.query = b"p=a%2fb"
    assert wire.verify().service == "lambda"


def test_path_dot_segments_and_double_slashes_are_normalized() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/a/./b/../c//d/")
    assert wire.path == b"/a/./b/../c//d/"
    assert wire.verify().service == "lambda"


def test_s3_path_is_signed_as_sent_with_content_sha256() -> None:
    wire = sign("s3", "PUT", f"{ENDPOINT}/bucket/a/./%E2%82%AC%20x+y", b"object body", signer=S3SigV4Auth)
    assert wire.headers["x-amz-content-sha256"] == hashlib.sha256(b"object body").hexdigest()
    assert wire.verify().service == "s3"


def test_date_header_instead_of_x_amz_date() -> None:
    # botocore keeps a Date header when the request has one, and signs its ISO 8601 form.
    wire = sign("lambda", "GET", f"{ENDPOINT}/2015-03-31/functions/", headers={"Date": "placeholder"})
    assert "x-amz-date" not in wire.headers
    assert wire.verify().service == "lambda"


def test_whitespace_in_header_values_is_trimmed() -> None:
    wire = sign("lambda", "POST", f"{ENDPOINT}/p", b"{}", {"X-Custom": "  a   b  "})
    # Servers may see other runs of whitespace; only the trimmed value is signed.
    wire.headers["x-custom"] = "a \t b   "
    assert wire.verify().service == "lambda"


def test_session_token_header_is_returned() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p", token=TOKEN)
    assert wire.headers["x-amz-security-token"] == TOKEN
    assert wire.verify().session_token == TOKEN


def test_unsigned_payload_header_only_for_s3() -> None:
    wire = sign("s3", "PUT", f"{ENDPOINT}/b/k", b"signed?", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    wire.body = b"anything at all"
    assert wire.verify().service == "s3"
    # Other services sign the body's hash whatever the header says: a signature made over
    # UNSIGNED-PAYLOAD does not cover the body, so it does not match (a swapped body is refused).
    for body in (b"signed?", b"anything at all"):
        wire = sign("lambda", "POST", f"{ENDPOINT}/p", b"signed?", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
        wire.body = body
        expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE)


def test_presigned_non_s3_unsigned_payload_is_refused() -> None:
    # A presigned STS URL whose signer chose UNSIGNED-PAYLOAD must not let a body ride along.
    wire = sign("sts", "GET", f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15", signer=S3SigV4QueryAuth)
    wire.body = b"Action=GetSessionToken&Version=2011-06-15"
    expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE)
    wire.body = b""
    expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE)


def test_content_sha256_header_must_match_body() -> None:
    wire = sign(
        "lambda",
        "POST",
        f"{ENDPOINT}/p",
        b"abc",
        {"X-Amz-Content-SHA256": hashlib.sha256(b"abc").hexdigest()},
    )
    assert wire.verify().service == "lambda"
    wire.body = b"abd"
    expect_error(wire, "XAmzContentSHA256Mismatch", status=400)


def test_streaming_payload_is_s3s_and_checked_chunk_by_chunk() -> None:
    # S3: the header signature covers the mode; api/streaming.py then checks every chunk's signature.
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    wire = sign("s3", "PUT", f"{ENDPOINT}/b/k", headers={"X-Amz-Content-SHA256": mode})
    pending = sigv4.begin(wire.method, wire.path, wire.query, wire.headers, lookup)
    assert pending.verified and pending.streaming == mode
    # Another service has no chunk decoder: the mode is refused there.
    wire = sign("lambda", "POST", f"{ENDPOINT}/p", headers={"X-Amz-Content-SHA256": mode})
    expect_error(wire, "NotImplemented", status=501)


# --- tampering --------------------------------------------------------------------------------------


def _tamper_body(w: Wire) -> None:
    w.body = w.body.replace(b"v", b"w")


def _tamper_header(w: Wire) -> None:
    w.headers["x-amz-invocation-type"] = "Event"


def _tamper_path(w: Wire) -> None:
    w.path = w.path.replace(b"my-function", b"my-functioN")


def _tamper_path_encoding(w: Wire) -> None:
    # The same name with the colon not encoded is a different wire path.
    w.path = w.path.replace(b"%3A", b":", 1)


def _tamper_query(w: Wire) -> None:
    w.query = b"Qualifier=prod"


def _tamper_extra_query(w: Wire) -> None:
    w.query += b"&x=1"


def _tamper_date(w: Wire) -> None:
    stamp = w.headers["x-amz-date"]  # one second off
    w.headers["x-amz-date"] = stamp[:13] + ("00" if stamp[13:15] != "00" else "01") + "Z"


def _tamper_method(w: Wire) -> None:
    w.method = "PUT"


def _tamper_signature(w: Wire) -> None:
    auth = w.headers["authorization"]
    w.headers["authorization"] = auth[:-1] + ("0" if auth[-1] != "0" else "1")


def _tamper_signed_headers(w: Wire) -> None:
    # Dropping a header from SignedHeaders changes the canonical request too.
    w.headers["authorization"] = w.headers["authorization"].replace(";x-amz-invocation-type", "")


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_body,
        _tamper_header,
        _tamper_path,
        _tamper_path_encoding,
        _tamper_query,
        _tamper_extra_query,
        _tamper_date,
        _tamper_method,
        _tamper_signature,
        _tamper_signed_headers,
    ],
    ids=lambda f: f.__name__.removeprefix("_tamper_"),
)
def test_tampered_request_is_rejected(tamper: Any) -> None:
    wire = sign(
        "lambda",
        "POST",
        f"{ENDPOINT}/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Amy-function/invocations"
        "?Qualifier=live",
        b'{"k": "v"}',
        {"X-Amz-Invocation-Type": "RequestResponse"},
    )
    assert wire.verify().service == "lambda"  # untampered, it passes
    tamper(wire)
    expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE)


def test_wrong_secret_is_rejected_even_after_the_right_one_was_cached() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    assert wire.verify().access_key_id == ACCESS_KEY
    expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE, secrets={ACCESS_KEY: OTHER_SECRET}.get)
    signed_by_other = sign("lambda", "GET", f"{ENDPOINT}/p", secret=OTHER_SECRET)
    expect_error(signed_by_other, "InvalidSignatureException", BAD_SIGNATURE)


def test_unknown_access_key() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    expect_error(
        wire,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        secrets=dict().get,
    )


def test_unsigned_request() -> None:
    wire = Wire("GET", f"{ENDPOINT}/2015-03-31/functions/?Marker=x", {}, b"")
    expect_error(wire, "MissingAuthenticationTokenException", "Missing Authentication Token")
    wire.headers["authorization"] = ""
    expect_error(wire, "MissingAuthenticationTokenException", "Missing Authentication Token")


# --- malformed signatures ----------------------------------------------------------------------------


def test_authorization_missing_parts_lists_them_all() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    del wire.headers["x-amz-date"]
    wire.headers["authorization"] = "eyJhbGciOiJIUzI1NiJ9.e30.sig"
    expect_error(
        wire,
        "IncompleteSignatureException",
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=eyJhbGciOiJIUzI1NiJ9.e30.sig",
        status=400,
    )


def test_authorization_without_signature() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    auth = wire.headers["authorization"]
    wire.headers["authorization"] = auth[: auth.index(", Signature=")]
    err = expect_error(wire, "IncompleteSignatureException", status=400)
    assert err.message.startswith("Authorization header requires 'Signature' parameter. Authorization=AWS4")


def test_missing_x_amz_date() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    del wire.headers["x-amz-date"]
    err = expect_error(wire, "IncompleteSignatureException", status=400)
    assert err.message.startswith(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def test_authorization_pair_without_equal_sign() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    wire.headers["authorization"] = wire.headers["authorization"].replace("Credential=", "Credential ")
    err = expect_error(wire, "IncompleteSignatureException", status=400)
    assert "not a valid key=value pair (missing equal-sign) in Authorization header" in err.message


def test_bad_scope_terminator() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    wire.headers["authorization"] = wire.headers["authorization"].replace("/aws4_request", "/aws5_request")
    expect_error(
        wire,
        "InvalidSignatureException",
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
    )


def test_scope_date_must_match_request_date() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    stamp, signed_at = wire.headers["x-amz-date"], wire.signed_at
    next_day = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at + 86400))
    wire.headers["x-amz-date"] = next_day
    expect_error(
        wire,
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'{stamp[:8]}' != '{next_day[:8]}', from '{next_day}'.",
        now=signed_at + 86400,
    )


def test_unparseable_x_amz_date() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    wire.headers["x-amz-date"] = "2024-01-01T00:00:00Z"
    err = expect_error(wire, "IncompleteSignatureException", status=400)
    assert err.message.startswith("Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'.")


# --- clock skew -------------------------------------------------------------------------------------


def _stamp(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def test_skew_within_fifteen_minutes_passes() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    assert wire.verify(now=wire.signed_at + 899).service == "lambda"
    assert wire.verify(now=wire.signed_at - 899).service == "lambda"


def test_signature_expired() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    now = wire.signed_at + 1800
    expect_error(
        wire,
        "InvalidSignatureException",
        f"Signature expired: {wire.amz_date} is now earlier than {_stamp(now - 900)} ({_stamp(now)} - 15 min.)",
        now=now,
    )


def test_signature_not_yet_current() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    now = wire.signed_at - 1800
    expect_error(
        wire,
        "InvalidSignatureException",
        f"Signature not yet current: {wire.amz_date} is still later than {_stamp(now + 900)} ({_stamp(now)} + 15 min.)",
        now=now,
    )


def test_custom_skew_window() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/p")
    now = wire.signed_at + 301
    err = expect_error(wire, "InvalidSignatureException", now=now, max_skew_seconds=300)
    assert err.message.endswith(f"({_stamp(now)} - 5 min.)")


# --- presigned URLs ---------------------------------------------------------------------------------


def test_presigned_get_via_botocore_query_signer() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/2015-03-31/functions/fn?Qualifier=%24LATEST", signer=SigV4QueryAuth)
    assert "authorization" not in wire.headers
    assert b"X-Amz-Signature=" in wire.query
    assert wire.verify() == SignedRequestInfo(ACCESS_KEY, "us-east-1", "lambda", None)


def test_presigned_token_comes_from_query() -> None:
    wire = sign(
        "sts",
        "GET",
        f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15",
        signer=SigV4QueryAuth,
        token=TOKEN,
    )
    assert "x-amz-security-token" not in wire.headers
    assert wire.verify().session_token == TOKEN


def test_boto3_generate_presigned_url_sts() -> None:
    # botocore signs with the operation's method (POST for STS) unless told the URL is for a GET,
    # which is how EKS-style tokens are made.
    url = client("sts", token=TOKEN).generate_presigned_url("get_caller_identity", ExpiresIn=900, HttpMethod="GET")
    wire = Wire("GET", url, {}, b"")
    assert wire.verify() == SignedRequestInfo(ACCESS_KEY, "us-east-1", "sts", TOKEN)


def test_boto3_generate_presigned_url_lambda() -> None:
    url = client("lambda").generate_presigned_url(
        "get_function", Params={"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f"}
    )
    assert "%3A" in urlsplit(url).path
    assert Wire("GET", url, {}, b"").verify().service == "lambda"


def test_presigned_post_body_hash_is_signed() -> None:
    # botocore's generic presigner signs the hash of the body it has (here: the empty body).
    wire = sign("lambda", "POST", f"{ENDPOINT}/2015-03-31/functions/fn/invocations", signer=SigV4QueryAuth)
    assert wire.verify().service == "lambda"
    wire.body = b'{"smuggled": true}'
    expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE)


def test_s3_presigned_unsigned_payload() -> None:
    wire = sign("s3", "PUT", f"{ENDPOINT}/bucket/some%20key", signer=S3SigV4QueryAuth)
    wire.body = b"uploaded later, not signed"
    assert wire.verify().service == "s3"


def test_presigned_tampered_query_is_rejected() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/2015-03-31/functions/fn?Qualifier=live", signer=SigV4QueryAuth)
    wire.query = wire.query.replace(b"Qualifier=live", b"Qualifier=prod")
    expect_error(wire, "InvalidSignatureException", BAD_SIGNATURE)


def test_presigned_expired() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/fn", signer=SigV4QueryAuth, expires=60)
    assert wire.verify(now=wire.signed_at + 59).service == "lambda"
    now = wire.signed_at + 61
    expect_error(
        wire,
        "InvalidSignatureException",
        f"Signature expired: {wire.amz_date} is now earlier than {_stamp(now - 60)} ({_stamp(now)} - 1 min.)",
        now=now,
    )


def test_presigned_non_s3_lifetime_is_capped_at_the_skew_window() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/fn", signer=SigV4QueryAuth, expires=3600)
    expect_error(wire, "InvalidSignatureException", now=wire.signed_at + 901)


def test_s3_presigned_expired_and_long_lived() -> None:
    wire = sign("s3", "GET", f"{ENDPOINT}/bucket/key", signer=S3SigV4QueryAuth, expires=7200)
    assert wire.verify(now=wire.signed_at + 7000).service == "s3"
    expect_error(wire, "AccessDenied", "Request has expired", now=wire.signed_at + 7201)


def test_presigned_missing_parameters() -> None:
    wire = sign("lambda", "GET", f"{ENDPOINT}/fn", signer=SigV4QueryAuth)
    kept = [p for p in wire.query.split(b"&") if not p.startswith((b"X-Amz-Credential=", b"X-Amz-Date="))]
    wire.query = b"&".join(kept)
    expect_error(
        wire,
        "IncompleteSignatureException",
        "AWS query-string parameters must include 'X-Amz-Credential'. "
        "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.",
        status=400,
    )


def test_presigned_expires_over_a_week() -> None:
    wire = sign("s3", "GET", f"{ENDPOINT}/b/k", signer=S3SigV4QueryAuth, expires=604801)
    err = expect_error(wire, "IncompleteSignatureException", status=400)
    assert "604800" in err.message


# --- parse_scope ------------------------------------------------------------------------------------


def test_parse_scope_from_header() -> None:
    wire = sign("sqs", "POST", f"{ENDPOINT}/", b"Action=ListQueues", token=TOKEN)
    assert parse_scope(wire.headers, {}) == SignedRequestInfo(ACCESS_KEY, "us-east-1", "sqs", TOKEN)


def test_parse_scope_from_query() -> None:
    wire = sign("iam", "GET", f"{ENDPOINT}/?Action=ListUsers", signer=SigV4QueryAuth, token=TOKEN)
    query = parse_qs(wire.query.decode(), keep_blank_values=True)
    assert parse_scope(wire.headers, query) == SignedRequestInfo(ACCESS_KEY, "us-east-1", "iam", TOKEN)


def test_parse_scope_unsigned_or_garbled() -> None:
    assert parse_scope({"host": "localhost"}, {"Action": ["ListUsers"]}) is None
    assert parse_scope({"authorization": "Bearer abc"}, {}) is None
    assert parse_scope({"authorization": "AWS4-HMAC-SHA256 Credential=AKID/2024, Signature=x"}, {}) is None
