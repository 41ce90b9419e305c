"""Functions and payloads the scenarios share."""

from __future__ import annotations

import json

from benchmarks.context import Context
from benchmarks.server import LambdadServer

ECHO_HANDLER = "def handler(event, context):\n    return event\n"
JSON_HANDLER = "import json\n\n\ndef handler(event, context):\n    return json.dumps(event)\n"


def payload(size: int = 1024) -> bytes:
    """A JSON object of exactly `size` bytes."""
    empty = len(json.dumps({"data": ""}).encode())
    return json.dumps({"data": "x" * (size - empty)}).encode()


def echo_function(ctx: Context, srv: LambdadServer) -> str:
    """The echo function on the shared default server, deployed once per run."""
    return ctx.memo(f"echo-function-{srv.port}", lambda: srv.create_function("bench-echo", {"app.py": ECHO_HANDLER}))
