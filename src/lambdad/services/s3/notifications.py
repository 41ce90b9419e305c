"""Bucket event notifications to Lambda functions, SQS queues and SNS topics.

`PutBucketNotificationConfiguration` is validated as S3 validates it: event names, filter rules, and
each destination (it exists, and its resource policy lets `s3.amazonaws.com` act for this bucket and
its owner: `lambda:InvokeFunction`, `sqs:SendMessage`, `sns:Publish`), naming every destination that
fails in one InvalidArgument. Queues and topics then get S3's `s3:TestEvent` message.

Each object created or removed is matched against the bucket's configurations (event type, key
prefix and suffix) and sent as S3's event record (eventVersion 2.1, the key URL-encoded as S3 does).
Functions are invoked asynchronously through the durable async queue (retries, DLQs and destinations
apply); queues and topics receive the record as their message body.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable
from typing import Any, Protocol
from urllib.parse import quote_plus

from lambdad.auth.access import service_allowed
from lambdad.clock import Clock
from lambdad.errors import LambdadError, S3Error
from lambdad.services.s3.buckets import Bucket
from lambdad.services.s3.objects import StoredObject
from lambdad.services.sns.topics import SnsService
from lambdad.services.sqs.queues import SqsService

log = logging.getLogger("lambdad.s3")
S3_PRINCIPAL = "s3.amazonaws.com"
EVENT_TYPES = frozenset({
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectTagging:*", "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete", "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject", "s3:Replication:*", "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:LifecycleTransition",
    "s3:IntelligentTiering", "s3:ObjectAcl:Put",
})
# configuration list -> (its ARN member, the kind of destination)
KINDS = {"LambdaFunctionConfigurations": ("LambdaFunctionArn", "function"),
         "QueueConfigurations": ("QueueArn", "queue"), "TopicConfigurations": ("TopicArn", "topic")}


class FunctionTargets(Protocol):
    """What notifications need of Lambda (invoke/triggers.py's Triggers)."""

    def s3_may_invoke(self, target_arn: str, bucket_arn: str, bucket_account: str) -> bool | None: ...

    def deliver_s3(self, target_arn: str, bucket_arn: str, bucket_account: str, event: bytes) -> Awaitable[None]: ...


def _matches(event_name: str, wanted: list[str]) -> bool:
    full = "s3:" + event_name
    family = full.rsplit(":", 1)[0] + ":*"
    return any(w in (full, family) for w in wanted)


def _rules(config: dict[str, Any]) -> dict[str, str]:
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    return {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules}


class Notifier:
    def __init__(self, functions: FunctionTargets, sqs: SqsService, sns: SnsService, clock: Clock) -> None:
        self.clock = clock
        self.functions = functions
        self.sqs = sqs
        self.sns = sns

    # -- configuration ----------------------------------------------------------------------
    async def configure(self, bucket: Bucket, config: dict[str, Any], request_id: str, region: str,
                        skip_validation: bool) -> dict[str, Any]:
        """The configuration to store, once validated; sends the test events to queues and topics."""
        stored: dict[str, Any] = {}
        failures: list[tuple[str, str]] = []
        for list_name, (arn_member, kind) in KINDS.items():
            entries = []
            for entry in config.get(list_name) or []:
                arn = str(entry.get(arn_member) or "")
                events = [str(e) for e in entry.get("Events") or []]
                if not events or any(e not in EVENT_TYPES for e in events):
                    raise S3Error("The event is not supported for notifications", code="InvalidArgument",
                                  ArgumentName1=next((e for e in events if e not in EVENT_TYPES), "Event"),
                                  ArgumentValue1="")
                rules = ((entry.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
                names = [str(r.get("Name", "")).lower() for r in rules]
                if any(n not in ("prefix", "suffix") for n in names) or len(set(names)) != len(names):
                    raise S3Error("Invalid filter rule name(s) or overlapping rules in the notification "
                                  "configuration.", code="InvalidArgument", ArgumentName1="FilterRule.Name",
                                  ArgumentValue1=",".join(names))
                clean: dict[str, Any] = {"Id": str(entry.get("Id") or uuid.uuid4()), arn_member: arn, "Events": events}
                if rules:
                    clean["Filter"] = {"Key": {"FilterRules": [
                        {"Name": str(r.get("Name", "")).capitalize(), "Value": str(r.get("Value", ""))}
                        for r in rules]}}
                if not skip_validation:
                    problem = self._check(kind, arn, bucket)
                    if problem is not None:
                        failures.append((arn, problem))
                entries.append(clean)
            if entries:
                stored[list_name] = entries
        if config.get("EventBridgeConfiguration") is not None:
            stored["EventBridgeConfiguration"] = {}
        if failures:
            extra: dict[str, Any] = {}
            for index, (arn, problem) in enumerate(failures, start=1):
                extra[f"ArgumentName{index}"] = arn
                extra[f"ArgumentValue{index}"] = problem
            raise S3Error("Unable to validate the following destination configurations", code="InvalidArgument",
                          **extra)
        test = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": _iso(self.clock.time()),
                           "Bucket": bucket.name, "RequestId": request_id, "HostId": request_id})
        for entry in stored.get("QueueConfigurations", []):
            await self._send(entry["QueueArn"], test)
        for entry in stored.get("TopicConfigurations", []):
            await self._publish(entry["TopicArn"], test)
        return stored

    def _check(self, kind: str, arn: str, bucket: Bucket) -> str | None:
        if kind == "function":
            allowed = self.functions.s3_may_invoke(arn, bucket.arn, bucket.account)
            if allowed is None:
                return "The destination Lambda function does not exist"
            return None if allowed else f"Not authorized to invoke function [{arn}]"
        if kind == "queue":
            queue = self.sqs.find(arn)
            if queue is None:
                return "The destination queue does not exist"
            text = queue.attributes.get("Policy")
            if not service_allowed(json.loads(text) if text else None, "sqs:SendMessage", queue.arn, queue.account,
                                   S3_PRINCIPAL, bucket.arn, bucket.account):
                return "Permissions on the destination queue do not allow S3 to publish notifications from this bucket"
            return None
        if not self.sns.topic_exists(arn):
            return "The destination topic does not exist"
        topic = self.sns.get_topic(arn)
        policy_text = self.sns.topic_attributes(topic).get("Policy")
        if not service_allowed(json.loads(policy_text) if policy_text else None, "sns:Publish", topic.arn,
                               topic.account, S3_PRINCIPAL, bucket.arn, bucket.account):
            return "Permissions on the destination topic do not allow S3 to publish notifications from this bucket"
        return None

    # -- delivery ---------------------------------------------------------------------------
    async def emit(self, bucket: Bucket, event_name: str, obj: StoredObject, principal_id: str, ip: str,
                   request_id: str) -> None:
        """Send the event to every matching destination; a destination that fails is logged (S3
        delivers at least once on its own side; a request is not failed by a notification)."""
        config = bucket.config.get("Notification") or {}
        for list_name, (arn_member, kind) in KINDS.items():
            for entry in config.get(list_name) or []:
                if not _matches(event_name, entry.get("Events") or []):
                    continue
                rules = _rules(entry)
                if not obj.key.startswith(rules.get("prefix", "")) or not obj.key.endswith(rules.get("suffix", "")):
                    continue
                record = self.record(bucket, event_name, obj, principal_id, ip, request_id, entry["Id"])
                body = json.dumps({"Records": [record]})
                try:
                    if kind == "function":
                        await self.functions.deliver_s3(entry[arn_member], bucket.arn, bucket.account, body.encode())
                    elif kind == "queue":
                        await self._send(entry[arn_member], body)
                    else:
                        await self._publish(entry[arn_member], body)
                except LambdadError as exc:
                    log.warning("s3: notification %s of %s/%s to %s failed: %s", event_name, bucket.name, obj.key,
                                entry[arn_member], exc)

    def record(self, bucket: Bucket, event_name: str, obj: StoredObject, principal_id: str, ip: str,
               request_id: str, configuration_id: str) -> dict[str, Any]:
        """One event record, with S3's field set (S3 User Guide, "Event message structure")."""
        described: dict[str, Any] = {"key": quote_plus(obj.key, safe="/")}
        if event_name.startswith("ObjectCreated"):
            described["size"] = obj.size
            described["eTag"] = obj.etag.strip('"')
        if obj.version_id != "null":
            described["versionId"] = obj.version_id
        described["sequencer"] = f"{obj.seq:018X}"
        return {
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": bucket.region,
            "eventTime": _iso(obj.modified), "eventName": event_name,
            "userIdentity": {"principalId": principal_id},
            "requestParameters": {"sourceIPAddress": ip},
            "responseElements": {"x-amz-request-id": request_id.replace("-", "")[:16].upper(),
                                 "x-amz-id-2": request_id},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": configuration_id,
                   "bucket": {"name": bucket.name, "ownerIdentity": {"principalId": bucket.account},
                              "arn": bucket.arn},
                   "object": described},
        }

    async def _send(self, queue_arn: str, body: str) -> None:
        await self.sqs.send_message(queue_arn, body)

    async def _publish(self, topic_arn: str, body: str) -> None:
        await self.sns.publish(topic_arn, body, subject="Amazon S3 Notification")


def _iso(seconds: float) -> str:
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"

