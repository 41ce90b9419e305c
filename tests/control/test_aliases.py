"""Aliases through boto3: lifecycle, AWS's validation, weighted routing and rolling deployments."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import api_error as error
from tests.conftest import create_function, make_zip
from tests.conftest import function_arn as arn
from tests.unvalidated import unvalidated_client

CODE = """
import os

def handler(event, context):
    return {"env": os.environ.get("STAGE"), "version": context.function_version,
            "arn": context.invoked_function_arn}
"""




@pytest.fixture(scope="module")
def two_versions(lam) -> str:
    """A function with version 1 (STAGE=staging) and version 2 (STAGE=prod)."""
    name = create_function(lam, CODE, Environment={"Variables": {"STAGE": "staging"}})
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "prod"}})
    lam.publish_version(FunctionName=name)
    return name


def test_alias_lifecycle(lam, two_versions):
    name = two_versions
    created = lam.create_alias(FunctionName=name, Name="a1", FunctionVersion="1", Description="custom-alias",
                               RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    expected = {"AliasArn": arn(name, "a1"), "Name": "a1", "FunctionVersion": "1", "Description": "custom-alias",
                "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.2}}, "RevisionId": created["RevisionId"]}
    assert {k: v for k, v in created.items() if k != "ResponseMetadata"} == expected
    got = lam.get_alias(FunctionName=name, Name="a1")
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == expected

    # GetFunction through the alias shows the alias ARN and the primary version's configuration.
    for kwargs in ({"FunctionName": name, "Qualifier": "a1"}, {"FunctionName": arn(name, "a1")}):
        cfg = lam.get_function(**kwargs)["Configuration"]
        assert cfg["FunctionArn"] == arn(name, "a1") and cfg["Version"] == "1"
        assert cfg["Environment"]["Variables"]["STAGE"] == "staging"
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name, Qualifier="aliasdoesnotexist")
    assert error(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn(name, 'aliasdoesnotexist')}")

    lam.create_alias(FunctionName=name, Name="a2", FunctionVersion="1")
    lam.create_alias(FunctionName=name, Name="b", FunctionVersion="2", Description="on two")
    lam.create_alias(FunctionName=name, Name="2024-01-02", FunctionVersion="$LATEST")
    pages = lam.get_paginator("list_aliases").paginate(FunctionName=name, PaginationConfig={"PageSize": 1})
    listed = [a for page in pages for a in page["Aliases"]]
    assert [a["Name"] for a in listed] == ["2024-01-02", "a1", "a2", "b"]
    assert "RoutingConfig" not in listed[2]
    for_one = lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]
    assert [a["Name"] for a in for_one] == ["a1", "a2"]

    # Updating: an empty weight map removes the routing; a plain update still moves RevisionId.
    updated = lam.update_alias(FunctionName=name, Name="a1", RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in updated and updated["RevisionId"] != created["RevisionId"]
    assert updated["Description"] == "custom-alias" and updated["FunctionVersion"] == "1"
    again = lam.update_alias(FunctionName=name, Name="a1")
    assert again["RevisionId"] != updated["RevisionId"]
    with pytest.raises(ClientError) as exc:
        lam.update_alias(FunctionName=name, Name="a1", Description="x", RevisionId=updated["RevisionId"])
    assert error(exc) == (412, "PreconditionFailedException",
                          "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
                          "GetAlias API to retrieve the latest Revision Id")
    moved = lam.update_alias(FunctionName=name, Name="a1", FunctionVersion="2", RevisionId=again["RevisionId"])
    assert moved["FunctionVersion"] == "2"

    assert lam.delete_alias(FunctionName=name, Name="a1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.delete_alias(FunctionName=name, Name="a1")  # idempotent
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["2024-01-02", "a2", "b"]
    with pytest.raises(ClientError) as exc:
        lam.get_alias(FunctionName=name, Name="a1")
    assert error(exc) == (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn(name, 'a1')}")
    with pytest.raises(ClientError) as exc:
        lam.update_alias(FunctionName=name, Name="non-existent", Description="x")
    assert error(exc) == (404, "ResourceNotFoundException", f"Alias not found: {arn(name, 'non-existent')}")


def test_alias_validation(server, two_versions):
    # Like AWS's own recording, skip client-side validation so the server's answers are seen.
    lam = unvalidated_client(server)
    name = two_versions

    def create_error(**kwargs) -> tuple[int, str, str]:
        kwargs.setdefault("FunctionName", name)
        kwargs.setdefault("Name", "custom")
        with pytest.raises(ClientError) as exc:
            lam.create_alias(**kwargs)
        return error(exc)

    assert create_error(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.8, "2": 0.2}}) == (
        400, "InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be greater than 1")
    bound = ("failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or "
             "equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]")
    assert create_error(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 2}}) == (
        400, "ValidationException",
        f"1 validation error detected: Value '{{2=2.0}}' at 'routingConfig.additionalVersionWeights' {bound}")
    assert create_error(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": -1}}) == (
        400, "ValidationException",
        f"1 validation error detected: Value '{{2=-1.0}}' at 'routingConfig.additionalVersionWeights' {bound}")
    assert create_error(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}) == (
        400, "InvalidParameterValueException",
        "Invalid function version 1. Function version 1 is already included in routing configuration.")
    assert create_error(FunctionVersion="10", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}) == (
        404, "ResourceNotFoundException", f"Function not found: {arn(name, '10')}")
    assert create_error(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"10": 0.5}}) == (
        404, "ResourceNotFoundException", f"Function not found: {arn(name, '10')}")
    assert create_error(FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}) == (
        400, "InvalidParameterValueException", "$LATEST is not supported for an alias pointing to more than 1 version")
    assert create_error(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}}) == (
        400, "ValidationException",
        "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to "
        "satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
        "Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]")
    assert create_error(FunctionName=f"{name}-unknown", FunctionVersion="1") == (
        404, "ResourceNotFoundException", f"Function not found: {arn(name + '-unknown', '1')}")
    assert create_error(Name="2024", FunctionVersion="1") == (
        400, "ValidationException",
        "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
    lam.create_alias(FunctionName=name, Name="dup", FunctionVersion="1")
    assert create_error(Name="dup", FunctionVersion="1") == (
        409, "ResourceConflictException", f"Alias already exists: {arn(name, 'dup')}")
    empty = lam.create_alias(FunctionName=name, Name="empty-routing", FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in empty


def test_invoke_through_alias(lam, two_versions):
    name = two_versions
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for ref in ({"FunctionName": name, "Qualifier": "live"}, {"FunctionName": f"{name}:live"},
                {"FunctionName": arn(name, "live")}):
        resp = lam.invoke(Payload=b"{}", **ref)
        body = json.loads(resp["Payload"].read())
        assert body == {"env": "staging", "version": "1", "arn": arn(name, "live")}
        assert resp["ExecutedVersion"] == "1"
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    resp = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    assert json.loads(resp["Payload"].read())["env"] == "prod" and resp["ExecutedVersion"] == "2"
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Qualifier="non-existent-alias", Payload=b"{}")
    assert error(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn(name, 'non-existent-alias')}")


def test_weighted_routing_is_within_statistical_bounds(lam, two_versions):
    """1,000 invocations of an alias sending 30% to version 2: within 4 sigma of 300."""
    name = two_versions
    weight, n = 0.3, 1000
    lam.create_alias(FunctionName=name, Name="weighted", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": weight}})

    def one(_: int) -> str:
        resp = lam.invoke(FunctionName=name, Qualifier="weighted", Payload=b"{}")
        body = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp and body["arn"] == arn(name, "weighted")
        assert body["version"] == resp["ExecutedVersion"]
        return resp["ExecutedVersion"]

    with ThreadPoolExecutor(8) as pool:
        counts = Counter(pool.map(one, range(n)))
    assert set(counts) == {"1", "2"}
    sigma = math.sqrt(n * weight * (1 - weight))
    assert abs(counts["2"] - n * weight) <= 4 * sigma, counts


def test_rolling_an_alias_loses_no_invocation(lam):
    """Shift an alias 1 -> 2 in steps (10%, 50%, 100%) while a thread invokes it without pause."""
    name = create_function(lam, "V = 'one'\ndef handler(event, context):\n    return V\n")
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "V = 'two'\n"
                                                                  "def handler(event, context):\n    return V\n"}))
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")

    results: list[tuple[str, str]] = []
    failures: list[object] = []
    stop = threading.Event()
    progress = threading.Condition()

    def invoker() -> None:
        while not stop.is_set():
            try:
                resp = lam.invoke(FunctionName=name, Qualifier="prod", Payload=b"{}")
                body = json.loads(resp["Payload"].read())
                if resp["StatusCode"] != 200 or "FunctionError" in resp:
                    failures.append(resp)
                results.append((resp["ExecutedVersion"], body))
            except Exception as exc:  # every failure is a lost invocation
                failures.append(exc)
            with progress:
                progress.notify_all()

    def after(count: int) -> int:
        """Wait until the thread completed `count` more invocations; return the position."""
        target = len(results) + count
        with progress:
            progress.wait_for(lambda: len(results) >= target or failures, timeout=60)
        return len(results)

    thread = threading.Thread(target=invoker)
    thread.start()
    try:
        marks = [after(50)]
        for routing in ({"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}},
                        {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5}}},
                        {"FunctionVersion": "2", "RoutingConfig": {"AdditionalVersionWeights": {}}}):
            lam.update_alias(FunctionName=name, Name="prod", **routing)
            marks.append(len(results))
            after(150)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures[:3]
    assert all({"1": "one", "2": "two"}[version] == body for version, body in results)
    versions = [version for version, _ in results]
    assert set(versions[:marks[0]]) == {"1"}
    assert set(versions[marks[1]:marks[3]]) == {"1", "2"}
    assert set(versions[marks[3] + 1:]) == {"2"}  # one request may have resolved just before the move
