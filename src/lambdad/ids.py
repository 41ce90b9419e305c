"""Identifiers minted on the hot path: request ids and X-Ray trace headers.

They must be unique, not secret, so they come from `random.getrandbits` (a few hundred ns)
rather than `uuid.uuid4()` (os.urandom plus UUID object formatting, several µs).
"""

from __future__ import annotations

import random
import time

_bits = random.getrandbits


def request_id() -> str:
    """A UUID-4-shaped id, as AWS request ids are."""
    h = f"{_bits(128) | (1 << 127):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def trace_header() -> str:
    """An `_X_AMZN_TRACE_ID` value for an unsampled invocation."""
    return (f"Root=1-{int(time.time()):08x}-{_bits(96):024x};Parent={_bits(64):016x};Sampled=0;"
            "Lineage=1:0:0")
