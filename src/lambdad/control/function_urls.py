"""Function URL configurations: one per function version alias or `$LATEST`, found by URL id."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, replace
from typing import Any

from lambdad.control.functions import FunctionRecord, FunctionRegistry, now_timestamp
from lambdad.control.names import function_arn, validation_error
from lambdad.control.records import UrlConfig
from lambdad.errors import ResourceConflictException, ResourceNotFoundException

_ID_ALPHABET = string.ascii_lowercase + string.digits
AUTH_TYPES = ("NONE", "AWS_IAM")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")


@dataclass(frozen=True, slots=True)
class UrlTarget:
    account: str
    name: str
    qualifier: str | None
    config: UrlConfig
    region: str


def _key(qualifier: str | None) -> str:
    return qualifier or "$LATEST"


class FunctionUrls:
    def __init__(self, registry: FunctionRegistry, public_host: str, port: int) -> None:
        self.registry = registry
        self.public_host = public_host
        self.port = port
        #: url id -> (account, region, function, qualifier key)
        self._by_id: dict[str, tuple[str, str, str, str]] = {}
        for rec in registry.all_records():
            for key, cfg in rec.url_configs.items():
                self._by_id[cfg.url_id] = (rec.account, rec.region, rec.name, key)
        registry.add_listener(self._on_function_change)

    def _on_function_change(self, account: str, region: str, name: str, version: str | None) -> None:
        if version is None:  # the function is gone: its URLs with it
            for url_id, (acct, reg, fn, _) in list(self._by_id.items()):
                if (acct, reg, fn) == (account, region, name):
                    del self._by_id[url_id]

    def url(self, url_id: str, region: str) -> str:
        return f"http://{url_id}.lambda-url.{region}.{self.public_host}:{self.port}/"

    def _validate(self, params: dict[str, Any]) -> None:
        errors = []
        auth = params.get("AuthType")
        if auth is not None and auth not in AUTH_TYPES:
            errors.append(f"Value '{auth}' at 'authType' failed to satisfy constraint: Member must satisfy enum "
                          "value set: [AWS_IAM, NONE]")
        mode = params.get("InvokeMode")
        if mode is not None and mode not in INVOKE_MODES:
            errors.append(f"Value '{mode}' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum "
                          "value set: [RESPONSE_STREAM, BUFFERED]")
        if errors:
            raise validation_error(errors)

    def render(self, rec: FunctionRecord, qualifier: str | None, cfg: UrlConfig,
               with_modified: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"FunctionUrl": self.url(cfg.url_id, rec.region),
                               "FunctionArn": function_arn(rec.region, rec.account, rec.name, qualifier),
                               "AuthType": cfg.auth_type, "CreationTime": cfg.creation_time}
        if cfg.cors:
            out["Cors"] = cfg.cors
        if cfg.invoke_mode:
            out["InvokeMode"] = cfg.invoke_mode
        if with_modified:
            out["LastModifiedTime"] = cfg.last_modified_time
        return out

    def create(self, rec: FunctionRecord, qualifier: str | None, params: dict[str, Any]) -> dict[str, Any]:
        self._validate(params)
        if params.get("AuthType") is None:
            raise validation_error(["Value null at 'authType' failed to satisfy constraint: Member must not be null"])
        if _key(qualifier) in rec.url_configs:
            arn = function_arn(rec.region, rec.account, rec.name, qualifier)
            raise ResourceConflictException(f"Failed to create function url config for [functionArn = {arn}]. "
                                            "Error message:  FunctionUrlConfig exists for this Lambda function")
        url_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))
        stamp = now_timestamp()
        cfg = UrlConfig(url_id, params["AuthType"], stamp, stamp, time.time(),
                        cors=params.get("Cors") or None, invoke_mode=params.get("InvokeMode") or None)
        rec.url_configs[_key(qualifier)] = cfg
        self.registry.save_meta(rec)
        self._by_id[url_id] = (rec.account, rec.region, rec.name, _key(qualifier))
        return self.render(rec, qualifier, cfg, with_modified=False)

    def get_config(self, rec: FunctionRecord, qualifier: str | None) -> UrlConfig:
        cfg = rec.url_configs.get(_key(qualifier))
        if cfg is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return cfg

    def update(self, rec: FunctionRecord, qualifier: str | None, params: dict[str, Any]) -> dict[str, Any]:
        self._validate(params)
        cfg = self.get_config(rec, qualifier)
        cfg = replace(cfg, last_modified_time=now_timestamp(),
                      auth_type=cfg.auth_type if params.get("AuthType") is None else params["AuthType"],
                      cors=cfg.cors if params.get("Cors") is None else params["Cors"],
                      invoke_mode=cfg.invoke_mode if params.get("InvokeMode") is None else params["InvokeMode"])
        rec.url_configs[_key(qualifier)] = cfg
        self.registry.save_meta(rec)
        return self.render(rec, qualifier, cfg)

    def delete(self, rec: FunctionRecord, qualifier: str | None) -> None:
        cfg = self.get_config(rec, qualifier)
        del rec.url_configs[_key(qualifier)]
        self._by_id.pop(cfg.url_id, None)
        self.registry.save_meta(rec)

    def list(self, rec: FunctionRecord) -> list[dict[str, Any]]:
        out = []
        for key, cfg in sorted(rec.url_configs.items()):
            out.append(self.render(rec, None if key == "$LATEST" else key, cfg))
        return out

    def region_of(self, url_id: str) -> str | None:
        """The region of the URL with this id (ids are unique across regions), or None."""
        hit = self._by_id.get(url_id)
        return hit[1] if hit is not None else None

    def target(self, url_id: str, region: str) -> UrlTarget | None:
        """The function a URL names; a host naming another region than the function's names nothing."""
        hit = self._by_id.get(url_id)
        if hit is None or hit[1] != region:
            return None
        account, _, name, key = hit
        rec = self.registry.find(account, region, name)
        if rec is None:
            return None
        cfg = rec.url_configs.get(key)
        if cfg is None:
            return None
        return UrlTarget(account, name, None if key == "$LATEST" else key, cfg, region)
