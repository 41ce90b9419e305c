"""Reserved concurrency of functions (PutFunctionConcurrency): stored with the function, enforced
by the ConcurrencyLimiter."""

from __future__ import annotations

from lambdad.control.functions import FunctionRegistry
from lambdad.errors import InvalidParameterValueException
from lambdad.invoke.concurrency import MIN_UNRESERVED, ConcurrencyLimiter
from lambdad.invoke.provisioned import ProvisionedConcurrency


class Reservations:
    def __init__(self, registry: FunctionRegistry, limiter: ConcurrencyLimiter,
                 provisioned: ProvisionedConcurrency) -> None:
        self.registry = registry
        self.limiter = limiter
        self.provisioned = provisioned
        for rec in registry.all_records():
            if rec.reserved_concurrency is not None:
                limiter.set_reserved((rec.account, rec.region, rec.name), rec.reserved_concurrency)
        registry.add_listener(self._on_function_change)

    def get(self, account: str, region: str, name: str) -> int | None:
        return self.registry.get_record(account, region, name).reserved_concurrency

    def set(self, account: str, region: str, name: str, value: int | None) -> None:
        rec = self.registry.get_record(account, region, name)
        if value is not None:
            if value < 0:
                raise InvalidParameterValueException(
                    f"1 validation error detected: Value '{value}' at 'reservedConcurrentExecutions' failed to "
                    "satisfy constraint: Member must have value greater than or equal to 0")
            self.provisioned.check_reserved(account, region, name, value)
            others = self.limiter.reserved_total((account, region)) - self.limiter.reserved.get(
                (account, region, name), 0)
            if self.limiter.account_limit - others - value < MIN_UNRESERVED:
                raise InvalidParameterValueException(
                    f"Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].")
        rec.reserved_concurrency = value
        self.registry.save_meta(rec)
        self.limiter.set_reserved((account, region, name), value)

    def _on_function_change(self, account: str, region: str, name: str, version: str | None) -> None:
        if version is None and self.registry.find(account, region, name) is None:  # the function was deleted
            self.limiter.set_reserved((account, region, name), None)
