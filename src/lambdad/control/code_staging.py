"""Uploaded code checked, stored, unpacked and measured on the server's worker threads: a zip of
tens of thousands of files takes seconds, and the event loop keeps serving meanwhile."""

from __future__ import annotations

from typing import Any

from lambdad.control.functions import FunctionRegistry
from lambdad.control.layers import Layers
from lambdad.workers import WorkerPool


class CodeStaging:
    def __init__(self, registry: FunctionRegistry, layers: Layers, workers: WorkerPool) -> None:
        self.registry = registry
        self.layers = layers
        self.workers = workers

    async def function_code(self, code: dict[str, Any]) -> tuple[str, int]:
        """(digest, size) of a function's Code, for registry.create / update_code."""
        return await self.workers.run(self._stage, code)

    def _stage(self, code: dict[str, Any]) -> tuple[str, int]:
        digest, size = self.registry.stage_code(code)
        self.layers.unzipped_size(digest)  # measured now rather than by the layers' config hook, on the loop
        return digest, size

    async def layer_content(self, params: dict[str, Any]) -> Any:
        return await self.workers.run(self.layers.stage_content, params)
