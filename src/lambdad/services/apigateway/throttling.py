"""Stage throttling: a token bucket per route (HTTP APIs) or method (REST APIs), as API Gateway
applies `ThrottlingRateLimit`/`ThrottlingBurstLimit` (HTTP APIs' DefaultRouteSettings and
RouteSettings) and `throttling/rateLimit`/`burstLimit` (REST APIs' methodSettings). A request over the
limit is answered 429 without reaching the function. Unset limits are not enforced (AWS's account-level
10,000 requests/s is not modelled); a limit of 0 refuses everything, as on AWS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_BUCKETS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Throttles:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], _Bucket] = {}

    def allow(self, key: tuple[str, ...], rate: float, burst: int, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(float(burst), now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False


def http_route_limits(stage: dict[str, Any], route_key: str) -> tuple[float, int] | None:
    """(rate, burst) for a route of an HTTP API stage, or None when neither is set."""
    settings = {**(stage.get("DefaultRouteSettings") or {}), **((stage.get("RouteSettings") or {}).get(route_key)
                                                               or {})}
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    if rate is None and burst is None:
        return None
    return float(rate if rate is not None else 10000.0), int(burst if burst is not None else 5000)


def rest_method_limits(stage: dict[str, Any], resource_path: str, method: str) -> tuple[float, int] | None:
    settings = stage.get("methodSettings") or {}
    found = settings.get(f"{resource_path.lstrip('/')}/{method}") or settings.get("*/*")
    if not found:
        return None
    rate, burst = found.get("throttlingRateLimit"), found.get("throttlingBurstLimit")
    if rate is None and burst is None:
        return None
    return float(rate if rate is not None else 10000.0), int(burst if burst is not None else 5000)
