"""Provisioned concurrency: environments initialized ahead of requests for a version or an alias.

A config (function, qualifier, requested N) is declarative: this module works out how many
provisioned environments each version's pool should hold (an alias with a weighted routing
config splits N between its two versions by weight) and reconciles the pools towards it in the
background: status IN_PROGRESS until every environment finished its init (READY), FAILED with
FUNCTION_ERROR_INIT_FAILURE when the handler's init fails. Provisioned environments start with
`AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`, are never reaped, are served before
on-demand ones (invoke/invoker.py) and so never make a request wait for a cold start; their
REPORT lines carry no Init Duration. One that dies is replaced. Configs survive restarts (the
environments are re-provisioned at start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lambdad.control.aliases import Alias, Aliases
from lambdad.control.functions import LATEST, FunctionRegistry, now_timestamp
from lambdad.control.names import function_arn, validation_error
from lambdad.control.versions import is_version
from lambdad.errors import (
    InvalidParameterValueException,
    LambdaError,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdad.invoke.concurrency import MIN_UNRESERVED, ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.runtime.environment import InitFailed
from lambdad.runtime.launcher import LaunchError
from lambdad.runtime.pool import FunctionPool
from lambdad.services.logs.function_logs import LogStore
from lambdad.store import Store
from lambdad.store.migrations import add_region_to_key
from lambdad.supervisor import TaskSet

log = logging.getLogger("lambdad.provisioned")

SCHEMA = """
CREATE TABLE IF NOT EXISTS provisioned_concurrency (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    function TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    requested INTEGER NOT NULL,
    last_modified TEXT NOT NULL,
    PRIMARY KEY (account, region, function, qualifier)
);
"""

#: Environments initialized at once while provisioning (each is a fork plus a handler import).
PARALLEL_INITS = 8

Key = tuple[str, str, str, str]  # (account, region, function, qualifier or version)


@dataclass(slots=True, eq=False)
class ProvisionedConfig:
    account: str
    region: str
    function: str
    qualifier: str
    requested: int
    last_modified: str
    status: str = "IN_PROGRESS"
    reason: str | None = None
    #: version -> environments this config wants in that version's pool
    targets: dict[str, int] = field(default_factory=dict)


def not_found() -> LambdaError:
    return LambdaError("No Provisioned Concurrency Config found for this function",
                       code="ProvisionedConcurrencyConfigNotFoundException", status=404)


class ProvisionedConcurrency:
    def __init__(self, store: Store, registry: FunctionRegistry, aliases: Aliases, invoker: Invoker,
                 limiter: ConcurrencyLimiter, logs: LogStore) -> None:
        self.store = store
        self.registry = registry
        self.aliases = aliases
        self.invoker = invoker
        self.limiter = limiter
        self.logs = logs
        self._configs: dict[Key, ProvisionedConfig] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._tasks = TaskSet("provisioned concurrency")
        self._inits = asyncio.Semaphore(PARALLEL_INITS)
        self._started = False
        add_region_to_key(store, "provisioned_concurrency", SCHEMA,
                          ("account", "function", "qualifier", "requested", "last_modified"), registry.default_region)
        for row in store.all("SELECT account, region, function, qualifier, requested, last_modified "
                             "FROM provisioned_concurrency"):
            cfg = ProvisionedConfig(row["account"], row["region"], row["function"], row["qualifier"],
                                    row["requested"], row["last_modified"])
            self._configs[(cfg.account, cfg.region, cfg.function, cfg.qualifier)] = cfg
        for account, region, function in {(c.account, c.region, c.function) for c in self._configs.values()}:
            self._update_limiter(account, region, function)
        registry.add_listener(self._on_function_change)
        aliases.add_listener(self._on_alias_change)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Provision the environments of every stored config."""
        self._started = True
        for cfg in list(self._configs.values()):
            self._retarget(cfg)

    async def aclose(self) -> None:
        self._started = False
        await self._tasks.aclose()

    # -- API --------------------------------------------------------------------------------
    def put(self, account: str, region: str, function: str, qualifier: str, requested: Any) -> ProvisionedConfig:
        if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
            raise validation_error([f"Value '{requested}' at 'provisionedConcurrentExecutions' failed to satisfy "
                                    "constraint: Member must have value greater than or equal to 1"])
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        alias = self._check_target(account, region, function, qualifier)
        if alias is not None:
            if alias.function_version == LATEST:
                raise InvalidParameterValueException(
                    "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
            if any((account, region, function, v) in self._configs for v in alias.versions()):
                raise ResourceConflictException(
                    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
        elif any(a.name != qualifier and (account, region, function, a.name) in self._configs
                 for a in self.aliases.list(account, region, function, qualifier)):
            raise ResourceConflictException("Version is pointed by a Provisioned Concurrency alias")
        self._check_limits(account, region, function, qualifier, requested)
        rec = self.registry.get_record(account, region, function)
        # AWS moves the version's RevisionId here; its environments (env_revision) stay.
        self.registry.touch_revision(rec.versions[alias.function_version if alias else qualifier])
        key = (account, region, function, qualifier)
        cfg = self._configs.get(key)
        if cfg is None:
            cfg = self._configs[key] = ProvisionedConfig(account, region, function, qualifier, requested,
                                                         now_timestamp())
        cfg.requested, cfg.last_modified = requested, now_timestamp()
        self.store.execute(
            "INSERT INTO provisioned_concurrency (account, region, function, qualifier, requested, last_modified) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, function, qualifier) DO UPDATE SET "
            "requested=excluded.requested, last_modified=excluded.last_modified",
            (account, region, function, qualifier, requested, cfg.last_modified))
        self._update_limiter(account, region, function)
        self._retarget(cfg)
        return cfg

    def get(self, account: str, region: str, function: str, qualifier: str) -> ProvisionedConfig:
        self._check_readable(account, region, function, qualifier)
        cfg = self._configs.get((account, region, function, qualifier))
        if cfg is None:
            raise not_found()
        return cfg

    def delete(self, account: str, region: str, function: str, qualifier: str) -> None:
        self._check_readable(account, region, function, qualifier)
        self._drop((account, region, function, qualifier))

    def list(self, account: str, region: str, function: str) -> list[ProvisionedConfig]:
        self.registry.get_record(account, region, function)
        return [cfg for key, cfg in sorted(self._configs.items()) if key[:3] == (account, region, function)]

    def total(self, account: str, region: str, function: str) -> int:
        return sum(cfg.requested for key, cfg in self._configs.items() if key[:3] == (account, region, function))

    def check_reserved(self, account: str, region: str, function: str, reserved: int) -> None:
        """PutFunctionConcurrency may not go below the function's provisioned concurrency."""
        total = self.total(account, region, function)
        if reserved < total:
            raise InvalidParameterValueException(
                f" ReservedConcurrentExecutions  {reserved} should not be lower than function's total provisioned "
                f"concurrency [{total}].")

    def describe(self, cfg: ProvisionedConfig, *, with_arn: bool = False) -> dict[str, Any]:
        available = min(cfg.requested, sum(min(n, self._live(cfg.account, cfg.region, cfg.function, version))
                                           for version, n in cfg.targets.items()))
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": cfg.requested,
            "AvailableProvisionedConcurrentExecutions": available,
            "AllocatedProvisionedConcurrentExecutions": available,
            "Status": cfg.status,
            "LastModified": cfg.last_modified,
        }
        if cfg.reason:
            out["StatusReason"] = cfg.reason
        if with_arn:
            out["FunctionArn"] = function_arn(cfg.region, cfg.account, cfg.function, cfg.qualifier)
        return out

    # -- validation -------------------------------------------------------------------------
    def _check_target(self, account: str, region: str, function: str, qualifier: str) -> Alias | None:
        """The alias the qualifier names (None for a version); AWS's not-found wording for each."""
        if is_version(qualifier):
            rec = self.registry.find(account, region, function)
            if rec is None or qualifier not in rec.versions:
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(region, account, function, qualifier)}")
            return None
        return self.aliases.require(account, region, function, qualifier)

    def _check_readable(self, account: str, region: str, function: str, qualifier: str) -> None:
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "The function resource provided must be an alias or a published version.")
        self._check_target(account, region, function, qualifier)

    def _check_limits(self, account: str, region: str, function: str, qualifier: str, requested: int) -> None:
        current = self._configs.get((account, region, function, qualifier))
        others = self.total(account, region, function) - (current.requested if current else 0)
        reserved = self.limiter.reserved.get((account, region, function))
        if reserved is not None:
            if others + requested > reserved:
                raise InvalidParameterValueException(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                    "for function")
            return
        unreserved = self.limiter.unreserved_limit((account, region)) + (current.requested if current else 0)
        if requested > unreserved:
            raise InvalidParameterValueException(
                f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency "
                f"[{unreserved}].")
        if unreserved - requested < MIN_UNRESERVED:
            raise InvalidParameterValueException(
                "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                f"below its minimum value of [{MIN_UNRESERVED}].")

    # -- reconciliation ---------------------------------------------------------------------
    def _targets(self, cfg: ProvisionedConfig) -> dict[str, int]:
        if is_version(cfg.qualifier):
            return {cfg.qualifier: cfg.requested}
        alias = self.aliases.get(cfg.account, cfg.region, cfg.function, cfg.qualifier)
        if alias is None:
            return {}
        extra = round(cfg.requested * alias.extra_weight) if alias.extra_version else 0
        targets = {alias.function_version: cfg.requested - extra}
        if extra:
            targets[alias.extra_version] = extra  # type: ignore[index]
        return {v: n for v, n in targets.items() if n}

    def _retarget(self, cfg: ProvisionedConfig) -> None:
        """Recompute where the config's environments go and start moving the pools there."""
        before = set(cfg.targets)
        cfg.targets = self._targets(cfg)
        cfg.status, cfg.reason = "IN_PROGRESS", None
        self._schedule(cfg.account, cfg.region, cfg.function, before | set(cfg.targets))

    def _drop(self, key: Key) -> None:
        cfg = self._configs.pop(key, None)
        if cfg is None:
            return
        self.store.execute("DELETE FROM provisioned_concurrency WHERE account=? AND region=? AND function=? "
                           "AND qualifier=?", key)
        self._update_limiter(cfg.account, cfg.region, cfg.function)
        self._schedule(cfg.account, cfg.region, cfg.function, cfg.targets)

    def _desired(self, account: str, region: str, function: str, version: str) -> int:
        return sum(cfg.targets.get(version, 0) for key, cfg in self._configs.items()
                   if key[:3] == (account, region, function))

    def _live(self, account: str, region: str, function: str, version: str) -> int:
        pool = self.invoker.pools.pools.get((account, region, function, version))
        return pool.live_provisioned() if pool is not None else 0

    def _schedule(self, account: str, region: str, function: str, versions: Iterable[str]) -> None:
        if not self._started:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a change made off the event loop: start() reconciles after a restart
            log.warning("provisioned concurrency of %s not reconciled: no event loop", function)
            return
        for version in versions:
            self._tasks.spawn(self._reconcile(account, region, function, version),
                              name=f"provision {function}:{version}")

    def _on_lost(self, pool: FunctionPool) -> None:
        account, region, function, version = pool.key
        self._schedule(account, region, function, [version])

    async def _reconcile(self, account: str, region: str, function: str, version: str) -> None:
        key = (account, region, function, version)
        lock = self._locks.setdefault(key, asyncio.Lock())
        failure: BaseException | None = None
        async with lock:
            rec = self.registry.find(account, region, function)
            fv = rec.versions.get(version) if rec is not None else None
            if fv is None:
                return
            pool = self.invoker.pool_for(fv)
            pool.provisioned_target = self._desired(account, region, function, version)
            pool.on_provisioned_lost = self._on_lost
            pool.trim_provisioned()
            missing = pool.provisioned_target - len(pool.provisioned)
            if missing > 0:
                results = await asyncio.gather(*(self._provision_one(pool) for _ in range(missing)),
                                               return_exceptions=True)
                failure = next((r for r in results if isinstance(r, BaseException)), None)
                if isinstance(failure, asyncio.CancelledError):
                    raise failure
        self._settle(account, region, function, version, failure)

    async def _provision_one(self, pool: FunctionPool) -> None:
        async with self._inits:
            env = await pool.factory("provisioned-concurrency")
        lines = env.take_logs().decode("utf-8", "replace").rstrip("\n")
        if lines:  # the init's output goes to the environment's log stream, as on Lambda
            self.logs.append(pool.key[0], pool.key[1], env.spec["log_group"], env.spec["log_stream"],
                             lines.split("\n"))
        if pool.retired or len(pool.provisioned) >= pool.provisioned_target:
            env.kill()
        else:
            pool.add_provisioned(env)

    def _settle(self, account: str, region: str, function: str, version: str, failure: BaseException | None) -> None:
        """Update the status of every config with environments in this version."""
        for cfg in list(self._configs.values()):
            if (cfg.account, cfg.region, cfg.function) != (account, region, function) or version not in cfg.targets:
                continue
            if failure is not None:
                if isinstance(failure, InitFailed | LaunchError):
                    log.warning("provisioned concurrency for %s:%s failed: %s", function, cfg.qualifier, failure)
                else:
                    log.error("provisioned concurrency for %s:%s failed", function, cfg.qualifier, exc_info=failure)
                cfg.status, cfg.reason = "FAILED", "FUNCTION_ERROR_INIT_FAILURE"
                released = cfg.targets
                cfg.targets = {}
                self._schedule(account, region, function, released)  # stop the environments that did start
            elif cfg.status != "FAILED" and all(self._live(account, region, function, v)
                                                >= self._desired(account, region, function, v)
                                                for v in cfg.targets):
                cfg.status, cfg.reason = "READY", None

    def _update_limiter(self, account: str, region: str, function: str) -> None:
        self.limiter.set_provisioned((account, region, function), self.total(account, region, function))

    # -- reacting to functions and aliases --------------------------------------------------
    def _on_function_change(self, account: str, region: str, function: str, version: str | None) -> None:
        rec = self.registry.find(account, region, function)
        for key in [k for k in self._configs if k[:3] == (account, region, function)]:
            if rec is None or (is_version(key[3]) and key[3] not in rec.versions):
                self._drop(key)

    def _on_alias_change(self, alias: Alias, event: str) -> None:
        key = (alias.account, alias.region, alias.function, alias.name)
        if key not in self._configs:
            return
        if event == "deleted":
            self._drop(key)
        else:
            self._retarget(self._configs[key])
