"""What the runtime is told about a function version to start its environments: a frozen record built
by the invoke path (invoke/specs.py) from the control plane's FunctionVersion, so the runtime knows no
control-plane type. Per environment, the Launcher turns it into the guest's plain spec dict (its keys
are documented in runtime/guest/frames.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    account: str
    name: str
    version: str
    arn: str
    runtime: str
    handler: str
    role: str  # the execution role ARN: each new environment gets fresh credentials of it
    memory_mb: int = 128
    timeout_s: int = 3
    ephemeral_mb: int = 512
    log_group: str = ""  # "" = /aws/lambda/<name>
    log_format: str = "Text"  # LoggingConfig.LogFormat; with JSON, the runtimes filter at this level
    application_log_level: str = "INFO"
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"
