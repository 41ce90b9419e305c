"""FilterCriteria: EventBridge's pattern language (lambdad/event_patterns.py) applied to each record.

A record passes when any of the mapping's patterns matches it. What a pattern sees is the record as
the function would, with its data field parsed as JSON when it is JSON (SQS `body`; Kinesis `data`
after base64), so `{"body": {"kind": ["order"]}}` matches a JSON body and `{"body": ["ping"]}` a
plain one. Records no pattern matches are not sent to the function; for SQS they are deleted, as AWS
does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from lambdad import safejson
from lambdad.errors import InvalidParameterValueException
from lambdad.event_patterns import EventPattern, InvalidEventPattern, compile_pattern

INVALID = "Invalid filter pattern definition."


def compile_filter(pattern: Any) -> EventPattern:
    if not isinstance(pattern, str) or not pattern.strip():
        raise InvalidParameterValueException(INVALID)
    try:
        return compile_pattern(pattern)
    except InvalidEventPattern as exc:
        raise InvalidParameterValueException(INVALID) from exc


class RecordFilter:
    """The compiled patterns of one mapping; `data_field` names the record field parsed as JSON."""

    def __init__(self, patterns: Sequence[str], data_field: str | None, *, base64_data: bool = False) -> None:
        self.patterns = [compile_filter(p) for p in patterns]
        self.data_field = data_field
        self.base64_data = base64_data

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def view(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        """The record as patterns see it."""
        field = self.data_field
        if field is None or field not in record:
            return record
        raw = record[field]
        if not isinstance(raw, str):
            return record
        if self.base64_data:
            try:
                raw = base64.b64decode(raw, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return record
        try:
            parsed = safejson.loads(raw)
        except ValueError:
            return record if not self.base64_data else {**record, field: raw}
        return {**record, field: parsed}

    def matches(self, record: Mapping[str, Any]) -> bool:
        if not self.patterns:
            return True
        view = self.view(record)
        return any(p.matches(view) for p in self.patterns)
