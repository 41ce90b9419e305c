"""Validation of function configuration fields, with the messages AWS answers."""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Callable
from typing import Any

from lambdad.control.names import validation_error
from lambdad.errors import InvalidParameterValueException, ValidationException

SUPPORTED_RUNTIMES = (
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "nodejs18.x", "nodejs20.x", "nodejs22.x", "provided.al2", "provided.al2023",
)
# AWS's current enum (its error message lists these), for the "unknown runtime" wording.
AWS_RUNTIME_ENUM = (
    "nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, "
    "python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, "
    "dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2"
)
DEPRECATED_RUNTIMES = frozenset({
    "python2.7", "python3.6", "python3.7", "python3.8", "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10",
    "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "java8", "go1.x", "ruby2.5", "ruby2.7",
    "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "provided",
})
RESERVED_ENV_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
_ROLE_RE = re.compile(ROLE_PATTERN)
CREATE_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
_CREATE_NAME_RE = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?(?P<name>[a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
_HANDLER_RE = re.compile(r"[^\s]+")
ENV_LIMIT_BYTES = 4096


def function_name_for_create(raw: Any) -> str:
    """The function name of a CreateFunction request (a name, partial ARN or ARN), as AWS checks it."""
    if not isinstance(raw, str) or not raw:
        raise validation_error(["Value null at 'functionName' failed to satisfy constraint: Member must "
                                "not be null"])
    errors = []
    if len(raw) > 140:
        errors.append(f"Value '{raw}' at 'functionName' failed to satisfy constraint: Member must have length "
                      "less than or equal to 140")
    m = _CREATE_NAME_RE.fullmatch(raw)
    if m is None:
        errors.append(f"Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy "
                      f"regular expression pattern: {CREATE_NAME_PATTERN}")
    if errors or m is None:
        raise validation_error(errors)
    name = m.group("name")
    if len(name) > 64:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member "
            "must have length less than or equal to 64")
    return name


def check_int_range(params: dict[str, Any], key: str, label: str, lo: int, hi: int, errors: list[str]) -> None:
    value = params.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(f"Value '{value}' at '{label}' failed to satisfy constraint: Member must be an integer")
    elif value < lo:
        errors.append(f"Value '{value}' at '{label}' failed to satisfy constraint: Member must have value "
                      f"greater than or equal to {lo}")
    elif value > hi:
        errors.append(f"Value '{value}' at '{label}' failed to satisfy constraint: Member must have value "
                      f"less than or equal to {hi}")


RuntimeCheck = Callable[[str], None]


def runtime_unavailable(runtime: str, available: list[str]) -> InvalidParameterValueException:
    """A runtime lambdad knows but this host has no interpreter for (it never runs one on another version)."""
    return InvalidParameterValueException(
        f"Runtime {runtime} is not available on this lambdad server: no interpreter for it is installed, and "
        f"lambdad does not run a runtime on another version. Runtimes this server can run: "
        f"{', '.join(available)}. Install the interpreter, or map it with the python_interpreters or node_binary "
        "setting (`lambdad doctor` lists runtime -> interpreter).")


def runtime_checker(resolve: Callable[[str], str | None]) -> RuntimeCheck:
    """A RuntimeCheck over what runs each runtime on this host (runtime/interpreters.py `resolve`)."""
    def check(runtime: str) -> None:
        if resolve(runtime) is None:
            raise runtime_unavailable(runtime, [r for r in SUPPORTED_RUNTIMES if resolve(r) is not None])
    return check


def check_runtime(runtime: Any) -> str:
    if runtime in SUPPORTED_RUNTIMES:
        return runtime
    if runtime in DEPRECATED_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions.")
    if isinstance(runtime, str) and runtime in AWS_RUNTIME_ENUM.split(", "):
        raise InvalidParameterValueException(
            f"Runtime {runtime} is not available on this lambdad server. Available runtimes: "
            f"{', '.join(SUPPORTED_RUNTIMES)}.")
    raise InvalidParameterValueException(
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{AWS_RUNTIME_ENUM}] or be a valid ARN")


def check_environment(env: Any) -> dict[str, Any]:
    if not isinstance(env, dict):
        raise InvalidParameterValueException("Environment must be an object with Variables.")
    variables = env.get("Variables") or {}
    if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(val, str) for k, val in variables.items()):
        raise InvalidParameterValueException("Environment variables must be a map of strings to strings.")
    reserved = sorted(k for k in variables if k in RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}")
    for key in variables:
        if not re.fullmatch(r"[a-zA-Z]([a-zA-Z0-9_])+", key):
            raise validation_error([
                f"Value '{key}' at 'environment.variables' failed to satisfy constraint: Map keys must "
                "satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"])
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > ENV_LIMIT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}")
    return {"Variables": dict(variables)}


def host_architecture() -> str:
    """Lambda's name for the architecture this server runs functions on (natively: no emulator)."""
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def check_architectures(archs: Any) -> None:
    """Architectures run natively: the other one is refused (lambdad configures no emulator such as
    qemu-user, so it cannot keep the promise)."""
    host = host_architecture()
    if isinstance(archs, list) and archs and archs[0] != host:
        raise InvalidParameterValueException(
            f"Architectures [{archs[0]}] is not supported by this lambdad server: it runs functions natively on "
            f"the host's architecture ({host}) and has no emulator for {archs[0]}. Use Architectures [{host}].")


_NO_MANAGED_INSTANCES = "lambdad has no Lambda Managed Instances (capacity providers)"
# Fields lambdad accepts only empty or absent, and why it refuses a value: accepting and then ignoring
# it would make a function that behaves differently on AWS.
_REFUSED: dict[str, str] = {
    "VpcConfig": "VpcConfig is not supported by lambdad yet: its EC2 API keeps VPCs, subnets and security "
                 "groups, but functions still run on the host's network, where security group rules are not "
                 "enforced, so a function would not be isolated as in a VPC. Remove VpcConfig, or pass empty "
                 "SubnetIds and SecurityGroupIds.",
    "FileSystemConfigs": "FileSystemConfigs is not supported by lambdad: it has no Amazon EFS file systems to "
                         "mount.",
    "ImageConfig": "ImageConfig applies to container images, which lambdad does not run (PackageType Image is not "
                   "supported); use a .zip deployment package.",
    "CodeSigningConfigArn": "CodeSigningConfigArn is not supported by lambdad: it does not verify code "
                            "signatures.",
    "PublishTo": f"PublishTo is not supported: {_NO_MANAGED_INSTANCES}.",
    "CapacityProviderConfig": f"CapacityProviderConfig is not supported: {_NO_MANAGED_INSTANCES}.",
    "TenancyConfig": "TenancyConfig is not supported by lambdad: it has no tenant isolation mode (one execution "
                     "environment per tenant).",
    "DurableConfig": "DurableConfig is not supported by lambdad: it has no durable functions.",
    "RuntimeConfig": "RuntimeConfig is not supported by lambdad: it has no customer-managed runtimes.",
    "AcceleratorConfig": "AcceleratorConfig is not supported by lambdad: it has no accelerators.",
}


def _is_empty(field: str, value: Any) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    if field == "VpcConfig" and isinstance(value, dict):
        return not value.get("SubnetIds") and not value.get("SecurityGroupIds")
    return False


def refuse_unsupported(params: dict[str, Any]) -> None:
    """Every field lambdad cannot honour is refused with the reason, never accepted and ignored."""
    for field, reason in _REFUSED.items():
        if field in params and not _is_empty(field, params[field]):
            raise InvalidParameterValueException(reason)
    tracing = params.get("TracingConfig")
    if isinstance(tracing, dict) and tracing.get("Mode") == "Active":
        raise InvalidParameterValueException(
            "TracingConfig Mode Active is not supported by lambdad: it has no AWS X-Ray to send traces to. Use Mode "
            "PassThrough.")
    if params.get("Architectures") is not None:
        check_architectures(params["Architectures"])


def function_configuration(params: dict[str, Any], *, creating: bool,
                           current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration fields set by CreateFunction / UpdateFunctionConfiguration."""
    errors: list[str] = []
    check_int_range(params, "MemorySize", "memorySize", 128, 10240, errors)
    check_int_range(params, "Timeout", "timeout", 1, 900, errors)
    storage = params.get("EphemeralStorage")
    if storage is not None:
        if not isinstance(storage, dict) or "Size" not in storage:
            errors.append("Value null at 'ephemeralStorage.size' failed to satisfy constraint: Member must "
                          "not be null")
        else:
            check_int_range(storage, "Size", "ephemeralStorage.size", 512, 10240, errors)
    handler = params.get("Handler")
    if handler is not None and (not isinstance(handler, str) or len(handler) > 128
                                or not _HANDLER_RE.fullmatch(handler)):
        errors.append(f"Value '{handler}' at 'handler' failed to satisfy constraint: Member must satisfy "
                      "regular expression pattern: [^\\s]+")
    role = params.get("Role")
    if role is not None and (not isinstance(role, str) or not _ROLE_RE.fullmatch(role)):
        errors.append(f"Value '{role}' at 'role' failed to satisfy constraint: Member must satisfy regular "
                      f"expression pattern: {ROLE_PATTERN}")
    description = params.get("Description")
    if description is not None and (not isinstance(description, str) or len(description) > 256):
        errors.append("Value at 'description' failed to satisfy constraint: Member must have length less "
                      "than or equal to 256")
    archs = params.get("Architectures")
    if archs is not None:
        if not isinstance(archs, list) or len(archs) != 1:
            errors.append(f"Value '[{', '.join(map(str, archs or []))}]' at 'architectures' failed to satisfy "
                          "constraint: Member must have length less than or equal to 1")
        elif archs[0] not in ("x86_64", "arm64"):
            errors.append(f"Value '[{archs[0]}]' at 'architectures' failed to satisfy constraint: Member must "
                          "satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member "
                          "must not be null]")
    if errors:
        raise validation_error(errors)
    refuse_unsupported(params)

    out: dict[str, Any] = {}
    if creating:
        if params.get("Role") is None:
            raise validation_error(["Value null at 'role' failed to satisfy constraint: Member must not be null"])
        runtime = params.get("Runtime")
        if runtime is None:
            raise InvalidParameterValueException("The Runtime parameter is required for Zip package type.")
        if handler is None:
            raise InvalidParameterValueException("The Handler parameter is required for Zip package type.")
        out.update({
            "Description": "", "MemorySize": 128, "Timeout": 3, "EphemeralStorage": {"Size": 512},
            "Architectures": [host_architecture()], "TracingConfig": {"Mode": "PassThrough"},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        })
    if params.get("Runtime") is not None:
        out["Runtime"] = check_runtime(params["Runtime"])
    for key in ("Handler", "Role", "Description", "MemorySize", "Timeout", "Architectures"):
        if params.get(key) is not None:
            out[key] = params[key]
    if storage is not None:
        out["EphemeralStorage"] = {"Size": storage["Size"]}
    if params.get("Environment") is not None:
        out["Environment"] = check_environment(params["Environment"])
    if params.get("TracingConfig") is not None:
        mode = params["TracingConfig"].get("Mode", "PassThrough")
        if mode not in ("Active", "PassThrough"):
            raise ValidationException(f"1 validation error detected: Value '{mode}' at 'tracingConfig.mode' "
                                      "failed to satisfy constraint: Member must satisfy enum value set: "
                                      "[Active, PassThrough]")
        out["TracingConfig"] = {"Mode": mode}
    if params.get("DeadLetterConfig") is not None:
        out["DeadLetterConfig"] = params["DeadLetterConfig"]
    if params.get("KMSKeyArn") is not None:
        out["KMSKeyArn"] = params["KMSKeyArn"]
    if params.get("LoggingConfig") is not None:
        out["LoggingConfig"] = check_logging_config(params["LoggingConfig"], (current or {}).get("LoggingConfig"))
    if params.get("Layers") is not None:
        layers = params["Layers"]
        if len(layers) > 5:
            raise InvalidParameterValueException("Cannot reference more than 5 layers.")
        out["Layers"] = layers  # resolved into {Arn, CodeSize} by the layers module
    if params.get("SnapStart") is not None:
        apply_on = params["SnapStart"].get("ApplyOn", "None")
        if apply_on not in ("PublishedVersions", "None"):
            raise validation_error([f"Value '{apply_on}' at 'snapStart.applyOn' failed to satisfy constraint: "
                                    "Member must satisfy enum value set: [PublishedVersions, None]"])
        out["SnapStart"] = {"ApplyOn": apply_on, "OptimizationStatus": "Off"}
    return out


MAX_TAGS = 50
TOO_MANY_TAGS = "Number of tags exceeds resource tag limit."


APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
_LOG_GROUP = re.compile(r"[\.\-_/#A-Za-z0-9]{1,512}\Z")


def check_logging_config(given: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """LoggingConfig as Lambda keeps it: JSON carries both log levels (INFO unless given), Text none;
    LogGroup is kept by the caller's default (/aws/lambda/<name>) when absent."""
    cfg = dict(current or {})
    cfg.update({k: v for k, v in given.items() if v is not None})
    fmt = cfg.get("LogFormat", "Text")
    if fmt not in ("Text", "JSON"):
        raise ValidationException(f"1 validation error detected: Value '{fmt}' at 'loggingConfig.logFormat' failed "
                                  "to satisfy constraint: Member must satisfy enum value set: [JSON, Text]")
    for key, allowed, label in (("ApplicationLogLevel", APPLICATION_LOG_LEVELS, "applicationLogLevel"),
                                ("SystemLogLevel", SYSTEM_LOG_LEVELS, "systemLogLevel")):
        value = cfg.get(key)
        if value is not None and value not in allowed:
            raise ValidationException(f"1 validation error detected: Value '{value}' at 'loggingConfig.{label}' "
                                      "failed to satisfy constraint: Member must satisfy enum value set: "
                                      f"[{', '.join(allowed)}]")
    if fmt == "Text":
        if given.get("ApplicationLogLevel") or given.get("SystemLogLevel"):
            raise InvalidParameterValueException("Log level can only be configured when the log format is JSON "
                                                 "(LoggingConfig.LogFormat).")
        cfg.pop("ApplicationLogLevel", None)
        cfg.pop("SystemLogLevel", None)
    else:
        cfg.setdefault("ApplicationLogLevel", "INFO")
        cfg.setdefault("SystemLogLevel", "INFO")
    cfg["LogFormat"] = fmt
    group = cfg.get("LogGroup")
    if group is not None and not _LOG_GROUP.match(group):
        raise ValidationException(f"1 validation error detected: Value '{group}' at 'loggingConfig.logGroup' failed "
                                  "to satisfy constraint: Member must satisfy regular expression pattern: "
                                  "[\\.\\-_/#A-Za-z0-9]+")
    return cfg


def check_tags(tags: Any) -> dict[str, str]:
    """Tags given at create or merged by TagResource: a map of strings, at most 50."""
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise InvalidParameterValueException("Tags must be a map of strings to strings.")
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException(TOO_MANY_TAGS)
    return dict(tags)
