"""SQS send/receive throughput of the embedded SQS, end to end through boto3 and in process.

    PYTHONPATH=src python benchmarks/sqs_throughput.py [--messages 2000] [--threads 8] [--json out.json]

Starts its own `lambdad serve` on a free loopback port with a temporary data dir. Rows:
  - baseline: GET /_lambdad/health through the same HTTP stack (what the front door costs)
  - SendMessage, one client and N threads; SendMessageBatch (10 per call)
  - ReceiveMessage (10 per call) + DeleteMessageBatch
  - in process: SqsService.send / receive without HTTP (what the store costs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
from botocore.config import Config as BotoConfig

KEY, SECRET = "AKIABENCHROOT0000001", "bench-secret-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rate(count: int, fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)


def threaded(threads: int, total: int, work: Callable[[int], None]) -> Callable[[], None]:
    def run() -> None:
        per = total // threads
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: work(per), range(threads)))
    return run


def end_to_end(endpoint: str, messages: int, threads: int) -> list[tuple[str, float, str]]:
    config = BotoConfig(retries={"max_attempts": 0}, max_pool_connections=threads * 2)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY,
                       aws_secret_access_key=SECRET, config=config)
    url = sqs.create_queue(QueueName=f"bench-{os.getpid()}")["QueueUrl"]
    rows: list[tuple[str, float, str]] = []
    with httpx.Client() as http:
        rows.append(("baseline: GET /_lambdad/health, 1 client", rate(messages, lambda: [
            http.get(endpoint + "/_lambdad/health") for _ in range(messages)]), "req/s"))

    def send(n: int) -> None:
        for i in range(n):
            sqs.send_message(QueueUrl=url, MessageBody=f"message {i}")

    def send_batches(n: int) -> None:
        for b in range(n // 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{b}-{i}"}
                                                          for i in range(10)])

    def receive_delete(n: int) -> None:
        got = 0
        while got < n:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not msgs:
                return
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                           for i, m in enumerate(msgs)])
            got += len(msgs)

    rows.append(("SendMessage, 1 client", rate(messages, lambda: send(messages)), "msgs/s"))
    rows.append((f"SendMessage, {threads} threads", rate(messages, threaded(threads, messages, send)), "msgs/s"))
    rows.append(("SendMessageBatch (10), 1 client", rate(messages * 5, lambda: send_batches(messages * 5)),
                 "msgs/s"))
    rows.append((f"SendMessageBatch (10), {threads} threads",
                 rate(messages * 5, threaded(threads, messages * 5, send_batches)), "msgs/s"))
    queued = messages * 2 + messages * 10
    rows.append(("ReceiveMessage (10) + DeleteMessageBatch, 1 client",
                 rate(messages * 5, lambda: receive_delete(messages * 5)), "msgs/s"))
    rest = queued - messages * 5
    rows.append((f"ReceiveMessage (10) + DeleteMessageBatch, {threads} threads",
                 rate(rest, threaded(threads, rest, receive_delete)), "msgs/s"))
    return rows


def in_process(messages: int) -> list[tuple[str, float, str]]:
    from lambdad.config import resolve
    from lambdad.services.sqs.queues import SendEntry, SqsService
    from lambdad.store import SqliteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        sqs = SqsService(store, resolve({}, {}))
        queue = sqs.create_queue("000000000000", "inproc")
        rows = [("in process: send, 1 per transaction", rate(messages * 5, lambda: [
            sqs.send(queue, [SendEntry(f"m{i}")], "bench") for i in range(messages * 5)]), "msgs/s")]
        rows.append(("in process: send, 10 per transaction", rate(messages * 10, lambda: [
            sqs.send(queue, [SendEntry(f"m{b}-{i}") for i in range(10)], "bench", batch=True)
            for b in range(messages)]), "msgs/s"))

        async def drain() -> None:
            while True:
                got = await sqs.receive(queue, max_messages=10, wait_seconds=0)
                if not got:
                    return
                for m in got:
                    sqs.delete_message(queue, m["ReceiptHandle"])

        rows.append(("in process: receive (10) + delete", rate(messages * 15, lambda: asyncio.run(drain())),
                     "msgs/s"))
        store.close()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAD_", "AWS_"))}
        env.update(LAMBDAD_ROOT_ACCESS_KEY_ID=KEY, LAMBDAD_ROOT_SECRET_ACCESS_KEY=SECRET, LAMBDAD_LOG_LEVEL="warning")
        proc = subprocess.Popen([sys.executable, "-m", "lambdad", "serve", "--port", str(port), "--data-dir",
                                 f"{tmp}/data"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(endpoint + "/_lambdad/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            rows = end_to_end(endpoint, args.messages, args.threads)
        finally:
            proc.terminate()
            proc.wait(15)
    rows += in_process(args.messages)
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'rate':>10}")
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>10,.0f} {unit}")
    if args.json:
        Path(args.json).write_text(json.dumps([{"scenario": n, "rate": round(v, 1), "unit": u} for n, v, u in rows],
                                              indent=2))


if __name__ == "__main__":
    main()
