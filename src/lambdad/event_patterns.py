"""EventBridge event patterns (also Lambda's FilterCriteria): validation with AWS's reasons, matching,
and an index of many patterns.

The language (AWS's "content filtering"): a pattern is a JSON object whose leaves are arrays of
conditions, OR'ed; the fields of an object are AND'ed; `$or` takes two or more objects. Conditions:

    "x", 5, true, null                  exact (numbers compare numerically; an IP literal as an address)
    {"prefix": "a"}                     {"prefix": {"equals-ignore-case": "a"}}
    {"suffix": "a"}                     {"suffix": {"equals-ignore-case": "a"}}
    {"equals-ignore-case": "a"}         {"wildcard": "a*b"} (`\\*` a literal star, `\\\\` a backslash)
    {"anything-but": "x" | 5 | [...] | {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": str | [str]}}
    {"numeric": [">", 0, "<=", 5]}      {"exists": true|false}        {"cidr": "10.0.0.0/24"}

Event values are gathered along a field's path; arrays match when any element does (arrays of
arrays are flattened). Fields under one array of objects must match within the same element
(AWS's "array consistency"): a pattern object is matched against each element in turn.

Compilation multiplies `$or` out into alternatives (each a tree of fields, as the AWS library does);
an event matches when one alternative does. Matching walks the pattern tree over the event, so it
costs O(event size x pattern size) at worst; `wildcard` is matched by finding its literal segments
in order (leftmost-first is exact for `*`-only globs), never by a backtracking regex.

`PatternIndex` keys each alternative by one field whose conditions are all exact values (a dict
look-up per event value); only alternatives without such a field are scanned.

This module imports nothing of lambdad but its errors: the event source mappings use it too.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lambdad.errors import LambdadError

#: Alternatives a pattern may multiply out to through `$or` (a cap of ours, so that nested `$or`s
#: cannot blow up memory; AWS refuses such patterns as too complex too).
MAX_ALTERNATIVES = 1024
#: Nesting of pattern objects (fields within fields) accepted.
MAX_DEPTH = 64
#: Pattern sources longer than this are refused before parsing (the engine serves more than
#: EventBridge's 4,096-character EventPattern: FilterCriteria patterns are up to 4,096 too).
MAX_SOURCE_CHARS = 64 * 1024

_FIVE_BILLION = 5e9
_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
# Field names AWS reserves inside `$or` (operators and the ones it keeps for later).
_RESERVED_IN_OR = frozenset({
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric",
    "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after",
    "date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "ip-address-in-range",
    "ip-address-not-in-range",
})


class InvalidEventPattern(LambdadError):
    """The pattern is invalid; `reason` is AWS's text (EventBridge prefixes "Event pattern is not valid.
    Reason: ")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _bad(reason: str) -> InvalidEventPattern:
    return InvalidEventPattern(reason)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    """How the AWS library shows a JSON token in a reason (the token's text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{"
    if isinstance(value, list):
        return "["
    return json.dumps(value)


# -- conditions -------------------------------------------------------------------------------------
# A value condition answers for one event leaf value (a str, number, bool or None).

ValueTest = Callable[[Any], bool]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not (_IPV4.fullmatch(text) or _IPV6.fullmatch(text)):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A `*` glob as its literal segments: value = seg0 + ... + segN, with anything between."""

    segments: tuple[str, ...]

    def matches(self, value: str) -> bool:
        segments = self.segments
        if len(segments) == 1:
            return value == segments[0]
        first, last = segments[0], segments[-1]
        if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
            return False
        position, end = len(first), len(value) - len(last)
        for segment in segments[1:-1]:
            found = value.find(segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True


def _wildcard(text: str) -> Wildcard:
    """Parse a wildcard value, with the AWS library's reasons (positions count bytes of `"text"`)."""
    data = ('"' + text + '"').encode()
    segments: list[bytearray] = [bytearray()]
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x2A:  # *
            if i + 1 < len(data) and data[i + 1] == 0x2A:
                raise _bad(f"Consecutive wildcard characters at pos {i}")
            segments.append(bytearray())
        elif byte == 0x5C:  # backslash
            if i + 1 < len(data) and data[i + 1] in (0x2A, 0x5C):
                segments[-1].append(data[i + 1])
                i += 1
            else:
                raise _bad(f"Invalid escape character at pos {i}")
        else:
            segments[-1].append(byte)
        i += 1
    decoded = [bytes(segment).decode("utf-8", "surrogatepass") for segment in segments]
    decoded[0] = decoded[0][1:]  # the quotes
    decoded[-1] = decoded[-1][:-1]
    return Wildcard(tuple(decoded))


def _cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    parts = text.split("/")
    if len(parts) != 2:
        raise _bad("Malformed CIDR, one '/' required")
    if not _JAVA_INT.fullmatch(parts[1]):
        raise _bad("Malformed CIDR, mask bits must be an integer")
    bits = int(parts[1])
    if bits < 0:
        raise _bad("Malformed CIDR, mask bits must not be negative")
    address = parts[0]
    if not (_IPV4.fullmatch(address) or _IPV6.fullmatch(address)):
        raise _bad(f"Nonstandard IP address: {address}")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise _bad(f"Invalid IP address: {address}") from None
    if ip.version == 4 and bits > 31:
        raise _bad("IPv4 mask bits must be < 32")
    if ip.version == 6 and bits > 127:
        raise _bad("IPv6 mask bits must be < 128")
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def _numeric(args: Any) -> ValueTest:
    if not isinstance(args, list):
        raise _bad("Value of numeric must be an array.")
    if not args or not isinstance(args[0], str):
        raise _bad(f"Invalid member in numeric match: {_text(args[0]) if args else ']'}")
    operator = args[0]
    if operator not in ("=", "<", "<=", ">", ">="):
        raise _bad(f"Unrecognized numeric range operator: {operator}")
    if len(args) < 2 or not _is_number(args[1]):
        raise _bad(f"Value of {'equals' if operator == '=' else operator} must be numeric")
    first = float(args[1])
    if operator in ("=", "<", "<="):
        if len(args) > 2:
            raise _bad("Too many elements in numeric expression")
        if operator == "=":
            return lambda v: _is_number(v) and v == first
        if operator == "<":
            return lambda v: _is_number(v) and v < first
        return lambda v: _is_number(v) and v <= first
    if len(args) == 2:
        if operator == ">":
            return lambda v: _is_number(v) and v > first
        return lambda v: _is_number(v) and v >= first
    second = args[2]
    if not isinstance(second, str):
        raise _bad(f"Bad value in numeric range: {_text(second)}")
    if second not in ("<", "<="):
        raise _bad(f"Bad numeric range operator: {second}")
    if len(args) < 4 or not _is_number(args[3]):
        raise _bad(f"Value of {second} must be numeric")
    if len(args) > 4:
        raise _bad("Too many terms in numeric range expression")
    top = float(args[3])
    if not first < top:
        raise _bad("Bottom must be less than top")
    low_open, high_open = operator == ">", second == "<"

    def in_range(v: Any) -> bool:
        if not _is_number(v):
            return False
        if v < first or (low_open and v == first):
            return False
        return not (v > top or (high_open and v == top))
    return in_range


def _exact_test(expected: Any) -> ValueTest:
    """Exact match for values the index cannot take by hashing (IP literals)."""
    address = _ip(expected) if isinstance(expected, str) else None
    if address is None:
        return lambda v: _token(v) == _token(expected)

    def same_address(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        if v == expected:
            return True
        other = _ip(v)
        return other is not None and other == address
    return same_address


def _strings(arg: Any, *, empty_ok: bool, kind: str) -> list[str]:
    """The string(s) of an anything-but set (one string or an array of them)."""
    values = arg if isinstance(arg, list) else [arg]
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            if kind == "equals-ignore-case":
                raise _bad("Inside anything-but/equals-ignore-case list, "
                           "number|start|null|boolean is not supported.")
            if kind == "wildcard":
                raise _bad("wildcard match pattern must be a string")
            raise _bad("prefix/suffix match pattern must be a string")
        if not value and not empty_ok:
            raise _bad("Null prefix/suffix not allowed")
        out.append(value)
    return out


def _anything_but(arg: Any) -> ValueTest:
    if isinstance(arg, dict):
        if not arg:
            raise _bad("Anything-But expression name not found")
        kind, inner = next(iter(arg.items()))
        if kind not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
            raise _bad(f"Unsupported anything-but pattern: {kind}")
        if not (isinstance(inner, list | str) or _is_number(inner)):
            raise _bad("Value of anything-but must be an array or single string/number value.")
        if len(arg) > 1:
            raise _bad("Too many elements in numeric expression")
        texts = _strings(inner, empty_ok=kind in ("equals-ignore-case", "wildcard"), kind=kind)
        # Values of another type than string are "anything but" any string: they match.
        if kind == "prefix":
            prefixes = tuple(texts)
            return lambda v: not (isinstance(v, str) and v.startswith(prefixes))
        if kind == "suffix":
            suffixes = tuple(texts)
            return lambda v: not (isinstance(v, str) and v.endswith(suffixes))
        if kind == "equals-ignore-case":
            lowered = frozenset(text.lower() for text in texts)
            return lambda v: not (isinstance(v, str) and v.lower() in lowered)
        globs = [_wildcard(text) for text in texts]
        return lambda v: not (isinstance(v, str) and any(glob.matches(v) for glob in globs))
    if isinstance(arg, list):
        has_number = has_string = False
        for item in arg:
            if isinstance(item, str):
                has_string = True
            elif _is_number(item):
                has_number = True
            else:
                raise _bad("Inside anything but list, start|null|boolean is not supported.")
        if has_number == has_string:
            raise _bad("Inside anything but list, either all values are number or string, "
                       "mixed type is not supported")
        excluded = frozenset(_token(item) for item in arg)
    elif isinstance(arg, str) or _is_number(arg):
        excluded = frozenset({_token(arg)})
    else:
        raise _bad("Value of anything-but must be an array or single string/number value.")
    return lambda v: _token(v) not in excluded


def _string_op(name: str, arg: Any) -> ValueTest:
    if name in ("prefix", "suffix") and isinstance(arg, dict):
        label = "Prefix" if name == "prefix" else "Suffix"
        if not arg:
            raise _bad(f"{label} expression name not found")
        inner, text = next(iter(arg.items()))
        if inner != "equals-ignore-case":
            raise _bad(f"Unsupported {name} pattern: {inner}")
        if not isinstance(text, str):
            raise _bad("equals-ignore-case match pattern must be a string")
        if len(arg) > 1:
            raise _bad("Only one key allowed in match expression")
        low = text.lower()
        if name == "prefix":
            return lambda v: isinstance(v, str) and v.lower().startswith(low)
        return lambda v: isinstance(v, str) and v.lower().endswith(low)
    if not isinstance(arg, str):
        raise _bad(f"{name} match pattern must be a string")
    if name == "prefix":
        return lambda v: isinstance(v, str) and v.startswith(arg)
    if name == "suffix":
        return lambda v: isinstance(v, str) and v.endswith(arg)
    if name == "equals-ignore-case":
        low = arg.lower()
        return lambda v: isinstance(v, str) and v.lower() == low
    if name == "wildcard":
        glob = _wildcard(arg)
        return lambda v: isinstance(v, str) and glob.matches(v)
    # exactly
    return _exact_test(arg)


def _token(value: Any) -> Hashable:
    """A hashable identity for exact comparison: numbers by value, never equal to booleans or strings."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value)) if not isinstance(value, int) or abs(value) < 2**53 else ("i", value)
    if value is None:
        return ("z",)
    if isinstance(value, str):
        return value
    return ("?", id(value))


@dataclass(slots=True)
class Leaf:
    """The conditions of one field (OR'ed): exact tokens hashed, the rest as tests."""

    exact: set[Hashable] = field(default_factory=set)
    tests: list[ValueTest] = field(default_factory=list)
    absent_ok: bool = False  # {"exists": false} among the conditions

    @property
    def exact_only(self) -> bool:
        """Only exact values: an event without one of them at this field cannot match (indexable)."""
        return bool(self.exact) and not self.tests and not self.absent_ok

    def matches(self, value: Any) -> bool:
        values = _leaf_values(value)
        if not values:
            return self.absent_ok
        exact, tests = self.exact, self.tests
        for item in values:
            if exact and _token(item) in exact:
                return True
            for test in tests:
                if test(item):
                    return True
        return False


_ABSENT: Any = object()


def _leaf_values(value: Any) -> list[Any]:
    """The leaf (non-object) values of a field: arrays flattened, objects are not leaves."""
    if value is _ABSENT or isinstance(value, dict):
        return []
    if not isinstance(value, list):
        return [value]
    out: list[Any] = []
    stack = [value]
    while stack:
        for item in stack.pop():
            if isinstance(item, list):
                stack.append(item)
            elif not isinstance(item, dict):
                out.append(item)
    return out


def _compile_leaf(conditions: list[Any]) -> Leaf:
    if not conditions:
        raise _bad("Empty arrays are not allowed")
    leaf = Leaf()
    for condition in conditions:
        if isinstance(condition, str):
            if _ip(condition) is not None:
                leaf.tests.append(_exact_test(condition))
            else:
                leaf.exact.add(condition)
        elif condition is None or isinstance(condition, bool) or _is_number(condition):
            if _is_number(condition) and not math.isfinite(condition):
                raise _bad("Match value must be String, number, true, false, or null")
            leaf.exact.add(_token(condition))
        elif isinstance(condition, dict):
            _compile_condition(condition, leaf)
        else:
            raise _bad("Match value must be String, number, true, false, or null")
    return leaf


def _compile_condition(condition: dict[str, Any], leaf: Leaf) -> None:
    if not condition:
        raise _bad("Match expression name not found")
    name, arg = next(iter(condition.items()))
    if name == "exists":
        if not isinstance(arg, bool):
            raise _bad("exists match pattern must be either true or false.")
        if len(condition) > 1:
            raise _bad("Only one key allowed in match expression")
        if arg:
            leaf.tests.append(lambda v: True)  # any leaf value is there
        else:
            leaf.absent_ok = True
        return
    if name == "numeric":
        test = _numeric(arg)
        if len(condition) > 1:
            raise _bad("Too many elements in numeric expression")
    elif name == "anything-but":
        test = _anything_but(arg)
        if len(condition) > 1:
            raise _bad("Too many elements in numeric expression")
    elif name == "cidr":
        if not isinstance(arg, str):
            raise _bad("prefix match pattern must be a string")
        network = _cidr(arg)
        if len(condition) > 1:
            raise _bad("Only one key allowed in match expression")

        def in_network(v: Any, network: Any = network) -> bool:
            address = _ip(v) if isinstance(v, str) else None
            return address is not None and address.version == network.version and address in network
        test = in_network
    elif name in ("prefix", "suffix", "equals-ignore-case", "wildcard", "exactly"):
        if name == "exactly" and not isinstance(arg, str):
            raise _bad("exact match pattern must be a string")
        test = _string_op(name, arg)
        if len(condition) > 1:
            raise _bad("Only one key allowed in match expression")
    else:
        raise _bad(f"Unrecognized match type {name}")
    leaf.tests.append(test)


# -- the pattern structure --------------------------------------------------------------------------

Path = tuple[str, ...]


@dataclass(slots=True)
class Node:
    """A pattern object of one alternative: leaves and nested objects by field name."""

    leaves: dict[str, Leaf] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)

    def matches(self, obj: Any) -> bool:
        get = obj.get if isinstance(obj, dict) else None
        for name, leaf in self.leaves.items():
            if not leaf.matches(get(name, _ABSENT) if get is not None else _ABSENT):
                return False
        for name, child in self.children.items():
            value = get(name, _ABSENT) if get is not None else _ABSENT
            if isinstance(value, list):
                elements = _elements(value)
                if not elements:
                    if not child.matches(_ABSENT):
                        return False
                elif not any(child.matches(element) for element in elements):
                    return False
            elif not child.matches(value):
                return False
        return True


def _elements(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack = [values]
    while stack:
        for item in stack.pop():
            if isinstance(item, list):
                stack.append(item)
            else:
                out.append(item)
    return out


@dataclass(frozen=True, slots=True)
class Alternative:
    """One `$or`-free branch: every field (path -> leaf) must match."""

    root: Node
    fields: tuple[tuple[Path, Leaf], ...]

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self.root.matches(event)


def _build(fields: list[tuple[Path, Leaf]]) -> Alternative:
    root = Node()
    for path, leaf in fields:
        node = root
        for name in path[:-1]:
            node = node.children.setdefault(name, Node())
        node.leaves[path[-1]] = leaf  # a later duplicate overrides, as in the AWS library
    # A name that is both a leaf and an object can match nothing; keep both, the walk says no.
    return Alternative(root, tuple(fields))


def _count(obj: Mapping[str, Any], depth: int) -> int:
    """How many alternatives `obj` multiplies out to, refused above the cap before anything is
    multiplied out (shape errors are left to `_expand`, which reports them in document order)."""
    if depth > MAX_DEPTH:
        raise _bad("Filter is nested too deeply")
    total = 1
    for name, value in obj.items():
        if name == "$or" and isinstance(value, list):
            branches = 0
            for branch in value:
                if isinstance(branch, dict):
                    branches += _count(branch, depth + 1)
                if branches > MAX_ALTERNATIVES:
                    raise _bad("Rule is too complex")
            total *= max(branches, 1)
        elif isinstance(value, dict):
            total *= _count(value, depth + 1)
        if total > MAX_ALTERNATIVES:
            raise _bad("Rule is too complex")
    return total


def _expand(obj: Mapping[str, Any], prefix: Path, in_or: bool) -> list[list[tuple[Path, Leaf]]]:
    """Validate `obj` in document order and multiply its `$or`s out (AWS's reasons on the way)."""
    alternatives: list[list[tuple[Path, Leaf]]] = [[]]
    if not obj:
        raise _bad("Empty objects are not allowed")
    for name, value in obj.items():
        if name == "$or":
            if not isinstance(value, list):
                raise _bad("It must be an Array followed with $or.")
            options = []
            for branch in value:
                if not isinstance(branch, dict):
                    raise _bad("Only JSON object is allowed in array of $or relationship.")
                options.extend(_expand(branch, prefix, True))
            if len(value) < 2:
                raise _bad("There must have at least 2 Objects in $or relationship.")
        else:
            if in_or and name in _RESERVED_IN_OR:
                raise _bad(f"{name} is Ruler reserved fieldName which cannot be used inside $or.")
            if isinstance(value, dict):
                options = _expand(value, (*prefix, name), in_or)
            elif isinstance(value, list):
                options = [[((*prefix, name), _compile_leaf(value))]]
            else:
                raise _bad(f'"{name}" must be an object or an array')
        alternatives = [current + option for current in alternatives for option in options]
    return alternatives


class EventPattern:
    """A compiled pattern: `matches(event)` for an event as a JSON object (a Mapping)."""

    __slots__ = ("alternatives", "source")

    def __init__(self, source: str, alternatives: tuple[Alternative, ...]) -> None:
        self.source = source
        self.alternatives = alternatives

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(alternative.root.matches(event) for alternative in self.alternatives)

    def __repr__(self) -> str:
        return f"EventPattern({self.source!r})"


def _parse(source: str) -> Any:
    if len(source) > MAX_SOURCE_CHARS:
        raise _bad(f"Event pattern is longer than {MAX_SOURCE_CHARS} characters")

    def no_constant(name: str) -> Any:
        raise ValueError(f"Non-standard token '{name}'")
    try:
        return json.loads(source, parse_constant=no_constant)
    except RecursionError:
        raise _bad("Filter is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _bad(f"{exc.msg}\n at [Source: (String)\"{source[:500]}\"; line: {exc.lineno}, column: {exc.colno}]") \
            from None
    except ValueError as exc:
        raise _bad(str(exc)) from None


def compile_pattern(source: str | Mapping[str, Any]) -> EventPattern:
    """Validate and compile a pattern (JSON text or an already parsed object); raises InvalidEventPattern."""
    if isinstance(source, str):
        text = source
        parsed = _parse(source)
    else:
        parsed = source
        try:
            text = json.dumps(source, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            raise _bad("Filter is not an object") from None
    if not isinstance(parsed, dict):
        raise _bad("Filter is not an object")
    _count(parsed, 0)
    expanded = _expand(parsed, (), False)
    return EventPattern(text, tuple(_build(fields) for fields in expanded))


# -- many patterns ----------------------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)


def _path_values(event: Any, path: Path) -> list[Any]:
    """Every leaf value at `path` (across all array elements on the way)."""
    current = [event]
    for name in path:
        found: list[Any] = []
        for item in current:
            if isinstance(item, dict):
                if name in item:
                    found.append(item[name])
            elif isinstance(item, list):
                for element in _elements(item):
                    if isinstance(element, dict) and name in element:
                        found.append(element[name])
        if not found:
            return []
        current = found
    out: list[Any] = []
    for value in current:
        out.extend(_leaf_values(value))
    return out


class PatternIndex(Generic[K]):
    """Patterns by key; `matching(event)` is the set of keys whose pattern matches.

    Each alternative with a field of exact values only is filed under (that field's path, each value):
    an event looks up its own values at the indexed paths and checks only the alternatives found
    there. Alternatives without such a field (only prefixes, ranges, exists...) are checked on
    every event.
    """

    def __init__(self) -> None:
        self._by_path: dict[Path, dict[Hashable, dict[K, list[Alternative]]]] = {}
        self._path_use: dict[Path, int] = {}
        self._scan: dict[K, list[Alternative]] = {}
        self._filed: dict[K, list[tuple[Path, list[Hashable]]]] = {}
        self._patterns: dict[K, EventPattern] = {}

    def __len__(self) -> int:
        return len(self._patterns)

    def __contains__(self, key: object) -> bool:
        return key in self._patterns

    def add(self, key: K, pattern: EventPattern) -> None:
        if key in self._patterns:
            self.remove(key)
        self._patterns[key] = pattern
        filed: list[tuple[Path, list[Hashable]]] = []
        for alternative in pattern.alternatives:
            anchor = self._anchor(alternative)
            if anchor is None:
                self._scan.setdefault(key, []).append(alternative)
                continue
            path, leaf = anchor
            table = self._by_path.setdefault(path, {})
            self._path_use[path] = self._path_use.get(path, 0) + 1
            tokens = list(leaf.exact)
            for token in tokens:
                table.setdefault(token, {}).setdefault(key, []).append(alternative)
            filed.append((path, tokens))
        self._filed[key] = filed

    def _anchor(self, alternative: Alternative) -> tuple[Path, Leaf] | None:
        best: tuple[Path, Leaf] | None = None
        for path, leaf in alternative.fields:
            if not leaf.exact_only:
                continue
            if path in self._path_use:
                return path, leaf  # a path already indexed costs the event no extra look-up
            if best is None:
                best = (path, leaf)
        return best

    def remove(self, key: K) -> None:
        if self._patterns.pop(key, None) is None:
            return
        self._scan.pop(key, None)
        for path, tokens in self._filed.pop(key, []):
            table = self._by_path[path]
            for token in tokens:
                bucket = table.get(token)
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del table[token]
            self._path_use[path] -= 1
            if not self._path_use[path]:
                del self._path_use[path]
                del self._by_path[path]

    def matching(self, event: Mapping[str, Any]) -> set[K]:
        found: set[K] = set()
        for path, table in self._by_path.items():
            for value in _path_values(event, path):
                bucket = table.get(_token(value))
                if not bucket:
                    continue
                for key, alternatives in bucket.items():
                    if key not in found and any(alt.root.matches(event) for alt in alternatives):
                        found.add(key)
        for key, alternatives in self._scan.items():
            if key not in found and any(alt.root.matches(event) for alt in alternatives):
                found.add(key)
        return found

    def keys(self) -> Iterator[K]:
        return iter(self._patterns)
