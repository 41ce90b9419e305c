"""A tenant's own policy must not stall the server: wildcard patterns built to make a backtracking
matcher take exponential time (issue 12, finding 2), through the real server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, Server, create_function, unique, wait_until

HELLO = "def handler(event, context):\n    return 'hi'\n"
# Seven `*a` groups against a run of 64 "a"s without the final "b": 52 s of regex backtracking.
EVIL = "*a*a*a*a*a*a*a*b"


@contextmanager
def health_watch(server: Server) -> Iterator[list[float | str]]:
    """Poll the health endpoint from another thread while the body runs; yields what each poll saw
    (its latency, or the error)."""
    seen: list[float | str] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=5) as client:
            while True:
                try:
                    response = client.get(f"{server.endpoint}/_lambdad/health")
                    seen.append(response.elapsed.total_seconds() if response.status_code == 200
                                else f"status {response.status_code}")
                except httpx.HTTPError as exc:
                    seen.append(f"{type(exc).__name__}: {exc}")
                if stop.wait(0.05):
                    return

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(30)


def _answered(seen: list[float | str]) -> None:
    errors = [s for s in seen if isinstance(s, str)]
    assert seen and not errors, f"the health endpoint stopped answering within 5 s: {errors[:3]}"


def _during(server: Server, attack: Callable[[], Any]) -> None:
    with health_watch(server) as seen:
        attack()
    _answered(seen)


def test_identity_policy_with_pathological_resource_pattern(server: Server, lam: Any) -> None:
    name = "a" * 64  # the longest function name, all "a"s
    create_function(lam, HELLO, name=name)
    iam = server.client("iam")
    user = unique("user")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="evil", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["lambda:GetFunction", "lambda:*a*a*a*a*a*a*a*b"],
                       "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{EVIL}"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    tenant = server.client("lambda", key=key["AccessKeyId"], secret=key["SecretAccessKey"])

    def attack() -> None:
        for _ in range(3):
            with pytest.raises(ClientError) as exc:
                tenant.get_function(FunctionName=name)  # the pattern does not match: denied, promptly
            assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
            with pytest.raises(ClientError) as exc:
                tenant.invoke(FunctionName=name)  # and the action pattern neither
            assert exc.value.response["Error"]["Code"] == "AccessDeniedException"

    _during(server, attack)


def test_function_resource_policy_with_pathological_source_arn(server: Server, lam: Any) -> None:
    """SNS deliveries are judged by the function's resource policy, whose SourceArn is the tenant's."""
    name = create_function(lam, HELLO)
    lam.add_permission(FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{EVIL}")
    sns = server.client("sns")
    topic = sns.create_topic(Name="a" * 200 + unique("_").replace("-", ""))["TopicArn"]
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)

    refused = f"may not invoke {function_arn}"

    def attack() -> None:
        for _ in range(3):
            sns.publish(TopicArn=topic, Message="refused: the topic does not match the pattern")
        # The deliveries run in the background: wait until each was judged (and refused).
        assert wait_until(lambda: server.log_text().count(refused) >= 3, timeout=120), server.log_text()[-2000:]

    _during(server, attack)
