"""The server's threads for blocking work, so that the event loop keeps answering meanwhile.

One bounded pool, owned by `Lambdad` (made at start, shut down at close), used by name wherever
work can take long without awaiting anything: inspecting and extracting uploaded zips (tens of
thousands of members take seconds), writing them durably. Its threads only run self-contained
work on their arguments; anything that touches shared in-memory state (the function registry, the
store's single connection) stays on the loop, before and after. Nothing here uses asyncio's
default executor, whose size and lifetime nobody owns.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class WorkerPool:
    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambdad-worker")
        self._queued = 0

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """fn(*args, **kwargs) on a worker thread; its result or its exception."""
        loop = asyncio.get_running_loop()
        self._queued += 1
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        finally:
            self._queued -= 1

    def statistics(self) -> dict[str, int]:
        return {"threads": self.max_workers, "in_use_or_waiting": self._queued}

    def close(self) -> None:
        """Wait for work already running (a zip half extracted is removed by its own cleanup)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
