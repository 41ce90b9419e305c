"""Provisioned concurrency through boto3: configs, pre-initialized environments, AWS's errors."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import api_error as error
from tests.conftest import create_function, make_zip
from tests.conftest import function_arn as arn
from tests.unvalidated import unvalidated_client

CODE = """
import os, time

INIT = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
print("init done", INIT)

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"init": INIT, "version": context.function_version, "env": context.log_stream_name}
"""




def wait_status(lam, name: str, qualifier: str, status: str = "READY", available: int | None = None) -> dict:
    """Poll until the config reaches `status` (and `available` environments): a wait, not a timing check."""
    deadline = time.monotonic() + 60
    while True:
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        count = cfg["AvailableProvisionedConcurrentExecutions"]
        if cfg["Status"] == status and (available is None or count == available):
            return cfg
        assert time.monotonic() < deadline, cfg
        time.sleep(0.05)


def invoke(lam, name: str, qualifier: str | None = None, **event) -> tuple[dict, str]:
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail", **kwargs)
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body, base64.b64decode(resp["LogResult"]).decode()


def published(lam, code: str = CODE, **kwargs) -> str:
    name = create_function(lam, code, **kwargs)
    lam.publish_version(FunctionName=name)
    return name


def test_provisioned_version_lifecycle(lam):
    name = published(lam)
    before = lam.get_function_configuration(FunctionName=name, Qualifier="1")["RevisionId"]
    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2)
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["RevisionId"] != before
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["Status"] == "IN_PROGRESS" and put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["AllocatedProvisionedConcurrentExecutions"] == 0
    ready = wait_status(lam, name, "1")
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2 and "StatusReason" not in ready

    # Two concurrent requests both land in pre-initialized environments: no cold start at all.
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: invoke(lam, name, "1", sleep=0.3), range(2)))
    assert {body["init"] for body, _ in both} == {"provisioned-concurrency"}
    assert len({body["env"] for body, _ in both}) == 2
    for _, log in both:
        assert "REPORT RequestId" in log and "Init Duration" not in log
        assert "init done" not in log  # the init ran before any request

    # $LATEST is not provisioned: an on-demand cold start with its Init Duration.
    body, log = invoke(lam, name)
    assert body["init"] == "on-demand" and "Init Duration" in log

    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(name, "1")]
    assert listed[0]["Status"] == "READY"

    # Lowering the config stops the surplus environment; raising it provisions again.
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert wait_status(lam, name, "1")["AvailableProvisionedConcurrentExecutions"] == 1

    assert lam.delete_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert error(exc) == (404, "ProvisionedConcurrencyConfigNotFoundException",
                          "No Provisioned Concurrency Config found for this function")
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    body, log = invoke(lam, name, "1")
    assert body["init"] == "on-demand" and "Init Duration" in log


def test_provisioned_alias(lam):
    name = published(lam)
    lam.update_function_configuration(FunctionName=name, Description="two")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert error(exc) == (409, "ResourceConflictException",
                          "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned "
                          "version")
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")

    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert error(exc) == (409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias")
    wait_status(lam, name, "live", available=1)
    body, log = invoke(lam, name, "live")
    assert body == {**body, "init": "provisioned-concurrency", "version": "1"} and "Init Duration" not in log

    # The provisioned environments follow the alias to its new version.
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    wait_status(lam, name, "live", available=1)
    body, log = invoke(lam, name, "live")
    assert body["init"] == "provisioned-concurrency" and body["version"] == "2" and "Init Duration" not in log

    # With weighted routing the environments are split between both versions by weight.
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2)
    wait_status(lam, name, "live", available=2)
    seen = set()
    for _ in range(20):
        body, log = invoke(lam, name, "live")
        assert body["init"] == "provisioned-concurrency" and "Init Duration" not in log
        seen.add(body["version"])
    assert seen == {"1", "2"}

    # Deleting the alias deletes its config.
    lam.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert error(exc) == (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn(name, 'live')}")
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_errors(server, lam):
    raw = unvalidated_client(server)
    name = published(lam)

    def err(call, **kwargs) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        return error(exc)

    alias_missing = lambda fn, q: (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn(fn, q)}")  # noqa: E731
    version_missing = lambda fn, q: (404, "ResourceNotFoundException", f"Function not found: {arn(fn, q)}")  # noqa: E731
    not_alias = (400, "InvalidParameterValueException",
                 "The function resource provided must be an alias or a published version.")

    assert err(lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier="1") == (
        404, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this "
        "function")
    for call in (lam.get_provisioned_concurrency_config, lam.delete_provisioned_concurrency_config):
        assert err(call, FunctionName="doesnotexist", Qualifier="noalias") == alias_missing("doesnotexist", "noalias")
        assert err(call, FunctionName=name, Qualifier="noalias") == alias_missing(name, "noalias")
        assert err(call, FunctionName=name, Qualifier="10") == version_missing(name, "10")
        assert err(call, FunctionName=name, Qualifier="$LATEST") == not_alias
    assert err(lam.delete_provisioned_concurrency_config, FunctionName="doesnotexist", Qualifier="1") == (
        version_missing("doesnotexist", "1"))
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")  # no config: still success
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    assert err(lam.list_provisioned_concurrency_configs, FunctionName="doesnotexist") == (
        404, "ResourceNotFoundException", f"Function not found: {arn('doesnotexist')}")

    put = lam.put_provisioned_concurrency_config
    assert err(raw.put_provisioned_concurrency_config, FunctionName=name, Qualifier="1",
               ProvisionedConcurrentExecutions=0) == (
        400, "ValidationException", "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' "
        "failed to satisfy constraint: Member must have value greater than or equal to 1")
    assert err(put, FunctionName="doesnotexist", Qualifier="noalias", ProvisionedConcurrentExecutions=1) == (
        alias_missing("doesnotexist", "noalias"))
    assert err(put, FunctionName="doesnotexist", Qualifier="1", ProvisionedConcurrentExecutions=1) == (
        version_missing("doesnotexist", "1"))
    assert err(put, FunctionName=name, Qualifier="doesnotexist", ProvisionedConcurrentExecutions=1) == (
        alias_missing(name, "doesnotexist"))
    assert err(put, FunctionName=name, Qualifier="10", ProvisionedConcurrentExecutions=1) == version_missing(name, "10")
    assert err(put, FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1) == (
        400, "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")

    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert err(put, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=unreserved + 1) == (
        400, "InvalidParameterValueException",
        f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{unreserved}].")
    assert err(put, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=unreserved - 99) == (
        400, "InvalidParameterValueException", "Specified ConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].")


def test_provisioned_within_reserved_concurrency(lam):
    name = published(lam)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2)
    wait_status(lam, name, "1")

    # All of the reserved concurrency is provisioned: nothing is left for on-demand $LATEST.
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert error(exc)[:2] == (429, "TooManyRequestsException")
    assert exc.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert invoke(lam, name, "1")[0]["init"] == "provisioned-concurrency"

    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=3)
    assert error(exc) == (400, "InvalidParameterValueException", "Requested Provisioned Concurrency should not be "
                          "greater than the reservedConcurrentExecution for function")
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert error(exc) == (400, "InvalidParameterValueException", " ReservedConcurrentExecutions  1 should not be "
                          "lower than function's total provisioned concurrency [2].")
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert invoke(lam, name)[0]["init"] == "on-demand"
    lam.delete_function(FunctionName=name)


def test_deleting_the_version_deletes_its_config(lam):
    name = published(lam)
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=3)
    # Provisioned concurrency comes out of the account's unreserved pool.
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == unreserved - 3
    wait_status(lam, name, "1")
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == unreserved


def test_provisioned_init_failure(lam):
    name = published(lam, "raise RuntimeError('no init for you')\ndef handler(e, c):\n    return 1\n")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    failed = wait_status(lam, name, "1", status="FAILED")
    assert failed["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0
    assert failed["AvailableProvisionedConcurrentExecutions"] == 0


def test_a_lost_provisioned_environment_is_replaced(lam):
    name = published(lam, Timeout=1)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_status(lam, name, "1", available=1)
    resp = lam.invoke(FunctionName=name, Qualifier="1", Payload=json.dumps({"sleep": 3}))
    assert resp["FunctionError"] == "Unhandled"  # timed out: that environment is gone
    wait_status(lam, name, "1", available=1)
    body, log = invoke(lam, name, "1")
    assert body["init"] == "provisioned-concurrency" and "Init Duration" not in log


def test_provisioned_concurrency_survives_restart(fresh_server):
    fresh_server.start()
    lam = fresh_server.client()
    name = published(lam)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": CODE}))
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_status(lam, name, "1")
    fresh_server.stop()
    fresh_server.start()
    lam = fresh_server.client()
    wait_status(lam, name, "1", available=1)
    body, log = invoke(lam, name, "1")
    assert body["init"] == "provisioned-concurrency" and "Init Duration" not in log
