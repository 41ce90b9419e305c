"""Input validation against botocore's shapes, shared by the JSON codecs (rest-json, AWS JSON) and the query one.

Every handler may then trust what the model promises: a member the model types as a string is a
`str`, an integer an `int` in range, a structure a `dict`, and a required member is present at every
level (not only at the top). A request that breaks the model is refused before any handler runs,
the way AWS's front end refuses it:

- a JSON value of the wrong type cannot be deserialized at all. AWS JSON-protocol services answer
  `SerializationException` with the deserializer's text ("NUMBER_VALUE can not be converted to a
  String", "Start of list found where not expected"); Lambda's rest-json front end answers
  `InvalidRequestContentException` (`TypeMismatch` carries both, each codec picks its shape);
- a missing required member is a validation error in AWS's wording, one per member, at AWS's path
  (lowerCamel members, list items as `name.1.member`): "Value null at 'rulePriorities.1.member.ruleArn'
  failed to satisfy constraint: Member must not be null". `validation_message` builds the sentence;
- a present member outside the model's length, pattern, enum or range is a validation clause in
  AWS's wording (`constraint_errors`); a list or map of scalars fails as one clause at the collection
  ("Member must satisfy constraint: [...]"), as AWS's recordings show.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape

from lambdad.errors import LambdadError

_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# How the AWS JSON deserializer names a target type in "<token> can not be converted to <type>".
_SCALARS = ("string", "integer", "long", "float", "double")
_TARGET = {"string": "a String", "integer": "an Integer", "long": "a Long", "boolean": "a Boolean",
           "float": "a Float", "double": "a Double", "blob": "a ByteBuffer", "timestamp": "a Date"}


class TypeMismatch(LambdadError):
    """A JSON value of a type its shape cannot take. `message` is the AWS JSON-protocol text; `path`
    and `type_name` let rest-json word it as Lambda does."""

    def __init__(self, message: str, path: str, type_name: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.type_name = type_name


def member_path(parent: str, name: str) -> str:
    name = name[:1].lower() + name[1:]
    return f"{parent}.{name}" if parent else name


def validation_message(missing: list[str], other: list[str] | None = None) -> str:
    """AWS's sentence for absent required members (paths) and other failed constraints (clauses)."""
    clauses = [f"Value null at '{path}' failed to satisfy constraint: Member must not be null" for path in missing]
    clauses += other or []
    n = len(clauses)
    return f"{n} validation {'error' if n == 1 else 'errors'} detected: " + "; ".join(clauses)


def constraint_errors(shape: Shape, value: Any, path: str = "", unchecked: frozenset[str] = frozenset()
                      ) -> list[str]:
    """The model's min/max (string and list length, number range), pattern and enum of every member
    of a decoded value, as AWS's validation clauses, in member order. `unchecked` names shapes whose
    constraints the service checks itself, in its own words (Lambda's `Runtime`: an unknown runtime is
    an InvalidParameterValueException, not a validation error)."""
    errors: list[str] = []
    t = shape.type_name
    if shape.name in unchecked:
        return errors
    if t == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                errors += constraint_errors(member, value[name], member_path(path, name), unchecked)
        return errors
    if t == "list" and isinstance(value, list):
        errors += _length_errors(shape, value, path)
        member = shape.member
        if member.type_name == "string":
            # A list of constrained strings fails as one clause at the list, naming the member's
            # constraints: "Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must
            # satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]".
            if any(constraint_errors(member, item, path, unchecked) for item in value):
                errors.append(f"Value '{_listing(value)}' at '{path}' failed to satisfy constraint: Member must "
                              f"satisfy constraint: [{', '.join(_describe(member))}]")
            return errors
        for i, item in enumerate(value, 1):
            errors += constraint_errors(member, item, f"{path}.{i}.member", unchecked)
    elif t == "map" and isinstance(value, dict):
        errors += _length_errors(shape, value, path)
        if shape.value.type_name in _SCALARS:  # as a list of strings: one clause at the map
            if any(constraint_errors(shape.value, item, path, unchecked) for item in value.values()):
                shown = {k: _number(shape.value, v) for k, v in value.items()}
                errors.append(f"Value '{_listing(shown)}' at '{path}' failed to satisfy constraint: Map value "
                              f"must satisfy constraint: [{', '.join(_describe(shape.value))}]")
            return errors
        for key, item in value.items():
            errors += constraint_errors(shape.value, item, f"{path}.{key}", unchecked)
    elif t == "string" and isinstance(value, str):
        errors += _length_errors(shape, value, path)
        pattern = _pattern(shape.metadata.get("pattern"))
        if pattern is not None and pattern.match(value) is None:
            errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy "
                          f"regular expression pattern: {shape.metadata['pattern']}")
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy "
                          f"enum value set: [{', '.join(enum)}]")
    elif t in (*_INT_RANGES, "float", "double") and isinstance(value, int | float) and not isinstance(value, bool):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value "
                          f"greater than or equal to {low}")
        if high is not None and value > high:
            errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value "
                          f"less than or equal to {high}")
    return errors


def _describe(shape: Shape) -> list[str]:
    """A scalar shape's constraints as AWS lists them inside "Member must satisfy constraint: [...]"."""
    meta = shape.metadata
    out = []
    if shape.type_name != "string":
        if "max" in meta:
            out.append(f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta:
            out.append(f"Member must have value greater than or equal to {meta['min']}")
        return [*out, "Member must not be null"]
    if "max" in meta:
        out.append(f"Member must have length less than or equal to {meta['max']}")
    if "min" in meta:
        out.append(f"Member must have length greater than or equal to {meta['min']}")
    if "pattern" in meta:
        out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if meta.get("enum"):
        out.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    return [*out, "Member must not be null"]


def _number(shape: Shape, value: Any) -> Any:
    # A float member prints as Java's Double does (2 -> 2.0).
    return float(value) if shape.type_name in ("float", "double") and isinstance(value, int) else value


def _length_errors(shape: Shape, value: Any, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    shown = value if isinstance(value, str) else _listing(value)
    if low is not None and len(value) < low:
        return [f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length "
                f"greater than or equal to {low}"]
    if high is not None and len(value) > high:
        return [f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length "
                f"less than or equal to {high}"]
    return []


def _listing(value: Any) -> str:
    # AWS prints a collection the way Java's toString does: [a, b] and {k=v}.
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return "[" + ", ".join(str(v) for v in value) + "]"


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _pattern(source: str | None) -> re.Pattern[str] | None:
    """The model's (Java) regular expression compiled once, matched against the whole value as Java's
    `matches` does. A pattern Python's `re` cannot read is not checked (the handler still is)."""
    if source is None:
        return None
    if source not in _PATTERNS:
        try:
            _PATTERNS[source] = re.compile(f"(?:{source})\\Z", re.DOTALL)
        except re.error:
            _PATTERNS[source] = None
    return _PATTERNS[source]


def _token(value: Any) -> str:
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    return "STRING_VALUE"


def _mismatch(shape: Shape, value: Any, path: str) -> TypeMismatch:
    t = shape.type_name
    if isinstance(value, list):
        text = "Start of list found where not expected"
    elif isinstance(value, dict):
        text = "Start of structure or map found where not expected."
    elif t == "list":
        text = "Expected list or null"
    elif t == "map":
        text = "Expected map or null"
    elif t == "structure":
        text = "Expected null"
    else:
        text = f"{_token(value)} can not be converted to {_TARGET.get(t, 'a ' + t.capitalize())}"
    return TypeMismatch(text, path or shape.name, t)


_WIRE_NAMES: dict[int, tuple[Shape, dict[str, str]]] = {}


def wire_names(shape: Shape) -> dict[str, str]:
    """A structure's JSON names (a member's `locationName`, as rest-json models such as apigatewayv2
    spell `name` for `Name`) -> its member names; only the members whose names differ."""
    found = _WIRE_NAMES.get(id(shape))
    if found is None or found[0] is not shape:
        names = {m.serialization["name"]: n for n, m in shape.members.items()
                 if "name" in m.serialization and "location" not in m.serialization and m.serialization["name"] != n}
        found = _WIRE_NAMES[id(shape)] = (shape, names)
    return found[1]


def decode_json(shape: Shape, value: Any, path: str = "", missing: list[str] | None = None, *,
                located: bool = False) -> Any:
    """A JSON value checked against `shape` and converted (blobs from base64). Raises TypeMismatch;
    appends the path of every absent required member to `missing` (when given). `located`: members
    are named on the wire by their `locationName` where the model gives one (rest-json)."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise _mismatch(shape, value, path)
        out: dict[str, Any] = {}
        renames: dict[str, str] = wire_names(shape) if located else {}
        for wire_key, item in value.items():
            if item is None:  # an explicit null is the same as leaving the member out
                continue
            key: str = renames.get(wire_key) or wire_key
            member = shape.members.get(key)
            # Members the model does not know are ignored by AWS; kept as they came (handlers ignore them).
            out[key] = (decode_json(member, item, member_path(path, key), missing, located=located)
                        if member is not None else item)
        if missing is not None:
            missing.extend(member_path(path, name) for name in shape.required_members if name not in out)
        return out
    if t == "list":
        if not isinstance(value, list):
            raise _mismatch(shape, value, path)
        return [decode_json(shape.member, item, f"{path}.{i}.member", missing, located=located)
                for i, item in enumerate(value, 1) if item is not None]
    if t == "map":
        if not isinstance(value, dict):
            raise _mismatch(shape, value, path)
        return {k: decode_json(shape.value, item, f"{path}.{k}", missing, located=located)
                for k, item in value.items() if item is not None}
    if t == "string":
        if not isinstance(value, str):
            raise _mismatch(shape, value, path)
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(shape, value, path)
        return value
    if t in _INT_RANGES:
        low, high = _INT_RANGES[t]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _mismatch(shape, value, path)
        return value
    if t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(shape, value, path)
        return value
    if t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _mismatch(shape, value, path)
        return value
    if t == "blob":
        if not isinstance(value, str):
            raise _mismatch(shape, value, path)
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise TypeMismatch("Base64 encoded value is not valid", path or shape.name, t) from None
    return value


def missing_in_query(shape: Shape, value: dict[str, Any], also_required: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Absent required members below the top level of a decoded query-protocol structure (the codec
    answers the top level in each service's own words), at AWS's validation paths. `also_required`
    names members (by structure shape) that AWS requires although botocore's model does not say so."""
    missing: list[str] = []
    _walk_required(shape, value, "", missing, also_required, top=True)
    return missing


def _walk_required(shape: Shape, value: Any, path: str, missing: list[str],
                   also_required: Mapping[str, tuple[str, ...]], *, top: bool = False) -> None:
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        if not top:
            for name in (*shape.required_members, *also_required.get(shape.name, ())):
                if name not in value:
                    missing.append(member_path(path, name))
        for name, member in shape.members.items():
            if name in value:
                _walk_required(member, value[name], member_path(path, name), missing, also_required)
    elif t == "list" and isinstance(value, list):
        for i, item in enumerate(value, 1):
            _walk_required(shape.member, item, f"{path}.{i}.member", missing, also_required)
    elif t == "map" and isinstance(value, dict):
        for key, item in value.items():
            _walk_required(shape.value, item, f"{path}.{key}", missing, also_required)
