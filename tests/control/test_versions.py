"""Versions through boto3: publish, list, qualifiers on reads/invokes/deletes, and AWS's errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, create_function, make_zip
from tests.conftest import api_error as error
from tests.conftest import function_arn as arn

VERSIONED = """
import os

def handler(event, context):
    return {"tag": TAG, "version": context.function_version, "arn": context.invoked_function_arn,
            "desc": os.environ.get("DESC")}
"""


def code(tag: str) -> str:
    return f"TAG = {tag!r}\n" + VERSIONED




def invoke(lam, name: str, qualifier: str | None = None) -> tuple[dict, dict]:
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    resp = lam.invoke(FunctionName=name, Payload=b"{}", **kwargs)
    assert "FunctionError" not in resp, resp["Payload"].read()
    return json.loads(resp["Payload"].read()), resp


def test_publish_lifecycle(lam):
    name = create_function(lam, code("one"), Description="first")
    latest_rev = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]

    v1 = lam.publish_version(FunctionName=name, Description="v1 description")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1"
    assert v1["FunctionArn"] == arn(name, "1")
    assert v1["Description"] == "v1 description"
    assert v1["State"] == "Active" and v1["LastUpdateStatus"] == "Successful"
    assert v1["RevisionId"] != latest_rev
    # Publishing moves $LATEST's RevisionId, as AWS does; an old revision no longer updates it.
    latest = lam.get_function(FunctionName=name)["Configuration"]
    assert latest["RevisionId"] != latest_rev
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Description="x", RevisionId=latest_rev)
    assert error(exc)[:2] == (412, "PreconditionFailedException")

    # Nothing changed since: the same version comes back, whatever the description.
    again = lam.publish_version(FunctionName=name, Description="ignored")
    assert again["Version"] == "1" and again["RevisionId"] == v1["RevisionId"]

    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code("two")}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2" and v2["Description"] == "first"
    assert v2["CodeSha256"] != v1["CodeSha256"]

    # The published snapshot does not follow later changes of $LATEST.
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"DESC": "latest"}})
    got = lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert got["Description"] == "v1 description" and "Environment" not in got
    assert got["FunctionArn"] == arn(name, "1")

    # Each version runs its own code; ExecutedVersion and the invoked ARN say which.
    body, resp = invoke(lam, name, "1")
    assert body == {"tag": "one", "version": "1", "arn": arn(name, "1"), "desc": None}
    assert resp["ExecutedVersion"] == "1"
    body, resp = invoke(lam, f"{name}:2")
    assert body["tag"] == "two" and resp["ExecutedVersion"] == "2"
    body, resp = invoke(lam, name)
    assert body == {"tag": "two", "version": "$LATEST", "arn": arn(name), "desc": "latest"}
    assert resp["ExecutedVersion"] == "$LATEST"
    body, resp = invoke(lam, arn(name, "$LATEST"))
    assert body["arn"] == arn(name, "$LATEST") and resp["ExecutedVersion"] == "$LATEST"

    listed = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert listed[0]["FunctionArn"] == arn(name, "$LATEST")
    assert all("State" not in v and "RuntimeVersionConfig" not in v for v in listed)

    # Numbers are never reused: deleting version 2 and publishing again gives 3.
    lam.delete_function(FunctionName=name, Qualifier="2")
    v3 = lam.publish_version(FunctionName=name)
    assert v3["Version"] == "3"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1", "3"]


def test_publish_guards(lam):
    name = create_function(lam, code("g"))
    cfg = lam.get_function(FunctionName=name)["Configuration"]
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, CodeSha256="somenonexistentsha256")
    assert error(exc) == (400, "InvalidParameterValueException",
                          f"CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST "
                          f"({cfg['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST.")
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, RevisionId="wrong")
    assert error(exc) == (412, "PreconditionFailedException",
                          "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
                          "GetAlias API to retrieve the latest Revision Id")
    ok = lam.publish_version(FunctionName=name, CodeSha256=cfg["CodeSha256"], RevisionId=cfg["RevisionId"])
    assert ok["Version"] == "1"
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=f"doesnotexist-{name}")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")


def test_publish_on_create_and_on_code_update(lam):
    name = create_function(lam, code("a"), wait=False, Publish=True)
    created = lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert created["Version"] == "1" and created["FunctionArn"] == arn(name, "1")
    listed = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert listed == ["$LATEST", "1"]

    resp = lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code("b")}), Publish=True)
    assert resp["Version"] == "2" and resp["FunctionArn"] == arn(name, "2")
    assert invoke(lam, name, "2")[0]["tag"] == "b"
    assert invoke(lam, name, "1")[0]["tag"] == "a"


def test_create_with_publish_answers_version_one(lam, server):
    from tests.conftest import ROLE, unique

    name = unique()
    resp = lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                               Code={"ZipFile": make_zip({"app.py": code("c")})}, Publish=True)
    assert resp["Version"] == "1" and resp["FunctionArn"] == arn(name)
    assert resp["State"] == "Pending"


def test_list_versions_paginates(lam):
    name = create_function(lam, code("p"))
    for i in range(4):
        lam.update_function_configuration(FunctionName=name, Description=f"d{i}")
        lam.publish_version(FunctionName=name)
    first = lam.list_versions_by_function(FunctionName=name, MaxItems=2)
    assert [v["Version"] for v in first["Versions"]] == ["$LATEST", "1"]
    pages = lam.get_paginator("list_versions_by_function").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 2})
    assert [v["Version"] for page in pages for v in page["Versions"]] == ["$LATEST", "1", "2", "3", "4"]


def test_list_functions_with_all_versions(lam):
    name = create_function(lam, code("l"))
    lam.publish_version(FunctionName=name)
    pages = lam.get_paginator("list_functions").paginate(FunctionVersion="ALL")
    mine = [f["Version"] for page in pages for f in page["Functions"] if f["FunctionName"] == name]
    assert mine == ["$LATEST", "1"]
    pages = lam.get_paginator("list_functions").paginate()
    assert [f["Version"] for page in pages for f in page["Functions"] if f["FunctionName"] == name] == ["$LATEST"]


def test_qualified_reads(lam):
    name = create_function(lam, code("q"))
    lam.publish_version(FunctionName=name)
    latest = lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")
    assert latest["FunctionArn"] == arn(name, "$LATEST") and latest["Version"] == "$LATEST"
    assert lam.get_function_configuration(FunctionName=name)["FunctionArn"] == arn(name)
    for ref in (f"{name}:1", arn(name, "1"), f"{ACCOUNT}:function:{name}:1"):
        assert lam.get_function_configuration(FunctionName=ref)["Version"] == "1"
    for fn in (lam.get_function, lam.get_function_configuration):
        with pytest.raises(ClientError) as exc:
            fn(FunctionName=name, Qualifier="1221")
        assert error(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn(name, '1221')}")
        with pytest.raises(ClientError) as exc:
            fn(FunctionName=arn(name, "1"), Qualifier="$LATEST")
        assert error(exc) == (400, "InvalidParameterValueException",
                              "The derived qualifier from the function name does not match the specified "
                              "qualifier.")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Qualifier="77")
    assert error(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn(name, '77')}")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=f"nothere-{name}")
    assert error(exc)[2] == f"Function not found: {arn(f'nothere-{name}', '$LATEST')}"


def test_updates_refuse_a_version(lam):
    name = create_function(lam, code("u"))
    lam.publish_version(FunctionName=name)
    message = ("Current operation does not support versions other than $LATEST. Please set the version to $LATEST "
               "or do not set a version in your request.")
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=f"{name}:1", Description="no")
    assert error(exc) == (400, "InvalidParameterValueException", message)
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=arn(name, "1"), ZipFile=make_zip({"app.py": code("x")}))
    assert error(exc) == (400, "InvalidParameterValueException", message)
    ok = lam.update_function_configuration(FunctionName=f"{name}:$LATEST", Description="yes")
    assert ok["Description"] == "yes"


def test_delete_with_qualifier(lam):
    name = create_function(lam, code("d"))
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="2")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.create_alias(FunctionName=name, Name="canary", FunctionVersion="2", RoutingConfig={
        "AdditionalVersionWeights": {"1": 0.1}})

    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="1")
    assert error(exc) == (409, "ResourceConflictException",
                          "Unable to delete version because the following aliases reference it: [canary, live]")
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error(exc) == (400, "InvalidParameterValueException",
                          "$LATEST version cannot be deleted without deleting the function.")
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="live")
    assert error(exc) == (400, "InvalidParameterValueException", "Deletion of aliases is not currently supported.")
    lam.delete_function(FunctionName=name, Qualifier="1233")  # a version that is not there: success

    lam.delete_alias(FunctionName=name, Name="canary")
    lam.delete_function(FunctionName=name, Qualifier="2")
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name, Qualifier="2")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")
    assert invoke(lam, name, "live")[1]["ExecutedVersion"] == "1"

    lam.delete_function(FunctionName=name)  # the whole function, aliases included
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="1")
    assert error(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn(name)}")
    with pytest.raises(ClientError) as exc:
        lam.get_alias(FunctionName=name, Name="live")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")


def test_versions_survive_restart(fresh_server):
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, code("r"))
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code("s")}))
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    fresh_server.stop()
    fresh_server.start()
    lam = fresh_server.client()
    assert invoke(lam, name, "prod")[0]["tag"] == "r"
    assert invoke(lam, name)[0]["tag"] == "s"
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
