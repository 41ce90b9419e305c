"""Account and reserved concurrency: who may start one more execution right now.

Provisioned concurrency is carved out of the same budget: a function's provisioned environments
come out of its reserved concurrency if it has one (its on-demand invocations get the rest), else
out of the account's unreserved pool. Invocations served by a provisioned environment take no
lease here: their capacity was set aside when the environments were provisioned.
"""

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
        self.provisioned: dict[tuple[str, str], int] = {}
        self.in_flight: dict[tuple[str, str], int] = {}
        self.unreserved_in_flight = 0
        self.unreserved_limit = account_limit

    @property
    def reserved_total(self) -> int:
        return sum(self.reserved.values())

    def _recompute(self) -> None:
        # Kept as a plain attribute: acquire() reads it on every unreserved invocation.
        self.unreserved_limit = self.account_limit - self.reserved_total - sum(
            n for key, n in self.provisioned.items() if key not in self.reserved)

    def set_reserved(self, key: tuple[str, str], value: int | None) -> None:
        if value is None:
            self.reserved.pop(key, None)
        else:
            self.reserved[key] = value
        self._recompute()

    def set_provisioned(self, key: tuple[str, str], total: int) -> None:
        """The function's provisioned concurrency across its versions and aliases."""
        if total:
            self.provisioned[key] = total
        else:
            self.provisioned.pop(key, None)
        self._recompute()

    def acquire(self, key: tuple[str, str]) -> Lease:
        reserved = self.reserved.get(key)
        current = self.in_flight.get(key, 0)
        if reserved is not None:
            if current >= reserved - self.provisioned.get(key, 0):
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
