"""Embedded CloudWatch (metrics and alarms) through boto3 and the AWS CLI, over its three protocols:
PutMetricData's rules, statistics and percentiles, GetMetricData, ListMetrics, alarms that change
state and notify an SNS topic (delivered to an SQS queue), Lambda's own AWS/Lambda metrics, another
account's metrics out of sight, malformed bodies, GET /metrics, and durability across kill -9."""

from __future__ import annotations

import gzip
import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import cbor2
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.auth.test_authz import _create_account, _parse_keys
from tests.conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, Server, create_function, unique, wait_until
from tests.services.conftest import aws_cli

NS = "Lambdad/Test"


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """botocore's CloudWatch model with one protocol each (boto3 itself picks `json` of the three)."""
    base = tmp_path_factory.mktemp("cw-models")
    model = botocore.loaders.Loader().load_service_model("cloudwatch", "service-2")
    for protocol in ("smithy-rpc-v2-cbor", "query"):
        target = base / protocol / "cloudwatch" / "2010-08-01"
        target.mkdir(parents=True)
        (target / "service-2.json").write_text(json.dumps(
            {**model, "metadata": {**model["metadata"], "protocol": protocol, "protocols": [protocol]}}))
    return base


def client_for(server: Server, models: Path, protocol: str, **keys: str) -> Any:
    if protocol == "json":
        c = server.client("cloudwatch", **keys)
    else:
        session = botocore.session.Session()
        session.get_component("data_loader").search_paths.insert(0, str(models / protocol))
        c = boto3.Session(botocore_session=session).client(
            "cloudwatch", endpoint_url=server.endpoint, region_name=REGION,
            aws_access_key_id=keys.get("key", ACCESS_KEY), aws_secret_access_key=keys.get("secret", SECRET_KEY),
            config=BotoConfig(retries={"max_attempts": 0}))
    assert c.meta.service_model.resolved_protocol == protocol
    return c


@pytest.fixture(scope="module")
def cw(server: Server) -> Any:
    return server.client("cloudwatch")


def window(minutes: int = 5) -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"StartTime": now - timedelta(minutes=minutes), "EndTime": now + timedelta(minutes=1)}


def one_point(cw: Any, name: str, dims: list[dict[str, str]] | None = None, **kw: Any) -> dict[str, Any]:
    points = cw.get_metric_statistics(Namespace=kw.pop("Namespace", NS), MetricName=name, Dimensions=dims or [],
                                      Period=kw.pop("Period", 3600), **window(), **kw)["Datapoints"]
    assert len(points) == 1, points
    return points[0]


# -- the three protocols ----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["json", "smithy-rpc-v2-cbor", "query"])
def test_put_and_read_in_each_protocol(server: Server, models: Path, protocol: str) -> None:
    c = client_for(server, models, protocol)
    name = unique("m")
    dims = [{"Name": "Proto", "Value": protocol}]
    c.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": name, "Dimensions": dims, "Values": [1.0, 2.0, 3.0], "Counts": [1, 1, 2], "Unit": "Seconds"},
        {"MetricName": name, "Dimensions": dims, "Value": 10, "Unit": "Seconds", "Timestamp": datetime.now(UTC)}])
    point = one_point(c, name, dims, Statistics=["Sum", "SampleCount", "Minimum", "Maximum", "Average"],
                      ExtendedStatistics=["p50", "p99"])
    assert point["Sum"] == 19.0 and point["SampleCount"] == 5.0 and point["Minimum"] == 1.0
    assert point["Maximum"] == 10.0 and point["Average"] == pytest.approx(3.8) and point["Unit"] == "Seconds"
    assert point["ExtendedStatistics"] == {"p50": 3.0, "p99": 10.0}
    assert isinstance(point["Timestamp"], datetime)
    listed = c.list_metrics(Namespace=NS, MetricName=name)["Metrics"]
    assert listed == [{"Namespace": NS, "MetricName": name, "Dimensions": dims}]
    data = c.get_metric_data(MetricDataQueries=[{"Id": "q", "MetricStat": {
        "Metric": {"Namespace": NS, "MetricName": name, "Dimensions": dims}, "Period": 60, "Stat": "Sum"}}],
        **window())["MetricDataResults"][0]
    assert data["Values"] == [19.0] and isinstance(data["Timestamps"][0], datetime)
    c.put_metric_alarm(AlarmName=name, Namespace=NS, MetricName=name, Dimensions=dims, Statistic="Sum",
                       Period=60, EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold")
    alarm = c.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["Dimensions"] == dims and isinstance(alarm["StateUpdatedTimestamp"], datetime)
    c.delete_alarms(AlarmNames=[name])
    with pytest.raises(ClientError) as exc:  # AWS's code in every protocol (query-compatible errors)
        c.put_metric_data(Namespace="AWS/Lambda", MetricData=[{"MetricName": name, "Value": 1}])
    assert err(exc) == (400, "InvalidParameterValue", "The value AWS/Lambda for parameter Namespace is invalid.")
    with pytest.raises(ClientError) as exc:
        c.describe_alarm_history(AlarmName="x", NextToken="!!")
    assert err(exc)[1] == "InvalidNextToken"


def test_the_aws_cli_speaks_json(server: Server) -> None:
    name = unique("cli")
    aws_cli(server, "cloudwatch", "put-metric-data", "--namespace", NS, "--metric-name", name, "--value", "4",
            "--dimensions", "Host=a")
    out = aws_cli(server, "cloudwatch", "list-metrics", "--namespace", NS, "--metric-name", name)
    assert out["Metrics"] == [{"Namespace": NS, "MetricName": name, "Dimensions": [{"Name": "Host", "Value": "a"}]}]


# -- PutMetricData's rules ----------------------------------------------------------------------------

def test_put_metric_data_rules(cw: Any) -> None:
    now = datetime.now(UTC)

    def refused(**datum: Any) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "r", **datum}])
        return err(exc)

    m = "MetricData.member.1"
    assert refused(Value=1, Values=[1.0]) == (
        400, "InvalidParameterCombination",
        f"The parameters {m}.Value and {m}.Values are mutually exclusive and you have specified both.")
    assert refused(Values=[1.0, 2.0], Counts=[1.0]) == (
        400, "InvalidParameterCombination", f"The parameters {m}.Values and {m}.Counts must be of the same size.")
    assert refused(Value=1, Timestamp=now - timedelta(days=15)) == (
        400, "InvalidParameterValue", f"The parameter {m}.Timestamp must specify a time within the past two weeks.")
    assert refused(Value=1, Timestamp=now + timedelta(hours=3))[1] == "InvalidParameterValue"
    assert refused(Value=1, StorageResolution=5) == (
        400, "InvalidParameterValue", f"The value 5 for parameter {m}.StorageResolution is invalid.")
    assert refused(Value=1, Dimensions=[{"Name": f"d{i}", "Value": "v"} for i in range(31)])[1] in (
        "InvalidParameterValue", "ValidationError")
    assert refused(Value=1, Dimensions=[{"Name": "d", "Value": "v"}, {"Name": "d", "Value": "w"}])[1] == \
        "InvalidParameterValue"
    assert refused()[1] == "MissingParameter"
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "r", "Value": 1}] * 1001)
    assert err(exc) == (400, "InvalidParameterValue",
                        "The collection MetricData must not have a size greater than 1000.")
    assert refused(StatisticValues={"SampleCount": 2, "Sum": 3, "Minimum": 2, "Maximum": 1})[1] == \
        "InvalidParameterValue"
    big = unique("gzip")  # 1,000 datums: botocore gzips a body past 10 KB (PutMetricData's requestcompression)
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": big, "Value": 2, "Unit": "Count"}] * 1000)
    assert one_point(cw, big, Statistics=["Sum"])["Sum"] == 2000.0
    # 30 dimensions and 13 days back are fine; StatisticValues count into the statistics
    name = unique("ok")
    dims = [{"Name": f"d{i}", "Value": "v"} for i in range(30)]
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": name, "Dimensions": dims, "Timestamp": now - timedelta(minutes=2),
         "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}}])
    point = one_point(cw, name, dims, Statistics=["Sum", "SampleCount", "Maximum"])
    assert (point["Sum"], point["SampleCount"], point["Maximum"]) == (10.0, 4.0, 4.0)
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": name, "Value": 1,
                                                  "Timestamp": now - timedelta(days=13)}])


def test_statistics_periods_units_and_limits(cw: Any) -> None:
    name = unique("p")
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": name, "Value": float(i), "Unit": "Count", "Timestamp": base + timedelta(minutes=i % 3)}
        for i in range(1, 101)])
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": name, "Value": 1000.0, "Unit": "Bytes",
                                                  "Timestamp": base}])
    span = {"StartTime": base, "EndTime": base + timedelta(minutes=3)}
    points = cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=60, Statistics=["SampleCount"],
                                      Unit="Count", **span)["Datapoints"]
    assert sorted(p["SampleCount"] for p in points) == [33.0, 33.0, 34.0]
    assert {p["Unit"] for p in points} == {"Count"}
    whole = cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=180, Statistics=["Maximum"],
                                     Unit="Bytes", **span)["Datapoints"]
    assert [p["Maximum"] for p in whole] == [1000.0]
    pct = cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=180, ExtendedStatistics=["p90", "p10"],
                                   Unit="Count", **span)["Datapoints"][0]["ExtendedStatistics"]
    assert pct == {"p90": 90.0, "p10": 10.0}
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=60, Statistics=["Sum"],
                                 StartTime=base - timedelta(days=1, minutes=1), EndTime=base)
    assert err(exc) == (400, "InvalidParameterCombination",
                        "You have requested up to 1441 datapoints, which exceeds the limit of 1440. You may reduce "
                        "the datapoints requested by increasing Period, or decreasing the time range.")
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=90, Statistics=["Sum"], **span)
    assert err(exc) == (400, "InvalidParameterValue", "The parameter Period must be a multiple of 60.")
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=60, Statistics=["Sum"],
                                 StartTime=base, EndTime=base - timedelta(minutes=1))
    assert err(exc) == (400, "InvalidParameterValue",
                        "The parameter StartTime must be less than the parameter EndTime.")
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=60, **span)
    assert err(exc)[1] == "MissingParameter"


def test_high_resolution_per_second(cw: Any) -> None:
    name = unique("hr")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": name, "Value": float(i), "StorageResolution": 1, "Timestamp": base + timedelta(seconds=i)}
        for i in range(5)])
    span = {"StartTime": base, "EndTime": base + timedelta(seconds=5)}
    points = cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=1, Statistics=["Sum"], **span)
    assert sorted(p["Sum"] for p in points["Datapoints"]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    minute = cw.get_metric_statistics(Namespace=NS, MetricName=name, Period=60, Statistics=["Sum"],
                                      StartTime=base - timedelta(minutes=1), EndTime=base + timedelta(minutes=1))
    assert sum(p["Sum"] for p in minute["Datapoints"]) == 10.0


def test_get_metric_data(cw: Any) -> None:
    name = unique("gmd")
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=4)
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": name, "Value": float(i), "Timestamp": base + timedelta(minutes=i)} for i in range(4)])
    metric = {"Namespace": NS, "MetricName": name}
    queries = [{"Id": "a", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}, "Label": "sums"},
               {"Id": "b", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p50"}},
               {"Id": "hidden", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}, "ReturnData": False}]
    span = {"StartTime": base, "EndTime": base + timedelta(minutes=4)}
    out = cw.get_metric_data(MetricDataQueries=queries, **span)
    a, b = out["MetricDataResults"]
    assert (a["Id"], a["Label"], a["Values"], a["StatusCode"]) == ("a", "sums", [3.0, 2.0, 1.0, 0.0], "Complete")
    assert b["Label"] == name and a["Timestamps"] == sorted(a["Timestamps"], reverse=True)
    asc = cw.get_metric_data(MetricDataQueries=queries[:1], ScanBy="TimestampAscending", **span)
    assert asc["MetricDataResults"][0]["Values"] == [0.0, 1.0, 2.0, 3.0]
    pages, token, values = 0, None, []
    while True:
        kw = {"NextToken": token} if token else {}
        page = cw.get_metric_data(MetricDataQueries=queries[:2], MaxDatapoints=3, **span, **kw)
        values += [v for r in page["MetricDataResults"] for v in r["Values"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and len(values) == 8
    with pytest.raises(ClientError) as exc:  # metric math comes later
        cw.get_metric_data(MetricDataQueries=[{"Id": "e", "Expression": "SUM(METRICS())"}], **span)
    assert err(exc)[1] == "InvalidParameterValue" and "Expression" in err(exc)[2]


def test_list_metrics_filters(cw: Any) -> None:
    ns = unique("ns")
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "a", "Value": 1, "Dimensions": [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "x"}]},
        {"MetricName": "a", "Value": 1, "Dimensions": [{"Name": "Host", "Value": "h2"}]},
        {"MetricName": "b", "Value": 1}])
    names = lambda **kw: sorted((m["MetricName"], len(m["Dimensions"]))  # noqa: E731
                                for m in cw.list_metrics(Namespace=ns, **kw)["Metrics"])
    assert names() == [("a", 1), ("a", 2), ("b", 0)]
    assert names(Dimensions=[{"Name": "Host"}]) == [("a", 1), ("a", 2)]
    assert names(Dimensions=[{"Name": "Host", "Value": "h1"}]) == [("a", 2)]
    assert names(MetricName="b", RecentlyActive="PT3H") == [("b", 0)]
    paginator = cw.get_paginator("list_metrics")
    assert sum(len(p["Metrics"]) for p in paginator.paginate(Namespace=ns)) == 3


# -- alarms -------------------------------------------------------------------------------------------

def test_alarm_lifecycle_state_and_history(cw: Any) -> None:
    name, metric = unique("alarm"), unique("am")
    cw.put_metric_alarm(AlarmName=name, Namespace=NS, MetricName=metric, Statistic="Maximum", Period=60,
                        EvaluationPeriods=2, DatapointsToAlarm=1, Threshold=5, TreatMissingData="notBreaching",
                        ComparisonOperator="GreaterThanOrEqualToThreshold", Tags=[{"Key": "team", "Value": "x"}])
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
    assert alarm["AlarmArn"] == arn and alarm["Threshold"] == 5.0 and alarm["DatapointsToAlarm"] == 1
    assert wait_until(lambda: cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "OK")
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": metric, "Value": 7}])
    assert wait_until(lambda: cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM")
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 2 datapoints [7.0 (")
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [7.0]
    assert cw.describe_alarms(StateValue="ALARM", AlarmNamePrefix=name)["MetricAlarms"][0]["AlarmName"] == name
    assert [a["AlarmName"] for a in cw.describe_alarms_for_metric(Namespace=NS, MetricName=metric)["MetricAlarms"]] \
        == [name]
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="by hand")
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateReason"] == "by hand"
    cw.disable_alarm_actions(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["ActionsEnabled"] is False
    cw.enable_alarm_actions(AlarmNames=[name])
    kinds = [h["HistoryItemType"] for h in cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]]
    assert kinds[-1] == "ConfigurationUpdate" and kinds.count("StateUpdate") >= 3
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "x"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "b", "Value": "2"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName=name + "-nope", StateValue="OK", StateReason="x")
    assert err(exc)[:2] == (404, "ResourceNotFound")
    with pytest.raises(ClientError) as exc:
        cw.put_metric_alarm(AlarmName=name, Namespace=NS, MetricName=metric, Statistic="Sum", Period=60,
                            EvaluationPeriods=1, DatapointsToAlarm=2, Threshold=1,
                            ComparisonOperator="GreaterThanThreshold")
    assert err(exc)[1] == "InvalidParameterValue"
    cw.delete_alarms(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


ERRORING = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("boom")
    return {"ok": True}
"""


def test_lambda_metrics_cli_and_an_alarm_on_errors_notifies_sns(server: Server, lam: Any, cw: Any) -> None:
    fn = create_function(lam, ERRORING)
    for payload in (b"{}", b"{}", b'{"fail": true}'):
        lam.invoke(FunctionName=fn, Payload=payload)
    start = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = aws_cli(server, "cloudwatch", "get-metric-statistics", "--namespace", "AWS/Lambda", "--metric-name",
                  "Invocations", "--dimensions", f"Name=FunctionName,Value={fn}", "--start-time", start,
                  "--end-time", end, "--period", "3600", "--statistics", "Sum")
    assert [p["Sum"] for p in out["Datapoints"]] == [3.0] and out["Label"] == "Invocations"
    dims = [{"Name": "FunctionName", "Value": fn}]
    assert one_point(cw, "Errors", dims, Namespace="AWS/Lambda", Statistics=["Sum"])["Sum"] == 1.0
    duration = one_point(cw, "Duration", dims, Namespace="AWS/Lambda", Statistics=["Maximum"],
                         ExtendedStatistics=["p50"])
    assert duration["Unit"] == "Milliseconds" and 0 < duration["ExtendedStatistics"]["p50"] <= duration["Maximum"]

    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=unique("alarms"))["TopicArn"]
    url = sqs.create_queue(QueueName=unique("alarmq"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    alarm = unique("errors")
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors", Dimensions=dims,
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic],
                        AlarmDescription="roll back")
    messages: list[dict[str, Any]] = []
    assert wait_until(lambda: bool(messages.extend(sqs.receive_message(QueueUrl=url).get("Messages", [])) or
                                   messages), timeout=15)
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == f'ALARM: "{alarm}" in US East (N. Virginia)'
    note = json.loads(envelope["Message"])
    assert note["AlarmName"] == alarm and note["NewStateValue"] == "ALARM" and note["OldStateValue"] == \
        "INSUFFICIENT_DATA"
    assert note["AWSAccountId"] == ACCOUNT and note["AlarmDescription"] == "roll back"
    assert note["Trigger"]["MetricName"] == "Errors" and note["Trigger"]["Statistic"] == "SUM"
    assert note["Trigger"]["Dimensions"] == [{"value": fn, "name": "FunctionName"}]
    history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == f"Successfully executed action {topic}"

    scrape = httpx.get(f"{server.endpoint}/metrics").text  # the same figures for Prometheus, unsigned
    line = f'lambdad_lambda_invocations_total{{account="{ACCOUNT}",region="{REGION}",function_name="{fn}"}} 3'
    assert line in scrape.splitlines()
    assert f'lambdad_lambda_errors_total{{account="{ACCOUNT}",region="{REGION}",function_name="{fn}"}} 1' in scrape
    with pytest.raises(ClientError) as exc:  # a signed GET /metrics is S3's: the bucket of that name
        server.client("s3").list_objects(Bucket="metrics")
    assert err(exc)[1] == "NoSuchBucket"


def test_lambda_metrics_by_alias_version_and_throttles(lam: Any, cw: Any) -> None:
    fn = create_function(lam, ERRORING)
    version = lam.publish_version(FunctionName=fn)["Version"]
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion=version)
    lam.invoke(FunctionName=fn, Qualifier="live", Payload=b"{}")
    lam.invoke(FunctionName=f"{fn}:{version}", Payload=b"{}")
    ns = {"Namespace": "AWS/Lambda", "Statistics": ["Sum"]}
    by = lambda *pairs: [{"Name": k, "Value": v} for k, v in pairs]  # noqa: E731
    assert one_point(cw, "Invocations", by(("FunctionName", fn)), **ns)["Sum"] == 2.0, "before the async one"
    assert one_point(cw, "Invocations", by(("FunctionName", fn), ("Resource", f"{fn}:live")), **ns)["Sum"] == 1.0
    assert one_point(cw, "Invocations", by(("FunctionName", fn), ("Resource", f"{fn}:{version}")), **ns)["Sum"] == 1
    assert one_point(cw, "Invocations", by(("ExecutedVersion", version), ("FunctionName", fn),
                                           ("Resource", f"{fn}:live")), **ns)["Sum"] == 1.0
    lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b"{}")  # accepted, then run by the dispatcher
    assert one_point(cw, "AsyncEventsReceived", by(("FunctionName", fn)), **ns)["Sum"] == 1.0
    assert wait_until(lambda: cw.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="AsyncEventAge", Dimensions=by(("FunctionName", fn)), Period=3600,
        Statistics=["SampleCount"], **window())["Datapoints"], timeout=15)
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError):
        lam.invoke(FunctionName=fn, Payload=b"{}")
    assert one_point(cw, "Throttles", by(("FunctionName", fn)), **ns)["Sum"] == 1.0
    listed = cw.list_metrics(Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": fn}])["Metrics"]
    assert {"Invocations", "Errors", "Duration", "Throttles", "ConcurrentExecutions"} <= \
        {m["MetricName"] for m in listed}


# -- isolation and hostile input ------------------------------------------------------------------------

def test_another_accounts_metrics_and_alarms_are_invisible(server: Server, cw: Any) -> None:
    name = unique("private")
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": name, "Value": 1}])
    cw.put_metric_alarm(AlarmName=name, Namespace=NS, MetricName=name, Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    created = _create_account(server, unique("cwacct"))
    assert created.returncode == 0, created.stderr
    _, keys = _parse_keys(created.stdout)
    other = server.client("cloudwatch", **keys)
    assert other.list_metrics(Namespace=NS, MetricName=name)["Metrics"] == []
    assert other.get_metric_statistics(Namespace=NS, MetricName=name, Period=3600, Statistics=["Sum"],
                                       **window())["Datapoints"] == []
    assert other.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []
    with pytest.raises(ClientError) as exc:
        other.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="x")
    assert err(exc)[1] == "ResourceNotFound"
    with pytest.raises(ClientError) as exc:
        other.list_tags_for_resource(ResourceARN=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
    assert err(exc)[1] == "ResourceNotFoundException"
    other.put_metric_data(Namespace=NS, MetricData=[{"MetricName": name, "Value": 5}])  # theirs, apart
    assert one_point(cw, name, Statistics=["Sum"])["Sum"] == 1.0


def _signed(server: Server, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    request = AWSRequest("POST", server.endpoint + path, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "monitoring", REGION).add_auth(request)
    return httpx.post(server.endpoint + path, content=body, headers=dict(request.headers.items()))


CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"


def test_malformed_bodies_are_400s(server: Server) -> None:
    cbor_headers = {"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor"}
    for body in (b"\xff\x00garbage", b"\x81\x01", b"\x9f" * 5, b"\x81" * 1000 + b"\x00", cbor2.dumps([1]),
                 cbor2.dumps({"Namespace": 5}), cbor2.dumps({"Namespace": "x", "MetricData": "no"})):
        r = _signed(server, CBOR_PATH + "PutMetricData", body, cbor_headers)
        assert r.status_code == 400, (body[:20], r.status_code)
        assert r.headers["smithy-protocol"] == "rpc-v2-cbor"
        assert cbor2.loads(r.content)["__type"] in ("SerializationException", "InvalidParameterValueException")
    r = _signed(server, CBOR_PATH + "ListMetrics", cbor2.dumps({"Namespace": "x" * 300}), cbor_headers)
    assert r.status_code == 400 and r.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    r = _signed(server, CBOR_PATH + "NoSuchOperation", b"", cbor_headers)
    assert r.status_code in (400, 404)
    json_headers = {"x-amz-target": "GraniteServiceVersion20100801.PutMetricData",
                    "content-type": "application/x-amz-json-1.0"}
    for body in (b"{not json", b"[1]", b'{"Namespace": "x", "MetricData": [{"MetricName": "m", "Value": "a"}]}'):
        r = _signed(server, "/", body, json_headers)
        assert r.status_code == 400 and r.json()["__type"] in ("SerializationException",), (body, r.text)
    bomb = gzip.compress(b"{" + b" " * (4 << 20) + b"}")  # 4 MB of JSON in a few KB
    r = _signed(server, "/", bomb, {**json_headers, "content-encoding": "gzip"})
    assert r.status_code == 413 and r.json()["__type"] == "RequestEntityTooLarge"
    r = _signed(server, "/", b"not gzip", {**json_headers, "content-encoding": "gzip"})
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"
    # unsigned: refused in the protocol asked, never served
    r = httpx.post(server.endpoint + CBOR_PATH + "ListMetrics", content=cbor2.dumps({}), headers=cbor_headers)
    assert r.status_code == 403 and "__type" in cbor2.loads(r.content)
    r = httpx.post(server.endpoint + "/", content=b"{}", headers=json_headers)
    assert r.status_code == 403 and "__type" in r.json()
    r = httpx.post(server.endpoint + "/", content=b"Action=ListMetrics&Version=2010-08-01",
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403 and r.text.startswith("<?xml")


def test_metrics_and_alarms_survive_kill_9(fresh_server: Server) -> None:
    fresh_server.start()
    cw = fresh_server.client("cloudwatch")
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "durable", "Values": [1.0, 2.0]}])
    cw.put_metric_alarm(AlarmName="kept", Namespace=NS, MetricName="durable", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold")
    fresh_server.stop(signal.SIGKILL)
    fresh_server.start()
    cw = fresh_server.client("cloudwatch")
    assert one_point(cw, "durable", Statistics=["Sum"], ExtendedStatistics=["p100"])["Sum"] == 3.0
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["kept"]
    assert cw.list_metrics(Namespace=NS)["Metrics"][0]["MetricName"] == "durable"


def test_an_iam_user_needs_cloudwatch_permissions(server: Server) -> None:
    iam = server.client("iam")
    user = unique("cwuser")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    keys = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    c = server.client("cloudwatch", **keys)
    assert wait_until(lambda: _denied(c), timeout=5)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudwatch:ListMetrics",
                                                "Resource": "*"}]}))
    assert c.list_metrics(Namespace=unique("none"))["Metrics"] == []
    with pytest.raises(ClientError) as exc:  # allowed to list, not to define alarms
        c.put_metric_alarm(AlarmName="a", Namespace=NS, MetricName="m", Statistic="Sum", Period=60,
                           EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    status, code, message = err(exc)
    assert (status, code) == (403, "AccessDenied") and "cloudwatch:PutMetricAlarm" in message
    assert f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a" in message


def _denied(c: Any) -> bool:
    try:
        c.list_metrics()
    except ClientError as exc:
        r = exc.response
        return (r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]) == (403, "AccessDenied")
    return False
