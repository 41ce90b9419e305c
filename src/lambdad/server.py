"""The server's composition root: builds every component, owns background tasks and the lifecycle."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from lambdad.api import lambda_api, logs_api
from lambdad.api.app import App
from lambdad.api.base import ApiRequest, ApiResponse
from lambdad.auth.credentials import CredentialStore
from lambdad.config import Config
from lambdad.control.functions import LATEST, FunctionRegistry, FunctionVersion
from lambdad.errors import InvalidParameterValueException, ResourceNotFoundException
from lambdad.invoke.concurrency import MIN_UNRESERVED, ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.runtime import sandbox_host
from lambdad.runtime.interpreters import Interpreters
from lambdad.runtime.launcher import Launcher
from lambdad.runtime.pool import PoolManager
from lambdad.services.logs import LogStore
from lambdad.store import BlobStore, Store

log = logging.getLogger("lambdad")


class Lambdad:
    def __init__(self, config: Config) -> None:
        self.config = config
        data = config.data_path
        data.mkdir(parents=True, exist_ok=True)
        self.public_url = f"http://{config.public_host}:{config.port}"
        self.url_secret = secrets.token_bytes(32)
        self.store = Store(data / "lambdad.db")
        self.blobs = BlobStore(data / "code", config.max_unzipped_bytes)
        self.credentials = CredentialStore(config)
        self.registry = FunctionRegistry(self.store, self.blobs, config)
        self.logs = LogStore(self.store)
        self.limiter = ConcurrencyLimiter(config.account_concurrency)
        for rec in self.registry.all_records():
            if rec.meta.get("reserved_concurrency") is not None:
                self.limiter.set_reserved((rec.account, rec.name), rec.meta["reserved_concurrency"])
        self.protections = sandbox_host.probe(config)
        interpreters = Interpreters(config.python_interpreters, config.node_binary)
        self.launcher = Launcher(config, interpreters, self._credentials_for, self.protections.zygote_config(data))
        self.pools = PoolManager(config.idle_timeout)
        self.invoker = Invoker(config, self.registry, self.blobs, self.launcher, self.pools, self.limiter,
                               self.logs)
        self.app = App(self)
        self.app.add_service("lambda", lambda_api.build(self).dispatch)
        self.app.add_service("logs", logs_api.build(self), logs_api.render_error)
        self._tasks: list[asyncio.Task[Any]] = []

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        for line in self.protections.report_lines():
            log.info("sandbox: %s", line)
        self._tasks.append(asyncio.create_task(self.pools.run_reaper(), name="reaper"))
        self._tasks.append(asyncio.create_task(self.logs.run_flusher(), name="log-flusher"))
        if self.config.demo:
            from lambdad.demo import ensure_demo_function

            ensure_demo_function(self)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.pools.aclose()
        await self.launcher.aclose()
        self.logs.flush()
        self.store.close()

    # -- helpers for the API modules --------------------------------------------------------
    def resolve(self, account: str, name: str, qualifier: str | None) -> FunctionVersion:
        return self.registry.get_version(account, name, qualifier)

    def resolve_for_invoke(self, account: str, name: str, qualifier: str | None) -> tuple[FunctionVersion, str]:
        """The version to run and the ARN the function sees as invoked_function_arn."""
        fv = self.registry.get_version(account, name, qualifier or LATEST)
        arn = fv.function.latest.arn
        return fv, f"{arn}:{qualifier}" if qualifier else arn

    def publish(self, fv: FunctionVersion) -> FunctionVersion:
        raise InvalidParameterValueException("Publishing versions is not available on this lambdad server yet.")

    def delete_function(self, account: str, name: str, qualifier: str | None) -> None:
        self.registry.delete(account, name, qualifier)
        if qualifier is None:
            self.limiter.set_reserved((account, name), None)

    def set_reserved_concurrency(self, account: str, name: str, value: int | None) -> None:
        rec = self.registry.get_record(account, name)
        if value is not None:
            if value < 0:
                raise InvalidParameterValueException(
                    f"1 validation error detected: Value '{value}' at 'reservedConcurrentExecutions' failed to "
                    "satisfy constraint: Member must have value greater than or equal to 0")
            others = self.limiter.reserved_total - self.limiter.reserved.get((account, name), 0)
            if self.limiter.account_limit - others - value < MIN_UNRESERVED:
                raise InvalidParameterValueException(
                    f"Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].")
        rec.meta["reserved_concurrency"] = value
        if value is None:
            rec.meta.pop("reserved_concurrency")
        self.registry.save_meta(rec)
        self.limiter.set_reserved((account, name), value)

    async def invoke_async(self, fv: FunctionVersion, invoked_arn: str, payload: bytes,
                           request: ApiRequest) -> dict[str, Any]:
        raise InvalidParameterValueException(
            "Asynchronous invocation (InvocationType Event) is not available on this lambdad server yet.")

    def front_door_for(self, request: ApiRequest) -> Callable[[ApiRequest], Awaitable[ApiResponse]] | None:
        """A handler when the request is for a function URL or a load-balancer listener."""
        return None

    def _credentials_for(self, fv: FunctionVersion) -> dict[str, str]:
        role = fv.config.get("Role") or f"arn:aws:iam::{fv.account}:role/lambdad-default"
        cred = self.credentials.issue_role_session(role, fv.name, fv.account)
        return {"AWS_ACCESS_KEY_ID": cred.access_key_id, "AWS_SECRET_ACCESS_KEY": cred.secret_access_key,
                "AWS_SESSION_TOKEN": cred.session_token or ""}


__all__ = ["Lambdad", "ResourceNotFoundException"]
