"""What an invocation of a batch did: AWS's rules for ReportBatchItemFailures, and the counters a
runner keeps (shown on /_lambdad/health)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lambdad.control.functions import FunctionVersion
from lambdad.invoke.invoker import InvokeMeta, InvokeResult

#: (account, function name, qualifier) -> (the version to run, the ARN it is invoked by)
Resolve = Callable[[str, str, str, str | None], tuple[FunctionVersion, str]]  # account, region, name, qualifier
#: the synchronous invoke path (Invoker.invoke)
Run = Callable[[FunctionVersion, bytes, InvokeMeta], Awaitable[InvokeResult]]


@dataclass(slots=True)
class Counters:
    invocations: int = 0
    processed: int = 0  # records whose invocation succeeded (and were deleted or checkpointed)
    failed: int = 0  # records of failed invocations, or named in batchItemFailures
    filtered: int = 0  # records no filter matched (dropped without an invocation)
    throttles: int = 0
    in_flight: int = 0  # records in invocations right now


def failed_items(result: InvokeResult, ids: list[str], reports: bool) -> set[str]:
    """The records an invocation failed, by AWS's rules: a function error fails all; with
    ReportBatchItemFailures, an empty or null response or list fails none, a malformed response or an
    identifier not in the batch fails all, otherwise the named ones fail."""
    everything = set(ids)
    if result.function_error:
        return everything
    if not reports:
        return set()
    text = result.payload.strip()
    if not text:
        return set()
    try:
        body = json.loads(text)
    except ValueError:
        return everything
    if not isinstance(body, dict):
        return set()
    failures = body.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    named: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in everything:
            return everything
        named.add(ident)
    return named
