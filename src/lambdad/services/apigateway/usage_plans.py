"""REST APIs' API keys and usage plans, as far as they gate requests.

A method with `apiKeyRequired` admits a request whose `x-api-key` header is an enabled key of the
API's account that a usage plan associates with the API's stage (403 Forbidden otherwise); the plan's
throttle (a token bucket per key and plan) and quota (requests per DAY/WEEK/MONTH period, counted in
memory, so a restart starts the period's count afresh) answer 429. Keys and plans are stored per
account and region.
"""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdad.services.apigateway.errors import BadRequestException, ConflictException, NotFoundException
from lambdad.services.apigateway.http_apis import new_id
from lambdad.services.apigateway.throttling import Throttles
from lambdad.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS apigw_keys (
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, item_id)
);
"""

_KEY_CHARS = string.ascii_letters + string.digits
_PERIODS = {"DAY": 86400, "WEEK": 7 * 86400, "MONTH": 30 * 86400}


@dataclass(slots=True)
class Gate:
    """What a request with an API key is let through as (or why not)."""

    key: dict[str, Any] | None
    status: int = 200
    message: str = ""


class UsagePlans:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.keys: dict[str, tuple[str, str, dict[str, Any]]] = {}   # id -> (account, region, key)
        self.plans: dict[str, tuple[str, str, dict[str, Any]]] = {}  # id -> (account, region, plan + "_keys")
        self._by_value: dict[str, str] = {}
        self._throttles = Throttles()
        self._quota: dict[tuple[str, str, int], int] = {}
        store.ensure_schema(SCHEMA)
        for row in store.all("SELECT kind, item_id, account, region, data FROM apigw_keys"):
            getattr(self, row["kind"])[row["item_id"]] = (row["account"], row["region"], json.loads(row["data"]))
        self._by_value = {k[2]["value"]: kid for kid, k in self.keys.items()}

    def _save(self, kind: str, item_id: str, account: str, region: str, data: dict[str, Any]) -> None:
        getattr(self, kind)[item_id] = (account, region, data)
        self.store.execute("INSERT INTO apigw_keys (kind, item_id, account, region, data) VALUES (?,?,?,?,?) "
                           "ON CONFLICT (kind, item_id) DO UPDATE SET data=excluded.data",
                           (kind, item_id, account, region, json.dumps(data)))

    def _forget(self, kind: str, item_id: str) -> None:
        getattr(self, kind).pop(item_id, None)
        self.store.execute("DELETE FROM apigw_keys WHERE kind=? AND item_id=?", (kind, item_id))

    # -- API keys ---------------------------------------------------------------------------
    def create_key(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        value = str(params.get("value") or "".join(random.choices(_KEY_CHARS, k=40)))
        if len(value) < 20:
            raise BadRequestException("API Key value should be at least 20 characters")
        if value in self._by_value:
            raise ConflictException("API Key already exists")
        now = int(self.clock())
        key: dict[str, Any] = {"id": new_id(10), "value": value, "name": params.get("name") or "", "enabled":
               bool(params.get("enabled", False)), "createdDate": now, "lastUpdatedDate": now, "stageKeys": [],
               "tags": params.get("tags") or {}}
        for field in ("description", "customerId"):
            if params.get(field):
                key[field] = params[field]
        self._save("keys", str(key["id"]), account, region, key)
        self._by_value[value] = str(key["id"])
        return key

    def key(self, account: str, region: str, key_id: str) -> dict[str, Any]:
        found = self.keys.get(key_id)
        if found is None or found[:2] != (account, region):
            raise NotFoundException("Invalid API Key identifier specified")
        return found[2]

    def key_list(self, account: str, region: str) -> list[dict[str, Any]]:
        return [k for a, r, k in self.keys.values() if (a, r) == (account, region)]

    def update_key(self, account: str, region: str, key_id: str, patch: list[dict[str, Any]]) -> dict[str, Any]:
        key = self.key(account, region, key_id)
        for op in patch:
            path, value = op.get("path"), op.get("value")
            if path == "/enabled":
                key["enabled"] = str(value).lower() == "true"
            elif path in ("/name", "/description", "/customerId"):
                key[str(path)[1:]] = value
            else:
                raise BadRequestException(f"Invalid patch path {path}")
        key["lastUpdatedDate"] = int(self.clock())
        self._save("keys", key_id, account, region, key)
        return key

    def delete_key(self, account: str, region: str, key_id: str) -> None:
        key = self.key(account, region, key_id)
        self._by_value.pop(key["value"], None)
        self._forget("keys", key_id)
        for plan_id, (a, r, plan) in list(self.plans.items()):
            if key_id in plan.get("_keys", []):
                plan["_keys"].remove(key_id)
                self._save("plans", plan_id, a, r, plan)

    # -- usage plans ------------------------------------------------------------------------
    def create_plan(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        quota = params.get("quota")
        if quota and quota.get("period") not in _PERIODS:
            raise BadRequestException("Invalid quota period: must be one of DAY, WEEK, MONTH")
        plan: dict[str, Any] = {"id": new_id(6), "name": params["name"], "apiStages": params.get("apiStages") or [],
                "tags": params.get("tags") or {}, "_keys": []}
        for field in ("description", "throttle", "quota"):
            if params.get(field):
                plan[field] = params[field]
        self._save("plans", plan["id"], account, region, plan)
        return plan

    def plan(self, account: str, region: str, plan_id: str) -> dict[str, Any]:
        found = self.plans.get(plan_id)
        if found is None or found[:2] != (account, region):
            raise NotFoundException("Invalid Usage Plan ID specified")
        return found[2]

    def plan_list(self, account: str, region: str) -> list[dict[str, Any]]:
        return [p for a, r, p in self.plans.values() if (a, r) == (account, region)]

    def delete_plan(self, account: str, region: str, plan_id: str) -> None:
        self.plan(account, region, plan_id)
        self._forget("plans", plan_id)

    def add_plan_key(self, account: str, region: str, plan_id: str, key_id: str, key_type: str) -> dict[str, Any]:
        plan = self.plan(account, region, plan_id)
        if key_type != "API_KEY":
            raise BadRequestException("Invalid key type: must be API_KEY")
        key = self.key(account, region, key_id)
        if key_id in plan["_keys"]:
            raise ConflictException("Usage Plan Key already exists")
        plan["_keys"].append(key_id)
        self._save("plans", plan_id, account, region, plan)
        return {"id": key_id, "type": "API_KEY", "value": key["value"], "name": key["name"]}

    def plan_keys(self, account: str, region: str, plan_id: str) -> list[dict[str, Any]]:
        plan = self.plan(account, region, plan_id)
        out = []
        for key_id in plan["_keys"]:
            key = self.keys[key_id][2]
            out.append({"id": key_id, "type": "API_KEY", "value": key["value"], "name": key["name"]})
        return out

    def remove_plan_key(self, account: str, region: str, plan_id: str, key_id: str) -> None:
        plan = self.plan(account, region, plan_id)
        if key_id not in plan["_keys"]:
            raise NotFoundException("Invalid Usage Plan Key identifier specified")
        plan["_keys"].remove(key_id)
        self._save("plans", plan_id, account, region, plan)

    # -- serving ----------------------------------------------------------------------------
    def admit(self, account: str, region: str, api_id: str, stage: str, value: str | None, now: float) -> Gate:
        key_id = self._by_value.get(value or "")
        found = self.keys.get(key_id or "")
        if found is None or found[:2] != (account, region) or not found[2].get("enabled"):
            return Gate(None, 403, "Forbidden")
        key = found[2]
        for plan_id, (a, r, plan) in self.plans.items():
            if (a, r) != (account, region) or key["id"] not in plan["_keys"]:
                continue
            if not any(s.get("apiId") == api_id and s.get("stage") == stage for s in plan["apiStages"]):
                continue
            throttle = plan.get("throttle")
            if throttle and not self._throttles.allow((plan_id, key["id"]), float(throttle.get("rateLimit", 0)),
                                                      int(throttle.get("burstLimit", 0)), now):
                return Gate(key, 429, "Too Many Requests")
            quota = plan.get("quota")
            if quota:
                period = int(now // _PERIODS[quota["period"]])
                counted = self._quota.get((plan_id, key["id"], period), 0)
                if counted >= int(quota.get("limit", 0)):
                    return Gate(key, 429, "Limit Exceeded")
                self._quota[(plan_id, key["id"], period)] = counted + 1
            return Gate(key)
        return Gate(None, 403, "Forbidden")
