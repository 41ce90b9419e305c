"""The warm-path floor: a bare ASGI app that echoes the request body, on lambdad's own HTTP stack.

Run as its own process (`python -m benchmarks.echo_app --port N`) with the uvicorn settings
`lambdad serve` uses (uvloop, httptools, no access log), so the only difference to lambdad is
lambdad's work: SigV4 verification, the rest-json codec, the invoke path and the environment.
Raw ASGI rather than Starlette because lambdad's front door is raw ASGI too.
"""

from __future__ import annotations

import argparse
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", lifespan="on",
                log_level="warning", access_log=False, timeout_keep_alive=75)


if __name__ == "__main__":
    main()
