"""lambdad's benchmark suite: one command, a table, a JSON file, every figure next to a same-run baseline.

Layout:
    run.py / __main__.py   the command: options, runs the registered scenarios, prints, writes JSON
    scenarios/             one module per group of rows; `@scenario(...)` registers it (see README.md)
    context.py             what a scenario gets: options, servers, the echo baseline, the load generator
    report.py              Row / Target, the table, the JSON document
    server.py              a `lambdad serve` of our own (subprocess, free loopback port, temp data dir)
    signing.py             SigV4-signed requests built once and replayed byte for byte
    httpclient.py          a raw keep-alive HTTP/1.1 client for latency (no client library in the loop)
    loadgen.py             throughput: wrk with a Lua script, or an asyncio generator in its own process
    echo_app.py            the bare ASGI echo app on lambdad's HTTP stack (uvicorn + uvloop + httptools)
    procs.py               /proc helpers: process trees and PSS
    peers.py               installs and runs the peers (python-lambda-local, serverless-offline) on demand
    stats.py               percentiles
"""
