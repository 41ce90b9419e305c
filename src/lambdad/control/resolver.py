"""Which version a function name, version or alias means: for reads, and for the invoke path."""

from __future__ import annotations

from lambdad.control.aliases import Aliases
from lambdad.control.functions import LATEST, FunctionRecord, FunctionRegistry, FunctionVersion
from lambdad.control.names import function_arn
from lambdad.control.versions import is_version, qualified_view
from lambdad.errors import ResourceNotFoundException


class Resolver:
    def __init__(self, registry: FunctionRegistry, aliases: Aliases) -> None:
        self.registry = registry
        self.aliases = aliases

    def resolve(self, account: str, region: str, name: str, qualifier: str | None) -> FunctionVersion:
        """For reads: the version a qualifier names, showing the ARN it was asked by (AWS shows
        `name:$LATEST` or the alias ARN as FunctionArn)."""
        rec = self.registry.get_record(account, region, name, qualifier)
        if qualifier is None:
            return rec.latest
        if qualifier == LATEST:
            return qualified_view(rec.latest, f"{rec.latest.arn}:{LATEST}")
        if is_version(qualifier):
            return self.registry.get_version(account, region, name, qualifier)
        alias = self.aliases.get(account, region, name, qualifier)
        if alias is None:
            raise self._not_found(account, region, name, qualifier)
        return qualified_view(rec.versions[alias.function_version], alias.arn)

    def for_invoke(self, account: str, region: str, name: str,
                   qualifier: str | None) -> tuple[FunctionVersion, str]:
        """The version to run (an alias picks one by its routing weights) and the ARN the function
        sees as invoked_function_arn. On the hot path: dictionary lookups and one random()."""
        rec = self.registry.find(account, region, name)
        if rec is None:
            raise self._not_found(account, region, name, qualifier or LATEST)
        latest = rec.versions[LATEST]
        if qualifier is None:
            return latest, latest.arn
        fv = rec.versions.get(qualifier)
        if fv is not None:
            return fv, f"{latest.arn}:{qualifier}"
        alias = self.aliases.get(account, region, name, qualifier)
        if alias is None:
            raise self._not_found(account, region, name, qualifier)
        return rec.versions[alias.pick()], alias.arn

    def qualifier_exists(self, rec: FunctionRecord, qualifier: str) -> bool:
        return qualifier in rec.versions or self.aliases.get(rec.account, rec.region, rec.name, qualifier) is not None

    @staticmethod
    def _not_found(account: str, region: str, name: str, qualifier: str | None) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Function not found: {function_arn(region, account, name, qualifier)}")
