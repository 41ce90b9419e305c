"""Which code a function version or layer version holds now: what a code download link is checked
against when it is followed (a deleted version, or one whose code was replaced, serves nothing)."""

from __future__ import annotations

from lambdad.control.functions import FunctionRegistry
from lambdad.control.layers import Layers


class CodeOwners:
    def __init__(self, registry: FunctionRegistry, layers: Layers) -> None:
        self.registry = registry
        self.layers = layers

    def digest_of(self, arn: str) -> str | None:
        """The digest of the code the ARN's version holds now (None: gone)."""
        parts = arn.split(":")
        if len(parts) != 8:
            return None
        if parts[5] == "function":
            rec = self.registry.find(parts[4], parts[3], parts[6])
            fv = rec.versions.get(parts[7]) if rec is not None else None
            return fv.code_digest if fv is not None else None
        if parts[5] == "layer" and parts[7].isdigit():
            lv = self.layers.find(parts[4], parts[3], parts[6], int(parts[7]))
            return lv.digest if lv is not None else None
        return None
