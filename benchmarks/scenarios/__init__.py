"""Scenarios: each a function that measures something and adds rows to the context.

To add rows, write a module here with

    from benchmarks.scenarios import scenario

    @scenario("my-name", "what it measures", quick=True)
    def my_name(ctx: Context) -> None:
        srv = ctx.server()                       # a shared lambdad (or ctx.own_server(...))
        ...
        ctx.add("my figure", "ms", value, baseline=..., baseline_label="...", target=Target(...))

and add the module's name to MODULES below (the order is the run order; later scenarios may read
figures earlier ones left in ctx.measured).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.context import Context

MODULES = ("warm", "throughput", "cold", "snapstart", "async_events", "events", "peers", "memory",
           "event_sources", "s3", "apigateway", "kms", "logs", "dynamodb")


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    run: Callable[[Context], None]
    quick: bool  # part of --quick


SCENARIOS: list[Scenario] = []


def scenario(name: str, title: str, quick: bool = True) -> Callable[[Callable[[Context], None]],
                                                                     Callable[[Context], None]]:
    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        SCENARIOS.append(Scenario(name, title, fn, quick))
        return fn
    return register


def load() -> list[Scenario]:
    for module in MODULES:
        importlib.import_module(f"benchmarks.scenarios.{module}")
    return SCENARIOS
