"""Honest configuration: every member of CreateFunction's input (botocore's model, walked here) either
works, proven by a test named for it, or is refused with an InvalidParameterValueException that says
why. Nothing is accepted and then ignored."""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, api_error, create_function, make_zip, unique

TESTS = Path(__file__).parent.parent
HELLO = "def handler(event, context):\n    return 'ok'\n"
HOST = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
OTHER = "x86_64" if HOST == "arm64" else "arm64"

# Each member that works, and the test that proves it (file::test).
WORKS = {
    "FunctionName": "api/test_functions.py::test_function_lifecycle",
    "Runtime": "api/test_honest_configuration.py::test_runtime_without_its_interpreter_is_refused",
    "Role": "auth/test_authz.py::test_execution_role_scopes_what_the_function_can_do",
    "Handler": "invoke/test_python_runtime.py::test_handler_not_found_is_reported_per_invoke",
    "Code": "api/test_functions.py::test_function_lifecycle",
    "Description": "api/test_functions.py::test_function_lifecycle",
    "Timeout": "invoke/test_python_runtime.py::test_timeout_replaces_the_environment",
    "MemorySize": "runtime/test_sandbox.py::test_memory_limit_kills_only_that_environment",
    "Publish": "control/test_versions.py::test_publish_on_create_and_on_code_update",
    "PackageType": "api/test_functions.py::test_create_from_s3_or_image_is_refused_clearly",
    "DeadLetterConfig": "invoke/test_async.py::test_dead_letter_queue_gets_the_original_event",
    "Environment": "api/test_functions.py::test_environment_omitted_unless_given",
    "KMSKeyArn": "api/test_function_kms.py::test_customer_key_seals_variables_and_disabled_key_fails_invocations",
    "TracingConfig": "api/test_honest_configuration.py::test_tracing_pass_through_works_and_active_is_refused",
    "Tags": "api/test_functions.py::test_tags_given_on_create",
    "Layers": "control/test_layers.py::test_layer_lifecycle",
    "Architectures": "api/test_honest_configuration.py::test_architectures_run_on_the_host_only",
    "EphemeralStorage": "runtime/test_sandbox.py::test_tmp_has_ephemeral_storage_capacity_and_does_not_count_as_memory",
    "SnapStart": "invoke/test_snapstart.py::test_hooks_before_snapshot_once_after_restore_in_each_environment",
    "LoggingConfig": "services/test_logging_config.py::test_python_json_logs_and_levels",
}

# Each member that is refused: a value to try, and words the refusal must contain.
REFUSED: dict[str, tuple[Any, str]] = {
    # Checked against EC2 first (tests/services/test_ec2.py): the default VPC's subnet and group, filled in below.
    "VpcConfig": ({"SubnetIds": [], "SecurityGroupIds": []}, "security group rules are not enforced"),
    "FileSystemConfigs": ([{"Arn": "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/"
                                   "fsap-0123456789abcdef0", "LocalMountPath": "/mnt/efs"}], "no Amazon EFS"),
    "ImageConfig": ({"Command": ["app.handler"]}, "container images"),
    "CodeSigningConfigArn": ("arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0",
                             "does not verify code signatures"),
    "PublishTo": ("LATEST_PUBLISHED", "no Lambda Managed Instances"),
    "CapacityProviderConfig": ({"LambdaManagedInstancesCapacityProviderConfig": {
        "CapacityProviderArn": "arn:aws:lambda:us-east-1:000000000000:capacity-provider:cp"}},
        "no Lambda Managed Instances"),
    "TenancyConfig": ({"TenantIsolationMode": "PER_TENANT"}, "no tenant isolation"),
    "DurableConfig": ({"RetentionPeriodInDays": 7}, "no durable functions"),
    "RuntimeConfig": ({"RuntimeArn": "arn:aws:lambda:us-east-1:000000000000:runtime/my-custom-runtime-0001",
                       "RuntimeAlias": "live"},
                      "no customer-managed runtimes"),
    "AcceleratorConfig": ({"AcceleratorMemorySize": 1024}, "no accelerators"),
}


def _members(operation: str) -> list[str]:
    model = botocore.session.get_session().get_service_model("lambda")
    return list(model.operation_model(operation).input_shape.members)


def test_every_create_function_member_works_or_is_refused() -> None:
    members = _members("CreateFunction")
    assert sorted(set(WORKS) | set(REFUSED)) == sorted(members), "a CreateFunction member with no status"
    assert not set(WORKS) & set(REFUSED)
    for member, where in WORKS.items():
        path, _, test = where.partition("::")
        assert re.search(rf"^def {test}\(", (TESTS / path).read_text(), re.M), f"{member}: {where} is missing"


def test_every_update_function_configuration_member_is_covered() -> None:
    extra = {"RevisionId"}  # a guard, not configuration (api/test_functions.py::test_revision_id_guards_updates)
    assert set(_members("UpdateFunctionConfiguration")) - extra <= set(WORKS) | set(REFUSED)


def _create_kwargs(**extra: Any) -> dict[str, Any]:
    return {"FunctionName": unique("honest"), "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
            "Code": {"ZipFile": make_zip({"app.py": HELLO})}, **extra}


def _default_vpc_config(server: Server) -> dict[str, Any]:
    ec2 = server.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                                                  {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    return {"SubnetIds": [subnet["SubnetId"]], "SecurityGroupIds": [group["GroupId"]]}


@pytest.mark.parametrize("member", sorted(REFUSED))
def test_refused_members_say_why(server: Server, lam: Any, member: str) -> None:
    value, words = REFUSED[member]
    if member == "VpcConfig":
        value = _default_vpc_config(server)
    kwargs = _create_kwargs(**{member: value})
    with pytest.raises(ClientError) as exc:
        lam.create_function(**kwargs)
    status, code, message = api_error(exc)
    assert (status, code) == (400, "InvalidParameterValueException"), message
    assert member in message and words in message
    with pytest.raises(ClientError) as exc:  # nothing was created
        lam.get_function(FunctionName=kwargs["FunctionName"])
    assert api_error(exc)[1] == "ResourceNotFoundException"
    if member in _members("UpdateFunctionConfiguration"):
        name = _updatable(lam)
        with pytest.raises(ClientError) as exc:
            lam.update_function_configuration(FunctionName=name, **{member: value})
        assert api_error(exc)[1] == "InvalidParameterValueException" and words in api_error(exc)[2]


_UPDATABLE: list[str] = []


def _updatable(lam: Any) -> str:
    if not _UPDATABLE:
        _UPDATABLE.append(create_function(lam, HELLO))
    return _UPDATABLE[0]


def test_empty_vpc_and_file_systems_are_accepted_as_none(lam: Any) -> None:
    name = create_function(lam, HELLO, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []}, FileSystemConfigs=[])
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "ok"


def test_tracing_pass_through_works_and_active_is_refused(lam: Any) -> None:
    name = create_function(lam, HELLO, TracingConfig={"Mode": "PassThrough"})
    assert lam.get_function_configuration(FunctionName=name)["TracingConfig"] == {"Mode": "PassThrough"}
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, TracingConfig={"Mode": "Active"})
    assert api_error(exc) == (400, "InvalidParameterValueException",
                              "TracingConfig Mode Active is not supported by lambdad: it has no AWS X-Ray to send "
                              "traces to. Use Mode PassThrough.")
    with pytest.raises(ClientError) as exc:
        lam.create_function(**_create_kwargs(TracingConfig={"Mode": "Active"}))
    assert api_error(exc)[1] == "InvalidParameterValueException"


def test_architectures_run_on_the_host_only(lam: Any) -> None:
    name = create_function(lam, HELLO, Architectures=[HOST])
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == [HOST]
    assert lam.get_function_configuration(FunctionName=create_function(lam, HELLO))["Architectures"] == [HOST]
    with pytest.raises(ClientError) as exc:
        lam.create_function(**_create_kwargs(Architectures=[OTHER]))
    assert api_error(exc) == (400, "InvalidParameterValueException",
                              f"Architectures [{OTHER}] is not supported by this lambdad server: it runs functions "
                              f"natively on the host's architecture ({HOST}) and has no emulator for {OTHER}. Use "
                              f"Architectures [{HOST}].")
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": HELLO}), Architectures=[OTHER])
    assert api_error(exc)[1] == "InvalidParameterValueException"


def _installed_node_major() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()[1:] \
        .split(".")[0]


def test_runtime_without_its_interpreter_is_refused(lam: Any) -> None:
    major = _installed_node_major()
    missing = next(r for r in ("nodejs18.x", "nodejs22.x") if r != f"nodejs{major}.x")
    with pytest.raises(ClientError) as exc:
        lam.create_function(**_create_kwargs(Runtime=missing, Handler="index.handler"))
    status, code, message = api_error(exc)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message.startswith(f"Runtime {missing} is not available on this lambdad server: no interpreter for it "
                              "is installed, and lambdad does not run a runtime on another version. Runtimes this "
                              "server can run: ")
    offered = message.split("Runtimes this server can run: ", 1)[1].split(". ", 1)[0].split(", ")
    assert missing not in offered and f"python{sys.version_info[0]}.{sys.version_info[1]}" in offered
    assert "provided.al2023" in offered
    if major:
        assert f"nodejs{major}.x" in offered
    name = create_function(lam, HELLO)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Runtime=missing)
    assert api_error(exc)[2].startswith(f"Runtime {missing} is not available")


def test_doctor_lists_runtime_to_interpreter(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "lambdad", "doctor", "--data-dir", str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = {line.split()[0]: line for line in out.splitlines() if " -> " in line}
    assert "python3.12" in lines and "provided.al2023" in lines
    assert f"architecture {HOST}" in out
