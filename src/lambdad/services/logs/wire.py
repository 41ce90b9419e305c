"""CloudWatch Logs over the JSON protocol (`Logs_20140328.*`): what boto3 and `aws logs` call.

Pagination tokens are opaque to clients and checked here: GetLogEvents' `f/<position>` and
`b/<position>` (a position is an event's timestamp and id, 38 digits), FilterLogEvents' position
of the last event returned, and the last name seen for Describe* calls. StartLiveTail answers an
event stream (api/eventstream.py) that runs until the client leaves or three hours pass.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from lambdad import botocore_models
from lambdad.api import eventstream
from lambdad.api.base import ApiRequest, ApiResponse, Authorize
from lambdad.api.jsonproto import JsonService, render_error
from lambdad.errors import LogsError
from lambdad.services.logs.filter_pattern import compile_pattern
from lambdad.services.logs.groups import LogsService, not_found, parse_identifier
from lambdad.services.logs.live_tail import MAX_SESSIONS, Session
from lambdad.services.logs.records import LogGroup, Position

# A position is (timestamp, row, line in the row): 19 + 19 + 5 digits, the event's eventId.
_POSITION = re.compile(r"([fb])/(\d{19})(\d{19})(\d{5})\Z")
_FIRST: Position = (0, 0, 0)
_LAST: Position = (2**62, 2**62, 99_999)  # past every event, within SQLite's integers
SESSION_SECONDS = 3 * 3600
UPDATE_SECONDS = 1.0


def _position(kind: str, pos: Position) -> str:
    return f"{kind}/{pos[0]:019d}{pos[1]:019d}{pos[2]:05d}"


def _bad_token() -> LogsError:
    return LogsError("The specified nextToken is invalid.")


def _parse_position(m: re.Match[str]) -> Position:
    pos = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    if max(pos[:2]) > _LAST[0]:  # a forged token past SQLite's integers
        raise _bad_token()
    return pos


def _name_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _token_name(token: str | None) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError) as exc:
        raise _bad_token() from exc


def group_identifier(account: str, p: dict[str, Any], key: str = "logGroupIdentifier") -> tuple[str, str]:
    """(account, group name) from logGroupName or logGroupIdentifier (a name or an ARN)."""
    name, ident = p.get("logGroupName"), p.get(key)
    if name and ident:
        raise LogsError("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if ident:
        return parse_identifier(account, ident)
    if not name:
        raise LogsError("Either logGroupName or logGroupIdentifier is required")
    return account, name


def describe_group(logs: LogsService, g: LogGroup) -> dict[str, Any]:
    out: dict[str, Any] = {"logGroupName": g.name, "creationTime": g.created,
                           "metricFilterCount": len(g.metric_filters), "arn": g.arn + ":*",
                           "storedBytes": logs.stored_bytes(g), "logGroupClass": "STANDARD",
                           "logGroupArn": g.arn, "deletionProtectionEnabled": False}
    if g.retention:
        out["retentionInDays"] = g.retention
    return out


def build(logs: LogsService, authorize: Authorize | None) -> JsonService:
    svc = JsonService("Logs_20140328", model=botocore_models.service_model("logs"),
                      validation_code="InvalidParameterException", authorize=authorize)

    def account(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    def group(request: ApiRequest, p: dict[str, Any]) -> LogGroup:
        owner, name = group_identifier(account(request), p)
        return logs.group(owner, request.region, name)

    # -- groups -------------------------------------------------------------------------------
    @svc.operation("CreateLogGroup")
    async def create_log_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("kmsKeyId"):
            raise LogsError("lambdad does not encrypt log groups with a KMS key (kmsKeyId)")
        if p.get("logGroupClass", "STANDARD") != "STANDARD":
            raise LogsError("lambdad serves the STANDARD log group class only")
        logs.create_group(account(request), request.region, p["logGroupName"], p.get("tags"))
        return {}

    @svc.operation("DeleteLogGroup")
    async def delete_log_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.delete_group(account(request), request.region, p["logGroupName"])
        return {}

    @svc.operation("DescribeLogGroups")
    async def describe_log_groups(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.flush_pending()
        prefix, pattern = p.get("logGroupNamePrefix"), p.get("logGroupNamePattern")
        if prefix and pattern:
            raise LogsError("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
        limit = p.get("limit", 50)
        after = _token_name(p.get("nextToken"))
        who, region = account(request), request.region
        if p.get("logGroupIdentifiers"):
            found = [logs.find(who, region, parse_identifier(who, i)[1]) for i in p["logGroupIdentifiers"]]
            candidates = sorted((g for g in found if g is not None), key=lambda g: g.name)
            candidates = [g for g in candidates if g.name > after]
        elif pattern:
            candidates = [g for g in logs.group_names_matching(who, region, pattern) if g.name > after]
        else:
            candidates = logs.groups(who, region, prefix or "", after)  # type: ignore[assignment]
        page: list[LogGroup] = []
        more = False
        for g in candidates:
            if len(page) == limit:
                more = True
                break
            page.append(g)
        out: dict[str, Any] = {"logGroups": [describe_group(logs, g) for g in page]}
        if more:
            out["nextToken"] = _name_token(page[-1].name)
        return out

    @svc.operation("PutRetentionPolicy")
    async def put_retention_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.put_retention(group(request, p), p["retentionInDays"])
        return {}

    @svc.operation("DeleteRetentionPolicy")
    async def delete_retention_policy(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.put_retention(group(request, p), None)
        return {}

    # -- tags ---------------------------------------------------------------------------------
    def group_by_arn(request: ApiRequest, arn: str) -> LogGroup:
        if ":log-group:" not in arn:
            raise LogsError(f"Invalid resource ARN: {arn}")
        owner, name = parse_identifier(account(request), arn)
        return logs.group(owner, request.region, name)

    @svc.operation("TagResource")
    async def tag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.tag(group_by_arn(request, p["resourceArn"]), p["tags"])
        return {}

    @svc.operation("UntagResource")
    async def untag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.untag(group_by_arn(request, p["resourceArn"]), p["tagKeys"])
        return {}

    @svc.operation("ListTagsForResource")
    async def list_tags_for_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"tags": dict(group_by_arn(request, p["resourceArn"]).tags)}

    @svc.operation("TagLogGroup")
    async def tag_log_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.tag(group(request, p), p["tags"])
        return {}

    @svc.operation("UntagLogGroup")
    async def untag_log_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.untag(group(request, p), p["tags"])
        return {}

    @svc.operation("ListTagsLogGroup")
    async def list_tags_log_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"tags": dict(group(request, p).tags)}

    # -- streams ------------------------------------------------------------------------------
    @svc.operation("CreateLogStream")
    async def create_log_stream(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.create_stream(group(request, p), p["logStreamName"])
        return {}

    @svc.operation("DeleteLogStream")
    async def delete_log_stream(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.delete_stream(group(request, p), p["logStreamName"])
        return {}

    @svc.operation("DescribeLogStreams")
    async def describe_log_streams(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.flush_pending()
        g = group(request, p)
        order, descending = p.get("orderBy", "LogStreamName"), bool(p.get("descending"))
        prefix = p.get("logStreamNamePrefix", "")
        if prefix and order == "LastEventTime":
            raise LogsError("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = p.get("limit", 50)
        names: list[str]
        if order == "LastEventTime":
            names = sorted(g.streams, key=lambda n: (g.streams[n].last_ts or 0, n), reverse=descending)
            start = 0
            if p.get("nextToken"):
                try:
                    start = int(_token_name(p["nextToken"]))
                except ValueError as exc:
                    raise _bad_token() from exc
            chosen = names[start:start + limit]
            token = str(start + limit) if start + limit < len(names) else None
        else:
            after = _token_name(p.get("nextToken")) or None
            chosen, token = _by_name(g.sorted_streams, prefix, after, limit, descending)
        out: dict[str, Any] = {"logStreams": [_describe_stream(g, g.streams[n]) for n in chosen]}
        if token:
            out["nextToken"] = _name_token(token)
        return out

    # -- events -------------------------------------------------------------------------------
    @svc.operation("PutLogEvents")
    async def put_log_events(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return logs.put_events(group(request, p), p["logStreamName"], p["logEvents"])

    @svc.operation("GetLogEvents")
    async def get_log_events(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.flush_pending()
        g = group(request, p)
        stream = logs.stream(g, p["logStreamName"]).name
        limit = p.get("limit", 10000)
        token = p.get("nextToken")
        kind, pos = ("f" if p.get("startFromHead") else "b"), (_FIRST if p.get("startFromHead") else _LAST)
        if token:
            m = _POSITION.match(token)
            if not m:
                raise _bad_token()
            kind, pos = m.group(1), _parse_position(m)
        rows = logs.stream_events(g, stream, after=pos if kind == "f" else None, before=pos if kind == "b" else None,
                                  start=p.get("startTime"), end=p.get("endTime"), limit=limit)
        if rows:
            forward = _position("f", rows[-1].position)
            backward = _position("b", rows[0].position)
        else:  # at the end: the same token again (a caller polling forward keeps its place)
            forward = _position("f", pos if kind == "f" or token else _FIRST)
            backward = _position("b", pos if kind == "b" or token else _FIRST)
        return {"events": [{"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingested}
                           for e in rows], "nextForwardToken": forward, "nextBackwardToken": backward}

    @svc.operation("FilterLogEvents")
    async def filter_log_events(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.flush_pending()
        g = group(request, p)
        if p.get("logStreamNames") and p.get("logStreamNamePrefix"):
            raise LogsError("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        pattern = compile_pattern(p.get("filterPattern"))
        after = None
        if p.get("nextToken"):
            m = _POSITION.match("f/" + p["nextToken"])
            if not m:
                raise _bad_token()
            after = _parse_position(m)
        rows, more = logs.filter_events(g, streams=p.get("logStreamNames"), prefix=p.get("logStreamNamePrefix"),
                                        start=p.get("startTime"), end=p.get("endTime"), pattern=pattern,
                                        after=after, limit=p.get("limit", 10000))
        out: dict[str, Any] = {
            "events": [{"logStreamName": e.stream, "timestamp": e.timestamp, "message": e.message,
                        "ingestionTime": e.ingested, "eventId": e.event_id} for e in rows],
            "searchedLogStreams": []}
        if more and rows:
            out["nextToken"] = rows[-1].event_id
        return out

    # -- filters ------------------------------------------------------------------------------
    @svc.operation("PutMetricFilter")
    async def put_metric_filter(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.put_metric_filter(group(request, p), p["filterName"], p["filterPattern"], p["metricTransformations"])
        return {}

    @svc.operation("DescribeMetricFilters")
    async def describe_metric_filters(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("filterNamePrefix") and not p.get("logGroupName"):
            raise LogsError("If you specify filterNamePrefix you must also specify logGroupName")
        if bool(p.get("metricName")) != bool(p.get("metricNamespace")):
            raise LogsError("metricName and metricNamespace must be specified together")
        if p.get("logGroupName"):
            pairs = [(group(request, p), f) for f in group(request, p).metric_filters.values()]
        else:
            pairs = list(logs.metric_filters(account(request), request.region))
        found = []
        for _g, f in sorted(pairs, key=lambda gf: (gf[0].name, gf[1].name)):
            if p.get("filterNamePrefix") and not f.name.startswith(p["filterNamePrefix"]):
                continue
            if p.get("metricName") and not any(t.get("metricName") == p["metricName"] and
                                               t.get("metricNamespace") == p["metricNamespace"]
                                               for t in f.body["metricTransformations"]):
                continue
            found.append(f.body)
        return _page(found, "metricFilters", p, lambda b: f"{b['logGroupName']}\x00{b['filterName']}")

    @svc.operation("DeleteMetricFilter")
    async def delete_metric_filter(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.delete_filter(group(request, p), "metric", p["filterName"])
        return {}

    @svc.operation("PutSubscriptionFilter")
    async def put_subscription_filter(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.put_subscription(group(request, p), p["filterName"], p["filterPattern"], p["destinationArn"], p)
        return {}

    @svc.operation("DescribeSubscriptionFilters")
    async def describe_subscription_filters(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        g = group(request, p)
        found = [f.body for n, f in sorted(g.subscriptions.items())
                 if n.startswith(p.get("filterNamePrefix", ""))]
        return _page(found, "subscriptionFilters", p, lambda b: str(b["filterName"]))

    @svc.operation("DeleteSubscriptionFilter")
    async def delete_subscription_filter(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        logs.delete_filter(group(request, p), "subscription", p["filterName"])
        return {}

    @svc.operation("TestMetricFilter")
    async def test_metric_filter(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        pattern = compile_pattern(p["filterPattern"])
        return {"matches": [{"eventNumber": i + 1, "eventMessage": m, "extractedValues": {}}
                            for i, m in enumerate(p["logEventMessages"]) if pattern.matches(m)]}

    # -- live tail ----------------------------------------------------------------------------
    @svc.operation("StartLiveTail")
    async def start_live_tail(request: ApiRequest, p: dict[str, Any]) -> ApiResponse:
        who = account(request)
        if p.get("logStreamNames") and p.get("logStreamNamePrefixes"):
            raise LogsError("logStreamNames and logStreamNamePrefixes are mutually exclusive parameters.")
        if (p.get("logStreamNames") or p.get("logStreamNamePrefixes")) and len(p["logGroupIdentifiers"]) != 1:
            raise LogsError("logStreamNames and logStreamNamePrefixes need exactly one log group identifier.")
        groups: dict[str, str] = {}
        for ident in p["logGroupIdentifiers"]:
            owner, name = parse_identifier(who, ident)
            if ident.endswith("*"):
                raise LogsError("A log group ARN for Live Tail cannot end with an asterisk (*)")
            if owner != who or logs.find(who, request.region, name) is None:
                raise not_found()
            groups[name] = ident
        if logs.live.count(who) >= MAX_SESSIONS:
            raise LogsError("Resource limit exceeded.", code="LimitExceededException")
        pattern = compile_pattern(p.get("logEventFilterPattern"))
        session = Session(who, request.region, groups, set(p["logStreamNames"]) if p.get("logStreamNames") else None,
                          p.get("logStreamNamePrefixes"), pattern)
        start = {"requestId": request.request_id, "sessionId": str(uuid.uuid4()),
                 "logGroupIdentifiers": list(p["logGroupIdentifiers"]),
                 "logStreamNames": p.get("logStreamNames", []),
                 "logStreamNamePrefixes": p.get("logStreamNamePrefixes", []),
                 "logEventFilterPattern": p.get("logEventFilterPattern", "")}
        logs.live.sessions.add(session)
        return ApiResponse(200, b"", [(b"content-type", eventstream.CONTENT_TYPE),
                                      (b"x-amzn-requestid", request.request_id.encode())],
                           stream=_live_tail(logs, session, start))

    return svc


async def _live_tail(logs: LogsService, session: Session, start: dict[str, Any]) -> AsyncIterator[bytes]:
    try:
        yield eventstream.event("initial-response", {})  # the JSON protocol's non-stream members: none
        yield eventstream.event("sessionStart", start)
        loop = asyncio.get_running_loop()
        ends = loop.time() + SESSION_SECONDS
        while loop.time() < ends:
            # An update at most once a second, or every few seconds with nothing new (a heartbeat).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.wake.wait(), timeout=5.0)
            results, sampled = session.take()
            yield eventstream.event("sessionUpdate", {"sessionMetadata": {"sampled": sampled},
                                                      "sessionResults": results})
            await asyncio.sleep(UPDATE_SECONDS)
        yield eventstream.exception("SessionTimeoutException", "Session timed out after 3 hours.")
    finally:
        logs.live.sessions.discard(session)


def _by_name(names: list[str], prefix: str, after: str | None, limit: int,
             descending: bool) -> tuple[list[str], str | None]:
    lo = bisect.bisect_left(names, prefix)
    hi = len(names)
    if prefix:
        hi = bisect.bisect_left(names, prefix + "\U0010ffff", lo)
    if descending:
        if after is not None:
            hi = min(hi, bisect.bisect_left(names, after, lo, hi))
        chosen = names[max(lo, hi - limit):hi][::-1]
        more = hi - limit > lo
    else:
        if after is not None:
            lo = max(lo, bisect.bisect_right(names, after, lo, hi))
        chosen = names[lo:min(hi, lo + limit)]
        more = lo + limit < hi
    return chosen, (chosen[-1] if more and chosen else None)


def _describe_stream(g: LogGroup, s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"logStreamName": s.name, "creationTime": s.created,
                           "arn": f"{g.arn}:log-stream:{s.name}", "storedBytes": 0}
    if s.first_ts is not None:
        out.update(firstEventTimestamp=s.first_ts, lastEventTimestamp=s.last_ts, lastIngestionTime=s.last_ingest,
                   uploadSequenceToken=f"{s.last_ingest:056d}")
    return out


def _page(items: list[dict[str, Any]], key: str, p: dict[str, Any], name: Any) -> dict[str, Any]:
    after = _token_name(p.get("nextToken"))
    if after:
        items = [b for b in items if name(b) > after]
    limit = p.get("limit", 50)
    out: dict[str, Any] = {key: items[:limit]}
    if len(items) > limit:
        out["nextToken"] = _name_token(name(items[limit - 1]))
    return out


__all__ = ["build", "render_error"]
