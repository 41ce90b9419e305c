"""Account and reserved concurrency: who may start one more execution right now."""

from __future__ import annotations

from dataclasses import dataclass

from lambdad.errors import TooManyRequestsException

MIN_UNRESERVED = 100


@dataclass(slots=True)
class Lease:
    key: tuple[str, str]
    reserved: bool
    limiter: ConcurrencyLimiter
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limiter._release(self)


class ConcurrencyLimiter:
    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self.reserved: dict[tuple[str, str], int] = {}
        self.in_flight: dict[tuple[str, str], int] = {}
        self.unreserved_in_flight = 0

    @property
    def reserved_total(self) -> int:
        return sum(self.reserved.values())

    @property
    def unreserved_limit(self) -> int:
        return self.account_limit - self.reserved_total

    def set_reserved(self, key: tuple[str, str], value: int | None) -> None:
        if value is None:
            self.reserved.pop(key, None)
        else:
            self.reserved[key] = value

    def acquire(self, key: tuple[str, str]) -> Lease:
        reserved = self.reserved.get(key)
        current = self.in_flight.get(key, 0)
        if reserved is not None:
            if current >= reserved:
                raise TooManyRequestsException(
                    "Rate Exceeded.", Reason="ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self.unreserved_in_flight >= self.unreserved_limit:
            raise TooManyRequestsException("Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")
        else:
            self.unreserved_in_flight += 1
        self.in_flight[key] = current + 1
        return Lease(key, reserved is not None, self)

    def _release(self, lease: Lease) -> None:
        left = self.in_flight.get(lease.key, 1) - 1
        if left:
            self.in_flight[lease.key] = left
        else:
            self.in_flight.pop(lease.key, None)
        if not lease.reserved:
            self.unreserved_in_flight -= 1
