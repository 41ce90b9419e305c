"""Where asynchronous outcomes go: OnSuccess/OnFailure destinations and dead-letter queues.

Targets are addressed by ARN: an SQS queue, an SNS topic, another Lambda function (invoked
asynchronously with the record as its event), or an EventBridge bus (the record becomes the
`detail` of a "Lambda Function Invocation Result - Success/Failure" event that EventBridge routes
to the bus's rules).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from lambdad import safejson
from lambdad.control.functions import FunctionVersion
from lambdad.errors import LambdadError
from lambdad.invoke.async_queue import AsyncEvent, invocation_record
from lambdad.invoke.delivery_access import DeliveryCheck
from lambdad.invoke.invoker import InvokeResult
from lambdad.store import Store

log = logging.getLogger("lambdad.destinations")

# (account, target ARN, message body, message attributes) -> delivered
SendToQueue = Callable[[str, str, str, dict[str, dict[str, str]]], Awaitable[None]]
PublishToTopic = Callable[[str, str, str, dict[str, dict[str, str]]], Awaitable[None]]
InvokeFunction = Callable[[str, str, bytes], Awaitable[None]]
# (account, bus ARN, event) -> routed durably (EventBridge.put_service_event); raises when the bus refuses it
PutBusEvent = Callable[[str, str, dict[str, Any]], None]


class DestinationError(LambdadError):
    """A target could not take the record."""


class Destinations:
    def __init__(self, store: Store, region: str, *, send_to_queue: SendToQueue, publish_to_topic: PublishToTopic,
                 invoke_function: InvokeFunction, put_bus_event: PutBusEvent,
                 denied_action: DeliveryCheck | None = None) -> None:
        self.store = store
        self.put_bus_event = put_bus_event
        self.region = region
        self.send_to_queue = send_to_queue
        self.publish_to_topic = publish_to_topic
        self.invoke_function = invoke_function
        #: (role ARN, function name, target) -> the API the execution role may not call there, or None
        self.denied_action = denied_action

    async def deliver_outcome(self, ev: AsyncEvent, fv: FunctionVersion, condition: str,
                              result: InvokeResult | None) -> list[str]:
        """Send the outcome where the function's configuration says; the failed deliveries' metrics."""
        failed = []
        cfg = fv.function.event_invoke_configs.get(ev.qualifier or "$LATEST")
        success = condition == "Success"
        target = cfg.destination(success) if cfg is not None else None
        if target:
            record = invocation_record(ev, fv, condition, result)
            if not (self._role_allows(fv, target) and await self._send(fv.account, target, record, success)):
                failed.append("DestinationDeliveryFailures")
        dlq = fv.dead_letter_target
        if not success and dlq:
            error_code, error_message = _error_of(result, condition)
            attributes = {
                "RequestID": {"DataType": "String", "StringValue": ev.id},
                "ErrorCode": {"DataType": "Number", "StringValue": error_code},
                "ErrorMessage": {"DataType": "String", "StringValue": error_message},
            }
            if not (self._role_allows(fv, dlq)
                    and await self._raw(fv.account, dlq, ev.payload.decode("utf-8", "replace"), attributes)):
                failed.append("DeadLetterErrors")
        return failed

    def _role_allows(self, fv: FunctionVersion, target: str) -> bool:
        """Lambda delivers as the execution role: the role's permissions are judged at each delivery
        (they may have changed since the configuration was accepted)."""
        if self.denied_action is None:
            return True
        denied = self.denied_action(fv.role, fv.name, target)
        if denied is not None:
            log.warning("could not deliver an outcome of %s to %s: its execution role may not call %s there",
                        fv.arn, target, denied)
        return denied is None

    async def _send(self, account: str, target: str, record: dict[str, Any], success: bool) -> bool:
        service = _service_of(target)
        if service == "events":
            return self._to_bus(account, target, record, success)
        body = json.dumps(record)
        return await self._raw(account, target, body, {})

    async def _raw(self, account: str, target: str, body: str, attributes: dict[str, dict[str, str]]) -> bool:
        """Whether the target took the message."""
        service = _service_of(target)
        try:
            if service == "sqs":
                await self.send_to_queue(account, target, body, attributes)
            elif service == "sns":
                await self.publish_to_topic(account, target, body, attributes)
            elif service == "lambda":
                await self.invoke_function(account, target, body.encode())
            elif service == "events":
                if not self._to_bus(account, target, json.loads(body), True):
                    return False
            else:
                raise DestinationError(f"no delivery for {target}")
        except Exception as exc:
            # AWS drops a record its destination refuses; say so in the server log.
            log.warning("could not deliver to %s: %s", target, exc)
            return False
        return True

    def _to_bus(self, account: str, bus_arn: str, record: dict[str, Any], success: bool) -> bool:
        t = time.time()
        context = record.get("requestContext") if isinstance(record, dict) else None
        function_arn = context.get("functionArn") if isinstance(context, dict) else None
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Lambda Function Invocation Result - " + ("Success" if success else "Failure"),
            "source": "lambda",
            "account": account,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
            "region": function_arn.split(":")[3] if function_arn else self.region,  # the function's
            "resources": [bus_arn] + ([function_arn] if function_arn else []),
            "detail": record,
        }
        try:
            self.put_bus_event(account, bus_arn, event)
        except Exception as exc:
            log.warning("could not deliver to %s: %s", bus_arn, exc)
            return False
        return True


def _service_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def _error_of(result: InvokeResult | None, condition: str) -> tuple[str, str]:
    if result is None:
        return "200", condition
    try:
        payload = safejson.loads(result.payload, max_depth=safejson.PAYLOAD_MAX_DEPTH)
        return "200", str(payload.get("errorMessage", ""))
    except (ValueError, AttributeError):
        return "200", result.payload.decode("utf-8", "replace")
