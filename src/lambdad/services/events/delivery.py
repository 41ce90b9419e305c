"""Delivering routed events to targets: Lambda (an asynchronous invocation through the durable async
queue, allowed by the function's policy for events.amazonaws.com), SQS (FIFO with MessageGroupId),
SNS, and another event bus (cross-account when that bus's policy allows the rule's account).

An SQS queue or SNS topic of another account must allow events.amazonaws.com in its own policy (AWS
requires that policy for same-account queues and topics too; lambdad does not check those yet).

Each delivery row is claimed (`store.claim`: a lease, so a node that dies mid-delivery leaves it to
the next claim) and deleted only once the target took the event: at-least-once across `kill -9`.

Failures follow AWS: missing permissions and targets that do not exist are not retried; other errors
are retried with exponential back-off and jitter until the target's RetryPolicy runs out
(MaximumRetryAttempts, default 185; MaximumEventAgeInSeconds, default 86,400). Then the event goes to
the target's DeadLetterConfig queue (SQS) with AWS's message attributes (RULE_ARN, TARGET_ARN,
ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS), or is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from lambdad.clock import SYSTEM, Clock
from lambdad.errors import AccessDeniedException, ApiError, LambdadError, ResourceNotFoundException, SnsError, SqsError
from lambdad.services.events import transform
from lambdad.services.events.buses import Delivery, EventBridge, arn_parts, iso
from lambdad.supervisor import TaskSet

log = logging.getLogger("lambdad.events")

DEFAULT_RETRIES = 185
DEFAULT_MAX_AGE = 86400
LEASE_SECONDS = 60.0
BATCH = 100
POLL_SECONDS = 5.0
MAX_PARALLEL = 32

# (function ARN, rule ARN, payload) -> accepted
InvokeFunction = Callable[[str, str, bytes], Awaitable[None]]
# (queue ARN, body, message group id, deduplication id, message attributes) -> sent
SendToQueue = Callable[[str, str, str | None, str | None, dict[str, dict[str, str]] | None], Awaitable[None]]
# (topic ARN, message) -> published
PublishToTopic = Callable[[str, str], Awaitable[None]]
# (execution role ARN, target ARN) -> the API the role may not call on the target, or None (Scheduler targets)
RoleDenies = Callable[[str, str], str | None]
# (service principal, SQS/SNS target ARN, rule ARN) -> whether the target's policy lets the service send
ServiceMayDeliver = Callable[[str, str, str], bool]


class TargetFailed(LambdadError):
    """A delivery failed: `code` is the DLQ's ERROR_CODE; `retry` whether AWS would try again."""

    def __init__(self, code: str, message: str, retry: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry = retry


class Deliverer:
    def __init__(self, eventbridge: EventBridge, *, invoke_function: InvokeFunction, send_to_queue: SendToQueue,
                 publish_to_topic: PublishToTopic, role_denies: RoleDenies | None = None,
                 service_may_deliver: ServiceMayDeliver | None = None, base_delay: float = 1.0,
                 clock: Clock = SYSTEM) -> None:
        self.eb = eventbridge
        self.role_denies = role_denies
        self.service_may_deliver = service_may_deliver
        self.invoke_function = invoke_function
        self.send_to_queue = send_to_queue
        self.publish_to_topic = publish_to_topic
        self.base_delay = base_delay
        self.clock = clock
        self._tasks = TaskSet("events-delivery")
        self._slots = asyncio.Semaphore(MAX_PARALLEL)
        self.delivered = 0
        self.dead_lettered = 0
        self.dropped = 0

    async def run_delivery(self) -> None:
        """Deliver due rows until cancelled (rows stored before a restart resume here)."""
        wakeup = self.eb.delivery_wakeup
        try:
            while True:
                wakeup.clear()
                batch = self.eb.claim_deliveries(BATCH, LEASE_SECONDS)
                for delivery in batch:
                    await self._slots.acquire()
                    self._tasks.spawn(self._deliver(delivery), name=f"events-delivery-{delivery.id}")
                if len(batch) == BATCH:
                    await asyncio.sleep(0)
                    continue
                delay = POLL_SECONDS
                due = self.eb.next_delivery_at()
                if due is not None:
                    delay = min(delay, max(0.0, due - self.clock.time()))
                timer = self.clock.call_later(delay, wakeup.set)
                try:
                    await wakeup.wait()
                finally:
                    timer.cancel()
        finally:
            await self._tasks.aclose()

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self._send(delivery)
        except TargetFailed as exc:
            self._failed(delivery, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a store error: retried like any other failure
            log.exception("delivery %s to %s failed", delivery.id, delivery.target.get("Arn"))
            self._failed(delivery, TargetFailed("SDK_CLIENT_ERROR", str(exc), True))
        else:
            self.eb.delivered(delivery)
            self.delivered += 1
        finally:
            self._slots.release()

    async def _send(self, delivery: Delivery) -> None:
        target = delivery.target
        arn = str(target["Arn"])
        parts = arn_parts(arn)
        service = parts[0] if parts is not None else ""
        role = target.get("RoleArn")
        if role and self.role_denies is not None and delivery.rule_arn.split(":")[2:3] == ["scheduler"]:
            denied = self.role_denies(str(role), arn)
            if denied is not None:
                raise TargetFailed("NO_PERMISSIONS", f"The execution role {role} may not call {denied} on {arn}.",
                                   False)
        if service == "events":
            self._to_bus(delivery, arn)
            return
        if (service in ("sqs", "sns") and parts is not None and parts[2] != delivery.account
                and self.service_may_deliver is not None and not role
                and not self.service_may_deliver("events.amazonaws.com", arn, delivery.rule_arn)):
            # A rule may send to another account's queue or topic only when that resource's policy lets
            # events.amazonaws.com do so (same-account targets are not checked: see the module docstring).
            raise TargetFailed("NO_PERMISSIONS", f"The policy of {arn} does not allow events.amazonaws.com to "
                               f"deliver from {delivery.rule_arn}.", False)
        body = transform.target_input(target, delivery.event, delivery.rule_arn, iso(delivery.received))
        try:
            if service == "lambda":
                await self.invoke_function(arn, delivery.rule_arn, body.encode())
            elif service == "sqs":
                group = (target.get("SqsParameters") or {}).get("MessageGroupId")
                dedup = delivery.event.get("id") if arn.endswith(".fifo") else None
                await self.send_to_queue(arn, body, group, dedup, None)
            elif service == "sns":
                await self.publish_to_topic(arn, body)
            else:
                raise TargetFailed("SDK_CLIENT_ERROR", f"no delivery to {arn}", False)
        except TargetFailed:
            raise
        except AccessDeniedException as exc:
            raise TargetFailed("NO_PERMISSIONS", exc.message, False) from None
        except ResourceNotFoundException as exc:
            raise TargetFailed("RESOURCE_NOT_FOUND", exc.message, False) from None
        except SqsError as exc:
            if "NonExistentQueue" in exc.code:
                raise TargetFailed("RESOURCE_NOT_FOUND", exc.message, False) from None
            raise TargetFailed("SDK_CLIENT_ERROR", exc.message, True) from None
        except SnsError as exc:
            if exc.code == "NotFound":
                raise TargetFailed("RESOURCE_NOT_FOUND", exc.message, False) from None
            raise TargetFailed("SDK_CLIENT_ERROR", exc.message, True) from None
        except ApiError as exc:
            raise TargetFailed("THROTTLING" if exc.status == 429 else "SDK_CLIENT_ERROR", exc.message, True) \
                from None

    def _to_bus(self, delivery: Delivery, arn: str) -> None:
        parts = arn_parts(arn)
        assert parts is not None
        bus = self.eb.find_bus(parts[2], parts[1], arn)
        if bus is None:
            raise TargetFailed("RESOURCE_NOT_FOUND", f"Event bus {parts[3].split('/', 1)[-1]} does not exist.",
                               False)
        if not self.eb.bus_allows(bus, delivery.account):
            raise TargetFailed("NO_PERMISSIONS", f"Account {delivery.account} is not authorized to put events "
                               f"to {bus.arn}.", False)
        self.eb.route(bus, delivery.event)

    def _failed(self, delivery: Delivery, exc: TargetFailed) -> None:
        policy = delivery.target.get("RetryPolicy") or {}
        retries = int(policy.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        max_age = int(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE))
        now = self.clock.time()
        log.info("EventBridge delivery %s to %s failed (attempt %d): %s", delivery.id, delivery.target.get("Arn"),
                 delivery.attempts + 1, exc.message)
        exhausted = None
        if exc.retry:
            delay = min(300.0, self.base_delay * 2 ** min(delivery.attempts, 16)) * (0.5 + random.random() / 2)
            if delivery.attempts >= retries:
                exhausted = "MaximumRetryAttemptsExhausted"
            elif now + delay - delivery.received > max_age:
                exhausted = "MaximumEventAgeExhausted"
            else:
                self.eb.retry_later(delivery, now + delay)
                self.eb.delivery_wakeup.set()
                return
        self._dead_letter(delivery, exc, exhausted)

    def _dead_letter(self, delivery: Delivery, exc: TargetFailed, exhausted: str | None) -> None:
        dlq = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            self.dropped += 1
            self.eb.delivered(delivery)
            log.warning("dropped an event for %s: %s", delivery.target.get("Arn"), exc.message)
            return
        attributes = {
            "RULE_ARN": delivery.rule_arn, "TARGET_ARN": str(delivery.target.get("Arn")),
            "ERROR_CODE": exc.code, "ERROR_MESSAGE": exc.message[:256], "RETRY_ATTEMPTS": str(delivery.attempts),
        }
        if exhausted is not None:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        message_attributes = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        self._tasks.spawn(self._send_dead_letter(delivery, dlq, message_attributes),
                          name=f"events-dlq-{delivery.id}")

    async def _send_dead_letter(self, delivery: Delivery, dlq: str, attributes: dict[str, dict[str, str]]) -> None:
        try:
            await self.send_to_queue(dlq, json.dumps(delivery.event), None, None, attributes)
            self.dead_lettered += 1
        except Exception as exc:  # AWS drops the event when its dead-letter queue refuses it
            log.warning("could not send an event to the dead-letter queue %s: %s", dlq, exc)
            self.dropped += 1
        self.eb.delivered(delivery)

    def statistics(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "dead_lettered": self.dead_lettered, "dropped": self.dropped,
                "pending": self.eb.pending_deliveries()}

