"""The SQS source: queues of the embedded SQS, reached in process (services/sqs/queues.py).

Receiving is SQS's own long poll, which a send wakes at once, so a message sent to an idle queue
reaches a waiting poller without any fixed sleep. Records are the SQS event records AWS sends (every
field, in AWS's order); a FIFO queue hands out a group's messages in order and never a message of a
group that has one in flight, which is what keeps one batch per group in flight across pollers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from lambdad.auth.authorizer import Authorizer
from lambdad.errors import InvalidParameterValueException
from lambdad.mappings.source import QueueRecord, SourceInfo
from lambdad.services.sqs.queues import Queue, SqsService

#: what Lambda's poller calls, in the order AWS names the first one missing
POLLER_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
NO_QUEUE = ("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
            "SQS Error Message: The specified queue does not exist.")
MAX_RECEIVE = 10
# The order of an SQS event record's system attributes, as Lambda sends them.
_ATTRIBUTE_ORDER = ("ApproximateReceiveCount", "SentTimestamp", "SequenceNumber", "MessageGroupId", "SenderId",
                    "MessageDeduplicationId", "ApproximateFirstReceiveTimestamp", "AWSTraceHeader",
                    "DeadLetterQueueSourceArn")


class SqsSource:
    kind = "sqs"

    def __init__(self, sqs: SqsService, authorizer: Authorizer, *, require_existing_roles: bool) -> None:
        self.sqs = sqs
        self.authorizer = authorizer
        self.require_existing_roles = require_existing_roles

    def _queue(self, arn: str, region: str | None = None) -> Queue | None:
        parts = arn.split(":")
        if len(parts) != 6 or (region is not None and parts[3] != region):
            return None
        return self.sqs.find(arn)

    def describe(self, arn: str, account: str, region: str) -> SourceInfo:
        queue = self._queue(arn, region)
        if queue is None:
            raise InvalidParameterValueException(NO_QUEUE)
        return SourceInfo(arn, fifo=queue.fifo)

    def denied_action(self, role_arn: str, function_name: str, arn: str) -> str | None:
        """Lambda polls as the execution role: it needs each poller action on the queue (and, for another
        account's queue, that queue's policy must allow the role too)."""
        queue = self._queue(arn)
        text = queue.attributes.get("Policy") if queue is not None else None
        resource_policy = json.loads(text) if text else None
        for action in POLLER_ACTIONS:
            allowed = self.authorizer.execution_role_allowed(role_arn, function_name, f"sqs:{action}", arn,
                                                             resource_policy)
            if allowed is None:  # no such role: only a server that does not require roles lets it poll
                allowed = not self.require_existing_roles
            if not allowed:
                return action
        return None

    def open(self, arn: str) -> SqsReader:
        queue = self._queue(arn)
        if queue is None:
            raise InvalidParameterValueException(NO_QUEUE)
        return SqsReader(self.sqs, queue, arn.split(":")[3])


class SqsReader:
    def __init__(self, sqs: SqsService, queue: Queue, region: str) -> None:
        self.sqs = sqs
        self.queue = queue
        self.region = region
        self.fifo = queue.fifo

    @property
    def visibility_timeout(self) -> float:
        return float(self.queue.int_setting("VisibilityTimeout"))

    async def receive(self, limit: int, wait_seconds: float) -> list[QueueRecord]:
        messages = await self.sqs.receive(self.queue, max_messages=max(1, min(MAX_RECEIVE, limit)),
                                          wait_seconds=max(0.0, min(20.0, wait_seconds)),  # type: ignore[arg-type]
                                          attribute_names=["All"], message_attribute_names=["All"])
        return [self._record(m) for m in messages]

    def _record(self, message: dict[str, Any]) -> QueueRecord:
        attributes = message.get("Attributes") or {}
        ordered = {k: attributes[k] for k in _ATTRIBUTE_ORDER if k in attributes}
        event = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": ordered,
            "messageAttributes": {name: _attribute(a) for name, a in (message.get("MessageAttributes") or {}).items()},
            "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue.arn,
            "awsRegion": self.region,
        }
        size = len(json.dumps(event)) + 1  # its share of {"Records": [...]}, separators included
        return QueueRecord(message["MessageId"], event, size, attributes.get("MessageGroupId"),
                           message["ReceiptHandle"])

    def delete(self, records: Sequence[QueueRecord]) -> int:
        return self.sqs.delete_held(self.queue, [r.handle for r in records]) if records else 0

    def extend(self, records: Sequence[QueueRecord], seconds: float) -> None:
        if records:
            self.sqs.change_visibility_held(self.queue, [r.handle for r in records], seconds)

    def release(self, records: Sequence[QueueRecord]) -> None:
        if records:
            self.sqs.change_visibility_held(self.queue, [r.handle for r in records], 0)

    def backlog(self) -> int:
        return self.sqs.counts(self.queue)[0]


def _attribute(a: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda shows it (camel case, list members always present)."""
    if "BinaryValue" in a:
        value: dict[str, Any] = {"binaryValue": base64.b64encode(a["BinaryValue"]).decode()}
    else:
        value = {"stringValue": a.get("StringValue")}
    return {**value, "stringListValues": [], "binaryListValues": [], "dataType": a["DataType"]}
