"""DynamoDB's expression languages: parsed into typed records, evaluated against items. No HTTP.

Contract (what services/dynamodb's operations call):

* ``Placeholders(names, values)``: a request's ExpressionAttributeNames / ExpressionAttributeValues,
  checked on construction (empty maps, bad keys, invalid values: DynamoDB's messages). Every parse
  of the request's expressions shares one; after the last, ``placeholders.check_unused()`` refuses
  the names and values no expression used.
* ``parse_condition(text, ph, kind)`` -> ``Condition`` for ConditionExpression (kind
  "ConditionExpression") or FilterExpression ("FilterExpression"); ``evaluate(condition, item)``
  -> bool (``item`` None or {} when there is no item). ``condition_top_level_names`` lists the
  attributes it reads.
* ``parse_key_condition(text, ph, hash_key, range_key)`` -> ``KeyCondition`` (hash name + value;
  optional range name, op, values) for the store to turn into SQL. Keys are (name, type) pairs.
* ``parse_projection(text, ph)`` -> ``tuple[Path, ...]``; ``project(item, paths)`` -> the item cut
  down to those paths (nested maps and lists kept in shape; list elements in index order).
* ``parse_update(text, ph)`` -> ``Update``; ``apply_update(update, item)`` -> the new item (the
  old one untouched; for an item that does not exist yet pass its key, so that operands such as
  ``if_not_exists(b, pk)`` see it), raising DynamoDB's run-time errors (a missing operand, a wrong
  type, an invalid document path, nesting beyond 32 levels). ``updated_top_level_names(update)``
  names what the update writes, so the caller can refuse key attributes ("Cannot update attribute
  X. This attribute is part of the key");
  ``update.paths`` serve ReturnValues UPDATED_OLD / UPDATED_NEW through ``project``.

Every error is a ``DynamoDbError`` (ValidationException) worded as DynamoDB words it, prefixed
"Invalid <kind>: ". Limits: an expression of more than 4 KB and a document path of more than 32
levels are refused; parsing is linear in the text and recursion is bounded by a nesting limit, so
hostile input cannot exhaust the stack or the CPU.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, NamedTuple, TypeAlias

from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb import values as v
from lambdad.services.dynamodb.reserved_words import RESERVED_WORDS
from lambdad.services.dynamodb.values import AttributeValue, Item

MAX_EXPRESSION_BYTES = 4096
MAX_PATH_DEPTH = 32
MAX_IN_OPERANDS = 100
# Parentheses / NOT nested deeper than this are refused (DynamoDB states no number; 4 KB of "((((" would
# otherwise recurse 4,000 deep).
MAX_NESTING = 100

PathElement: TypeAlias = str | int  # an attribute name, or a list index
Path: TypeAlias = tuple[PathElement, ...]

_TYPE_NAMES = {"S": "STRING", "N": "NUMBER", "B": "BINARY", "BOOL": "BOOLEAN", "NULL": "NULL", "M": "MAP",
               "L": "LIST", "SS": "STRING_SET", "NS": "NUMBER_SET", "BS": "BINARY_SET"}
_NAME_KEY = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_KEY = re.compile(r":[A-Za-z0-9_]+")


def _error(kind: str, message: str) -> DynamoDbError:
    return DynamoDbError(f"Invalid {kind}: {message}")


def show_path(path: Path) -> str:
    """A path as DynamoDB's messages print it: [a, [1], b]."""
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in path) + "]"


def show_value(av: AttributeValue) -> str:
    """A value as DynamoDB's messages print it: {N:5}, {S:abc}."""
    kind = v.value_type(av)
    member = av[kind]
    if kind == "B":
        member = base64.b64encode(member).decode()
    return f"{{{kind}:{member}}}"


# --- placeholders ----------------------------------------------------------------------------------

class Placeholders:
    """A request's ExpressionAttributeNames and ExpressionAttributeValues, and which were used."""

    def __init__(self, names: Mapping[str, str] | None = None,
                 values: Mapping[str, AttributeValue] | None = None) -> None:
        if names is not None:
            if not names:
                raise DynamoDbError("ExpressionAttributeNames must not be empty")
            for key, name in names.items():
                if not _NAME_KEY.fullmatch(key):
                    raise DynamoDbError(f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"')
                if not name:
                    raise DynamoDbError(f"ExpressionAttributeNames contains invalid value: Empty attribute name for "
                                        f"key {key}")
        if values is not None:
            if not values:
                raise DynamoDbError("ExpressionAttributeValues must not be empty")
            for key in values:
                if not _VALUE_KEY.fullmatch(key):
                    raise DynamoDbError(f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"')
        checked: dict[str, AttributeValue] = {}
        for key, av in (values or {}).items():
            try:
                checked[key] = v.validate_value(av)
            except DynamoDbError as exc:
                if exc.code != "ValidationException":
                    raise
                raise DynamoDbError(f"ExpressionAttributeValues contains invalid value: {exc.message} for key {key}") \
                    from None
        self.names: dict[str, str] = dict(names or {})
        self.values = checked
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def check_unused(self) -> None:
        unused_names = [k for k in self.names if k not in self.used_names]
        if unused_names:
            raise DynamoDbError("Value provided in ExpressionAttributeNames unused in expressions: "
                                f"keys: {{{', '.join(unused_names)}}}")
        unused_values = [k for k in self.values if k not in self.used_values]
        if unused_values:
            raise DynamoDbError("Value provided in ExpressionAttributeValues unused in expressions: "
                                f"keys: {{{', '.join(unused_values)}}}")


# --- records ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PathOperand:
    path: Path


@dataclass(frozen=True)
class ValueOperand:
    value: AttributeValue = field(hash=False)
    name: str = ""  # the placeholder it came from


@dataclass(frozen=True)
class Call:
    """A function applied to operands: size, if_not_exists, list_append (and, as conditions, the
    boolean functions)."""
    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True)
class Arithmetic:
    op: Literal["+", "-"]
    left: Operand
    right: Operand


Operand: TypeAlias = PathOperand | ValueOperand | Call | Arithmetic


@dataclass(frozen=True)
class Compare:
    op: Literal["=", "<>", "<", "<=", ">", ">="]
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True)
class In:
    operand: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True)
class Function:
    """attribute_exists, attribute_not_exists, attribute_type, begins_with, contains."""
    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True)
class And:
    terms: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    term: Condition


Condition: TypeAlias = Compare | Between | In | Function | And | Or | Not
_CONDITIONS = (Compare, Between, In, Function, And, Or, Not)


@dataclass(frozen=True)
class SetAction:
    path: Path
    value: Operand


@dataclass(frozen=True)
class AddAction:
    path: Path
    value: AttributeValue = field(hash=False)


@dataclass(frozen=True)
class DeleteAction:
    path: Path
    value: AttributeValue = field(hash=False)


@dataclass(frozen=True)
class Update:
    sets: tuple[SetAction, ...] = ()
    removes: tuple[Path, ...] = ()
    adds: tuple[AddAction, ...] = ()
    deletes: tuple[DeleteAction, ...] = ()
    #: From AttributeUpdates: run-time type errors say "Type mismatch for attribute to update".
    legacy: bool = False

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every path the update writes, in the expression's order of clauses."""
        return (*(a.path for a in self.sets), *self.removes, *(a.path for a in self.adds),
                *(a.path for a in self.deletes))


def condition_top_level_names(condition: Condition) -> set[str]:
    """The top-level attributes a condition reads (a Query's FilterExpression may not name a key:
    "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk")."""
    names: set[str] = set()
    stack: list[Condition | Operand] = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, PathOperand):
            names.add(str(node.path[0]))
        elif isinstance(node, And | Or):
            stack.extend(node.terms)
        elif isinstance(node, Not):
            stack.append(node.term)
        elif isinstance(node, Compare | Arithmetic):
            stack.extend((node.left, node.right))
        elif isinstance(node, Between):
            stack.extend((node.operand, node.low, node.high))
        elif isinstance(node, In):
            stack.extend((node.operand, *node.options))
        elif isinstance(node, Function | Call):
            stack.extend(node.args)
    return names


def updated_top_level_names(update: Update) -> set[str]:
    """The top-level attributes an update writes (SET a.b names a): keys must not be among them."""
    return {str(path[0]) for path in update.paths}


RangeOp = Literal["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"]


@dataclass(frozen=True)
class KeyCondition:
    hash_name: str
    hash_value: AttributeValue = field(hash=False)
    range_name: str | None = None
    range_op: RangeOp | None = None
    range_values: tuple[AttributeValue, ...] = field(default=(), hash=False)

    def matches(self, item: Item) -> bool:
        """Whether `item` satisfies the condition (the store may check rows it could not narrow)."""
        got = item.get(self.hash_name)
        if got is None or not v.values_equal(got, self.hash_value):
            return False
        if self.range_name is None or self.range_op is None:
            return True
        r = item.get(self.range_name)
        if r is None:
            return False
        if self.range_op == "begins_with":
            return _begins_with(r, self.range_values[0])
        if self.range_op == "BETWEEN":
            low, high = (v.compare(r, x) for x in self.range_values)
            return low is not None and high is not None and low >= 0 and high <= 0
        return _ordered(self.range_op, r, self.range_values[0])


# --- tokens ----------------------------------------------------------------------------------------

class _Token(NamedTuple):
    kind: str  # "name", "#", ":", "int", "op", "bad", "eof"
    text: str
    start: int
    end: int


# One pass of one regex over the text (C speed); anything else is a one-character "bad" token. A name
# may start with "_" in update and projection expressions, not in conditions (DynamoDB answers
# `Syntax error; token: "_"` there).
_TOKEN_TEMPLATE = r"""
    (?P<ws>\s+)
  | (?P<name>[A-Za-z{first}][A-Za-z0-9_]*)
  | (?P<hash>\#[A-Za-z0-9_]+)
  | (?P<colon>:[A-Za-z0-9_]+)
  | (?P<int>[0-9]+)
  | (?P<op><>|<=|>=|[=<>(),.\[\]+\-])
  | (?P<bad>.)
"""
_TOKEN = re.compile(_TOKEN_TEMPLATE.format(first=""), re.VERBOSE | re.DOTALL)
_TOKEN_UNDERSCORE = re.compile(_TOKEN_TEMPLATE.format(first="_"), re.VERBOSE | re.DOTALL)
_KINDS = {"name": "name", "hash": "#", "colon": ":", "int": "int", "op": "op", "bad": "bad"}


def _tokenize(text: str, underscore: bool = False) -> list[_Token]:
    pattern = _TOKEN_UNDERSCORE if underscore else _TOKEN
    tokens = [_Token(_KINDS[m.lastgroup], m.group(), m.start(), m.end())  # type: ignore[index]
              for m in pattern.finditer(text) if m.lastgroup != "ws"]
    tokens.append(_Token("eof", "<EOF>", len(text), len(text)))
    return tokens


# --- the parser ------------------------------------------------------------------------------------

_COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
_CONDITION_FUNCTIONS = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2,
                        "begins_with": 2, "contains": 2}
_OPERAND_FUNCTIONS = {"size": 1}
_UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
_VALID_TYPES = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"

_KEYWORDS = ("AND", "OR", "NOT", "BETWEEN", "IN")
_SIZED = ("S", "B", "SS", "NS", "BS", "L", "M")

# Problems found while parsing are reported after a successful parse (syntax errors are raised at
# once), the first of each category kept, in DynamoDB's order of categories per language (as
# recorded by dynalite's suite against DynamoDB). In a condition the "condition" category is the
# first leaf condition (comparison, BETWEEN, IN, function) with any problem of its own, and of its
# problems the first in _LEAF_ORDER.
_ORDER = {
    "condition": ("parens", "unknown_function", "misused_function", "reserved", "condition"),
    "update": ("parens", "reserved", "unknown_function", "misused_function", "section", "name", "value", "paths",
               "add_delete", "operand", "function"),
    "projection": ("reserved", "name", "paths"),
}
_LEAF_ORDER = ("name_value", "operand", "distinct", "function")


class _Parser:
    def __init__(self, text: str, ph: Placeholders, kind: str) -> None:
        self.text = text
        self.kind = kind
        self.ph = ph
        self.tokens = _tokenize(text, underscore=kind in ("UpdateExpression", "ProjectionExpression"))
        self.i = 0
        self.depth = 0
        self.mode = {"UpdateExpression": "update", "ProjectionExpression": "projection"}.get(kind, "condition")
        self.name_category = "name_value" if self.mode == "condition" else "name"
        self.value_category = "name_value" if self.mode == "condition" else "value"
        self.deferred: dict[str, str] = {}
        self.leaf_problems: dict[str, str] = {}
        self.parenthesised: set[int] = set()
        self.updating = kind == "UpdateExpression"  # SET, REMOVE, ADD, DELETE are keywords there

    # tokens
    def peek(self, ahead: int = 0) -> _Token:
        if ahead:
            return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]
        return self.tokens[self.i]  # never past the final EOF: next() stops there

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at_op(self, text: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text == text

    def at_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text.upper() == word

    def expect_op(self, text: str) -> None:
        if not self.at_op(text):
            raise self.syntax_error()
        self.next()

    def syntax_error(self, tok: _Token | None = None) -> DynamoDbError:
        if tok is None:
            tok = self.peek()
        index = self.tokens.index(tok) if tok in self.tokens else self.i
        start = self.tokens[index - 1].start if index > 0 else tok.start
        if tok.kind == "eof":
            near = self.text[start:tok.start] if index > 0 else ""
        else:
            following = self.tokens[index + 1] if index + 1 < len(self.tokens) else tok
            near = self.text[start:max(following.end, tok.end)]
        return _error(self.kind, f'Syntax error; token: "{tok.text}", near: "{near.strip()}"')

    def defer(self, category: str, message: str) -> None:
        if self.mode == "condition" and category in _LEAF_ORDER:
            self.leaf_problems.setdefault(category, message)
        else:
            self.deferred.setdefault(category, message)

    def leaf(self) -> None:
        """A leaf condition is complete: the first one with problems fixes the "condition" error."""
        if self.leaf_problems and "condition" not in self.deferred:
            first = next(c for c in _LEAF_ORDER if c in self.leaf_problems)
            self.deferred["condition"] = self.leaf_problems[first]

    def finish(self) -> None:
        if self.peek().kind != "eof":
            raise self.syntax_error()
        self.leaf()
        for category in _ORDER[self.mode]:
            if category in self.deferred:
                raise _error(self.kind, self.deferred[category])

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _error(self.kind, "The expression has exceeded the maximum nesting depth; "
                                    f"maximum nesting depth: {MAX_NESTING}")

    # paths and operands
    def element(self) -> str:
        tok = self.next()
        if tok.kind == "name" and self.updating and tok.text.upper() in _CLAUSES:
            raise self.syntax_error(tok)
        if tok.kind == "name":
            if tok.text.upper() in RESERVED_WORDS:
                self.defer("reserved", f"Attribute name is a reserved keyword; reserved keyword: {tok.text}")
            return tok.text
        if tok.kind == "#":
            self.ph.used_names.add(tok.text)
            name = self.ph.names.get(tok.text)
            if name is None:
                self.defer(self.name_category, "An expression attribute name used in the document path is not defined; "
                                   f"attribute name: {tok.text}")
                return tok.text
            return name
        raise self.syntax_error(tok)

    def continued(self, operand: Operand) -> Operand:
        """A parenthesised path may go on: (a.b).c is a.b.c (DynamoDB accepts it)."""
        if isinstance(operand, PathOperand) and (self.at_op(".") or self.at_op("[")):
            return PathOperand(self.path(list(operand.path)))
        return operand

    def path(self, start: list[PathElement] | None = None) -> Path:
        elements: list[PathElement] = start if start is not None else [self.element()]
        while True:
            if self.at_op("."):
                self.next()
                elements.append(self.element())
            elif self.at_op("["):
                self.next()
                tok = self.next()
                if tok.kind != "int":
                    raise self.syntax_error(tok)
                elements.append(int(tok.text) if len(tok.text) <= 10 else 10**10)
                self.expect_op("]")
            else:
                break
            if len(elements) > MAX_PATH_DEPTH:
                raise _error(self.kind, "The document path has too many nesting levels; "
                                        f"nesting levels: {len(elements)}")
        return tuple(elements)

    def value(self) -> ValueOperand:
        tok = self.next()
        if tok.kind != ":":
            raise self.syntax_error(tok)
        self.ph.used_values.add(tok.text)
        av = self.ph.values.get(tok.text)
        if av is None:
            self.defer(self.value_category, "An expression attribute value used in expression is not defined; "
                               f"attribute value: {tok.text}")
            return ValueOperand({"NULL": True}, tok.text)
        return ValueOperand(av, tok.text)

    def at_call(self) -> bool:
        return self.peek().kind == "name" and self.peek(1).kind == "op" and self.peek(1).text == "("

    def close(self, inner: Condition | Operand) -> None:
        """After a parenthesised condition or operand: DynamoDB refuses a second pair around one."""
        self.expect_op(")")
        self.depth -= 1
        if id(inner) in self.parenthesised:
            self.defer("parens", "The expression has redundant parentheses;")
        self.parenthesised.add(id(inner))

    def operand(self) -> Operand:
        """A path, a value, a function call (size), or one of these in parentheses."""
        tok = self.peek()
        if tok.kind == "op" and tok.text == "(":
            self.next()
            self.nest()
            inner = self.operand()
            self.close(inner)
            return self.continued(inner)
        if tok.kind == ":":
            return self.value()
        if self.at_call():
            return self.call()
        if tok.kind in ("name", "#"):
            if tok.kind == "name" and tok.text.upper() in _KEYWORDS:
                raise self.syntax_error(tok)
            return PathOperand(self.path())
        raise self.syntax_error(tok)

    def call(self) -> Call:
        name = self.next().text
        self.expect_op("(")
        self.nest()
        args: list[Operand] = [self.operand()]
        while self.at_op(","):
            self.next()
            args.append(self.operand())
        self.expect_op(")")
        self.depth -= 1
        call = Call(name, tuple(args))
        if name not in _CONDITION_FUNCTIONS and name not in _OPERAND_FUNCTIONS:
            if name in _UPDATE_FUNCTIONS:
                self.defer("misused_function",
                           f"The function is not allowed in a condition expression; function: {name}")
            else:
                self.defer("unknown_function", f"Invalid function name; function: {name}")
            return call
        expected = {**_CONDITION_FUNCTIONS, **_OPERAND_FUNCTIONS}[name]
        if len(args) != expected:
            self.defer("operand", "Incorrect number of operands for operator or function; "
                               f"operator or function: {name}, number of operands: {len(args)}")
            return call
        for arg in args:
            if isinstance(arg, Call) and arg.name in _CONDITION_FUNCTIONS:
                self.defer("misused_function", "The function is not allowed to be used this way in an expression; "
                                    f"function: {arg.name}")
        if name == "size":
            self.check_type(args[0], name, _SIZED)
        elif name in ("attribute_exists", "attribute_not_exists", "attribute_type") \
                and not isinstance(args[0], PathOperand):
            self.defer("function", f"Operator or function requires a document path; operator or function: {name}")
        elif name == "begins_with":
            for arg in args:
                self.check_type(arg, name, ("S", "B"))
        if name == "attribute_type":
            second = self.static_type(args[1])
            if second is not None and second != "S":
                self.check_type(args[1], name, ("S",))
            elif isinstance(args[1], ValueOperand) and args[1].name in self.ph.values \
                    and args[1].value["S"] not in v.TYPES:
                self.defer("function", f"Invalid attribute type name found; type: {args[1].value['S']}, "
                                       f"valid types: {_VALID_TYPES}")
            elif isinstance(args[1], PathOperand):  # the type is a value; a path's is unknown
                self.defer("function", "Incorrect operand type for operator or function; operator or function: "
                                       "attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}")
        if len(args) == 2 and name != "size":
            self.check_distinct(name, args[0], args[1:])
        return call

    def static_type(self, operand: Operand) -> str | None:
        """The type an operand has whatever the item: a defined value's, or N for size()."""
        if isinstance(operand, ValueOperand):
            return v.value_type(operand.value) if operand.name in self.ph.values else None
        if isinstance(operand, Call) and operand.name == "size":
            return "N"
        return None

    def check_type(self, operand: Operand, operator: str, allowed: tuple[str, ...]) -> None:
        kind = self.static_type(operand)
        if kind is not None and kind not in allowed:
            self.defer("function", "Incorrect operand type for operator or function; "
                               f"operator or function: {operator}, operand type: {kind}")

    def check_distinct(self, operator: str, first: Operand, rest: Iterable[Operand]) -> None:
        if isinstance(first, PathOperand) and any(isinstance(o, PathOperand) and o.path == first.path for o in rest):
            shown = show_path(first.path)
            self.defer("distinct", "The first operand must be distinct from the remaining operands for this "
                                   f"operator or function; operator: {operator}, first operand: {shown}")

    # conditions: each level answers a Condition, or an Operand its caller must still compare
    def condition(self) -> Condition:
        result = self.disjunction()
        if not isinstance(result, _CONDITIONS):
            raise self.syntax_error()
        return result

    def disjunction(self) -> Condition | Operand:
        first = self.conjunction()
        if not self.at_word("OR"):
            return first
        terms = [self.as_condition(first)]
        while self.at_word("OR"):
            self.next()
            terms.append(self.as_condition(self.conjunction()))
        return Or(tuple(terms))

    def conjunction(self) -> Condition | Operand:
        first = self.negation()
        if not self.at_word("AND"):
            return first
        terms = [self.as_condition(first)]
        while self.at_word("AND"):
            self.next()
            terms.append(self.as_condition(self.negation()))
        return And(tuple(terms))

    def as_condition(self, result: Condition | Operand) -> Condition:
        if not isinstance(result, _CONDITIONS):
            raise self.syntax_error()
        return result

    def negation(self) -> Condition | Operand:
        if self.at_word("NOT"):
            self.next()
            self.nest()
            term = self.as_condition(self.negation())
            self.depth -= 1
            return Not(term)
        return self.primary()

    def primary(self) -> Condition | Operand:
        result = self.primary_body()
        if isinstance(result, _CONDITIONS):
            self.leaf()
        return result

    def primary_body(self) -> Condition | Operand:
        left: Operand
        if self.at_op("("):
            self.next()
            self.nest()
            inner = self.disjunction()
            self.close(inner)
            if isinstance(inner, _CONDITIONS):
                return inner
            left = self.continued(inner)
        else:
            left = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARATORS:
            self.next()
            right = self.operand()
            for side in (left, right):
                self.check_comparable(side, tok.text)
            self.check_distinct(tok.text, left, (right,))
            return Compare(tok.text, left, right)  # type: ignore[arg-type]
        if self.at_word("BETWEEN"):
            self.next()
            low = self.operand()
            if not self.at_word("AND"):
                raise self.syntax_error()
            self.next()
            high = self.operand()
            for o in (left, low, high):
                self.check_comparable(o, "BETWEEN")
            self.check_distinct("BETWEEN", left, (low, high))
            self.check_between(low, high)
            return Between(left, low, high)
        if self.at_word("IN"):
            self.next()
            self.expect_op("(")
            options = [self.operand()]
            while self.at_op(","):
                self.next()
                options.append(self.operand())
            self.expect_op(")")
            if len(options) > MAX_IN_OPERANDS:
                self.defer("function", "The IN operator is provided with too many operands; "
                                   f"number of operands: {len(options)}")
            for o in (left, *options):
                self.check_comparable(o, "IN")
            self.check_distinct("IN", left, options)
            return In(left, tuple(options))
        if isinstance(left, Call) and left.name in _CONDITION_FUNCTIONS:
            return Function(left.name, left.args)
        if isinstance(left, Call) and left.name in _OPERAND_FUNCTIONS:
            self.defer("misused_function", f"The function is not allowed to be used this way in an expression; "
                                f"function: {left.name}")
            return Function(left.name, left.args)
        if isinstance(left, Call):
            return Function(left.name, left.args)  # an unknown or misplaced name: already deferred
        return left

    def check_comparable(self, operand: Operand, operator: str) -> None:
        """An operand of a comparison: a boolean function is not one; ordering needs S, N or B."""
        if isinstance(operand, Call) and operand.name in _CONDITION_FUNCTIONS:
            self.defer("misused_function", "The function is not allowed to be used this way in an expression; "
                                f"function: {operand.name}")
        elif operator in ("<", "<=", ">", ">=", "BETWEEN"):
            self.check_type(operand, operator, v.SCALAR_KEY_TYPES)

    def check_between(self, low: Operand, high: Operand) -> None:
        if not (isinstance(low, ValueOperand) and isinstance(high, ValueOperand)):
            return
        if low.name not in self.ph.values or high.name not in self.ph.values:
            return
        shown = (f"lower bound operand: AttributeValue: {show_value(low.value)}, "
                 f"upper bound operand: AttributeValue: {show_value(high.value)}")
        if v.value_type(low.value) != v.value_type(high.value):
            self.defer("function", f"The BETWEEN operator requires same data type for lower and upper bounds; {shown}")
            return
        order = v.compare(low.value, high.value)
        if order is not None and order > 0:
            self.defer("function", "The BETWEEN operator requires upper bound to be greater than or equal to lower "
                               f"bound; {shown}")

    # updates
    def update(self) -> Update:
        sets: list[SetAction] = []
        removes: list[Path] = []
        adds: list[AddAction] = []
        deletes: list[DeleteAction] = []
        seen: set[str] = set()
        written: list[Path] = []  # in the text's order, as DynamoDB's overlap messages name them
        while True:
            tok = self.peek()
            clause = tok.text.upper() if tok.kind == "name" else ""
            if clause not in _CLAUSES:
                raise self.syntax_error()
            self.next()
            if clause in seen:
                self.defer("section", f'The "{clause}" section can only be used once in an update expression;')
            seen.add(clause)
            while True:
                if clause == "SET":
                    path = self.path()
                    self.expect_op("=")
                    sets.append(SetAction(path, self.set_value()))
                elif clause == "REMOVE":
                    path = self.path()
                    removes.append(path)
                else:
                    path = self.path()
                    value = self.value()
                    self.check_add_delete(clause, value)
                    if clause == "ADD":
                        adds.append(AddAction(path, value.value))
                    else:
                        deletes.append(DeleteAction(path, value.value))
                written.append(path)
                if not self.at_op(","):
                    break
                self.next()
            if self.peek().kind == "eof":
                break
        update = Update(tuple(sets), tuple(removes), tuple(adds), tuple(deletes))
        problem = _overlap(written)
        if problem:
            self.defer("paths", problem)
        return update

    def check_add_delete(self, clause: str, value: ValueOperand) -> None:
        if value.name not in self.ph.values:
            return
        kind = v.value_type(value.value)
        allowed = ("N", "SS", "NS", "BS") if clause == "ADD" else ("SS", "NS", "BS")
        if kind not in allowed:
            self.defer("add_delete", "Incorrect operand type for operator or function; "
                                    f"operator: {clause}, operand type: {_TYPE_NAMES[kind]}")

    def set_value(self) -> Operand:
        left = self.set_operand()
        if self.at_op("+") or self.at_op("-"):
            op = self.next().text
            right = self.set_operand()
            for side in (left, right):
                self.check_typed(side, op, ("N",))
            return Arithmetic(op, left, right)  # type: ignore[arg-type]
        return left

    def set_operand(self) -> Operand:
        """A path, a value, a function call, or a SET value in parentheses (which, unlike in a
        condition, a path may not continue after: (b.c).d is a syntax error)."""
        tok = self.peek()
        if tok.kind == "op" and tok.text == "(":
            self.next()
            self.nest()
            inner = self.set_value()
            self.close(inner)
            return inner
        if tok.kind == "name" and self.peek(1).kind == "op" and self.peek(1).text == "(":
            call = self.call_in_update()
            return call
        if tok.kind == ":":
            return self.value()
        if tok.kind in ("name", "#"):
            return PathOperand(self.path())
        raise self.syntax_error(tok)

    def call_in_update(self) -> Call:
        name = self.next().text
        self.expect_op("(")
        self.nest()
        args = [self.set_operand()]
        while self.at_op(","):
            self.next()
            args.append(self.set_operand())
        self.expect_op(")")
        self.depth -= 1
        if name not in _UPDATE_FUNCTIONS:
            if name in _CONDITION_FUNCTIONS or name in _OPERAND_FUNCTIONS:
                self.defer("misused_function", f"The function is not allowed in an update expression; function: {name}")
            else:
                self.defer("unknown_function", f"Invalid function name; function: {name}")
        elif len(args) != _UPDATE_FUNCTIONS[name]:
            self.defer("operand", "Incorrect number of operands for operator or function; "
                               f"operator or function: {name}, number of operands: {len(args)}")
        elif name == "if_not_exists":
            if not isinstance(args[0], PathOperand):
                self.defer("function",
                           "Operator or function requires a document path; operator or function: if_not_exists")
        else:
            for arg in args:
                self.check_typed(arg, "list_append", ("L",))
        return Call(name, tuple(args))

    def check_typed(self, operand: Operand, operator: str, allowed: tuple[str, ...]) -> None:
        if isinstance(operand, ValueOperand) and operand.name in self.ph.values:
            kind = v.value_type(operand.value)
            if kind not in allowed:
                self.defer("function", "Incorrect operand type for operator or function; "
                                   f"operator or function: {operator}, operand type: {kind}")

    def projection(self) -> tuple[Path, ...]:
        paths = [self.path()]
        while self.at_op(","):
            self.next()
            paths.append(self.path())
        problem = _overlap(paths)
        if problem:
            self.defer("paths", problem)
        return tuple(paths)


class _Node:
    __slots__ = ("children", "end", "first")

    def __init__(self, first: int) -> None:
        self.children: dict[PathElement, _Node] = {}
        self.end: int | None = None  # the first path ending here
        self.first = first  # the first path reaching here


def _overlap(paths: Iterable[Path]) -> str | None:
    """DynamoDB's refusal of two paths where one contains the other (overlap), else of two that go
    through one place as a map and as a list (conflict). Linear in the paths' length: a trie."""
    listed = list(paths)
    if len(listed) < 2:
        return None
    root = _Node(-1)
    for j, path in enumerate(listed):
        node = root
        for element in path:
            if node.end is not None:
                return _overlap_message(listed[node.end], path)
            child = node.children.get(element)
            if child is None:
                child = node.children[element] = _Node(j)
            node = child
        if node.end is not None:
            return _overlap_message(listed[node.end], path)
        if node.children:
            return _overlap_message(listed[node.first], path)
        node.end = j
    worst: tuple[int, int] | None = None
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children.values())
        as_list = [c.first for k, c in node.children.items() if isinstance(k, int)]
        as_map = [c.first for k, c in node.children.items() if not isinstance(k, int)]
        if as_list and as_map:
            pair = tuple(sorted((min(as_list), min(as_map))))
            if worst is None or (pair[1], pair[0]) < (worst[1], worst[0]):
                worst = (pair[0], pair[1])
    if worst is not None:
        return ("Two document paths conflict with each other; must remove or rewrite one of these paths; "
                f"path one: {show_path(listed[worst[0]])}, path two: {show_path(listed[worst[1]])}")
    return None


def _overlap_message(one: Path, two: Path) -> str:
    return ("Two document paths overlap with each other; must remove or rewrite one of these paths; "
            f"path one: {show_path(one)}, path two: {show_path(two)}")


# --- parse entry points ----------------------------------------------------------------------------

def _start(text: str, ph: Placeholders, kind: str) -> _Parser:
    if not text:
        raise _error(kind, "The expression can not be empty;")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_EXPRESSION_BYTES:
        suffix = f" expression size: {size}" if kind in ("ConditionExpression", "FilterExpression") else ""
        raise _error(kind, f"Expression size has exceeded the maximum allowed size;{suffix}")
    return _Parser(text, ph, kind)


def parse_condition(text: str, ph: Placeholders, kind: str = "ConditionExpression") -> Condition:
    """A ConditionExpression or FilterExpression (`kind` names it in errors)."""
    parser = _start(text, ph, kind)
    condition = parser.condition()
    parser.finish()
    return condition


def parse_update(text: str, ph: Placeholders) -> Update:
    parser = _start(text, ph, "UpdateExpression")
    update = parser.update()
    parser.finish()
    return update


def parse_projection(text: str, ph: Placeholders) -> tuple[Path, ...]:
    parser = _start(text, ph, "ProjectionExpression")
    paths = parser.projection()
    parser.finish()
    return paths


def parse_key_condition(text: str, ph: Placeholders, hash_key: tuple[str, str],
                        range_key: tuple[str, str] | None = None) -> KeyCondition:
    """A KeyConditionExpression against a key schema: ``hash_key`` and ``range_key`` are
    (attribute name, "S" | "N" | "B") of the table or index queried."""
    kind = "KeyConditionExpression"
    parser = _start(text, ph, kind)
    condition = parser.condition()
    parser.finish()
    found = _key_terms(condition)
    hash_name, hash_type = hash_key
    if hash_name not in found:
        raise DynamoDbError(f"Query condition missed key schema element: {hash_name}")
    extra = [n for n in found if n != hash_name and (range_key is None or n != range_key[0])]
    if extra:
        if range_key is None:
            raise DynamoDbError("Query key condition not supported")
        raise DynamoDbError(f"Query condition missed key schema element: {range_key[0]}")
    hash_op, hash_operands = found[hash_name]
    if hash_op != "=":
        raise DynamoDbError("Query key condition not supported")
    hash_value = _key_value(hash_operands[0], hash_type)
    if range_key is None or range_key[0] not in found:
        return KeyCondition(hash_name, hash_value)
    range_name, range_type = range_key
    op, operands = found[range_name]
    return KeyCondition(hash_name, hash_value, range_name, op, tuple(_key_value(o, range_type) for o in operands))


_AS_RANGE: dict[str, RangeOp] = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FLIPPED: dict[str, RangeOp] = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _key_terms(condition: Condition) -> dict[str, tuple[RangeOp, tuple[Operand, ...]]]:
    """The key conditions ANDed together, {attribute: (op, value operands)}, with DynamoDB's
    structural refusals in its order (they come before any look at the key schema)."""
    found: dict[str, tuple[RangeOp, tuple[Operand, ...]]] = {}
    pending: list[Condition] = [condition]
    while pending:
        term = pending.pop()
        if isinstance(term, And):
            pending.extend(reversed(term.terms))  # left to right
            continue
        if isinstance(term, Or | Not | In):
            word = {Or: "OR", Not: "NOT", In: "IN"}[type(term)]
            raise DynamoDbError(f"Invalid operator used in KeyConditionExpression: {word}")
        if isinstance(term, Compare) and term.op == "<>":
            raise DynamoDbError("Invalid operator used in KeyConditionExpression: <>")
        if isinstance(term, Function) and term.name != "begins_with":
            raise DynamoDbError(f"Invalid operator used in KeyConditionExpression: {term.name}")
        operands: tuple[Operand, ...]
        if isinstance(term, Compare):
            op: RangeOp = _AS_RANGE[term.op]
            operands = (term.left, term.right)
        elif isinstance(term, Between):
            op, operands = "BETWEEN", (term.operand, term.low, term.high)
        else:
            assert isinstance(term, Function)
            op, operands = "begins_with", term.args
        if op in ("BETWEEN", "begins_with") and not isinstance(operands[0], PathOperand):
            raise DynamoDbError(f"Invalid condition in KeyConditionExpression: {op} operator must have the key "
                                "attribute as its first operand")
        name: str | None = None
        position = 0
        for i, operand in enumerate(operands):
            if isinstance(operand, PathOperand):
                if name is not None:
                    raise DynamoDbError("Invalid condition in KeyConditionExpression: Multiple attribute names used "
                                        "in one condition")
                if len(operand.path) > 1:
                    raise DynamoDbError("KeyConditionExpressions cannot have conditions on nested attributes")
                name, position = str(operand.path[0]), i
            elif isinstance(operand, Call):
                raise DynamoDbError("KeyConditionExpressions cannot contain nested operations")
        if name is None:
            raise DynamoDbError("Invalid condition in KeyConditionExpression: No key attribute specified")
        if name in found:
            raise DynamoDbError("KeyConditionExpressions must only contain one condition per key")
        if position:  # :v < sk is sk > :v
            op = _FLIPPED[op]
        found[name] = (op, tuple(o for i, o in enumerate(operands) if i != position))
    if len(found) > 2:
        raise DynamoDbError("Conditions can be of length 1 or 2 only")
    return found


def _key_value(operand: Operand, key_type: str) -> AttributeValue:
    assert isinstance(operand, ValueOperand)  # _key_terms let only values besides the key through
    if v.value_type(operand.value) != key_type:
        raise DynamoDbError("One or more parameter values were invalid: Condition parameter type does not match "
                            "schema type")
    return operand.value


# --- evaluation ------------------------------------------------------------------------------------

def resolve(item: Item | None, path: Path) -> AttributeValue | None:
    """The value at `path` in `item`, or None when any step is missing or of the wrong type."""
    if not item:
        return None
    first = path[0]
    if not isinstance(first, str):
        return None
    current: AttributeValue | None = item.get(first)
    for element in path[1:]:
        if current is None:
            return None
        if isinstance(element, int):
            seq = current.get("L")
            current = seq[element] if seq is not None and element < len(seq) else None
        else:
            members = current.get("M")
            current = members.get(element) if members is not None else None
    return current


def _operand_value(operand: Operand, item: Item | None) -> AttributeValue | None:
    if isinstance(operand, ValueOperand):
        return operand.value
    if isinstance(operand, PathOperand):
        return resolve(item, operand.path)
    if isinstance(operand, Call) and operand.name == "size":
        target = _operand_value(operand.args[0], item)
        return _size(target)
    return None


def _size(av: AttributeValue | None) -> AttributeValue | None:
    if av is None:
        return None
    kind = v.value_type(av)
    if kind == "S":  # in bytes, as DynamoDB documents size (PartiQL's size: "an attribute's size in bytes")
        return {"N": str(len(av["S"].encode("utf-8", "surrogatepass")))}
    if kind in ("B", "SS", "NS", "BS", "L", "M"):
        return {"N": str(len(av[kind]))}
    return None


def _ordered(op: str, a: AttributeValue, b: AttributeValue) -> bool:
    order = v.compare(a, b)
    if order is None:
        return False
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    if op == ">=":
        return order >= 0
    return order == 0


def _begins_with(target: AttributeValue, prefix: AttributeValue) -> bool:
    kind = v.value_type(target)
    if kind != v.value_type(prefix) or kind not in ("S", "B"):
        return False
    return bool(target[kind].startswith(prefix[kind]))


def _contains(target: AttributeValue, needle: AttributeValue) -> bool:
    kind, needle_kind = v.value_type(target), v.value_type(needle)
    if kind in ("S", "B"):
        return needle_kind == kind and needle[kind] in target[kind]
    if kind in ("SS", "NS", "BS"):
        if needle_kind != kind[0]:
            return False
        member = Decimal(needle["N"]) if needle_kind == "N" else needle[needle_kind]
        return member in v.set_members(target)
    if kind == "L":
        return any(v.values_equal(element, needle) for element in target["L"])
    return False


def evaluate(condition: Condition, item: Item | None) -> bool:
    """Whether `item` (None: no item) satisfies `condition`. Recursion is bounded by MAX_NESTING."""
    if isinstance(condition, And):
        return all(evaluate(t, item) for t in condition.terms)
    if isinstance(condition, Or):
        return any(evaluate(t, item) for t in condition.terms)
    if isinstance(condition, Not):
        return not evaluate(condition.term, item)
    if isinstance(condition, Compare):
        left, right = _operand_value(condition.left, item), _operand_value(condition.right, item)
        if condition.op in ("=", "<>"):
            equal = left is not None and right is not None and v.values_equal(left, right)
            return equal if condition.op == "=" else not equal
        return left is not None and right is not None and _ordered(condition.op, left, right)
    if isinstance(condition, Between):
        x = _operand_value(condition.operand, item)
        low, high = _operand_value(condition.low, item), _operand_value(condition.high, item)
        return (x is not None and low is not None and high is not None
                and _ordered(">=", x, low) and _ordered("<=", x, high))
    if isinstance(condition, In):
        x = _operand_value(condition.operand, item)
        if x is None:
            return False
        for option in condition.options:
            candidate = _operand_value(option, item)
            if candidate is not None and v.values_equal(x, candidate):
                return True
        return False
    name, args = condition.name, condition.args
    target = _operand_value(args[0], item)
    if name == "attribute_exists":
        return target is not None
    if name == "attribute_not_exists":
        return target is None
    if target is None:
        return False
    second = _operand_value(args[1], item)
    if second is None:
        return False
    if name == "attribute_type":
        return v.value_type(second) == "S" and v.value_type(target) == second["S"]
    if name == "begins_with":
        return _begins_with(target, second)
    if name == "contains":
        return _contains(target, second)
    return False


# --- projection ------------------------------------------------------------------------------------

def project(item: Item, paths: Iterable[Path]) -> Item:
    """`item` cut down to `paths` (absent ones left out), as DynamoDB answers a ProjectionExpression."""
    out: dict[str, Any] = {}
    for path in paths:
        value = resolve(item, path)
        if value is not None:
            _place(out, item, path, value)
    return {name: _finish(value) for name, value in out.items()}


def _place(out: dict[str, Any], item: Item, path: Path, value: AttributeValue) -> None:
    """Put `value` at `path` in the skeleton `out`, making containers shaped like `item`'s."""
    first = path[0]
    assert isinstance(first, str)
    source: AttributeValue = item[first]
    holder: dict[Any, Any] = out
    key: Any = first
    for element in path[1:]:
        container = holder.get(key)
        if not isinstance(container, _Skeleton):
            container = _Skeleton(v.value_type(source))
            holder[key] = container
        holder, key = container.children, element
        source = source["L"][element] if isinstance(element, int) else source["M"][element]
    holder[key] = value


class _Skeleton:
    """A map or list being built by ``project``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.children: dict[Any, Any] = {}


def _finish(value: Any) -> AttributeValue:
    if not isinstance(value, _Skeleton):
        done: AttributeValue = value
        return done
    if value.kind == "L":
        return {"L": [_finish(value.children[i]) for i in sorted(value.children)]}
    return {"M": {k: _finish(c) for k, c in value.children.items()}}


# --- updates ---------------------------------------------------------------------------------------

_INVALID_PATH = "The document path provided in the update expression is invalid for update"
_WRONG_TYPE = "An operand in the update expression has an incorrect data type"
_LEGACY_WRONG_TYPE = "Type mismatch for attribute to update"
_MISSING = "The provided expression refers to an attribute that does not exist in the item"


def _set_value(operand: Operand, item: Item) -> AttributeValue:
    if isinstance(operand, ValueOperand):
        return operand.value
    if isinstance(operand, PathOperand):
        found = resolve(item, operand.path)
        if found is None:
            raise DynamoDbError(_MISSING)
        return found
    if isinstance(operand, Arithmetic):
        left, right = _set_value(operand.left, item), _set_value(operand.right, item)
        if v.value_type(left) != "N" or v.value_type(right) != "N":
            raise DynamoDbError(_WRONG_TYPE)
        if operand.op == "+":
            return v.add_numbers(v.number(left), v.number(right))
        return v.subtract_numbers(v.number(left), v.number(right))
    assert isinstance(operand, Call)
    if operand.name == "if_not_exists":
        target = operand.args[0]
        assert isinstance(target, PathOperand)
        found = resolve(item, target.path)
        return found if found is not None else _set_value(operand.args[1], item)
    # list_append
    first, second = (_set_value(a, item) for a in operand.args)
    if v.value_type(first) != "L" or v.value_type(second) != "L":
        raise DynamoDbError(_WRONG_TYPE)
    return {"L": [*first["L"], *second["L"]]}


class _Writer:
    """The new item being built: containers are copied once, when first written through (copy on
    write: the old item stays intact, and many actions on one big list copy it once, not each time)."""

    def __init__(self, old: Item) -> None:
        self.item: Item = dict(old)
        self.fresh: set[int] = set()  # ids of the containers this writer made

    def along(self, path: Path) -> tuple[Any, Any] | None:
        """The (writable) container holding the last element of `path`, and that element; None when
        the path does not lead there (a missing parent, or a map where the path indexes a list or
        the reverse)."""
        if len(path) == 1:
            return self.item, path[0]
        holder: Any = self.item
        key: Any = path[0]
        current: AttributeValue | None = self.item.get(str(key))
        for element in path[1:]:
            want = "L" if isinstance(element, int) else "M"
            if current is None or want not in current:
                return None
            if id(current) not in self.fresh:
                current = {want: list(current[want]) if want == "L" else dict(current[want])}
                self.fresh.add(id(current))
                holder[key] = current
            holder, key = current[want], element
            if isinstance(element, int):
                current = holder[element] if element < len(holder) else None
            else:
                current = holder.get(element)
        return holder, key

    def assign(self, path: Path, value: AttributeValue) -> None:
        found = self.along(path)
        if found is None:
            raise DynamoDbError(_INVALID_PATH)
        holder, key = found
        if isinstance(holder, list):
            if key < len(holder):
                holder[key] = value
            else:
                holder.append(value)
        else:
            holder[key] = value

    def remove(self, path: Path) -> None:
        """REMOVE (and an emptied set): a missing element is fine, an impossible path is not."""
        found = self.along(path)
        if found is None:
            raise DynamoDbError(_INVALID_PATH)
        holder, key = found
        if isinstance(holder, list):
            if key < len(holder):
                del holder[key]
        else:
            holder.pop(key, None)


def _leads_somewhere(item: Item, path: Path) -> bool:
    """Whether `path`'s parent exists with the right container type (without writing anything)."""
    current: AttributeValue | None = item.get(str(path[0]))
    for element in path[1:]:
        want = "L" if isinstance(element, int) else "M"
        if current is None or want not in current:
            return False
        children = current[want]
        current = (children[element] if element < len(children) else None) if isinstance(element, int) \
            else children.get(element)
    return True


def apply_update(update: Update, item: Item | None) -> Item:
    """The item after `update` (a new dict: `item` is left as it was). Operands read the old item."""
    try:
        return _apply(update, item)
    except DynamoDbError as exc:
        if update.legacy and exc.message == _WRONG_TYPE:
            raise DynamoDbError(_LEGACY_WRONG_TYPE) from None
        raise


def _apply(update: Update, item: Item | None) -> Item:
    old: Item = item or {}
    writer = _Writer(old)
    # Within a list, elements are set (and added to) in ascending index order whatever the
    # expression's order: SET l[4] = :x, l[2] = :y on a 2-element list appends :y, then :x.
    values = sorted(((action.path, _set_value(action.value, old)) for action in update.sets),
                    key=lambda pair: _index_order(pair[0]))
    for path, value in values:
        if len(path) - 1 + _levels(value) > v.MAX_NESTING:
            raise DynamoDbError("Nesting Levels have exceeded supported limits")
        writer.assign(path, value)
    # REMOVE: list elements by descending index, so each index means the one in the old list.
    for path in sorted(update.removes, key=lambda p: p[-1] if isinstance(p[-1], int) else -1, reverse=True):
        writer.remove(path)
    for add in sorted(update.adds, key=lambda a: _index_order(a.path)):
        current = resolve(writer.item, add.path)
        kind = v.value_type(add.value)
        if current is None:
            result = add.value
        elif v.value_type(current) != kind:
            raise DynamoDbError(_WRONG_TYPE)
        elif kind == "N":
            result = v.add_numbers(v.number(current), v.number(add.value))
        else:
            result = {kind: _set_union(kind, current[kind], add.value[kind])}
        writer.assign(add.path, result)
    for delete in update.deletes:
        current = resolve(writer.item, delete.path)
        kind = v.value_type(delete.value)
        if current is None:
            if not _leads_somewhere(writer.item, delete.path):
                raise DynamoDbError(_INVALID_PATH)
            continue
        if v.value_type(current) != kind:
            raise DynamoDbError(_WRONG_TYPE)
        remaining = _set_difference(kind, current[kind], delete.value[kind])
        if remaining:
            writer.assign(delete.path, {kind: remaining})
        else:
            writer.remove(delete.path)
    return writer.item


def _levels(av: AttributeValue) -> int:
    """How many maps and lists nest in `av` (0 for a scalar or a set). Iterative."""
    deepest = 0
    stack: list[tuple[AttributeValue, int]] = [(av, 0)]
    while stack:
        value, depth = stack.pop()
        if "M" in value:
            stack.extend((child, depth + 1) for child in value["M"].values())
            deepest = max(deepest, depth + 1)
        elif "L" in value:
            stack.extend((child, depth + 1) for child in value["L"])
            deepest = max(deepest, depth + 1)
    return deepest


def _index_order(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple((1, e) if isinstance(e, int) else (0, e) for e in path)


def _set_union(kind: str, current: list[Any], extra: list[Any]) -> list[Any]:
    if kind == "NS":
        seen = {Decimal(m) for m in current}
        return [*current, *(m for m in extra if Decimal(m) not in seen)]
    have = set(current)
    return [*current, *(m for m in extra if m not in have)]


def _set_difference(kind: str, current: list[Any], gone: list[Any]) -> list[Any]:
    if kind == "NS":
        drop = {Decimal(m) for m in gone}
        return [m for m in current if Decimal(m) not in drop]
    removed = set(gone)
    return [m for m in current if m not in removed]
