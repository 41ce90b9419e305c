"""Function names, partial and full ARNs, qualifiers: parsing and AWS's validation messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdad.errors import InvalidParameterValueException, ValidationException

FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
_NAME_RE = re.compile(FUNCTION_NAME_PATTERN)
_QUALIFIER_RE = re.compile(QUALIFIER_PATTERN)
_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:(?P<region>[^:]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_\.]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?"
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


def parse_function_ref(raw: str, qualifier: str | None, account: str, field: str = "functionName",
                       max_name: int = 170) -> FunctionRef:
    """Accept `name`, `name:qualifier`, `account:function:name[:q]` or a full ARN."""
    errors = []
    if qualifier is not None:
        if len(qualifier) > 128:
            errors.append(f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint: "
                          "Member must have length less than or equal to 128")
        elif not _QUALIFIER_RE.fullmatch(qualifier):
            errors.append(f"Value '{qualifier}' at 'qualifier' failed to satisfy constraint: "
                          f"Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}")
    if len(raw) > max_name and not raw.startswith("arn:"):
        errors.append(f"Value '{raw}' at '{field}' failed to satisfy constraint: "
                      f"Member must have length less than or equal to {max_name}")
    elif not _NAME_RE.fullmatch(raw):
        errors.append(f"Value '{raw}' at '{field}' failed to satisfy constraint: "
                      f"Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}")
    if errors:
        raise validation_error(errors)

    derived: str | None = None
    if raw.startswith("arn:"):
        m = _ARN_RE.fullmatch(raw)
        if m is None:
            raise validation_error([f"Value '{raw}' at '{field}' failed to satisfy constraint: Member must "
                                    f"satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"])
        account = m.group("account")
        name = m.group("name")
        derived = m.group("qualifier")
    else:
        parts = raw.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:q]
            account, name = parts[0], parts[2]
            derived = parts[3] if len(parts) > 3 else None
        elif len(parts) >= 2 and parts[0] == "function":  # function:name[:q]
            name = parts[1]
            derived = parts[2] if len(parts) > 2 else None
        elif len(parts) == 2:
            name, derived = parts
        else:
            name = parts[0]
    if derived is not None and qualifier is not None and derived != qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier.")
    return FunctionRef(account, name, derived if derived is not None else qualifier)


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn
