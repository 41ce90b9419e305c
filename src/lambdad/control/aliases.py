"""Aliases: stable names for a function version, optionally sending a share of traffic to one more.

An alias points at a published version (or $LATEST) and may carry
`RoutingConfig.AdditionalVersionWeights = {"N": w}`: each invocation through the alias runs
version N with probability w, else the primary version. The choice is one `random()` per invoke.
Versions stay immutable, so moving an alias never touches environments: invocations simply land
in the other version's pool from the next request on.
"""

from __future__ import annotations

import builtins
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdad.control.functions import LATEST, FunctionRecord, FunctionRegistry
from lambdad.control.names import function_arn, validation_error
from lambdad.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdad.store import Store
from lambdad.store.migrations import add_region_to_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS aliases (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    function TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (account, region, function, name)
);
"""

NAME_PATTERN = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
VERSION_PATTERN = r"(\$LATEST|[0-9]+)"
_NAME_RE = re.compile(NAME_PATTERN)
_VERSION_RE = re.compile(VERSION_PATTERN)
_WEIGHT_KEY_RE = re.compile(r"[0-9]+")
REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
                     "GetAlias API to retrieve the latest Revision Id")

#: Told about every alias change: (alias, "created" | "updated" | "deleted").
AliasListener = Callable[["Alias", str], None]


@dataclass(slots=True, eq=False)
class Alias:
    account: str
    region: str
    function: str
    name: str
    arn: str
    function_version: str
    description: str = ""
    weights: dict[str, float] = field(default_factory=dict)
    revision: str = ""
    # The routing decision, precomputed for the invoke path.
    extra_version: str | None = None
    extra_weight: float = 0.0

    def __post_init__(self) -> None:
        self.extra_version, self.extra_weight = next(iter(self.weights.items()), (None, 0.0))

    def pick(self) -> str:
        """The version one invocation runs."""
        if self.extra_version is not None and random.random() < self.extra_weight:
            return self.extra_version
        return self.function_version

    def versions(self) -> list[str]:
        return [self.function_version, *self.weights]

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"AliasArn": self.arn, "Name": self.name, "FunctionVersion": self.function_version,
                               "Description": self.description, "RevisionId": self.revision}
        if self.weights:
            out["RoutingConfig"] = {"AdditionalVersionWeights": dict(self.weights)}
        return out


def _java_map(weights: dict[str, Any]) -> str:
    """AWS quotes the offending map the way Java prints it: {2=0.5}."""
    def num(v: Any) -> str:
        return repr(float(v)) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)
    return "{" + ", ".join(f"{k}={num(v)}" for k, v in weights.items()) + "}"


def _check_fields(params: dict[str, Any], *, creating: bool) -> dict[str, float] | None:
    """Model-level validation (ValidationException); returns the weights if RoutingConfig was given."""
    errors: list[str] = []
    if creating:
        name = params.get("Name")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            errors.append(f"Value '{name}' at 'name' failed to satisfy constraint: Member must have length less "
                          "than or equal to 128")
        elif not _NAME_RE.fullmatch(name):
            errors.append(f"Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular "
                          f"expression pattern: {NAME_PATTERN}")
    version = params.get("FunctionVersion")
    if version is not None and (not isinstance(version, str) or not _VERSION_RE.fullmatch(version)):
        errors.append(f"Value '{version}' at 'functionVersion' failed to satisfy constraint: Member must satisfy "
                      f"regular expression pattern: {VERSION_PATTERN}")
    description = params.get("Description")
    if description is not None and (not isinstance(description, str) or len(description) > 256):
        errors.append("Value at 'description' failed to satisfy constraint: Member must have length less than or "
                      "equal to 256")
    routing = params.get("RoutingConfig")
    weights: dict[str, float] | None = None
    if routing is not None:
        raw = (routing or {}).get("AdditionalVersionWeights") or {}
        if not isinstance(raw, dict):
            raw = {}
        if any(not isinstance(k, str) or not _WEIGHT_KEY_RE.fullmatch(k) or len(k) > 1024 for k in raw):
            errors.append(f"Value '{_java_map(raw)}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
                          "constraint: Map keys must satisfy constraint: [Member must have length less than or "
                          "equal to 1024, Member must have length greater than or equal to 1, Member must "
                          "satisfy regular expression pattern: [0-9]+]")
        elif any(not isinstance(v, int | float) or isinstance(v, bool) or not 0.0 <= v <= 1.0
                 for v in raw.values()):
            errors.append(f"Value '{_java_map(raw)}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
                          "constraint: Map value must satisfy constraint: [Member must have value less than or "
                          "equal to 1.0, Member must have value greater than or equal to 0.0, Member must not "
                          "be null]")
        weights = {k: float(v) for k, v in raw.items()}
    if errors:
        raise validation_error(errors)
    if weights is not None and len(weights) > 1:
        raise InvalidParameterValueException("Number of items in AdditionalVersionWeights cannot be greater than 1")
    return weights


class Aliases:
    def __init__(self, store: Store, registry: FunctionRegistry) -> None:
        self.store = store
        self.registry = registry
        self._by_function: dict[tuple[str, str, str], dict[str, Alias]] = {}
        self._listeners: list[AliasListener] = []
        add_region_to_key(store, "aliases", SCHEMA, ("account", "function", "name", "body"), registry.default_region)
        for row in store.all("SELECT account, region, function, name, body FROM aliases"):
            body = json.loads(row["body"])
            alias = self._make(row["account"], row["region"], row["function"], row["name"], body["FunctionVersion"],
                               body.get("Description", ""), body.get("Weights") or {}, body["RevisionId"])
            self._by_function.setdefault((alias.account, alias.region, alias.function), {})[alias.name] = alias
        registry.add_listener(self._on_function_change)

    def add_listener(self, listener: AliasListener) -> None:
        self._listeners.append(listener)

    # -- reads ------------------------------------------------------------------------------
    def arn(self, account: str, region: str, function: str, name: str) -> str:
        return function_arn(region, account, function, name)

    def get(self, account: str, region: str, function: str, name: str) -> Alias | None:
        aliases = self._by_function.get((account, region, function))
        return aliases.get(name) if aliases else None

    def require(self, account: str, region: str, function: str, name: str) -> Alias:
        alias = self.get(account, region, function, name)
        if alias is None:
            raise ResourceNotFoundException(f"Cannot find alias arn: {self.arn(account, region, function, name)}")
        return alias

    def list(self, account: str, region: str, function: str, version: str | None = None) -> list[Alias]:
        self.registry.get_record(account, region, function)
        aliases = sorted((self._by_function.get((account, region, function)) or {}).values(), key=lambda a: a.name)
        if version is not None:
            aliases = [a for a in aliases if version in a.versions()]
        return aliases

    def referencing(self, account: str, region: str, function: str,
                    version: str) -> builtins.list[str]:  # `list` is a method here
        return [a.name for a in self.list(account, region, function) if version in a.versions()]

    # -- writes -----------------------------------------------------------------------------
    def create(self, account: str, region: str, function: str, params: dict[str, Any]) -> Alias:
        weights = _check_fields(params, creating=True) or {}
        version = params["FunctionVersion"]
        rec = self._record(account, region, function, version)
        self._check_targets(rec, version, weights)
        name = params["Name"]
        if self.get(account, region, function, name) is not None:
            raise ResourceConflictException(f"Alias already exists: {self.arn(account, region, function, name)}")
        alias = self._make(account, region, function, name, version, params.get("Description") or "", weights,
                           str(uuid.uuid4()))
        self._save(alias)
        self._by_function.setdefault((account, region, function), {})[name] = alias
        self._notify(alias, "created")
        return alias

    def update(self, account: str, region: str, function: str, name: str, params: dict[str, Any]) -> Alias:
        weights = _check_fields(params, creating=False)
        current = self.get(account, region, function, name)
        if current is None:
            raise ResourceNotFoundException(f"Alias not found: {self.arn(account, region, function, name)}")
        revision = params.get("RevisionId")
        if revision is not None and revision != current.revision:
            raise PreconditionFailedException(REVISION_MISMATCH)
        version = params.get("FunctionVersion") or current.function_version
        if weights is None:
            weights = current.weights
        rec = self._record(account, region, function, version)
        self._check_targets(rec, version, weights)
        description = params["Description"] if params.get("Description") is not None else current.description
        alias = self._make(account, region, function, name, version, description, weights, str(uuid.uuid4()))
        self._save(alias)
        self._by_function[(account, region, function)][name] = alias
        self._notify(alias, "updated")
        return alias

    def delete(self, account: str, region: str, function: str, name: str) -> None:
        self.registry.get_record(account, region, function)
        alias = self.get(account, region, function, name)
        if alias is None:
            return  # idempotent, as on AWS
        self.store.execute("DELETE FROM aliases WHERE account=? AND region=? AND function=? AND name=?",
                           (account, region, function, name))
        del self._by_function[(account, region, function)][name]
        self._notify(alias, "deleted")

    # -- helpers ----------------------------------------------------------------------------
    def _make(self, account: str, region: str, function: str, name: str, version: str, description: str,
              weights: dict[str, float], revision: str) -> Alias:
        return Alias(account, region, function, name, self.arn(account, region, function, name), version, description,
                     dict(weights), revision)

    def _record(self, account: str, region: str, function: str, version: str) -> FunctionRecord:
        rec = self.registry.find(account, region, function)
        if rec is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(region, account, function, version)}")
        return rec

    def _check_targets(self, rec: FunctionRecord, version: str, weights: dict[str, float]) -> None:
        if version not in rec.versions:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(rec.region, rec.account, rec.name, version)}")
        if not weights:
            return
        if version == LATEST:
            raise InvalidParameterValueException("$LATEST is not supported for an alias pointing to more than 1 "
                                                 "version")
        for extra in weights:
            if extra == version:
                raise InvalidParameterValueException(
                    f"Invalid function version {extra}. Function version {extra} is already included in routing "
                    "configuration.")
            if extra not in rec.versions:
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(rec.region, rec.account, rec.name, extra)}")

    def _save(self, alias: Alias) -> None:
        body = {"FunctionVersion": alias.function_version, "Description": alias.description,
                "Weights": alias.weights, "RevisionId": alias.revision}
        self.store.execute("INSERT INTO aliases (account, region, function, name, body) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT (account, region, function, name) DO UPDATE SET body=excluded.body",
                           (alias.account, alias.region, alias.function, alias.name, json.dumps(body)))

    def _notify(self, alias: Alias, event: str) -> None:
        for listener in self._listeners:
            listener(alias, event)

    def _on_function_change(self, account: str, region: str, name: str, version: str | None) -> None:
        if version is None and self.registry.find(account, region, name) is None:
            gone = self._by_function.pop((account, region, name), {})
            if gone:
                self.store.execute("DELETE FROM aliases WHERE account=? AND region=? AND function=?",
                                   (account, region, name))
            for alias in gone.values():
                self._notify(alias, "deleted")
