"""Request bodies sent compressed (`Content-Encoding: gzip`): botocore gzips the operations whose model
carries `requestcompression` (CloudWatch's PutMetricData) once a body passes 10 KB. The signature
covers the compressed bytes (the Router checks it first); the service reads what they expand to,
never more than its limit, so a small bomb cannot fill memory."""

from __future__ import annotations

import zlib

from lambdad.api.base import ApiRequest
from lambdad.errors import ApiError


def decompress(request: ApiRequest, limit: int, too_large: ApiError) -> None:
    """Replace a gzip request body by its expansion (at most `limit` bytes, else `too_large`);
    a body that is not gzip is a SerializationException."""
    encodings = [e.strip().lower() for e in request.headers.get("content-encoding", "").split(",") if e.strip()]
    if "gzip" not in encodings or not request.body:
        return
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(request.body, limit + 1)
    except zlib.error:
        raise ApiError("The request body is not valid gzip.", code="SerializationException") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large
    request.body = out
