"""DynamoDB items through boto3's client and resource APIs and the AWS CLI: writes with conditions and
return values, queries and scans with their pagination, indexes (sparse ones too), batches,
transactions (concurrent conditional increments lose nothing), and DynamoDB's validation words."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, Server, api_error, unique
from tests.services.conftest import aws_cli


@pytest.fixture(scope="module")
def ddb(server: Server) -> Any:
    return server.client("dynamodb")


@pytest.fixture(scope="module")
def res(server: Server) -> Any:
    return boto3.resource("dynamodb", endpoint_url=server.endpoint, region_name=REGION,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          config=BotoConfig(retries={"max_attempts": 0}, max_pool_connections=16))


def make_table(ddb: Any, range_type: str | None = None, gsi: bool = False, lsi: bool = False) -> str:
    name = unique("it")
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    extra: dict[str, Any] = {}
    if range_type:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": range_type})
    if gsi:
        attrs.append({"AttributeName": "g", "AttributeType": "S"})
        attrs.append({"AttributeName": "gs", "AttributeType": "N"})
        extra["GlobalSecondaryIndexes"] = [
            {"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                               {"AttributeName": "gs", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "byGAll", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}}]
    if lsi:
        attrs.append({"AttributeName": "l", "AttributeType": "S"})
        extra["LocalSecondaryIndexes"] = [
            {"IndexName": "byL", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "l", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v"]}}]
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST",
                     **extra)
    return name


def test_put_get_delete_all_types(ddb: Any) -> None:
    name = make_table(ddb)
    item = {"pk": {"S": "a"}, "n": {"N": "1.50"}, "b": {"B": b"\x00\xff"}, "t": {"BOOL": True},
            "z": {"NULL": True}, "m": {"M": {"x": {"L": [{"S": "y"}, {"N": "2"}]}}},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"a", b"b"]}}
    assert "Attributes" not in ddb.put_item(TableName=name, Item=item)
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"]
    assert got["n"] == {"N": "1.5"} and got["b"] == {"B": b"\x00\xff"} and got["m"] == item["m"]
    assert sorted(got["bs"]["BS"]) == [b"a", b"b"]
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "nope"}}).get("Item") is None
    proj = ddb.get_item(TableName=name, Key={"pk": {"S": "a"}}, ProjectionExpression="#n, m.x[1]",
                        ExpressionAttributeNames={"#n": "n"})["Item"]
    assert proj == {"n": {"N": "1.5"}, "m": {"M": {"x": {"L": [{"N": "2"}]}}}}
    old = ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"S": "2"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"]["n"] == {"N": "1.5"}
    gone = ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}}, ReturnValues="ALL_OLD")
    assert gone["Attributes"] == {"pk": {"S": "a"}, "v": {"S": "2"}}
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})


def test_conditions(ddb: Any) -> None:
    name = make_table(ddb)
    ddb.put_item(TableName=name, Item={"pk": {"S": "c"}, "v": {"N": "1"}},
                 ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=name, Item={"pk": {"S": "c"}}, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert api_error(exc) == (400, "ConditionalCheckFailedException", "The conditional request failed")
    assert exc.value.response["Item"] == {"pk": {"S": "c"}, "v": {"N": "1"}}
    with pytest.raises(ClientError) as exc:
        ddb.delete_item(TableName=name, Key={"pk": {"S": "c"}}, ConditionExpression="v > :x",
                        ExpressionAttributeValues={":x": {"N": "5"}})
    assert api_error(exc)[1] == "ConditionalCheckFailedException" and "Item" not in exc.value.response
    ddb.delete_item(TableName=name, Key={"pk": {"S": "c"}}, ConditionExpression="v < :x",
                    ExpressionAttributeValues={":x": {"N": "5"}})
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=name, Item={"pk": {"S": "c"}}, ConditionExpression="v < :x",
                     ExpressionAttributeValues={":x": {"N": "5"}, ":unused": {"N": "1"}})
    assert api_error(exc) == (400, "ValidationException", "Value provided in ExpressionAttributeValues unused in "
                                                          "expressions: keys: {:unused}")


def test_update_item_return_values(ddb: Any) -> None:
    name = make_table(ddb, "N")
    key = {"pk": {"S": "u"}, "sk": {"N": "1"}}
    out = ddb.update_item(TableName=name, Key=key, UpdateExpression="SET a = :a, c = if_not_exists(c, :z) ADD n :one",
                          ExpressionAttributeValues={":a": {"S": "x"}, ":z": {"N": "0"}, ":one": {"N": "1"}},
                          ReturnValues="ALL_NEW")
    assert out["Attributes"] == {**key, "a": {"S": "x"}, "c": {"N": "0"}, "n": {"N": "1"}}
    out = ddb.update_item(TableName=name, Key=key, UpdateExpression="ADD n :one REMOVE a",
                          ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_OLD")
    assert out["Attributes"] == {"n": {"N": "1"}, "a": {"S": "x"}}
    out = ddb.update_item(TableName=name, Key=key, UpdateExpression="SET n = n + :one",
                          ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    assert out["Attributes"] == {"n": {"N": "3"}}
    with pytest.raises(ClientError) as exc:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET pk = :a",
                        ExpressionAttributeValues={":a": {"S": "x"}})
    assert api_error(exc)[2] == ("One or more parameter values were invalid: Cannot update attribute pk. This "
                                 "attribute is part of the key")
    with pytest.raises(ClientError) as exc:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET n = :a", ConditionExpression="n = :zero",
                        ExpressionAttributeValues={":a": {"N": "9"}, ":zero": {"N": "0"}})
    assert api_error(exc)[1] == "ConditionalCheckFailedException"


def test_an_update_that_creates_the_item_reads_its_key(ddb: Any) -> None:
    """On a new item the key attributes are already there for the update's operands (recorded on AWS)."""
    name = make_table(ddb)
    out = ddb.update_item(TableName=name, Key={"pk": {"S": "fresh"}}, UpdateExpression="SET b = if_not_exists(b, pk)",
                          ReturnValues="ALL_NEW")
    assert out["Attributes"] == {"pk": {"S": "fresh"}, "b": {"S": "fresh"}}


def test_key_validation(ddb: Any) -> None:
    name = make_table(ddb, "N")
    cases = [
        ({"pk": {"S": "a"}}, "One or more parameter values were invalid: Missing the key sk in the item"),
        ({"pk": {"N": "1"}, "sk": {"N": "1"}},
         "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"),
        ({"pk": {"S": ""}, "sk": {"N": "1"}},
         "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an "
         "empty string value. Key: pk"),
    ]
    for item, message in cases:
        with pytest.raises(ClientError) as exc:
            ddb.put_item(TableName=name, Item=item)
        assert api_error(exc) == (400, "ValidationException", message)
    with pytest.raises(ClientError) as exc:
        ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})
    assert api_error(exc) == (400, "ValidationException", "The provided key element does not match the schema")
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "big": {"S": "x" * 400 * 1024}})
    assert api_error(exc) == (400, "ValidationException", "Item size has exceeded the maximum allowed size")
    with pytest.raises(ClientError) as exc:
        ddb.get_item(TableName=unique("missing"), Key={"pk": {"S": "a"}})
    assert api_error(exc) == (400, "ResourceNotFoundException", "Requested resource not found")


def test_query_ordering_and_pagination(ddb: Any) -> None:
    name = make_table(ddb, "N")
    numbers = ["-10", "-2.5", "0", "1", "2", "10", "10.5", "100", "1e3"]
    for n in numbers:
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": n}, "v": {"S": n}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "other"}, "sk": {"N": "5"}})
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}})
    assert [i["sk"]["N"] for i in out["Items"]] == ["-10", "-2.5", "0", "1", "2", "10", "10.5", "100", "1000"]
    assert out["Count"] == 9 and "LastEvaluatedKey" not in out
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                    ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"N": "0"}, ":b": {"N": "10"}},
                    ScanIndexForward=False)
    assert [i["sk"]["N"] for i in out["Items"]] == ["10", "2", "1", "0"]
    seen, start = [], None
    while True:
        kwargs = {"ExclusiveStartKey": start} if start else {}
        page = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND sk > :z", Limit=2,
                         ExpressionAttributeValues={":p": {"S": "p"}, ":z": {"N": "0"}}, **kwargs)
        seen += [i["sk"]["N"] for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        assert set(start) == {"pk", "sk"}
    assert seen == ["1", "2", "10", "10.5", "100", "1000"]
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p", FilterExpression="v <> :v",
                    ExpressionAttributeValues={":p": {"S": "p"}, ":v": {"S": "0"}}, Select="COUNT")
    assert out["Count"] == 8 and out["ScannedCount"] == 9 and "Items" not in out
    pages = ddb.get_paginator("query").paginate(TableName=name, KeyConditionExpression="pk = :p",
                                                ExpressionAttributeValues={":p": {"S": "p"}},
                                                PaginationConfig={"PageSize": 4})
    assert sum(p["Count"] for p in pages) == 9


def test_query_begins_with_strings(ddb: Any) -> None:
    name = make_table(ddb, "S")
    for sk in ["a", "ab", "abc", "abd", "ac", "b", "ab\U0001f600"]:
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND begins_with(sk, :pre)",
                    ExpressionAttributeValues={":p": {"S": "p"}, ":pre": {"S": "ab"}})
    assert [i["sk"]["S"] for i in out["Items"]] == ["ab", "abc", "abd", "ab\U0001f600"]


def test_resource_api(res: Any, ddb: Any) -> None:
    name = make_table(ddb, "N")
    table = res.Table(name)
    with table.batch_writer() as batch:
        for i in range(60):
            batch.put_item(Item={"pk": "r", "sk": i, "even": i % 2 == 0, "tags": {"a", "b"}, "price": Decimal("1.25")})
    got = table.get_item(Key={"pk": "r", "sk": 3})["Item"]
    assert got == {"pk": "r", "sk": 3, "even": False, "tags": {"a", "b"}, "price": Decimal("1.25")}
    out = table.query(KeyConditionExpression=Key("pk").eq("r") & Key("sk").between(10, 19),
                      FilterExpression=Attr("even").eq(True))
    assert [i["sk"] for i in out["Items"]] == [10, 12, 14, 16, 18]
    table.update_item(Key={"pk": "r", "sk": 3}, UpdateExpression="SET price = price + :x",
                      ExpressionAttributeValues={":x": Decimal("0.75")})
    assert table.get_item(Key={"pk": "r", "sk": 3})["Item"]["price"] == 2
    scanned = table.scan(FilterExpression=Attr("sk").lt(5))
    assert sorted(i["sk"] for i in scanned["Items"]) == [0, 1, 2, 3, 4]
    table.delete_item(Key={"pk": "r", "sk": 3})
    assert "Item" not in table.get_item(Key={"pk": "r", "sk": 3})


def test_scan_segments_cover_the_table(ddb: Any) -> None:
    name = make_table(ddb)
    keys = [f"k{i}" for i in range(150)]
    for start in range(0, 150, 25):
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": k}}}}
                                                  for k in keys[start:start + 25]]})
    found: list[str] = []
    for segment in range(4):
        start = None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = ddb.scan(TableName=name, Segment=segment, TotalSegments=4, Limit=17, **kwargs)
            found += [i["pk"]["S"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    assert sorted(found) == sorted(keys)
    with pytest.raises(ClientError) as exc:
        ddb.scan(TableName=name, Segment=4, TotalSegments=4)
    assert "Segment: 4 is not less than TotalSegments: 4" in api_error(exc)[2]


def test_gsi_and_lsi_queries(ddb: Any) -> None:
    name = make_table(ddb, "N", gsi=True, lsi=True)
    for i in range(6):
        item: dict[str, Any] = {"pk": {"S": f"p{i % 2}"}, "sk": {"N": str(i)}, "v": {"S": f"v{i}"},
                                "w": {"S": "hidden"}}
        if i != 5:  # item 5 has no GSI keys: the sparse index leaves it out
            item["g"] = {"S": "G"}
            item["gs"] = {"N": str(10 - i)}
        item["l"] = {"S": f"l{5 - i}"}
        ddb.put_item(TableName=name, Item=item)
    out = ddb.query(TableName=name, IndexName="byG", KeyConditionExpression="g = :g",
                    ExpressionAttributeValues={":g": {"S": "G"}})
    assert [i["sk"]["N"] for i in out["Items"]] == ["4", "3", "2", "1", "0"]
    assert set(out["Items"][0]) == {"pk", "sk", "g", "gs"}  # KEYS_ONLY
    out = ddb.query(TableName=name, IndexName="byGAll", KeyConditionExpression="g = :g",
                    ExpressionAttributeValues={":g": {"S": "G"}}, Limit=2)
    assert out["Count"] == 2 and set(out["LastEvaluatedKey"]) == {"pk", "sk", "g"}
    rest = ddb.query(TableName=name, IndexName="byGAll", KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "G"}}, ExclusiveStartKey=out["LastEvaluatedKey"])
    assert out["Count"] + rest["Count"] == 5
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=name, IndexName="byG", KeyConditionExpression="g = :g", Select="ALL_ATTRIBUTES",
                  ExpressionAttributeValues={":g": {"S": "G"}})
    assert "Select type ALL_ATTRIBUTES is not supported for global secondary index byG" in api_error(exc)[2]
    out = ddb.query(TableName=name, IndexName="byL", KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "p0"}})
    assert [i["l"]["S"] for i in out["Items"]] == ["l1", "l3", "l5"]
    assert set(out["Items"][0]) == {"pk", "sk", "l", "v"}  # INCLUDE v
    # Moving an item out of the sparse GSI, and into it
    ddb.update_item(TableName=name, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}}, UpdateExpression="REMOVE g")
    ddb.update_item(TableName=name, Key={"pk": {"S": "p1"}, "sk": {"N": "5"}}, UpdateExpression="SET g = :g, gs = :s",
                    ExpressionAttributeValues={":g": {"S": "G"}, ":s": {"N": "0"}})
    out = ddb.query(TableName=name, IndexName="byG", KeyConditionExpression="g = :g",
                    ExpressionAttributeValues={":g": {"S": "G"}})
    assert [i["sk"]["N"] for i in out["Items"]] == ["5", "4", "3", "2", "1"]
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=name, Item={"pk": {"S": "x"}, "sk": {"N": "1"}, "g": {"N": "1"}})
    assert api_error(exc)[2].startswith("One or more parameter values were invalid: Type mismatch for Index Key g")
    desc = ddb.describe_table(TableName=name)["Table"]
    assert {g["IndexName"]: g["ItemCount"] for g in desc["GlobalSecondaryIndexes"]} == {"byG": 5, "byGAll": 5}


def test_gsi_created_on_existing_table_is_backfilled(ddb: Any) -> None:
    name = make_table(ddb)
    for i in range(30):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "color": {"S": "red" if i % 3 else "blue"}})
    out = ddb.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
                           GlobalSecondaryIndexUpdates=[{"Create": {
                               "IndexName": "byColor", "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
                               "Projection": {"ProjectionType": "ALL"}}}])
    created = out["TableDescription"]["GlobalSecondaryIndexes"][0]
    assert created["IndexStatus"] == "CREATING"
    desc = ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]
    assert desc["IndexStatus"] == "ACTIVE" and desc["ItemCount"] == 30
    blue = ddb.query(TableName=name, IndexName="byColor", KeyConditionExpression="color = :c",
                     ExpressionAttributeValues={":c": {"S": "blue"}})
    assert blue["Count"] == 10
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "byColor"}}])
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=name, IndexName="byColor", KeyConditionExpression="color = :c",
                  ExpressionAttributeValues={":c": {"S": "blue"}})
    assert api_error(exc) == (400, "ValidationException", "The table does not have the specified index: byColor")


def test_batch_get_and_write(ddb: Any) -> None:
    name = make_table(ddb)
    ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "v": {"N": str(i)}}}}
                                              for i in range(25)]})
    out = ddb.batch_get_item(RequestItems={name: {"Keys": [{"pk": {"S": f"b{i}"}} for i in range(0, 25, 5)] +
                                                  [{"pk": {"S": "none"}}], "ProjectionExpression": "v"}})
    assert sorted(int(i["v"]["N"]) for i in out["Responses"][name]) == [0, 5, 10, 15, 20]
    assert out["UnprocessedKeys"] == {}
    with pytest.raises(ClientError) as exc:
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": "d"}}}}] * 2})
    assert api_error(exc)[2] == "Provided list of item keys contains duplicates"
    with pytest.raises(ClientError) as exc:
        ddb.batch_get_item(RequestItems={name: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(101)]}})
    assert api_error(exc)[1] == "ValidationException"
    out = ddb.batch_write_item(RequestItems={name: [{"DeleteRequest": {"Key": {"pk": {"S": f"b{i}"}}}}
                                                    for i in range(25)]}, ReturnConsumedCapacity="TOTAL")
    assert out["UnprocessedItems"] == {} and out["ConsumedCapacity"][0]["CapacityUnits"] == 25
    assert ddb.scan(TableName=name)["Count"] == 0


def test_transactions(ddb: Any) -> None:
    name = make_table(ddb)
    ddb.put_item(TableName=name, Item={"pk": {"S": "acct1"}, "bal": {"N": "100"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "acct2"}, "bal": {"N": "0"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "bank"}})

    def transfer(amount: int, token: str | None = None) -> Any:
        kwargs = {"ClientRequestToken": token} if token else {}
        return ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": {"pk": {"S": "acct1"}}, "UpdateExpression": "SET bal = bal - :a",
                        "ConditionExpression": "bal >= :a", "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"Update": {"TableName": name, "Key": {"pk": {"S": "acct2"}}, "UpdateExpression": "SET bal = bal + :a",
                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "bank"}},
                                "ConditionExpression": "attribute_exists(pk)"}}], **kwargs)

    transfer(60)
    with pytest.raises(ClientError) as exc:
        transfer(60)
    err = exc.value.response
    assert err["Error"]["Code"] == "TransactionCanceledException"
    assert err["Error"]["Message"] == ("Transaction cancelled, please refer cancellation reasons for specific reasons "
                                       "[ConditionalCheckFailed, None, None]")
    assert [r["Code"] for r in err["CancellationReasons"]] == ["ConditionalCheckFailed", "None", "None"]
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": name, "Key": {"pk": {"S": k}}}}
                                                for k in ("acct1", "acct2", "nobody")])["Responses"]
    assert [r.get("Item", {}).get("bal") for r in got] == [{"N": "40"}, {"N": "60"}, None]
    # The same token again: answered as before, applied once
    transfer(10, "token-1")
    transfer(10, "token-1")
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "acct1"}})["Item"]["bal"] == {"N": "30"}
    with pytest.raises(ClientError) as exc:
        transfer(20, "token-1")
    assert api_error(exc)[1] == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "new"}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "acct1"}}, "ConditionExpression": "bal > :x",
                                "ExpressionAttributeValues": {":x": {"N": "1000"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    reasons = exc.value.response["CancellationReasons"]
    assert reasons[0] == {"Code": "None"}
    assert reasons[1] == {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
                          "Item": {"pk": {"S": "acct1"}, "bal": {"N": "30"}}}
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "new"}})  # nothing was written
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "acct1"}}}},
            {"Delete": {"TableName": name, "Key": {"pk": {"S": "acct1"}}}}])
    assert api_error(exc) == (400, "ValidationException",
                              "Transaction request cannot include multiple operations on one item")


def test_concurrent_conditional_increments_lose_nothing(server: Server, ddb: Any) -> None:
    name = make_table(ddb)
    ddb.put_item(TableName=name, Item={"pk": {"S": "counter"}, "n": {"N": "0"}})
    threads, per_thread = 8, 8
    clients = [server.client("dynamodb") for _ in range(threads)]

    def work(client: Any) -> None:
        done = 0
        while done < per_thread:
            cur = client.get_item(TableName=name, Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]["n"]["N"]
            try:
                client.update_item(TableName=name, Key={"pk": {"S": "counter"}}, UpdateExpression="SET n = :new",
                                   ConditionExpression="n = :cur",
                                   ExpressionAttributeValues={":cur": {"N": cur}, ":new": {"N": str(int(cur) + 1)}})
                done += 1
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"

    pool = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    final = ddb.get_item(TableName=name, Key={"pk": {"S": "counter"}})["Item"]["n"]["N"]
    assert final == str(threads * per_thread)


def test_malformed_input_is_a_validation_error(server: Server, ddb: Any) -> None:
    name = make_table(ddb)
    bad_items = [{"pk": {"S": "a"}, "x": {}}, {"pk": {"S": "a"}, "x": {"S": "a", "N": "1"}},
                 {"pk": {"S": "a"}, "x": {"N": "not-a-number"}}, {"pk": {"S": "a"}, "x": {"SS": []}},
                 {"pk": {"S": "a"}, "x": {"SS": ["a", "a"]}}]
    for item in bad_items:
        with pytest.raises(ClientError) as exc:
            ddb.put_item(TableName=name, Item=item)
        assert api_error(exc)[:2] == (400, "ValidationException"), item
    for expr in ["SET", "SET a = ", "a = :v", "SET a = :missing", "SET #nope = :v"]:
        with pytest.raises(ClientError) as exc:
            ddb.update_item(TableName=name, Key={"pk": {"S": "a"}}, UpdateExpression=expr,
                            ExpressionAttributeValues={":v": {"S": "x"}})
        assert api_error(exc)[:2] == (400, "ValidationException"), expr
    import httpx
    r = httpx.post(server.endpoint, content=b"{not json", headers={"x-amz-target": "DynamoDB_20120810.PutItem"})
    assert r.status_code < 500


def test_consumed_capacity(ddb: Any) -> None:
    name = make_table(ddb, gsi=True)
    out = ddb.put_item(TableName=name, Item={"pk": {"S": "c"}, "g": {"S": "x"}, "gs": {"N": "1"}},
                       ReturnConsumedCapacity="INDEXES")
    cap = out["ConsumedCapacity"]
    assert cap["TableName"] == name and cap["Table"]["CapacityUnits"] == 1.0
    assert set(cap["GlobalSecondaryIndexes"]) == {"byG", "byGAll"}
    out = ddb.get_item(TableName=name, Key={"pk": {"S": "c"}}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 0.5, "ReadCapacityUnits": 0.5}


def test_cli(server: Server, ddb: Any) -> None:
    name = make_table(ddb)
    aws_cli(server, "dynamodb", "put-item", "--table-name", name, "--item", json.dumps({"pk": {"S": "cli"},
                                                                                          "v": {"N": "7"}}))
    got = aws_cli(server, "dynamodb", "get-item", "--table-name", name, "--key", json.dumps({"pk": {"S": "cli"}}))
    assert got["Item"]["v"] == {"N": "7"}


def test_legacy_parameters(ddb: Any) -> None:
    name = make_table(ddb, "N")
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": "L"}, "sk": {"N": str(i)}, "v": {"S": f"v{i}"}})
    out = ddb.query(TableName=name, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "L"}]},
        "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "2"}]}},
        QueryFilter={"v": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "v3"}]}},
        AttributesToGet=["sk"])
    assert out["Items"] == [{"sk": {"N": "2"}}, {"sk": {"N": "4"}}]
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=name, Item={"pk": {"S": "L"}, "sk": {"N": "1"}},
                     Expected={"pk": {"Exists": False}})
    assert api_error(exc)[1] == "ConditionalCheckFailedException"
    ddb.update_item(TableName=name, Key={"pk": {"S": "L"}, "sk": {"N": "1"}},
                    AttributeUpdates={"n": {"Action": "ADD", "Value": {"N": "5"}}, "v": {"Action": "DELETE"}},
                    Expected={"v": {"Value": {"S": "v1"}}})
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "L"}, "sk": {"N": "1"}})["Item"]
    assert got == {"pk": {"S": "L"}, "sk": {"N": "1"}, "n": {"N": "5"}}
    scanned = ddb.scan(TableName=name, ScanFilter={"n": {"ComparisonOperator": "NOT_NULL"}})
    assert scanned["Count"] == 1
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "L"}},
                  QueryFilter={"v": {"ComparisonOperator": "NOT_NULL"}})
    assert api_error(exc)[2].startswith("Can not use both expression and non-expression parameters")


def test_leading_keys_condition(server: Server, ddb: Any) -> None:
    name = make_table(ddb)
    for pk in ("mine", "theirs"):
        ddb.put_item(TableName=name, Item={"pk": {"S": pk}})
    iam = server.client("iam")
    user = unique("lk")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="own-rows", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": f"arn:aws:dynamodb:{REGION}:*:table/{name}",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["mine"]}}}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = server.client("dynamodb", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert as_user.get_item(TableName=name, Key={"pk": {"S": "mine"}})["Item"] == {"pk": {"S": "mine"}}
    with pytest.raises(ClientError) as exc:
        as_user.get_item(TableName=name, Key={"pk": {"S": "theirs"}})
    status, code, message = api_error(exc)
    assert (status, code) == (400, "AccessDeniedException")
    assert f"is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:{REGION}:" in message
    with pytest.raises(ClientError) as exc:
        as_user.delete_item(TableName=name, Key={"pk": {"S": "mine"}})
    assert api_error(exc)[1] == "AccessDeniedException"


def test_read_refusals(ddb: Any) -> None:
    name = make_table(ddb, "N", gsi=True)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"KeyConditionExpression": "sk = :s", "ExpressionAttributeValues": {":s": {"N": "1"}}},
         "Query condition missed key schema element: pk"),
        ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}},
          "ExclusiveStartKey": {"pk": {"S": "a"}}},
         "The provided starting key is invalid: The provided key element does not match the schema"),
        ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}},
          "ExclusiveStartKey": {"pk": {"S": "b"}, "sk": {"N": "1"}}},
         "The provided starting key is outside query boundaries based on provided conditions"),
        ({"IndexName": "byG", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "a"}},
          "ConsistentRead": True}, "Consistent reads are not supported on global secondary indexes"),
        ({"IndexName": "nope", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "a"}}},
         "The table does not have the specified index: nope"),
        ({"Select": "ALL_PROJECTED_ATTRIBUTES", "KeyConditionExpression": "pk = :p",
          "ExpressionAttributeValues": {":p": {"S": "a"}}},
         "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ClientError) as exc:
            ddb.query(TableName=name, **kwargs)
        assert api_error(exc) == (400, "ValidationException", message), kwargs
    with pytest.raises(ClientError) as exc:
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "sk": {"N": "1"}}}}
                                                  for i in range(26)]})
    assert api_error(exc)[:2] == (400, "ValidationException")


def test_an_unsigned_request_is_refused_in_dynamodbs_shape(server: Server) -> None:
    import httpx

    r = httpx.post(server.endpoint + "/", content=b"{}",
                   headers={"x-amz-target": "DynamoDB_20120810.ListTables",
                            "content-type": "application/x-amz-json-1.0"})
    assert r.status_code in (400, 403), r.text
    body = r.json()
    assert "__type" in body and "MissingAuthenticationToken" in body["__type"], body
