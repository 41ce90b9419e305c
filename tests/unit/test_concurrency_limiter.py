"""ConcurrencyLimiter: the account's budget, reserved concurrency, the unreserved pool that is left,
provisioned concurrency carved out of one or the other, and the throttle's Reason."""

from __future__ import annotations

import pytest

from lambdad.errors import TooManyRequestsException
from lambdad.invoke.concurrency import ConcurrencyLimiter, Lease

A, B, C = ("000000000000", "us-east-1", "a"), ("000000000000", "us-east-1", "b"), ("000000000000", "us-east-1", "c")
SCOPE = ("000000000000", "us-east-1")
UNRESERVED = "ConcurrentInvocationLimitExceeded"
RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"


def throttled(limiter: ConcurrencyLimiter, key: tuple[str, str, str]) -> str:
    """The Reason of the throttle acquiring `key` now (fails if it is admitted)."""
    with pytest.raises(TooManyRequestsException) as info:
        limiter.acquire(key)
    assert info.value.status == 429 and info.value.message == "Rate Exceeded."
    return str(info.value.extra["Reason"])


def take(limiter: ConcurrencyLimiter, key: tuple[str, str, str], n: int) -> list[Lease]:
    return [limiter.acquire(key) for _ in range(n)]


def test_the_account_limit_is_shared_by_unreserved_functions() -> None:
    limiter = ConcurrencyLimiter(3)
    leases = take(limiter, A, 2) + take(limiter, B, 1)
    assert throttled(limiter, A) == UNRESERVED
    assert throttled(limiter, C) == UNRESERVED
    leases[0].release()
    take(limiter, C, 1)
    assert limiter.in_flight == {A: 1, B: 1, C: 1}


def test_a_lease_released_twice_frees_one_slot() -> None:
    limiter = ConcurrencyLimiter(2)
    first, _ = take(limiter, A, 2)
    first.release()
    first.release()
    take(limiter, A, 1)
    assert throttled(limiter, A) == UNRESERVED


def test_reserved_concurrency_is_the_functions_ceiling_and_its_own() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved(A, 2)
    take(limiter, A, 2)
    assert throttled(limiter, A) == RESERVED
    # The reserved function's invocations do not use the unreserved pool: 8 are left for others.
    take(limiter, B, 8)
    assert throttled(limiter, B) == UNRESERVED
    assert limiter.unreserved_in_flight(SCOPE) == 8
    assert limiter.running(SCOPE) == 10  # the account's ConcurrentExecutions counts reserved ones too
    assert limiter.running(("000000000000", "us-west-2")) == 0


def test_reserved_zero_stops_every_invocation() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved(A, 0)
    assert throttled(limiter, A) == RESERVED
    limiter.set_reserved(A, None)  # deleting the reservation returns it to the unreserved pool
    take(limiter, A, 10)
    assert throttled(limiter, A) == UNRESERVED


def test_the_unreserved_pool_is_what_reservations_leave() -> None:
    limiter = ConcurrencyLimiter(1000)
    limiter.set_reserved(A, 600)
    limiter.set_reserved(B, 300)
    assert limiter.reserved_total(SCOPE) == 900 and limiter.unreserved_limit(SCOPE) == 100
    take(limiter, C, 100)
    assert throttled(limiter, C) == UNRESERVED
    limiter.set_reserved(B, 200)  # lowering a reservation gives the pool back at once
    take(limiter, C, 100)
    assert throttled(limiter, C) == UNRESERVED


def test_provisioned_concurrency_of_an_unreserved_function_comes_out_of_the_unreserved_pool() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.set_provisioned(A, 4)
    assert limiter.unreserved_limit(SCOPE) == 6
    take(limiter, B, 6)
    assert throttled(limiter, B) == UNRESERVED
    limiter.set_provisioned(A, 0)
    assert limiter.unreserved_limit(SCOPE) == 10 and A not in limiter.provisioned


def test_provisioned_concurrency_of_a_reserved_function_comes_out_of_its_reservation() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved(A, 5)
    limiter.set_provisioned(A, 3)
    assert limiter.unreserved_limit(SCOPE) == 5, "carved out of the reservation, not the pool too"
    take(limiter, A, 2)  # on-demand invocations get the reservation's rest
    assert throttled(limiter, A) == RESERVED
    take(limiter, B, 5)
    assert throttled(limiter, B) == UNRESERVED


def test_each_account_and_region_has_its_own_pool() -> None:
    """AWS counts concurrency per account per region: a busy region throttles nothing in another."""
    limiter = ConcurrencyLimiter(2)
    west, other = ("000000000000", "us-west-2", "a"), ("111111111111", "us-east-1", "a")
    take(limiter, A, 2)
    assert throttled(limiter, B) == UNRESERVED
    take(limiter, west, 2)
    take(limiter, other, 2)
    assert throttled(limiter, west) == UNRESERVED
    limiter.set_reserved(("000000000000", "us-west-2", "b"), 1)
    assert limiter.unreserved_limit(("000000000000", "us-west-2")) == 1 and limiter.unreserved_limit(SCOPE) == 2
