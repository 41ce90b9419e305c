"""Tags on Lambda resources: TagResource, UntagResource, ListTags, and `Tags` at create.

Functions are taggable now; other resource kinds (event source mappings, code signing configs,
capacity providers) plug in with `Tagging.register(kind, target)` when they exist. Tags belong to
the function, never to one of its versions or aliases, as on AWS.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from lambdad.control.names import function_arn, validation_error
from lambdad.control.validation import MAX_TAGS, TOO_MANY_TAGS, check_tags
from lambdad.errors import InvalidParameterValueException, ResourceNotFoundException

if TYPE_CHECKING:
    from lambdad.control.functions import FunctionRecord, FunctionRegistry


RESOURCE_PATTERN = (
    r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
    r"code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)"
)
_RESOURCE_RE = re.compile(RESOURCE_PATTERN)
_NOT_FOUND = {
    "event-source-mapping": "Event source mapping not found: {arn}",
    "capacity-provider": "Capacity provider not found: {arn}",
    "code-signing-config": "Code signing config not found: {arn}",
}


class TagTarget(Protocol):
    """Where one kind of resource keeps its tags. `resource` is the ARN part after the kind."""

    def get_tags(self, account: str, resource: str, arn: str) -> dict[str, str]: ...

    def set_tags(self, account: str, resource: str, arn: str, tags: dict[str, str]) -> None: ...


class FunctionTags:
    def __init__(self, registry: FunctionRegistry) -> None:
        self.registry = registry

    def _record(self, account: str, resource: str, arn: str) -> FunctionRecord:
        name, _, qualifier = resource.partition(":")
        if qualifier:
            raise InvalidParameterValueException(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.")
        region = arn.split(":")[3]  # the ARN's (validated by Tagging)
        rec = self.registry.find(account, region, name)
        if rec is None:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(region, account, name)}")
        return rec

    def get_tags(self, account: str, resource: str, arn: str) -> dict[str, str]:
        return dict(self._record(account, resource, arn).tags)

    def set_tags(self, account: str, resource: str, arn: str, tags: dict[str, str]) -> None:
        rec = self._record(account, resource, arn)
        rec.tags = tags
        with self.registry.store.transaction():
            self.registry.save_meta(rec)
            # Tagging moves the function's RevisionId on AWS (environments are unaffected).
            self.registry.touch_revision(rec.latest)


class Tagging:
    def __init__(self, registry: FunctionRegistry) -> None:
        self.targets: dict[str, TagTarget] = {"function": FunctionTags(registry)}

    def register(self, kind: str, target: TagTarget) -> None:
        self.targets[kind] = target

    def _parse(self, arn: str) -> tuple[TagTarget, str, str]:
        if not isinstance(arn, str) or not _RESOURCE_RE.fullmatch(arn):
            raise validation_error([f"Value '{arn}' at 'resource' failed to satisfy constraint: Member must "
                                    f"satisfy regular expression pattern: {RESOURCE_PATTERN}"])
        parts = arn.split(":", 6)
        account, kind, resource = parts[4], parts[5], parts[6]
        target = self.targets.get(kind)
        if target is None:
            raise ResourceNotFoundException(
                _NOT_FOUND.get(kind, "The resource you requested does not exist.").format(arn=arn))
        return target, account, resource

    def list_tags(self, arn: str) -> dict[str, str]:
        target, account, resource = self._parse(arn)
        return target.get_tags(account, resource, arn)

    def tag(self, arn: str, tags: Any) -> None:
        target, account, resource = self._parse(arn)
        current = target.get_tags(account, resource, arn)
        if not tags:
            raise InvalidParameterValueException("An error occurred and the request cannot be processed.")
        current.update(check_tags(tags))
        if len(current) > MAX_TAGS:
            raise InvalidParameterValueException(TOO_MANY_TAGS)
        target.set_tags(account, resource, arn, current)

    def untag(self, arn: str, keys: list[str] | None) -> None:
        target, account, resource = self._parse(arn)
        current = target.get_tags(account, resource, arn)
        if not keys:
            raise validation_error(["Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"])
        for key in keys:
            current.pop(key, None)
        target.set_tags(account, resource, arn, current)
