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


#: A function's key: (account, region, name). AWS counts concurrency per account per region.
Key = tuple[str, str, str]
Scope = tuple[str, str]  # (account, region)


@dataclass(slots=True)
class _Pool:
    """One account's unreserved pool in one region, and all its running executions (reserved ones too)."""
    limit: int
    in_flight: int = 0
    running: int = 0


@dataclass(slots=True)
class Lease:
    key: Key
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
        self.reserved: dict[Key, int] = {}
        self.provisioned: dict[Key, int] = {}
        self.in_flight: dict[Key, int] = {}
        self._pools: dict[Scope, _Pool] = {}

    def _pool(self, scope: Scope) -> _Pool:
        pool = self._pools.get(scope)
        if pool is None:
            pool = self._pools[scope] = _Pool(self.account_limit)
        return pool

    def reserved_total(self, scope: Scope) -> int:
        return sum(n for key, n in self.reserved.items() if key[:2] == scope)

    def unreserved_limit(self, scope: Scope) -> int:
        return self._pool(scope).limit

    def unreserved_in_flight(self, scope: Scope) -> int:
        return self._pool(scope).in_flight

    def running(self, scope: Scope) -> int:
        """Every execution of the account in the region holding a lease (CloudWatch's ConcurrentExecutions)."""
        return self._pool(scope).running

    def _recompute(self, scope: Scope) -> None:
        # Kept as a plain attribute: acquire() reads it on every unreserved invocation.
        self._pool(scope).limit = self.account_limit - self.reserved_total(scope) - sum(
            n for key, n in self.provisioned.items() if key[:2] == scope and key not in self.reserved)

    def set_reserved(self, key: Key, value: int | None) -> None:
        if value is None:
            self.reserved.pop(key, None)
        else:
            self.reserved[key] = value
        self._recompute(key[:2])

    def set_provisioned(self, key: Key, total: int) -> None:
        """The function's provisioned concurrency across its versions and aliases."""
        if total:
            self.provisioned[key] = total
        else:
            self.provisioned.pop(key, None)
        self._recompute(key[:2])

    def acquire(self, key: Key) -> Lease:
        reserved = self.reserved.get(key)
        current = self.in_flight.get(key, 0)
        pool = self._pool(key[:2])
        if reserved is not None:
            if current >= reserved - self.provisioned.get(key, 0):
                raise TooManyRequestsException(
                    "Rate Exceeded.", Reason="ReservedFunctionConcurrentInvocationLimitExceeded")
        else:
            if pool.in_flight >= pool.limit:
                raise TooManyRequestsException("Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")
            pool.in_flight += 1
        pool.running += 1
        self.in_flight[key] = current + 1
        return Lease(key, reserved is not None, self)

    def _release(self, lease: Lease) -> None:
        left = self.in_flight.get(lease.key, 1) - 1
        if left:
            self.in_flight[lease.key] = left
        else:
            self.in_flight.pop(lease.key, None)
        pool = self._pool(lease.key[:2])
        pool.running -= 1
        if not lease.reserved:
            pool.in_flight -= 1
