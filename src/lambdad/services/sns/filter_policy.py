"""SNS subscription filter policies: validation (with AWS's messages) and matching.

A policy is compiled once, when it is set, into alternatives (its `$or` branches multiplied out),
each a list of (key path, conditions); a message matches when every leaf of some alternative
matches. Values are gathered along a key path flattening arrays on the way, so
`{"Records": {"eventName": [...]}}` matches when any record's eventName does (the semantics
AWS shares with EventBridge). In the MessageAttributes scope paths have one element and the
values come from the message attributes (String, Number, String.Array; Binary is never matched).

Conditions: exact string/number/boolean/null, prefix, suffix, equals-ignore-case, anything-but
(values, or a prefix / equals-ignore-case), numeric (=, <, <=, >, >= and ranges), exists, cidr.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdad import safejson
from lambdad.errors import LambdadError

MAX_KEYS = 5
MAX_COMBINATIONS = 150
_OPERATORS = ("prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "cidr")
_NUMERIC_OPS = ("=", "<", "<=", ">", ">=")


class FilterPolicyError(LambdadError, ValueError):
    """The policy is invalid; the message is AWS's reason (the caller adds the prefix)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- validation -------------------------------------------------------------------------------------

def _check_numeric(args: Any) -> None:
    if not isinstance(args, list) or not args:
        raise FilterPolicyError("Invalid member in numeric match: ]")
    first = args[0]
    if not isinstance(first, str):
        raise FilterPolicyError(f"Invalid member in numeric match: {_show(first)}")
    if first not in _NUMERIC_OPS:
        raise FilterPolicyError(f"Unrecognized numeric range operator: {first}")
    if len(args) < 2 or not _is_number(args[1]):
        raise FilterPolicyError(f"Value of {'equals' if first == '=' else first} must be numeric")
    if len(args) == 2:
        return
    if first not in (">", ">="):
        raise FilterPolicyError("Too many elements in numeric expression")
    second = args[2]
    if not isinstance(second, str):
        raise FilterPolicyError(f"Bad value in numeric range: {_show(second)}")
    if second not in ("<", "<="):
        raise FilterPolicyError(f"Bad numeric range operator: {second}")
    if len(args) < 4 or not _is_number(args[3]):
        raise FilterPolicyError(f"Value of {second} must be numeric")
    if len(args) > 4:
        raise FilterPolicyError("Too many terms in numeric range expression")
    if not args[1] < args[3]:
        raise FilterPolicyError("Bottom must be less than top")


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _check_cidr(value: Any) -> None:
    if not isinstance(value, str):
        raise FilterPolicyError("cidr match pattern must be a string")
    if value.count("/") != 1:
        raise FilterPolicyError("Malformed CIDR, one '/' required")
    address, bits = value.split("/")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise FilterPolicyError(f"Nonstandard IP address: {address}") from None
    if not bits.isdigit():
        raise FilterPolicyError("Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise FilterPolicyError("Malformed CIDR, mask bits must be an integer") from None


def _check_condition(condition: Any) -> None:
    if condition is None or isinstance(condition, str | bool) or _is_number(condition):
        return
    if not isinstance(condition, dict):
        raise FilterPolicyError("Match value must be String, number, true, false, or null")
    if len(condition) != 1:
        raise FilterPolicyError("Only one key allowed in match expression")
    op, arg = next(iter(condition.items()))
    if op not in _OPERATORS:
        raise FilterPolicyError(f"Unrecognized match type {op}")
    if op in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(arg, str):
            raise FilterPolicyError(f"{op} match pattern must be a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise FilterPolicyError("exists match pattern must be either true or false.")
    elif op == "numeric":
        _check_numeric(arg)
    elif op == "cidr":
        _check_cidr(arg)
    elif op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1:
                raise FilterPolicyError("Only one key allowed in match expression")
            inner, value = next(iter(arg.items()))
            if inner not in ("prefix", "equals-ignore-case"):
                raise FilterPolicyError(f"Unsupported anything-but pattern: {inner}")
            if not isinstance(value, str):
                raise FilterPolicyError(f"{inner} match pattern must be a string")
        elif isinstance(arg, list):
            if not arg:
                raise FilterPolicyError("Empty arrays are not allowed")
            for item in arg:
                if not (isinstance(item, str) or _is_number(item)):
                    raise FilterPolicyError("Inside anything but list, start|null|boolean is not supported.")
        elif not (isinstance(arg, str) or _is_number(arg)):
            raise FilterPolicyError("Inside anything but list, start|null|boolean is not supported.")


def _check_object(policy: Mapping[str, Any]) -> None:
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or not all(isinstance(b, dict) for b in value):
                raise FilterPolicyError("Or relationship must have at least 2 members and each must be an object")
            for branch in value:
                _check_object(branch)
        elif isinstance(value, dict):
            _check_object(value)
        elif isinstance(value, list):
            if not value:
                raise FilterPolicyError("Empty arrays are not allowed")
            for condition in value:
                _check_condition(condition)
        else:
            raise FilterPolicyError(f'"{key}" must be an object or an array')


# -- compilation ------------------------------------------------------------------------------------

Leaf = tuple[tuple[str, ...], list[Any]]


def _expand(policy: Mapping[str, Any], prefix: tuple[str, ...]) -> list[list[Leaf]]:
    alternatives: list[list[Leaf]] = [[]]
    for key, value in policy.items():
        if key == "$or":
            options = [alt for branch in value for alt in _expand(branch, prefix)]
        elif isinstance(value, dict):
            options = _expand(value, (*prefix, key))
        else:
            options = [[((*prefix, key), value)]]
        alternatives = [current + option for current in alternatives for option in options]
    return alternatives


@dataclass(frozen=True, slots=True)
class FilterPolicy:
    text: str
    scope: str  # "MessageAttributes" or "MessageBody"
    alternatives: tuple[tuple[Leaf, ...], ...]

    def matches(self, attributes: Mapping[str, Mapping[str, Any]] | None, body: str) -> bool:
        if self.scope == "MessageBody":
            try:
                payload = safejson.loads(body)
            except ValueError:
                return False
            if not isinstance(payload, dict):
                return False
            lookup = lambda path: _collect(payload, path)  # noqa: E731
        else:
            lookup = lambda path: _attribute_values(attributes or {}, path[0])  # noqa: E731
        return any(all(_match_key(conditions, lookup(path)) for path, conditions in alternative)
                   for alternative in self.alternatives)


def compile_policy(text: str, scope: str = "MessageAttributes") -> FilterPolicy:
    """Parse and validate a policy (raises FilterPolicyError with AWS's reason)."""
    try:
        policy = safejson.loads(text)
    except ValueError as exc:
        raise FilterPolicyError(f"failed to parse JSON. {exc}") from None
    if not isinstance(policy, dict):
        raise FilterPolicyError("Filter policy must be a JSON object")
    _check_object(policy)
    alternatives = _expand(policy, ())
    if any(len(alt) > MAX_KEYS for alt in alternatives):
        raise FilterPolicyError(f"Filter policy can not have more than {MAX_KEYS} keys")
    combinations = sum(math.prod(len(conditions) for _, conditions in alt) for alt in alternatives)
    if combinations > MAX_COMBINATIONS:
        raise FilterPolicyError("Filter policy is too complex")
    if scope == "MessageAttributes" and any(len(path) > 1 for alt in alternatives for path, _ in alt):
        raise FilterPolicyError("Filter policy scope MessageAttributes does not support nested filter policy")
    return FilterPolicy(text, scope, tuple(tuple(alt) for alt in alternatives))


# -- matching ---------------------------------------------------------------------------------------

def _collect(payload: Any, path: tuple[str, ...]) -> list[Any] | None:
    """Values at `path`, flattening arrays on the way; None when the key is absent everywhere."""
    current = [payload]
    for key in path:
        found: list[Any] = []
        for item in _flatten(current):
            if isinstance(item, dict) and key in item:
                found.append(item[key])
        if not found:
            return None
        current = found
    return list(_flatten(current))


def _flatten(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(_flatten(value))
        else:
            out.append(value)
    return out


def _attribute_values(attributes: Mapping[str, Mapping[str, Any]], name: str) -> list[Any] | None:
    attribute = attributes.get(name)
    if attribute is None:
        return None
    data_type = attribute.get("DataType", "")
    value = attribute.get("StringValue")
    if data_type.startswith("Binary") or value is None:
        return []  # present (for exists) but never equal to anything
    if data_type.startswith("Number"):
        try:
            return [float(value)]
        except ValueError:
            return []
    if data_type == "String.Array":
        try:
            parsed = safejson.loads(value)
        except ValueError:
            return []
        return _flatten(parsed) if isinstance(parsed, list) else [parsed]
    return [value]


def _match_key(conditions: list[Any], values: list[Any] | None) -> bool:
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if (values is not None) == condition["exists"]:
                return True
        elif values is not None and any(_match_value(condition, value) for value in values):
            return True
    return False


def _equal(expected: Any, value: Any) -> bool:
    if expected is None or isinstance(expected, bool):
        return value is expected
    if _is_number(expected):
        return _is_number(value) and value == expected
    return isinstance(value, str) and value == expected


def _match_value(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return _equal(condition, value)
    op, arg = next(iter(condition.items()))
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == arg.lower()
    if op == "numeric":
        return _is_number(value) and _in_range(arg, value)
    if op == "cidr":
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    if op == "anything-but":
        if isinstance(arg, dict):
            inner, pattern = next(iter(arg.items()))
            if not isinstance(value, str):
                return True
            if inner == "prefix":
                return not value.startswith(pattern)
            return value.lower() != pattern.lower()
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_equal(item, value) for item in excluded)
    return False


def _in_range(args: list[Any], value: float) -> bool:
    for i in range(0, len(args), 2):
        op, bound = args[i], args[i + 1]
        ok = {"=": value == bound, "<": value < bound, "<=": value <= bound, ">": value > bound,
              ">=": value >= bound}[op]
        if not ok:
            return False
    return True
