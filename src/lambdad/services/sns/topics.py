"""Embedded SNS: topics (standard and FIFO), subscriptions, filter policies and durable delivery.

No HTTP here (`services/sns/wire.py` speaks the query protocol). Other components call:

    await sns.publish(topic_arn, message, subject=..., attributes=...)   # destinations, DLQs
    SnsService(..., lambda_deliverer=async_invoke)                          # given by server.py

Publish is one store transaction: SQS subscriptions receive their message inside it (an SQS send
is an INSERT), HTTP(S) and Lambda subscriptions get a row in `sns_deliveries`. So an accepted
Publish survives `kill -9`; the delivery worker drains `sns_deliveries` (retrying with the
subscription's delivery policy, then the subscription's dead-letter queue) and picks up where
it left off after a restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lambdad import safejson
from lambdad.config import Config
from lambdad.errors import SnsError, SqsError
from lambdad.services.sns.filter_policy import FilterPolicy, FilterPolicyError, compile_policy
from lambdad.services.sqs.queues import SendEntry, SqsService
from lambdad.store import Store
from lambdad.supervisor import TaskSet

log = logging.getLogger("lambdad.sns")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sns_topics (
    arn TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sns_subscriptions (
    arn TEXT PRIMARY KEY,
    topic_arn TEXT NOT NULL,
    owner TEXT NOT NULL,
    protocol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    attributes TEXT NOT NULL,
    pending INTEGER NOT NULL,
    token TEXT,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sns_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_arn TEXT NOT NULL,
    protocol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sns_deliveries_due ON sns_deliveries (due);
CREATE TABLE IF NOT EXISTS sns_dedup (
    topic_arn TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    message_id TEXT NOT NULL,
    seq TEXT NOT NULL,
    PRIMARY KEY (topic_arn, dedup_id)
) WITHOUT ROWID;
"""

MAX_MESSAGE_BYTES = 262144
MAX_BATCH = 10
DEDUP_WINDOW = 300.0
PAGE = 100
PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
TOPIC_ATTRIBUTES = frozenset({"DisplayName", "Policy", "DeliveryPolicy", "KmsMasterKeyId", "TracingConfig",
                              "SignatureVersion", "ContentBasedDeduplication", "FifoThroughputScope",
                              "ArchivePolicy", "DataProtectionPolicy", "FifoTopic",
                              *(f"{p}{k}" for p in ("HTTP", "Lambda", "SQS", "Application", "Firehose")
                                for k in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate",
                                          "FailureFeedbackRoleArn"))})
SUBSCRIPTION_ATTRIBUTES = frozenset({"RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy",
                                     "DeliveryPolicy", "SubscriptionRoleArn", "ReplayPolicy"})
DEFAULT_EFFECTIVE_DELIVERY_POLICY: dict[str, dict[str, Any]] = {"http": {
    "defaultHealthyRetryPolicy": {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3,
                                  "numMaxDelayRetries": 0, "numNoDelayRetries": 0, "numMinDelayRetries": 0,
                                  "backoffFunction": "linear"},
    "disableSubscriptionOverrides": False,
    "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}}
# Lambda deliveries: a few quick retries (the deliverer only hands the event to the async queue).
LAMBDA_RETRY_DELAYS = (1.0, 2.0, 4.0)
USER_AGENT = "Amazon Simple Notification Service Agent"
_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FIFO_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"[!-~]{1,128}")

LambdaDeliverer = Callable[[str, bytes], Awaitable[None]]


def invalid(message: str) -> SnsError:
    return SnsError(f"Invalid parameter: {message}", code="InvalidParameter")


def not_found(what: str) -> SnsError:
    return SnsError(f"{what} does not exist", code="NotFound", status=404)


def check_arn(arn: str | None, name: str) -> list[str]:
    parts = (arn or "").split(":")
    if not arn:
        raise invalid(f"{name} Reason: no value for required parameter")
    if len(parts) < 6:
        raise invalid(f"{name} Reason: An ARN must have at least 6 elements, not {len(parts)}")
    return parts


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- topics and subscriptions -----------------------------------------------------------------------

@dataclass(eq=False)
class Topic:
    arn: str
    account: str
    name: str
    attributes: dict[str, str]
    tags: list[dict[str, str]]

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoTopic") == "true"


@dataclass(eq=False)
class Subscription:
    arn: str
    topic_arn: str
    owner: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]
    pending: bool
    token: str | None
    policy: FilterPolicy | None = field(default=None, repr=False)

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery") == "true"

    def compile(self) -> None:
        text = self.attributes.get("FilterPolicy")
        self.policy = compile_policy(text, self.attributes.get("FilterPolicyScope", "MessageAttributes")) \
            if text else None


# -- message attributes -----------------------------------------------------------------------------

def validate_attributes(attributes: Mapping[str, Any] | None, where: str = "messageAttributes"
                        ) -> dict[str, dict[str, Any]]:
    """Message attributes in SQS's shape ({DataType, StringValue|BinaryValue}), checked as SNS does."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in (attributes or {}).items():
        data_type = value.get("DataType") if isinstance(value, Mapping) else None
        if not data_type:
            raise SnsError(f"1 validation error detected: Value null at '{where}.{name}.member.dataType' failed to "
                           "satisfy constraint: Member must not be null", code="ValidationError")
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise SnsError(f"The message attribute '{name}' has an invalid message attribute type, the set of "
                           "supported type prefixes is Binary, Number, and String.", code="ParameterValueInvalid")
        if base == "Binary":
            raw = value.get("BinaryValue")
            if value.get("StringValue") is not None and raw is None:
                raise SnsError(f"The message attribute '{name}' with type 'Binary' must use field 'Binary'.",
                               code="ParameterValueInvalid")
            if not raw:
                raise SnsError(f"The message attribute '{name}' must contain non-empty message attribute value for "
                               "message attribute type 'Binary'.", code="ParameterValueInvalid")
            out[name] = {"DataType": data_type, "BinaryValue": raw if isinstance(raw, bytes) else str(raw).encode()}
            continue
        text = value.get("StringValue")
        if text is None and value.get("BinaryValue") is not None:
            raise SnsError(f"The message attribute '{name}' with type '{base}' must use field 'String'.",
                           code="ParameterValueInvalid")
        if not text:
            raise SnsError(f"The message attribute '{name}' must contain non-empty message attribute value for "
                           f"message attribute type '{base}'.", code="ParameterValueInvalid")
        if base == "Number":
            try:
                float(text)
            except ValueError:
                raise SnsError(f"The message attribute '{name}' has an invalid number value: {text}.",
                               code="ParameterValueInvalid") from None
        if data_type == "String.Array":
            try:
                parsed = safejson.loads(text)
            except ValueError:
                parsed = None
            if not isinstance(parsed, list):
                raise SnsError(f"The message attribute '{name}' has an invalid value: {text}. Expected a JSON "
                               "array.", code="ParameterValueInvalid")
        out[name] = {"DataType": data_type, "StringValue": text}
    return out


def _envelope_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    out = {}
    for name, a in attributes.items():
        if "BinaryValue" in a:
            out[name] = {"Type": a["DataType"], "Value": base64.b64encode(a["BinaryValue"]).decode()}
        else:
            out[name] = {"Type": a["DataType"], "Value": a["StringValue"]}
    return out


def _attributes_to_json(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: ({"DataType": a["DataType"], "BinaryValue": base64.b64encode(a["BinaryValue"]).decode()}
                   if "BinaryValue" in a else dict(a)) for name, a in attributes.items()}


def _attributes_from_json(data: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    return {name: ({"DataType": a["DataType"], "BinaryValue": base64.b64decode(a["BinaryValue"])}
                   if "BinaryValue" in a else dict(a)) for name, a in data.items()}


@dataclass(slots=True)
class PublishEntry:
    message: str
    subject: str | None = None
    structure: str | None = None
    attributes: Mapping[str, Any] | None = None
    group_id: str | None = None
    dedup_id: str | None = None
    id: str = ""


class SnsService:
    def __init__(self, store: Store, config: Config, sqs: SqsService,
                 lambda_deliverer: LambdaDeliverer | None = None) -> None:
        self.store = store
        self.sqs = sqs
        self.region = config.region
        self.public_base = f"http://{config.public_host}:{config.port}"
        self.lambda_deliverer = lambda_deliverer
        self._signing_key = secrets.token_bytes(32)
        self._wakeup = asyncio.Event()
        self._inflight: set[int] = set()
        self._tasks = TaskSet("sns delivery")
        self._concurrency = asyncio.Semaphore(32)
        store.ensure_schema(SCHEMA)
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}
        for row in store.all("SELECT * FROM sns_topics"):
            self.topics[row["arn"]] = Topic(row["arn"], row["account"], row["name"], json.loads(row["attributes"]),
                                            json.loads(row["tags"]))
        for row in store.all("SELECT * FROM sns_subscriptions ORDER BY created, arn"):
            sub = Subscription(row["arn"], row["topic_arn"], row["owner"], row["protocol"], row["endpoint"],
                               json.loads(row["attributes"]), bool(row["pending"]), row["token"])
            try:
                sub.compile()
            except FilterPolicyError:
                log.warning("ignoring an invalid stored filter policy on %s", sub.arn)
            self.subscriptions[sub.arn] = sub

    # -- topics -------------------------------------------------------------------------------------
    def topic_arn(self, account: str, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{account}:{name}"

    def get_topic(self, arn: str | None, name: str = "TopicArn") -> Topic:
        check_arn(arn, name)
        topic = self.topics.get(arn or "")
        if topic is None:
            raise not_found("Topic")
        return topic

    def topic_exists(self, arn: str) -> bool:
        return arn in self.topics

    def create_topic(self, account: str, name: str, attributes: Mapping[str, str] | None = None,
                     tags: list[dict[str, str]] | None = None) -> Topic:
        given = {k: str(v) for k, v in (attributes or {}).items()}
        attributes = dict(given)
        fifo = attributes.get("FifoTopic", "false").lower() == "true"
        if not (_FIFO_TOPIC_NAME if fifo else _TOPIC_NAME).fullmatch(name or ""):
            raise invalid("Topic Name")
        for key in attributes:
            if key not in TOPIC_ATTRIBUTES:
                raise invalid("Attributes Reason: Unknown attribute")
        if fifo:
            attributes["FifoTopic"] = "true"
            attributes.setdefault("ContentBasedDeduplication", "false")
        else:
            attributes.pop("FifoTopic", None)
            if "ContentBasedDeduplication" in attributes:
                raise invalid("Attributes Reason: ContentBasedDeduplication is only valid for FIFO topics")
        self._check_topic_attributes(attributes)
        tags = list(tags or [])
        if len({t["Key"] for t in tags}) != len(tags):
            raise invalid("Duplicated keys are not allowed.")
        arn = self.topic_arn(account, name)
        existing = self.topics.get(arn)
        if existing is not None:
            for key, value in given.items():
                current = existing.attributes.get(key, "false" if key == "FifoTopic" else "")
                if current.lower() != value.lower() if key in ("FifoTopic", "ContentBasedDeduplication") \
                        else current != value:
                    raise invalid("Attributes Reason: Topic already exists with different attributes")
            if tags:
                current_tags = {t["Key"]: t["Value"] for t in existing.tags}
                if any(current_tags.get(t["Key"]) != t["Value"] for t in tags):
                    raise invalid("Tags Reason: Topic already exists with different tags")
            return existing
        topic = Topic(arn, account, name, attributes, tags)
        self.store.execute("INSERT INTO sns_topics (arn, account, name, attributes, tags, created) VALUES "
                           "(?,?,?,?,?,?)", (arn, account, name, json.dumps(attributes), json.dumps(tags),
                                             int(time.time())))
        self.topics[arn] = topic
        return topic

    def _check_topic_attributes(self, attributes: Mapping[str, str]) -> None:
        for key in ("Policy", "DeliveryPolicy", "DataProtectionPolicy", "ArchivePolicy"):
            if attributes.get(key):
                try:
                    if not isinstance(safejson.loads(attributes[key]), dict):
                        raise ValueError
                except ValueError:
                    raise invalid(f"Attributes Reason: {key}: failed to parse JSON.") from None

    def delete_topic(self, arn: str) -> None:
        check_arn(arn, "TopicArn")
        if self.topics.pop(arn, None) is None:
            return
        doomed = [s for s in self.subscriptions.values() if s.topic_arn == arn]
        with self.store.transaction():
            self.store.execute("DELETE FROM sns_topics WHERE arn=?", (arn,))
            self.store.execute("DELETE FROM sns_subscriptions WHERE topic_arn=?", (arn,))
            self.store.execute("DELETE FROM sns_dedup WHERE topic_arn=?", (arn,))
        for sub in doomed:
            self.subscriptions.pop(sub.arn, None)

    def list_topics(self, account: str) -> list[Topic]:
        return sorted((t for t in self.topics.values() if t.account == account), key=lambda t: t.arn)

    def topic_attributes(self, topic: Topic) -> dict[str, Any]:
        subs = [s for s in self.subscriptions.values() if s.topic_arn == topic.arn]
        out: dict[str, Any] = {
            "DisplayName": "",
            "Owner": topic.account,
            "Policy": json.dumps(self._default_policy(topic)),
            "SubscriptionsConfirmed": str(sum(not s.pending for s in subs)),
            "SubscriptionsDeleted": "0",
            "SubscriptionsPending": str(sum(s.pending for s in subs)),
            "TopicArn": topic.arn,
        }
        out.update(topic.attributes)
        effective = json.loads(json.dumps(DEFAULT_EFFECTIVE_DELIVERY_POLICY))
        if topic.attributes.get("DeliveryPolicy"):
            custom = json.loads(topic.attributes["DeliveryPolicy"]).get("http", {})
            effective["http"].update({k: v for k, v in custom.items() if v is not None})
        out["EffectiveDeliveryPolicy"] = json.dumps(effective)
        return dict(sorted(out.items()))

    def _default_policy(self, topic: Topic) -> dict[str, Any]:
        return {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic",
                       "SNS:Publish"],
            "Resource": topic.arn, "Condition": {"StringEquals": {"AWS:SourceOwner": topic.account}}}]}

    def set_topic_attribute(self, topic: Topic, name: str, value: str | None) -> None:
        if name not in TOPIC_ATTRIBUTES or name == "FifoTopic" or (
                name in ("ContentBasedDeduplication", "FifoThroughputScope") and not topic.fifo):
            raise invalid("AttributeName")
        value = value or ""
        self._check_topic_attributes({name: value})
        if name == "ContentBasedDeduplication":
            value = value.lower()
            if value not in ("true", "false"):
                raise invalid("ContentBasedDeduplication")
        if value == "" and name != "DisplayName":
            topic.attributes.pop(name, None)
        else:
            topic.attributes[name] = value
        self.store.execute("UPDATE sns_topics SET attributes=? WHERE arn=?", (json.dumps(topic.attributes), topic.arn))

    def add_permission(self, topic: Topic, label: str, accounts: list[str], actions: list[str]) -> None:
        policy = json.loads(topic.attributes.get("Policy") or json.dumps(self._default_policy(topic)))
        statements = policy.setdefault("Statement", [])
        if any(s.get("Sid") == label for s in statements):
            raise invalid("Statement already exists")
        if any(a not in ("*",) and not a[:1].isupper() for a in actions):
            raise invalid("Policy statement action out of service scope!")
        names = [f"SNS:{a}" for a in actions]
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        statements.append({"Sid": label, "Effect": "Allow",
                           "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                           "Action": names[0] if len(names) == 1 else names, "Resource": topic.arn})
        self.set_topic_attribute(topic, "Policy", json.dumps(policy))

    def remove_permission(self, topic: Topic, label: str) -> None:
        policy = json.loads(topic.attributes.get("Policy") or json.dumps(self._default_policy(topic)))
        policy["Statement"] = [s for s in policy.get("Statement", []) if s.get("Sid") != label]
        self.set_topic_attribute(topic, "Policy", json.dumps(policy))

    def tag(self, topic: Topic, tags: list[dict[str, str]]) -> None:
        if len({t["Key"] for t in tags}) != len(tags):
            raise invalid("Duplicated keys are not allowed.")
        current = {t["Key"]: t["Value"] for t in topic.tags}
        current.update({t["Key"]: t["Value"] for t in tags})
        topic.tags = [{"Key": k, "Value": v} for k, v in current.items()]
        self.store.execute("UPDATE sns_topics SET tags=? WHERE arn=?", (json.dumps(topic.tags), topic.arn))

    def untag(self, topic: Topic, keys: Iterable[str]) -> None:
        drop = set(keys)
        topic.tags = [t for t in topic.tags if t["Key"] not in drop]
        self.store.execute("UPDATE sns_topics SET tags=? WHERE arn=?", (json.dumps(topic.tags), topic.arn))

    # -- subscriptions ------------------------------------------------------------------------------
    def _check_subscription_attribute(self, name: str, value: str, topic: Topic | None, prefix: str) -> str:
        if name not in SUBSCRIPTION_ATTRIBUTES:
            raise invalid("AttributeName")
        if name == "RawMessageDelivery":
            if value.lower() not in ("true", "false"):
                raise invalid(f"{prefix}RawMessageDelivery: Invalid value [{value}]. Must be true or false.")
            return value.lower()
        if name == "FilterPolicyScope":
            if value not in ("MessageAttributes", "MessageBody"):
                raise invalid(f"{prefix}FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or "
                              "MessageAttributes")
            return value
        if name in ("RedrivePolicy", "DeliveryPolicy", "FilterPolicy", "ReplayPolicy") and value:
            try:
                parsed = safejson.loads(value)
            except ValueError as exc:
                raise invalid(f"{prefix}{name}: failed to parse JSON. {exc}") from None
            if name == "RedrivePolicy":
                target = parsed.get("deadLetterTargetArn") if isinstance(parsed, dict) else None
                parts = str(target or "").split(":")
                if len(parts) != 6 or parts[2] != "sqs":
                    raise invalid(f"{prefix}RedrivePolicy: deadLetterTargetArn is an invalid arn")
                if topic is not None and topic.fifo and not parts[5].endswith(".fifo"):
                    raise invalid(f"{prefix}RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to "
                                  "a FIFO Topic.")
        return value

    def _check_filter(self, attributes: Mapping[str, str], prefix: str) -> None:
        text = attributes.get("FilterPolicy")
        scope = attributes.get("FilterPolicyScope", "MessageAttributes")
        if text:
            try:
                compile_policy(text, scope)
            except FilterPolicyError as exc:
                message = str(exc)
                if message.startswith("Filter policy scope"):
                    raise invalid(message) from None
                raise invalid(f"{prefix}FilterPolicy: {message}") from None

    def subscribe(self, topic: Topic, protocol: str, endpoint: str | None, owner: str,
                  attributes: Mapping[str, str] | None = None) -> Subscription:
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
        endpoint = endpoint or ""
        if protocol == "sqs":
            parts = endpoint.split(":")
            if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
                raise invalid("SQS endpoint ARN")
            if parts[5].endswith(".fifo") and not topic.fifo:
                raise invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
                              "standard SNS topics")
        elif topic.fifo and protocol != "sqs":
            raise invalid("Invalid protocol type: FIFO topics only support SQS subscriptions")
        elif protocol in ("http", "https") and not endpoint.lower().startswith(protocol + "://"):
            raise invalid("Endpoint must match the specified protocol")
        elif protocol == "lambda":
            parts = endpoint.split(":")
            if len(parts) < 7 or parts[2] != "lambda":
                raise invalid("Lambda endpoint ARN")
        clean: dict[str, str] = {}
        for name, value in (attributes or {}).items():
            clean[name] = self._check_subscription_attribute(name, str(value), topic, "Attributes Reason: ")
        self._check_filter(clean, "Attributes Reason: ")
        if "FilterPolicy" in clean and clean["FilterPolicy"] and "FilterPolicyScope" not in clean:
            clean["FilterPolicyScope"] = "MessageAttributes"
        for sub in self.subscriptions.values():
            if sub.topic_arn == topic.arn and sub.protocol == protocol and sub.endpoint == endpoint:
                if any(sub.attributes.get(k, "") != v for k, v in clean.items()
                       if not (k == "FilterPolicyScope" and v == "MessageAttributes")):
                    raise invalid("Attributes Reason: Subscription already exists with different attributes")
                return sub
        pending = protocol in ("http", "https", "email", "email-json")
        sub = Subscription(f"{topic.arn}:{uuid.uuid4()}", topic.arn, owner, protocol, endpoint, clean, pending,
                           secrets.token_hex(64) if pending else None)
        sub.compile()
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO sns_subscriptions (arn, topic_arn, owner, protocol, endpoint, attributes, pending, token, "
                "created) VALUES (?,?,?,?,?,?,?,?,?)", (sub.arn, sub.topic_arn, owner, protocol, endpoint,
                                                        json.dumps(clean), int(pending), sub.token, int(time.time())))
            if pending and protocol in ("http", "https"):
                self._enqueue_control(sub, topic, "SubscriptionConfirmation")
        self.subscriptions[sub.arn] = sub
        self._wakeup.set()
        return sub

    def get_subscription(self, arn: str | None) -> Subscription:
        parts = check_arn(arn, "SubscriptionArn")
        if len(parts) != 7:
            raise invalid("SubscriptionId")
        sub = self.subscriptions.get(arn or "")
        if sub is None:
            raise not_found("Subscription")
        return sub

    def unsubscribe(self, arn: str | None) -> None:
        parts = check_arn(arn, "SubscriptionArn")
        if len(parts) != 7:
            raise invalid("SubscriptionId")
        sub = self.subscriptions.pop(arn or "", None)
        if sub is None:
            return
        with self.store.transaction():
            self.store.execute("DELETE FROM sns_subscriptions WHERE arn=?", (sub.arn,))
            topic = self.topics.get(sub.topic_arn)
            if sub.protocol in ("http", "https") and topic is not None and not sub.pending:
                self._enqueue_control(sub, topic, "UnsubscribeConfirmation")
        self._wakeup.set()

    def confirm_subscription(self, topic_arn: str | None, token: str | None) -> Subscription:
        parts = (topic_arn or "").split(":")
        if len(parts) != 6 or parts[2] != "sns":
            raise invalid("Topic")
        for sub in self.subscriptions.values():
            if sub.token is not None and sub.token == token and sub.topic_arn == topic_arn:
                if sub.pending:
                    sub.pending = False
                    self.store.execute("UPDATE sns_subscriptions SET pending=0 WHERE arn=?", (sub.arn,))
                return sub
        raise invalid("Token")

    def subscription_attributes(self, sub: Subscription) -> dict[str, str]:
        out = {"ConfirmationWasAuthenticated": "true" if sub.protocol not in ("http", "https") else
               ("false" if sub.pending else "true"),
               "Endpoint": sub.endpoint, "Owner": sub.owner, "PendingConfirmation": str(sub.pending).lower(),
               "Protocol": sub.protocol, "RawMessageDelivery": "false", "SubscriptionArn": sub.arn,
               "SubscriptionPrincipal": f"arn:aws:iam::{sub.owner}:root", "TopicArn": sub.topic_arn}
        out.update(sub.attributes)
        if sub.protocol in ("http", "https"):
            out["EffectiveDeliveryPolicy"] = json.dumps(self._effective_http_policy(sub))
        return dict(sorted(out.items()))

    def set_subscription_attribute(self, sub: Subscription, name: str, value: str | None) -> None:
        value = value or ""
        topic = self.topics.get(sub.topic_arn)
        checked = self._check_subscription_attribute(name, value, topic, "")
        attributes = dict(sub.attributes)
        if checked == "" and name != "RawMessageDelivery":
            attributes.pop(name, None)
        else:
            attributes[name] = checked
        if name == "FilterPolicy" and checked and "FilterPolicyScope" not in attributes:
            attributes["FilterPolicyScope"] = "MessageAttributes"
        self._check_filter(attributes, "")
        sub.attributes = attributes
        sub.compile()
        self.store.execute("UPDATE sns_subscriptions SET attributes=? WHERE arn=?", (json.dumps(attributes), sub.arn))

    def list_subscriptions(self, account: str, topic_arn: str | None = None) -> list[Subscription]:
        """A topic's subscriptions, or (no topic) the ones `account` owns, oldest first."""
        if topic_arn is not None:
            return [s for s in self.subscriptions.values() if s.topic_arn == topic_arn]
        return [s for s in self.subscriptions.values() if s.owner == account]

    # -- publishing ---------------------------------------------------------------------------------
    async def publish(self, topic_arn: str, message: str, *, subject: str | None = None,
                      attributes: Mapping[str, Any] | None = None, structure: str | None = None,
                      group_id: str | None = None, dedup_id: str | None = None) -> dict[str, str]:
        """Publish to a topic by ARN (the entry point for destinations and dead-letter topics).
        Returns {"MessageId": ..., ["SequenceNumber": ...]}; raises SnsError."""
        topic = self.get_topic(topic_arn)
        return self.publish_entries(topic, [PublishEntry(message, subject, structure, attributes, group_id,
                                                         dedup_id)])[0]

    def check_entry(self, topic: Topic, entry: PublishEntry, where: str = "messageAttributes") -> dict[str, Any]:
        message = entry.message
        if message is None or message == "":
            raise invalid("Empty message")
        attributes = validate_attributes(entry.attributes, where)
        size = len(message.encode()) + sum(len(k) + len(a["DataType"]) + len(a.get("BinaryValue") or
                                                                              a.get("StringValue", "").encode())
                                           for k, a in attributes.items())
        if size > MAX_MESSAGE_BYTES:
            raise invalid("Message too long")
        if entry.subject is not None and (not entry.subject.strip() or len(entry.subject) > 100
                                          or any(ord(c) < 32 for c in entry.subject)):
            raise invalid("Subject")
        messages: dict[str, str] | None = None
        if entry.structure is not None:
            if entry.structure != "json":
                raise invalid("MessageStructure")
            try:
                parsed = safejson.loads(message)
            except ValueError:
                raise invalid("Message Structure - JSON message body failed to parse") from None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("default"), str):
                raise invalid("Message Structure - No default entry in JSON message body")
            messages = {k: v for k, v in parsed.items() if isinstance(v, str)}
        group_id, dedup_id = entry.group_id, entry.dedup_id
        if topic.fifo:
            if not group_id:
                raise invalid("The MessageGroupId parameter is required for FIFO topics")
            if not _TOKEN.fullmatch(group_id):
                raise invalid("MessageGroupId Reason: can only include alphanumeric and punctuation characters. "
                              "1 to 128 in length.")
            if dedup_id is None:
                if topic.attributes.get("ContentBasedDeduplication") != "true":
                    raise invalid("The topic should either have ContentBasedDeduplication enabled or "
                                  "MessageDeduplicationId provided explicitly")
                dedup_id = hashlib.sha256(message.encode()).hexdigest()
            elif not _TOKEN.fullmatch(dedup_id):
                raise invalid("MessageDeduplicationId Reason: can only include alphanumeric and punctuation "
                              "characters. 1 to 128 in length.")
        else:
            if dedup_id is not None:
                raise invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
                              "that is not valid for this topic type")
            if group_id is not None and not _TOKEN.fullmatch(group_id):
                raise invalid("MessageGroupId Reason: can only include alphanumeric and punctuation characters. "
                              "1 to 128 in length.")
        return {"message": message, "messages": messages, "subject": entry.subject, "attributes": attributes,
                "group_id": group_id, "dedup_id": dedup_id}

    def publish_entries(self, topic: Topic, entries: list[PublishEntry]) -> list[dict[str, str]]:
        """Validate all entries, then fan out in one transaction; returns per-entry results."""
        checked = [self.check_entry(topic, e, "messageAttributes" if len(entries) == 1 else
                                    f"publishBatchRequestEntries.{i + 1}.member.messageAttributes")
                   for i, e in enumerate(entries)]
        results: list[dict[str, str]] = []
        subs = [s for s in self.subscriptions.values() if s.topic_arn == topic.arn and not s.pending]
        now = time.time()
        with self.store.transaction():
            for item in checked:
                message_id = str(uuid.uuid4())
                result = {"MessageId": message_id}
                if topic.fifo:
                    seen = self.store.one("SELECT message_id, seq FROM sns_dedup WHERE topic_arn=? AND dedup_id=? "
                                          "AND expires_at>?", (topic.arn, item["dedup_id"], now))
                    if seen is not None:
                        results.append({"MessageId": seen["message_id"], "SequenceNumber": seen["seq"]})
                        continue
                    seq = str(time.time_ns())
                    result["SequenceNumber"] = seq
                    self.store.execute("INSERT OR REPLACE INTO sns_dedup (topic_arn, dedup_id, expires_at, message_id, "
                                       "seq) VALUES (?,?,?,?,?)",
                                       (topic.arn, item["dedup_id"], now + DEDUP_WINDOW, message_id, seq))
                record = {"MessageId": message_id, "TopicArn": topic.arn, "Timestamp": iso_now(),
                          "SequenceNumber": result.get("SequenceNumber"), **item}
                for sub in subs:
                    if sub.policy is not None and not sub.policy.matches(item["attributes"], item["message"]):
                        continue
                    self._fan_out(topic, sub, record)
                results.append(result)
        self._wakeup.set()
        return results

    def _message_for(self, sub: Subscription, record: Mapping[str, Any]) -> str:
        messages = record.get("messages")
        if messages:
            return messages.get(sub.protocol, messages["default"])
        return record["message"]

    def _fan_out(self, topic: Topic, sub: Subscription, record: Mapping[str, Any]) -> None:
        if sub.protocol == "sqs":
            self._deliver_sqs(topic, sub, record)
        elif sub.protocol in ("http", "https", "lambda"):
            payload: dict[str, Any]
            if sub.protocol == "lambda":
                payload = {"event": self.lambda_event(sub, record)}
            else:
                body = self._message_for(sub, record) if sub.raw else self.envelope(topic, sub, record)
                payload = {"body": body, "headers": self._http_headers(sub, "Notification", record["MessageId"])}
            payload["dlq"] = self._dlq_message(topic, sub, record)
            self.store.execute("INSERT INTO sns_deliveries (subscription_arn, protocol, endpoint, payload, due) "
                               "VALUES (?,?,?,?,?)", (sub.arn, sub.protocol, sub.endpoint, json.dumps(payload),
                                                      time.time()))
        else:
            log.info("SNS %s delivery to %s is not supported here; message %s dropped", sub.protocol, sub.endpoint,
                     record["MessageId"])

    def _sqs_entry(self, topic: Topic, sub: Subscription, record: Mapping[str, Any], queue_fifo: bool) -> SendEntry:
        if sub.raw:
            entry = SendEntry(self._message_for(sub, record), record["attributes"] or None)
        else:
            entry = SendEntry(self.envelope(topic, sub, record))
        if queue_fifo:
            entry.group_id, entry.dedup_id = record["group_id"], record["dedup_id"]
        elif not topic.fifo and record["group_id"]:
            entry.group_id = record["group_id"]
        return entry

    def _deliver_sqs(self, topic: Topic, sub: Subscription, record: Mapping[str, Any]) -> None:
        queue = self.sqs.find(sub.endpoint)
        try:
            if queue is None:
                raise SqsError("The specified queue does not exist.")
            self.sqs.send(queue, [self._sqs_entry(topic, sub, record, queue.fifo)], f"sns.{self.region}")
        except SqsError as exc:
            log.info("SNS delivery of %s to %s failed: %s", record["MessageId"], sub.endpoint, exc.message)
            self._to_dead_letter(sub, self._dlq_message(topic, sub, record))

    def _dlq_message(self, topic: Topic, sub: Subscription, record: Mapping[str, Any]) -> dict[str, Any] | None:
        policy = sub.attributes.get("RedrivePolicy")
        if not policy:
            return None
        raw = sub.raw and sub.protocol != "lambda"
        body = self._message_for(sub, record) if raw else self.envelope(topic, sub, record)
        return {"arn": json.loads(policy)["deadLetterTargetArn"], "body": body,
                "attributes": _attributes_to_json(record["attributes"]) if raw else {},
                "group_id": record["group_id"], "dedup_id": record["dedup_id"]}

    def _to_dead_letter(self, sub: Subscription, dlq: Mapping[str, Any] | None) -> None:
        if not dlq:
            return
        queue = self.sqs.find(dlq["arn"])
        if queue is None:
            log.warning("dead-letter queue %s of %s does not exist", dlq["arn"], sub.arn)
            return
        entry = SendEntry(dlq["body"], _attributes_from_json(dlq["attributes"]) or None)
        if queue.fifo:
            entry.group_id = dlq["group_id"] or "default"
            entry.dedup_id = dlq["dedup_id"] or hashlib.sha256(dlq["body"].encode()).hexdigest()
        try:
            self.sqs.send(queue, [entry], f"sns.{self.region}")
        except SqsError as exc:
            log.warning("cannot move a message of %s to its dead-letter queue: %s", sub.arn, exc.message)

    # -- message shapes -----------------------------------------------------------------------------
    def unsubscribe_url(self, sub_arn: str) -> str:
        return f"{self.public_base}/?Action=Unsubscribe&SubscriptionArn={sub_arn}"

    def signing_cert_url(self) -> str:
        return f"{self.public_base}/_lambdad/sns/SimpleNotificationService-lambdad.pem"

    def _sign(self, fields: Mapping[str, Any], keys: Iterable[str]) -> str:
        # The string AWS signs ("Key\nValue\n" per field); the key is this server's, not AWS's.
        text = "".join(f"{k}\n{fields[k]}\n" for k in keys if fields.get(k) is not None)
        return base64.b64encode(hmac.digest(self._signing_key, text.encode(), "sha256")).decode()

    def envelope(self, topic: Topic, sub: Subscription, record: Mapping[str, Any]) -> str:
        env: dict[str, Any] = {"Type": "Notification", "MessageId": record["MessageId"]}
        if record.get("SequenceNumber"):
            env["SequenceNumber"] = record["SequenceNumber"]
        env["TopicArn"] = topic.arn
        if record["subject"] is not None:
            env["Subject"] = record["subject"]
        env["Message"] = self._message_for(sub, record)
        env["Timestamp"] = record["Timestamp"]
        if not topic.fifo:
            env["SignatureVersion"] = topic.attributes.get("SignatureVersion", "1")
            env["Signature"] = self._sign(env, ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"))
            env["SigningCertURL"] = self.signing_cert_url()
        env["UnsubscribeURL"] = self.unsubscribe_url(sub.arn)
        if record["attributes"]:
            env["MessageAttributes"] = _envelope_attributes(record["attributes"])
        return json.dumps(env, indent=2, separators=(",", " : "), ensure_ascii=False)

    def lambda_event(self, sub: Subscription, record: Mapping[str, Any]) -> dict[str, Any]:
        sns: dict[str, Any] = {
            "Type": "Notification", "MessageId": record["MessageId"], "TopicArn": record["TopicArn"],
            "Subject": record["subject"], "Message": self._message_for(sub, record),
            "Timestamp": record["Timestamp"], "SignatureVersion": "1"}
        sns["Signature"] = self._sign(sns, ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"))
        sns["SigningCertUrl"] = self.signing_cert_url()
        sns["UnsubscribeUrl"] = self.unsubscribe_url(sub.arn)
        sns["MessageAttributes"] = _envelope_attributes(record["attributes"])
        if record.get("SequenceNumber"):
            sns["SequenceNumber"] = record["SequenceNumber"]
        return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": sub.arn,
                             "Sns": sns}]}

    def _http_headers(self, sub: Subscription, kind: str, message_id: str) -> dict[str, str]:
        headers = {"Content-Type": self._content_type(sub), "User-Agent": USER_AGENT,
                   "x-amz-sns-message-type": kind, "x-amz-sns-message-id": message_id,
                   "x-amz-sns-topic-arn": sub.topic_arn}
        if kind != "SubscriptionConfirmation":
            headers["x-amz-sns-subscription-arn"] = sub.arn
        if kind == "Notification" and sub.raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        return headers

    def _content_type(self, sub: Subscription) -> str:
        policy = json.loads(sub.attributes.get("DeliveryPolicy") or "{}")
        content_type = (policy.get("requestPolicy") or {}).get("headerContentType")
        if content_type:
            return content_type
        topic = self.topics.get(sub.topic_arn)
        topic_policy = json.loads((topic.attributes.get("DeliveryPolicy") if topic else None) or "{}")
        return ((topic_policy.get("http") or {}).get("defaultRequestPolicy") or {}).get(
            "headerContentType", "text/plain; charset=UTF-8")

    def _effective_http_policy(self, sub: Subscription) -> dict[str, Any]:
        policy = json.loads(sub.attributes.get("DeliveryPolicy") or "{}")
        topic = self.topics.get(sub.topic_arn)
        topic_policy = json.loads((topic.attributes.get("DeliveryPolicy") if topic else None) or "{}").get("http", {})
        retry = dict(DEFAULT_EFFECTIVE_DELIVERY_POLICY["http"]["defaultHealthyRetryPolicy"])
        retry.update(topic_policy.get("defaultHealthyRetryPolicy") or {})
        retry.update(policy.get("healthyRetryPolicy") or {})
        return {"healthyRetryPolicy": retry, "sicklyRetryPolicy": policy.get("sicklyRetryPolicy"),
                "throttlePolicy": policy.get("throttlePolicy") or {"maxReceivesPerSecond": 1000},
                "requestPolicy": {"headerContentType": self._content_type(sub)}, "guaranteed": False}

    def _enqueue_control(self, sub: Subscription, topic: Topic, kind: str) -> None:
        """Queue a SubscriptionConfirmation / UnsubscribeConfirmation POST to an HTTP(S) endpoint."""
        token = sub.token if kind == "SubscriptionConfirmation" else secrets.token_hex(64)
        message_id = str(uuid.uuid4())
        if kind == "SubscriptionConfirmation":
            text = (f"You have chosen to subscribe to the topic {topic.arn}.\nTo confirm the subscription, visit the "
                    "SubscribeURL included in this message.")
        else:
            text = (f"You have chosen to deactivate subscription {sub.arn}.\nTo cancel this operation and restore the "
                    "subscription, visit the SubscribeURL included in this message.")
        body: dict[str, Any] = {"Type": kind, "MessageId": message_id, "Token": token, "TopicArn": topic.arn,
                                "Message": text,
                                "SubscribeURL": f"{self.public_base}/?Action=ConfirmSubscription&TopicArn="
                                                f"{quote(topic.arn, safe=':')}&Token={token}",
                                "Timestamp": iso_now(), "SignatureVersion": "1"}
        body["Signature"] = self._sign(body, ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                              "TopicArn", "Type"))
        body["SigningCertURL"] = self.signing_cert_url()
        payload = {"body": json.dumps(body, indent=2, separators=(",", " : ")),
                   "headers": self._http_headers(sub, kind, message_id), "control": True}
        self.store.execute("INSERT INTO sns_deliveries (subscription_arn, protocol, endpoint, payload, due) "
                           "VALUES (?,?,?,?,?)", (sub.arn, sub.protocol, sub.endpoint, json.dumps(payload),
                                                  time.time()))

    # -- the delivery worker ------------------------------------------------------------------------
    async def run_delivery(self) -> None:
        """Deliver pending HTTP(S)/Lambda messages until cancelled (resumes stored ones at start)."""
        try:
            while True:
                self._wakeup.clear()
                now = time.time()
                rows = self.store.all("SELECT * FROM sns_deliveries WHERE due<=? ORDER BY due LIMIT 200", (now,))
                for row in rows:
                    if row["id"] in self._inflight:
                        continue
                    self._inflight.add(row["id"])
                    self._tasks.spawn(self._deliver(row), name=f"sns-delivery-{row['id']}")
                nxt = self.store.one("SELECT MIN(due) AS t FROM sns_deliveries WHERE due>?", (now,))
                timeout = 60.0
                if nxt is not None and nxt["t"] is not None:
                    timeout = max(0.01, min(timeout, nxt["t"] - time.time()))
                if len(rows) == 200:
                    timeout = 0.01
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                except TimeoutError:
                    pass
        finally:
            await self._tasks.aclose()

    async def _deliver(self, row: Any) -> None:
        payload = json.loads(row["payload"])
        try:
            async with self._concurrency:
                if row["protocol"] == "lambda":
                    if self.lambda_deliverer is None:
                        raise RuntimeError("no Lambda deliverer is configured")
                    await self.lambda_deliverer(row["endpoint"], json.dumps(payload["event"]).encode())
                else:
                    await asyncio.get_running_loop().run_in_executor(
                        None, _http_post, row["endpoint"], payload["body"].encode(), payload["headers"])
            self.store.execute("DELETE FROM sns_deliveries WHERE id=?", (row["id"],))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(row, payload, exc)
        finally:
            self._inflight.discard(row["id"])
            self._wakeup.set()

    def _failed(self, row: Any, payload: Mapping[str, Any], exc: Exception) -> None:
        attempts = row["attempts"] + 1
        sub = self.subscriptions.get(row["subscription_arn"])
        if row["protocol"] == "lambda":
            delays: list[float] = list(LAMBDA_RETRY_DELAYS)
        elif sub is not None:
            delays = _http_delays(self._effective_http_policy(sub)["healthyRetryPolicy"])
        else:
            delays = []
        log.info("SNS delivery %s to %s failed (attempt %d): %s", row["id"], row["endpoint"], attempts, exc)
        if attempts <= len(delays) and (sub is not None or payload.get("control")):
            self.store.execute("UPDATE sns_deliveries SET attempts=?, due=? WHERE id=?",
                               (attempts, time.time() + delays[attempts - 1], row["id"]))
            return
        with self.store.transaction():
            self.store.execute("DELETE FROM sns_deliveries WHERE id=?", (row["id"],))
            if sub is not None and not payload.get("control"):
                self._to_dead_letter(sub, payload.get("dlq"))

    def statistics(self) -> dict[str, int]:
        row = self.store.one("SELECT COUNT(*) AS n FROM sns_deliveries")
        return {"topics": len(self.topics), "subscriptions": len(self.subscriptions),
                "pending_deliveries": int(row["n"]) if row else 0}


def _http_delays(policy: Mapping[str, Any]) -> list[float]:
    """Retry delays of an SNS healthyRetryPolicy (immediate retries first, then min..max spread)."""
    retries = int(policy.get("numRetries", 3))
    immediate = min(retries, int(policy.get("numNoDelayRetries", 0)))
    low = float(policy.get("minDelayTarget", 20))
    high = max(low, float(policy.get("maxDelayTarget", low)))
    spread = retries - immediate
    delays = [0.0] * immediate
    for i in range(spread):
        delays.append(low if spread == 1 else low + (high - low) * i / (spread - 1))
    return delays


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_post(url: str, body: bytes, headers: Mapping[str, str]) -> None:
    """POST one SNS message; raises unless the endpoint answers 2xx (runs in a worker thread)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with _OPENER.open(request, timeout=15) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if not 200 <= status < 300:
        raise RuntimeError(f"endpoint answered HTTP {status}")
