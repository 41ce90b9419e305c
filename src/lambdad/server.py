"""The server's composition root: builds every component, wires each to the few it uses, and owns
their lifecycle. Wiring only: no domain logic lives here.

`Lambdad` is an async context manager: `__aenter__` acquires the store, the sandbox and the ports and
starts the background loops (under one Supervisor); if any step fails, everything acquired so far is
released before the error propagates. `__aexit__` stops in the reverse order. The data dir itself
(its lock: one server per data dir, its private modes, its disk reserve) is opened by the command
before the server is built, so that a refused start is one line for the operator (cli.py).
"""

from __future__ import annotations

import logging
import os
import signal
from contextlib import AsyncExitStack
from typing import Any

from lambdad.api import lambda_api, lambda_authz, prometheus
from lambdad.api.app import SPOOL_BYTES, Router
from lambdad.api.audit import AuditLog
from lambdad.api.code_links import CodeLinks
from lambdad.api.http_protocol import Spool
from lambdad.api.jsonproto import render_error as json_render_error
from lambdad.api.lambda_backend import LambdaBackend, LambdaLimits
from lambdad.api.own_endpoints import OwnEndpoints
from lambdad.auth.authn import Authenticator
from lambdad.auth.authorizer import Authorizer
from lambdad.auth.credentials import EXECUTION_SESSION_SECONDS, CredentialStore
from lambdad.auth.keyring import Keyring, load_master_key
from lambdad.clock import SYSTEM, Clock, ScaledClock
from lambdad.config import Config
from lambdad.control.aliases import Aliases
from lambdad.control.code_owners import CodeOwners
from lambdad.control.code_staging import CodeStaging
from lambdad.control.codezip import extract_zip
from lambdad.control.function_urls import FunctionUrls
from lambdad.control.functions import FunctionRegistry
from lambdad.control.layers import Layers
from lambdad.control.permissions import Permissions
from lambdad.control.resolver import Resolver
from lambdad.control.tags import Tagging
from lambdad.control.validation import runtime_checker
from lambdad.control.versions import Versions
from lambdad.frontdoors.alb import AlbListeners
from lambdad.frontdoors.execute_api import ExecuteApiDoor
from lambdad.frontdoors.function_url import FunctionUrlDoor
from lambdad.invoke.async_queue import AsyncDispatcher, AsyncQueue
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.delivery_access import DeliveryAccess
from lambdad.invoke.destinations import Destinations
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.metrics import LambdaMetrics
from lambdad.invoke.provisioned import ProvisionedConcurrency
from lambdad.invoke.reservations import Reservations
from lambdad.invoke.snapstart import SnapStart
from lambdad.invoke.triggers import Triggers
from lambdad.mappings.engine import MappingEngine
from lambdad.mappings.registry import Mappings, MappingTags
from lambdad.mappings.sources.sqs import SqsSource
from lambdad.runtime import sandbox_host
from lambdad.runtime.interpreters import Interpreters
from lambdad.runtime.launcher import Launcher
from lambdad.runtime.pool import PoolManager
from lambdad.services.apigateway import authz as apigateway_authz
from lambdad.services.apigateway import wire as apigateway_wire
from lambdad.services.apigateway.http_apis import HttpApis
from lambdad.services.apigateway.rest_apis import RestApis
from lambdad.services.apigateway.usage_plans import UsagePlans
from lambdad.services.cloudwatch import authz as cloudwatch_authz
from lambdad.services.cloudwatch import wire as cloudwatch_wire
from lambdad.services.cloudwatch.alarms import Alarms
from lambdad.services.cloudwatch.metrics import Metrics, datum_of
from lambdad.services.cloudwatch.sampling import QueueDepths
from lambdad.services.dynamodb import authz as dynamodb_authz
from lambdad.services.dynamodb import wire as dynamodb_wire
from lambdad.services.dynamodb.dataplane import DataPlane
from lambdad.services.dynamodb.items import Items as DynamoDbItems
from lambdad.services.dynamodb.storage import ItemRows as DynamoDbRows
from lambdad.services.dynamodb.tables import Tables as DynamoDbTables
from lambdad.services.ec2 import authz as ec2_authz
from lambdad.services.ec2 import wire as ec2_wire
from lambdad.services.ec2.lambda_vpc import LambdaVpcCheck
from lambdad.services.ec2.network import Ec2
from lambdad.services.elbv2 import authz as elbv2_authz
from lambdad.services.elbv2 import wire as elbv2_wire
from lambdad.services.elbv2.load_balancers import Elbv2
from lambdad.services.events import authz as events_authz
from lambdad.services.events import wire as events_wire
from lambdad.services.events.buses import EventBridge
from lambdad.services.events.delivery import Deliverer as EventsDeliverer
from lambdad.services.iam import authz as iam_authz
from lambdad.services.iam import wire as iam_wire
from lambdad.services.iam.execution_roles import ExecutionRoles
from lambdad.services.iam.identities import Iam
from lambdad.services.iam.sts import Sts
from lambdad.services.kms import authz as kms_authz
from lambdad.services.kms import wire as kms_wire
from lambdad.services.kms.keys import KmsService
from lambdad.services.kms.lambda_keys import LambdaKeys
from lambdad.services.logs import authz as logs_authz
from lambdad.services.logs import wire as logs_wire
from lambdad.services.logs.function_logs import LogStore
from lambdad.services.logs.groups import LogsService
from lambdad.services.s3 import authz as s3_authz
from lambdad.services.s3 import wire as s3_wire
from lambdad.services.s3.lifecycle import Lifecycle
from lambdad.services.s3.notifications import Notifier
from lambdad.services.s3.service import S3Service
from lambdad.services.scheduler import authz as scheduler_authz
from lambdad.services.scheduler import wire as scheduler_wire
from lambdad.services.scheduler.schedules import Scheduler
from lambdad.services.sns import authz as sns_authz
from lambdad.services.sns import wire as sns_wire
from lambdad.services.sns.topics import SnsService
from lambdad.services.sqs import authz as sqs_authz
from lambdad.services.sqs import wire as sqs_wire
from lambdad.services.sqs.queues import SqsService
from lambdad.store import BlobStore, SqliteStore
from lambdad.store.datadir import DataDir
from lambdad.supervisor import Supervisor
from lambdad.workers import WorkerPool

log = logging.getLogger("lambdad")
# Threads for blocking work (zip inspection and extraction): uploads in parallel, the loop free.
WORKER_THREADS = 4


class Lambdad:
    def __init__(self, config: Config, data_dir: DataDir) -> None:
        self.config = config
        self.data_dir = data_dir
        self._stack: AsyncExitStack | None = None
        self._router: Router | None = None
        self.alb_listeners: AlbListeners | None = None
        self.demo_note = ""  # what --demo did, for the start log (cli.py)

    @property
    def router(self) -> Router:
        assert self._router is not None, "the server has not started"
        return self._router

    # -- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> Lambdad:
        stack = AsyncExitStack()
        try:
            await self._build(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    def begin_shutdown(self) -> None:
        """The server is stopping: stop accepting on the other ports too (their requests drain)."""
        if self.alb_listeners is not None:
            self.alb_listeners.begin_shutdown()

    def _fatal(self, loop: str, error: BaseException) -> None:
        """A background loop keeps failing: stop the server (as SIGTERM would) rather than run without it."""
        log.critical("stopping the server: background loop %s cannot run (%s)", loop, error)
        os.kill(os.getpid(), signal.SIGTERM)

    # -- wiring -----------------------------------------------------------------------------
    async def _build(self, stack: AsyncExitStack) -> None:
        """Each component is built with what it uses; whatever holds a resource registers its release
        right after acquiring it, so a failure anywhere unwinds exactly what was acquired."""
        config = self.config
        clock = SYSTEM  # the timers' time (lambdad/clock.py): unit tests hand components a fake one
        data = config.data_path
        public_url = f"http://{config.public_host}:{config.port}"

        store = SqliteStore(data / "lambdad.db", self.data_dir.reserve)
        stack.callback(store.close)
        workers = WorkerPool(WORKER_THREADS)
        stack.callback(workers.close)  # closed before the store: work still running finishes first
        spool_dir = data / "spool"
        spool_dir.mkdir(mode=0o700, exist_ok=True)
        blobs = BlobStore(data / "code", config.max_unzipped_bytes,
                          lambda data, path, limit: extract_zip(data, path, max_unzipped_bytes=limit))
        keyring = Keyring(load_master_key(config))
        credentials = CredentialStore(config, store, keyring)
        iam = Iam(store, keyring, credentials, config.account_id, config.region)
        authorizer = Authorizer(iam, config.region)
        sts = Sts(iam, credentials, authorizer)
        audit = AuditLog(data / "audit.log") if config.audit else None
        if audit is not None:
            stack.callback(audit.flush)
        roles = ExecutionRoles(iam, credentials, require_existing=config.require_existing_roles)
        kms = KmsService(store, keyring, clock)
        lambda_keys = LambdaKeys(kms, authorizer, config.region)

        interpreters = Interpreters(config.python_interpreters, config.node_binary)
        registry = FunctionRegistry(store, blobs, config, keyring=keyring, role_check=roles.check,
                                    env_keys=lambda_keys, runtime_check=runtime_checker(interpreters.resolve))
        aliases = Aliases(store, registry)
        layers = Layers(store, blobs, registry, config)
        tagging = Tagging(registry)
        permissions = Permissions(registry)
        function_urls = FunctionUrls(registry, config.public_host, config.port)
        resolver = Resolver(registry, aliases)
        logs_service = LogsService(store, clock=clock)  # CloudWatch Logs; Lambda's logs go through it
        logs = LogStore(logs_service)
        stack.callback(logs.flush)

        protections = sandbox_host.probe(config)
        sandbox = sandbox_host.SandboxHost(config, protections)
        sandbox.start()
        stack.callback(sandbox.close)
        for line in sandbox.notes:
            log.warning("%s", line)
        if sandbox.tag:
            log.info("sandbox: instance %s", sandbox.tag)
        log.info("sandbox: %s", protections.summary())
        for line in protections.report_lines():
            log.debug("sandbox: %s", line)
        launcher = Launcher(config, interpreters,
                            roles.environment_credentials, sandbox)
        stack.push_async_callback(launcher.aclose)
        # An environment's role credentials last EXECUTION_SESSION_SECONDS: none is reused when they could
        # expire during a maximal (15 minute) invocation.
        max_environment_age = EXECUTION_SESSION_SECONDS - 16 * 60
        snapstart = SnapStart(registry, launcher, blobs, logs, layers.opt_dir, max_template_age=max_environment_age)
        stack.push_async_callback(snapstart.aclose)
        pools = PoolManager(config.idle_timeout, config.freeze_idle_after, max_environment_age, clock=clock)
        stack.push_async_callback(pools.aclose)
        limiter = ConcurrencyLimiter(config.account_concurrency)
        lambda_metrics = LambdaMetrics(clock=clock)  # AWS/Lambda, counted in memory, flushed in batches
        invoker = Invoker(config, registry, blobs, launcher, pools, limiter, logs, layers.opt_dir, snapstart,
                          env_keys=lambda_keys, metrics=lambda_metrics)
        versions = Versions(registry, aliases, snapshots=snapstart)
        provisioned = ProvisionedConcurrency(store, registry, aliases, invoker, limiter, logs)
        stack.push_async_callback(provisioned.aclose)
        reservations = Reservations(registry, limiter, provisioned)

        async_queue = AsyncQueue(store, config.max_async_payload_bytes, owner=self.data_dir.node_id, clock=clock,
                                 metrics=lambda_metrics, default_region=config.region)
        triggers = Triggers(resolver, permissions, async_queue, config.region, config.account_id)
        logs_service.connect_lambda(triggers.deliver_logs, triggers.logs_refusal, triggers.log_group_of)
        sqs = SqsService(store, config)
        sns = SnsService(store, config, sqs, lambda_deliverer=triggers.deliver_sns)
        # CloudWatch metrics and alarms; Lambda's own metrics reach it from the accumulator above.
        cloudwatch = Metrics(store, clock=clock)
        cloudwatch.before_read = lambda_metrics.flush
        lambda_metrics.sink = lambda samples: cloudwatch.write(datum_of(s) for s in samples)

        async def alarm_notify(topic_arn: str, subject: str, message: str) -> None:
            await sns.publish(topic_arn, message, subject=subject)

        alarms = Alarms(store, cloudwatch, alarm_notify, clock=clock)
        queue_depths = QueueDepths(cloudwatch, sqs.every_queue, sqs.counts, clock=clock)  # AWS/SQS
        # S3: metadata in the store, object bytes under the data dir (services/s3/storage.py).
        s3 = S3Service(store, data / "s3", clock)
        s3.notifier = Notifier(triggers, sqs, sns, clock)
        if s3.swept_at_start:
            log.info("s3: removed %d files of uploads that never completed", s3.swept_at_start)

        async def send_to_queue(account: str, queue_arn: str, body: str,
                                attributes: dict[str, dict[str, str]]) -> None:
            await sqs.send_message(queue_arn, body, attributes or None)

        async def publish_to_topic(account: str, topic_arn: str, message: str,
                                   attributes: dict[str, dict[str, str]]) -> None:
            await sns.publish(topic_arn, message, attributes=attributes or None)

        # -- EventBridge (issue 15): buses, rules, targets; deliveries through the services above
        events_clock: Clock = clock if config.schedule_speed == 1.0 else ScaledClock(config.schedule_speed)
        eventbridge = EventBridge(store, owner=self.data_dir.node_id, clock=events_clock)

        async def events_to_queue(queue_arn: str, body: str, group_id: str | None, dedup_id: str | None,
                                  attributes: dict[str, dict[str, str]] | None) -> None:
            await sqs.send_message(queue_arn, body, attributes, group_id=group_id, dedup_id=dedup_id)

        async def events_to_topic(topic_arn: str, message: str) -> None:
            await sns.publish(topic_arn, message)

        delivery_access = DeliveryAccess(authorizer, sqs, sns, registry, permissions,
                                         require_existing_roles=config.require_existing_roles,
                                         default_account=config.account_id)
        registry.check_deliveries_with(delivery_access.denied_action)
        events_delivery = EventsDeliverer(
            eventbridge, invoke_function=triggers.deliver_events, send_to_queue=events_to_queue,
            publish_to_topic=events_to_topic, clock=events_clock,
            role_denies=lambda role, target: delivery_access.denied_action(role, "scheduler", target),
            service_may_deliver=delivery_access.service_may_deliver)
        scheduler = Scheduler(store, eventbridge, owner=self.data_dir.node_id, clock=events_clock)
        destinations = Destinations(store, config.region, send_to_queue=send_to_queue,
                                    publish_to_topic=publish_to_topic, invoke_function=triggers.invoke_destination,
                                    put_bus_event=eventbridge.put_service_event,
                                    denied_action=delivery_access.denied_action)
        dispatcher = AsyncDispatcher(async_queue, resolver.for_invoke, invoker.invoke, destinations.deliver_outcome,
                                     config.async_retry_base_delay, max_parallel=max(16, config.account_concurrency),
                                     clock=clock, metrics=lambda_metrics)

        # Event source mappings: Lambda's own pollers (SQS now; stream sources plug in by kind).
        esm_sources = {"sqs": SqsSource(sqs, authorizer, require_existing_roles=config.require_existing_roles)}
        mappings = Mappings(store, resolver, esm_sources)
        tagging.register("event-source-mapping", MappingTags(mappings))

        async def send_mapping_failure(account: str, target: str, record: bytes) -> None:
            if target.split(":")[2] == "sns":
                await publish_to_topic(account, target, record.decode(), {})
            else:
                await send_to_queue(account, target, record.decode(), {})

        mapping_engine = MappingEngine(mappings, esm_sources, resolver.for_invoke, invoker.invoke,
                                       owner=self.data_dir.node_id, clock=clock, send_failure=send_mapping_failure)
        stack.push_async_callback(mapping_engine.aclose)  # pollers stop before the environments they invoke

        elbv2 = Elbv2(store, config.region, config.public_host)
        supervisor = Supervisor(on_fatal=self._fatal, clock=clock)
        stack.push_async_callback(supervisor.aclose)  # loops stop before the environments they use
        alb = self.alb_listeners = AlbListeners(config, elbv2, registry, resolver, invoker, triggers)
        stack.push_async_callback(alb.aclose)  # first to stop: its in-flight requests still need environments

        authenticator = Authenticator(credentials, enabled=config.auth, account_id=config.account_id)
        code_links = CodeLinks(public_url, CodeOwners(registry, layers).digest_of, blobs.read_zip,
                               lifetime=config.code_link_lifetime)

        def statistics() -> dict[str, Any]:
            return {"environments": pools.statistics(), "snapstart": snapstart.statistics(),
                    "async": dispatcher.statistics(), "background": supervisor.statistics(),
                    "events": {**eventbridge.statistics(), **events_delivery.statistics(),
                               **scheduler.statistics()},
                    "event_source_mappings": mapping_engine.statistics()}

        spool = Spool(str(spool_dir), SPOOL_BYTES)
        scrape = prometheus.renderer(lambda_metrics, lambda: dict(limiter.in_flight))
        router = Router(authenticator, OwnEndpoints(statistics, code_links, iam, config.account_id, scrape), spool,
                        default_region=config.region, audit=audit)
        router.add_front_door(FunctionUrlDoor(function_urls, registry, permissions, resolver, invoker, authenticator,
                                              authorizer, spool, region=config.region, port=config.port))
        ec2 = Ec2(store, clock.time, regions=[config.region])  # VPCs, subnets, security groups, gateways, route tables
        vpc_check = LambdaVpcCheck(ec2, authorizer.execution_role_allowed)  # Lambda's VpcConfig, in EC2's records
        backend = LambdaBackend(LambdaLimits(config.region, config.max_zip_bytes, config.max_unzipped_bytes),
                                registry, resolver, versions, aliases, layers, tagging, permissions, function_urls,
                                provisioned, reservations, limiter, invoker, async_queue, authorizer, code_links,
                                CodeStaging(registry, layers, workers, s3.read_object), delivery_access,
                                mappings=mappings, mapping_engine=mapping_engine, vpc_check=vpc_check)
        router.add_service("lambda", lambda_api.build(backend, lambda_authz.hook(authorizer, registry, permissions)))
        iam_service = iam_wire.build_iam(iam, iam_authz.iam(authorizer, iam))
        router.add_service("iam", iam_service, iam_service.render_error)
        sts_service = iam_wire.build_sts(sts, iam_authz.sts())
        router.add_service("sts", sts_service, sts_service.render_error)
        router.add_anonymous("sts", iam_wire.sts_anonymous)  # AssumeRoleWithWebIdentity: the token is the proof
        router.add_service("logs", logs_wire.build(logs_service, logs_authz.hook(authorizer)), json_render_error)
        router.add_service("sqs", sqs_wire.build(sqs, sqs_authz.hook(authorizer, sqs)),
                           sqs_wire.render_error)
        sns_service = sns_wire.build(sns, sns_authz.hook(authorizer, sns))
        router.add_service("sns", sns_service, sns_service.render_error)
        router.add_anonymous("sns", sns_wire.anonymous)
        elbv2_service = elbv2_wire.build(elbv2, alb.can_invoke, elbv2_authz.hook(authorizer))
        router.add_service("elasticloadbalancing", elbv2_service, elbv2_service.render_error)
        router.add_service("ec2", ec2_wire.build(ec2, ec2_authz.hook(authorizer)), ec2_wire.render_error)
        router.add_service("events", events_wire.build(eventbridge, events_authz.hook(authorizer, eventbridge)),
                           json_render_error)
        router.add_service("scheduler", scheduler_wire.build(scheduler, scheduler_authz.hook(authorizer)))
        router.add_service("s3", s3_wire.build(s3, s3_authz.hook(authorizer, s3), config.public_host),
                           s3_wire.render_error)
        router.add_anonymous("s3", s3_wire.anonymous)
        s3_lifecycle = Lifecycle(s3, clock)
        # API Gateway: the management APIs (apigateway, apigatewayv2) and the execute-api invoke URLs
        http_apis = HttpApis(store, lambda api_id, region: f"http://{api_id}.execute-api.{region}."
                             f"{config.public_host}:{config.port}", clock=clock.time)
        rest_apis = RestApis(store, clock=clock.time, taken=http_apis.apis.__contains__)
        usage_plans = UsagePlans(store, clock=clock.time)
        router.add_front_door(ExecuteApiDoor(http_apis, rest_apis, usage_plans, permissions, resolver, invoker,
                                             authenticator, authorizer, spool, clock,
                                             public_host=config.public_host, port=config.port,
                                             allow_private_integrations=config.apigateway_private_integrations))
        apigateway_authorize = apigateway_authz.hook(authorizer)
        router.add_service("apigateway", apigateway_wire.ApiGatewayWire(
            apigateway_wire.build_v2(http_apis, apigateway_authorize),
            apigateway_wire.build_v1(rest_apis, usage_plans, apigateway_authorize), apigateway_authorize),
            apigateway_wire.render_error)
        router.add_service("kms", kms_wire.build(kms, kms_authz.hook(authorizer, kms), authorizer.identity_policies),
                           json_render_error)
        # DynamoDB (issue 17): tables and items in the store; DynamoDB Streams will share its wire
        dynamodb_rows = DynamoDbRows(store)
        dynamodb_tables = DynamoDbTables(store, dynamodb_rows, clock)
        dynamodb_items = DynamoDbItems(store, dynamodb_tables, dynamodb_rows, clock)
        router.add_service("dynamodb", dynamodb_wire.build(DataPlane(dynamodb_tables, dynamodb_items),
                                                           dynamodb_authz.hook(authorizer, dynamodb_tables)),
                           dynamodb_wire.render_error)
        cloudwatch_service = cloudwatch_wire.build(cloudwatch, alarms, cloudwatch_authz.hook(authorizer))
        router.add_service("monitoring", cloudwatch_service, cloudwatch_service.render_error)
        self._router = router

        # -- start ----------------------------------------------------------------------------
        supervisor.start("reaper", pools.run_reaper)
        supervisor.start("log-flusher", logs.run_flusher)
        supervisor.start("logs-retention", logs_service.run_retention)
        supervisor.start("logs-subscriptions", logs_service.run_delivery)
        if audit is not None:
            supervisor.start("audit-flusher", audit.run_flusher)
        await provisioned.start()
        await snapstart.start()
        pending = async_queue.load()
        if pending:
            log.info("resuming %d accepted asynchronous events", pending)
        supervisor.start("async-dispatcher", dispatcher.run_dispatcher)
        supervisor.start("async-leases", async_queue.run_leases)
        supervisor.start("sqs-sweeper", sqs.run_sweeper)
        supervisor.start("sns-delivery", sns.run_delivery)
        supervisor.start("events-delivery", events_delivery.run_delivery)
        supervisor.start("events-schedules", eventbridge.run_schedules)
        supervisor.start("scheduler", scheduler.run_schedules)
        supervisor.start("event-source-mappings", mapping_engine.run_engine)
        supervisor.start("s3-lifecycle", s3_lifecycle.run_sweeper)
        supervisor.start("dynamodb-ttl", dynamodb_items.run_ttl_sweeper)
        supervisor.start("lambda-metrics", lambda_metrics.run_flusher)
        supervisor.start("cloudwatch-alarms", alarms.run_evaluation)
        supervisor.start("cloudwatch-retention", cloudwatch.run_retention)
        supervisor.start("cloudwatch-sqs", queue_depths.run_sampler)
        await alb.start()
        if config.demo:
            from lambdad.demo import ensure_demo_function

            self.demo_note = ensure_demo_function(registry, iam, config.account_id)


__all__ = ["Lambdad"]
