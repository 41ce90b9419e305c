"""The runtime's view of a function version (runtime/spec.py). Built when an environment or template
starts (the cold path), never per invocation."""

from __future__ import annotations

from lambdad.control.functions import FunctionVersion
from lambdad.runtime.spec import FunctionSpec


def function_spec(fv: FunctionVersion) -> FunctionSpec:
    cfg = fv.config
    return FunctionSpec(
        account=fv.account, name=fv.name, version=fv.version, arn=fv.arn, runtime=cfg.get("Runtime", ""),
        handler=cfg.get("Handler", ""), role=fv.role, memory_mb=cfg.get("MemorySize", 128),
        timeout_s=cfg.get("Timeout", 3), ephemeral_mb=(cfg.get("EphemeralStorage") or {}).get("Size", 512),
        log_group=(cfg.get("LoggingConfig") or {}).get("LogGroup") or "",
        variables=dict((cfg.get("Environment") or {}).get("Variables") or {}))
