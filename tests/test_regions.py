"""Regions as AWS has them: the SigV4 credential scope's region scopes what a caller creates and sees,
so one server serves several regions side by side (a function, queue or topic of one name in two
regions is two resources), and a data dir from before regions loads into the default region."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, ROLE, api_error, make_zip, unique

EAST, WEST = "us-east-1", "us-west-2"

CODE = """
import os

def handler(event, context):
    return {"region": os.environ["AWS_REGION"], "arn": context.invoked_function_arn, "tag": TAG}
"""


def create(lam: Any, name: str, tag: str, **kwargs: Any) -> dict[str, Any]:
    out = lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                              Code={"ZipFile": make_zip({"app.py": CODE.replace("TAG", repr(tag))})}, **kwargs)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return out


def invoke(lam: Any, name: str, **kwargs: Any) -> dict[str, Any]:
    got = lam.invoke(FunctionName=name, Payload=b"{}", **kwargs)
    assert "FunctionError" not in got, got["Payload"].read()
    return json.loads(got["Payload"].read())


@pytest.fixture(scope="module")
def east(server: Any) -> Any:
    return server.client("lambda", region=EAST)


@pytest.fixture(scope="module")
def west(server: Any) -> Any:
    return server.client("lambda", region=WEST)


def arn(region: str, name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def test_same_name_in_two_regions_is_two_functions(east: Any, west: Any) -> None:
    name = unique("twin")
    assert create(east, name, "east")["FunctionArn"] == arn(EAST, name)
    assert create(west, name, "west")["FunctionArn"] == arn(WEST, name)
    # Each region runs its own code, in its own region, under its own ARN.
    assert invoke(east, name) == {"region": EAST, "arn": arn(EAST, name), "tag": "east"}
    assert invoke(west, name) == {"region": WEST, "arn": arn(WEST, name), "tag": "west"}
    assert west.get_function(FunctionName=name)["Configuration"]["FunctionArn"] == arn(WEST, name)
    assert name in {f["FunctionName"] for f in west.list_functions()["Functions"]}
    # Versions and aliases are the region's own.
    assert west.publish_version(FunctionName=name)["FunctionArn"] == arn(WEST, name, "1")
    alias = west.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert alias["AliasArn"] == arn(WEST, name, "live")
    assert invoke(west, name, Qualifier="live")["arn"] == arn(WEST, name, "live")
    with pytest.raises(ClientError) as exc:
        east.get_alias(FunctionName=name, Name="live")
    assert api_error(exc)[1] == "ResourceNotFoundException"
    # Deleting one leaves the other.
    west.delete_function(FunctionName=name)
    assert invoke(east, name)["tag"] == "east"
    with pytest.raises(ClientError) as exc:
        west.get_function(FunctionName=name)
    assert api_error(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn(WEST, name)}")
    assert name not in {f["FunctionName"] for f in west.list_functions()["Functions"]}
    east.delete_function(FunctionName=name)


def test_a_function_of_one_region_is_not_found_in_another(east: Any, west: Any) -> None:
    name = unique("only-east")
    create(east, name, "east")
    with pytest.raises(ClientError) as exc:
        west.get_function(FunctionName=name)
    assert api_error(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn(WEST, name)}")
    # An ARN of another region is refused as AWS refuses it, on reads and on invokes.
    for call in (lambda: west.get_function(FunctionName=arn(EAST, name)),
                 lambda: west.invoke(FunctionName=arn(EAST, name), Payload=b"{}"),
                 lambda: west.get_function_concurrency(FunctionName=arn(EAST, name))):
        with pytest.raises(ClientError) as exc:
            call()
        assert api_error(exc) == (404, "ResourceNotFoundException",
                                  f"Functions from '{EAST}' are not reachable in this region ('{WEST}')")
    assert invoke(east, arn(EAST, name))["region"] == EAST
    east.delete_function(FunctionName=name)


def test_layers_urls_and_settings_per_region(server: Any, east: Any, west: Any) -> None:
    layer = unique("lyr")
    content = {"ZipFile": make_zip({"python/helper.py": "X = 1\n"})}
    west_layer = west.publish_layer_version(LayerName=layer, Content=content)
    assert west_layer["LayerVersionArn"] == f"arn:aws:lambda:{WEST}:{ACCOUNT}:layer:{layer}:1"
    assert layer not in {entry["LayerName"] for entry in east.list_layers()["Layers"]}
    name = unique("url")
    with pytest.raises(ClientError) as exc:  # a function uses its own region's layers only
        create(east, name, "east", Layers=[west_layer["LayerVersionArn"]])
    assert api_error(exc)[2] == ("Layers are not in the same region as the function. Layers are expected to be "
                                 f"in region {EAST}.")
    create(west, name, "west", Layers=[west_layer["LayerVersionArn"]])
    url = west.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert f".lambda-url.{WEST}." in url
    for sid, action, extra in (("url", "lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}),
                               ("url-invoke", "lambda:InvokeFunction", {"InvokedViaFunctionUrl": True})):
        west.add_permission(FunctionName=name, StatementId=sid, Action=action, Principal="*", **extra)
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    got = httpx.get(f"http://127.0.0.1:{server.port}/", headers={"Host": f"{host}:{server.port}"}, timeout=30)
    assert got.status_code == 200 and got.json()["region"] == WEST, got.text
    # The same URL id under another region's host names nothing.
    other = host.replace(f".{WEST}.", f".{EAST}.")
    assert httpx.get(f"http://127.0.0.1:{server.port}/", headers={"Host": other}, timeout=30).status_code == 404
    counts = {r: c.get_account_settings()["AccountUsage"]["FunctionCount"] for r, c in ((EAST, east), (WEST, west))}
    west.delete_function(FunctionName=name)
    assert west.get_account_settings()["AccountUsage"]["FunctionCount"] == counts[WEST] - 1
    assert east.get_account_settings()["AccountUsage"]["FunctionCount"] == counts[EAST]


def test_async_invocations_and_logs_stay_in_the_region(server: Any, west: Any) -> None:
    name = unique("async-west")
    create(west, name, "west")
    assert west.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    logs_west = server.client("logs", region=WEST)
    logs_east = server.client("logs", region=EAST)
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = logs_west.filter_log_events(logGroupName=f"/aws/lambda/{name}").get("events", [])
        if any(e["message"].startswith("REPORT") for e in events):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the asynchronous invocation did not run in us-west-2")
    groups = logs_east.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert groups == []  # the function's logs are in its own region
    west.delete_function(FunctionName=name)


OLD_TABLES = {
    # the region-scoped tables as servers before regions created them: (columns to copy, the rest of the DDL)
    "functions": ("account, name, meta", "account TEXT NOT NULL, name TEXT NOT NULL, meta TEXT NOT NULL, "
                  "PRIMARY KEY (account, name)"),
    "function_versions": ("account, name, version, config, code_digest",
                          "account TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, config TEXT NOT NULL, "
                          "code_digest TEXT NOT NULL, PRIMARY KEY (account, name, version)"),
    "aliases": ("account, function, name, body", "account TEXT NOT NULL, function TEXT NOT NULL, name TEXT NOT NULL, "
                "body TEXT NOT NULL, PRIMARY KEY (account, function, name)"),
    "layers": ("account, name, next_version", "account TEXT NOT NULL, name TEXT NOT NULL, "
               "next_version INTEGER NOT NULL, PRIMARY KEY (account, name)"),
    "layer_versions": ("account, name, version, body", "account TEXT NOT NULL, name TEXT NOT NULL, "
                       "version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (account, name, version)"),
    "sqs_queues": ("id, account, name, attributes, tags, created, modified",
                   "id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, name TEXT NOT NULL, "
                   "attributes TEXT NOT NULL, tags TEXT NOT NULL, created INTEGER NOT NULL, "
                   "modified INTEGER NOT NULL, UNIQUE (account, name)"),
}


def make_old(db: sqlite3.Connection) -> None:
    """Rewrite the region-scoped tables as a server before regions wrote them (no region column)."""
    with db:
        for table, (names, ddl) in OLD_TABLES.items():
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_new")
            db.execute(f"CREATE TABLE {table} ({ddl})")
            db.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {table}_new")
            db.execute(f"DROP TABLE {table}_new")
        db.execute("ALTER TABLE async_events DROP COLUMN region")


def test_a_data_dir_from_before_regions_loads_into_the_default_region(fresh_server: Any) -> None:
    fresh_server.start()
    east = fresh_server.client("lambda", region=EAST)
    name, layer = unique("old"), unique("old-layer")
    create(east, name, "before")
    east.publish_version(FunctionName=name)
    east.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    east.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip({"a.txt": "a"})})
    sqs = fresh_server.client("sqs", region=EAST)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    fresh_server.stop()
    db = sqlite3.connect(fresh_server.data_dir / "lambdad.db")
    make_old(db)
    assert "region" not in {row[1] for row in db.execute("PRAGMA table_info(functions)")}
    db.close()

    fresh_server.start()
    east = fresh_server.client("lambda", region=EAST)
    west = fresh_server.client("lambda", region=WEST)
    assert invoke(east, name, Qualifier="live") == {"region": EAST, "arn": arn(EAST, name, "live"), "tag": "before"}
    assert east.get_layer_version(LayerName=layer, VersionNumber=1)["Version"] == 1
    sqs = fresh_server.client("sqs", region=EAST)
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url  # the same URL as before
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["kept"]
    with pytest.raises(ClientError):
        fresh_server.client("sqs", region=WEST).get_queue_url(QueueName=name)
    with pytest.raises(ClientError) as exc:
        west.get_function(FunctionName=name)
    assert api_error(exc)[1] == "ResourceNotFoundException"
    # The migrated rows are ordinary ones: the same name can now be created in another region.
    create(west, name, "west")
    assert invoke(west, name)["tag"] == "west"
    east.update_function_configuration(FunctionName=name, Description="after")
    east.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    fresh_server.stop()
    fresh_server.start()
    east = fresh_server.client("lambda", region=EAST)
    assert east.get_function(FunctionName=name)["Configuration"]["Description"] == "after"
    assert invoke(fresh_server.client("lambda", region=WEST), name)["tag"] == "west"


def test_a_queue_per_region(server: Any) -> None:
    east, west = server.client("sqs", region=EAST), server.client("sqs", region=WEST)
    name = unique("q")
    east_url = east.create_queue(QueueName=name)["QueueUrl"]
    west_url = west.create_queue(QueueName=name)["QueueUrl"]
    # The default region's URLs keep their form; another region's carry it, as AWS's do.
    assert east_url == f"http://localhost:{server.port}/{ACCOUNT}/{name}"
    assert west_url == f"http://sqs.{WEST}.localhost:{server.port}/{ACCOUNT}/{name}"
    assert west.get_queue_url(QueueName=name)["QueueUrl"] == west_url
    arns = {r: c.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for r, c, u in ((EAST, east, east_url), (WEST, west, west_url))}
    assert arns == {EAST: f"arn:aws:sqs:{EAST}:{ACCOUNT}:{name}", WEST: f"arn:aws:sqs:{WEST}:{ACCOUNT}:{name}"}
    west.send_message(QueueUrl=west_url, MessageBody="west")
    assert east.receive_message(QueueUrl=east_url, WaitTimeSeconds=0).get("Messages") is None
    assert [m["Body"] for m in west.receive_message(QueueUrl=west_url)["Messages"]] == ["west"]
    assert west_url in west.list_queues(QueueNamePrefix=name)["QueueUrls"]
    assert west_url not in east.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
    # Another region's queue is not this region's, by URL or by name.
    with pytest.raises(ClientError) as exc:
        east.send_message(QueueUrl=west_url, MessageBody="x")
    assert api_error(exc)[1] == "AWS.SimpleQueueService.NonExistentQueue"
    west.delete_queue(QueueUrl=west_url)
    assert east.get_queue_url(QueueName=name)["QueueUrl"] == east_url
    east.delete_queue(QueueUrl=east_url)


def test_a_topic_per_region_and_sns_invokes_across_regions(server: Any, west: Any) -> None:
    east_sns, west_sns = server.client("sns", region=EAST), server.client("sns", region=WEST)
    name = unique("t")
    east_topic = east_sns.create_topic(Name=name)["TopicArn"]
    west_topic = west_sns.create_topic(Name=name)["TopicArn"]
    assert (east_topic, west_topic) == (f"arn:aws:sns:{EAST}:{ACCOUNT}:{name}", f"arn:aws:sns:{WEST}:{ACCOUNT}:{name}")
    assert west_topic in {t["TopicArn"] for t in west_sns.list_topics()["Topics"]}
    assert west_topic not in {t["TopicArn"] for t in east_sns.list_topics()["Topics"]}
    with pytest.raises(ClientError) as exc:
        east_sns.get_topic_attributes(TopicArn=west_topic)
    assert api_error(exc)[1] == "NotFound"
    # SNS may invoke a function in another region (AWS allows it): a us-east-1 topic, a us-west-2 function.
    fn = unique("sns-target")
    create(west, fn, "west")
    west.add_permission(FunctionName=fn, StatementId="sns", Action="lambda:InvokeFunction",
                        Principal="sns.amazonaws.com", SourceArn=east_topic)
    east_sns.subscribe(TopicArn=east_topic, Protocol="lambda", Endpoint=arn(WEST, fn))
    east_sns.publish(TopicArn=east_topic, Message="hello")
    logs = server.client("logs", region=WEST)
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}").get("events", [])
        except ClientError:
            events = []
        if any(e["message"].startswith("REPORT") for e in events):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the us-east-1 topic did not invoke the us-west-2 function")
    west.delete_function(FunctionName=fn)
    east_sns.delete_topic(TopicArn=east_topic)
    west_sns.delete_topic(TopicArn=west_topic)


def test_an_sqs_mapping_needs_a_queue_of_the_functions_region(server: Any, west: Any) -> None:
    east_sqs = server.client("sqs", region=EAST)
    name = unique("esm")
    url = east_sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = east_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn = unique("esm-fn")
    create(west, fn, "west")
    with pytest.raises(ClientError) as exc:
        west.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=fn)
    assert api_error(exc)[1] == "InvalidParameterValueException"
    west.delete_function(FunctionName=fn)
    east_sqs.delete_queue(QueueUrl=url)


def test_load_balancers_and_target_groups_per_region(server: Any) -> None:
    east, west = server.client("elbv2", region=EAST), server.client("elbv2", region=WEST)
    name = unique("tg")[:32]
    west_tg = west.create_target_group(Name=name, TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    assert west_tg.startswith(f"arn:aws:elasticloadbalancing:{WEST}:{ACCOUNT}:targetgroup/{name}/")
    east_tg = east.create_target_group(Name=name, TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    assert east_tg != west_tg and f":{EAST}:" in east_tg  # one name per region
    assert [tg["TargetGroupArn"] for tg in west.describe_target_groups(Names=[name])["TargetGroups"]] == [west_tg]
    with pytest.raises(ClientError) as exc:
        east.describe_target_groups(TargetGroupArns=[west_tg])
    assert api_error(exc)[1] == "TargetGroupNotFound"
    lb_name = unique("lb")[:32]
    lb = west.create_load_balancer(Name=lb_name, Subnets=["subnet-1", "subnet-2"])["LoadBalancers"][0]
    assert f":{WEST}:" in lb["LoadBalancerArn"] and f".{WEST}.elb." in lb["DNSName"]
    assert lb_name not in {x["LoadBalancerName"] for x in east.describe_load_balancers()["LoadBalancers"]}
    west.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    for client, tg in ((west, west_tg), (east, east_tg)):
        client.delete_target_group(TargetGroupArn=tg)
