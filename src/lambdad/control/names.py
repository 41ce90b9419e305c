"""Function names, partial and full ARNs, qualifiers: parsing and AWS's validation messages."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lambdad.errors import InvalidParameterValueException, ResourceNotFoundException, ValidationException

FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
_QUALIFIER_RE = re.compile(QUALIFIER_PATTERN)
# The same grammar with the parts named, to take a matched reference apart.
_PARTS_RE = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?(?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(?P<account>\d{12}:)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)


def validation_error(errors: list[str]) -> ValidationException:
    n = len(errors)
    noun = "error" if n == 1 else "errors"
    return ValidationException(f"{n} validation {noun} detected: " + "; ".join(errors))


@dataclass(frozen=True, slots=True)
class FunctionRef:
    account: str
    name: str
    qualifier: str | None
    region: str = ""


def parse_function_ref(raw: str, qualifier: str | None, account: str, field: str = "functionName",
                       max_name: int = 170, *, region: str) -> FunctionRef:
    """Accept `name`, `name:qualifier`, `account:function:name[:q]` or a full ARN.

    Checks run in AWS's order: the qualifier's constraints, the name's length (plain names only),
    the name's pattern; then a qualifier that contradicts the one in the name, then the region.
    The parse is memoized: the authorization hook and the handler both need the reference of one
    request (Invoke's hot path), and the second one is then a lookup. The reference is in `region`
    (the request's): an ARN of another region is refused as AWS does.
    """
    ref, arn_region = _parse(raw, qualifier, account, field, max_name, region)
    if arn_region and arn_region != region:
        raise ResourceNotFoundException(
            f"Functions from '{arn_region}' are not reachable in this region ('{region}')")
    return ref


def ref_of_arn(arn: str) -> FunctionRef:
    """The function a full function ARN (maybe qualified) names, in the ARN's region; no validation
    (for ARNs this server wrote: triggers, mappings, URLs)."""
    parts = arn.split(":")
    return FunctionRef(parts[4], parts[6], parts[7] if len(parts) > 7 else None, parts[3])


@functools.lru_cache(maxsize=4096)
def _parse(raw: str, qualifier: str | None, account: str, field: str, max_name: int,
           region: str) -> tuple[FunctionRef, str]:
    """(the reference, the region its ARN names or ""); raises the validation errors (never cached)."""
    errors = []
    if qualifier is not None:
        if len(qualifier) > 128:
            errors.append(f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint: "
                          "Member must have length less than or equal to 128")
        elif not _QUALIFIER_RE.fullmatch(qualifier):
            errors.append(f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint: "
                          f"Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}")
    m = _PARTS_RE.fullmatch(raw)
    if len(raw) > max_name and not raw.startswith("arn:"):
        errors.append(f"Value '{raw}' at '{field}' failed to satisfy constraint: "
                      f"Member must have length less than or equal to {max_name}")
    elif m is None:
        errors.append(f"Value '{raw}' at '{field}' failed to satisfy constraint: "
                      f"Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}")
    if errors or m is None:
        raise validation_error(errors)
    derived = m.group("qualifier")
    if derived is not None and qualifier is not None and derived != qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier.")
    ref = FunctionRef((m.group("account") or "").rstrip(":") or account, m.group("name"),
                      derived if derived is not None else qualifier, region)
    return ref, (m.group("region") or "").rstrip(":")


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn
