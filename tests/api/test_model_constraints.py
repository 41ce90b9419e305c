"""Constraints generated from botocore's shapes (api/shapes.py `constraint_errors`), through the real
server with the client's own validation off, so the server's answer is what is checked."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY


def raw(server: Any, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY,
                        config=BotoConfig(retries={"max_attempts": 0}, parameter_validation=False))


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_lambda_length_of_a_path_member(server: Any) -> None:
    name = "x" * 171
    with pytest.raises(ClientError) as exc:
        raw(server, "lambda").get_function_configuration(FunctionName=name)
    assert error_of(exc) == ("ValidationException",
                             f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
                             "constraint: Member must have length less than or equal to 170")


def test_lambda_several_errors_in_member_order(server: Any) -> None:
    with pytest.raises(ClientError) as exc:
        raw(server, "lambda").create_function(FunctionName="bad name", Role="arn:aws:iam::123456789012:role/r",
                                              Runtime="python3.12", Handler="h.h", Code={"ZipFile": b"x"},
                                              MemorySize=1, Timeout=0)
    code, message = error_of(exc)
    assert code == "ValidationException"
    clauses = message.removeprefix("3 validation errors detected: ").split("; ")
    assert len(clauses) == 3, message
    assert clauses[0].startswith("Value 'bad name' at 'functionName' failed to satisfy constraint: Member must "
                                 "satisfy regular expression pattern: ")
    assert clauses[1] == ("Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater "
                          "than or equal to 1")
    assert clauses[2] == ("Value '1' at 'memorySize' failed to satisfy constraint: Member must have value greater "
                          "than or equal to 128")


def test_lambda_enum_of_a_query_member(server: Any) -> None:
    with pytest.raises(ClientError) as exc:
        raw(server, "lambda").list_functions(FunctionVersion="SOME")
    assert error_of(exc) == ("ValidationException",
                             "1 validation error detected: Value 'SOME' at 'functionVersion' failed to satisfy "
                             "constraint: Member must satisfy enum value set: [ALL]")


def test_logs_pattern_enum_and_range_under_its_own_code(server: Any) -> None:
    logs = raw(server, "logs")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="bad name!", logStreamName="s")
    assert error_of(exc) == ("InvalidParameterException",
                             "1 validation error detected: Value 'bad name!' at 'logGroupName' failed to satisfy "
                             r"constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="g", orderBy="Newest", limit=51)
    assert error_of(exc) == ("InvalidParameterException",
                             "2 validation errors detected: Value 'Newest' at 'orderBy' failed to satisfy "
                             "constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]; "
                             "Value '51' at 'limit' failed to satisfy constraint: Member must have value less than "
                             "or equal to 50")


def test_iam_query_members_under_validation_error(server: Any) -> None:
    iam = raw(server, "iam")
    name = "r" * 65
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert error_of(exc) == ("ValidationError",
                             f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy "
                             "constraint: Member must have length less than or equal to 64")
    with pytest.raises(ClientError) as exc:
        iam.list_roles(PathPrefix="no-slash", MaxItems=0)
    code, message = error_of(exc)
    assert code == "ValidationError"
    assert message.startswith("2 validation errors detected: Value 'no-slash' at 'pathPrefix' failed to satisfy "
                              "constraint: Member must satisfy regular expression pattern: ")
    assert message.endswith("; Value '0' at 'maxItems' failed to satisfy constraint: Member must have value "
                            "greater than or equal to 1")
