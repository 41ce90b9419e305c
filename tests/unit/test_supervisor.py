"""The supervisor owns background loops: a crash is logged, counted and restarted; a loop that keeps
failing stops the server instead of vanishing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from lambdad.supervisor import Supervisor


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_crashed_loop_is_logged_counted_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> dict[str, object]:
        runs = 0
        steady = asyncio.Event()

        async def flaky() -> None:
            nonlocal runs
            runs += 1
            if runs <= 2:
                raise RuntimeError(f"boom {runs}")
            steady.set()
            await asyncio.Event().wait()

        sup = Supervisor(restart_delay=0)
        sup.start("flaky", flaky)
        await asyncio.wait_for(steady.wait(), 5)
        stats = sup.statistics()["flaky"]
        await sup.aclose()
        return stats

    with caplog.at_level(logging.ERROR, logger="lambdad.supervisor"):
        stats = run(scenario())
    assert stats == {"running": True, "restarts": 2, "last_error": "RuntimeError: boom 2", "given_up": False}
    crashes = [r for r in caplog.records if "background loop flaky crashed" in r.getMessage()]
    assert len(crashes) == 2 and all(r.exc_info for r in crashes)  # with the traceback


def test_a_loop_that_returns_is_restarted_too() -> None:
    async def scenario() -> int:
        runs = 0
        again = asyncio.Event()

        async def quits() -> None:
            nonlocal runs
            runs += 1
            if runs == 2:
                again.set()
                await asyncio.Event().wait()

        sup = Supervisor(restart_delay=0)
        sup.start("quits", quits)
        await asyncio.wait_for(again.wait(), 5)
        restarts = int(sup.statistics()["quits"]["restarts"])  # type: ignore[call-overload]
        await sup.aclose()
        return restarts

    assert run(scenario()) == 1


def test_a_loop_that_keeps_failing_stops_the_server() -> None:
    async def scenario() -> tuple[list[str], dict[str, object]]:
        fatal: list[str] = []
        stopped = asyncio.Event()

        async def broken() -> None:
            raise OSError("disk gone")

        def on_fatal(name: str, error: BaseException) -> None:
            fatal.append(f"{name}: {error}")
            stopped.set()

        sup = Supervisor(restart_delay=0, max_failures=4, on_fatal=on_fatal)
        sup.start("broken", broken)
        await asyncio.wait_for(stopped.wait(), 5)
        stats = sup.statistics()["broken"]
        await sup.aclose()
        return fatal, stats

    fatal, stats = run(scenario())
    assert fatal == ["broken: disk gone"]
    assert stats["given_up"] is True and stats["running"] is False and stats["restarts"] == 3  # 4th failure ends it


def test_aclose_cancels_every_loop() -> None:
    async def scenario() -> list[str]:
        cancelled: list[str] = []

        def forever(name: str):  # type: ignore[no-untyped-def]
            async def loop() -> None:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    cancelled.append(name)
                    raise
            return loop

        sup = Supervisor()
        for name in ("a", "b", "c"):
            sup.start(name, forever(name))
        await asyncio.sleep(0)
        await sup.aclose()
        return sorted(cancelled)

    assert run(scenario()) == ["a", "b", "c"]


def test_names_are_unique() -> None:
    async def scenario() -> None:
        sup = Supervisor()

        async def idle() -> None:
            await asyncio.Event().wait()

        sup.start("x", idle)
        try:
            with pytest.raises(ValueError):
                sup.start("x", idle)
        finally:
            await sup.aclose()

    run(scenario())


def test_a_task_set_logs_a_failed_work_item_and_cancels_the_rest_at_close(caplog: pytest.LogCaptureFixture) -> None:
    from lambdad.supervisor import TaskSet

    async def scenario() -> tuple[int, list[str]]:
        tasks = TaskSet("deliveries")
        cancelled: list[str] = []

        async def fails() -> None:
            raise ValueError("target refused")

        async def waits() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append("waits")
                raise

        tasks.spawn(fails(), name="delivery-1")
        tasks.spawn(waits(), name="delivery-2")
        for _ in range(3):
            await asyncio.sleep(0)
        left = len(tasks)
        await tasks.aclose()
        return left, cancelled

    with caplog.at_level(logging.ERROR, logger="lambdad.supervisor"):
        left, cancelled = run(scenario())
    assert left == 1 and cancelled == ["waits"]
    failures = [r for r in caplog.records if "deliveries: task delivery-1 failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


def test_restarts_back_off_and_a_healthy_run_starts_the_count_afresh() -> None:
    """Failures in a row double the delay; one that comes after a long healthy run counts as the first."""
    from lambdad.clock import FakeClock

    async def scenario() -> tuple[list[float], int]:
        clock = FakeClock()
        slept: list[float] = []
        fake_sleep = clock.sleep

        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            await fake_sleep(seconds)

        clock.sleep = sleep  # type: ignore[method-assign]  # record the delays the supervisor asks for
        runs = 0
        healthy = asyncio.Event()
        done = asyncio.Event()

        async def loop() -> None:
            nonlocal runs
            runs += 1
            if runs == 4:  # a long healthy run before this failure
                healthy.set()
                await clock.sleep(120)
            if runs == 6:
                done.set()
                await asyncio.Event().wait()
            raise RuntimeError("flaky")

        sup = Supervisor(restart_delay=0.5, max_delay=1.5, max_failures=10, healthy_after=60, clock=clock)
        sup.start("flaky", loop)
        while not done.is_set():
            await clock.advance(0.5)
        restarts = int(sup.statistics()["flaky"]["restarts"])  # type: ignore[call-overload]
        await sup.aclose()
        return [d for d in slept if d != 120], restarts

    slept, restarts = run(scenario())
    assert slept == [0.5, 1.0, 1.5, 0.5, 1.0] and restarts == 5


def test_a_flush_loop_backs_off_while_the_store_refuses_and_flushes_once_more_at_close(
        caplog: pytest.LogCaptureFixture) -> None:
    from lambdad.clock import SYSTEM
    from lambdad.store.errors import StoreError
    from lambdad.supervisor import flush_periodically

    sleeps: list[float] = []
    outcomes = [StoreError("locked"), StoreError("locked"), StoreError("locked"), None, StoreError("locked"), None]
    flushed: list[bool] = []

    class Recording:
        time, monotonic, call_later = SYSTEM.time, SYSTEM.monotonic, SYSTEM.call_later

        async def sleep(self, seconds: float) -> None:
            sleeps.append(seconds)
            if len(sleeps) > len(outcomes):
                await asyncio.Event().wait()  # parked: the test cancels the loop here
            await asyncio.sleep(0)

    def flush() -> None:
        outcome = outcomes[len(flushed)] if len(flushed) < len(outcomes) else None
        flushed.append(outcome is None)
        if outcome is not None:
            raise outcome

    async def scenario() -> None:
        task = asyncio.ensure_future(flush_periodically(flush, 1.0, max_delay=3.0, what="figures",
                                                        clock=Recording()))  # type: ignore[arg-type]
        while len(sleeps) <= len(outcomes):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING, logger="lambdad.supervisor"):
        run(scenario())
    assert sleeps == [1.0, 2.0, 3.0, 3.0, 1.0, 2.0, 1.0]  # doubling up to the cap, back to the interval
    assert len(flushed) == len(outcomes) + 1 and flushed[-1]  # one more flush on the way out
    assert [r.getMessage() for r in caplog.records] == ["figures not written yet: locked"] * 2  # once an outage
