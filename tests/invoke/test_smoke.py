"""The core loop through unmodified boto3: create, invoke (cold then warm), read back."""

import json

from tests.conftest import create_function

CODE = """
count = 0

def handler(event, context):
    global count
    count += 1
    return {"echo": event, "count": count, "name": context.function_name}
"""


def test_create_and_invoke_cold_then_warm(lam):
    name = create_function(lam, CODE)
    first = lam.invoke(FunctionName=name, Payload=json.dumps({"a": 1}))
    assert first["StatusCode"] == 200
    assert "FunctionError" not in first
    assert json.loads(first["Payload"].read()) == {"echo": {"a": 1}, "count": 1, "name": name}
    second = lam.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(second["Payload"].read())["count"] == 2, "warm environment keeps module state"
    assert second["ExecutedVersion"] == "$LATEST"
