"""EventBridge's wire: botocore's `events` model on the JSON protocol (`AWSEvents.<Operation>`)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from lambdad import botocore_models
from lambdad.api.base import ApiRequest, Authorize, signer
from lambdad.api.jsonproto import JsonService, render_error
from lambdad.errors import EventsError
from lambdad.services.events.buses import Bus, EventBridge, Rule


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _after(token: str | None) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise EventsError("The NextToken is invalid.", code="ValidationException") from None


def _page(items: list[Any], key: str, params: dict[str, Any], name: Any) -> tuple[list[Any], str | None]:
    """One page of `items` (sorted by `name(item)`): at most Limit (100), after NextToken."""
    after = _after(params.get("NextToken"))
    limit = int(params.get("Limit") or 100)
    rest = [item for item in items if name(item) > after] if after else items
    page = rest[:limit]
    return page, _token(name(page[-1])) if len(rest) > limit else None


def _tags(pairs: list[dict[str, str]] | None) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for pair in pairs or []}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _time(value: Any) -> Any:
    """A PutEvents entry's Time as epoch seconds (the CLI sends ISO text, the SDKs numbers)."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return value


def build(eb: EventBridge, authorize: Authorize | None) -> JsonService:
    svc = JsonService("AWSEvents", model=botocore_models.service_model("events"),
                      authorize=authorize)

    def who(request: ApiRequest) -> tuple[str, str]:
        return signer(request).account, request.region

    def bus_of(request: ApiRequest, params: dict[str, Any], key: str = "EventBusName") -> Bus:
        account, region = who(request)
        return eb.get_bus(account, region, params.get(key))

    def rule_of(request: ApiRequest, params: dict[str, Any]) -> Rule:
        return eb.get_rule(bus_of(request, params), params["Name"] if "Name" in params else params["Rule"])

    # -- buses ------------------------------------------------------------------------------------
    @svc.operation("CreateEventBus")
    async def create_event_bus(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account, region = who(request)
        bus = eb.create_bus(account, region, p["Name"], p.get("Description"), _tags(p.get("Tags")),
                            p.get("EventSourceName"))
        out: dict[str, Any] = {"EventBusArn": bus.arn}
        if bus.description:
            out["Description"] = bus.description
        return out

    @svc.operation("DescribeEventBus")
    async def describe_event_bus(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account, region = who(request)
        return eb.get_bus(account, region, p.get("Name")).describe()

    @svc.operation("UpdateEventBus")
    async def update_event_bus(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account, region = who(request)
        bus = eb.update_bus(eb.get_bus(account, region, p.get("Name")), p.get("Description"))
        out: dict[str, Any] = {"Arn": bus.arn, "Name": bus.name}
        if bus.description:
            out["Description"] = bus.description
        return out

    @svc.operation("DeleteEventBus")
    async def delete_event_bus(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account, region = who(request)
        eb.delete_bus(account, region, p["Name"])
        return {}

    @svc.operation("ListEventBuses")
    async def list_event_buses(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account, region = who(request)
        page, token = _page(eb.list_buses(account, region, p.get("NamePrefix")), "EventBuses", p, lambda b: b.name)
        out: dict[str, Any] = {"EventBuses": [b.describe() for b in page]}
        if token:
            out["NextToken"] = token
        return out

    @svc.operation("PutPermission")
    async def put_permission(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        eb.put_permission(bus_of(request, p), p)
        return {}

    @svc.operation("RemovePermission")
    async def remove_permission(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        eb.remove_permission(bus_of(request, p), p.get("StatementId"), bool(p.get("RemoveAllPermissions")))
        return {}

    # -- rules ------------------------------------------------------------------------------------
    @svc.operation("PutRule")
    async def put_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rule = eb.put_rule(bus_of(request, p), p["Name"], pattern=p.get("EventPattern"),
                           schedule=p.get("ScheduleExpression"), state=p.get("State"),
                           description=p.get("Description"), role_arn=p.get("RoleArn"), tags=_tags(p.get("Tags")))
        return {"RuleArn": rule.arn}

    @svc.operation("DescribeRule")
    async def describe_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return rule_of(request, p).describe()

    @svc.operation("EnableRule")
    async def enable_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        eb.set_state(rule_of(request, p), "ENABLED")
        return {}

    @svc.operation("DisableRule")
    async def disable_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        eb.set_state(rule_of(request, p), "DISABLED")
        return {}

    @svc.operation("DeleteRule")
    async def delete_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        eb.delete_rule(bus_of(request, p), p["Name"])
        return {}

    @svc.operation("ListRules")
    async def list_rules(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rules = eb.list_rules(bus_of(request, p), p.get("NamePrefix"))
        page, token = _page(rules, "Rules", p, lambda r: r.name)
        out: dict[str, Any] = {"Rules": [r.describe() for r in page]}
        if token:
            out["NextToken"] = token
        return out

    @svc.operation("ListRuleNamesByTarget")
    async def list_rule_names_by_target(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        names = eb.rule_names_by_target(bus_of(request, p), p["TargetArn"])
        page, token = _page(names, "RuleNames", p, lambda n: n)
        out: dict[str, Any] = {"RuleNames": page}
        if token:
            out["NextToken"] = token
        return out

    # -- targets ----------------------------------------------------------------------------------
    @svc.operation("PutTargets")
    async def put_targets(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        failed = eb.put_targets(rule_of(request, p), p["Targets"])
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    @svc.operation("RemoveTargets")
    async def remove_targets(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        failed = eb.remove_targets(rule_of(request, p), p["Ids"])
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    @svc.operation("ListTargetsByRule")
    async def list_targets_by_rule(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        rule = rule_of(request, p)
        targets = sorted(rule.targets.values(), key=lambda t: str(t["Id"]))
        page, token = _page(targets, "Targets", p, lambda t: str(t["Id"]))
        out: dict[str, Any] = {"Targets": page}
        if token:
            out["NextToken"] = token
        return out

    # -- events -----------------------------------------------------------------------------------
    @svc.operation("PutEvents")
    async def put_events(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        account, region = who(request)
        entries = [dict(entry, Time=_time(entry["Time"])) if "Time" in entry else entry for entry in p["Entries"]]
        results = eb.put_events(account, region, entries)
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    @svc.operation("TestEventPattern")
    async def test_event_pattern(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Result": eb.test_pattern(p["EventPattern"], p["Event"])}

    # -- tags -------------------------------------------------------------------------------------
    @svc.operation("TagResource")
    async def tag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        resource = eb.tagged(p["ResourceARN"])
        eb.set_tags(resource, {**resource.tags, **_tags(p["Tags"])})
        return {}

    @svc.operation("UntagResource")
    async def untag_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        resource = eb.tagged(p["ResourceARN"])
        eb.set_tags(resource, {k: v for k, v in resource.tags.items() if k not in set(p["TagKeys"])})
        return {}

    @svc.operation("ListTagsForResource")
    async def list_tags_for_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": _tag_list(eb.tagged(p["ResourceARN"]).tags)}

    return svc


__all__ = ["build", "render_error"]
