"""The runtime's view of a function version (runtime/spec.py). Built when an environment or template
starts (the cold path), never per invocation."""

from __future__ import annotations

from lambdad.control.functions import FunctionVersion
from lambdad.runtime.spec import FunctionSpec


def function_spec(fv: FunctionVersion) -> FunctionSpec:
    return FunctionSpec(
        account=fv.account, name=fv.name, version=fv.version, arn=fv.arn, runtime=fv.runtime,
        handler=fv.handler, role=fv.role, memory_mb=fv.memory_mb, timeout_s=fv.timeout_s,
        ephemeral_mb=fv.ephemeral_mb, log_group=fv.log_group, log_format=fv.log_format,
        application_log_level=fv.application_log_level, variables=dict(fv.variables))
