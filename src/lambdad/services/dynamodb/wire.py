"""DynamoDB over the JSON protocol 1.0 (`X-Amz-Target: DynamoDB_20120810.<Operation>`), botocore's model.

DynamoDB Streams signs as `dynamodb` too (same SigV4 service name) with its own target prefix
`DynamoDBStreams_20120810`: `DynamoDbWire` dispatches by prefix, so the streams codec plugs in as
`streams` beside the tables' one.

Binary values arrive decoded (the codec's base64) and leave encoded (storage.to_json). Errors carry
DynamoDB's `__type` (`com.amazonaws.dynamodb.v20120810#Code`) and extra members (the `Item` of a
failed condition, a transaction's `CancellationReasons`).
"""

from __future__ import annotations

import json
from typing import Any

from lambdad import botocore_models
from lambdad.api.base import ApiRequest, ApiResponse, Authorize, signer
from lambdad.api.jsonproto import JsonService
from lambdad.errors import ApiError, DynamoDbError
from lambdad.services.dynamodb import dataplane
from lambdad.services.dynamodb.tables import Tables

MODEL = botocore_models.service_model("dynamodb")
TARGET = "DynamoDB_20120810"
STREAMS_TARGET = "DynamoDBStreams_20120810"
CONTENT_TYPE = "application/x-amz-json-1.0"
_CORAL = {"ValidationException": "com.amazon.coral.validate#",
          "SerializationException": "com.amazon.coral.service#",
          "UnknownOperationException": "com.amazon.coral.service#",
          "AccessDeniedException": "com.amazon.coral.service#"}


class DynamoDbWire:
    """DynamoDB's codec and, once served, DynamoDB Streams' (both sign as `dynamodb`)."""

    def __init__(self, tables: JsonService, streams: JsonService | None = None) -> None:
        self.tables = tables
        self.streams = streams
        self.authorize: Authorize | None = tables.authorize
        # the Router refuses an unsigned request with this target prefix in DynamoDB's JSON shape
        self.target_prefixes = (TARGET,)

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        target = request.headers.get("x-amz-target", "")
        if self.streams is not None and target.startswith(STREAMS_TARGET + "."):
            return await self.streams.dispatch(request)
        return await self.tables.dispatch(request)


def render_error(exc: ApiError, request: ApiRequest) -> ApiResponse:
    body: dict[str, Any] = {"__type": _CORAL.get(exc.code, "com.amazonaws.dynamodb.v20120810#") + exc.code}
    body["Message" if exc.code == "TransactionCanceledException" else "message"] = exc.message
    for key, value in getattr(exc, "extra", {}).items():
        body[key] = value  # already DynamoDB JSON (dataplane.py)
    return ApiResponse(exc.status, json.dumps(body).encode(),
                       [(b"content-type", CONTENT_TYPE.encode()), (b"x-amzn-errortype", exc.code.encode()),
                        (b"x-amzn-requestid", request.request_id.encode())])


def build(plane: dataplane.DataPlane, authorize: Authorize | None) -> DynamoDbWire:
    svc = JsonService(TARGET, CONTENT_TYPE, model=MODEL, authorize=authorize)
    tables: Tables = plane.tables

    def account(request: ApiRequest) -> str:
        return signer(request).account

    def table(request: ApiRequest, p: dict[str, Any], member: str = "TableName", detail: bool = False) -> Any:
        return tables.get(account(request), request.region, p[member], detail=detail)

    # -- tables -------------------------------------------------------------------------------
    @svc.operation("CreateTable")
    async def create_table(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        t = tables.create(account(request), request.region, p)
        return {"TableDescription": tables.describe(t, "CREATING")}

    @svc.operation("DescribeTable")
    async def describe_table(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Table": tables.describe(table(request, p, detail=True))}

    @svc.operation("ListTables")
    async def list_tables(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        names = tables.names(account(request), request.region)
        start = p.get("ExclusiveStartTableName")
        if start:
            names = [n for n in names if n > start]
        limit = p.get("Limit", 100)
        out: dict[str, Any] = {"TableNames": names[:limit]}
        if len(names) > limit:
            out["LastEvaluatedTableName"] = names[limit - 1]
        return out

    @svc.operation("UpdateTable")
    async def update_table(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"TableDescription": tables.update(table(request, p, detail=True), p, plane.backfill)}

    @svc.operation("DeleteTable")
    async def delete_table(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"TableDescription": tables.delete(table(request, p, detail=True))}

    @svc.operation("TagResource")
    async def tag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        tables.tag(tables.by_arn(p["ResourceArn"]), p["Tags"])
        return {}

    @svc.operation("UntagResource")
    async def untag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        tables.untag(tables.by_arn(p["ResourceArn"]), p["TagKeys"])
        return {}

    @svc.operation("ListTagsOfResource")
    async def list_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        t = tables.by_arn(p["ResourceArn"])
        tags = sorted(t.tags.items())
        start = int(p["NextToken"]) if str(p.get("NextToken", "")).isdigit() else 0
        page = tags[start:start + 100]
        out: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in page]}
        if start + 100 < len(tags):
            out["NextToken"] = str(start + 100)
        return out

    @svc.operation("UpdateTimeToLive")
    async def update_ttl(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        spec = tables.update_ttl(table(request, p), p["TimeToLiveSpecification"], dataplane.expiry_of)
        return {"TimeToLiveSpecification": spec}

    @svc.operation("DescribeTimeToLive")
    async def describe_ttl(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"TimeToLiveDescription": tables.describe_ttl(table(request, p))}

    @svc.operation("DescribeContinuousBackups")
    async def describe_backups(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        table(request, p)
        return {"ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "DISABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}}

    @svc.operation("DescribeLimits")
    async def describe_limits(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
                "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000}

    @svc.operation("DescribeEndpoints")
    async def describe_endpoints(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        host = request.headers.get("host", "localhost")
        return {"Endpoints": [{"Address": host, "CachePeriodInMinutes": 1440}]}

    # -- items --------------------------------------------------------------------------------
    def data_op(name: str) -> None:
        method = getattr(plane, dataplane.METHODS[name])

        async def run(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = method(account(request), request.region, p)
            return out

        svc.operation(name)(run)

    for name in dataplane.METHODS:
        data_op(name)

    return DynamoDbWire(svc)


__all__ = ["DynamoDbError", "DynamoDbWire", "build", "render_error"]
