"""Embedded SQS: standard and FIFO queues, durable in the store, with long polling.

No HTTP here: `services/sqs/wire.py` speaks the wire protocols; other components (async invocation
destinations, dead-letter queues, SNS) call the public methods directly:

    result = await sqs.send_message(queue_arn, body, {"RequestID": {"DataType": "String", ...}})
    sqs.queue_exists(queue_arn)

Every message is one row of `sqs_messages`, so a send that answered is on disk (WAL commit) and
survives `kill -9`. A receive is one indexed range read on (queue, visible_at) plus one UPDATE
that hides the batch; FIFO adds "no earlier invisible message in the same group". Long polling
waits on per-queue futures woken by sends, deletes and visibility changes, with a timer for the
next message to become visible: no busy loops.

Times in the table are epoch milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import struct
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lambdad import safejson
from lambdad.config import Config
from lambdad.errors import SqsError
from lambdad.store import Store

log = logging.getLogger("lambdad.sqs")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sqs_queues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    UNIQUE (account, name)
);
CREATE TABLE IF NOT EXISTS sqs_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    md5 TEXT NOT NULL,
    attributes TEXT,
    system TEXT,
    sent INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive INTEGER,
    receipt TEXT,
    group_id TEXT,
    dedup_id TEXT
);
CREATE INDEX IF NOT EXISTS sqs_messages_visible ON sqs_messages (queue_id, visible_at);
CREATE INDEX IF NOT EXISTS sqs_messages_group ON sqs_messages (queue_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sqs_messages_expiry ON sqs_messages (expires_at);
CREATE TABLE IF NOT EXISTS sqs_dedup (
    queue_id INTEGER NOT NULL,
    dedup_key TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    seq TEXT NOT NULL,
    PRIMARY KEY (queue_id, dedup_key)
) WITHOUT ROWID;
"""

# -- limits and defaults (AWS's) --------------------------------------------------------------------
MAX_BATCH = 10
MAX_VISIBILITY = 43200
MAX_DELAY = 900
MAX_WAIT = 20
MAX_BATCH_BYTES = 1048576
MAX_MESSAGE_ATTRIBUTES = 10
DEDUP_WINDOW_MS = 5 * 60 * 1000
PURGE_INTERVAL = 60.0
# Sequence numbers are 20-digit strings that grow with every message.
_SEQ_BASE = 18_000_000_000_000_000_000

DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {"ContentBasedDeduplication": "false", "DeduplicationScope": "queue",
                 "FifoThroughputLimit": "perQueue"}
# name -> (min, max) for the integer attributes
_INT_RANGES = {
    "DelaySeconds": (0, MAX_DELAY),
    "MaximumMessageSize": (1024, 1048576),
    "MessageRetentionPeriod": (60, 1209600),
    "ReceiveMessageWaitTimeSeconds": (0, MAX_WAIT),
    "VisibilityTimeout": (0, MAX_VISIBILITY),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}
_JSON_ATTRIBUTES = ("Policy", "RedrivePolicy", "RedriveAllowPolicy")
SETTABLE = frozenset({*_INT_RANGES, *_JSON_ATTRIBUTES, "KmsMasterKeyId", "SqsManagedSseEnabled"})
FIFO_ONLY = frozenset({"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"})
COMPUTED = frozenset({"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                      "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
                      "QueueArn"})
READABLE = SETTABLE | FIFO_ONLY | COMPUTED | {"FifoQueue"}

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_TOKEN = re.compile(r"[!-~]{1,128}")  # printable ASCII: alphanumerics and punctuation
# Characters SQS refuses in bodies and string attributes (the XML 1.0 Char production).
_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def now_ms() -> int:
    return int(time.time() * 1000)


# -- errors -----------------------------------------------------------------------------------------

def invalid_value(message: str) -> SqsError:
    return SqsError(message, code="InvalidParameterValue", json_type="InvalidParameterValueException")


def invalid_parameter(name: str, value: Any, reason: str) -> SqsError:
    return invalid_value(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def missing_parameter(name: str) -> SqsError:
    return SqsError(f"The request must contain the parameter {name}.", code="MissingParameter",
                    json_type="MissingRequiredParameterException")


def queue_does_not_exist() -> SqsError:
    return SqsError("The specified queue does not exist.", code="AWS.SimpleQueueService.NonExistentQueue",
                    json_type="QueueDoesNotExist")


def invalid_attribute_name(message: str) -> SqsError:
    return SqsError(message, code="InvalidAttributeName")


def invalid_attribute_value(name: str, reason: str | None = None) -> SqsError:
    text = f"Invalid value for the parameter {name}."
    if reason:
        text = f"Invalid value for the parameter {name}. Reason: {reason}"
    return SqsError(text, code="InvalidAttributeValue")


def receipt_handle_invalid(handle: str) -> SqsError:
    return SqsError(f'The input receipt handle "{handle}" is not a valid receipt handle.',
                    code="ReceiptHandleIsInvalid")


def _batch_error(name: str, message: str) -> SqsError:
    return SqsError(message, code=f"AWS.SimpleQueueService.{name}", json_type=name)


def check_batch(entries: list[dict[str, Any]] | None, entry_name: str) -> list[dict[str, Any]]:
    """AWS's whole-batch checks: 1..10 entries with distinct, well-formed ids."""
    if not entries:
        raise _batch_error("EmptyBatchRequest", f"There should be at least one {entry_name} in the request.")
    if len(entries) > MAX_BATCH:
        raise _batch_error("TooManyEntriesInBatchRequest",
                           f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}.")
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _BATCH_ID.fullmatch(entry_id):
            raise _batch_error("InvalidBatchEntryId",
                               "A batch entry id can only contain alphanumeric characters, hyphens and "
                               "underscores. It can be at most 80 letters long.")
        if entry_id in seen:
            raise _batch_error("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return entries


# -- message attributes -----------------------------------------------------------------------------

def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """MD5OfMessageAttributes as AWS computes it: for each attribute by name, length-prefixed
    (4-byte big-endian) name and data type, a transport byte (1 string, 2 binary) and the
    length-prefixed value."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        attribute = attributes[name]
        for text in (name, attribute["DataType"]):
            raw = text.encode()
            digest.update(struct.pack(">I", len(raw)) + raw)
        if "BinaryValue" in attribute:
            raw = attribute["BinaryValue"]
            digest.update(b"\x02" + struct.pack(">I", len(raw)) + raw)
        else:
            raw = attribute["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def validate_message_attributes(attributes: Mapping[str, Any] | None) -> tuple[dict[str, dict[str, Any]], int]:
    """Checked copy of message attributes (`{name: {DataType, StringValue|BinaryValue}}`) and the
    bytes they count against the message size."""
    if not attributes:
        return {}, 0
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise invalid_value(f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
                            f"[{MAX_MESSAGE_ATTRIBUTES}].")
    out: dict[str, dict[str, Any]] = {}
    size = 0
    for name, value in attributes.items():
        lowered = name.lower()
        if (not _ATTRIBUTE_NAME.fullmatch(name) or name.startswith(".") or name.endswith(".") or ".." in name
                or lowered.startswith(("aws.", "amazon."))):
            raise invalid_value(f"Message (user) attribute name '{name}' is invalid. The attribute name can "
                                "contain only A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) "
                                "characters, and must not start with AWS. or Amazon.")
        if not isinstance(value, Mapping):
            raise invalid_value(f"Message (user) attribute '{name}' must contain a non-empty attribute type.")
        data_type = value.get("DataType") or ""
        if not data_type:
            raise invalid_value(f"Message (user) attribute '{name}' must contain a non-empty attribute type.")
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary") or len(data_type) > 256:
            raise invalid_value(f"The type of message (user) attribute '{name}' is invalid. You must use only "
                                "the following supported type prefixes: Binary, Number, String.")
        if base == "Binary":
            raw = value.get("BinaryValue")
            if isinstance(raw, str):
                raw = raw.encode()
            if not raw:
                raise invalid_value(f"Message (user) attribute '{name}' must contain a non-empty value of type "
                                    "'Binary'.")
            out[name] = {"DataType": data_type, "BinaryValue": bytes(raw)}
            size += len(raw)
        else:
            text = value.get("StringValue")
            if text is None or text == "":
                raise invalid_value(f"Message (user) attribute '{name}' must contain a non-empty value of type "
                                    f"'{base}'.")
            if base == "Number":
                try:
                    float(text)
                except ValueError:
                    raise invalid_value(f"Can't cast the value of message (user) attribute '{name}' to a "
                                        "number.") from None
            if _INVALID_CHARS.search(text):
                raise SqsError(f"Message (user) attribute '{name}' contains invalid characters.",
                               code="InvalidMessageContents")
            out[name] = {"DataType": data_type, "StringValue": text}
            size += len(text.encode())
        size += len(name.encode()) + len(data_type.encode())
    return out, size


def _attributes_to_json(attributes: Mapping[str, Mapping[str, Any]]) -> str | None:
    if not attributes:
        return None
    return json.dumps({name: ({"DataType": a["DataType"], "BinaryValue": base64.b64encode(a["BinaryValue"]).decode()}
                              if "BinaryValue" in a else dict(a)) for name, a in attributes.items()})


def _attributes_from_json(text: str | None) -> dict[str, dict[str, Any]]:
    if not text:
        return {}
    out = json.loads(text)
    for attribute in out.values():
        if "BinaryValue" in attribute:
            attribute["BinaryValue"] = base64.b64decode(attribute["BinaryValue"])
    return out


def _select_names(available: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """Message attribute names a receiver asked for: All, .*, prefix.* or exact names."""
    wanted = list(wanted)
    if not wanted:
        return []
    if "All" in wanted or ".*" in wanted:
        return list(available)
    prefixes = [w[:-2] for w in wanted if w.endswith(".*")]
    exact = set(wanted)
    return [name for name in available if name in exact or any(name.startswith(p) for p in prefixes)]


# -- queues -----------------------------------------------------------------------------------------

@dataclass(eq=False)
class Queue:
    id: int
    account: str
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created: int  # seconds
    modified: int  # seconds
    arn: str = ""
    url: str = ""
    purged_at: float = 0.0
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def setting(self, name: str) -> str:
        return self.attributes.get(name) or DEFAULTS.get(name) or FIFO_DEFAULTS.get(name, "")

    def int_setting(self, name: str) -> int:
        return int(self.setting(name))

    @property
    def redrive(self) -> tuple[str, int] | None:
        text = self.attributes.get("RedrivePolicy")
        if not text:
            return None
        policy = json.loads(text)
        return policy["deadLetterTargetArn"], int(policy["maxReceiveCount"])


@dataclass(slots=True)
class SendEntry:
    """One message to send (the Python-side shape of a SendMessage request)."""

    body: str
    attributes: Mapping[str, Any] | None = None
    delay_seconds: int | None = None
    group_id: str | None = None
    dedup_id: str | None = None
    system_attributes: Mapping[str, Any] | None = None
    id: str = ""  # batch entry id


@dataclass(slots=True)
class SendResult:
    message_id: str
    md5_body: str
    md5_attributes: str | None = None
    md5_system_attributes: str | None = None
    sequence_number: str | None = None
    id: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"MessageId": self.message_id, "MD5OfMessageBody": self.md5_body}
        if self.md5_attributes:
            out["MD5OfMessageAttributes"] = self.md5_attributes
        if self.md5_system_attributes:
            out["MD5OfMessageSystemAttributes"] = self.md5_system_attributes
        if self.sequence_number:
            out["SequenceNumber"] = self.sequence_number
        return out


def _encode_receipt(queue_id: int, row_id: int, message_id: str, nonce: str) -> str:
    raw = f"{queue_id}:{row_id}:{message_id}:{nonce}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_receipt(handle: str) -> tuple[int, int, str, str] | None:
    try:
        raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4)).decode()
        queue_id, row_id, message_id, nonce = raw.split(":")
        return int(queue_id), int(row_id), message_id, nonce
    except (ValueError, UnicodeDecodeError):
        return None


class SqsService:
    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.region = config.region
        self.public_base = f"http://{config.public_host}:{config.port}"
        store.ensure_schema(SCHEMA)
        self._by_id: dict[int, Queue] = {}
        self._by_name: dict[tuple[str, str], Queue] = {}
        for row in store.all("SELECT * FROM sqs_queues"):
            self._remember(Queue(row["id"], row["account"], row["name"], json.loads(row["attributes"]),
                                 json.loads(row["tags"]), row["created"], row["modified"]))

    # -- naming -------------------------------------------------------------------------------------
    def arn(self, account: str, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{account}:{name}"

    def url(self, account: str, name: str) -> str:
        return f"{self.public_base}/{account}/{name}"

    def _remember(self, queue: Queue) -> None:
        queue.arn = self.arn(queue.account, queue.name)
        queue.url = self.url(queue.account, queue.name)
        self._by_id[queue.id] = queue
        self._by_name[(queue.account, queue.name)] = queue

    def _forget(self, queue: Queue) -> None:
        self._by_id.pop(queue.id, None)
        self._by_name.pop((queue.account, queue.name), None)
        self._wake(queue)

    def find(self, ref: str, account: str | None = None) -> Queue | None:
        """A queue by ARN, URL (any host), `/account/name` path, or bare name (with `account`)."""
        if ref.startswith("arn:"):
            parts = ref.split(":")
            if len(parts) != 6 or parts[2] != "sqs":
                return None
            return self._by_name.get((parts[4], parts[5]))
        if "/" in ref:
            path = urlsplit(ref).path if "://" in ref else ref
            segments = [s for s in path.split("/") if s]
            if len(segments) != 2:
                return None
            return self._by_name.get((segments[0], segments[1]))
        return self._by_name.get((account, ref)) if account else None

    def get(self, ref: str, account: str | None = None) -> Queue:
        queue = self.find(ref, account)
        if queue is None:
            raise queue_does_not_exist()
        return queue

    def queue_exists(self, ref: str) -> bool:
        return self.find(ref) is not None

    def queues(self, account: str, prefix: str = "") -> list[Queue]:
        return sorted((q for (acct, name), q in self._by_name.items() if acct == account and name.startswith(prefix)),
                      key=lambda q: q.name)

    # -- queue lifecycle ----------------------------------------------------------------------------
    def create_queue(self, account: str, name: str, attributes: Mapping[str, str] | None = None,
                     tags: Mapping[str, str] | None = None) -> Queue:
        attributes = dict(attributes or {})
        fifo = attributes.get("FifoQueue")
        if fifo is not None and fifo != "true":
            if fifo.lower() == "false" and not name.endswith(".fifo"):
                raise invalid_attribute_name("Unknown Attribute FifoQueue.")
            raise invalid_attribute_value("FifoQueue")
        if fifo == "true":
            if not _FIFO_NAME.fullmatch(name):
                raise invalid_value("The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                                    "or underscores, must end with .fifo suffix and be 1 to 80 in length.")
        elif not _QUEUE_NAME.fullmatch(name):
            raise invalid_value("Can only include alphanumeric characters, hyphens, or underscores. "
                                "1 to 80 in length")
        clean = self._validate_attributes(attributes, fifo=fifo == "true", creating=True)
        existing = self._by_name.get((account, name))
        if existing is not None:
            current = self.get_attributes(existing, ["All"])
            for key, value in clean.items():
                if current.get(key, "") != value:
                    raise SqsError(f"A queue already exists with the same name and a different value for "
                                   f"attribute {key}", code="QueueAlreadyExists", json_type="QueueNameExists")
            return existing
        now = int(time.time())
        clean = {k: v for k, v in clean.items() if v != ""}
        if fifo == "true":
            clean["FifoQueue"] = "true"
        cursor = self.store.execute(
            "INSERT INTO sqs_queues (account, name, attributes, tags, created, modified) VALUES (?,?,?,?,?,?)",
            (account, name, json.dumps(clean), json.dumps(dict(tags or {})), now, now))
        queue = Queue(int(cursor.lastrowid or 0), account, name, clean, dict(tags or {}), now, now)
        self._remember(queue)
        return queue

    def delete_queue(self, queue: Queue) -> None:
        with self.store.transaction():
            self.store.execute("DELETE FROM sqs_messages WHERE queue_id=?", (queue.id,))
            self.store.execute("DELETE FROM sqs_dedup WHERE queue_id=?", (queue.id,))
            self.store.execute("DELETE FROM sqs_queues WHERE id=?", (queue.id,))
        self._forget(queue)

    def purge(self, queue: Queue) -> None:
        now = time.monotonic()
        if queue.purged_at and now - queue.purged_at < PURGE_INTERVAL:
            raise SqsError(f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds.",
                           code="AWS.SimpleQueueService.PurgeQueueInProgress", json_type="PurgeQueueInProgress",
                           status=403)
        queue.purged_at = now
        self.store.execute("DELETE FROM sqs_messages WHERE queue_id=?", (queue.id,))

    def tag(self, queue: Queue, tags: Mapping[str, str]) -> None:
        queue.tags.update(tags)
        self.store.execute("UPDATE sqs_queues SET tags=? WHERE id=?", (json.dumps(queue.tags), queue.id))

    def untag(self, queue: Queue, keys: Iterable[str]) -> None:
        for key in keys:
            queue.tags.pop(key, None)
        self.store.execute("UPDATE sqs_queues SET tags=? WHERE id=?", (json.dumps(queue.tags), queue.id))

    # -- attributes ---------------------------------------------------------------------------------
    def _validate_attributes(self, attributes: Mapping[str, str], *, fifo: bool, creating: bool,
                             queue: Queue | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in attributes.items():
            value = "" if value is None else str(value)
            if name == "FifoQueue":
                if not creating:
                    if not fifo:
                        raise invalid_attribute_name("Unknown Attribute FifoQueue.")
                    if value.lower() != "true":  # "true" again is a no-op
                        raise invalid_attribute_value("FifoQueue", "Modifying queue type is not supported.")
                continue
            if name in FIFO_ONLY:
                if not fifo:
                    if name == "ContentBasedDeduplication":
                        raise invalid_attribute_name(f"Unknown Attribute {name}.")
                    raise invalid_attribute_name(f"You can specify the {name} only when FifoQueue is set to true.")
                allowed = {"ContentBasedDeduplication": ("true", "false"),
                           "DeduplicationScope": ("queue", "messageGroup"),
                           "FifoThroughputLimit": ("perQueue", "perMessageGroupId")}[name]
                if name == "ContentBasedDeduplication":
                    value = value.lower()
                if value not in allowed:
                    raise invalid_attribute_value(name)
                out[name] = value
                continue
            if name not in SETTABLE:
                raise invalid_attribute_name(f"Unknown Attribute {name}.")
            if name in _INT_RANGES and value != "":
                low, high = _INT_RANGES[name]
                try:
                    number = int(value)
                except ValueError:
                    raise invalid_attribute_value(name) from None
                if not low <= number <= high:
                    raise invalid_attribute_value(name)
                value = str(number)
            elif name == "SqsManagedSseEnabled":
                value = value.lower()
                if value not in ("true", "false"):
                    raise invalid_attribute_value(name)
            elif name in _JSON_ATTRIBUTES and value != "":
                try:
                    parsed = safejson.loads(value)
                except ValueError:
                    if name == "RedrivePolicy":
                        raise invalid_attribute_value(name, "Redrive policy is not a valid JSON map.") from None
                    raise invalid_attribute_value(name) from None
                if not isinstance(parsed, dict):
                    raise invalid_attribute_value(name)
                if name == "RedrivePolicy":
                    value = self._check_redrive(parsed, value, fifo)
            out[name] = value
        if out.get("KmsMasterKeyId") and out.get("SqsManagedSseEnabled") == "true":
            raise invalid_attribute_name("You can use one type of server-side encryption (SSE) at one time. You can "
                                         "either enable KMS SSE or SQS SSE.")
        if out.get("KmsMasterKeyId"):
            out.setdefault("SqsManagedSseEnabled", "false")
        return out

    def _check_redrive(self, policy: dict[str, Any], text: str, fifo: bool) -> str:
        target = policy.get("deadLetterTargetArn")
        count = policy.get("maxReceiveCount")
        if not isinstance(target, str) or count is None:
            raise invalid_parameter("RedrivePolicy", text, "Redrive policy does not contain mandatory attribute: "
                                    + ("deadLetterTargetArn." if not isinstance(target, str) else "maxReceiveCount."))
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise invalid_parameter("RedrivePolicy", text, "Invalid value for maxReceiveCount: "
                                    f"{policy.get('maxReceiveCount')}, valid values are from 1 to 1000 both "
                                    "inclusive.") from None
        if not 1 <= count <= 1000:
            raise invalid_parameter("RedrivePolicy", text, f"Invalid value for maxReceiveCount: {count}, valid "
                                    "values are from 1 to 1000 both inclusive.")
        parts = target.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
            raise invalid_parameter("RedrivePolicy", text, "Invalid value for deadLetterTargetArn.")
        dlq = self.find(target)
        if dlq is None:
            raise invalid_parameter("RedrivePolicy", text, "Dead letter target does not exist.")
        if dlq.fifo != fifo:
            raise invalid_parameter("RedrivePolicy", text, "Dead-letter queue must be same type of queue as the "
                                    "source.")
        return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": count}, separators=(",", ":"))

    def set_attributes(self, queue: Queue, attributes: Mapping[str, str]) -> None:
        clean = self._validate_attributes(attributes, fifo=queue.fifo, creating=False, queue=queue)
        for name, value in clean.items():
            if value == "":
                queue.attributes.pop(name, None)
            else:
                queue.attributes[name] = value
        if clean.get("KmsMasterKeyId") == "":
            queue.attributes.pop("KmsDataKeyReusePeriodSeconds", None)
        queue.modified = int(time.time())
        self.store.execute("UPDATE sqs_queues SET attributes=?, modified=? WHERE id=?",
                           (json.dumps(queue.attributes), queue.modified, queue.id))
        self._wake(queue)

    def get_attributes(self, queue: Queue, names: Iterable[str]) -> dict[str, str]:
        names = list(names)
        for name in names:
            if name != "All" and name not in READABLE:
                raise invalid_attribute_name(f"Unknown Attribute {name}.")
        if not names:
            return {}
        everything = "All" in names
        out: dict[str, str] = {}
        wanted = READABLE if everything else set(names)
        if wanted & {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                     "ApproximateNumberOfMessagesDelayed"}:
            visible, in_flight, delayed = self.counts(queue)
            out["ApproximateNumberOfMessages"] = str(visible)
            out["ApproximateNumberOfMessagesNotVisible"] = str(in_flight)
            out["ApproximateNumberOfMessagesDelayed"] = str(delayed)
        out["CreatedTimestamp"] = str(queue.created)
        out["LastModifiedTimestamp"] = str(queue.modified)
        out["QueueArn"] = queue.arn
        for name in DEFAULTS:
            out[name] = queue.setting(name)
        if queue.fifo:
            out["FifoQueue"] = "true"
            for name in FIFO_DEFAULTS:
                out[name] = queue.setting(name)
        for name, value in queue.attributes.items():
            out[name] = value
        if out.get("KmsMasterKeyId"):
            out.setdefault("KmsDataKeyReusePeriodSeconds", "300")
        return {k: v for k, v in sorted(out.items()) if k in wanted}

    def counts(self, queue: Queue) -> tuple[int, int, int]:
        """(visible, in flight, delayed) message counts."""
        now = now_ms()
        row = self.store.one(
            "SELECT COALESCE(SUM(visible_at<=?),0) AS v, COALESCE(SUM(visible_at>? AND receive_count>0),0) AS f, "
            "COALESCE(SUM(visible_at>? AND receive_count=0),0) AS d FROM sqs_messages WHERE queue_id=? "
            "AND expires_at>?", (now, now, now, queue.id, now))
        assert row is not None
        return int(row["v"]), int(row["f"]), int(row["d"])

    def dead_letter_sources(self, queue: Queue) -> list[Queue]:
        return sorted((q for q in self._by_id.values() if q.redrive and q.redrive[0] == queue.arn),
                      key=lambda q: q.name)

    # -- permissions (AddPermission / RemovePermission edit the Policy attribute) -------------------
    def add_permission(self, queue: Queue, label: str, accounts: list[str], actions: list[str]) -> None:
        policy = json.loads(queue.attributes.get("Policy") or "null") or {
            "Version": "2008-10-17", "Id": f"{queue.arn}/SQSDefaultPolicy", "Statement": []}
        statements = policy.setdefault("Statement", [])
        if any(s.get("Sid") == label for s in statements):
            raise invalid_parameter("Label", label, "Already exists.")
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        names = [a if a == "*" else f"SQS:{a}" for a in actions]
        statements.append({"Sid": label, "Effect": "Allow",
                           "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                           "Action": names[0] if len(names) == 1 else names, "Resource": queue.arn})
        self.set_attributes(queue, {"Policy": json.dumps(policy)})

    def remove_permission(self, queue: Queue, label: str) -> None:
        policy = json.loads(queue.attributes.get("Policy") or "null") or {}
        statements = policy.get("Statement", [])
        kept = [s for s in statements if s.get("Sid") != label]
        if len(kept) == len(statements):
            raise invalid_parameter("Label", label, "can't find label.")
        policy["Statement"] = kept
        self.set_attributes(queue, {"Policy": json.dumps(policy) if kept else ""})

    # -- sending ------------------------------------------------------------------------------------
    async def send_message(self, queue: str, body: str, attributes: Mapping[str, Any] | None = None, *,
                           delay_seconds: int | None = None, group_id: str | None = None,
                           dedup_id: str | None = None, system_attributes: Mapping[str, Any] | None = None,
                           sender: str | None = None) -> SendResult:
        """Send one message to a queue given by ARN or URL (the entry point for destinations and
        dead-letter queues). Raises `SqsError` (QueueDoesNotExist, InvalidParameterValue...)."""
        target = self.get(queue)
        entry = SendEntry(body, attributes, delay_seconds, group_id, dedup_id, system_attributes)
        result = self.send(target, [entry], sender or target.account)[0]
        if isinstance(result, SqsError):  # cannot happen: a single send raises rather than returning errors
            raise result
        return result

    def send(self, queue: Queue, entries: list[SendEntry], sender: str,
             *, batch: bool = False) -> list[SendResult | SqsError]:
        """Send entries in one transaction. Single sends raise; batch sends return per-entry errors."""
        now = now_ms()
        max_size = queue.int_setting("MaximumMessageSize")
        retention = queue.int_setting("MessageRetentionPeriod") * 1000
        if batch and queue.fifo:
            # These fail the whole batch on AWS, not just the entry.
            for entry in entries:
                if entry.group_id is None:
                    raise invalid_value("The request must contain the parameter MessageGroupId.")
                if entry.dedup_id is None and queue.setting("ContentBasedDeduplication") != "true":
                    raise invalid_value("The queue should either have ContentBasedDeduplication enabled or "
                                        "MessageDeduplicationId provided explicitly")
        rows: list[tuple[int, SendEntry, dict[str, Any]]] = []
        results: list[SendResult | SqsError | None] = [None] * len(entries)
        for index, entry in enumerate(entries):
            try:
                rows.append((index, entry, self._prepare(queue, entry, max_size, batch)))
            except SqsError as exc:
                if not batch:
                    raise
                results[index] = exc
        if not rows:
            return results  # type: ignore[return-value]
        inserted = False
        with self.store.transaction():
            for index, entry, prepared in rows:
                result = self._insert(queue, entry, prepared, now, retention, sender)
                result.id = entry.id
                results[index] = result
                inserted = inserted or prepared.get("inserted", True)
        if inserted:
            self._wake(queue)
        return results  # type: ignore[return-value]

    def _prepare(self, queue: Queue, entry: SendEntry, max_size: int, batch: bool) -> dict[str, Any]:
        body = entry.body
        if body is None or body == "":
            raise missing_parameter("MessageBody")
        if _INVALID_CHARS.search(body):
            raise SqsError("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to "
                           "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", code="InvalidMessageContents")
        attributes, attribute_bytes = validate_message_attributes(entry.attributes)
        system: dict[str, Any] = {}
        if entry.system_attributes:
            for name, value in entry.system_attributes.items():
                if name != "AWSTraceHeader":
                    raise invalid_value(f"Message system attribute name '{name}' is invalid.")
                if value.get("DataType") != "String" or not value.get("StringValue"):
                    raise invalid_value("Message system attribute 'AWSTraceHeader' must contain a non-empty value "
                                        "of type 'String'.")
                system[name] = {"DataType": "String", "StringValue": value["StringValue"]}
        size = len(body.encode()) + attribute_bytes
        if size > max_size:
            reason = "cannot be validated" if batch else "are invalid"
            raise invalid_value(f"One or more parameters {reason}. Reason: Message must be shorter than "
                                f"{max_size} bytes.")
        delay = entry.delay_seconds
        if delay is not None:
            if not 0 <= delay <= MAX_DELAY:
                raise invalid_parameter("DelaySeconds", delay, "DelaySeconds must be >= 0 and <= 900.")
            if queue.fifo and delay != 0:
                raise invalid_parameter("DelaySeconds", delay, "The request include parameter that is not valid "
                                        "for this queue type.")
        if delay is None or (queue.fifo and delay == 0):
            delay = queue.int_setting("DelaySeconds")
        group_id, dedup_id = entry.group_id, entry.dedup_id
        if group_id is not None and not _TOKEN.fullmatch(group_id):
            raise invalid_parameter("MessageGroupId", group_id, "MessageGroupId can only include alphanumeric and "
                                    "punctuation characters. 1 to 128 in length.")
        if dedup_id is not None:
            if not queue.fifo:
                raise invalid_parameter("MessageDeduplicationId", dedup_id, "The request includes a parameter that "
                                        "is not valid for this queue type.")
            if not _TOKEN.fullmatch(dedup_id):
                raise invalid_parameter("MessageDeduplicationId", dedup_id, "MessageDeduplicationId can only "
                                        "include alphanumeric and punctuation characters. 1 to 128 in length.")
        if queue.fifo:
            if group_id is None:
                raise missing_parameter("MessageGroupId")
            if dedup_id is None:
                if queue.setting("ContentBasedDeduplication") != "true":
                    raise invalid_value("The queue should either have ContentBasedDeduplication enabled or "
                                        "MessageDeduplicationId provided explicitly")
                dedup_id = hashlib.sha256(body.encode()).hexdigest()
        return {"attributes": attributes, "system": system, "delay": delay, "group_id": group_id,
                "dedup_id": dedup_id}

    def _insert(self, queue: Queue, entry: SendEntry, p: dict[str, Any], now: int, retention: int,
                sender: str) -> SendResult:
        attributes, system = p["attributes"], p["system"]
        md5_body = md5_hex(entry.body)
        md5_attrs = md5_of_attributes(attributes) if attributes else None
        md5_system = md5_of_attributes(system) if system else None
        dedup_key = None
        if queue.fifo:
            dedup_key = p["dedup_id"]
            if queue.setting("DeduplicationScope") == "messageGroup":
                dedup_key = f"{p['group_id']}\x00{dedup_key}"
            seen = self.store.one("SELECT message_id, seq FROM sqs_dedup WHERE queue_id=? AND dedup_key=? "
                                  "AND expires_at>?", (queue.id, dedup_key, now))
            if seen is not None:
                # A duplicate inside the 5-minute window: accepted, not delivered again.
                p["inserted"] = False
                return SendResult(seen["message_id"], md5_body, md5_attrs, md5_system, seen["seq"])
        message_id = str(uuid.uuid4())
        stored_system = dict(system)
        stored_system["SenderId"] = sender
        cursor = self.store.execute(
            "INSERT INTO sqs_messages (queue_id, message_id, body, md5, attributes, system, sent, visible_at, "
            "expires_at, group_id, dedup_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (queue.id, message_id, entry.body, md5_body, _attributes_to_json(attributes),
             json.dumps(stored_system), now, now + p["delay"] * 1000, now + retention, p["group_id"],
             p["dedup_id"]))
        seq = None
        if queue.fifo:
            seq = str(_SEQ_BASE + int(cursor.lastrowid or 0))
            self.store.execute("INSERT OR REPLACE INTO sqs_dedup (queue_id, dedup_key, expires_at, message_id, seq) "
                               "VALUES (?,?,?,?,?)", (queue.id, dedup_key, now + DEDUP_WINDOW_MS, message_id, seq))
        return SendResult(message_id, md5_body, md5_attrs, md5_system, seq)

    # -- receiving ----------------------------------------------------------------------------------
    async def receive(self, queue: Queue, *, max_messages: int = 1, visibility_timeout: int | None = None,
                      wait_seconds: int | None = None, attribute_names: Iterable[str] = (),
                      message_attribute_names: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Receive up to `max_messages`, long-polling up to `wait_seconds` (queue default when None).
        Returns messages in the API's shape (MessageId, ReceiptHandle, MD5OfBody, Body, ...)."""
        if not 1 <= max_messages <= MAX_BATCH:
            raise invalid_parameter("MaxNumberOfMessages", max_messages, "Must be between 1 and 10, if provided.")
        if wait_seconds is None:
            wait_seconds = queue.int_setting("ReceiveMessageWaitTimeSeconds")
        elif not 0 <= wait_seconds <= MAX_WAIT:
            raise invalid_parameter("WaitTimeSeconds", wait_seconds, "Must be >= 0 and <= 20, if provided.")
        if visibility_timeout is not None and not 0 <= visibility_timeout <= MAX_VISIBILITY:
            raise invalid_parameter("VisibilityTimeout", visibility_timeout, "Must be between 0 and 43200, if "
                                    "provided.")
        deadline = time.monotonic() + wait_seconds
        attribute_names = list(attribute_names)
        message_attribute_names = list(message_attribute_names)
        while True:
            if queue.id not in self._by_id:
                raise queue_does_not_exist()
            vt = queue.int_setting("VisibilityTimeout") if visibility_timeout is None else visibility_timeout
            rows = self._take(queue, max_messages, vt)
            if rows:
                return [self._render(queue, row, attribute_names, message_attribute_names) for row in rows]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            nxt = self.store.one("SELECT MIN(visible_at) AS t FROM sqs_messages WHERE queue_id=? AND visible_at>?",
                                 (queue.id, now_ms()))
            if nxt is not None and nxt["t"] is not None:
                remaining = min(remaining, max(0.001, (nxt["t"] - now_ms()) / 1000))
            await self._wait(queue, remaining)

    def _take(self, queue: Queue, limit: int, visibility_timeout: int) -> list[Any]:
        """Hide up to `limit` receivable messages for `visibility_timeout` seconds and return them,
        moving messages past the redrive policy's maxReceiveCount to the dead-letter queue."""
        redrive = queue.redrive
        dlq = self.find(redrive[0]) if redrive else None
        taken: list[Any] = []
        seen: set[int] = set()
        moved = False
        now = now_ms()
        with self.store.transaction():
            while len(taken) < limit:
                # With a visibility timeout of 0 the rows just taken stay receivable: skip them.
                want = limit - len(taken) + len(seen)
                if queue.fifo:
                    rows = self.store.all(
                        "SELECT * FROM sqs_messages AS m WHERE m.queue_id=? AND m.visible_at<=? AND m.expires_at>? "
                        "AND NOT EXISTS (SELECT 1 FROM sqs_messages AS b WHERE b.queue_id=m.queue_id "
                        "AND b.group_id=m.group_id AND b.id<m.id AND b.visible_at>?) "
                        "ORDER BY m.id LIMIT ?", (queue.id, now, now, now, want))
                else:
                    rows = self.store.all(
                        "SELECT * FROM sqs_messages WHERE queue_id=? AND visible_at<=? AND expires_at>? "
                        "ORDER BY visible_at LIMIT ?", (queue.id, now, now, want))
                exhausted = len(rows) < want
                rows = [row for row in rows if row["id"] not in seen][:limit - len(taken)]
                if not rows:
                    break
                keep = []
                for row in rows:
                    seen.add(row["id"])
                    if dlq is not None and redrive is not None and row["receive_count"] >= redrive[1]:
                        self._move_to_dlq(row, queue, dlq, now)
                        moved = True
                    else:
                        keep.append(row)
                if keep:
                    nonce = secrets.token_hex(8)
                    ids = [row["id"] for row in keep]
                    marks = ",".join("?" * len(ids))
                    self.store.execute(
                        f"UPDATE sqs_messages SET visible_at=?, receive_count=receive_count+1, "
                        f"first_receive=COALESCE(first_receive, ?), receipt=? WHERE id IN ({marks})",
                        (now + visibility_timeout * 1000, now, nonce, *ids))
                    taken.extend((row, nonce, now) for row in keep)
                if exhausted:
                    break
        if moved and dlq is not None:
            self._wake(dlq)
        return taken

    def _move_to_dlq(self, row: Any, source: Queue, dlq: Queue, now: int) -> None:
        system = json.loads(row["system"] or "{}")
        system["DeadLetterQueueSourceArn"] = source.arn
        self.store.execute("UPDATE sqs_messages SET queue_id=?, visible_at=?, system=? WHERE id=?",
                           (dlq.id, now, json.dumps(system), row["id"]))

    def _render(self, queue: Queue, taken: tuple[Any, str, int], attribute_names: list[str],
                message_attribute_names: list[str]) -> dict[str, Any]:
        row, nonce, now = taken
        out: dict[str, Any] = {
            "MessageId": row["message_id"],
            "ReceiptHandle": _encode_receipt(queue.id, row["id"], row["message_id"], nonce),
            "MD5OfBody": row["md5"],
            "Body": row["body"],
        }
        if attribute_names:
            system = json.loads(row["system"] or "{}")
            values: dict[str, str] = {
                "ApproximateFirstReceiveTimestamp": str(row["first_receive"] or now),
                "ApproximateReceiveCount": str(row["receive_count"] + 1),
                "SenderId": system.get("SenderId", queue.account),
                "SentTimestamp": str(row["sent"]),
            }
            if "AWSTraceHeader" in system:
                values["AWSTraceHeader"] = system["AWSTraceHeader"]["StringValue"]
            if "DeadLetterQueueSourceArn" in system:
                values["DeadLetterQueueSourceArn"] = system["DeadLetterQueueSourceArn"]
            if row["group_id"] is not None:
                values["MessageGroupId"] = row["group_id"]
            if queue.fifo:
                values["MessageDeduplicationId"] = row["dedup_id"]
                values["SequenceNumber"] = str(_SEQ_BASE + row["id"])
            if "All" not in attribute_names:
                values = {k: v for k, v in values.items() if k in attribute_names}
            if values:
                out["Attributes"] = values
        if message_attribute_names and row["attributes"]:
            attributes = _attributes_from_json(row["attributes"])
            chosen = {name: attributes[name] for name in _select_names(attributes, message_attribute_names)}
            if chosen:
                out["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
                out["MessageAttributes"] = chosen
        return out

    # -- acknowledging ------------------------------------------------------------------------------
    def _locate(self, queue: Queue, handle: str) -> tuple[int, str, str]:
        decoded = _decode_receipt(handle) if handle else None
        if decoded is None or decoded[0] != queue.id:
            raise receipt_handle_invalid(handle)
        return decoded[1], decoded[2], decoded[3]

    def delete_message(self, queue: Queue, handle: str) -> None:
        row_id, message_id, nonce = self._locate(queue, handle)
        row = self.store.one("SELECT receipt, visible_at FROM sqs_messages WHERE id=? AND message_id=?",
                             (row_id, message_id))
        if row is None:
            return  # already deleted: AWS answers success
        if queue.fifo and (row["receipt"] != nonce or row["visible_at"] <= now_ms()):
            raise invalid_parameter("ReceiptHandle", handle, "The receipt handle has expired.")
        self.store.execute("DELETE FROM sqs_messages WHERE id=?", (row_id,))
        if queue.fifo:
            self._wake(queue)  # the group's next message may now be receivable

    def change_visibility(self, queue: Queue, handle: str, timeout: int) -> None:
        row_id, message_id, nonce = self._locate(queue, handle)
        if not 0 <= timeout <= MAX_VISIBILITY:
            raise invalid_parameter("VisibilityTimeout", timeout, "Must be between 0 and 43200, if provided.")
        row = self.store.one("SELECT receipt, visible_at FROM sqs_messages WHERE id=? AND message_id=?",
                             (row_id, message_id))
        if row is None:
            raise invalid_parameter("ReceiptHandle", handle, "Message does not exist or is not available for "
                                    "visibility timeout change.")
        now = now_ms()
        if queue.fifo and (row["receipt"] != nonce or row["visible_at"] <= now):
            raise invalid_parameter("ReceiptHandle", handle, "The receipt handle has expired.")
        self.store.execute("UPDATE sqs_messages SET visible_at=? WHERE id=?", (now + timeout * 1000, row_id))
        if timeout == 0:
            self._wake(queue)

    # -- waiting ------------------------------------------------------------------------------------
    async def _wait(self, queue: Queue, timeout: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.waiters.append(future)
        try:
            await asyncio.wait([future], timeout=timeout)
        finally:
            if not future.done():
                future.cancel()
                try:
                    queue.waiters.remove(future)
                except ValueError:
                    pass

    def _wake(self, queue: Queue) -> None:
        waiters, queue.waiters = queue.waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    # -- housekeeping -------------------------------------------------------------------------------
    def sweep(self) -> int:
        """Drop messages past their retention period and expired deduplication ids."""
        now = now_ms()
        cursor = self.store.execute("DELETE FROM sqs_messages WHERE expires_at<=?", (now,))
        self.store.execute("DELETE FROM sqs_dedup WHERE expires_at<=?", (now,))
        return cursor.rowcount

    async def run_sweeper(self, interval: float = 30.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.sweep()
            except Exception:  # keep sweeping; the store logs its own failures
                log.exception("sqs sweep failed")

    def statistics(self) -> dict[str, int]:
        row = self.store.one("SELECT COUNT(*) AS n FROM sqs_messages")
        return {"queues": len(self._by_id), "messages": int(row["n"]) if row else 0}
