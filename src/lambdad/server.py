"""The server's composition root: builds every component, owns background tasks and the lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from lambdad.api import elbv2_api, iam_api, lambda_api, logs_api, sns_api, sqs_api
from lambdad.api.app import App
from lambdad.api.base import ApiRequest, ApiResponse, Principal
from lambdad.api.http_protocol import RequestBody
from lambdad.auth import hooks, policy
from lambdad.auth.authorizer import Authorizer
from lambdad.auth.credentials import Credential, CredentialStore
from lambdad.auth.keyring import Keyring, load_master_key
from lambdad.config import Config
from lambdad.control.aliases import Aliases
from lambdad.control.code_links import CodeLinks
from lambdad.control.function_urls import FunctionUrls
from lambdad.control.functions import LATEST, FunctionRecord, FunctionRegistry, FunctionVersion
from lambdad.control.layers import Layers
from lambdad.control.names import function_arn, parse_function_ref
from lambdad.control.permissions import Permissions
from lambdad.control.tags import Tagging
from lambdad.control.versions import Versions, is_version, qualified_view
from lambdad.errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    RequestTooLargeException,
    ResourceNotFoundException,
)
from lambdad.frontdoors.alb import AlbListeners
from lambdad.frontdoors.function_url import FunctionUrlDoor, url_id_of
from lambdad.invoke.async_queue import AsyncQueue
from lambdad.invoke.concurrency import MIN_UNRESERVED, ConcurrencyLimiter
from lambdad.invoke.destinations import Destinations
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.provisioned import ProvisionedConcurrency
from lambdad.invoke.snapstart import SnapStart
from lambdad.runtime import sandbox_host
from lambdad.runtime.interpreters import Interpreters
from lambdad.runtime.launcher import Launcher
from lambdad.runtime.pool import PoolManager
from lambdad.services.audit import AuditLog
from lambdad.services.elbv2 import Elbv2
from lambdad.services.iam import Iam
from lambdad.services.logs import LogStore
from lambdad.services.sns import SnsService
from lambdad.services.sqs import SqsService
from lambdad.services.sts import Sts
from lambdad.store import BlobStore, Store
from lambdad.store.datadir import DataDir
from lambdad.workers import WorkerPool

log = logging.getLogger("lambdad")
# Threads for blocking work (zip inspection and extraction): uploads in parallel, the loop free.
WORKER_THREADS = 4


class Lambdad:
    def __init__(self, config: Config) -> None:
        self.config = config
        data = config.data_path
        # First: the lock (one server per data dir), private modes, the disk reserve (store/datadir.py).
        self.data_dir = DataDir(data, config.disk_reserve_bytes)
        self.public_url = f"http://{config.public_host}:{config.port}"
        self.store = Store(data / "lambdad.db", self.data_dir.reserve)
        self.workers = WorkerPool(WORKER_THREADS)
        self.blobs = BlobStore(data / "code", config.max_unzipped_bytes)
        self.keyring = Keyring(load_master_key(config))
        self.credentials = CredentialStore(config, self.store, self.keyring)
        self.iam = Iam(self.store, self.keyring, self.credentials, config.account_id, config.region)
        self.authorizer = Authorizer(self.iam, config.region)
        self.sts = Sts(self.iam, self.credentials, self.authorizer)
        self.audit = AuditLog(data / "audit.log") if config.audit else None
        self.registry = FunctionRegistry(self.store, self.blobs, config, keyring=self.keyring)
        self.registry.role_check = self._check_execution_role
        self.aliases = Aliases(self.store, self.registry)
        self.versions = Versions(self.registry, self.aliases)
        self.layers = Layers(self.store, self.blobs, self.registry, config)
        self.code_links = CodeLinks(self.public_url, self._code_of, self.blobs.read_zip,
                                    lifetime=config.code_link_lifetime)
        self.tagging = Tagging(self.registry)
        self.logs = LogStore(self.store)
        self.sqs = SqsService(self.store, config)
        self.sns = SnsService(self.store, config, self.sqs)
        self.limiter = ConcurrencyLimiter(config.account_concurrency)
        for rec in self.registry.all_records():
            if rec.meta.get("reserved_concurrency") is not None:
                self.limiter.set_reserved((rec.account, rec.name), rec.meta["reserved_concurrency"])
        self.protections = sandbox_host.probe(config)
        self.sandbox = sandbox_host.SandboxHost(config, self.protections)
        self.sandbox.start()
        interpreters = Interpreters(config.python_interpreters, config.node_binary)
        self.launcher = Launcher(config, interpreters, self._credentials_for, self.sandbox)
        self.pools = PoolManager(config.idle_timeout, config.freeze_idle_after)
        self.invoker = Invoker(config, self.registry, self.blobs, self.launcher, self.pools, self.limiter,
                               self.logs, self.layers.opt_dir)
        self.snapstart = SnapStart(self.registry, self.launcher, self.blobs, self.logs, self.layers.opt_dir)
        self.invoker.snapstart = self.versions.snapshots = self.snapstart
        self.provisioned = ProvisionedConcurrency(self.store, self.registry, self.aliases, self.invoker,
                                                  self.limiter, self.logs)
        self.permissions = Permissions(self.registry)
        self.function_urls = FunctionUrls(self.registry, config.public_host, config.port)
        self.url_door = FunctionUrlDoor(self)
        self.elbv2 = Elbv2(self.store, config.region, config.public_host)
        self.alb_listeners = AlbListeners(self)
        self.elbv2.on_listener_change = self.alb_listeners.on_change
        self.destinations = Destinations(self.store, config.region)
        self.destinations.invoke_function = self._invoke_function_async
        self.destinations.send_to_queue = self._send_to_queue
        self.destinations.publish_to_topic = self._publish_to_topic
        self.destinations.denied_action = self.registry.delivery_check = hooks.delivery_check(self)
        self.async_queue = AsyncQueue(self.store, self.registry, self.resolve_for_invoke, self.invoker.invoke,
                                      self.destinations.deliver_outcome, config.async_retry_base_delay,
                                      max_parallel=max(16, config.account_concurrency))
        self.authz_hooks = {"logs": hooks.logs_hook(self), "sqs": hooks.sqs_hook(self), "sns": hooks.sns_hook(self),
                            "elasticloadbalancing": hooks.elbv2_hook(self)}
        self.app = App(self)
        lambda_service = lambda_api.build(self)
        lambda_service.authorize = hooks.lambda_hook(self)
        self.app.add_service("lambda", lambda_service.dispatch)
        self.app.add_service("iam", *iam_api.build_iam(self))
        self.app.add_service("sts", *iam_api.build_sts(self))
        self.app.add_service("logs", logs_api.build(self), logs_api.render_error)
        self.app.add_service("sqs", *sqs_api.build(self))
        self.app.add_service("sns", *sns_api.build(self))
        self.app.add_anonymous("sns", sns_api.anonymous)
        self.app.add_service("elasticloadbalancing", *elbv2_api.build(self))
        self._tasks: list[asyncio.Task[Any]] = []

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        for line in self.sandbox.notes:
            log.warning("%s", line)
        if self.sandbox.tag:
            log.info("sandbox: instance %s", self.sandbox.tag)
        for line in self.protections.report_lines():
            log.info("sandbox: %s", line)
        self._tasks.append(asyncio.create_task(self.pools.run_reaper(), name="reaper"))
        self._tasks.append(asyncio.create_task(self.logs.run_flusher(), name="log-flusher"))
        if self.audit is not None:
            self._tasks.append(asyncio.create_task(self.audit.run_flusher(), name="audit-flusher"))
        await self.provisioned.start()
        await self.snapstart.start()
        pending = self.async_queue.load()
        if pending:
            log.info("resuming %d accepted asynchronous events", pending)
        self._tasks.append(asyncio.create_task(self.async_queue.run_dispatcher(), name="async-dispatcher"))
        self._tasks.append(asyncio.create_task(self.sqs.run_sweeper(), name="sqs-sweeper"))
        self.sns.lambda_deliverer = self._deliver_sns_to_lambda
        self._tasks.append(asyncio.create_task(self.sns.run_delivery(), name="sns-delivery"))
        await self.alb_listeners.start()
        if self.config.demo:
            from lambdad.demo import ensure_demo_function

            ensure_demo_function(self)

    def begin_shutdown(self) -> None:
        """The server is stopping: stop accepting on the other ports too (their requests drain)."""
        self.alb_listeners.begin_shutdown()

    async def aclose(self) -> None:
        await self.alb_listeners.aclose()  # first: its in-flight requests still need environments
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.provisioned.aclose()
        await self.pools.aclose()
        await self.snapstart.aclose()
        await self.launcher.aclose()
        self.sandbox.close()
        self.logs.flush()
        if self.audit is not None:
            self.audit.flush()
        self.store.close()
        self.workers.close()
        self.data_dir.close()

    # -- helpers for the API modules --------------------------------------------------------
    def resolve(self, account: str, name: str, qualifier: str | None) -> FunctionVersion:
        """For reads: the version a qualifier names, showing the ARN it was asked by (AWS shows
        `name:$LATEST` or the alias ARN as FunctionArn)."""
        rec = self.registry.get_record(account, name, qualifier)
        if qualifier is None:
            return rec.latest
        if qualifier == LATEST:
            return qualified_view(rec.latest, f"{rec.latest.arn}:{LATEST}")
        if is_version(qualifier):
            return self.registry.get_version(account, name, qualifier)
        alias = self.aliases.get(account, name, qualifier)
        if alias is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(self.config.region, account, name, qualifier)}")
        return qualified_view(rec.versions[alias.function_version], alias.arn)

    def resolve_for_invoke(self, account: str, name: str, qualifier: str | None) -> tuple[FunctionVersion, str]:
        """The version to run (an alias picks one by its routing weights) and the ARN the function
        sees as invoked_function_arn. On the hot path: dictionary lookups and one random()."""
        rec = self.registry.find(account, name)
        if rec is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(self.config.region, account, name, qualifier or LATEST)}")
        latest = rec.versions[LATEST]
        if qualifier is None:
            return latest, latest.config["FunctionArn"]
        fv = rec.versions.get(qualifier)
        if fv is not None:
            return fv, f"{latest.config['FunctionArn']}:{qualifier}"
        alias = self.aliases.get(account, name, qualifier)
        if alias is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(self.config.region, account, name, qualifier)}")
        return rec.versions[alias.pick()], alias.arn

    async def stage_code(self, code: dict[str, Any]) -> tuple[str, int]:
        """A function's Code checked, stored, unpacked and measured on the worker pool (a large zip
        takes seconds: the loop keeps serving meanwhile); (digest, size) for registry.create/update_code."""
        return await self.workers.run(self._stage_code, code)

    def _stage_code(self, code: dict[str, Any]) -> tuple[str, int]:
        digest, size = self.registry.stage_code(code)
        self.layers.unzipped_size(digest)  # measured now rather than by the layers' config hook, on the loop
        return digest, size

    def publish(self, fv: FunctionVersion) -> FunctionVersion:
        """Publish $LATEST of fv's function (CreateFunction/UpdateFunctionCode with Publish)."""
        return self.versions.publish(fv.account, fv.name)

    def delete_function(self, account: str, name: str, qualifier: str | None) -> None:
        if qualifier is not None:
            self.versions.delete(account, name, qualifier)
            return
        self.registry.delete(account, name, None)
        self.limiter.set_reserved((account, name), None)

    def _code_of(self, arn: str) -> str | None:
        """The digest of the code a function version or layer version ARN holds now (None: gone)."""
        parts = arn.split(":")
        if len(parts) != 8:
            return None
        if parts[5] == "function":
            rec = self.registry.find(parts[4], parts[6])
            fv = rec.versions.get(parts[7]) if rec is not None else None
            return fv.code_digest if fv is not None else None
        if parts[5] == "layer" and parts[7].isdigit():
            lv = self.layers.find(parts[4], parts[6], int(parts[7]))
            return lv.digest if lv is not None else None
        return None

    def set_reserved_concurrency(self, account: str, name: str, value: int | None) -> None:
        rec = self.registry.get_record(account, name)
        if value is not None:
            if value < 0:
                raise InvalidParameterValueException(
                    f"1 validation error detected: Value '{value}' at 'reservedConcurrentExecutions' failed to "
                    "satisfy constraint: Member must have value greater than or equal to 0")
            self.provisioned.check_reserved(account, name, value)
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

    def qualifier_exists(self, rec: FunctionRecord, qualifier: str) -> bool:
        return qualifier in rec.versions or self.aliases.get(rec.account, rec.name, qualifier) is not None

    async def invoke_async(self, fv: FunctionVersion, qualifier: str | None, payload: bytes,
                           request: ApiRequest) -> ApiResponse:
        """Accept an event durably (202) for the dispatcher to run."""
        limit = self.config.max_async_payload_bytes
        if len(payload) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        event_id = self.async_queue.accept(fv.account, fv.name, qualifier, payload, request.request_id)
        return ApiResponse(202, b"", [(b"x-amzn-requestid", event_id.encode())])

    async def _invoke_function_async(self, account: str, target_arn: str, payload: bytes) -> None:
        from lambdad.control.names import parse_function_ref

        ref = parse_function_ref(target_arn, None, account)
        fv, _ = self.resolve_for_invoke(ref.account, ref.name, ref.qualifier)
        if len(payload) > self.config.max_async_payload_bytes:
            raise RequestTooLargeException("destination record too large")
        self.async_queue.accept(fv.account, fv.name, ref.qualifier, payload)

    def front_door_for(self, request: ApiRequest) -> Callable[[ApiRequest, RequestBody], Awaitable[ApiResponse]] | None:
        """A handler when the request is for a function URL or a load-balancer listener."""
        if url_id_of(request.headers.get("host", "")) is not None:
            return self.url_door
        return None

    def function_arn(self, account: str, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.config.region, account, name, qualifier)

    def identity_policies(self, cred: Credential) -> list[dict[str, Any]]:
        """The IAM policies of a caller: its user's (and groups') or its assumed role's."""
        return self.authorizer.identity_policies(principal_of(cred))

    def environment_visible(self, request: ApiRequest, arn: str) -> bool:
        """Whether a caller may read the environment variables of the function version shown as `arn`:
        it must be allowed lambda:GetFunctionConfiguration on that ARN, as that call itself would be
        (auth/hooks.py: same resource, same resource policy)."""
        principal = request.principal
        parts = arn.split(":")
        account = parts[4] if len(parts) > 6 else ""
        if principal is None or (principal.is_root and principal.account == account):
            return True
        rec = self.registry.find(account, parts[6]) if account else None
        if rec is None:
            return False
        qualifier = parts[7] if len(parts) > 7 else None
        found = self.permissions.document(rec, None if qualifier == LATEST else qualifier)
        return self.authorizer.allowed(principal, "lambda:GetFunctionConfiguration", arn, account,
                                       found[0] if found else None, hooks.request_context(request))

    def _check_execution_role(self, account: str, role_arn: str) -> None:
        """A function's Role must be a role of its account that Lambda may assume (as AWS checks)."""
        if not self.config.require_existing_roles:
            return
        parts = role_arn.split(":")
        if len(parts) > 4 and parts[4] != account:
            raise InvalidParameterValueException("Cross-account pass role is not allowed.")
        if not self.iam.lambda_can_assume(account, role_arn):
            raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")

    async def _deliver_sns_to_lambda(self, target_arn: str, event: bytes) -> None:
        """SNS -> Lambda: authorized by the function's resource policy as on AWS, then queued
        durably as an asynchronous invocation (retries and destinations apply)."""
        ref = parse_function_ref(target_arn, None, self.config.account_id)
        fv, _ = self.resolve_for_invoke(ref.account, ref.name, ref.qualifier)
        topic_arn = json.loads(event)["Records"][0]["Sns"]["TopicArn"]
        if not self.service_may_invoke(fv.function, ref.qualifier, "sns.amazonaws.com", topic_arn):
            raise AccessDeniedException(f"sns.amazonaws.com may not invoke {target_arn}: add a permission with "
                                        f"Principal sns.amazonaws.com and SourceArn {topic_arn}")
        self.async_queue.accept(fv.account, fv.name, ref.qualifier, event)

    def service_may_invoke(self, rec: FunctionRecord, qualifier: str | None, service: str, source_arn: str) -> bool:
        """Whether an AWS service principal may invoke this function from source_arn."""
        doc = self.permissions.document(rec, qualifier)
        source_account = source_arn.split(":")[4] if source_arn.count(":") >= 5 else ""
        ctx = policy.RequestContext("", rec.account, "lambda:InvokeFunction",
                                    self.function_arn(rec.account, rec.name, qualifier), rec.account,
                                    {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account},
                                    principal_service=service)
        return policy.evaluate(ctx, [], doc[0] if doc else None) is policy.Decision.ALLOW

    async def _send_to_queue(self, account: str, queue_arn: str, body: str,
                             attributes: dict[str, dict[str, str]]) -> None:
        await self.sqs.send_message(queue_arn, body, attributes or None)

    async def _publish_to_topic(self, account: str, topic_arn: str, message: str,
                                attributes: dict[str, dict[str, str]]) -> None:
        await self.sns.publish(topic_arn, message, attributes=attributes or None)

    def _credentials_for(self, fv: FunctionVersion) -> dict[str, str]:
        """Fresh temporary credentials of the execution role for one new environment (12 h; the pool
        retires environments whose credentials near expiry)."""
        role = fv.config.get("Role") or f"arn:aws:iam::{fv.account}:role/lambdad-default"
        found = self.iam.find_role(fv.account, role.rsplit("/", 1)[-1])
        cred = self.credentials.issue_role_session(role, fv.name, fv.account,
                                                   role_id=found["RoleId"] if found else "")
        return {"AWS_ACCESS_KEY_ID": cred.access_key_id, "AWS_SECRET_ACCESS_KEY": cred.secret_access_key,
                "AWS_SESSION_TOKEN": cred.session_token or ""}


def principal_of(cred: Credential) -> Principal:
    return Principal(cred.account, cred.principal_arn, cred.access_key_id, cred.is_root, cred.session_token,
                     cred.user_name, cred.role_name, cred.principal_id)


__all__ = ["Lambdad", "principal_of"]
