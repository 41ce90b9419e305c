"""The Lambda function API through unmodified boto3 (and raw signed HTTP for what boto3 will not send).

Expected field sets, codes and messages come from responses recorded against AWS
(/work/shared/reference/aws-recorded/lambda___test_lambda_api.snapshot.json).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import (
    ACCESS_KEY,
    ACCOUNT,
    REGION,
    ROLE,
    SECRET_KEY,
    Server,
    create_function,
    function_arn,
    make_zip,
    unique,
    wait_until,
)

CODE = "def handler(event, context):\n    return {'version': 1, 'event': event}\n"
CODE_V2 = "def handler(event, context):\n    return {'version': 2, 'event': event}\n"

# What AWS returns from CreateFunction for a zip function created with Environment (recorded).
CREATE_FIELDS = {
    "Architectures", "CodeSha256", "CodeSize", "Description", "Environment", "EphemeralStorage", "FunctionArn",
    "FunctionName", "Handler", "LastModified", "LoggingConfig", "MemorySize", "PackageType", "RevisionId", "Role",
    "Runtime", "RuntimeVersionConfig", "SnapStart", "State", "StateReason", "StateReasonCode", "Timeout",
    "TracingConfig", "Version",
}
ACTIVE_FIELDS = CREATE_FIELDS - {"StateReason", "StateReasonCode"} | {"LastUpdateStatus"}
UPDATING_FIELDS = ACTIVE_FIELDS | {"LastUpdateStatusReason", "LastUpdateStatusReasonCode"}
LISTED_FIELDS = ACTIVE_FIELDS - {"State", "LastUpdateStatus"}

NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
CREATE_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
RUNTIME_ENUM = (
    "nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, "
    "python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, "
    "java11, dotnet6, nodejs18.x, provided.al2, java8.al2"
)
ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def assert_healthy(server: Any) -> None:
    assert httpx.get(f"{server.endpoint}/_lambdad/health", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def raw_lam(server: Any) -> Any:
    """A boto3 client that sends what it is given, so the server's own validation answers."""
    return boto3.client("lambda", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY,
                        config=BotoConfig(retries={"max_attempts": 0}, parameter_validation=False))


def signed(server: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
           ) -> httpx.Response:
    """A raw HTTP request signed with SigV4 the way botocore signs, for bodies boto3 cannot produce."""
    url = f"{server.endpoint}{path}"
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION).add_auth(req)
    return httpx.request(method, url, content=body, headers=dict(req.headers.items()), timeout=30)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# -- lifecycle -------------------------------------------------------------------------------------
def test_function_lifecycle(lam: Any, server: Any) -> None:
    name = unique("life")
    zip1 = make_zip({"app.py": CODE})
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                  Code={"ZipFile": zip1}, MemorySize=256, Timeout=5,
                                  Environment={"Variables": {}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    created.pop("ResponseMetadata")
    assert set(created) == CREATE_FIELDS
    assert created["State"] == "Pending"
    assert created["StateReason"] == "The function is being created."
    assert created["StateReasonCode"] == "Creating"
    assert created["FunctionArn"] == ARN_PREFIX + name
    assert created["CodeSha256"] == sha256_b64(zip1)
    assert created["CodeSize"] == len(zip1)
    assert created["Environment"] == {"Variables": {}}
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert created["Version"] == "$LATEST"
    assert (created["MemorySize"], created["Timeout"], created["Description"]) == (256, 5, "")

    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    got = lam.get_function(FunctionName=name)
    cfg = got["Configuration"]
    assert set(cfg) == ACTIVE_FIELDS
    assert (cfg["State"], cfg["LastUpdateStatus"]) == ("Active", "Successful")
    assert cfg["RevisionId"] != created["RevisionId"], "the Pending -> Active transition makes a new revision"
    assert got["Code"]["RepositoryType"] == "S3"
    assert httpx.get(got["Code"]["Location"], timeout=10).content == zip1
    assert "Tags" not in got and "Concurrency" not in got
    plain = lam.get_function_configuration(FunctionName=name)
    plain.pop("ResponseMetadata")
    assert plain == cfg

    updated = lam.update_function_configuration(
        FunctionName=name, Description="Changed-Description", MemorySize=512, Timeout=10, Runtime="python3.11",
        Environment={"Variables": {"ENV_A": "a"}}, EphemeralStorage={"Size": 1024}, Handler="app.handler")
    updated.pop("ResponseMetadata")
    assert set(updated) == UPDATING_FIELDS
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    assert updated["RevisionId"] != cfg["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    after = lam.get_function_configuration(FunctionName=name)
    assert after["LastUpdateStatus"] == "Successful"
    assert after["RevisionId"] not in (cfg["RevisionId"], updated["RevisionId"])
    assert (after["Description"], after["MemorySize"], after["Timeout"], after["Runtime"]) == (
        "Changed-Description", 512, 10, "python3.11")
    assert after["Environment"] == {"Variables": {"ENV_A": "a"}}
    assert after["EphemeralStorage"] == {"Size": 1024}
    assert after["CodeSha256"] == created["CodeSha256"]

    zip2 = make_zip({"app.py": CODE_V2})
    code_up = lam.update_function_code(FunctionName=name, ZipFile=zip2)
    assert code_up["LastUpdateStatus"] == "InProgress"
    assert code_up["CodeSha256"] == sha256_b64(zip2) != created["CodeSha256"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    got2 = lam.get_function(FunctionName=name)
    assert got2["Configuration"]["CodeSize"] == len(zip2)
    assert got2["Configuration"]["RevisionId"] != after["RevisionId"]
    assert httpx.get(got2["Code"]["Location"], timeout=10).content == zip2
    out = lam.invoke(FunctionName=name, Payload=b'{"k": 1}')
    assert json.loads(out["Payload"].read()) == {"version": 2, "event": {"k": 1}}

    deleted = lam.delete_function(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert error_of(exc) == ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}")
    assert exc.value.response["Type"] == "User"


def test_environment_omitted_unless_given(lam: Any) -> None:
    bare = create_function(lam, CODE)
    assert "Environment" not in lam.get_function_configuration(FunctionName=bare)
    empty = create_function(lam, CODE, Environment={"Variables": {}})
    assert lam.get_function_configuration(FunctionName=empty)["Environment"] == {"Variables": {}}


def test_revision_id_guards_updates(lam: Any) -> None:
    name = create_function(lam, CODE)
    current = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Description="x", RevisionId="not-" + current)
    assert error_of(exc) == (
        "PreconditionFailedException", 412, "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
    ok = lam.update_function_configuration(FunctionName=name, Description="x", RevisionId=current)
    assert ok["Description"] == "x"


def test_update_with_a_corrupt_zip_keeps_the_old_code(lam: Any) -> None:
    name = create_function(lam, CODE)
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=name, ZipFile=b"PK\x03\x04 this is not a zip")
    assert error_of(exc) == ("InvalidParameterValueException", 400,
                             "Could not unzip uploaded file. Please check your file, then try to upload again.")
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read())["version"] == 1


# -- listing ---------------------------------------------------------------------------------------
def test_list_functions_pages_with_marker_and_paginator(lam: Any) -> None:
    mine = {create_function(lam, CODE, name=unique("list"), wait=False) for _ in range(5)}
    walked: list[str] = []
    marker = None
    while True:
        kwargs = {"MaxItems": 2, **({"Marker": marker} if marker else {})}
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        walked.extend(f["FunctionName"] for f in page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert len(walked) == len(set(walked)), "no function appears on two pages"
    assert mine <= set(walked)
    paged = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 3}) for f in p["Functions"]]
    assert paged == walked
    entry = next(f for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]
                 if f["FunctionName"] in mine)
    assert set(entry) == LISTED_FIELDS - {"Environment"}, "AWS leaves the state fields out of ListFunctions"


def test_list_functions_all_versions_and_bad_version(lam: Any) -> None:
    name = create_function(lam, CODE)
    every = [f for p in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL") for f in p["Functions"]]
    mine = [f for f in every if f["FunctionName"] == name]
    assert [f["FunctionArn"] for f in mine] == [f"{ARN_PREFIX}{name}:$LATEST"]
    with pytest.raises(ClientError) as exc:
        lam.list_functions(FunctionVersion="invalid")
    assert error_of(exc) == ("ValidationException", 400, "1 validation error detected: Value 'invalid' at "
                             "'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: "
                             "[ALL]")


def test_list_functions_rejects_bad_page_size(raw_lam: Any, server: Any) -> None:
    with pytest.raises(ClientError) as exc:
        raw_lam.list_functions(MaxItems=0)
    assert error_of(exc)[:2] == ("ValidationException", 400)
    assert_healthy(server)


# -- account, tags ---------------------------------------------------------------------------------
def test_account_settings(lam: Any) -> None:
    before = lam.get_account_settings()
    assert set(before["AccountLimit"]) == {"CodeSizeUnzipped", "CodeSizeZipped", "ConcurrentExecutions",
                                           "TotalCodeSize", "UnreservedConcurrentExecutions"}
    assert set(before["AccountUsage"]) == {"FunctionCount", "TotalCodeSize"}
    assert before["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert before["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
    zip_size = len(make_zip({"app.py": CODE}))
    create_function(lam, CODE)
    after = lam.get_account_settings()
    assert after["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 1
    assert after["AccountUsage"]["TotalCodeSize"] == before["AccountUsage"]["TotalCodeSize"] + zip_size


def test_tags_given_on_create(lam: Any) -> None:
    name = create_function(lam, CODE, Tags={"testtag": "value-1", "team": "core"})
    assert lam.get_function(FunctionName=name)["Tags"] == {"testtag": "value-1", "team": "core"}
    assert lam.list_tags(Resource=ARN_PREFIX + name)["Tags"] == {"testtag": "value-1", "team": "core"}


# -- names, partial ARNs, qualifiers ---------------------------------------------------------------
def test_function_is_reachable_by_name_partial_arn_and_arn(lam: Any) -> None:
    name = create_function(lam, CODE)
    arn = ARN_PREFIX + name
    for ref in (name, f"{ACCOUNT}:function:{name}", f"function:{name}", arn, f"{name}:$LATEST", f"{arn}:$LATEST"):
        # AWS echoes the qualifier it was asked by (recorded: test_publish_version_on_create).
        expected = f"{arn}:$LATEST" if ref.endswith(":$LATEST") else arn
        assert lam.get_function_configuration(FunctionName=ref)["FunctionArn"] == expected, ref
        assert json.loads(lam.invoke(FunctionName=ref)["Payload"].read())["version"] == 1, ref
    assert lam.get_function(FunctionName=arn, Qualifier="$LATEST")["Configuration"]["FunctionName"] == name
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=f"{arn}:$LATEST", Qualifier="1")
    assert error_of(exc) == ("InvalidParameterValueException", 400,
                             "The derived qualifier from the function name does not match the specified qualifier.")
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=f"arn:aws:lambda:us-west-2:{ACCOUNT}:function:{name}")
    assert error_of(exc) == ("ResourceNotFoundException", 404,
                             f"Functions from 'us-west-2' are not reachable in this region ('{REGION}')")


def test_created_by_arn_and_partial_arn(lam: Any) -> None:
    by_arn, by_partial = unique("arn"), unique("partial")
    for ref, name in ((ARN_PREFIX + by_arn, by_arn), (f"{ACCOUNT}:function:{by_partial}", by_partial)):
        created = lam.create_function(FunctionName=ref, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                      Code={"ZipFile": make_zip({"app.py": CODE})})
        assert created["FunctionName"] == name
        assert created["FunctionArn"] == ARN_PREFIX + name


A65 = "a" * 65
A129 = "a" * 129


def _pattern_error(value: str, field: str = "functionName", pattern: str = NAME_PATTERN) -> str:
    return (f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}")


# (FunctionName, Qualifier, operation) -> (code, message) as recorded from AWS; "my-function" does not exist.
NAME_CASES: list[tuple[str, str | None, str, str, str]] = [
    ("*", None, "get_function", "ValidationException", _pattern_error("*")),
    ("my-function!", None, "invoke", "ValidationException", _pattern_error("my-function!")),
    ("my-function", "invalid!", "get_function", "ValidationException",
     "1 validation error detected: Value 'invalid!' at 'qualifier' failed to satisfy constraint: Member must "
     f"satisfy regular expression pattern: {QUALIFIER_PATTERN}"),
    ("my-function", A129, "delete_function", "ValidationException",
     f"1 validation error detected: Value '{A129}' at 'qualifier' failed to satisfy constraint: Member must have "
     "length less than or equal to 128"),
    ("invalid-account:function:my-function", None, "get_function", "ValidationException",
     _pattern_error("invalid-account:function:my-function")),
    (f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function", None, "invoke", "ValidationException",
     _pattern_error(f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function")),
    (f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance:i-1234567890abcdef0", None, "delete_function", "ValidationException",
     _pattern_error(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance:i-1234567890abcdef0")),
    (A65, None, "get_function", "ResourceNotFoundException", f"Function not found: {ARN_PREFIX}{A65}"),
    (A65, None, "delete_function", "ResourceNotFoundException", f"Function not found: {ARN_PREFIX}{A65}"),
    (A65, None, "invoke", "ResourceNotFoundException", f"Function not found: {ARN_PREFIX}{A65}:$LATEST"),
    ("my-function", A65, "get_function", "ResourceNotFoundException",
     f"Function not found: {ARN_PREFIX}my-function:{A65}"),
    ("my-function", A65, "delete_function", "InvalidParameterValueException",
     "Deletion of aliases is not currently supported."),
    (f"{ARN_PREFIX}my-function:1:2", None, "get_function", "ValidationException",
     _pattern_error(f"{ARN_PREFIX}my-function:1:2")),
    (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function", None, "get_function", "ResourceNotFoundException",
     f"Function not found: {ARN_PREFIX}function"),
    (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function", None, "invoke", "ResourceNotFoundException",
     f"Function not found: {ARN_PREFIX}function:$LATEST"),
    ("function:my-function:$LATEST:extra", None, "invoke", "ValidationException",
     _pattern_error("function:my-function:$LATEST:extra")),
    (f"{ARN_PREFIX}my-function:$LATEST", "1", "delete_function", "InvalidParameterValueException",
     "The derived qualifier from the function name does not match the specified qualifier."),
    (f"{ARN_PREFIX}my-function", "$latest", "get_function", "ResourceNotFoundException",
     f"Function not found: {ARN_PREFIX}my-function:$latest"),
    (f"{ARN_PREFIX}my-function", "$latest", "delete_function", "ResourceNotFoundException",
     f"Function not found: {ARN_PREFIX}my-function"),
    (f"arn:aws:lambda::{ACCOUNT}:function:my-function", None, "get_function", "ValidationException",
     _pattern_error(f"arn:aws:lambda::{ACCOUNT}:function:my-function")),
    (f"arn:aws:lambda:{REGION}::function:my-function", None, "invoke", "ValidationException",
     _pattern_error(f"arn:aws:lambda:{REGION}::function:my-function")),
    (f"{ARN_PREFIX}my-function:$LATES", None, "delete_function", "ValidationException",
     _pattern_error(f"{ARN_PREFIX}my-function:$LATES")),
]


@pytest.mark.parametrize(("function_name", "qualifier", "operation", "code", "message"), NAME_CASES)
def test_name_and_qualifier_validation(lam: Any, server: Any, function_name: str, qualifier: str | None,
                                       operation: str, code: str, message: str) -> None:
    kwargs: dict[str, Any] = {"FunctionName": function_name}
    if qualifier is not None:
        kwargs["Qualifier"] = qualifier
    with pytest.raises(ClientError) as exc:
        getattr(lam, operation)(**kwargs)
    assert error_of(exc)[0] == code
    assert error_of(exc)[2] == message
    assert error_of(exc)[1] == {"ValidationException": 400, "InvalidParameterValueException": 400,
                                "ResourceNotFoundException": 404}[code]
    assert_healthy(server)


def _create_kwargs(**overrides: Any) -> dict[str, Any]:
    base = {"FunctionName": unique("bad"), "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
            "Code": {"ZipFile": make_zip({"app.py": CODE})}}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def _create_name_error(value: str, *errors: str) -> str:
    texts = {"length": f"Value '{value}' at 'functionName' failed to satisfy constraint: Member must have length "
                       "less than or equal to 140",
             "pattern": f"Value '{value}' at 'functionName' failed to satisfy constraint: Member must satisfy "
                        f"regular expression pattern: {CREATE_NAME_PATTERN}"}
    n = len(errors)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(texts[e] for e in errors)


LONG_ARN = f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function" + "a" * 170

CREATE_ERRORS: list[tuple[str, dict[str, Any], str, int, str]] = [
    ("unknown runtime", {"Runtime": "non-existent-runtime"}, "InvalidParameterValueException", 400,
     "Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
     f"[{RUNTIME_ENUM}] or be a valid ARN"),
    ("uppercase runtime", {"Runtime": "PYTHON3.9"}, "InvalidParameterValueException", 400,
     f"Value PYTHON3.9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
     f"[{RUNTIME_ENUM}] or be a valid ARN"),
    ("deprecated runtime", {"Runtime": "python3.7"}, "InvalidParameterValueException", 400,
     "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. "
     "We recommend you use a supported runtime while creating or updating functions."),
    ("deprecated provided", {"Runtime": "provided"}, "InvalidParameterValueException", 400,
     "The runtime parameter of provided is no longer supported for creating or updating AWS Lambda functions. "
     "We recommend you use a supported runtime while creating or updating functions."),
    ("bad handler", {"Handler": "app handler"}, "ValidationException", 400,
     "1 validation error detected: Value 'app handler' at 'handler' failed to satisfy constraint: Member must "
     "satisfy regular expression pattern: [^\\s]+"),
    ("bad role", {"Role": "r1"}, "ValidationException", 400,
     "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular "
     "expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"),
    ("memory too small", {"MemorySize": 64}, "ValidationException", 400,
     "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have value "
     "greater than or equal to 128"),
    ("memory too large", {"MemorySize": 10241}, "ValidationException", 400,
     "1 validation error detected: Value '10241' at 'memorySize' failed to satisfy constraint: Member must have "
     "value less than or equal to 10240"),
    ("timeout zero", {"Timeout": 0}, "ValidationException", 400,
     "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value "
     "greater than or equal to 1"),
    ("timeout too long", {"Timeout": 901}, "ValidationException", 400,
     "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value "
     "less than or equal to 900"),
    ("ephemeral too small", {"EphemeralStorage": {"Size": 511}}, "ValidationException", 400,
     "1 validation error detected: Value '511' at 'ephemeralStorage.size' failed to satisfy constraint: Member must "
     "have value greater than or equal to 512"),
    ("ephemeral too large", {"EphemeralStorage": {"Size": 10241}}, "ValidationException", 400,
     "1 validation error detected: Value '10241' at 'ephemeralStorage.size' failed to satisfy constraint: Member "
     "must have value less than or equal to 10240"),
    ("two architectures", {"Architectures": ["x86_64", "arm64"]}, "ValidationException", 400,
     "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member "
     "must have length less than or equal to 1"),
    ("uppercase architecture", {"Architectures": ["X86_64"]}, "ValidationException", 400,
     "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must "
     "satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"),
    ("corrupt zip", {"Code": {"ZipFile": b"definitely not a zip file"}}, "InvalidParameterValueException", 400,
     "Could not unzip uploaded file. Please check your file, then try to upload again."),
    ("reserved env key", {"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException",
     400, "Lambda was unable to configure your environment variables because the environment variables you have "
     "provided contains reserved keys that are currently not supported for modification. Reserved keys used in "
     "this request: AWS_REGION"),
    ("env over 4 KB", {"Environment": {"Variables": {"LARGE_VAR": "x" * 4097}}}, "InvalidParameterValueException",
     400, "Lambda was unable to configure your environment variables because the environment variables you have "
     "provided exceeded the 4KB limit. String measured: {\"LARGE_VAR\":\"" + "x" * 4097 + "\"}"),
    ("name invalid", {"FunctionName": "my-function!"}, "ValidationException", 400,
     _create_name_error("my-function!", "pattern")),
    ("name with bad qualifier", {"FunctionName": "my-function:invalid!"}, "ValidationException", 400,
     _create_name_error("my-function:invalid!", "pattern")),
    ("name over 64", {"FunctionName": A65}, "InvalidParameterValueException", 400,
     f"1 validation error detected: Value '{A65}' at 'functionName' failed to satisfy constraint: Member must have "
     "length less than or equal to 64"),
    ("name over 140 and bad region", {"FunctionName": LONG_ARN}, "ValidationException", 400,
     _create_name_error(LONG_ARN, "length", "pattern")),
    ("qualified name over 140", {"FunctionName": f"my-function:{A129}"}, "ValidationException", 400,
     _create_name_error(f"my-function:{A129}", "length")),
    ("lowercase latest", {"FunctionName": f"{ARN_PREFIX}my-function:$latest"}, "ValidationException", 400,
     _create_name_error(f"{ARN_PREFIX}my-function:$latest", "pattern")),
]


@pytest.mark.parametrize(("label", "overrides", "code", "status", "message"), CREATE_ERRORS,
                         ids=[c[0] for c in CREATE_ERRORS])
def test_create_function_errors(raw_lam: Any, server: Any, label: str, overrides: dict[str, Any], code: str,
                                status: int, message: str) -> None:
    kwargs = _create_kwargs(**overrides)
    with pytest.raises(ClientError) as exc:
        raw_lam.create_function(**kwargs)
    assert error_of(exc) == (code, status, message)
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    assert exc.value.response["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError):  # nothing was created
        raw_lam.get_function(FunctionName=kwargs["FunctionName"])
    assert_healthy(server)


@pytest.mark.parametrize("code", [{"S3Bucket": "my-bucket", "S3Key": "fn.zip"}, {"ImageUri": "x.dkr.ecr/img:1"}],
                         ids=["s3", "image"])
def test_create_from_s3_or_image_is_refused_clearly(raw_lam: Any, server: Any, code: dict[str, str]) -> None:
    kwargs = _create_kwargs(Code=code)
    with pytest.raises(ClientError) as exc:
        raw_lam.create_function(**kwargs)
    err_code, status, message = error_of(exc)
    assert (err_code, status) == ("InvalidParameterValueException", 400)
    if "S3Bucket" in code:  # read from the embedded S3, which has no such bucket (AWS's wording)
        assert message == ("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
                           "The specified bucket does not exist")
    else:
        assert next(iter(code)) in message and "ZipFile" in message
    assert_healthy(server)


def test_create_existing_function_conflicts(lam: Any, server: Any) -> None:
    name = create_function(lam, CODE)
    with pytest.raises(ClientError) as exc:
        create_function(lam, CODE, name=name)
    assert error_of(exc) == ("ResourceConflictException", 409, f"Function already exist: {name}")
    assert_healthy(server)


def test_update_configuration_errors(raw_lam: Any, lam: Any, server: Any) -> None:
    name = create_function(lam, CODE)
    with pytest.raises(ClientError) as exc:
        raw_lam.update_function_configuration(FunctionName=name, Runtime="non-existent-runtime")
    assert error_of(exc)[:2] == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as exc:
        raw_lam.update_function_configuration(FunctionName=name, Role="r1")
    assert error_of(exc)[:2] == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc:
        raw_lam.update_function_configuration(FunctionName=name, Timeout=1000)
    assert error_of(exc)[:2] == ("ValidationException", 400)
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 3, "a refused update changes nothing"
    assert_healthy(server)


@pytest.mark.parametrize("operation", ["get_function", "get_function_configuration", "delete_function",
                                       "get_function_concurrency", "update_function_configuration",
                                       "update_function_code", "invoke", "list_tags"])
def test_unknown_function(lam: Any, operation: str) -> None:
    name = unique("missing")
    kwargs: dict[str, Any] = {"FunctionName": name}
    if operation == "update_function_configuration":
        kwargs["Description"] = "x"
    elif operation == "update_function_code":
        kwargs["ZipFile"] = make_zip({"app.py": CODE})
    elif operation == "list_tags":
        kwargs = {"Resource": ARN_PREFIX + name}
    with pytest.raises(ClientError) as exc:
        getattr(lam, operation)(**kwargs)
    suffix = ":$LATEST" if operation == "invoke" else ""
    assert error_of(exc) == ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}{suffix}")
    assert exc.value.response["Message"] == exc.value.response["Error"]["Message"]


# -- raw HTTP: what boto3 would never send ---------------------------------------------------------
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"FunctionName": '],
                         ids=["garbage", "array", "binary", "truncated"])
def test_malformed_create_body(server: Any, body: bytes) -> None:
    resp = signed(server, "POST", "/2015-03-31/functions", body)
    assert resp.status_code == 400
    assert resp.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert resp.headers["x-amzn-requestid"]
    payload = resp.json()
    assert payload["Type"] == "User"
    assert payload["message"].startswith("Could not parse request body into json")
    assert_healthy(server)


@pytest.mark.parametrize("fields", [{"MemorySize": "lots"}, {"Timeout": [1]}, {"Environment": "x"},
                                    {"Code": "zip"}, {"Code": {"ZipFile": "%%%not base64%%%"}},
                                    {"Handler": 12}, {"Role": None, "Runtime": None}, {"FunctionName": {"a": 1}},
                                    {"Tags": [1]}, {"Architectures": "x86_64"}, {"EphemeralStorage": {"Size": "x"}}],
                         ids=lambda f: "-".join(f))
def test_wrongly_typed_create_fields_are_client_errors(server: Any, fields: dict[str, Any]) -> None:
    body = {"FunctionName": unique("typed"), "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
            "Code": {"ZipFile": base64.b64encode(make_zip({"app.py": CODE})).decode()}, **fields}
    resp = signed(server, "POST", "/2015-03-31/functions", json.dumps(body).encode())
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.headers["x-amzn-errortype"]
    assert_healthy(server)


def test_invoke_payload_that_is_not_json(lam: Any, server: Any) -> None:
    name = create_function(lam, CODE)
    resp = signed(server, "POST", f"/2015-03-31/functions/{name}/invocations", b"{'single': 'quotes'}")
    assert resp.status_code == 400
    assert resp.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert resp.json()["message"].startswith("Could not parse request body into json")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"not json")
    assert error_of(exc)[:2] == ("InvalidRequestContentException", 400)
    assert_healthy(server)


def test_unknown_route_and_unsigned_request(server: Any) -> None:
    resp = signed(server, "GET", "/2015-03-31/no-such-thing")
    assert resp.status_code == 404
    assert resp.headers["x-amzn-errortype"] == "UnknownOperationException"
    unsigned = httpx.get(f"{server.endpoint}/2015-03-31/functions/", timeout=10)
    assert unsigned.status_code == 403
    assert_healthy(server)


# -- code download links (issue 12, finding 11) ------------------------------------------------------

def _refused(resp: httpx.Response, message: str) -> bool:
    """S3's answer to a presigned URL it will not serve: 403 with an XML AccessDenied error."""
    return (resp.status_code == 403 and resp.headers["content-type"] == "application/xml"
            and "<Code>AccessDenied</Code>" in resp.text and f"<Message>{message}</Message>" in resp.text)


def test_code_link_stops_working_when_its_function_is_deleted(lam: Any) -> None:
    """The zip stays stored for another function using the same bytes; only that function's link works."""
    code = make_zip({"app.py": CODE + f"# {unique('shared')}\n"})
    names = [unique("del"), unique("keep")]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": code})
    lam.publish_version(FunctionName=names[0])
    links = [lam.get_function(FunctionName=n)["Code"]["Location"] for n in names]
    version_link = lam.get_function(FunctionName=names[0], Qualifier="1")["Code"]["Location"]
    assert all(httpx.get(url, timeout=10).content == code for url in (*links, version_link))
    lam.delete_function(FunctionName=names[0])
    assert _refused(httpx.get(links[0], timeout=10), "Access Denied")
    assert _refused(httpx.get(version_link, timeout=10), "Access Denied")
    assert httpx.get(links[1], timeout=10).content == code


def test_code_link_of_replaced_code_and_forged_links_are_refused(lam: Any) -> None:
    name = create_function(lam, CODE)
    old = lam.get_function(FunctionName=name)["Code"]["Location"]
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": CODE_V2}))
    assert _refused(httpx.get(old, timeout=10), "Access Denied")
    new = lam.get_function(FunctionName=name)["Code"]["Location"]
    url = httpx.URL(new)
    expires = int(url.params["expires"])
    assert 300 < expires - time.time() <= 600  # AWS: 10 minutes
    # The signature covers the digest, the resource and the expiry: none can be changed.
    for key, value in (("expires", str(expires + 86400)), ("resource", function_arn(unique("other"))),
                       ("signature", "0" * 64)):
        assert _refused(httpx.get(url.copy_set_param(key, value), timeout=10), "Access Denied"), key
    assert httpx.get(new, timeout=10).status_code == 200


def test_code_link_expires(fresh_server: Server) -> None:
    fresh_server.env["LAMBDAD_CODE_LINK_LIFETIME"] = "1"
    fresh_server.start()
    lam = fresh_server.client("lambda")
    name = create_function(lam, CODE)
    url = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert wait_until(lambda: _refused(httpx.get(url, timeout=10), "Request has expired"), timeout=30)
    body = httpx.get(url, timeout=10).text
    assert "<Expires>" in body and "<ServerTime>" in body
