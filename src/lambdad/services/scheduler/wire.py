"""EventBridge Scheduler's wire: botocore's `scheduler` model on rest-json."""

from __future__ import annotations

import base64
from typing import Any

from lambdad.api.base import ApiRequest, Authorize, signer
from lambdad.api.restjson import RestJsonService
from lambdad.errors import EventsError
from lambdad.services.scheduler.schedules import Scheduler


def _page(items: list[Any], params: dict[str, Any], key: Any) -> tuple[list[Any], str | None]:
    after = ""
    if params.get("NextToken"):
        try:
            after = base64.urlsafe_b64decode(str(params["NextToken"]).encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise EventsError("Invalid NextToken.", code="ValidationException") from None
    limit = int(params.get("MaxResults") or 100)
    rest = [item for item in items if key(item) > after] if after else items
    page = rest[:limit]
    token = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if len(rest) > limit else None
    return page, token


def build(scheduler: Scheduler, authorize: Authorize | None) -> RestJsonService:
    svc = RestJsonService("scheduler", authorize=authorize)

    def who(request: ApiRequest) -> tuple[str, str]:
        return signer(request).account, request.region

    @svc.handler("CreateScheduleGroup")
    async def create_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        tags = {t["Key"]: t["Value"] for t in p.get("Tags") or []}
        return {"ScheduleGroupArn": scheduler.create_group(*who(request), p["Name"], tags).arn}

    @svc.handler("GetScheduleGroup")
    async def get_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return scheduler.get_group(*who(request), p["Name"]).describe()

    @svc.handler("DeleteScheduleGroup")
    async def delete_group(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        scheduler.delete_group(*who(request), p["Name"])
        return {}

    @svc.handler("ListScheduleGroups")
    async def list_groups(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        page, token = _page(scheduler.list_groups(*who(request), p.get("NamePrefix")), p, lambda g: g.name)
        out: dict[str, Any] = {"ScheduleGroups": [g.describe() for g in page]}
        if token:
            out["NextToken"] = token
        return out

    @svc.handler("CreateSchedule")
    async def create_schedule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        group = scheduler.get_group(*who(request), p.get("GroupName"))
        return {"ScheduleArn": scheduler.put(group, p["Name"], p, create=True).arn}

    @svc.handler("UpdateSchedule")
    async def update_schedule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        group = scheduler.get_group(*who(request), p.get("GroupName"))
        return {"ScheduleArn": scheduler.put(group, p["Name"], p, create=False).arn}

    @svc.handler("GetSchedule")
    async def get_schedule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        group = scheduler.get_group(*who(request), p.get("GroupName"))
        return scheduler.get(group, p["Name"]).describe()

    @svc.handler("DeleteSchedule")
    async def delete_schedule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        group = scheduler.get_group(*who(request), p.get("GroupName"))
        scheduler.delete(group, p["Name"])
        return {}

    @svc.handler("ListSchedules")
    async def list_schedules(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        items = scheduler.list(*who(request), p.get("GroupName"), p.get("NamePrefix"), p.get("State"))
        page, token = _page(items, p, lambda s: f"{s.group.name}/{s.name}")
        out: dict[str, Any] = {"Schedules": [s.summary() for s in page]}
        if token:
            out["NextToken"] = token
        return out

    @svc.handler("TagResource")
    async def tag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        group = scheduler.tagged(p["ResourceArn"])
        scheduler.set_tags(group, {**group.tags, **{t["Key"]: t["Value"] for t in p["Tags"]}})
        return {}

    @svc.handler("UntagResource")
    async def untag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        group = scheduler.tagged(p["ResourceArn"])
        keys = set(p.get("TagKeys") or [])
        scheduler.set_tags(group, {k: v for k, v in group.tags.items() if k not in keys})
        return {}

    @svc.handler("ListTagsForResource")
    async def list_tags(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        tags = scheduler.tagged(p["ResourceArn"]).tags
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    return svc


__all__ = ["build"]
