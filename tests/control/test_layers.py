"""Layers through boto3: the layer API with AWS's errors, and layers applied at /opt in functions."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, Server, create_function, free_port, make_zip, server_env, unique
from tests.unvalidated import unvalidated_client

DUMMY = make_zip({"python/dummy.py": "X = 1\n"})


def layer_arn(name: str, version: int | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}"
    return f"{base}:{version}" if version is not None else base


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def test_layer_lifecycle(lam):
    name = unique("layer")
    fn = create_function(lam, "def handler(e, c):\n    return 1\n")
    first = lam.publish_layer_version(LayerName=name, Description="helpers", LicenseInfo="MIT",
                                      CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"],
                                      Content={"ZipFile": DUMMY})
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["Version"] == 1
    assert first["LayerArn"] == layer_arn(name) and first["LayerVersionArn"] == layer_arn(name, 1)
    assert first["Content"]["CodeSha256"] == base64.b64encode(hashlib.sha256(DUMMY).digest()).decode()
    assert first["Content"]["CodeSize"] == len(DUMMY)
    assert httpx.get(first["Content"]["Location"]).content == DUMMY
    assert (first["Description"], first["LicenseInfo"]) == ("helpers", "MIT")
    assert (first["CompatibleRuntimes"], first["CompatibleArchitectures"]) == (["python3.12"], ["x86_64"])

    # A second version needs no change at all.
    second = lam.publish_layer_version(LayerName=name, CompatibleRuntimes=["python3.12"], Content={"ZipFile": DUMMY})
    assert second["Version"] == 2 and second["Content"]["CodeSha256"] == first["Content"]["CodeSha256"]
    assert "CompatibleArchitectures" not in second and "LicenseInfo" not in second

    got = lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert {k: v for k, v in got.items() if k not in ("ResponseMetadata", "Content")} == {
        k: v for k, v in first.items() if k not in ("ResponseMetadata", "Content")}
    assert lam.get_layer_version_by_arn(Arn=layer_arn(name, 2))["Version"] == 2
    assert lam.get_layer_version(LayerName=layer_arn(name), VersionNumber=2)["Version"] == 2

    listed = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in listed] == [2, 1]
    assert set(listed[1]) == {"LayerVersionArn", "Version", "Description", "CreatedDate", "CompatibleRuntimes",
                              "CompatibleArchitectures", "LicenseInfo"}
    assert [v["Version"] for v in lam.list_layer_versions(
        LayerName=name, CompatibleArchitecture="x86_64")["LayerVersions"]] == [1]
    layers = {item["LayerName"]: item for item in lam.list_layers(CompatibleRuntime="python3.12")["Layers"]}
    assert layers[name]["LayerArn"] == layer_arn(name)
    assert layers[name]["LatestMatchingVersion"]["Version"] == 2
    layers = {item["LayerName"]: item for item in lam.list_layers(CompatibleArchitecture="x86_64")["Layers"]}
    assert layers[name]["LatestMatchingVersion"]["Version"] == 1
    assert name not in {item["LayerName"] for item in lam.list_layers(CompatibleRuntime="nodejs20.x")["Layers"]}

    updated = lam.update_function_configuration(FunctionName=fn, Layers=[layer_arn(name, 1)])
    assert updated["Layers"] == [{"Arn": layer_arn(name, 1), "CodeSize": len(DUMMY)}]
    # Deleting a layer version leaves the functions using it untouched.
    assert lam.delete_layer_version(LayerName=name, VersionNumber=1)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.get_function_configuration(FunctionName=fn)["Layers"] == updated["Layers"]
    assert lam.invoke(FunctionName=fn, Payload=b"{}")["StatusCode"] == 200
    lam.delete_layer_version(LayerName=name, VersionNumber=1)  # idempotent
    # The deleted version's download link is dead; version 2 (the same bytes) still serves its own.
    refused = httpx.get(first["Content"]["Location"])
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text
    assert httpx.get(lam.get_layer_version(LayerName=name, VersionNumber=2)["Content"]["Location"]).content == DUMMY
    lam.delete_layer_version(LayerName=name, VersionNumber=2)
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []
    # Version numbers keep counting after every version was deleted.
    assert lam.publish_layer_version(LayerName=name, Content={"ZipFile": DUMMY})["Version"] == 3
    cleared = lam.update_function_configuration(FunctionName=fn, Layers=[])
    assert "Layers" not in cleared


def test_layer_errors(server, lam):
    raw = unvalidated_client(server)
    name = unique("layer")
    lam.publish_layer_version(LayerName=name, CompatibleRuntimes=["python3.12"], Content={"ZipFile": DUMMY})
    not_found = (404, "ResourceNotFoundException", "The resource you requested does not exist.")
    too_low = (400, "InvalidParameterValueException", "Layer Version Cannot be less than 1")

    def err(call, **kwargs) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        return error(exc)

    assert err(lam.get_layer_version, LayerName=f"{name}-nothere", VersionNumber=1) == not_found
    assert err(lam.get_layer_version, LayerName=name, VersionNumber=2) == not_found
    assert err(raw.get_layer_version, LayerName=name, VersionNumber=-1) == too_low
    assert err(raw.get_layer_version, LayerName=name, VersionNumber=0) == too_low
    assert err(raw.delete_layer_version, LayerName=name, VersionNumber=-1) == too_low
    assert err(lam.get_layer_version_by_arn, Arn=f"{layer_arn(name)}:2") == not_found
    status, code, message = err(lam.get_layer_version_by_arn, Arn=layer_arn(name))
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(f"1 validation error detected: Value '{layer_arn(name)}' at 'arn' failed to satisfy "
                              "constraint: Member must satisfy regular expression pattern: (arn:")
    assert lam.list_layer_versions(LayerName=f"{name}-nothere")["LayerVersions"] == []
    lam.delete_layer_version(LayerName=f"{name}-nothere", VersionNumber=1)

    status, code, message = err(lam.list_layers, CompatibleRuntime="runtimedoesnotexist")
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' "
                              "failed to satisfy constraint: Member must satisfy enum value set: [")
    assert err(lam.list_layers, CompatibleArchitecture="archdoesnotexist") == (
        400, "ValidationException", "1 validation error detected: Value 'archdoesnotexist' at "
        "'compatibleArchitecture' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]")
    status, code, message = err(raw.publish_layer_version, LayerName=name, Content={"ZipFile": DUMMY},
                                CompatibleRuntimes=["invalidruntime", "nodejs20.x"],
                                CompatibleArchitectures=["invalidarch", "x86_64"])
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("2 validation errors detected: Value '[invalidruntime, nodejs20.x]' at "
                              "'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: "
                              "[nodejs20.x, python3.14, ")
    assert message.endswith("; Value '[invalidarch, x86_64]' at 'compatibleArchitectures' failed to satisfy "
                            "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
                            "[x86_64, arm64], Member must not be null]")
    # Empty compatibility lists are valid, and old runtimes may still be declared.
    empty = lam.publish_layer_version(LayerName=f"{name}-empty", Content={"ZipFile": DUMMY}, CompatibleRuntimes=[],
                                      CompatibleArchitectures=[])
    assert (empty["CompatibleRuntimes"], empty["CompatibleArchitectures"]) == ([], [])
    old = lam.publish_layer_version(LayerName=f"{name}-old", Content={"ZipFile": DUMMY},
                                    CompatibleRuntimes=["python3.7", "nodejs14.x", "go1.x"])
    assert old["CompatibleRuntimes"] == ["python3.7", "nodejs14.x", "go1.x"]
    assert err(lam.publish_layer_version, LayerName=f"{name}-bad", Content={"ZipFile": b"not a zip"})[:2] == (
        400, "InvalidParameterValueException")
    # Another account's layer: only lambda:GetLayerVersion can ever be granted; the rest is its owner's.
    foreign = f"arn:aws:lambda:{REGION}:111111111111:layer:{name}"
    assert err(lam.publish_layer_version, LayerName=foreign, Content={"ZipFile": DUMMY}) == (
        403, "AccessDeniedException", f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: "
        f"lambda:PublishLayerVersion on resource: {foreign}")
    assert err(lam.delete_layer_version, LayerName=foreign, VersionNumber=1)[:2] == (403, "AccessDeniedException")
    assert err(lam.get_layer_version, LayerName=foreign, VersionNumber=1) == not_found


def test_layer_policy(lam):
    name = unique("layer")
    lam.publish_layer_version(LayerName=name, Content={"ZipFile": DUMMY})
    statement = {"Sid": "s1", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetLayerVersion",
                 "Resource": layer_arn(name, 1)}

    def err(call, **kwargs) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        return error(exc)

    assert err(lam.get_layer_version_policy, LayerName=name, VersionNumber=1) == (
        404, "ResourceNotFoundException", "No policy is associated with the given resource.")
    added = lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="s1",
                                             Action="lambda:GetLayerVersion", Principal="*")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == statement
    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert json.loads(policy["Policy"]) == {"Version": "2012-10-17", "Id": "default", "Statement": [statement]}
    assert policy["RevisionId"] == added["RevisionId"]

    assert err(lam.add_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="s2", Action="*",
               Principal="*") == (400, "ValidationException",
                                  "1 validation error detected: Value '*' at 'action' failed to satisfy constraint: "
                                  "Member must satisfy regular expression pattern: lambda:GetLayerVersion")
    assert err(lam.add_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="s1",
               Action="lambda:GetLayerVersion", Principal="*") == (
        409, "ResourceConflictException", "The statement id (s1) provided already exists. Please provide a new "
        "statement id, or remove the existing statement.")
    wrong_revision = (412, "PreconditionFailedException", "The Revision Id provided does not match the latest "
                      "Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id")
    assert err(lam.add_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="s2",
               Action="lambda:GetLayerVersion", Principal="*", RevisionId="wrong") == wrong_revision
    for missing, version in ((f"{name}-doesnotexist", 1), (name, 2)):
        gone = (404, "ResourceNotFoundException", f"Layer version {layer_arn(missing, version)} does not exist.")
        assert err(lam.add_layer_version_permission, LayerName=missing, VersionNumber=version, StatementId="s9",
                   Action="lambda:GetLayerVersion", Principal="*") == gone
        assert err(lam.get_layer_version_policy, LayerName=missing, VersionNumber=version) == gone
        assert err(lam.remove_layer_version_permission, LayerName=missing, VersionNumber=version,
                   StatementId="s1") == gone

    second = lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="s2",
                                              Action="lambda:GetLayerVersion", Principal="123456789012",
                                              RevisionId=policy["RevisionId"])
    assert json.loads(second["Statement"])["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert err(lam.remove_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="doesnotexist") == (
        404, "ResourceNotFoundException", "Statement doesnotexist is not found in resource policy.")
    assert err(lam.remove_layer_version_permission, LayerName=name, VersionNumber=1, StatementId="s1",
               RevisionId="wrong") == wrong_revision
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="s2",
                                        RevisionId=second["RevisionId"])
    after = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert json.loads(after["Policy"])["Statement"] == [statement]
    assert after["RevisionId"] not in (added["RevisionId"], second["RevisionId"])


def test_function_layer_errors(server, lam):
    raw = unvalidated_client(server)
    name = unique("layer")
    for _ in range(3):
        lam.publish_layer_version(LayerName=name, Content={"ZipFile": DUMMY})
    fn = create_function(lam, "def handler(e, c):\n    return 1\n")

    def err(**kwargs) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            raw.update_function_configuration(FunctionName=fn, **kwargs)
        return error(exc)

    same = "Two different versions of the same layer are not allowed to be referenced in the same function."
    assert err(Layers=[layer_arn(name, 1), layer_arn(name, 2), layer_arn(name, 3)]) == (
        400, "InvalidParameterValueException",
        f"{same} {layer_arn(name, 1)} and {layer_arn(name, 2)} are versions of the same layer.")
    assert err(Layers=[layer_arn(name, 1), layer_arn(name, 1)]) == (
        400, "InvalidParameterValueException",
        f"{same} {layer_arn(name, 1)} and {layer_arn(name, 1)} are versions of the same layer.")
    assert err(Layers=[layer_arn("doesnotexist", 1)]) == (
        400, "InvalidParameterValueException", f"Layer version {layer_arn('doesnotexist', 1)} does not exist.")
    assert err(Layers=[layer_arn(name, 9)]) == (
        400, "InvalidParameterValueException", f"Layer version {layer_arn(name, 9)} does not exist.")
    status, code, message = err(Layers=[layer_arn(name)])
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(f"1 validation error detected: Value '[{layer_arn(name)}]' at 'layers' failed to "
                              "satisfy constraint: Member must satisfy constraint: [Member must have length less "
                              "than or equal to 2048")
    other_region = layer_arn(name, 1).replace(REGION, "eu-central-1")
    assert err(Layers=[other_region]) == (
        400, "InvalidParameterValueException",
        f"Layers are not in the same region as the function. Layers are expected to be in region {REGION}.")
    six = []
    for i in range(6):
        six.append(lam.publish_layer_version(LayerName=f"{name}-{i}", Content={"ZipFile": DUMMY})["LayerVersionArn"])
    assert err(Layers=six) == (400, "InvalidParameterValueException", "Cannot reference more than 5 layers.")
    with pytest.raises(ClientError) as exc:
        create_function(raw, "def handler(e, c):\n    return 1\n", Layers=[layer_arn("doesnotexist", 1)])
    assert error(exc)[2] == f"Layer version {layer_arn('doesnotexist', 1)} does not exist."
    assert "Layers" not in lam.get_function_configuration(FunctionName=fn)


LAYER_A = {
    "python/shared.py": "WHO = 'A'\n",
    "python/only_a.py": "HELLO = 'from A'\n",
    "python/lib/python3.12/site-packages/sitepkg/__init__.py": "NAME = 'site-packages'\n",
    "bin/greet": "#!/bin/sh\necho \"hello $1 from a layer tool\"\n",
    "lib/libdemo.txt": "not really a library\n",
}
LAYER_B = {"python/shared.py": "WHO = 'B'\n"}
HANDLER = """
import os, subprocess, shared, only_a, sitepkg

def handler(event, context):
    st = os.stat(shared.__file__)
    return {
        "who": shared.WHO, "hello": only_a.HELLO, "site": sitepkg.NAME,
        "tool": subprocess.run(["greet", "lambda"], capture_output=True, text=True).stdout.strip(),
        "ld": os.environ["LD_LIBRARY_PATH"].split(":")[-1],
        # Not st_dev: each environment's /opt is an overlay of its own (a device number per mount),
        # and an overlay reports the file's own inode number from the one filesystem of the data dir.
        "shared": [st.st_ino, st.st_nlink],
    }
"""


def test_layers_apply_at_opt(lam):
    """A Python package and a bin/ tool from one layer, a file overridden by a later one; the
    merged tree is shared by functions with the same layers, not copied for each."""
    a = lam.publish_layer_version(LayerName=unique("layer-a"), Content={
        "ZipFile": make_zip(LAYER_A, modes={"bin/greet": 0o755})})["LayerVersionArn"]
    b = lam.publish_layer_version(LayerName=unique("layer-b"),
                                  Content={"ZipFile": make_zip(LAYER_B)})["LayerVersionArn"]
    results = []
    for _ in range(2):
        fn = create_function(lam, HANDLER, Layers=[a, b])
        resp = lam.invoke(FunctionName=fn, Payload=b"{}")
        body = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, body
        results.append(body)
    first, second = results
    assert first["who"] == "B", "the later layer wins"
    assert first["hello"] == "from A" and first["site"] == "site-packages"
    assert first["tool"] == "hello lambda from a layer tool"
    assert first["ld"].endswith("/lib")
    assert first["shared"] == second["shared"], "both functions see the same merged tree"
    assert first["shared"][1] >= 2, "the merged tree hard-links the layer's file instead of copying it"

    # Reversed order: now A's file wins.
    fn = create_function(lam, HANDLER, Layers=[b, a])
    assert json.loads(lam.invoke(FunctionName=fn, Payload=b"{}")["Payload"].read())["who"] == "A"


def test_code_and_layers_size_limit(tmp_path: Path):
    srv = Server(tmp_path / "data", free_port(), server_env(LAMBDAD_MAX_UNZIPPED_BYTES="100000"))
    srv.start()
    try:
        lam = srv.client()
        layer = lam.publish_layer_version(LayerName="big", Content={"ZipFile": make_zip({"blob.bin": b"\0" * 60000})})
        code = "def handler(e, c):\n    return 1\n" + "#" * 50000 + "\n"
        with pytest.raises(ClientError) as exc:
            create_function(lam, code, Layers=[layer["LayerVersionArn"]])
        total = 60000 + len(code)
        assert error(exc) == (400, "InvalidParameterValueException",
                              "Function code combined with layers exceeds the maximum allowed size of 100000 bytes. "
                              f"The actual size is {total} bytes.")
        fn = create_function(lam, "def handler(e, c):\n    return 1\n", Layers=[layer["LayerVersionArn"]])
        with pytest.raises(ClientError) as exc:
            lam.update_function_code(FunctionName=fn, ZipFile=make_zip({"app.py": code}))
        assert error(exc)[2].endswith(f"The actual size is {total} bytes.")
    finally:
        srv.stop()


def test_layers_survive_restart(tmp_path: Path):
    srv = Server(Path(tempfile.mkdtemp(dir=tmp_path)) / "data", free_port(), server_env())
    srv.start()
    try:
        lam = srv.client()
        a = lam.publish_layer_version(LayerName="a", Content={"ZipFile": make_zip({"python/shared.py": "WHO = 1\n"})})
        b = lam.publish_layer_version(LayerName="b", Content={"ZipFile": make_zip({"python/other.py": "X = 2\n"})})
        fn = create_function(lam, "import shared, other\ndef handler(e, c):\n    return shared.WHO + other.X\n",
                             Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
        srv.stop()
        srv.start()
        lam = srv.client()
        assert lam.get_layer_version(LayerName="a", VersionNumber=1)["Version"] == 1
        assert json.loads(lam.invoke(FunctionName=fn, Payload=b"{}")["Payload"].read()) == 3
        assert lam.publish_layer_version(LayerName="a", Content={"ZipFile": DUMMY})["Version"] == 2
    finally:
        srv.stop()
