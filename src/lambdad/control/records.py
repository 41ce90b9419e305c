"""Per-function settings kept with a function (event invoke configs, URL configs, resource policies,
the publish counter): typed records the modules that own them replace on every change.

Each record stores itself as the JSON object the `functions.meta` column has always held
(`to_stored`/`from_stored`), so a data dir written before these records existed loads unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EventInvokeConfig:
    """PutFunctionEventInvokeConfig's settings for one version or alias (None: not set, AWS defaults)."""

    last_modified: float
    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    on_success: str | None = None
    on_failure: str | None = None

    def destination(self, success: bool) -> str | None:
        return self.on_success if success else self.on_failure

    def to_api(self, function_arn: str) -> dict[str, Any]:
        out: dict[str, Any] = {"FunctionArn": function_arn, "LastModified": self.last_modified}
        if self.maximum_retry_attempts is not None:
            out["MaximumRetryAttempts"] = self.maximum_retry_attempts
        if self.maximum_event_age_s is not None:
            out["MaximumEventAgeInSeconds"] = self.maximum_event_age_s
        out["DestinationConfig"] = self._destinations()
        return out

    def _destinations(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.on_success:
            out["OnSuccess"] = {"Destination": self.on_success}
        if self.on_failure:
            out["OnFailure"] = {"Destination": self.on_failure}
        return out

    def to_stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"LastModified": self.last_modified}
        if self.maximum_retry_attempts is not None:
            out["MaximumRetryAttempts"] = self.maximum_retry_attempts
        if self.maximum_event_age_s is not None:
            out["MaximumEventAgeInSeconds"] = self.maximum_event_age_s
        if self.on_success or self.on_failure:
            out["DestinationConfig"] = self._destinations()
        return out

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> EventInvokeConfig:
        dests = raw.get("DestinationConfig") or {}
        return cls(last_modified=raw.get("LastModified", 0.0),
                   maximum_retry_attempts=raw.get("MaximumRetryAttempts"),
                   maximum_event_age_s=raw.get("MaximumEventAgeInSeconds"),
                   on_success=(dests.get("OnSuccess") or {}).get("Destination") or None,
                   on_failure=(dests.get("OnFailure") or {}).get("Destination") or None)


@dataclass(frozen=True, slots=True)
class UrlConfig:
    """A function URL of one version alias or `$LATEST`."""

    url_id: str
    auth_type: str
    creation_time: str  # AWS's timestamp text, as rendered
    last_modified_time: str
    created: float
    cors: dict[str, Any] | None = None
    invoke_mode: str | None = None

    def to_stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"UrlId": self.url_id, "AuthType": self.auth_type, "CreationTime": self.creation_time,
                               "LastModifiedTime": self.last_modified_time, "Created": self.created}
        if self.cors:
            out["Cors"] = self.cors
        if self.invoke_mode:
            out["InvokeMode"] = self.invoke_mode
        return out

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> UrlConfig:
        return cls(url_id=raw["UrlId"], auth_type=raw["AuthType"], creation_time=raw["CreationTime"],
                   last_modified_time=raw.get("LastModifiedTime", raw["CreationTime"]),
                   created=raw.get("Created", 0.0), cors=raw.get("Cors") or None,
                   invoke_mode=raw.get("InvokeMode") or None)


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """The statements of one version's or alias's resource policy, exactly as GetPolicy renders them."""

    statements: tuple[dict[str, Any], ...]
    revision: str

    def to_stored(self) -> dict[str, Any]:
        return {"statements": list(self.statements), "revision": self.revision}

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> ResourcePolicy:
        return cls(tuple(raw.get("statements") or ()), raw["revision"])


@dataclass(frozen=True, slots=True)
class Published:
    """What the last PublishVersion published: a new publish of the same code and configuration
    returns that version instead of making another."""

    fingerprint: str
    version: str

    def to_stored(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "version": self.version}

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> Published:
        return cls(raw["fingerprint"], raw["version"])
