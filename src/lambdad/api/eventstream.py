"""The AWS event stream encoding (`application/vnd.amazon.eventstream`): what botocore's
EventStream parser reads for operations whose output streams (CloudWatch Logs' StartLiveTail).

    message := total_length:u32 headers_length:u32 prelude_crc:u32 headers payload message_crc:u32
    header  := name_length:u8 name type:u8 (7 = string) value_length:u16 value
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

CONTENT_TYPE = b"application/vnd.amazon.eventstream"


def message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(struct.pack("!B", len(k.encode())) + k.encode() + b"\x07" + struct.pack("!H", len(v.encode()))
                       + v.encode() for k, v in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    head = prelude + struct.pack("!I", zlib.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    return message({":message-type": "event", ":event-type": event_type, ":content-type": "application/json"},
                   json.dumps(payload).encode())


def exception(code: str, text: str) -> bytes:
    return message({":message-type": "exception", ":exception-type": code, ":content-type": "application/json"},
                   json.dumps({"message": text}).encode())
