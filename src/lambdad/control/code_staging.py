"""Uploaded code checked, stored, unpacked and measured on the server's worker threads: a zip of
tens of thousands of files takes seconds, and the event loop keeps serving meanwhile.

Code named by `S3Bucket`/`S3Key`/`S3ObjectVersion` is read from the embedded S3 here (the caller's
own bucket), with the limits AWS applies to packages from S3: the 50 MB limit on a zip sent in the
request does not apply, the 250 MB unzipped limit does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdad.control.functions import FunctionRegistry
from lambdad.control.layers import Layers
from lambdad.errors import ApiError, InvalidParameterValueException
from lambdad.workers import WorkerPool

# (account, bucket, key, version or None, most bytes) -> the object's bytes; raises the S3 error
S3Reader = Callable[[str, str, str, str | None, int], bytes]


class CodeStaging:
    def __init__(self, registry: FunctionRegistry, layers: Layers, workers: WorkerPool,
                 s3_reader: S3Reader | None = None) -> None:
        self.registry = registry
        self.layers = layers
        self.workers = workers
        self.s3_reader = s3_reader

    async def function_code(self, code: dict[str, Any], account: str = "") -> tuple[str, int]:
        """(digest, size) of a function's Code, for registry.create / update_code."""
        return await self.workers.run(self._stage, code, account)

    def _stage(self, code: dict[str, Any], account: str) -> tuple[str, int]:
        if isinstance(code, dict) and (code.get("S3Bucket") or code.get("S3Key") or code.get("S3ObjectVersion")):
            digest, size = self.registry.store_zip(self._from_s3(code, account, "Code"), from_s3=True)
        else:
            digest, size = self.registry.stage_code(code)
        self.layers.unzipped_size(digest)  # measured now rather than by the layers' config hook, on the loop
        return digest, size

    async def layer_content(self, params: dict[str, Any], account: str = "") -> Any:
        content = params.get("Content")
        if isinstance(content, dict) and (content.get("S3Bucket") or content.get("S3Key")):
            return await self.workers.run(self._layer_from_s3, params, account)
        return await self.workers.run(self.layers.stage_content, params)

    def _layer_from_s3(self, params: dict[str, Any], account: str) -> tuple[str, int]:
        digest, size = self.registry.store_zip(self._from_s3(params["Content"], account, "Content"), from_s3=True)
        self.layers.unzipped_size(digest)
        return digest, size

    def _from_s3(self, code: dict[str, Any], account: str, where: str) -> bytes:
        bucket, key = code.get("S3Bucket"), code.get("S3Key")
        if not bucket or not key or self.s3_reader is None:
            raise InvalidParameterValueException(f"Please provide a source for function code: {where}.S3Bucket "
                                                 f"and {where}.S3Key together.")
        try:
            return self.s3_reader(account, str(bucket), str(key), code.get("S3ObjectVersion"),
                                  self.registry.config.max_unzipped_bytes)
        except ApiError as exc:
            raise InvalidParameterValueException(f"Error occurred while GetObject. S3 Error Code: {exc.code}. "
                                                 f"S3 Error Message: {exc.message}") from None
