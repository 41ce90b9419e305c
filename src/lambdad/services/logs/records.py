"""The records of CloudWatch Logs' domain: groups (with their streams and filters) and events."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from lambdad.services.logs.filter_pattern import FilterPattern


@dataclass(slots=True)
class LogStream:
    name: str
    created: int
    first_ts: int | None = None
    last_ts: int | None = None
    last_ingest: int | None = None
    stored: int = 0


@dataclass(slots=True)
class Filter:
    name: str
    pattern: FilterPattern
    body: dict[str, Any]  # what Describe*Filters returns


@dataclass(slots=True)
class LogGroup:
    account: str
    region: str
    name: str
    created: int
    retention: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    streams: dict[str, LogStream] = field(default_factory=dict)
    sorted_streams: list[str] = field(default_factory=list)  # names in order: prefix + paging
    metric_filters: dict[str, Filter] = field(default_factory=dict)
    subscriptions: dict[str, Filter] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.name}"

    def add_stream(self, stream: LogStream) -> None:
        self.streams[stream.name] = stream
        bisect.insort(self.sorted_streams, stream.name)

    def drop_stream(self, name: str) -> None:
        del self.streams[name]
        at = bisect.bisect_left(self.sorted_streams, name)
        del self.sorted_streams[at]


@dataclass(frozen=True, slots=True)
class Event:
    timestamp: int
    message: str


Position = tuple[int, int, int]  # (timestamp, row id, line in the row): the order events are read in


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: Position
    stream: str
    ingested: int
    message: str

    @property
    def timestamp(self) -> int:
        return self.position[0]

    @property
    def event_id(self) -> str:
        ts, row, line = self.position
        return f"{ts:019d}{row:019d}{line:05d}"
