"""Concurrent invocations get their own environments; reserved concurrency throttles as AWS does."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, create_function, unique

ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"

SLEEPER = """
import os, time

def handler(event, context):
    start = time.time()
    time.sleep(event.get("sleep", 0.5))
    return {"start": start, "end": time.time(), "env": context.log_stream_name,
            "environment": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
"""


def _invoke(lam: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The decoded result, or the error response of a refused invocation."""
    try:
        resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    except ClientError as exc:
        return {"error": exc.response}
    assert "FunctionError" not in resp
    return json.loads(resp["Payload"].read())


def _together(lam: Any, name: str, n: int, event: dict[str, Any]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: _invoke(lam, name, event), range(n)))


def test_concurrent_invocations_run_in_separate_environments(lam: Any) -> None:
    name = create_function(lam, SLEEPER, Timeout=30)
    results = _together(lam, name, 8, {"sleep": 0.5})
    assert all("error" not in r for r in results), results
    assert len({r["env"] for r in results}) == 8
    assert len({r["environment"] for r in results}) == 8
    # All eight were running at one moment: the last to start began before the first one finished.
    assert max(r["start"] for r in results) < min(r["end"] for r in results)
    # Those environments stay warm: the next round reuses them instead of starting new ones.
    again = _together(lam, name, 4, {"sleep": 0.2})
    assert {r["env"] for r in again} <= {r["env"] for r in results}


def _throttled(result: dict[str, Any]) -> bool:
    err = result.get("error")
    if err is None:
        return False
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Error"]["Message"] == "Rate Exceeded."
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err["Type"] == "User"
    return True


def test_reserved_concurrency_limits_simultaneous_invocations(lam: Any) -> None:
    name = create_function(lam, SLEEPER, Timeout=30)
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    assert put["ReservedConcurrentExecutions"] == 2
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 2
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 2}

    results = _together(lam, name, 5, {"sleep": 1.5})
    throttled = [r for r in results if _throttled(r)]
    assert (len(results) - len(throttled), len(throttled)) == (2, 3)

    deleted = lam.delete_function_concurrency(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    after = lam.get_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in after
    assert "Concurrency" not in lam.get_function(FunctionName=name)
    assert all("error" not in r for r in _together(lam, name, 3, {"sleep": 0.1}))


def test_zero_reserved_concurrency_throttles_everything(lam: Any) -> None:
    name = create_function(lam, SLEEPER)
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)[
        "ReservedConcurrentExecutions"] == 0
    for _ in range(3):
        assert _throttled(_invoke(lam, name, {"sleep": 0}))
    lam.delete_function_concurrency(FunctionName=name)
    assert "error" not in _invoke(lam, name, {"sleep": 0})


def test_unreserved_concurrency_floor(lam: Any) -> None:
    name = create_function(lam, SLEEPER)
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=unreserved - 99)
    err = exc.value.response
    assert err["Error"]["Code"] == "InvalidParameterValueException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == ("Specified ReservedConcurrentExecutions for function decreases account's "
                                       "UnreservedConcurrentExecution below its minimum value of [100].")
    try:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=unreserved - 100)
        assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    finally:
        lam.delete_function_concurrency(FunctionName=name)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == unreserved


def test_concurrency_errors(lam: Any) -> None:
    name = create_function(lam, SLEEPER)
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName=f"{ARN_PREFIX}{name}:$LATEST", ReservedConcurrentExecutions=1)
    assert exc.value.response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
                   "operation. Please specify either a function name or an unqualified function ARN."}
    missing = unique("missing")
    for value in (1, 5000):
        with pytest.raises(ClientError) as exc:
            lam.put_function_concurrency(FunctionName=missing, ReservedConcurrentExecutions=value)
        assert exc.value.response["Error"] == {
            "Code": "ResourceNotFoundException", "Message": f"Function not found: {ARN_PREFIX}{missing}:$LATEST"}
    with pytest.raises(ClientError) as exc:
        lam.get_function_concurrency(FunctionName=missing)
    assert exc.value.response["Error"]["Message"] == f"Function not found: {ARN_PREFIX}{missing}"


def test_reservation_released_when_the_function_is_deleted(lam: Any) -> None:
    name = create_function(lam, SLEEPER)
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=50)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before - 50
    lam.delete_function(FunctionName=name)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before


def test_idle_environments_are_reaped_after_the_keep_alive(fresh_server: Any) -> None:
    fresh_server.extra_args = ["--idle-timeout", "1"]
    fresh_server.start()
    lam = fresh_server.client()
    name = create_function(lam, SLEEPER)
    first = _invoke(lam, name, {"sleep": 0})
    assert _environments(fresh_server) == 1
    for _ in range(200):  # the reaper runs every 0.5 s here; give it up to 10 s
        if _environments(fresh_server) == 0:
            break
        time.sleep(0.05)
    assert _environments(fresh_server) == 0
    assert _invoke(lam, name, {"sleep": 0})["env"] != first["env"], "a reaped environment is not reused"


def _environments(server: Any) -> int:
    return httpx.get(f"{server.endpoint}/_lambdad/health", timeout=5).json()["environments"]["environments"]
