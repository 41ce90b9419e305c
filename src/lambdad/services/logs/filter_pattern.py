"""CloudWatch Logs filter patterns: compiled once, matched against each event's message.

The three forms AWS documents (FilterAndPatternSyntax):

    ERROR "Internal Server Error" -Retry   text: every term (substring, case-sensitive), no -term
    ?ERROR ?WARN                           text: any of the ?terms
    { $.level = "ERROR" && $.ms > 100 }    JSON: selectors, = != < > <= >=, && ||, ( ), IS NULL/TRUE/
                                           FALSE, EXISTS / NOT EXISTS, "*" wildcards in string values
    [ip, user, ..., status = 4*, bytes > 1000]   space-delimited fields, `...` for any number of them

Parsing is a single left-to-right scan with a nesting cap, and matching never backtracks (a
wildcard value is matched by leftmost search of its literal pieces), so a hostile pattern costs
time linear in its length and in the message: there is no regular expression anywhere. AWS's
`%regex%` terms are refused: lambdad does not run user regular expressions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdad.errors import LogsError

MAX_PATTERN = 1024  # the model's maxLength for filterPattern
MAX_DEPTH = 8       # parentheses nested deeper than this are refused, not recursed into

Test = Callable[[str], bool]
# What an unquoted term may hold besides letters and digits; anything else must be "quoted" (AWS
# refuses `email@domain.com` unquoted with "Invalid character(s) in term").
_TERM_PUNCTUATION = frozenset("_.-:/")


class InvalidFilterPattern(LogsError):
    def __init__(self, detail: str = "") -> None:
        super().__init__("Invalid filter pattern" + (f": {detail}" if detail else ""),
                         code="InvalidParameterException")


@dataclass(frozen=True, slots=True)
class FilterPattern:
    source: str
    test: Test
    # Substrings every matching message contains: lets the store narrow its scan inside SQLite.
    required: tuple[str, ...] = ()
    # JSON patterns compare decoded values: a message may spell a required substring with \u escapes,
    # so the store keeps messages holding "\u" too.
    decoded: bool = False

    def matches(self, message: str) -> bool:
        return self.test(message)


def compile_pattern(source: str | None) -> FilterPattern:
    text = (source or "").strip()
    if len(text) > MAX_PATTERN:
        raise InvalidFilterPattern("the pattern is longer than 1024 characters")
    if not text:
        return FilterPattern("", lambda _m: True)
    if text.startswith("{"):
        if not text.endswith("}"):
            raise LogsError("If a filter pattern starts with '{' it must end with '}'")
        parser = _JsonParser(text[1:-1])
        test = parser.parse()
        return FilterPattern(text, test, parser.needles, decoded=True)
    if text.startswith("["):
        if not text.endswith("]"):
            raise LogsError("If a filter pattern starts with '[' it must end with ']'")
        return FilterPattern(text, _parse_delimited(text[1:-1]))
    return _parse_text(text)


# -- text patterns ---------------------------------------------------------------------------

def _text_terms(text: str) -> list[tuple[str, str]]:
    """(prefix, term) pairs: prefix is "", "-" or "?"; quoted terms keep their spaces."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        prefix = ""
        if text[i] in "-?" and i + 1 < n and not text[i + 1].isspace():
            prefix, i = text[i], i + 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise InvalidFilterPattern(f"Unterminated quoted term {text[i:]!r}")
            term = text[i + 1:end]
            if not term:
                raise InvalidFilterPattern("Invalid character(s) in term '\"\"'")
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace():
                end += 1
            term = text[i:end]
            if term.startswith("%") and term.endswith("%") and len(term) > 1:
                raise InvalidFilterPattern("lambdad does not support regular expressions (%...%) in filter "
                                           "patterns")
            if not all(c.isalnum() or c in _TERM_PUNCTUATION for c in term):
                raise InvalidFilterPattern(f"Invalid character(s) in term '{term}'")
            i = end
        out.append((prefix, term))
    return out


def _parse_text(text: str) -> FilterPattern:
    terms = _text_terms(text)
    must = tuple(t for p, t in terms if p == "")
    never = tuple(t for p, t in terms if p == "-")
    anyof = tuple(t for p, t in terms if p == "?")

    def test(message: str) -> bool:
        return (all(t in message for t in must) and not any(t in message for t in never)
                and (not anyof or any(t in message for t in anyof)))

    return FilterPattern(text, test, must)


# -- values shared by JSON and space-delimited patterns ---------------------------------------

def _glob(pattern: str) -> Callable[[str], bool]:
    """A `*` wildcard string: pieces found left to right, never backtracking (greedy leftmost is
    exact for `*`-only globs)."""
    if "*" not in pattern:
        return lambda s: s == pattern
    pieces = pattern.split("*")
    first, last, middle = pieces[0], pieces[-1], pieces[1:-1]

    def match(s: str) -> bool:
        if len(s) < len(first) + len(last) or not s.startswith(first) or not s.endswith(last):
            return False
        pos, stop = len(first), len(s) - len(last)
        for piece in middle:
            found = s.find(piece, pos, stop)
            if found < 0:
                return False
            pos = found + len(piece)
        return True

    return match


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


# -- JSON patterns ----------------------------------------------------------------------------

_MISSING = object()


def _select(doc: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return _MISSING
            doc = doc[step]
        elif isinstance(doc, dict) and step in doc:
            doc = doc[step]
        else:
            return _MISSING
    return doc


class _JsonParser:
    """Recursive descent over `expr := term (('&&'|'||') term)*`, `term := '(' expr ')' | condition`;
    && binds tighter than ||, as AWS evaluates it."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.depth = 0
        self.needles: tuple[str, ...] = ()  # literals every matching message's raw text holds

    def parse(self) -> Callable[[str], bool]:
        cond, self.needles = self._or()
        self._ws()
        if self.i != len(self.s):
            raise InvalidFilterPattern(f"unexpected {self.s[self.i:self.i + 20]!r}")

        def test(message: str) -> bool:
            if not message.lstrip().startswith("{"):
                return False
            try:
                doc = json.loads(message)
            except ValueError:
                return False
            return cond(doc)

        return test

    def _ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def _peek(self, token: str) -> bool:
        self._ws()
        return self.s.startswith(token, self.i)

    # Each node answers (test, needles): needles are literals the raw message must contain for the
    # node to match (from un-negated string equalities; && joins them, || drops them).
    def _or(self) -> tuple[Callable[[Any], bool], tuple[str, ...]]:
        parts = [self._and()]
        while self._peek("||"):
            self.i += 2
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        tests = [t for t, _ in parts]
        return (lambda doc: any(t(doc) for t in tests)), ()

    def _and(self) -> tuple[Callable[[Any], bool], tuple[str, ...]]:
        parts = [self._term()]
        while self._peek("&&"):
            self.i += 2
            parts.append(self._term())
        if len(parts) == 1:
            return parts[0]
        tests = [t for t, _ in parts]
        return (lambda doc: all(t(doc) for t in tests)), tuple(n for _, ns in parts for n in ns)

    def _term(self) -> tuple[Callable[[Any], bool], tuple[str, ...]]:
        if self._peek("("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise InvalidFilterPattern("parentheses nested too deeply")
            self.i += 1
            inner = self._or()
            if not self._peek(")"):
                raise InvalidFilterPattern("missing ')'")
            self.i += 1
            self.depth -= 1
            return inner
        return self._condition()

    def _selector(self) -> list[str | int]:
        self._ws()
        if not self.s.startswith("$", self.i):
            raise InvalidFilterPattern("a JSON condition starts with a selector such as $.level")
        self.i += 1
        path: list[str | int] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == ".":
                start = self.i = self.i + 1
                while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] in "_-@$"):
                    self.i += 1
                if self.i == start:
                    raise InvalidFilterPattern("empty selector step")
                path.append(self.s[start:self.i])
            elif c == "[":
                end = self.s.find("]", self.i)
                index = self.s[self.i + 1:end] if end > 0 else ""
                if not index.isdigit():
                    raise InvalidFilterPattern("array selectors take a number, as $.items[0]")
                path.append(int(index))
                self.i = end + 1
            else:
                break
        if not path:
            raise InvalidFilterPattern("empty selector")
        return path

    def _word(self) -> str:
        self._ws()
        start = self.i
        while self.i < len(self.s) and (self.s[self.i].isalpha()):
            self.i += 1
        return self.s[start:self.i]

    def _condition(self) -> tuple[Callable[[Any], bool], tuple[str, ...]]:
        path = self._selector()
        self._ws()
        for op in ("!=", "<=", ">=", "=", "<", ">"):
            if self.s.startswith(op, self.i):
                self.i += len(op)
                return self._compare(path, op)
        word = self._word().upper()
        if word == "IS":
            what = self._word().upper()
            expected = {"NULL": None, "TRUE": True, "FALSE": False}
            if what not in expected:
                raise InvalidFilterPattern("IS takes NULL, TRUE or FALSE")
            value = expected[what]
            return (lambda doc: (v := _select(doc, path)) is not _MISSING and v is value), ()
        if word == "EXISTS":
            return (lambda doc: _select(doc, path) is not _MISSING), ()
        if word == "NOT" and self._word().upper() == "EXISTS":
            return (lambda doc: _select(doc, path) is _MISSING), ()
        raise InvalidFilterPattern("expected a comparison (=, !=, <, >, <=, >=), IS or EXISTS")

    def _value(self) -> tuple[str, bool]:
        """The comparison's value: (text, quoted)."""
        self._ws()
        if self.s.startswith('"', self.i):
            end = self.s.find('"', self.i + 1)
            if end < 0:
                raise InvalidFilterPattern("unterminated string value")
            text, self.i = self.s[self.i + 1:end], end + 1
            return text, True
        start = self.i
        while self.i < len(self.s) and not self.s[self.i].isspace() and self.s[self.i] not in "()&|=<>!":
            self.i += 1
        if self.i == start:
            raise InvalidFilterPattern("a comparison needs a value")
        return self.s[start:self.i], False

    def _compare(self, path: list[str | int], op: str) -> tuple[Callable[[Any], bool], tuple[str, ...]]:
        text, quoted = self._value()
        number = None if quoted else _number(text)
        if op in ("<", ">", "<=", ">="):
            if number is None:
                raise InvalidFilterPattern(f"{op} compares numbers, not {text!r}")
            num_test = _NUMERIC_OPS[op]
            return (lambda doc: (isinstance(v := _select(doc, path), int | float) and not isinstance(v, bool)
                                 and num_test(float(v), number))), ()
        negate = op == "!="
        if number is not None:
            def num_eq(doc: Any) -> bool:
                v = _select(doc, path)
                if v is _MISSING:
                    return False
                same = isinstance(v, int | float) and not isinstance(v, bool) and float(v) == number
                return same != negate
            return num_eq, ()
        if not quoted and text.upper() in ("TRUE", "FALSE", "NULL"):
            literal = {"TRUE": True, "FALSE": False, "NULL": None}[text.upper()]
            return (lambda doc: (v := _select(doc, path)) is not _MISSING and ((v is literal) != negate)), ()
        glob = _glob(text)

        def str_eq(doc: Any) -> bool:
            v = _select(doc, path)
            if v is _MISSING or isinstance(v, dict | list) or v is None:
                return False
            if isinstance(v, bool):
                v = "true" if v else "false"
            return glob(str(v)) != negate

        longest = max(text.split("*"), key=len)
        needles = (longest,) if not negate and longest and all(c in _RAW_SAFE for c in longest) else ()
        return str_eq, needles


# Characters a JSON encoder writes as themselves (no escape but the optional \u form): a literal made
# of them appears verbatim in a message whose decoded value holds it, or the message has a \u.
_RAW_SAFE = frozenset(c for c in map(chr, range(32, 127)) if c not in '"\\/')


# -- space-delimited patterns -----------------------------------------------------------------

def split_fields(message: str) -> list[str]:
    """A message's space-delimited fields: "quoted" and [bracketed] runs are one field each."""
    fields: list[str] = []
    i, n = 0, len(message)
    while i < n:
        c = message[i]
        if c.isspace():
            i += 1
            continue
        close = '"' if c == '"' else "]" if c == "[" else ""
        if close:
            end = message.find(close, i + 1)
            if end >= 0:
                fields.append(message[i + 1:end])
                i = end + 1
                continue
        end = i
        while end < n and not message[end].isspace():
            end += 1
        fields.append(message[i:end])
        i = end
    return fields


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, start, quoted = [], 0, 0, False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif not quoted and c in "([":
            depth += 1
        elif not quoted and c in ")]":
            depth -= 1
        elif not quoted and depth == 0 and c == sep:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse_delimited(body: str) -> Test:
    names: list[str] = []
    conditions: list[str] = []
    for raw in _split_top(body, ","):
        item = raw.strip()
        if not item:
            raise InvalidFilterPattern("empty field in a space-delimited pattern")
        if item == "...":
            names.append("...")
            continue
        name_end = 0
        while name_end < len(item) and (item[name_end].isalnum() or item[name_end] == "_"):
            name_end += 1
        name = item[:name_end]
        if not name:
            raise InvalidFilterPattern(f"Invalid field {item!r}")
        names.append(name)
        if item[name_end:].strip():
            conditions.append(item)
    if names.count("...") > 1:
        raise InvalidFilterPattern("at most one '...' in a space-delimited pattern")
    declared = {n for n in names if n != "..."}
    checks = [_delimited_condition(c, declared) for c in conditions]
    ellipsis = names.index("...") if "..." in names else -1
    fixed = [n for n in names if n != "..."]

    def test(message: str) -> bool:
        fields = split_fields(message)
        if ellipsis < 0:
            if len(fields) != len(fixed):
                return False
            values = dict(zip(fixed, fields, strict=True))
        else:
            tail = len(names) - ellipsis - 1
            if len(fields) < len(fixed):
                return False
            head_names, tail_names = names[:ellipsis], names[ellipsis + 1:]
            values = dict(zip(head_names, fields[:ellipsis], strict=True))
            if tail:
                values.update(zip(tail_names, fields[-tail:], strict=True))
        return all(check(values) for check in checks)

    return test


def _delimited_condition(text: str, declared: set[str]) -> Callable[[dict[str, str]], bool]:
    """`status = 4* || status = 5*`, `bytes > 1000 && bytes < 2000`: && binds tighter than ||."""
    alternatives = []
    for alt in text.split("||"):
        conjuncts = [_field_compare(part.strip(), declared) for part in alt.split("&&")]
        alternatives.append(conjuncts)
    return lambda values: any(all(c(values) for c in conj) for conj in alternatives)


def _field_compare(text: str, declared: set[str]) -> Callable[[dict[str, str]], bool]:
    for op in ("!=", "<=", ">=", "=", "<", ">"):
        at = text.find(op)
        if at > 0:
            name, value = text[:at].strip(), text[at + len(op):].strip()
            break
    else:
        raise InvalidFilterPattern(f"expected a comparison in {text!r}")
    if name not in declared:
        raise InvalidFilterPattern(f"unknown field {name!r}")
    quoted = len(value) >= 2 and value.startswith('"') and value.endswith('"')
    if quoted:
        value = value[1:-1]
    if not value:
        raise InvalidFilterPattern(f"a comparison needs a value in {text!r}")
    number = None if quoted else _number(value)
    if op in ("<", ">", "<=", ">="):
        if number is None:
            raise InvalidFilterPattern(f"{op} compares numbers, not {value!r}")
        num_test = _NUMERIC_OPS[op]
        return lambda values: (n := _number(values.get(name, ""))) is not None and num_test(n, number)
    negate = op == "!="
    if number is not None:
        return lambda values: ((n := _number(values.get(name, ""))) is not None and n == number) != negate
    glob = _glob(value)
    return lambda values: name in values and glob(values[name]) != negate
