"""CloudWatch (metrics and alarms) over its three protocols, from botocore's one model.

botocore sends CloudWatch in Smithy RPC v2 CBOR by default (api/rpcv2cbor.py); the model also lists
the JSON protocol (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`) and the query protocol it
began with (`Action=PutMetricData`), which older SDKs and the AWS CLI v1 still speak. One set of
operations serves all three; a request goes to the codec its shape names (the `/service/` path or
the `smithy-protocol` header, the target header, else the form), and an error is rendered in the
protocol of the request.

Timestamps reach the operations as epoch seconds or ISO text (`metrics.parse_timestamp`) and leave
as epoch seconds, which each codec renders its own way.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from lambdad import botocore_models
from lambdad.api import compression, jsonproto, rpcv2cbor
from lambdad.api.base import ApiRequest, ApiResponse, Authorize, signer
from lambdad.api.jsonproto import JsonService
from lambdad.api.query import QueryService
from lambdad.api.rpcv2cbor import RpcV2CborService
from lambdad.errors import ApiError, CloudWatchError
from lambdad.services.cloudwatch.alarms import Alarm, Alarms
from lambdad.services.cloudwatch.metrics import (
    Datum,
    MetricKey,
    Metrics,
    check_period,
    check_statistic,
    combination,
    dimensions,
    invalid,
    missing,
    parse_timestamp,
)

Handler = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any] | None]]
MAX_QUERIES = 500
MAX_DATUMS = 1000
MAX_PUT_BYTES = 1024 * 1024  # PutMetricData's request size limit
MAX_GET_DATAPOINTS = 100_800
LIST_PAGE = 500


def _model() -> Any:
    return botocore_models.service_model("cloudwatch")


def _too_large(size: int) -> CloudWatchError:
    return CloudWatchError(f"Request size {size} exceeded {MAX_PUT_BYTES} bytes", code="RequestEntityTooLarge",
                           status=413)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["o"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise CloudWatchError("The service cannot process the nextToken.", code="InvalidNextToken") from None
    if not isinstance(value, int) or value < 0:
        raise CloudWatchError("The service cannot process the nextToken.", code="InvalidNextToken")
    return value


def _window(p: dict[str, Any], start_name: str = "StartTime", end_name: str = "EndTime") -> tuple[float, float]:
    if start_name not in p:
        raise missing(f"The parameter {start_name} is required.")
    if end_name not in p:
        raise missing(f"The parameter {end_name} is required.")
    start, end = parse_timestamp(p[start_name], start_name), parse_timestamp(p[end_name], end_name)
    if start == end:
        raise invalid(f"The parameter {start_name} must not equal parameter {end_name}.")
    if start > end:
        raise invalid(f"The parameter {start_name} must be less than the parameter {end_name}.")
    return start, end


def _max_records(p: dict[str, Any], default: int = 50) -> int:
    value = p.get("MaxRecords", default)
    if not 1 <= value <= 100:
        raise invalid(f"The value {value} for parameter MaxRecords is invalid.")
    return int(value)


def _members(fn: Handler) -> Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any]]]:
    """An operation without output answers no members (`{}`: the JSON protocol's empty object)."""
    async def op(request: ApiRequest, params: dict[str, Any]) -> dict[str, Any]:
        return await fn(request, params) or {}
    return op


def describe_alarm(alarm: Alarm) -> dict[str, Any]:
    return {k: v for k, v in alarm.doc.items() if not k.startswith("_")}


class CloudWatchWire:
    """The three codecs over one set of operations; `dispatch` picks the codec of the request."""

    def __init__(self, metrics: Metrics, alarms: Alarms, authorize: Authorize | None) -> None:
        model = _model()
        self.metrics, self.alarms = metrics, alarms
        self.authorize = authorize
        self.cbor = RpcV2CborService(model, validation_code="InvalidParameterValue", authorize=authorize)
        self.json = JsonService(model.metadata["targetPrefix"], "application/x-amz-json-1.0", model=model,
                                validation_code="InvalidParameterValue", authorize=authorize)
        self.query = QueryService(model, validation_code="InvalidParameterValue", authorize=authorize,
                                  missing_parameter=lambda op, name: missing(f"The parameter {name} is required."))
        self.model = model
        # the Router refuses an unsigned request in this service's protocol by these (api/app.py)
        self.target_prefixes = (model.metadata["targetPrefix"],)
        for name, fn in self._operations().items():
            op = _members(fn)
            self.cbor.operation(name)(op)
            self.json.operation(name)(op)
            self.query.operation(name)(op)

    async def dispatch(self, request: ApiRequest) -> ApiResponse:
        compression.decompress(request, MAX_PUT_BYTES, _too_large(len(request.body)))
        if rpcv2cbor.is_rpcv2(request):
            return await self.cbor.dispatch(request)
        if "x-amz-target" in request.headers:
            return await self.json.dispatch(request)
        return await self.query.dispatch(request)

    def render_error(self, exc: ApiError, request: ApiRequest) -> ApiResponse:
        if rpcv2cbor.is_rpcv2(request):
            return self.cbor.render_error(exc, request)
        if "x-amz-target" in request.headers:
            response = jsonproto.render_error(exc, request)
            type_name, header = rpcv2cbor.query_error(self.model, exc)
            response.body = json.dumps({"__type": type_name, "message": exc.message}).encode()
            response.headers = [(k, v) for k, v in response.headers if k != b"content-type"]
            response.headers += [(b"content-type", b"application/x-amz-json-1.0"),
                                 (b"x-amzn-query-error", header.encode())]
            return response
        return self.query.render_error(exc, request)

    # -- operations --------------------------------------------------------------------------------
    def _operations(self) -> dict[str, Handler]:
        metrics, alarms = self.metrics, self.alarms

        def scope(request: ApiRequest) -> tuple[str, str]:
            return signer(request).account, request.region

        async def put_metric_data(request: ApiRequest, p: dict[str, Any]) -> None:
            account, region = scope(request)
            namespace = p.get("Namespace")
            if not namespace:
                raise missing("The parameter Namespace is required.")
            if len(request.body) > MAX_PUT_BYTES:
                raise _too_large(len(request.body))
            if len(p.get("MetricData", [])) > MAX_DATUMS:
                raise invalid(f"The collection MetricData must not have a size greater than {MAX_DATUMS}.")
            data: list[Datum] = metrics.parse_put(account, region, namespace, p.get("MetricData", []))
            for i, entity in enumerate(p.get("EntityMetricData", []), 1):
                try:
                    data += metrics.parse_put(account, region, namespace, entity.get("MetricData", []))
                except CloudWatchError as exc:
                    exc.message = exc.message.replace("MetricData.", f"EntityMetricData.member.{i}.MetricData.")
                    raise
            if not p.get("MetricData") and not p.get("EntityMetricData"):
                raise missing("At least one of the parameters MetricData and EntityMetricData must be specified.")
            metrics.write(data)
            return None

        async def get_metric_statistics(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            account, region = scope(request)
            start, end = _window(p)
            period = check_period(p["Period"])
            stats, extended = p.get("Statistics", []), p.get("ExtendedStatistics", [])
            if not stats and not extended:
                raise missing("Must specify either Statistics or ExtendedStatistics.")
            for i, s in enumerate(stats, 1):
                if s not in ("SampleCount", "Average", "Sum", "Minimum", "Maximum"):
                    raise invalid(f"The value {s} for parameter Statistics.member.{i} is invalid.")
            for i, s in enumerate(extended, 1):
                if not s.startswith("p"):
                    raise invalid(f"The value {s} for parameter ExtendedStatistics.member.{i} is invalid.")
                check_statistic(s, f"ExtendedStatistics.member.{i}")
            key = MetricKey(account, region, p["Namespace"], p["MetricName"],
                            dimensions(p.get("Dimensions"), "Dimensions"))
            points = metrics.statistics(key, start, end, period, stats, extended, p.get("Unit"))
            return {"Label": p["MetricName"], "Datapoints": points}

        async def get_metric_data(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            account, region = scope(request)
            start, end = _window(p)
            queries = p.get("MetricDataQueries", [])
            if len(queries) > MAX_QUERIES:
                raise invalid(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
            scan = p.get("ScanBy", "TimestampDescending")
            limit = p.get("MaxDatapoints", MAX_GET_DATAPOINTS)
            if limit < 1:
                raise invalid(f"The value {limit} for parameter MaxDatapoints is invalid.")
            ids: set[str] = set()
            cache: dict[tuple[MetricKey, int, str | None], dict[int, Any]] = {}
            series: list[tuple[str, str, list[tuple[float, float]]]] = []
            for i, q in enumerate(queries, 1):
                where = f"MetricDataQueries.member.{i}"
                qid = q["Id"]
                if qid in ids:
                    raise invalid(f"The value {qid} for parameter {where}.Id is duplicated.")
                ids.add(qid)
                if "Expression" in q:
                    if "MetricStat" in q:
                        raise combination(f"The parameters {where}.MetricStat and {where}.Expression are "
                                          "mutually exclusive and you have specified both.")
                    raise invalid(f"The parameter {where}.Expression is not supported by lambdad yet: metric "
                                  "math and Metrics Insights queries come later; use MetricStat.")
                stat_q = q.get("MetricStat")
                if stat_q is None:
                    raise missing(f"The parameter {where}.MetricStat is required.")
                metric = stat_q["Metric"]
                if "Namespace" not in metric or "MetricName" not in metric:
                    raise missing(f"The parameters {where}.MetricStat.Metric.Namespace and "
                                  f"{where}.MetricStat.Metric.MetricName are required.")
                period = check_period(stat_q["Period"], f"{where}.MetricStat.Period")
                stat = check_statistic(stat_q["Stat"], f"{where}.MetricStat.Stat")
                key = MetricKey(account, region, metric["Namespace"], metric["MetricName"],
                                dimensions(metric.get("Dimensions"), f"{where}.MetricStat.Metric.Dimensions"))
                # Queries of one metric share its rows (read once per request, however many ask).
                read = (key, period, stat_q.get("Unit"))
                if read not in cache:
                    cache[read] = metrics.buckets(key, start, end, period, stat_q.get("Unit"))[0]
                buckets = cache[read]
                points = [(float(ts), v) for ts in sorted(buckets)
                          if (v := buckets[ts].statistic(stat)) is not None]
                if scan == "TimestampDescending":
                    points.reverse()
                if q.get("ReturnData", True):
                    series.append((qid, q.get("Label") or metric["MetricName"], points))
            # One page of MaxDatapoints across the queries, in order; NextToken is where the next begins.
            offset = _offset(p.get("NextToken"))
            results: list[dict[str, Any]] = []
            seen, more = 0, False
            for qid, label, points in series:
                begin = min(len(points), max(0, offset - seen))
                chunk = points[begin:begin + max(0, offset + limit - seen - begin)]
                seen += len(points)
                partial = begin + len(chunk) < len(points)
                more = more or partial
                results.append({"Id": qid, "Label": label, "Timestamps": [t for t, _ in chunk],
                                "Values": [v for _, v in chunk],
                                "StatusCode": "PartialData" if partial else "Complete"})
            out: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
            if more:
                out["NextToken"] = _token(offset + limit)
            return out

        async def list_metrics(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            account, region = scope(request)
            filters = []
            for i, d in enumerate(p.get("Dimensions", []), 1):
                if not d.get("Name"):
                    raise missing(f"The parameter Dimensions.member.{i}.Name is required.")
                filters.append((d["Name"], d.get("Value")))
            recent = p.get("RecentlyActive")
            if recent is not None and recent != "PT3H":
                raise invalid(f"The value {recent} for parameter RecentlyActive is invalid.")
            found = metrics.list(account, region, p.get("Namespace"), p.get("MetricName"), filters, recent == "PT3H")
            offset = _offset(p.get("NextToken"))
            page = found[offset:offset + LIST_PAGE]
            out: dict[str, Any] = {"Metrics": [k.describe() for k in page]}
            if p.get("IncludeLinkedAccounts"):
                out["OwningAccounts"] = [account] * len(page)
            if offset + LIST_PAGE < len(found):
                out["NextToken"] = _token(offset + LIST_PAGE)
            return out

        async def put_metric_alarm(request: ApiRequest, p: dict[str, Any]) -> None:
            account, region = scope(request)
            alarms.put(account, region, p)
            return None

        async def describe_alarms(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            account, region = scope(request)
            if p.get("AlarmNames") and p.get("AlarmNamePrefix"):
                raise combination("The parameters AlarmNames and AlarmNamePrefix are mutually exclusive.")
            found = alarms.describe(account, region, p.get("AlarmNames"), p.get("AlarmNamePrefix"),
                                    p.get("StateValue"), p.get("ActionPrefix"))
            types = p.get("AlarmTypes")
            if types and "MetricAlarm" not in types:
                found = []
            size = _max_records(p)
            offset = _offset(p.get("NextToken"))
            out: dict[str, Any] = {"MetricAlarms": [describe_alarm(a) for a in found[offset:offset + size]],
                                   "CompositeAlarms": []}
            if offset + size < len(found):
                out["NextToken"] = _token(offset + size)
            return out

        async def describe_alarms_for_metric(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            account, region = scope(request)
            dims = dimensions(p.get("Dimensions"), "Dimensions")
            found = []
            for alarm in alarms.describe(account, region):
                doc = alarm.doc
                if (doc["MetricName"], doc["Namespace"]) != (p["MetricName"], p["Namespace"]):
                    continue
                if "Dimensions" in p and alarm.key.dims != dims:
                    continue
                if any(m in p and doc.get(m) != p[m] for m in ("Statistic", "ExtendedStatistic", "Period", "Unit")):
                    continue
                found.append(describe_alarm(alarm))
            return {"MetricAlarms": found}

        async def delete_alarms(request: ApiRequest, p: dict[str, Any]) -> None:
            account, region = scope(request)
            alarms.delete(account, region, p["AlarmNames"])
            return None

        async def set_alarm_state(request: ApiRequest, p: dict[str, Any]) -> None:
            account, region = scope(request)
            alarm = alarms.get(account, region, p["AlarmName"])
            if p["StateValue"] not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
                raise invalid(f"The value {p['StateValue']} for parameter StateValue is invalid.")
            await alarms.set_state(alarm, p["StateValue"], p["StateReason"], p.get("StateReasonData"))
            return None

        async def enable_actions(request: ApiRequest, p: dict[str, Any]) -> None:
            account, region = scope(request)
            alarms.set_actions_enabled(account, region, p["AlarmNames"], True)
            return None

        async def disable_actions(request: ApiRequest, p: dict[str, Any]) -> None:
            account, region = scope(request)
            alarms.set_actions_enabled(account, region, p["AlarmNames"], False)
            return None

        async def describe_alarm_history(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            account, region = scope(request)
            start = parse_timestamp(p["StartDate"], "StartDate") if "StartDate" in p else None
            end = parse_timestamp(p["EndDate"], "EndDate") if "EndDate" in p else None
            kind = p.get("HistoryItemType")
            if kind is not None and kind not in ("ConfigurationUpdate", "StateUpdate", "Action",
                                                 "AlarmContributorStateUpdate", "AlarmContributorAction"):
                raise invalid(f"The value {kind} for parameter HistoryItemType is invalid.")
            items = alarms.history(account, region, p.get("AlarmName"), kind, start, end,
                                   p.get("ScanBy", "TimestampDescending") == "TimestampDescending")
            size = _max_records(p, 100)
            offset = _offset(p.get("NextToken"))
            out: dict[str, Any] = {"AlarmHistoryItems": items[offset:offset + size]}
            if offset + size < len(items):
                out["NextToken"] = _token(offset + size)
            return out

        def tagged(request: ApiRequest, arn: str) -> Alarm:
            account, region = scope(request)
            try:
                return alarms.by_arn(account, region, arn)
            except CloudWatchError:
                raise CloudWatchError(f"Resource {arn} not found.", code="ResourceNotFoundException",
                                      status=404) from None

        async def tag_resource(request: ApiRequest, p: dict[str, Any]) -> None:
            alarms.tag(tagged(request, p["ResourceARN"]), {t["Key"]: t["Value"] for t in p["Tags"]})
            return None

        async def untag_resource(request: ApiRequest, p: dict[str, Any]) -> None:
            alarms.tag(tagged(request, p["ResourceARN"]), {}, p["TagKeys"])
            return None

        async def list_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
            alarm = tagged(request, p["ResourceARN"])
            return {"Tags": [{"Key": k, "Value": v} for k, v in alarm.tags.items()]}

        return {
            "PutMetricData": put_metric_data, "GetMetricStatistics": get_metric_statistics,
            "GetMetricData": get_metric_data, "ListMetrics": list_metrics, "PutMetricAlarm": put_metric_alarm,
            "DescribeAlarms": describe_alarms, "DescribeAlarmsForMetric": describe_alarms_for_metric,
            "DeleteAlarms": delete_alarms, "SetAlarmState": set_alarm_state,
            "EnableAlarmActions": enable_actions, "DisableAlarmActions": disable_actions,
            "DescribeAlarmHistory": describe_alarm_history, "TagResource": tag_resource,
            "UntagResource": untag_resource, "ListTagsForResource": list_tags,
        }


def build(metrics: Metrics, alarms: Alarms, authorize: Authorize | None) -> CloudWatchWire:
    return CloudWatchWire(metrics, alarms, authorize)
