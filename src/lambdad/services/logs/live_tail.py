"""Live Tail sessions: what `StartLiveTail` streams, fed by every committed write.

A session names log groups (and optionally streams or stream prefixes, and a filter pattern).
`publish` appends matching events to each interested session's buffer and wakes it; the wire
drains the buffer about once a second into a `sessionUpdate`. A buffer holds at most
MAX_BUFFERED events: beyond that the session is marked sampled and the surplus dropped, as AWS
samples a busy tail (it caps a session at 500 events a second).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from lambdad.services.logs.filter_pattern import FilterPattern
from lambdad.services.logs.records import Event, LogGroup

MAX_BUFFERED = 500
MAX_SESSIONS = 15  # AWS: concurrent Live Tail sessions per account


@dataclass(eq=False, slots=True)
class Session:
    account: str
    region: str
    groups: dict[str, str]  # group name -> the identifier the caller used
    streams: set[str] | None
    prefixes: list[str] | None
    pattern: FilterPattern
    buffer: list[dict[str, Any]] = field(default_factory=list)
    sampled: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, g: LogGroup, stream: str) -> bool:
        if g.account != self.account or g.region != self.region or g.name not in self.groups:
            return False
        if self.streams is not None and stream not in self.streams:
            return False
        return self.prefixes is None or any(stream.startswith(p) for p in self.prefixes)

    def take(self) -> tuple[list[dict[str, Any]], bool]:
        out, sampled = self.buffer, self.sampled
        self.buffer, self.sampled = [], False
        self.wake.clear()
        return out, sampled


class LiveTail:
    def __init__(self) -> None:
        self.sessions: set[Session] = set()

    def count(self, account: str) -> int:
        return sum(1 for s in self.sessions if s.account == account)

    def publish(self, g: LogGroup, stream: str, events: list[Event], now: int) -> None:
        for session in self.sessions:
            if not session.wants(g, stream):
                continue
            for e in events:
                if not session.pattern.matches(e.message):
                    continue
                if len(session.buffer) >= MAX_BUFFERED:
                    session.sampled = True
                    break
                session.buffer.append({"logStreamName": stream, "logGroupIdentifier": session.groups[g.name],
                                       "message": e.message, "timestamp": e.timestamp, "ingestionTime": now})
            if session.buffer:
                session.wake.set()
