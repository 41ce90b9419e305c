"""Event source mappings across restarts and kill -9, other accounts' queues and functions, scoped
execution roles, and aws-lambda-powertools' batch processor running unchanged inside a function."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.auth.test_authz import _create_account, _parse_keys
from tests.conftest import LAMBDA_TRUST, Server, api_error, create_function, make_zip, unique, wait_until
from tests.mappings.test_sqs_mappings import (
    drain_results,
    queue,
    queue_empty,
    records_of,
    reporter,
    send_many,
    wait_state,
)
from tests.runtime.conftest import dist_files

HELLO = "def handler(event, context):\n    return None\n"


def test_mappings_survive_a_restart_and_kill_9_mid_drain_loses_nothing(fresh_server: Server) -> None:
    fresh_server.start()
    lam, sqs = fresh_server.client("lambda"), fresh_server.client("sqs")
    results_url, _ = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="2")
    name = reporter(lam, results_url, MODE="slow")
    bodies = [json.dumps({"i": i, "sleep": 0.02}) for i in range(300)]
    send_many(sqs, url, bodies)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10,
                                           ScalingConfig={"MaximumConcurrency": 3})["UUID"]
    before = drain_results(sqs, results_url, lambda r: len(records_of(r)) >= 60, 60)
    fresh_server.stop(signal.SIGKILL)  # mid-drain: batches in flight, deletes pending
    fresh_server.start()
    lam, sqs = fresh_server.client("lambda"), fresh_server.client("sqs")
    mapping = lam.get_event_source_mapping(UUID=uuid)
    assert mapping["State"] == "Enabled" and mapping["BatchSize"] == 10
    after = drain_results(sqs, results_url,
                          lambda r: {x["body"] for x in records_of(before + r)} >= set(bodies), 120)
    assert {x["body"] for x in records_of(before + after)} == set(bodies)  # every acknowledged message ran
    assert wait_until(lambda: queue_empty(sqs, url), 15)  # and every one was deleted
    # A graceful restart keeps the mapping too, its settings and its tags.
    lam.tag_resource(Resource=mapping["EventSourceMappingArn"], Tags={"k": "v"})
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_state(lam, uuid, "Disabled")
    fresh_server.stop()
    fresh_server.start()
    lam = fresh_server.client("lambda")
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    assert lam.list_tags(Resource=mapping["EventSourceMappingArn"])["Tags"] == {"k": "v"}


def _tenant(server: Server) -> tuple[str, dict[str, str]]:
    created = _create_account(server, unique("acct"))
    assert created.returncode == 0, created.stderr
    account, keys = _parse_keys(created.stdout)
    iam = server.client("iam", **keys)
    iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=LAMBDA_TRUST)
    iam.attach_role_policy(RoleName="lambda-role", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    return account, keys


def test_another_accounts_queue_needs_its_queue_policy(server: Server, lam: Any, sqs: Any) -> None:
    account, keys = _tenant(server)
    tenant_lam = server.client("lambda", **keys)
    tenant_fn = unique("tenant")
    tenant_lam.create_function(FunctionName=tenant_fn, Runtime="python3.12", Handler="app.handler",
                               Role=f"arn:aws:iam::{account}:role/lambda-role",
                               Code={"ZipFile": make_zip({"app.py": HELLO})})
    tenant_lam.get_waiter("function_active_v2").wait(FunctionName=tenant_fn, WaiterConfig={"Delay": 0.2})
    victim_url, victim_arn = queue(sqs)
    sqs.send_message(QueueUrl=victim_url, MessageBody="secret")
    with pytest.raises(ClientError) as exc:  # its role may do anything in its own account, not in ours
        tenant_lam.create_event_source_mapping(EventSourceArn=victim_arn, FunctionName=tenant_fn)
    assert api_error(exc) == (400, "InvalidParameterValueException",
                              "The provided execution role does not have permissions to call ReceiveMessage on SQS")
    assert sqs.get_queue_attributes(QueueUrl=victim_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"
    # The queue's owner lets the tenant's role in: now the mapping may be made.
    role = f"arn:aws:iam::{account}:role/lambda-role"
    sqs.set_queue_attributes(QueueUrl=victim_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": role},
                                                "Action": "sqs:*", "Resource": victim_arn}]})})
    uuid = tenant_lam.create_event_source_mapping(EventSourceArn=victim_arn, FunctionName=tenant_fn)["UUID"]
    # The owner of the queue does not see or control the tenant's mapping, nor the other way round.
    with pytest.raises(ClientError) as exc:
        lam.get_event_source_mapping(UUID=uuid)
    assert api_error(exc) == (404, "ResourceNotFoundException", "The resource you requested does not exist.")
    with pytest.raises(ClientError) as exc:
        lam.delete_event_source_mapping(UUID=uuid)
    assert api_error(exc)[:2] == (404, "ResourceNotFoundException")
    assert uuid not in [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]]
    assert wait_until(lambda: queue_empty(sqs, victim_url), 20)  # the tenant's function drained it
    # The owner withdraws the policy: the tenant's pollers stop receiving (AWS polls as the role, each time).
    sqs.set_queue_attributes(QueueUrl=victim_url, Attributes={"Policy": ""})
    time.sleep(0.5)  # a poller already waiting in its long poll may take one more message
    while sqs.receive_message(QueueUrl=victim_url, WaitTimeSeconds=1).get("Messages"):
        pass
    sqs.send_message(QueueUrl=victim_url, MessageBody="private")
    time.sleep(2)
    assert sqs.get_queue_attributes(QueueUrl=victim_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"
    stats = httpx.get(f"{server.endpoint}/_lambdad/health").json()["event_source_mappings"]["by_mapping"][uuid]
    assert stats["last_result"] == ("PROBLEM: The provided execution role does not have permissions to call "
                                    "ReceiveMessage on SQS")
    tenant_lam.delete_event_source_mapping(UUID=uuid)


def test_another_accounts_function_is_not_reachable(server: Server, lam: Any, sqs: Any) -> None:
    _account, keys = _tenant(server)
    tenant_lam, tenant_sqs = server.client("lambda", **keys), server.client("sqs", **keys)
    _, tenant_queue = queue(tenant_sqs)
    victim = create_function(lam, HELLO)
    victim_arn = lam.get_function(FunctionName=victim)["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        tenant_lam.create_event_source_mapping(EventSourceArn=tenant_queue, FunctionName=victim_arn)
    assert api_error(exc) == (404, "ResourceNotFoundException", "Function does not exist")
    assert lam.list_event_source_mappings(FunctionName=victim)["EventSourceMappings"] == []


def test_an_execution_role_without_sqs_permissions_is_refused(server: Server, lam: Any, sqs: Any) -> None:
    iam = server.client("iam")
    role_name = unique("role")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    _, arn = queue(sqs)
    iam.put_role_policy(RoleName=role_name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": arn}]}))
    name = unique("scoped")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=role,
                        Code={"ZipFile": make_zip({"app.py": HELLO})})
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert api_error(exc) == (400, "InvalidParameterValueException",
                              "The provided execution role does not have permissions to call DeleteMessage on SQS")
    iam.put_role_policy(RoleName=role_name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": arn, "Action": [
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]}]}))
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    lam.delete_event_source_mapping(UUID=uuid)


def test_oversized_and_malformed_input_is_a_4xx(server: Server, lam: Any, sqs: Any) -> None:
    from tests.unvalidated import unvalidated_client

    raw = unvalidated_client(server)
    _, arn = queue(sqs)
    name = create_function(lam, HELLO)
    huge = json.dumps({"body": {"k": ["v" * 5000]}})
    for kwargs in ({"FilterCriteria": {"Filters": [{"Pattern": huge}]}},
                   {"FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"k": ["v"]}})}] * 6}},
                   {"BatchSize": 0}, {"BatchSize": 10001}, {"EventSourceArn": "not-an-arn"},
                   {"EventSourceArn": "arn:aws:s3:::bucket"}, {"FunctionResponseTypes": ["Nope"]}):
        with pytest.raises(ClientError) as exc:
            raw.create_event_source_mapping(**{"EventSourceArn": arn, "FunctionName": name, **kwargs})
        assert 400 <= api_error(exc)[0] < 500, kwargs
    with pytest.raises(ClientError) as exc:
        raw.get_event_source_mapping(UUID="../../etc")
    assert 400 <= api_error(exc)[0] < 500


POWERTOOLS = '''
import json, os
import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import SQSEvent

processor = BatchProcessor(event_type=EventType.SQS)
sqs = boto3.client("sqs")

def record_handler(record):
    if json.loads(record.body).get("fail"):
        raise ValueError("failed record")
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=record.body)

def handler(event, context):
    parsed = SQSEvent(event)
    for r in parsed.records:  # the data class reads every field it knows
        assert r.message_id and r.receipt_handle and r.md5_of_body and r.event_source == "aws:sqs"
        assert r.attributes.approximate_receive_count and r.attributes.sent_timestamp
        assert r.event_source_arn.startswith("arn:aws:sqs:") and r.aws_region
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
'''


def test_powertools_batch_processor_works_unchanged(server: Server, lam: Any, sqs: Any) -> None:
    pytest.importorskip("aws_lambda_powertools", reason="aws-lambda-powertools is in the test extras")
    results_url, _ = queue(sqs)
    dlq_url, dlq_arn = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    files: dict[str, str | bytes] = {"app.py": POWERTOOLS}
    files.update({path: data for path, data in dist_files("aws-lambda-powertools", "jmespath",
                                                          "typing_extensions").items()
                  if not path.startswith("..")})  # console scripts live outside site-packages
    name = create_function(lam, files, Timeout=30, Environment={"Variables": {"RESULTS": results_url}})
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10,
                                           MaximumBatchingWindowInSeconds=1,
                                           FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
    wait_state(lam, uuid, "Enabled")
    send_many(sqs, url, [json.dumps({"n": 1}), json.dumps({"n": 2, "fail": True}), json.dumps({"n": 3})])
    got: list[str] = []
    deadline = time.monotonic() + 60
    while len(got) < 2 and time.monotonic() < deadline:
        got += [m["Body"] for m in sqs.receive_message(QueueUrl=results_url, MaxNumberOfMessages=10,
                                                       WaitTimeSeconds=1).get("Messages", [])]
    assert sorted(json.loads(b)["n"] for b in got) == [1, 3]
    dead: list[dict[str, Any]] = []
    while not dead and time.monotonic() < deadline:
        dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(m["Body"])["n"] for m in dead] == [2]  # only the record powertools reported failed
    lam.delete_event_source_mapping(UUID=uuid)


