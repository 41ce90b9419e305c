"""kill -9 during DynamoDB writes loses no acknowledged write: tables, indexes and every item a client
was answered for are there after a restart."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import Server


def test_kill_9_during_writes_loses_no_acknowledged_write(fresh_server: Server) -> None:
    fresh_server.start()
    ddb = fresh_server.client("dynamodb")
    ddb.create_table(TableName="durable", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "g", "AttributeType": "S"}],
                     GlobalSecondaryIndexes=[{"IndexName": "byG", "KeySchema": [{"AttributeName": "g",
                                                                                  "KeyType": "HASH"}],
                                              "Projection": {"ProjectionType": "ALL"}}],
                     BillingMode="PAY_PER_REQUEST")
    increment = {"TransactItems": [{"Update": {"TableName": "durable", "Key": {"pk": {"S": "counter"}},
                                               "UpdateExpression": "ADD n :one",
                                               "ExpressionAttributeValues": {":one": {"N": "1"}}}}],
                 "ClientRequestToken": "once-only"}
    ddb.transact_write_items(**increment)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        client = fresh_server.client("dynamodb")
        i = 0
        while not stop.is_set():
            key = f"w{n}-{i}"
            try:
                if i % 2:
                    client.put_item(TableName="durable", Item={"pk": {"S": key}, "g": {"S": "all"}})
                else:
                    client.transact_write_items(TransactItems=[{"Put": {"TableName": "durable", "Item": {
                        "pk": {"S": key}, "g": {"S": "all"}}}}])
            except (ClientError, BotoCoreError):
                return  # the server is gone: this write was never acknowledged
            with lock:
                acknowledged.append(key)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    fresh_server.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) >= 50
    fresh_server.start()
    ddb = fresh_server.client("dynamodb")
    found: set[str] = set()
    kwargs: dict[str, Any] = {}
    while True:
        page = ddb.scan(TableName="durable", **kwargs)
        found.update(i["pk"]["S"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert set(acknowledged) <= found
    # The idempotency token outlived the crash: the same request is answered, not applied again.
    ddb.transact_write_items(**increment)
    assert ddb.get_item(TableName="durable", Key={"pk": {"S": "counter"}})["Item"]["n"] == {"N": "1"}
    found.discard("counter")
    by_index = ddb.query(TableName="durable", IndexName="byG", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "all"}}, Select="COUNT")
    assert by_index["Count"] == len(found)
