"""What the engine needs of an event source, and nothing more.

Two families, as on AWS:

- a **queue** (SQS) is polled: records are received (hidden from other consumers for a visibility
  timeout), and the engine deletes those that succeeded; a failed record simply becomes visible again
  when its visibility timeout ends (the queue's redrive policy moves it to a dead-letter queue after
  maxReceiveCount receives). `QueueSource` opens a `QueueReader` per mapping.
- a **stream** (DynamoDB Streams, Kinesis) is read: records live on shards in order, read through
  iterators from a starting position, and the engine checkpoints the last sequence number processed
  per shard (`StreamSource`; the checkpoint table is the engine's, so a source only reads).

A source also answers the create-time questions: does this ARN exist, is it FIFO, may the function's
execution role read it (AWS checks the role when the mapping is created or updated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SourceInfo:
    arn: str
    fifo: bool = False


class Source(Protocol):
    #: the service part of the ARNs this source reads ("sqs", "dynamodb", "kinesis")
    kind: str

    def describe(self, arn: str, account: str, region: str) -> SourceInfo:
        """The source an ARN names, or InvalidParameterValueException in AWS's words when there is none."""
        ...

    def denied_action(self, role_arn: str, function_name: str, arn: str) -> str | None:
        """The first API the execution role may not call on the source (AWS's order), None if it may."""
        ...


# -- queues -----------------------------------------------------------------------------------------

@dataclass(slots=True)
class QueueRecord:
    """One received record: `event` is the record as the function sees it (the SQS event record)."""

    id: str  # messageId: what ReportBatchItemFailures names
    event: dict[str, Any]
    size: int  # bytes it adds to the invocation payload
    group: str | None = None  # FIFO message group
    handle: str = ""  # what the source needs to delete it or change its visibility


class QueueReader(Protocol):
    fifo: bool

    @property
    def visibility_timeout(self) -> float:
        """Seconds a received record stays hidden (the queue's setting, read at each receive)."""
        ...

    async def receive(self, limit: int, wait_seconds: float) -> list[QueueRecord]:
        """Up to `limit` records, waiting at most `wait_seconds` for the first one (woken by a send)."""
        ...

    def delete(self, records: Sequence[QueueRecord]) -> int:
        """Delete records this reader still holds (not received again by anyone since); how many."""
        ...

    def extend(self, records: Sequence[QueueRecord], seconds: float) -> None:
        """Keep records hidden `seconds` longer (a batch still running)."""
        ...

    def release(self, records: Sequence[QueueRecord]) -> None:
        """Make records visible now (received but never handed to the function)."""
        ...

    def backlog(self) -> int:
        """Records waiting to be received (to scale pollers)."""
        ...


class QueueSource(Source, Protocol):
    def open(self, arn: str) -> QueueReader:
        """A reader of the queue; raises the source's error when the queue is gone."""
        ...


# -- streams ----------------------------------------------------------------------------------------

@dataclass(slots=True)
class StreamRecord:
    sequence: str  # ordered within its shard (compared as integers when they are digits)
    event: dict[str, Any]  # the record as the function sees it
    size: int
    arrival: float  # seconds since the epoch (MaximumRecordAgeInSeconds is measured from it)


@dataclass(slots=True)
class StreamBatch:
    records: list[StreamRecord]
    next_iterator: str | None  # None: the shard is closed and read to its end


class StreamSource(Source, Protocol):
    def shards(self, arn: str) -> list[str]:
        """The stream's open shards (and closed ones not yet read to their end)."""
        ...

    def iterator(self, arn: str, shard: str, position: str, timestamp: float | None,
                 after_sequence: str | None) -> str:
        """An iterator: after `after_sequence` (a checkpoint) when given, else at `position`
        (TRIM_HORIZON, LATEST, AT_TIMESTAMP with `timestamp`)."""
        ...

    async def read(self, iterator: str, limit: int, wait_seconds: float) -> StreamBatch:
        """Up to `limit` records from the iterator, waiting at most `wait_seconds` for new ones."""
        ...

    def wrap(self, arn: str, records: Sequence[StreamRecord]) -> Mapping[str, Any]:
        """The invocation event for a batch (`{"Records": [...]}` for DynamoDB and Kinesis)."""
        ...
