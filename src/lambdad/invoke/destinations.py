"""Where asynchronous outcomes go: OnSuccess/OnFailure destinations and dead-letter queues.

Targets are addressed by ARN: an SQS queue, an SNS topic, another Lambda function (invoked
asynchronously with the record as its event), or an EventBridge bus (stored as a bus event
for the EventBridge service to route).
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
from lambdad.invoke.async_queue import AsyncEvent, invocation_record
from lambdad.invoke.invoker import InvokeResult
from lambdad.store import Store

log = logging.getLogger("lambdad.destinations")

SCHEMA = """
CREATE TABLE IF NOT EXISTS eventbridge_events (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    bus_arn TEXT NOT NULL,
    event TEXT NOT NULL,
    created REAL NOT NULL
);
"""

# (account, target ARN, message body, message attributes) -> delivered
SendToQueue = Callable[[str, str, str, dict[str, dict[str, str]]], Awaitable[None]]
PublishToTopic = Callable[[str, str, str, dict[str, dict[str, str]]], Awaitable[None]]
InvokeFunction = Callable[[str, str, bytes], Awaitable[None]]


class DestinationError(Exception):
    """A target could not take the record."""


class Destinations:
    def __init__(self, store: Store, region: str) -> None:
        self.store = store
        self.region = region
        self.send_to_queue: SendToQueue | None = None
        self.publish_to_topic: PublishToTopic | None = None
        self.invoke_function: InvokeFunction | None = None
        store.ensure_schema(SCHEMA)

    async def deliver_outcome(self, ev: AsyncEvent, fv: FunctionVersion, condition: str,
                              result: InvokeResult | None) -> None:
        configs = fv.function.meta.get("event_invoke_configs") or {}
        cfg = configs.get(ev.qualifier or "$LATEST") or {}
        dests = cfg.get("DestinationConfig") or {}
        success = condition == "Success"
        target = (dests.get("OnSuccess" if success else "OnFailure") or {}).get("Destination")
        if target:
            record = invocation_record(ev, fv, condition, result)
            await self._send(fv.account, target, record, success)
        dlq = (fv.config.get("DeadLetterConfig") or {}).get("TargetArn")
        if not success and dlq:
            error_code, error_message = _error_of(result, condition)
            attributes = {
                "RequestID": {"DataType": "String", "StringValue": ev.id},
                "ErrorCode": {"DataType": "Number", "StringValue": error_code},
                "ErrorMessage": {"DataType": "String", "StringValue": error_message},
            }
            await self._raw(fv.account, dlq, ev.payload.decode("utf-8", "replace"), attributes)

    async def _send(self, account: str, target: str, record: dict[str, Any], success: bool) -> None:
        service = _service_of(target)
        if service == "events":
            self._put_bus_event(account, target, record, success)
            return
        body = json.dumps(record)
        await self._raw(account, target, body, {})

    async def _raw(self, account: str, target: str, body: str, attributes: dict[str, dict[str, str]]) -> None:
        service = _service_of(target)
        try:
            if service == "sqs" and self.send_to_queue is not None:
                await self.send_to_queue(account, target, body, attributes)
            elif service == "sns" and self.publish_to_topic is not None:
                await self.publish_to_topic(account, target, body, attributes)
            elif service == "lambda" and self.invoke_function is not None:
                await self.invoke_function(account, target, body.encode())
            elif service == "events":
                self._put_bus_event(account, target, json.loads(body), True)
            else:
                raise DestinationError(f"no delivery for {target}")
        except Exception as exc:
            # AWS drops a record its destination refuses; say so in the server log.
            log.warning("could not deliver to %s: %s", target, exc)

    def _put_bus_event(self, account: str, bus_arn: str, record: dict[str, Any], success: bool) -> None:
        t = time.time()
        function_arn = record["requestContext"]["functionArn"]
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Lambda Function Invocation Result - " + ("Success" if success else "Failure"),
            "source": "lambda",
            "account": account,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
            "region": self.region,
            "resources": [bus_arn, function_arn],
            "detail": record,
        }
        self.store.execute("INSERT INTO eventbridge_events (id, account, bus_arn, event, created) VALUES (?,?,?,?,?)",
                           (event["id"], account, bus_arn, json.dumps(event), t))

    def bus_events(self, account: str, bus_arn: str) -> list[dict[str, Any]]:
        rows = self.store.all("SELECT event FROM eventbridge_events WHERE account=? AND bus_arn=? ORDER BY created",
                              (account, bus_arn))
        return [json.loads(r["event"]) for r in rows]


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
