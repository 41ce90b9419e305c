"""DynamoDB tables through boto3, the resource API and the AWS CLI: create/describe/list/update/delete,
key schema validation in DynamoDB's words, waiters, indexes, tags, TTL settings, other accounts."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, api_error, unique
from tests.services.conftest import aws_cli


@pytest.fixture(scope="module")
def ddb(server: Server) -> Any:
    return server.client("dynamodb")


def _table(ddb: Any, name: str | None = None, range_key: bool = False, **kwargs: Any) -> str:
    name = name or unique("t")
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs + kwargs.pop("attrs", []),
                     BillingMode="PAY_PER_REQUEST", **kwargs)
    return name


def test_create_describe_list_delete(ddb: Any) -> None:
    name = unique("t")
    out = ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                           ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3})
    desc = out["TableDescription"]
    assert desc["TableStatus"] == "CREATING"
    assert desc["TableArn"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["ItemCount"] == 0 and table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert "BillingModeSummary" not in table
    assert name in ddb.list_tables()["TableNames"]
    with pytest.raises(ClientError) as exc:
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    assert api_error(exc) == (400, "ResourceInUseException", f"Table already exists: {name}")
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    with pytest.raises(ClientError) as exc:
        ddb.describe_table(TableName=name)
    assert api_error(exc) == (400, "ResourceNotFoundException",
                              f"Requested resource not found: Table: {name} not found")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"}]},
     "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    ({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}]},
     "One or more parameter values were invalid: Both the Hash Key and the Range Key element in the KeySchema "
     "have the same name"),
    ({"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]},
     "One or more parameter values were invalid: Some index key attributes are not defined in "
     "AttributeDefinitions. Keys: [id], AttributeDefinitions: [pk]"),
    ({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                               {"AttributeName": "x", "AttributeType": "S"}]},
     "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number "
     "of attributes defined in AttributeDefinitions"),
    ({"BillingMode": "PROVISIONED"},
     "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified "
     "when BillingMode is PROVISIONED"),
    ({"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
     "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be "
     "specified when BillingMode is PAY_PER_REQUEST"),
    ({"TableName": "ab"}, "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
                          "Member must have length greater than or equal to 3"),
    ({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "BOOL"}]},
     "1 validation error detected: Value 'BOOL' at 'attributeDefinitions.1.member.attributeType' failed to "
     "satisfy constraint: Member must satisfy enum value set: [S, N, B]"),
])
def test_create_table_validation(ddb: Any, kwargs: dict[str, Any], message: str) -> None:
    params: dict[str, Any] = {"TableName": unique("t"), "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                              "BillingMode": "PAY_PER_REQUEST"}
    params.update(kwargs)
    if "ProvisionedThroughput" not in kwargs and params["BillingMode"] == "PROVISIONED":
        pass
    with pytest.raises(ClientError) as exc:
        ddb.create_table(**params)
    assert api_error(exc) == (400, "ValidationException", message)


def test_list_tables_pagination(ddb: Any, server: Server) -> None:
    prefix = unique("pg")
    names = [f"{prefix}-{i:02d}" for i in range(7)]
    for n in names:
        _table(ddb, n)
    seen: list[str] = []
    page = ddb.list_tables(Limit=3, ExclusiveStartTableName=prefix)
    while True:
        seen += [n for n in page["TableNames"] if n.startswith(prefix)]
        if "LastEvaluatedTableName" not in page or not page["LastEvaluatedTableName"].startswith(prefix):
            break
        assert len(page["TableNames"]) == 3
        page = ddb.list_tables(Limit=3, ExclusiveStartTableName=page["LastEvaluatedTableName"])
    assert seen == names
    every = [n for p in ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2})
             for n in p["TableNames"]]
    assert [n for n in every if n.startswith(prefix)] == names
    assert set(names) <= set(aws_cli(server, "dynamodb", "list-tables")["TableNames"])


def test_indexes_described(ddb: Any) -> None:
    name = _table(ddb, range_key=True, attrs=[{"AttributeName": "g", "AttributeType": "S"},
                                              {"AttributeName": "l", "AttributeType": "N"}],
                  GlobalSecondaryIndexes=[{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                           "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}}],
                  LocalSecondaryIndexes=[{"IndexName": "byL", "KeySchema": [
                      {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                      "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    t = ddb.describe_table(TableName=name)["Table"]
    gsi, = t["GlobalSecondaryIndexes"]
    assert gsi["IndexArn"] == t["TableArn"] + "/index/byG" and gsi["IndexStatus"] == "ACTIVE"
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}
    lsi, = t["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "byL" and "IndexStatus" not in lsi
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    with pytest.raises(ClientError) as exc:  # an LSI on a table without a range key
        _table(ddb, attrs=[{"AttributeName": "l", "AttributeType": "N"}], LocalSecondaryIndexes=[{
            "IndexName": "xxx", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                            {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}])
    assert api_error(exc)[2] == ("One or more parameter values were invalid: Table KeySchema does not have a range "
                                 "key, which is required when specifying a LocalSecondaryIndex")


def test_update_table_billing_and_gsi(ddb: Any) -> None:
    name = _table(ddb)
    with pytest.raises(ClientError) as exc:
        ddb.update_table(TableName=name)
    assert api_error(exc)[1] == "ValidationException"
    out = ddb.update_table(TableName=name, BillingMode="PROVISIONED",
                           ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2})
    assert out["TableDescription"]["TableStatus"] == "UPDATING"
    t = ddb.describe_table(TableName=name)["Table"]
    assert t["TableStatus"] == "ACTIVE" and t["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert t["ProvisionedThroughput"]["WriteCapacityUnits"] == 2


def test_tags(ddb: Any, server: Server) -> None:
    name = _table(ddb, Tags=[{"Key": "a", "Value": "1"}])
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "1"},
                                                                 {"Key": "b", "Value": "2"}]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert aws_cli(server, "dynamodb", "list-tags-of-resource", "--resource-arn", arn)["Tags"] == [
        {"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        ddb.list_tags_of_resource(ResourceArn=arn + "-gone")
    assert api_error(exc)[1] == "ResourceNotFoundException"


def test_ttl_settings(ddb: Any) -> None:
    name = _table(ddb)
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    out = ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert out["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "exp"}
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
    with pytest.raises(ClientError) as exc:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert api_error(exc) == (400, "ValidationException", "TimeToLive is already enabled")


def test_resource_api_and_waiter(server: Server) -> None:
    res = boto3.resource("dynamodb", endpoint_url=server.endpoint, region_name=REGION,
                         aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                         config=BotoConfig(retries={"max_attempts": 0}))
    name = unique("res")
    table = res.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")
    table.wait_until_exists()
    table.reload()  # the resource caches CreateTable's answer (CREATING)
    assert table.table_status == "ACTIVE" and table.item_count == 0
    table.delete()
    table.wait_until_not_exists()


def test_regions_are_separate(server: Server, ddb: Any) -> None:
    name = _table(ddb)
    west = boto3.client("dynamodb", endpoint_url=server.endpoint, region_name="us-west-2",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    with pytest.raises(ClientError) as exc:
        west.describe_table(TableName=name)
    assert api_error(exc)[1] == "ResourceNotFoundException"
    _table(west, name)
    assert west.describe_table(TableName=name)["Table"]["TableArn"].startswith("arn:aws:dynamodb:us-west-2:")


def test_another_accounts_table_is_denied(server: Server, ddb: Any) -> None:
    name = _table(ddb)
    iam = server.client("iam")
    user = unique("u")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = server.client("dynamodb", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert as_user.describe_table(TableName=name)["Table"]["TableName"] == name
    other = f"arn:aws:dynamodb:{REGION}:111122223333:table/{name}"
    with pytest.raises(ClientError) as exc:
        as_user.describe_table(TableName=other)
    assert api_error(exc)[:2] == (400, "AccessDeniedException")
    with pytest.raises(ClientError) as exc:
        ddb.get_item(TableName=other, Key={"pk": {"S": "a"}})
    assert api_error(exc)[1] == "AccessDeniedException"
