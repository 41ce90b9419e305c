"""Readable refusals: a service or operation lambdad does not serve, answered in that service's own
protocol, so an SDK or the AWS CLI parses the error and prints its sentence (not "invalid XML
received" or a bare "(404) Not Found").

The service is the one the request names (the SigV4 scope's service, as the Router dispatches);
its botocore model says the protocol (query, ec2, json, rest-json, rest-xml), the XML namespace or
JSON version, and the operation: the query ``Action``, the ``X-Amz-Target`` suffix, or, for REST
protocols, the operation whose method and request URI match. Models load once per service, when
first asked; a signing name without a model of that name falls back to the request's own shape
(form body or ``Action`` -> XML, ``X-Amz-Target`` -> JSON, else JSON).

An unserved service is ``NotImplemented`` with HTTP 501 (SDKs do not retry it); an operation a
served service lacks keeps that protocol's own code (``InvalidAction``, ``UnknownOperationException``)
with HTTP 400, in ``operation_sentence``'s words.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import ServiceModel

from lambdad import botocore_models
from lambdad.api.base import ApiRequest, ApiResponse
from lambdad.errors import ApiError, AuthError

__all__ = ["AUTH_CODES", "Asked", "identify", "operation_sentence", "render", "unserved"]

# SigV4 signing names whose botocore model has another name (botocore's metadata: signingName).
_MODEL_OF_SIGNING_NAME = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions",
                          "es": "opensearch", "execute-api": "apigateway", "elasticmapreduce": "emr",
                          "tagging": "resourcegroupstaggingapi", "elasticfilesystem": "efs",
                          "mobiletargeting": "pinpoint"}
_XML_TYPE = (b"content-type", b"text/xml")
# SigV4 failures by the names XML (query, ec2, rest-xml) services give them.
AUTH_CODES = {"InvalidSignatureException": "SignatureDoesNotMatch",
              "IncompleteSignatureException": "IncompleteSignature",
              "UnrecognizedClientException": "InvalidClientTokenId",
              "MissingAuthenticationTokenException": "MissingAuthenticationToken"}


@dataclass(frozen=True)
class Asked:
    """What a request asks for, as far as the model of the service it names can tell."""

    signing_name: str
    title: str  # e.g. "Amazon EC2"
    protocol: str  # query | ec2 | json | rest-json | rest-xml
    operation: str | None
    xmlns: str = ""
    json_version: str = "1.1"


@functools.lru_cache(maxsize=1)
def _available() -> frozenset[str]:
    loader = botocore_models.data_loader()
    return frozenset(loader.list_available_services("service-2"))


@functools.lru_cache(maxsize=64)
def _model(signing_name: str) -> ServiceModel | None:
    name = _MODEL_OF_SIGNING_NAME.get(signing_name, signing_name)
    if name not in _available():
        return None
    return botocore_models.service_model(name)


def _form(request: ApiRequest) -> dict[str, str]:
    params = dict(parse_qsl(request.raw_query, keep_blank_values=True)) if request.raw_query else {}
    ctype = request.headers.get("content-type", "")
    if request.method == "POST" and request.body and (not ctype or "x-www-form-urlencoded" in ctype):
        try:
            params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000))
        except (UnicodeDecodeError, ValueError):
            pass
    return params


@functools.lru_cache(maxsize=64)
def _routes(signing_name: str) -> tuple[tuple[str, re.Pattern[str], int, str], ...]:
    """(method, path regex, literal length, operation) of a REST model, most specific first."""
    model = _model(signing_name)
    if model is None:
        return ()
    out = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = str(http.get("requestUri", "/")).split("?", 1)[0]
        pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        out.append((str(http.get("method", "GET")), re.compile(pattern), literal, name))
    return tuple(sorted(out, key=lambda r: -r[2]))


def _rest_operation(signing_name: str, request: ApiRequest) -> str | None:
    path = request.raw_path.split("?", 1)[0] or "/"
    for method, regex, _, name in _routes(signing_name):
        if method == request.method and regex.fullmatch(path):
            return name
    return None


def identify(request: ApiRequest, signing_name: str) -> Asked:
    target = request.headers.get("x-amz-target", "")
    model = _model(signing_name)
    if model is None:
        form = _form(request)
        if target:
            return Asked(signing_name, signing_name, "json", target.partition(".")[2] or None)
        if "Action" in form:
            return Asked(signing_name, signing_name, "query", form["Action"] or None)
        return Asked(signing_name, signing_name, "rest-json", None)
    meta = model.metadata
    title = str(meta.get("serviceAbbreviation") or meta.get("serviceFullName") or signing_name)
    protocol = str(meta.get("protocol") or "json")
    if protocol not in ("query", "ec2", "json", "rest-json", "rest-xml"):
        protocol = "json"  # smithy-rpc-v2-cbor models also speak awsJson
    if protocol in ("query", "ec2"):
        operation = _form(request).get("Action") or None
    elif protocol == "json":
        operation = target.partition(".")[2] or None
    else:
        operation = _rest_operation(signing_name, request)
    return Asked(signing_name, title, protocol, operation, str(meta.get("xmlNamespace", "")),
                 str(meta.get("jsonVersion", "1.1")))


def operation_sentence(title: str, operation: str) -> str:
    return f"The {title} operation {operation} is not implemented by this lambdad server."


def render(asked: Asked, exc: ApiError, request_id: str) -> ApiResponse:
    """An error in the protocol of the service asked."""
    code, message = exc.code, exc.message
    if isinstance(exc, AuthError) and asked.protocol in ("query", "ec2", "rest-xml"):
        code = AUTH_CODES.get(code, code)
    headers = [(b"x-amzn-requestid", request_id.encode())]
    if asked.protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
                f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return ApiResponse(exc.status, body.encode(), [_XML_TYPE, *headers])
    if asked.protocol in ("query", "rest-xml"):
        kind = "Sender" if exc.sender_fault else "Receiver"
        xmlns = f' xmlns="{escape(asked.xmlns)}"' if asked.xmlns else ""
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse{xmlns}><Error><Type>{kind}</Type>'
                f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return ApiResponse(exc.status, body.encode(), [_XML_TYPE, *headers])
    if asked.protocol == "json":
        ctype = f"application/x-amz-json-{asked.json_version}".encode()
        payload: dict[str, Any] = {"__type": code, "message": message}
    else:
        ctype = b"application/json"
        payload = {"message": message}
    return ApiResponse(exc.status, json.dumps(payload).encode(),
                       [(b"content-type", ctype), (b"x-amzn-errortype", code.encode()), *headers])


def unserved(request: ApiRequest, signing_name: str) -> tuple[ApiError, ApiResponse]:
    """The answer to a request for a service this server does not serve: (error, response)."""
    asked = identify(request, signing_name)
    if asked.operation:
        sentence = f"lambdad does not serve {asked.title}: the operation {asked.operation} is not implemented " \
                   "by this lambdad server."
    else:
        sentence = f"lambdad does not serve {asked.title} ({signing_name}): it is not implemented by this " \
                   "lambdad server."
    exc = ApiError(sentence, code="NotImplemented", status=501)
    return exc, render(asked, exc, request.request_id)
