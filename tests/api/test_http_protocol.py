"""HTTP server quality on the API port and on ALB listener ports: keep-alive, request size limits,
slow or greedy clients, and a graceful stop that lets in-flight requests finish."""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any

import httpx
import pytest

from tests.conftest import Server, create_function
from tests.frontdoors.alb_helpers import forward, function_target_group, lambda_target_group, make_alb

SLOW = """
import time

def handler(event, context):
    time.sleep(float(event.get("sleep", 0)) if isinstance(event, dict) and "sleep" in event else 2.5)
    return {"statusCode": 200, "body": "slept"} if "httpMethod" in event else {"slept": True}
"""


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (the socket's timeout bounds the wait)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def limited(fresh_server: Server) -> Server:
    fresh_server.extra_args = ["--request-read-timeout", "0.5", "--keep-alive-timeout", "0.5",
                               "--max-header-bytes", "4096", "--max-connections", "8"]
    fresh_server.start()
    return fresh_server


def test_keep_alive_serves_several_requests_on_one_connection(server: Server) -> None:
    sock = connect(server.port)
    request = b"GET /_lambdad/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    sock.sendall(request + request)
    seen = b""
    while seen.count(b"HTTP/1.1 200") < 2:
        chunk = sock.recv(65536)
        assert chunk, "the server closed a keep-alive connection"
        seen += chunk
    sock.close()


def test_oversized_body_is_refused_before_it_is_sent(limited: Server) -> None:
    sock = connect(limited.port)
    sock.sendall(b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Length: 104857600\r\n\r\n")
    answer = read_all(sock)  # the server answers and closes without waiting for 100 MB
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in answer.lower()


def test_slow_clients_are_disconnected(limited: Server) -> None:
    idle = connect(limited.port)  # sends nothing at all
    trickle = connect(limited.port)  # starts a request and never finishes its headers
    trickle.sendall(b"GET /_lambdad/health HTTP/1.1\r\nHost: local")
    slow_body = connect(limited.port)  # finishes the headers, never the body
    slow_body.sendall(b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"a\":")
    for sock in (idle, trickle, slow_body):
        assert read_all(sock) == b""
        sock.close()
    assert httpx.get(f"{limited.endpoint}/_lambdad/health", timeout=10).status_code == 200


def test_oversized_headers_are_refused(limited: Server) -> None:
    resp = httpx.get(f"{limited.endpoint}/_lambdad/health", headers={"X-Big": "x" * 8192}, timeout=10)
    assert resp.status_code == 400
    assert httpx.get(f"{limited.endpoint}/_lambdad/health", timeout=10).status_code == 200


def test_connection_limit_answers_503(fresh_server: Server) -> None:
    fresh_server.extra_args = ["--max-connections", "8"]  # idle connections stay (75 s keep-alive)
    fresh_server.start()
    limited = fresh_server
    held = [connect(limited.port) for _ in range(8)]
    try:
        refused = httpx.get(f"{limited.endpoint}/_lambdad/health", timeout=10)
        assert refused.status_code == 503
    finally:
        for sock in held:
            sock.close()
    # The held connections are closed (or timed out): the server answers again.
    for _ in range(50):
        if httpx.get(f"{limited.endpoint}/_lambdad/health", timeout=10).status_code == 200:
            break
    else:
        pytest.fail("the server did not recover after the connections closed")


def test_alb_listener_limits(limited: Server) -> None:
    alb = make_alb(limited, forward(function_target_group(limited, SLOW)))
    sock = connect(alb.port)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: alb\r\nContent-Length: 2000000\r\n\r\n")
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413") and b"awselb/2.0" in answer
    idle = connect(alb.port)
    assert read_all(idle) == b""
    assert httpx.get(alb.url, headers={"X-Big": "x" * 8192}, timeout=10).status_code == 400


def test_sigterm_drains_in_flight_requests(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client("lambda")
    name = create_function(lam, SLOW, Timeout=30)
    alb = make_alb(fresh_server, forward(lambda_target_group(fresh_server, name)))
    results: dict[str, Any] = {}

    def invoke() -> None:
        results["invoke"] = lam.invoke(FunctionName=name, Payload=b'{"sleep": 2.5}')

    def through_alb() -> None:
        results["alb"] = httpx.get(alb.url + "/", timeout=30)

    threads = [threading.Thread(target=invoke), threading.Thread(target=through_alb)]
    for thread in threads:
        thread.start()
    assert fresh_server.proc is not None
    # Both requests are in flight once two environments are busy.
    for _ in range(400):
        health = httpx.get(f"{fresh_server.endpoint}/_lambdad/health", timeout=10).json()
        if health["environments"]["busy"] >= 2:
            break
        threading.Event().wait(0.025)
    else:
        pytest.fail(f"the requests never started: {health}")
    fresh_server.proc.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(60)
    assert fresh_server.proc.wait(60) == 0
    assert results["invoke"]["StatusCode"] == 200 and results["invoke"]["Payload"].read() == b'{"slept": true}'
    assert results["alb"].status_code == 200 and results["alb"].text == "slept"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fresh_server.endpoint}/_lambdad/health", timeout=5)
