"""JSON from clients, with a nesting cap: `json.loads` of `[[[[...` 100,000 deep raises RecursionError
(an uncaught 500), and a document just under the interpreter's limit crashes the first recursive walk
after it (policy evaluation, `json.dumps`, shape decoding). `loads` refuses documents nested deeper
than `max_depth` with `JsonTooDeep`, a `ValueError` like every other malformed document, so each
caller's existing "not valid JSON" answer covers it.
"""

from __future__ import annotations

import json
from typing import Any

from lambdad.errors import LambdadError

# Deep enough for any real API document (SNS filter policies allow 5 levels, IAM policies need 4),
# shallow enough that every recursive walk of the result stays far from the recursion limit.
MAX_DEPTH = 64
# Function payloads (invoke payloads, results the front doors parse) may nest deeper, within what this
# interpreter's recursion limit parses.
PAYLOAD_MAX_DEPTH = 512


class JsonTooDeep(LambdadError, ValueError):
    """A document nested deeper than the cap; a ValueError too, like json's own decoding errors."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nesting depth exceeds the maximum allowed ({max_depth})")
        self.max_depth = max_depth


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    # A document with no more brackets than the cap cannot nest deeper: the common case costs two counts.
    opens = data.count("[") + data.count("{") if isinstance(data, str) else data.count(b"[") + data.count(b"{")
    if opens <= max_depth:
        return json.loads(data)
    try:
        value = json.loads(data)
    except RecursionError:
        raise JsonTooDeep(max_depth) from None
    if depth_exceeds(value, max_depth):
        raise JsonTooDeep(max_depth)
    return value


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether a parsed document nests lists/objects deeper than `max_depth` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > max_depth:
            return True
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return False
