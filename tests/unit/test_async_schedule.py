"""The asynchronous retry and age schedule, proven on a fake clock: the real AsyncQueue and
AsyncDispatcher (on a real store), a scripted `run` in place of the invoke path. Hours of AWS's
schedule take milliseconds, and every time is exact."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lambdad.clock import FakeClock
from lambdad.control.records import EventInvokeConfig
from lambdad.errors import ResourceNotFoundException, TooManyRequestsException
from lambdad.invoke.async_queue import DEFAULT_MAX_AGE, AsyncDispatcher, AsyncEvent, AsyncQueue
from lambdad.invoke.invoker import InvokeMeta, InvokeResult
from lambdad.store import SqliteStore

BASE = 60.0  # AWS waits about a minute before the first retry


def function_version(config: dict[str, Any] | None) -> Any:
    """The little of a FunctionVersion the dispatcher reads: the event invoke config of $LATEST (given
    as PutFunctionEventInvokeConfig's stored fields)."""
    configs = {"$LATEST": EventInvokeConfig.from_stored(config)} if config else {}
    return SimpleNamespace(function=SimpleNamespace(event_invoke_configs=configs), version="$LATEST")


@dataclass
class Run:
    """The invoke path, scripted: each attempt answers the next of `answers` ("ok", "error",
    "throttle"; "ok" once they run out) and records when it ran, in seconds after acceptance."""

    answers: list[str]
    clock: FakeClock
    t0: float = 0.0
    times: list[float] = field(default_factory=list)

    async def __call__(self, fv: Any, payload: bytes, meta: InvokeMeta) -> InvokeResult:
        self.times.append(self.clock.time() - self.t0)
        answer = self.answers.pop(0) if self.answers else "ok"
        if answer == "throttle":
            raise TooManyRequestsException("Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")
        return InvokeResult(b'{"n": 1}', "$LATEST", function_error="Unhandled" if answer == "error" else None)


@dataclass
class Outcome:
    condition: str
    attempts: int
    at: float
    result: InvokeResult | None


async def schedule(tmp_path: Path, answers: list[str], config: dict[str, Any] | None = None, *,
                   horizon: float = DEFAULT_MAX_AGE + 3600,
                   resolve: Callable[[str, str, str, str | None], Any] | None = None,
                   ) -> tuple[Run, list[Outcome], AsyncQueue]:
    """Accept one event and move the fake clock from timer to timer until its outcome (or `horizon`)."""
    clock = FakeClock()
    store = SqliteStore(tmp_path / "lambdad.db")
    queue = AsyncQueue(store, 256 * 1024, clock=clock)
    run = Run(list(answers), clock)
    outcomes: list[Outcome] = []
    fv = function_version(config)

    async def on_outcome(ev: AsyncEvent, fv: Any, condition: str, result: InvokeResult | None) -> list[str]:
        outcomes.append(Outcome(condition, ev.attempts, clock.time() - run.t0, result))
        return []

    dispatcher = AsyncDispatcher(queue, resolve or (lambda account, region, name, qualifier: (fv, "arn")), run,
                                 on_outcome, BASE)
    task = asyncio.create_task(dispatcher.run_dispatcher())
    try:
        run.t0 = clock.time()
        queue.accept("000000000000", "us-east-1", "fn", None, b'{"n": 1}')
        await clock.advance(0)
        while not outcomes and queue.pending and clock.time() - run.t0 < horizon:
            due = clock.next_due()
            await clock.advance(due if due is not None else 1.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
    return run, outcomes, queue


def drive(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_a_success_is_delivered_at_once(tmp_path: Path) -> None:
    run, [outcome], queue = drive(schedule(tmp_path, ["ok"]))
    assert run.times == [0.0]
    assert (outcome.condition, outcome.attempts, outcome.at) == ("Success", 0, 0.0)
    assert queue.pending == 0 and queue.completed == 1


def test_function_errors_retry_after_base_delay_then_twice_it(tmp_path: Path) -> None:
    run, [outcome], _ = drive(schedule(tmp_path, ["error", "error", "error"]))
    assert run.times == [0.0, BASE, BASE + 2 * BASE]
    assert (outcome.condition, outcome.attempts, outcome.at) == ("RetriesExhausted", 3, 3 * BASE)
    assert outcome.result is not None and outcome.result.function_error == "Unhandled"


@pytest.mark.parametrize(("retries", "times"), [(0, [0.0]), (1, [0.0, BASE]), (2, [0.0, BASE, 3 * BASE])])
def test_maximum_retry_attempts(tmp_path: Path, retries: int, times: list[float]) -> None:
    run, [outcome], _ = drive(schedule(tmp_path, ["error"] * 5, {"MaximumRetryAttempts": retries}))
    assert run.times == times
    assert (outcome.condition, outcome.attempts) == ("RetriesExhausted", retries + 1)


def test_a_retry_that_succeeds_counts_its_failed_attempts(tmp_path: Path) -> None:
    run, [outcome], _ = drive(schedule(tmp_path, ["error", "ok"]))
    assert run.times == [0.0, BASE]
    assert (outcome.condition, outcome.attempts, outcome.at) == ("Success", 1, BASE)


def test_throttles_are_retried_without_consuming_attempts(tmp_path: Path) -> None:
    answers = ["throttle"] * 4 + ["error"] + ["throttle"] * 3 + ["error"] + ["ok"]
    run, [outcome], _ = drive(schedule(tmp_path, answers))
    assert len(run.times) == 10, "every throttle ran again"
    assert (outcome.condition, outcome.attempts) == ("Success", 2), "only the two function errors counted"
    throttle_waits = [b - a for a, b in zip(run.times[:4], run.times[1:5], strict=True)]
    assert all(0 < w <= 5.0 for w in throttle_waits), "throttle back-off is short and capped"
    assert run.times[5] - run.times[4] == BASE, "the first function error waits the base delay"
    assert run.times[9] - run.times[8] == 2 * BASE, "the second waits twice it"


def test_the_event_age_ends_function_error_retries(tmp_path: Path) -> None:
    # Retried at 60 s (< 100 s); the next retry would be at 180 s, past the age: it ends there.
    run, [outcome], _ = drive(schedule(tmp_path, ["error"] * 5, {"MaximumEventAgeInSeconds": 100}))
    assert run.times == [0.0, BASE]
    assert (outcome.condition, outcome.attempts, outcome.at) == ("EventAgeExceeded", 2, BASE)
    assert outcome.result is not None and outcome.result.function_error == "Unhandled"


def test_the_event_age_ends_throttle_retries(tmp_path: Path) -> None:
    run, [outcome], _ = drive(schedule(tmp_path, ["throttle"] * 10_000, {"MaximumEventAgeInSeconds": 60}))
    assert run.times[-1] <= 60, "never run past its age"
    assert outcome.condition == "EventAgeExceeded" and outcome.attempts == 0 and outcome.result is None
    assert 60 < outcome.at <= 65, "given up at the first retry past its age (back-off at most 5 s)"


def test_the_default_age_is_six_hours(tmp_path: Path) -> None:
    run, [outcome], _ = drive(schedule(tmp_path, ["throttle"] * 100_000))
    assert outcome.condition == "EventAgeExceeded"
    assert run.times[-1] <= 6 * 3600 < outcome.at <= 6 * 3600 + 5


def test_an_event_of_a_deleted_function_is_dropped(tmp_path: Path) -> None:
    def gone(account: str, region: str, name: str, qualifier: str | None) -> Any:
        raise ResourceNotFoundException("Function not found")

    run, outcomes, queue = drive(schedule(tmp_path, ["ok"], resolve=gone))
    assert run.times == [] and outcomes == [], "nothing to run and no destination to tell"
    assert queue.pending == 0 and queue.completed == 1


def test_a_consumed_attempt_is_stored_for_a_restart(tmp_path: Path) -> None:
    """The retry's attempt count and due time survive a restart (a throttle's back-off need not)."""
    async def scenario() -> tuple[int, float, float]:
        clock = FakeClock()
        store = SqliteStore(tmp_path / "lambdad.db")
        queue = AsyncQueue(store, 1024, clock=clock)
        fv = function_version(None)
        run = Run(["error"], clock, clock.time())

        async def on_outcome(*args: Any) -> list[str]:
            return []

        dispatcher = AsyncDispatcher(queue, lambda *a: (fv, "arn"), run, on_outcome, BASE)
        task = asyncio.create_task(dispatcher.run_dispatcher())
        queue.accept("000000000000", "us-east-1", "fn", None, b"{}")
        await clock.advance(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
        reopened = AsyncQueue(SqliteStore(tmp_path / "lambdad.db"), 1024, clock=clock)
        assert reopened.load() == 1
        ev = reopened.pop_due(run.t0 + BASE)
        assert ev is not None
        return ev.attempts, ev.next_at - run.t0, ev.received - run.t0

    assert drive(scenario()) == (1, BASE, 0.0)
