"""S3 on the wire: the rest-xml codec (api/restxml.py) over botocore's S3 model, its operations, and
S3's error document. Path-style (`/<bucket>/<key>`) and virtual-hosted style
(`<bucket>.s3.<region>.<public-host>`, by the Host header) name the same buckets."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import quote, unquote

from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.restxml import RestXmlService
from lambdad.api.streaming import StreamedBody
from lambdad.auth.policy import PolicyError, validate_policy_document
from lambdad.errors import ApiError, AuthError, S3Error
from lambdad.services.s3 import checksums
from lambdad.services.s3.buckets import Bucket
from lambdad.services.s3.lifecycle import check_rules
from lambdad.services.s3.objects import CONTENT_HEADERS, MAX_PARTS, MAX_PUT, StoredObject, Upload
from lambdad.services.s3.service import S3Service, canonical_id
from lambdad.services.s3.storage import Written

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
ROOT_NAMES = {
    "ListBucketsOutput": "ListAllMyBucketsResult", "ListObjectsOutput": "ListBucketResult",
    "ListObjectsV2Output": "ListBucketResult", "ListObjectVersionsOutput": "ListVersionsResult",
    "CreateMultipartUploadOutput": "InitiateMultipartUploadResult",
    "CompleteMultipartUploadOutput": "CompleteMultipartUploadResult", "ListPartsOutput": "ListPartsResult",
    "ListMultipartUploadsOutput": "ListMultipartUploadsResult", "DeleteObjectsOutput": "DeleteResult",
    "GetBucketTaggingOutput": "Tagging", "GetObjectTaggingOutput": "Tagging",
    "GetBucketVersioningOutput": "VersioningConfiguration", "NotificationConfiguration": "NotificationConfiguration",
    "GetBucketCorsOutput": "CORSConfiguration", "GetBucketLifecycleConfigurationOutput": "LifecycleConfiguration",
}
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
# Raw bytes of one upload off the connection: the payload plus aws-chunked framing.
_RAW_LIMIT = MAX_PUT + MAX_PUT // 8

# SigV4 failures in S3's words (auth/sigv4.py speaks the JSON protocols' codes).
_AUTH_CODES = {
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "UnrecognizedClientException": ("InvalidAccessKeyId", 403),
    "IncompleteSignatureException": ("AuthorizationHeaderMalformed", 400),
    "MissingAuthenticationTokenException": ("AccessDenied", 403),
}
_AUTH_MESSAGES = {
    "InvalidAccessKeyId": "The AWS Access Key Id you provided does not exist in our records.",
    "AccessDenied": "Access Denied",
}
# Errors of the shared edge in S3's words.
_EDGE_CODES = {
    "UnknownOperationException": ("MethodNotAllowed", 405),
    "ServiceException": ("InternalError", 500),
    "ValidationException": ("InvalidArgument", 400),
    "RequestTooLargeException": ("EntityTooLarge", 400),
    "TooManyRequestsException": ("SlowDown", 503),
    "AccessDeniedException": ("AccessDenied", 403),
}


def render_error(exc: ApiError, request: ApiRequest) -> ApiResponse:
    """S3's <Error> document (none for HEAD, whose answers have no body)."""
    code, status, message = exc.code, exc.status, exc.message
    if isinstance(exc, AuthError) or code in _AUTH_CODES:
        if code in _AUTH_CODES:
            code, status = _AUTH_CODES[code]
        if "Signature expired" in message or "not yet current" in message:
            code, status = "RequestTimeTooSkewed", 403
            message = "The difference between the request time and the current time is too large."
        message = _AUTH_MESSAGES.get(code, message) if code == "InvalidAccessKeyId" else message
    elif code in _EDGE_CODES:
        code, status = _EDGE_CODES[code]
        if code == "InternalError":
            message = "We encountered an internal error. Please try again."
    extra = "".join(f"<{k}>{_xml(str(v))}</{k}>" for k, v in exc.extra.items())
    headers = [(b"x-amz-request-id", request.request_id.encode()), (b"x-amz-id-2", _host_id(request).encode())]
    if request.method == "HEAD":
        return ApiResponse(status, b"", headers)
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{_xml(message)}</Message>'
            f"{extra}<RequestId>{request.request_id}</RequestId><HostId>{_host_id(request)}</HostId></Error>")
    return ApiResponse(status, body.encode(), [(b"content-type", b"application/xml"), *headers])


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _host_id(request: ApiRequest) -> str:
    return base64.b64encode(request.request_id.encode()).decode()


def bucket_from_host(host: str, public_host: str) -> str | None:
    """The bucket a virtual-hosted style Host names (`<bucket>.s3.<region>.<public-host>[:port]`, or
    `<bucket>.s3.<public-host>`), else None."""
    name = host.rpartition(":")[0] if host.count(":") == 1 else host
    suffix = "." + public_host
    if not name.endswith(suffix):
        return None
    head = name[:-len(suffix)]
    bucket, sep, rest = head.rpartition(".s3")
    if not sep or not bucket or (rest and not rest.startswith(".")):
        return None
    return bucket


class S3Wire:
    def __init__(self, s3: S3Service, authorize: Authorize | None, public_host: str) -> None:
        self.s3 = s3
        self.public_host = public_host
        self.codec = RestXmlService("s3", authorize=authorize, root_names=ROOT_NAMES, namespace=XMLNS)
        self.codec.path_of = self._path
        self.authorize = authorize
        _register(self)

    streams_body = True

    def _path(self, request: ApiRequest) -> str:
        bucket = bucket_from_host(request.headers.get("host", ""), self.public_host)
        if bucket is None:
            return request.raw_path
        return "/" + quote(bucket) + (request.raw_path if request.raw_path != "/" else "")

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        if request.method == "OPTIONS":
            response = self._preflight(request)
        else:
            response = await self.codec.dispatch(request)
            self._cors(request, response)
        response.headers.append((b"x-amz-request-id", request.request_id.encode()))
        response.headers.append((b"x-amz-id-2", _host_id(request).encode()))
        return response


    # -- CORS (S3 User Guide, "Using cross-origin resource sharing") ----------------------------
    def _bucket_of(self, request: ApiRequest) -> Bucket | None:
        name = unquote(self._path(request).lstrip("/").partition("/")[0])
        return self.s3.buckets.find(name) if name else None

    def _preflight(self, request: ApiRequest) -> ApiResponse:
        origin = request.headers.get("origin")
        method = request.headers.get("access-control-request-method")
        if not origin or not method:
            raise S3Error("Insufficient information. Origin request header needed.", code="BadRequest")
        bucket = self._bucket_of(request)
        if bucket is None:
            raise S3Error("The specified bucket does not exist", code="NoSuchBucket", status=404)
        rules = bucket.config.get("Cors")
        if not rules:
            raise S3Error("CORSResponse: CORS is not enabled for this bucket.", code="AccessForbidden", status=403)
        wanted = [h.strip() for h in request.headers.get("access-control-request-headers", "").split(",") if h.strip()]
        rule = cors_rule(rules, origin, method, wanted)
        if rule is None:
            raise S3Error("CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
                          "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
                          "are not whitelisted by the resource's CORS spec.", code="AccessForbidden", status=403)
        headers = _cors_headers(rule, origin)
        headers.append((b"access-control-allow-methods", ", ".join(rule["AllowedMethods"]).encode()))
        if wanted:
            headers.append((b"access-control-allow-headers", ", ".join(wanted).encode()))
        if rule.get("MaxAgeSeconds") is not None:
            headers.append((b"access-control-max-age", str(rule["MaxAgeSeconds"]).encode()))
        return ApiResponse(200, b"", headers)

    def _cors(self, request: ApiRequest, response: ApiResponse) -> None:
        origin = request.headers.get("origin")
        if not origin:
            return
        bucket = self._bucket_of(request)
        rules = bucket.config.get("Cors") if bucket is not None else None
        if not rules:
            return
        rule = cors_rule(rules, origin, request.method, [])
        if rule is not None:
            response.headers.extend(_cors_headers(rule, origin))


def _wildcard(pattern: str, value: str, *, fold: bool = False) -> bool:
    if fold:
        pattern, value = pattern.lower(), value.lower()
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None


def cors_rule(rules: list[dict[str, Any]], origin: str, method: str, headers: list[str]) -> dict[str, Any] | None:
    """The first CORS rule allowing this origin, method and request headers (S3 takes the first match)."""
    for rule in rules:
        if method not in rule.get("AllowedMethods", []):
            continue
        if not any(_wildcard(o, origin) for o in rule.get("AllowedOrigins", [])):
            continue
        allowed = rule.get("AllowedHeaders") or []
        if all(any(_wildcard(a, h, fold=True) for a in allowed) for h in headers):
            return rule
    return None


def _cors_headers(rule: dict[str, Any], origin: str) -> list[tuple[bytes, bytes]]:
    allow = "*" if "*" in rule.get("AllowedOrigins", []) else origin
    out = [(b"access-control-allow-origin", allow.encode()), (b"vary", b"Origin, Access-Control-Request-Headers, "
                                                                       b"Access-Control-Request-Method")]
    if allow != "*":
        out.append((b"access-control-allow-credentials", b"true"))
    if rule.get("ExposeHeaders"):
        out.append((b"access-control-expose-headers", ", ".join(rule["ExposeHeaders"]).encode()))
    return out


def anonymous(request: ApiRequest) -> bool:
    """Unsigned requests S3 serves: CORS preflights (browsers never sign them)."""
    return request.method == "OPTIONS" and "origin" in request.headers


def build(s3: S3Service, authorize: Authorize | None, public_host: str = "localhost") -> S3Wire:
    return S3Wire(s3, authorize, public_host)


# -- helpers ---------------------------------------------------------------------------------


def _principal_id(request: ApiRequest) -> str:
    p = request.principal
    if p is None:
        return "anonymous"
    return p.principal_id if getattr(p, "principal_id", None) else p.account


def _ip(request: ApiRequest) -> str:
    return (request.client or ("127.0.0.1", 0))[0]


def _check_key(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("Your key is too long", code="KeyTooLongError", Size=len(key.encode()),
                      MaxSizeAllowed=MAX_KEY_BYTES)


def _content_meta(params: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {k: params[k] for k in CONTENT_HEADERS if params.get(k) is not None}
    user = params.get("Metadata") or {}
    if sum(len(k) + len(v) for k, v in user.items()) > MAX_METADATA_BYTES:
        raise S3Error("Your metadata headers exceed the maximum allowed metadata size.", code="MetadataTooLarge",
                      Size=sum(len(k) + len(v) for k, v in user.items()), MaxSizeAllowed=MAX_METADATA_BYTES)
    if user:
        meta["Metadata"] = user
    if params.get("StorageClass"):
        meta["StorageClass"] = params["StorageClass"]
    if params.get("Tagging"):
        meta["Tags"] = _parse_tag_header(str(params["Tagging"]))
    return meta


def _parse_tag_header(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in filter(None, text.split("&")):
        k, _, v = pair.partition("=")
        out[unquote(k.replace("+", " "))] = unquote(v.replace("+", " "))
    return out


def _requested_algorithms(request: ApiRequest, params: dict[str, Any]) -> list[str]:
    wanted: set[str] = set()
    for alg in checksums.ALGORITHMS:
        if checksums.header_name(alg) in request.headers:
            wanted.add(alg)
    trailer = request.headers.get("x-amz-trailer", "")
    for name in trailer.split(","):
        name = name.strip().lower()
        if name.startswith("x-amz-checksum-"):
            alg = name[len("x-amz-checksum-"):].upper()
            if alg in checksums.ALGORITHMS:
                wanted.add(alg)
    alg = str(params.get("ChecksumAlgorithm") or "").upper()
    if alg in checksums.ALGORITHMS:
        wanted.add(alg)
    return sorted(wanted)


async def _receive(s3: S3Service, request: ApiRequest, params: dict[str, Any], *, inline: bool = True) -> Written:
    """The request's body stored (not yet visible), checked against Content-MD5, the declared length
    and the checksums the client sent (in headers or an aws-chunked trailer)."""
    stream = request.stream or StreamedBody.of_bytes(request.body, request.headers)
    declared = stream.decoded_length
    if declared is None and not stream.chunked and request.headers.get("transfer-encoding") is None:
        declared = 0
    if declared is not None and declared > MAX_PUT:
        raise S3Error("Your proposed upload exceeds the maximum allowed size", code="EntityTooLarge",
                      ProposedSize=declared, MaxSizeAllowed=MAX_PUT)
    algorithms = _requested_algorithms(request, params)
    written = await s3.objects.receive(stream.chunks(_RAW_LIMIT), algorithms, inline=inline)
    try:
        if declared is not None and written.size != declared:
            raise S3Error("You did not provide the number of bytes specified by the Content-Length HTTP header.",
                          code="IncompleteBody")
        md5 = request.headers.get("content-md5")
        if md5 is not None:
            try:
                given = base64.b64decode(md5, validate=True)
            except (binascii.Error, ValueError):
                raise S3Error("The Content-MD5 you specified was invalid.", code="InvalidDigest",
                              Content_MD5=md5) from None
            if given != written.md5:
                raise S3Error("The Content-MD5 you specified did not match what we received.", code="BadDigest",
                              ExpectedDigest=md5, CalculatedDigest=base64.b64encode(written.md5).decode())
        for alg in algorithms:
            name = checksums.header_name(alg)
            given_sum = request.headers.get(name) or stream.trailers.get(name)
            if given_sum is not None and given_sum != written.checksums[alg]:
                raise S3Error(f"The {alg} you specified did not match the calculated checksum.", code="BadDigest")
    except BaseException:
        s3.files.remove(written.name)
        raise
    return written


def _object_headers(obj: StoredObject, bucket: Bucket, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ETag": obj.etag, "LastModified": int(obj.modified), "ContentLength": obj.size,
                           "AcceptRanges": "bytes"}
    meta = obj.meta
    for k in CONTENT_HEADERS:
        if meta.get(k) is not None:
            out[k] = meta[k]
    out.setdefault("ContentType", "binary/octet-stream")
    if meta.get("Metadata"):
        out["Metadata"] = meta["Metadata"]
    if bucket.versioning:
        out["VersionId"] = obj.version_id
    if meta.get("StorageClass") and meta["StorageClass"] != "STANDARD":
        out["StorageClass"] = meta["StorageClass"]
    if meta.get("Tags"):
        out["TagCount"] = len(meta["Tags"])
    if params.get("ChecksumMode") == "ENABLED":
        for alg, value in obj.checksums.items():
            out["Checksum" + alg] = value
    if params.get("PartNumber") is not None and meta.get("PartsCount"):
        out["PartsCount"] = meta["PartsCount"]
    for override in ("ContentType", "ContentLanguage", "Expires", "CacheControl", "ContentDisposition",
                     "ContentEncoding"):
        forced = params.get("Response" + override)
        if forced is not None:
            out[override] = forced
    return out


def _precondition(obj: StoredObject, params: dict[str, Any]) -> int | None:
    """HTTP conditional GET/HEAD (RFC 7232 section 6, as S3 applies it): 412, 304 or None."""
    etag = obj.etag.strip('"')
    modified = int(obj.modified)
    if_match = params.get("IfMatch")
    if if_match is not None:
        if not any(t.strip().strip('"') in (etag, "*") for t in str(if_match).split(",")):
            return 412
    elif params.get("IfUnmodifiedSince") is not None and modified > float(params["IfUnmodifiedSince"]):
        return 412
    if_none = params.get("IfNoneMatch")
    if if_none is not None:
        if any(t.strip().strip('"') in (etag, "*") for t in str(if_none).split(",")):
            return 304
    elif params.get("IfModifiedSince") is not None and modified <= float(params["IfModifiedSince"]):
        return 304
    return None


def _range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single `bytes=` range; None to send the whole object (S3 ignores
    a range it cannot parse); S3Error InvalidRange for one it cannot satisfy."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                raise ValueError
            return max(0, size - n), size - 1 if size else None  # type: ignore[return-value]
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if end < start:
        return None
    if start >= size:
        raise S3Error("The requested range is not satisfiable", code="InvalidRange", status=416,
                      RangeRequested=header, ActualObjectSize=size)
    return start, min(end, size - 1)


def _encode_key(value: str, encoding: str | None) -> str:
    return quote(value, safe="/") if encoding == "url" else value


def _parse_copy_source(text: str) -> tuple[str, str, str | None]:
    source, _, query = text.partition("?")
    source = unquote(source).lstrip("/")
    bucket, _, key = source.partition("/")
    version = None
    for part in query.split("&"):
        k, _, v = part.partition("=")
        if k == "versionId":
            version = unquote(v)
    if not bucket or not key:
        raise S3Error("Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                      code="InvalidArgument", ArgumentName="x-amz-copy-source", ArgumentValue=text)
    return bucket, key, version


def _upload_out(bucket: Bucket, upload: Upload) -> dict[str, Any]:
    owner = {"ID": canonical_id(bucket.account), "DisplayName": "lambdad"}
    return {"UploadId": upload.upload_id, "Key": upload.key, "Initiated": upload.initiated,
            "StorageClass": "STANDARD", "Owner": owner, "Initiator": owner}


# -- operations ------------------------------------------------------------------------------


def _register(wire: S3Wire) -> None:
    svc = wire.codec
    s3 = wire.s3
    buckets = s3.buckets
    objects = s3.objects

    def account(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    # -- buckets ----------------------------------------------------------------------------
    @svc.handler("ListBuckets")
    async def list_buckets(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        mine = buckets.list(account(request))
        prefix = str(params.get("Prefix") or "")
        listed = [{"Name": b.name, "CreationDate": b.created, "BucketRegion": b.region}
                  for b in mine if b.name.startswith(prefix)]
        return {"Buckets": listed, "Owner": {"ID": canonical_id(account(request)), "DisplayName": "lambdad"}}

    @svc.handler("CreateBucket")
    async def create_bucket(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("CreateBucketConfiguration") or {}
        bucket = buckets.create(account(request), request.region, params["Bucket"], config.get("LocationConstraint"))
        return {"Location": f"/{bucket.name}"}

    @svc.handler("HeadBucket")
    async def head_bucket(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        return {"BucketRegion": bucket.region}

    @svc.handler("DeleteBucket")
    async def delete_bucket(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        s3.delete_bucket(params["Bucket"])
        return {}

    @svc.handler("GetBucketLocation")
    async def get_bucket_location(request: ApiRequest, params: dict[str, Any]) -> ApiResponse:
        bucket = buckets.get(params["Bucket"])
        region = "" if bucket.region == "us-east-1" else bucket.region
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="{XMLNS}">{region}'
                "</LocationConstraint>")
        return ApiResponse(200, body.encode(), [(b"content-type", b"application/xml")])

    # -- bucket configurations --------------------------------------------------------------
    @svc.handler("PutBucketPolicy")
    async def put_bucket_policy(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        text = params.get("Policy")
        if request.stream is not None and not text:
            text = (await request.stream.read(20 * 1024 + 1)).decode("utf-8", "replace")
        text = str(text or "")
        if len(text) > 20 * 1024:
            raise S3Error("Policies must be less than 20 KB", code="InvalidPolicyDocument")
        if not text.lstrip().startswith("{"):
            raise S3Error("Policies must be valid JSON and the first byte must be '{'", code="MalformedPolicy")
        try:
            validate_policy_document(text, "resource")
        except PolicyError as exc:
            raise S3Error(str(exc) or "Invalid policy document", code="MalformedPolicy") from None
        buckets.set_config(bucket, "Policy", text)
        return {}

    @svc.handler("GetBucketPolicy")
    async def get_bucket_policy(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        text = bucket.config.get("Policy")
        if not text:
            raise S3Error("The bucket policy does not exist", code="NoSuchBucketPolicy", status=404,
                          BucketName=bucket.name)
        return {"Policy": text}

    @svc.handler("DeleteBucketPolicy")
    async def delete_bucket_policy(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        buckets.set_config(buckets.get(params["Bucket"]), "Policy", None)
        return {}

    @svc.handler("PutBucketVersioning")
    async def put_bucket_versioning(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        status = (params.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise S3Error("The XML you provided was not well-formed or did not validate against our published schema",
                          code="MalformedXML")
        buckets.set_config(bucket, "Versioning", status)
        return {}

    @svc.handler("GetBucketVersioning")
    async def get_bucket_versioning(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        return {"Status": bucket.versioning} if bucket.versioning else {}

    @svc.handler("PutBucketTagging")
    async def put_bucket_tagging(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        tags = (params.get("Tagging") or {}).get("TagSet") or []
        buckets.set_config(bucket, "Tags", {t.get("Key", ""): t.get("Value", "") for t in tags})
        return {}

    @svc.handler("GetBucketTagging")
    async def get_bucket_tagging(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        tags = bucket.config.get("Tags")
        if not tags:
            raise S3Error("The TagSet does not exist", code="NoSuchTagSet", status=404, BucketName=bucket.name)
        return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}

    @svc.handler("DeleteBucketTagging")
    async def delete_bucket_tagging(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        buckets.set_config(buckets.get(params["Bucket"]), "Tags", None)
        return {"StatusCode": 204}

    # -- objects ----------------------------------------------------------------------------
    @svc.handler("PutObject")
    async def put_object(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        key = params["Key"]
        _check_key(key)
        meta = _content_meta(params)
        if params.get("IfNoneMatch") is not None or params.get("IfMatch") is not None:
            try:
                current: StoredObject | None = objects.head(bucket.name, key)
            except S3Error:
                current = None
            if params.get("IfNoneMatch") == "*" and current is not None:
                raise S3Error("At least one of the pre-conditions you specified did not hold",
                              code="PreconditionFailed", status=412, Condition="If-None-Match")
            if params.get("IfMatch") is not None:
                if current is None:
                    raise S3Error("The specified key does not exist.", code="NoSuchKey", status=404, Key=key)
                if str(params["IfMatch"]).strip('"') != current.etag.strip('"'):
                    raise S3Error("At least one of the pre-conditions you specified did not hold",
                                  code="PreconditionFailed", status=412, Condition="If-Match")
        written = await _receive(s3, request, params)
        meta["Checksums"] = written.checksums
        if params.get("ChecksumAlgorithm"):
            meta["ChecksumAlgorithm"] = str(params["ChecksumAlgorithm"]).upper()
        obj = objects.commit(bucket, key, written, meta)
        await s3.emit(bucket, "ObjectCreated:Put", obj, _principal_id(request), _ip(request), request.request_id)
        out: dict[str, Any] = {"ETag": obj.etag}
        if bucket.versioning:
            out["VersionId"] = obj.version_id
        for alg, value in written.checksums.items():
            out["Checksum" + alg] = value
        return out

    @svc.handler("GetObject")
    async def get_object(request: ApiRequest, params: dict[str, Any]) -> ApiResponse:
        return await _read(request, params, with_body=True)

    @svc.handler("HeadObject")
    async def head_object(request: ApiRequest, params: dict[str, Any]) -> ApiResponse:
        return await _read(request, params, with_body=False)

    async def _read(request: ApiRequest, params: dict[str, Any], *, with_body: bool) -> ApiResponse:
        bucket = buckets.get(params["Bucket"])
        obj = objects.head(bucket.name, params["Key"], params.get("VersionId"))
        out = _object_headers(obj, bucket, params)
        op = svc.model.operation_model("GetObject" if with_body else "HeadObject")
        verdict = _precondition(obj, params)
        if verdict == 412:
            raise S3Error("At least one of the pre-conditions you specified did not hold", code="PreconditionFailed",
                          status=412, Condition="If-Match" if params.get("IfMatch") else "If-Unmodified-Since")
        if verdict == 304:
            response = svc.render_output(op, {k: out[k] for k in ("ETag", "LastModified") if k in out})
            response.status = 304
            return response
        start, length, status = 0, obj.size, 200
        header = request.headers.get("range")
        if header and obj.size > 0:
            span = _range(header, obj.size)
            if span is not None:
                start, end = span
                length = end - start + 1
                status = 206
                out["ContentRange"] = f"bytes {start}-{end}/{obj.size}"
                for alg in obj.checksums:  # a range has no checksum of its own to show
                    out.pop("Checksum" + alg, None)
        out["ContentLength"] = length
        response = svc.render_output(op, {k: v for k, v in out.items() if k != "Body"})
        response.status = status
        response.length = length
        response.headers = [(k, v) for k, v in response.headers if k != b"content-length"]
        if with_body and length:
            response.stream = objects.body(obj, start, length)
        return response

    @svc.handler("DeleteObject")
    async def delete_object(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        return await _delete_one(request, bucket, params["Key"], params.get("VersionId"))

    async def _delete_one(request: ApiRequest, bucket: Bucket, key: str, version: str | None) -> dict[str, Any]:
        gone = objects.delete(bucket, key, version)
        out: dict[str, Any] = {"StatusCode": 204}
        if gone is None:
            return out
        if gone.delete_marker:
            out["DeleteMarker"] = True
        if bucket.versioning:
            out["VersionId"] = gone.version_id
        event = "ObjectRemoved:DeleteMarkerCreated" if gone.delete_marker and gone.latest and version is None \
            else "ObjectRemoved:Delete"
        await s3.emit(bucket, event, gone, _principal_id(request), _ip(request), request.request_id)
        return out

    @svc.handler("DeleteObjects")
    async def delete_objects(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        spec = params.get("Delete") or {}
        items = spec.get("Objects") or []
        if not items or len(items) > 1000:
            raise S3Error("The XML you provided was not well-formed or did not validate against our published schema",
                          code="MalformedXML")
        deleted: list[dict[str, Any]] = []
        for item in items:
            key = str(item.get("Key", ""))
            out = await _delete_one(request, bucket, key, item.get("VersionId"))
            entry: dict[str, Any] = {"Key": key}
            if item.get("VersionId"):
                entry["VersionId"] = item["VersionId"]
            if out.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                entry["DeleteMarkerVersionId"] = out.get("VersionId")
            deleted.append(entry)
        return {"Deleted": [] if spec.get("Quiet") else deleted}

    @svc.handler("CopyObject")
    async def copy_object(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        key = params["Key"]
        _check_key(key)
        src_bucket, src_key, src_version = _parse_copy_source(str(params["CopySource"]))
        source_bucket = buckets.get(src_bucket)
        source = objects.head(source_bucket.name, src_key, src_version)
        directive = params.get("MetadataDirective") or "COPY"
        if directive not in ("COPY", "REPLACE"):
            raise S3Error("Unknown metadata directive.", code="InvalidArgument",
                          ArgumentName="x-amz-metadata-directive", ArgumentValue=directive)
        if directive == "REPLACE":
            meta = _content_meta(params)
            meta["Checksums"] = source.checksums
        else:
            if (src_bucket, src_key) == (bucket.name, key) and not params.get("StorageClass") and not bucket.versioning:
                raise S3Error("This copy request is illegal because it is trying to copy an object to itself without "
                              "changing the object's metadata, storage class, website redirect location or encryption "
                              "attributes.", code="InvalidRequest")
            meta = dict(source.meta)
        if params.get("TaggingDirective") == "REPLACE":
            meta["Tags"] = _parse_tag_header(str(params.get("Tagging") or ""))
        obj = objects.copy(source, bucket, key, meta)
        await s3.emit(bucket, "ObjectCreated:Copy", obj, _principal_id(request), _ip(request), request.request_id)
        out: dict[str, Any] = {"CopyObjectResult": {"ETag": obj.etag, "LastModified": obj.modified}}
        if source_bucket.versioning:
            out["CopySourceVersionId"] = source.version_id
        if bucket.versioning:
            out["VersionId"] = obj.version_id
        return out

    def _max_keys(params: dict[str, Any]) -> int:
        value = params.get("MaxKeys")
        if value is None:
            return 1000
        if int(value) < 0:
            raise S3Error("Argument maxKeys must be an integer between 0 and 2147483647", code="InvalidArgument",
                          ArgumentName="maxKeys", ArgumentValue=value)
        return min(int(value), 1000)

    def _entry(obj: StoredObject, encoding: str | None, owner: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"Key": _encode_key(obj.key, encoding), "LastModified": obj.modified,
                                 "ETag": obj.etag, "Size": obj.size,
                                 "StorageClass": obj.meta.get("StorageClass") or "STANDARD"}
        if obj.meta.get("ChecksumAlgorithm"):
            entry["ChecksumAlgorithm"] = [obj.meta["ChecksumAlgorithm"]]
        if owner:
            entry["Owner"] = {"ID": canonical_id(buckets.get(obj.bucket).account), "DisplayName": "lambdad"}
        return entry

    def _check_encoding(params: dict[str, Any]) -> str | None:
        encoding = params.get("EncodingType")
        if encoding is not None and encoding != "url":
            raise S3Error("Invalid Encoding Method specified in Request", code="InvalidArgument",
                          ArgumentName="encoding-type", ArgumentValue=encoding)
        return encoding

    @svc.handler("ListObjectsV2")
    async def list_objects_v2(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        encoding = _check_encoding(params)
        prefix = str(params.get("Prefix") or "")
        delimiter = str(params.get("Delimiter") or "")
        max_keys = _max_keys(params)
        after = str(params.get("StartAfter") or "")
        token = params.get("ContinuationToken")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(str(token).encode() + b"==").decode()
            except (binascii.Error, ValueError):
                raise S3Error("The continuation token provided is incorrect", code="InvalidArgument",
                              ArgumentName="continuation-token") from None
        found, prefixes, truncated = objects.list_latest(bucket.name, prefix, after, delimiter, max_keys)
        out: dict[str, Any] = {"Name": bucket.name, "Prefix": _encode_key(prefix, encoding), "MaxKeys": max_keys,
                               "KeyCount": len(found) + len(prefixes), "IsTruncated": truncated,
                               "Contents": [_entry(o, encoding, params.get("FetchOwner") is True) for o in found],
                               "CommonPrefixes": [{"Prefix": _encode_key(p, encoding)} for p in prefixes]}
        if delimiter:
            out["Delimiter"] = _encode_key(delimiter, encoding)
        if encoding:
            out["EncodingType"] = encoding
        if token is not None:
            out["ContinuationToken"] = token
        if params.get("StartAfter"):
            out["StartAfter"] = _encode_key(str(params["StartAfter"]), encoding)
        if truncated:
            last = max([o.key for o in found] + prefixes)
            out["NextContinuationToken"] = base64.urlsafe_b64encode(last.encode()).decode().rstrip("=")
        return out

    @svc.handler("ListObjects")
    async def list_objects(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        encoding = _check_encoding(params)
        prefix = str(params.get("Prefix") or "")
        delimiter = str(params.get("Delimiter") or "")
        max_keys = _max_keys(params)
        marker = str(params.get("Marker") or "")
        found, prefixes, truncated = objects.list_latest(bucket.name, prefix, marker, delimiter, max_keys)
        out: dict[str, Any] = {"Name": bucket.name, "Prefix": _encode_key(prefix, encoding), "MaxKeys": max_keys,
                               "Marker": _encode_key(marker, encoding), "IsTruncated": truncated,
                               "Contents": [_entry(o, encoding, True) for o in found],
                               "CommonPrefixes": [{"Prefix": _encode_key(p, encoding)} for p in prefixes]}
        if delimiter:
            out["Delimiter"] = _encode_key(delimiter, encoding)
            if truncated:
                out["NextMarker"] = _encode_key(max([o.key for o in found] + prefixes), encoding)
        if encoding:
            out["EncodingType"] = encoding
        return out

    @svc.handler("ListObjectVersions")
    async def list_object_versions(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        prefix = str(params.get("Prefix") or "")
        max_keys = _max_keys(params)
        rows = objects.list_versions(bucket.name, prefix, max_keys)
        owner = {"ID": canonical_id(bucket.account), "DisplayName": "lambdad"}
        versions = [{"Key": o.key, "VersionId": o.version_id, "IsLatest": o.latest, "LastModified": o.modified,
                     "ETag": o.etag, "Size": o.size, "StorageClass": "STANDARD", "Owner": owner}
                    for o in rows if not o.delete_marker]
        markers = [{"Key": o.key, "VersionId": o.version_id, "IsLatest": o.latest, "LastModified": o.modified,
                    "Owner": owner} for o in rows if o.delete_marker]
        return {"Name": bucket.name, "Prefix": prefix, "MaxKeys": max_keys, "IsTruncated": False,
                "Versions": versions, "DeleteMarkers": markers}

    @svc.handler("PutObjectTagging")
    async def put_object_tagging(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        obj = objects.head(bucket.name, params["Key"], params.get("VersionId"))
        tags = (params.get("Tagging") or {}).get("TagSet") or []
        if len(tags) > 10:
            raise S3Error("Object tags cannot be greater than 10", code="BadRequest")
        meta = dict(obj.meta)
        meta["Tags"] = {t.get("Key", ""): t.get("Value", "") for t in tags}
        objects.store.execute("UPDATE s3_objects SET meta = ? WHERE bucket = ? AND key = ? AND version_id = ?",
                              (json.dumps(meta), obj.bucket, obj.key, obj.version_id))
        return {"VersionId": obj.version_id} if bucket.versioning else {}

    @svc.handler("GetObjectTagging")
    async def get_object_tagging(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        obj = objects.head(bucket.name, params["Key"], params.get("VersionId"))
        tags = obj.meta.get("Tags") or {}
        out: dict[str, Any] = {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        if bucket.versioning:
            out["VersionId"] = obj.version_id
        return out

    @svc.handler("DeleteObjectTagging")
    async def delete_object_tagging(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        obj = objects.head(bucket.name, params["Key"], params.get("VersionId"))
        meta = dict(obj.meta)
        meta.pop("Tags", None)
        objects.store.execute("UPDATE s3_objects SET meta = ? WHERE bucket = ? AND key = ? AND version_id = ?",
                              (json.dumps(meta), obj.bucket, obj.key, obj.version_id))
        return {"StatusCode": 204}

    # -- multipart --------------------------------------------------------------------------
    @svc.handler("CreateMultipartUpload")
    async def create_multipart_upload(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        _check_key(params["Key"])
        meta = _content_meta(params)
        if params.get("ChecksumAlgorithm"):
            meta["ChecksumAlgorithm"] = str(params["ChecksumAlgorithm"]).upper()
        upload = objects.create_upload(bucket, params["Key"], meta)
        out: dict[str, Any] = {"Bucket": bucket.name, "Key": upload.key, "UploadId": upload.upload_id}
        if meta.get("ChecksumAlgorithm"):
            out["ChecksumAlgorithm"] = meta["ChecksumAlgorithm"]
        return out

    def _part_number(params: dict[str, Any]) -> int:
        number = int(params["PartNumber"])
        if not 1 <= number <= MAX_PARTS:
            raise S3Error("Part number must be an integer between 1 and 10000, inclusive", code="InvalidArgument",
                          ArgumentName="partNumber", ArgumentValue=number)
        return number

    @svc.handler("UploadPart")
    async def upload_part(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        upload = objects.upload(bucket.name, params["Key"], str(params["UploadId"]))
        number = _part_number(params)
        written = await _receive(s3, request, params, inline=False)  # parts are concatenated as files
        try:
            objects.upload(bucket.name, params["Key"], upload.upload_id)  # still there after the upload
        except S3Error:
            s3.files.remove(written.name)
            raise
        etag = objects.put_part(upload, number, written)
        out: dict[str, Any] = {"ETag": etag}
        for alg, value in written.checksums.items():
            out["Checksum" + alg] = value
        return out

    @svc.handler("UploadPartCopy")
    async def upload_part_copy(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        upload = objects.upload(bucket.name, params["Key"], str(params["UploadId"]))
        number = _part_number(params)
        src_bucket, src_key, src_version = _parse_copy_source(str(params["CopySource"]))
        source = objects.head(buckets.get(src_bucket).name, src_key, src_version)
        start, length = 0, source.size
        if params.get("CopySourceRange"):
            span = _range(str(params["CopySourceRange"]), source.size)
            if span is not None:
                start, length = span[0], span[1] - span[0] + 1
        written = await objects.receive(objects.body(source, start, length), (), inline=False)
        etag = objects.put_part(upload, number, written)
        return {"CopyPartResult": {"ETag": etag, "LastModified": s3.clock.time()}}

    @svc.handler("CompleteMultipartUpload")
    async def complete_multipart_upload(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        upload = objects.upload(bucket.name, params["Key"], str(params["UploadId"]))
        parts = (params.get("MultipartUpload") or {}).get("Parts") or []
        obj = await objects.complete(bucket, upload, parts)
        await s3.emit(bucket, "ObjectCreated:CompleteMultipartUpload", obj, _principal_id(request), _ip(request),
                        request.request_id)
        host = request.headers.get("host", "localhost")
        out: dict[str, Any] = {"Location": f"http://{host}/{bucket.name}/{quote(obj.key)}", "Bucket": bucket.name,
                               "Key": obj.key, "ETag": obj.etag}
        for alg, value in obj.checksums.items():
            out["Checksum" + alg] = value
        if bucket.versioning:
            out["VersionId"] = obj.version_id
        return out

    @svc.handler("AbortMultipartUpload")
    async def abort_multipart_upload(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        objects.abort(objects.upload(bucket.name, params["Key"], str(params["UploadId"])))
        return {}

    @svc.handler("ListParts")
    async def list_parts(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        upload = objects.upload(bucket.name, params["Key"], str(params["UploadId"]))
        marker = int(params.get("PartNumberMarker") or 0)
        max_parts = min(int(params.get("MaxParts") or 1000), 1000)
        parts = [p for p in objects.parts(upload.upload_id) if p["PartNumber"] > marker]
        page = parts[:max_parts]
        out = _upload_out(bucket, upload)
        out.update({"Bucket": bucket.name, "PartNumberMarker": marker, "MaxParts": max_parts,
                    "IsTruncated": len(parts) > max_parts,
                    "Parts": [{k: p[k] for k in ("PartNumber", "Size", "ETag", "LastModified")} for p in page]})
        if len(parts) > max_parts:
            out["NextPartNumberMarker"] = page[-1]["PartNumber"]
        return out

    @svc.handler("ListMultipartUploads")
    async def list_multipart_uploads(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        prefix = str(params.get("Prefix") or "")
        uploads = objects.list_uploads(bucket.name, prefix)
        return {"Bucket": bucket.name, "Prefix": prefix, "MaxUploads": 1000, "IsTruncated": False,
                "Uploads": [_upload_out(bucket, u) for u in uploads]}

    # -- CORS and lifecycle -----------------------------------------------------------------
    @svc.handler("PutBucketCors")
    async def put_bucket_cors(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        if not rules or len(rules) > 100 or any(not r.get("AllowedMethods") or not r.get("AllowedOrigins")
                                                for r in rules):
            raise S3Error("The XML you provided was not well-formed or did not validate against our published "
                          "schema", code="MalformedXML")
        for rule in rules:
            for method in rule["AllowedMethods"]:
                if method not in ("GET", "PUT", "POST", "DELETE", "HEAD"):
                    raise S3Error(f"Found unsupported HTTP method in CORS config. Unsupported method is {method}",
                                  code="InvalidRequest")
        buckets.set_config(bucket, "Cors", rules)
        return {}

    @svc.handler("GetBucketCors")
    async def get_bucket_cors(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        rules = bucket.config.get("Cors")
        if not rules:
            raise S3Error("The CORS configuration does not exist", code="NoSuchCORSConfiguration", status=404,
                          BucketName=bucket.name)
        return {"CORSRules": rules}

    @svc.handler("DeleteBucketCors")
    async def delete_bucket_cors(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        buckets.set_config(buckets.get(params["Bucket"]), "Cors", None)
        return {}

    @svc.handler("PutBucketLifecycleConfiguration")
    async def put_lifecycle(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        buckets.set_config(bucket, "Lifecycle", check_rules(params.get("LifecycleConfiguration") or {}))
        return {}

    @svc.handler("GetBucketLifecycleConfiguration")
    async def get_lifecycle(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        rules = bucket.config.get("Lifecycle")
        if not rules:
            raise S3Error("The lifecycle configuration does not exist", code="NoSuchLifecycleConfiguration",
                          status=404, BucketName=bucket.name)
        return {"Rules": rules}

    @svc.handler("DeleteBucketLifecycle")
    async def delete_lifecycle(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        buckets.set_config(buckets.get(params["Bucket"]), "Lifecycle", None)
        return {"StatusCode": 204}

    # -- notifications ----------------------------------------------------------------------
    @svc.handler("GetBucketNotificationConfiguration")
    async def get_notification(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        return dict(bucket.config.get("Notification") or {})

    @svc.handler("PutBucketNotificationConfiguration")
    async def put_notification(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        bucket = buckets.get(params["Bucket"])
        config = params.get("NotificationConfiguration") or {}
        if s3.notifier is None:
            raise S3Error("Event notifications are not available on this server.", code="NotImplemented", status=501)
        stored = await s3.notifier.configure(bucket, config, request.request_id, request.region,
                                             bool(params.get("SkipDestinationValidation")))
        buckets.set_config(bucket, "Notification", stored or None)
        return {}



__all__ = ["S3Wire", "anonymous", "bucket_from_host", "build", "cors_rule", "render_error"]
