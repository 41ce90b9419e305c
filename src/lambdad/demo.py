"""The demo function created by `lambdad serve --demo`: proof that the server runs code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdad.control.codezip import make_zip_from_dir

if TYPE_CHECKING:
    from lambdad.control.functions import FunctionRegistry
    from lambdad.services.iam.identities import Iam

DEMO_NAME = "hello"
DEMO_SOURCE = '''\
import os


def handler(event, context):
    name = (event or {}).get("name", "world")
    print(f"saying hello to {name}")
    return {"message": f"Hello, {name}!", "function": context.function_name,
            "runtime": os.environ.get("AWS_EXECUTION_ENV")}
'''


def _demo_runtime(registry: FunctionRegistry) -> str:
    """python3.12 if this host has it, else the server's own Python (always there)."""
    import sys

    from lambdad.errors import InvalidParameterValueException

    try:
        if registry.runtime_check is not None:
            registry.runtime_check("python3.12")
    except InvalidParameterValueException:
        return f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return "python3.12"


def ensure_demo_function(registry: FunctionRegistry, iam: Iam, account: str) -> str:
    """Create the demo function if it does not exist; answer what happened, for the start log."""
    import tempfile
    from pathlib import Path

    if registry.find(account, registry.default_region, DEMO_NAME) is not None:
        return f"{DEMO_NAME} (exists)"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "app.py").write_text(DEMO_SOURCE)
        data = make_zip_from_dir(Path(tmp))
    role = iam.ensure_lambda_role(account, "lambdad-demo")
    runtime = _demo_runtime(registry)
    registry.create(account, registry.default_region, {
        "FunctionName": DEMO_NAME, "Runtime": runtime, "Handler": "app.handler",
        "Role": role["Arn"], "Code": {"ZipFile": data},
        "Description": "lambdad demo function",
    })
    return f"{DEMO_NAME} (created, {runtime})"
