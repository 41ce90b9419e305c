"""CloudWatch Logs reads (JSON protocol) over function logs: what `aws logs` and `lambdad logs` use."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import botocore.session

from lambdad.api.base import ApiRequest, Authorize
from lambdad.api.jsonproto import JsonService, render_error
from lambdad.errors import ApiError

if TYPE_CHECKING:
    from lambdad.services.logs.function_logs import LogStore


def _token(last_id: int) -> str:
    return base64.b64encode(f"id:{last_id}".encode()).decode()


def _after(token: str | None) -> int:
    if not token:
        return 0
    if token[:2] in ("f/", "b/"):
        token = token[2:]
    try:
        # Event ids are "<row>.<line>"; a token resumes after a whole row.
        after = int(base64.b64decode(token).decode().split(":", 1)[1].split(".", 1)[0])
    except (ValueError, IndexError) as exc:
        raise ApiError("The specified nextToken is invalid.", code="InvalidParameterException") from exc
    if not 0 <= after < 2**63:  # a forged token past SQLite's integers was an OverflowError 500
        raise ApiError("The specified nextToken is invalid.", code="InvalidParameterException")
    return after


def build(logs: LogStore, region: str, authorize: Authorize | None) -> JsonService:
    svc = JsonService("Logs_20140328", model=botocore.session.get_session().get_service_model("logs"),
                      validation_code="InvalidParameterException", authorize=authorize)

    def account(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    @svc.operation("DescribeLogGroups")
    async def describe_log_groups(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        groups = logs.groups(account(request), p.get("logGroupNamePrefix", ""))
        return {"logGroups": [{"logGroupName": g, "arn": f"arn:aws:logs:{region}:"
                               f"{account(request)}:log-group:{g}:*"} for g in groups]}

    @svc.operation("DescribeLogStreams")
    async def describe_log_streams(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"logStreams": logs.streams(account(request), p.get("logGroupName", ""))}

    @svc.operation("FilterLogEvents")
    async def filter_log_events(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        limit = int(p.get("limit", 10000))
        events = logs.filter_events(account(request), p.get("logGroupName", ""),
                                    streams=p.get("logStreamNames"), start_time=p.get("startTime"),
                                    end_time=p.get("endTime"), after_id=_after(p.get("nextToken")),
                                    pattern=p.get("filterPattern"), limit=limit)
        out: dict[str, Any] = {"events": events, "searchedLogStreams": []}
        if len(events) == limit:
            out["nextToken"] = _token(int(events[-1]["eventId"].split(".", 1)[0]))
        return out

    @svc.operation("GetLogEvents")
    async def get_log_events(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        after = _after(p.get("nextToken"))
        events = logs.filter_events(account(request), p.get("logGroupName", ""),
                                    streams=[p.get("logStreamName", "")], after_id=after,
                                    limit=int(p.get("limit", 10000)))
        last = int(events[-1]["eventId"].split(".", 1)[0]) if events else after
        return {"events": [{k: e[k] for k in ("timestamp", "message", "ingestionTime")} for e in events],
                "nextForwardToken": "f/" + _token(last), "nextBackwardToken": "b/" + _token(after)}

    return svc


__all__ = ["build", "render_error"]
