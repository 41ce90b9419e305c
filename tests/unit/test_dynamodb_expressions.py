"""DynamoDB's expression languages and legacy parameters (services/dynamodb/expressions.py,
legacy.py): parsing in DynamoDB's words, evaluation, updates, projections, key conditions, and
hostile input (long, deep, repetitive) answered quickly and without recursion errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb import legacy
from lambdad.services.dynamodb.expressions import (
    MAX_NESTING,
    KeyCondition,
    Placeholders,
    apply_update,
    condition_top_level_names,
    evaluate,
    parse_condition,
    parse_key_condition,
    parse_projection,
    parse_update,
    project,
    updated_top_level_names,
)
from lambdad.services.dynamodb.reserved_words import RESERVED_WORDS

ITEM: dict[str, Any] = {
    "pk": {"S": "user#1"},
    "name": {"S": "Ana"},
    "age": {"N": "42"},
    "score": {"N": "-1.5"},
    "bin": {"B": b"\x01\x02\x03"},
    "ok": {"BOOL": True},
    "nothing": {"NULL": True},
    "tags": {"SS": ["red", "blue"]},
    "nums": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"\x01", b"\x02"]},
    "lst": {"L": [{"S": "a"}, {"N": "2"}, {"M": {"deep": {"S": "x"}}}]},
    "doc": {"M": {"inside": {"M": {"n": {"N": "7"}}}, "s": {"S": "hello"}}},
}
VALUES: dict[str, Any] = {
    ":s": {"S": "Ana"}, ":n": {"N": "42"}, ":small": {"N": "1"}, ":big": {"N": "100"}, ":red": {"S": "red"},
    ":An": {"S": "An"}, ":b1": {"B": b"\x01"}, ":true": {"BOOL": True}, ":null": {"NULL": True},
    ":lst": {"L": [{"S": "z"}]}, ":tagset": {"SS": ["red"]}, ":type_s": {"S": "S"}, ":type_n": {"S": "N"},
    ":two": {"N": "2"}, ":seven": {"N": "7"}, ":hello": {"S": "hello"}, ":mapv": {"M": {"deep": {"S": "x"}}},
    ":ns": {"NS": ["2.50"]},
}
NAMES = {"#n": "name", "#status": "status", "#dot": "a.b", "#idx": "[3]"}


def ph(names: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> Placeholders:
    """The request's placeholders: the shared ones unless given ({} for none at all)."""
    names = NAMES if names is None else names
    values = VALUES if values is None else values
    return Placeholders(names or None, values or None)


def cond(text: str, item: dict[str, Any] | None = ITEM, **kw: Any) -> bool:
    return evaluate(parse_condition(text, ph(**kw)), item)


def refusal(fn: Any, *args: Any) -> str:
    with pytest.raises(DynamoDbError) as caught:
        fn(*args)
    assert caught.value.code == "ValidationException"
    return caught.value.message


def condition_refusal(text: str, kind: str = "FilterExpression", **kw: Any) -> str:
    return refusal(parse_condition, text, ph(**kw), kind)


# --- evaluation ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("#n = :s", True), ("#n <> :s", False), ("age = :n", True), ("age <> :n", False),
    ("age < :big", True), ("age <= :n", True), ("age > :n", False), ("age >= :n", True),
    ("score < :small", True), ("age BETWEEN :small AND :big", True), ("age BETWEEN :small AND :two", False),
    ("#n IN (:red, :s)", True), ("#n IN (:red)", False), ("age IN (:n)", True),
    ("attribute_exists(age)", True), ("attribute_exists(absent)", False),
    ("attribute_not_exists(absent)", True), ("attribute_not_exists(doc.inside.n)", False),
    ("attribute_exists(lst[2].deep)", True), ("attribute_exists(lst[3])", False),
    ("attribute_exists(doc[0])", False), ("attribute_exists(lst.x)", False),
    ("attribute_type(age, :type_n)", True), ("attribute_type(age, :type_s)", False),
    ("begins_with(#n, :An)", True), ("begins_with(#n, :s)", True), ("begins_with(age, :An)", False),
    ("begins_with(bin, :b1)", True), ("begins_with(doc.s, :hello)", True),
    ("contains(tags, :red)", True), ("contains(tags, :s)", False), ("contains(#n, :An)", True),
    ("contains(nums, :ns)", False), ("contains(lst, :mapv)", True), ("contains(bin, :b1)", True),
    ("contains(blobs, :b1)", True), ("contains(age, :n)", False),
    ("size(#n) = :small", False), ("size(tags) = :two", True), ("size(lst) > :two", True),
    ("size(doc) = :two", True), ("size(bin) < :n", True), ("size(age) = :two", False),
    ("size(absent) < :big", False), ("size(:hello) = :small", False),
    ("doc.inside.n = :seven", True), ("doc.inside.n = lst[1]", False), ("lst[1] = :two", True),
    ("#n = :s AND age = :n", True), ("#n = :s AND age <> :n", False), ("#n <> :s OR age = :n", True),
    ("NOT #n = :s", False), ("NOT NOT #n = :s", True), ("NOT (#n = :s AND age = :n)", False),
    # AND binds tighter than OR; NOT tighter than AND.
    ("#n = :red AND age = :n OR age = :n", True), ("age = :n OR #n = :red AND age = :small", True),
    ("(age = :n OR #n = :red) AND age = :small", False), ("NOT age = :small AND age = :n", True),
    ("absent = :s", False), ("absent <> :s", True), ("absent < :s", False), ("#n < :n", False),
    ("ok = :true", True), ("nothing = :null", True), ("lst[0] = :s", False),
    ("(age) = :n", True), ("age BETWEEN (:small) AND (:big)", True),
    ("age = :small OR age = :two OR age = :n", True), ("AGE = :n", False), ("#n = :s and age = :n", True),
])
def test_conditions_evaluate_as_dynamodb_does(text: str, expected: bool) -> None:
    assert cond(text) is expected


def test_size_of_a_string_is_in_utf8_bytes() -> None:
    values = {":two": {"N": "2"}, ":four": {"N": "4"}}
    item = {"s": {"S": "\u00e9\u00e9"}}
    assert evaluate(parse_condition("size(s) = :four", Placeholders(None, values)), item)
    assert not evaluate(parse_condition("size(s) = :two", Placeholders(None, values)), item)


def test_without_an_item_only_absence_holds() -> None:
    assert cond("attribute_not_exists(pk)", None)
    assert not cond("attribute_exists(pk)", None)
    assert not cond("#n = :s", {})
    assert cond("#n <> :s", None)


def test_numbers_compare_numerically_and_sets_regardless_of_order() -> None:
    item = {"n": {"N": "10"}, "s": {"SS": ["b", "a"]}, "ns": {"NS": ["1", "2"]}}
    values = {":nine": {"N": "9.0"}, ":set": {"SS": ["a", "b"]}, ":nset": {"NS": ["2.0", "1"]}}
    assert evaluate(parse_condition("n > :nine", Placeholders(None, values)), item)
    assert evaluate(parse_condition("s = :set", Placeholders(None, values)), item)
    assert evaluate(parse_condition("ns = :nset", Placeholders(None, values)), item)


# --- refusals, in DynamoDB's words -----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "things are not gonna be ok", "a > 4", "attribute_exists(Pictures-RearView)",
    'attribute_exists("Pictures.RearView")', "attribute_exists(Pictures..RearView)",
    "attribute_exists(Pi#ctures.RearView)", "attribute_exists(asdf[a])", "a in b, c", "a > between", "a in b",
    "a in (b,c,)", "(a)between(b.(c.d))and(c)", "(a)between(b.c.d)and((c)", "#$.b > a", "a > :things.stuff",
    "b[:a] > a", "b[#_] > a", "\u00fc > a", "(a)between(b.c[4.5].#d)and(:a)", "size(a).b > a", "(size(a)).b > a",
    "size(a)[0] > a", "(size(a))[0] > a", "a", "NOT a", "a = ", "a = :v AND", "a = :v OR OR b = :v", "()",
    "a[-1] = :v", "a = :v )", "(a = :v", "a == :v", "a != :v", "a = :v b = :v", "AND = :v",
])
def test_syntax_errors(text: str) -> None:
    assert condition_refusal(text, values={":v": {"S": "x"}, ":a": {"S": "x"}}).startswith(
        "Invalid FilterExpression: Syntax error; token: ")


@pytest.mark.parametrize(("text", "message"), [
    ("foo", 'Syntax error; token: "<EOF>", near: "foo"'),
    ("a+:v<b", 'Syntax error; token: "+", near: "a+:v"'),
    ("contains (themes, :v", 'Syntax error; token: "<EOF>", near: ":v"'),
    ("attribute_not_exists(", 'Syntax error; token: "<EOF>", near: "("'),
    ("a[abc] = :v", 'Syntax error; token: "abc", near: "[abc]"'),
    ("a[-1] = :v", 'Syntax error; token: "-", near: "[-1"'),
    ("NOT (a)", 'Syntax error; token: "<EOF>", near: ")"'),
])
def test_syntax_errors_name_the_token_and_what_is_near(text: str, message: str) -> None:
    assert condition_refusal(text, "ConditionExpression", values={":v": {"S": "x"}}) == \
        f"Invalid ConditionExpression: {message}"


@pytest.mark.parametrize("text", [
    "a=a and a > ((views))", "(a)between(((b.c)).d)and(c)", "a > whatever((:things), ((a)))",
    "a=a AND ((a=a AND a=a)) AND a=a", "a=a OR ((a=a OR a=a)) OR a=a", "a=a AND ((a=a AND (a=a AND a=a)))",
    "a=a OR ((a=a OR (a=a OR a=a)))", "((a = :v))",
])
def test_redundant_parentheses(text: str) -> None:
    assert condition_refusal(text, values={":v": {"S": "x"}, ":things": {"S": "x"}}) == \
        "Invalid FilterExpression: The expression has redundant parentheses;"


def test_single_parentheses_are_fine() -> None:
    assert cond("(age = :n)")
    assert cond("(age = :n) AND ((#n = :s) OR age = :big)")


@pytest.mark.parametrize(("text", "function"), [
    ("a=a and whatever((:things)) > a", "whatever"),
    ("attRIbute_exIsts((views), #a)", "attRIbute_exIsts"),  # function names are case-sensitive
])
def test_invalid_function_names(text: str, function: str) -> None:
    assert condition_refusal(text, names={"#a": "a"}, values={":things": {"S": "x"}}) == \
        f"Invalid FilterExpression: Invalid function name; function: {function}"


@pytest.mark.parametrize(("text", "function"), [
    ("size(a)", "size"), ("a = attribute_exists(b)", "attribute_exists"), ("size(a) AND b = :v", "size"),
    ("contains(attribute_type(a, :v), :v)", "attribute_type"),
    ("a=a and attribute_exists((views), (#a)) > b", "attribute_exists"),
    ("attribute_not_exists(things) > b", "attribute_not_exists"), ("attribute_type(things, :v) > b", "attribute_type"),
    ("begins_with(things, a) > b", "begins_with"), ("contains(:v, c) > b", "contains"),
    ("size(contains(a, b)) > a", "contains"), ("size(things)", "size"),
    ("a between b and attribute_exists(things)", "attribute_exists"),
    ("a in (b, attribute_exists(things))", "attribute_exists"),
])
def test_functions_used_the_wrong_way(text: str, function: str) -> None:
    assert condition_refusal(text, values={":v": {"S": "S"}}) == (
        f"Invalid FilterExpression: The function is not allowed to be used this way in an expression; "
        f"function: {function}")


def test_update_functions_are_not_conditions() -> None:
    assert condition_refusal("if_not_exists(a, :v) = :v", "ConditionExpression", values={":v": {"S": "x"}}) == (
        "Invalid ConditionExpression: The function is not allowed in a condition expression; "
        "function: if_not_exists")


@pytest.mark.parametrize(("text", "word"), [
    ("attribute_exists(views, #a)", "views"), (":a < abOrT", "abOrT"), ("status = :a", "status"),
    ("a.COMMENT = :a", "COMMENT"), ("lst[1].Size = :a", "Size"),
])
def test_reserved_words_are_refused_as_written(text: str, word: str) -> None:
    assert condition_refusal(text, names={"#a": "a"}, values={":a": {"S": "x"}}) == \
        f"Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: {word}"


def test_the_reserved_word_list_is_dynamodbs() -> None:
    assert len(RESERVED_WORDS) == 573
    assert {"STATUS", "NAME", "DATA", "COUNT", "SIZE", "TTL", "ZONE", "ABORT"} <= RESERVED_WORDS
    assert "REMOVE" not in RESERVED_WORDS and "PK" not in RESERVED_WORDS
    assert cond("#status = :s", {"status": {"S": "Ana"}})  # a placeholder stands in for it


@pytest.mark.parametrize(("text", "name"), [
    ("attribute_exists(#Pictures.RearView, :a) and a=a", "#Pictures"),
    ("begins_with(Pictures.#RearView)", "#RearView"),
    ("(#P between :lo and :hi) and (#PC in (:cat1, :cat2))", "#P"),
    ("#4g > a", "#4g"), ("#_ > a", "#_"), ("(a)between(b.c[45].#d)and(:a)", "#d"),
])
def test_undefined_names_are_reported_in_order(text: str, name: str) -> None:
    assert condition_refusal(text, names={"#x": "x"}, values={":x": {"S": "x"}}) == (
        "Invalid FilterExpression: An expression attribute name used in the document path is not defined; "
        f"attribute name: {name}")


@pytest.mark.parametrize(("text", "value"), [
    ("begins_with(:hello, #a, #b)", ":hello"), (":a < :b", ":a"), (":_ > a", ":_"),
])
def test_undefined_values_are_reported_in_order(text: str, value: str) -> None:
    assert condition_refusal(text, names={"#x": "x"}, values={":x": {"S": "x"}}) == (
        "Invalid FilterExpression: An expression attribute value used in expression is not defined; "
        f"attribute value: {value}")


@pytest.mark.parametrize(("text", "function", "count"), [
    ("attribute_exists(things, a) and a=a", "attribute_exists", 2),
    ("attribute_not_exists(things, b)", "attribute_not_exists", 2), ("attribute_type(things)", "attribute_type", 1),
    ("begins_with(things)", "begins_with", 1), ("begins_with(things, size(a), b)", "begins_with", 3),
    ("contains(things)", "contains", 1), ("size(things, a) > b", "size", 2),
])
def test_wrong_number_of_operands(text: str, function: str, count: int) -> None:
    assert condition_refusal(text) == (
        "Invalid FilterExpression: Incorrect number of operands for operator or function; "
        f"operator or function: {function}, number of operands: {count}")


@pytest.mark.parametrize(("text", "function", "value"), [
    ("attribute_type(a, size(a)) and a=a and a=:a", "attribute_type", {"N": "1"}),
    ("attribute_type(a, :a)", "attribute_type", {"N": "1"}),
    ("attribute_type(a, :a)", "attribute_type", {"BOOL": True}),
    ("attribute_type(a, :a)", "attribute_type", {"L": []}),
    ("attribute_type(a, :a)", "attribute_type", {"SS": ["1"]}),
    ("begins_with(a, size(a)) and a=:a", "begins_with", {"N": "1"}),
    ("begins_with(a, :a)", "begins_with", {"N": "1"}), ("begins_with(a, :a)", "begins_with", {"NULL": True}),
    ("begins_with(a, :a)", "begins_with", {"M": {}}), ("begins_with(a, :a)", "begins_with", {"BS": [b"a"]}),
    ("begins_with(:a, a)", "begins_with", {"N": "1"}), ("begins_with(:a, a)", "begins_with", {"SS": ["1"]}),
    ("size(size(a)) > :a", "size", {"N": "1"}), ("attribute_not_exists(size(:a))", "size", {"N": "1"}),
    ("size(:a) > a", "size", {"BOOL": True}), ("size(:a) > a", "size", {"NULL": True}),
    ("a < :a", "<", {"BOOL": True}), ("a BETWEEN :a AND :a", "BETWEEN", {"L": []}),
])
def test_wrong_operand_types(text: str, function: str, value: dict[str, Any]) -> None:
    kind = next(iter(value))
    assert condition_refusal(text, names={}, values={":a": value}) == (
        "Invalid FilterExpression: Incorrect operand type for operator or function; "
        f"operator or function: {function}, operand type: {kind}")


def test_attribute_type_takes_a_value() -> None:
    assert condition_refusal("attribute_type(a, b)", names={}, values={}) == (
        "Invalid FilterExpression: Incorrect operand type for operator or function; operator or function: "
        "attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}")


def test_attribute_type_names_a_valid_type() -> None:
    assert condition_refusal("attribute_type(a, :a)", names={}, values={":a": {"S": "1"}}) == (
        "Invalid FilterExpression: Invalid attribute type name found; type: 1, "
        "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}")


@pytest.mark.parametrize(("text", "function"), [
    ("attribute_exists(:a) and a=a", "attribute_exists"), ("attribute_not_exists(size(:a))", "attribute_not_exists"),
])
def test_functions_that_need_a_path(text: str, function: str) -> None:
    assert condition_refusal(text, names={}, values={":a": {"S": "1"}}) == (
        f"Invalid FilterExpression: Operator or function requires a document path; operator or function: {function}")


@pytest.mark.parametrize(("text", "operator", "path"), [
    ("a = a AND #a = b AND :views > a", "=", "[a]"), ("#a <> a", "<>", "[a]"), ("a > #a", ">", "[a]"),
    ("((a=a) OR (a=a))", "=", "[a]"), ("contains(ab.bc[1].a, ab.bc[1].#a)", "contains", "[ab, bc, [1], a]"),
    ("attribute_type(ab.bc[1].#a, ab.bc[1].a)", "attribute_type", "[ab, bc, [1], a]"),
    ("begins_with(ab.bc[1].a, ab.bc[1].#a)", "begins_with", "[ab, bc, [1], a]"),
])
def test_the_first_operand_must_differ_from_the_others(text: str, operator: str, path: str) -> None:
    assert condition_refusal(text, names={"#a": "a"}, values={":views": {"S": "x"}}) == (
        "Invalid FilterExpression: The first operand must be distinct from the remaining operands for this "
        f"operator or function; operator: {operator}, first operand: {path}")
    assert cond(":n = :n")  # values may repeat


def test_between_bounds_are_checked() -> None:
    assert condition_refusal("age BETWEEN :big AND :small") == (
        "Invalid FilterExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower "
        "bound; lower bound operand: AttributeValue: {N:100}, upper bound operand: AttributeValue: {N:1}")
    assert condition_refusal("age BETWEEN :small AND :s") == (
        "Invalid FilterExpression: The BETWEEN operator requires same data type for lower and upper bounds; "
        "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:Ana}")


def test_in_takes_at_most_100_operands() -> None:
    values = {f":v{i}": {"N": str(i)} for i in range(101)}
    hundred = "a IN (" + ", ".join(f":v{i}" for i in range(100)) + ")"
    assert evaluate(parse_condition(hundred, Placeholders(None, values)), {"a": {"N": "99"}})
    over = "a IN (" + ", ".join(f":v{i}" for i in range(101)) + ")"
    assert refusal(parse_condition, over, Placeholders(None, values)) == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101")


def test_empty_and_oversized_expressions() -> None:
    assert refusal(parse_condition, "", ph()) == "Invalid ConditionExpression: The expression can not be empty;"
    assert refusal(parse_update, "", ph()) == "Invalid UpdateExpression: The expression can not be empty;"
    long_filter = "a" + "z" * 4096 + " = :v"
    assert refusal(parse_condition, long_filter, ph(values={":v": {"S": "x"}}), "FilterExpression") == (
        f"Invalid FilterExpression: Expression size has exceeded the maximum allowed size; "
        f"expression size: {len(long_filter)}")
    assert refusal(parse_projection, "a" + "z" * 4096, ph()) == (
        "Invalid ProjectionExpression: Expression size has exceeded the maximum allowed size;")
    assert refusal(parse_update, "SET a" + "z" * 4096 + " = :v", ph()) == (
        "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size;")
    # Exactly 4 KB is accepted: the limit is on the text as sent, not with the names substituted.
    assert parse_projection("a" + "z" * 4095, ph()) == (("a" + "z" * 4095,),)


def test_document_paths_nest_32_levels_at_most() -> None:
    path = ".".join(["a"] * 32)
    assert parse_projection(path, ph()) == (("a",) * 32,)
    assert refusal(parse_projection, path + ".a", ph()) == (
        "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33")
    assert refusal(parse_projection, "a" + "[0]" * 40, ph()).endswith("nesting levels: 33")


# --- placeholders ----------------------------------------------------------------------------------

def test_placeholder_maps_are_checked() -> None:
    assert refusal(Placeholders, {}, None) == "ExpressionAttributeNames must not be empty"
    assert refusal(Placeholders, None, {}) == "ExpressionAttributeValues must not be empty"
    assert refusal(Placeholders, {"a": "a"}, None) == \
        'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'
    assert refusal(Placeholders, {"#DE": ""}, None) == \
        "ExpressionAttributeNames contains invalid value: Empty attribute name for key #DE"
    assert refusal(Placeholders, None, {":b": {"S": "x"}, "b": {"S": "a"}}) == \
        'ExpressionAttributeValues contains invalid key: Syntax error; key: "b"'
    assert refusal(Placeholders, None, {":b": {}}) == (
        "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain exactly "
        "one of the supported datatypes for key :b")
    assert refusal(Placeholders, None, {":b": {"SS": []}}) == (
        "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: "
        "An string set  may not be empty for key :b")
    assert refusal(Placeholders, None, {":b": {"N": "x"}}) == (
        "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: x "
        "for key :b")


def test_unused_placeholders_are_refused_across_the_request() -> None:
    shared = Placeholders({"#a": "a", "#b": "b"}, {":a": {"S": "a"}, ":b": {"S": "b"}, ":c": {"S": "c"}})
    parse_update("REMOVE #a", shared)
    parse_condition("#b = :b", shared)
    with pytest.raises(DynamoDbError, match=r"^Value provided in ExpressionAttributeValues unused in expressions: "
                                            r"keys: \{:a, :c\}$"):
        shared.check_unused()
    names = Placeholders({"#a": "a", "#b": "b"}, None)
    parse_projection("#a", names)
    with pytest.raises(DynamoDbError, match=r"^Value provided in ExpressionAttributeNames unused in expressions: "
                                            r"keys: \{#b\}$"):
        names.check_unused()
    # A placeholder used only in an expression that failed later still counts as used.
    everything = Placeholders({"#a": "a"}, {":v": {"S": "x"}})
    parse_condition("#a = :v", everything)
    everything.check_unused()


def test_a_leading_underscore() -> None:
    # Refused in conditions (DynamoDB: `Syntax error; token: "_", near: "AND __"`), read in updates
    # and projections.
    assert refusal(parse_key_condition, "pk = :p AND __typename = :p", Placeholders(None, {":p": {"S": "a"}}),
                   ("pk", "S"), None) == 'Invalid KeyConditionExpression: Syntax error; token: "_", near: "AND __"'
    assert parse_projection("_id, a._b", Placeholders()) == (("_id",), ("a", "_b"))
    assert updated_top_level_names(parse_update("SET _id = :v", Placeholders(None, {":v": {"S": "x"}}))) == {"_id"}


def test_names_may_hold_any_text() -> None:
    item = {"a.b": {"S": "dotted"}, "[3]": {"S": "bracketed"}, "a": {"M": {"b": {"S": "nested"}}}}
    values = {":v": {"S": "dotted"}, ":w": {"S": "nested"}, ":x": {"S": "bracketed"}}
    assert evaluate(parse_condition("#dot = :v AND a.b = :w AND #idx = :x", Placeholders(NAMES, values)), item)


# --- projections -----------------------------------------------------------------------------------

def test_projection_keeps_nested_shape() -> None:
    paths = parse_projection("#n, doc.inside.n, lst[2].deep, lst[0], absent, doc.nope", ph())
    assert project(ITEM, paths) == {
        "name": {"S": "Ana"},
        "doc": {"M": {"inside": {"M": {"n": {"N": "7"}}}}},
        "lst": {"L": [{"S": "a"}, {"M": {"deep": {"S": "x"}}}]},
    }


def test_projection_lists_elements_in_index_order() -> None:
    assert project(ITEM, parse_projection("lst[2], lst[0]", ph())) == \
        {"lst": {"L": [{"S": "a"}, {"M": {"deep": {"S": "x"}}}]}}


@pytest.mark.parametrize(("text", "one", "two"), [
    ("a, a.b", "[a]", "[a, b]"), ("a.b, a", "[a, b]", "[a]"), ("a, a", "[a]", "[a]"),
    ("a[1].b, a[1]", "[a, [1], b]", "[a, [1]]"),
])
def test_projection_paths_may_not_overlap(text: str, one: str, two: str) -> None:
    assert refusal(parse_projection, text, ph()) == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of "
        f"these paths; path one: {one}, path two: {two}")


def test_projection_paths_may_not_conflict() -> None:
    assert refusal(parse_projection, "a.b, a[0]", ph()) == (
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of "
        "these paths; path one: [a, b], path two: [a, [0]]")


# --- updates ---------------------------------------------------------------------------------------

def update(text: str, item: dict[str, Any] | None = ITEM, **kw: Any) -> dict[str, Any]:
    return apply_update(parse_update(text, ph(**kw)), item)


def test_set_remove_add_delete() -> None:
    new = update("SET age = age + :small, #n = :red, fresh = :lst REMOVE score, doc.s "
                 "ADD tags :tagset, tally :two DELETE nums :ns")
    assert new["age"] == {"N": "43"}
    assert new["name"] == {"S": "red"}
    assert new["fresh"] == {"L": [{"S": "z"}]}
    assert "score" not in new and new["doc"] == {"M": {"inside": {"M": {"n": {"N": "7"}}}}}
    assert sorted(new["tags"]["SS"]) == ["blue", "red"]
    assert new["tally"] == {"N": "2"}
    assert new["nums"] == {"NS": ["1"]}
    # The old item is untouched (copy on write, nested containers included).
    assert ITEM["age"] == {"N": "42"} and "s" in ITEM["doc"]["M"] and ITEM["nums"] == {"NS": ["1", "2.5"]}


def test_keywords_and_functions_in_any_case() -> None:
    new = update("set a = if_not_exists(a, :small) remove score add tally :two delete nums :ns")
    assert new["a"] == {"N": "1"} and "score" not in new and new["tally"] == {"N": "2"}


def test_operands_read_the_item_before_the_update() -> None:
    item = {"a": {"N": "1"}, "b": {"N": "2"}}
    new = apply_update(parse_update("SET a = b, b = a", Placeholders()), item)
    assert new == {"a": {"N": "2"}, "b": {"N": "1"}}


def test_arithmetic_and_list_functions() -> None:
    item = {"n": {"N": "0.1"}, "l": {"L": [{"N": "1"}]}}
    values = {":x": {"N": "0.2"}, ":l": {"L": [{"N": "2"}]}, ":zero": {"N": "0"}}
    p = Placeholders(None, values)
    new = apply_update(parse_update("SET n = n + :x, m = :x - n, l = list_append(l, :l), "
                                    "k = list_append(:l, l), z = if_not_exists(nope, :zero) + :x", p), item)
    assert new["n"] == {"N": "0.3"}
    assert new["m"] == {"N": "0.1"}
    assert new["l"] == {"L": [{"N": "1"}, {"N": "2"}]}
    assert new["k"] == {"L": [{"N": "2"}, {"N": "1"}]}
    assert new["z"] == {"N": "0.2"}


def test_list_elements() -> None:
    item = {"l": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}, {"S": "d"}]}}
    p = Placeholders(None, {":v": {"S": "v"}})
    assert apply_update(parse_update("REMOVE l[1], l[3]", Placeholders()), item) == \
        {"l": {"L": [{"S": "a"}, {"S": "c"}]}}
    assert apply_update(parse_update("REMOVE l[9]", Placeholders()), item) == item
    assert apply_update(parse_update("SET l[1] = :v", p), item)["l"]["L"][1] == {"S": "v"}
    assert apply_update(parse_update("SET l[99] = :v", p), item)["l"]["L"][-1] == {"S": "v"}


def test_nested_updates_as_dynamodb_applies_them() -> None:
    # Recorded against DynamoDB (dynalite's suite): operands read the old item, parentheses group
    # SET values, list elements are set and added in ascending index order (appending past the end).
    item = {"a": {"S": "key"}, "b": {"M": {"a": {"N": "1"}, "b": {"N": "2"}, "c": {"N": "3"}}},
            "c": {"L": [{"N": "1"}, {"N": "3"}]}}
    parsed = parse_update("set b.c=((c[1])+(b.a)),b.a = a,c[1] = a, c[4] = b.a - b.b, c[2] = b.c "
                          "add c[8] :b, c[6] :a", Placeholders(None, {":a": {"N": "2"}, ":b": {"SS": ["a"]}}))
    new = apply_update(parsed, item)
    assert new == {"a": {"S": "key"}, "b": {"M": {"a": {"S": "key"}, "b": {"N": "2"}, "c": {"N": "4"}}},
                   "c": {"L": [{"N": "1"}, {"S": "key"}, {"N": "3"}, {"N": "-1"}, {"N": "2"}, {"SS": ["a"]}]}}
    # ReturnValues UPDATED_NEW: the new item projected on the update's paths.
    assert project(new, parsed.paths) == {"b": {"M": {"c": {"N": "4"}, "a": {"S": "key"}}},
                                          "c": {"L": [{"S": "key"}, {"N": "3"}, {"N": "2"}]}}
    assert apply_update(parse_update("set b = if_not_exists(b, a)", Placeholders()), {"a": {"S": "k"}}) == \
        {"a": {"S": "k"}, "b": {"S": "k"}}


@pytest.mark.parametrize(("text", "message"), [
    ("set a = ((b))", "Invalid UpdateExpression: The expression has redundant parentheses;"),
    ("set a = (b.c).d + e", 'Invalid UpdateExpression: Syntax error; token: ".", near: ").d"'),
    ("set (a = (b + c))", 'Invalid UpdateExpression: Syntax error; token: "(", near: "set (a"'),
])
def test_parentheses_in_set_values(text: str, message: str) -> None:
    assert refusal(parse_update, text, Placeholders()) == message
    parse_update("set a = (b + c), d = (e)", Placeholders())


def test_delete_empties_a_set_removes_it() -> None:
    item = {"s": {"SS": ["a"]}}
    assert apply_update(parse_update("DELETE s :v", Placeholders(None, {":v": {"SS": ["a", "z"]}})), item) == {}
    assert apply_update(parse_update("DELETE nope :v", Placeholders(None, {":v": {"SS": ["a"]}})), item) == item


def test_add_to_numbers_and_sets() -> None:
    item = {"n": {"N": "5"}, "ns": {"NS": ["1"]}, "bs": {"BS": [b"a"]}}
    p = Placeholders(None, {":n": {"N": "-5"}, ":ns": {"NS": ["1.0", "2"]}, ":bs": {"BS": [b"b"]}})
    new = apply_update(parse_update("ADD n :n, ns :ns, bs :bs", p), item)
    assert new == {"n": {"N": "0"}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"a", b"b"]}}


@pytest.mark.parametrize("text", [
    "whatever", "set a", "add a", "delete a", "set a=set", "remove a = b", "add a = b", "delete a = b", "delete a b",
    "delete a if_not_exist(b)", "add abort b", "add a if_not_exist(b)", "remove a b", "set a b", "set :a = b",
    "add :a b", "delete :a b", "remove :a", "set a = b / c", "set a = b * c", 'set a[1] = "eight"', "set a[1] = 1",
    "SET a = if_not_exist(a, 100)", "SET if_not_exist(a, b) = a", "set (a = (b + c))", "set a = (b.c).d + e",
    "set a = (b.c)[0] + e", "set a = b + c + d", "SET a = :v,", "SET a = :v REMOVE", "SET a = :v, REMOVE b",
])
def test_update_syntax_errors(text: str) -> None:
    assert refusal(parse_update, text, ph(values={":v": {"S": "x"}, ":a": {"S": "x"}})).startswith(
        "Invalid UpdateExpression: Syntax error; ")


def test_update_syntax_error_near_a_trailing_comma() -> None:
    assert refusal(parse_update, "SET a = :v,", ph(values={":v": {"S": "x"}})) == \
        'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","'


@pytest.mark.parametrize(("text", "word"), [(" set #c = :c set abOrt = true ", "abOrt"),
                                            (" remove Absolute ", "Absolute")])
def test_update_reserved_words_come_first(text: str, word: str) -> None:
    assert refusal(parse_update, text, ph(names={"#a": "a"}, values={":a": {"S": "a"}})) == \
        f"Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: {word}"


def test_update_invalid_function_before_sections() -> None:
    placeholders = ph(names={"#a": "a"}, values={":a": {"S": "a"}})
    assert refusal(parse_update, "set #c = if_not_exist(:c) set c = d", placeholders) == \
        "Invalid UpdateExpression: Invalid function name; function: if_not_exist"
    assert refusal(parse_update, "SET a = size(b)", ph()) == \
        "Invalid UpdateExpression: The function is not allowed in an update expression; function: size"


@pytest.mark.parametrize(("text", "clause"), [
    ("set a = #c set c = :d", "SET"), ("remove #d set a = b remove e", "REMOVE"),
    ("add #d :e set a = b add e :f", "ADD"), ("delete #d :e set a = b delete #e :f", "DELETE"),
])
def test_each_clause_at_most_once(text: str, clause: str) -> None:
    assert refusal(parse_update, text, ph(names={"#a": "a"}, values={":a": {"S": "a"}})) == \
        f'Invalid UpdateExpression: The "{clause}" section can only be used once in an update expression;'


@pytest.mark.parametrize(("text", "one", "two"), [
    ("set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a)", "[c, [1], a]", "[c]"),
    ("set c.b.#c = a, c = a, #d = a", "[c, b, c]", "[c]"),
    ("set a = b remove a, #c, #d", "[a]", "[a]"),
    ("set #c[3].#d = a, #c[3] = a", "[c, [3], [3]]", "[c, [3]]"),
    ("remove c, #c.a, #d", "[c]", "[c, a]"),
    ("remove a, #c, a, #d", "[a]", "[a]"),
])
def test_update_paths_may_not_overlap(text: str, one: str, two: str) -> None:
    assert refusal(parse_update, text, ph(names={"#c": "c", "#d": "[3]"}, values={":x": {"S": "x"}})) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these "
        f"paths; path one: {one}, path two: {two}")


@pytest.mark.parametrize(("text", "one", "two"), [
    ("set #c[3].#d = a, #c.#d[3] = if_not_exists(a)", "[c, [3], [3]]", "[c, [3], [3]]"),
    ("remove a.#c set a[1] = #d", "[a, c]", "[a, [1]]"),
])
def test_update_paths_may_not_conflict(text: str, one: str, two: str) -> None:
    assert refusal(parse_update, text, ph(names={"#b": "b", "#c": "c", "#d": "[3]"}, values={":x": {"S": "x"}})) == (
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these "
        f"paths; path one: {one}, path two: {two}")


@pytest.mark.parametrize(("text", "value", "operator", "kind"), [
    ("set b = list_append(:a, a), c = if_not_exists(a) add a.b :a", {"S": "a"}, "ADD", "STRING"),
    ("delete a.b :a", {"S": "a"}, "DELETE", "STRING"), ("add a.b :a", {"NULL": True}, "ADD", "NULL"),
    ("add a.b :a", {"BOOL": False}, "ADD", "BOOLEAN"), ("delete a.b :a", {"B": b"a"}, "DELETE", "BINARY"),
    ("add a.b :a", {"M": {}}, "ADD", "MAP"), ("delete a.b :a", {"L": []}, "DELETE", "LIST"),
    ("delete a.b :a", {"N": "1"}, "DELETE", "NUMBER"),
])
def test_add_and_delete_operand_types(text: str, value: dict[str, Any], operator: str, kind: str) -> None:
    assert refusal(parse_update, text, ph(names={}, values={":a": value, ":b": {"S": "a"}})) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        f"operator: {operator}, operand type: {kind}")


@pytest.mark.parametrize(("text", "function", "kind"), [
    ("set a = list_append(:a, a)", "list_append", "S"), ("set a = list_append(a, :b)", "list_append", "N"),
    ("set a = list_append(:i, a)", "list_append", "M"), ("set a = a + :a", "+", "S"), ("set a = :a + :c", "+", "S"),
    ("set a = :c + a", "+", "B"), ("set a = a + :j", "+", "L"), ("set a = a - :f", "-", "SS"),
    ("set a = a - :d", "-", "BOOL"),
])
def test_set_operand_types(text: str, function: str, kind: str) -> None:
    values = {":a": {"S": "a"}, ":b": {"N": "1"}, ":c": {"B": b"a"}, ":d": {"BOOL": False}, ":f": {"SS": ["a"]},
              ":i": {"M": {}}, ":j": {"L": []}}
    assert refusal(parse_update, text, ph(names={}, values=values)) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        f"operator or function: {function}, operand type: {kind}")


@pytest.mark.parametrize("text", ["set a = if_not_exists(c)", "set a = list_append(c)"])
def test_update_function_operand_counts(text: str) -> None:
    assert refusal(parse_update, text, ph()).startswith(
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: ")


@pytest.mark.parametrize("text", ["set a = if_not_exists(:a, c)", "set a = if_not_exists(if_not_exists(a, b), c)"])
def test_if_not_exists_needs_a_path(text: str) -> None:
    assert refusal(parse_update, text, ph(values={":a": {"S": "a"}})) == (
        "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists")


@pytest.mark.parametrize(("text", "message"), [
    ("SET #c = if_not_exists(:c)",
     "An expression attribute name used in the document path is not defined; attribute name: #c"),
    ("SET #a = if_not_exists(:c)",
     "An expression attribute value used in expression is not defined; attribute value: :c"),
])
def test_update_undefined_placeholders(text: str, message: str) -> None:
    assert refusal(parse_update, text, ph(names={"#a": "a", "#b": "b"}, values={":a": {"S": "a"}})) == \
        f"Invalid UpdateExpression: {message}"


@pytest.mark.parametrize(("text", "message"), [
    ("set c = nope", "The provided expression refers to an attribute that does not exist in the item"),
    ("set e = list_append(nope, lst)",
     "The provided expression refers to an attribute that does not exist in the item"),
    ("set x.a = :s", "The document path provided in the update expression is invalid for update"),
    ("set x[1] = :s", "The document path provided in the update expression is invalid for update"),
    ("set #n.a = :s", "The document path provided in the update expression is invalid for update"),
    ("set doc[1] = :s", "The document path provided in the update expression is invalid for update"),
    ("set lst.a = :s", "The document path provided in the update expression is invalid for update"),
    ("remove x.a", "The document path provided in the update expression is invalid for update"),
    ("remove #n[1]", "The document path provided in the update expression is invalid for update"),
    ("remove doc[1]", "The document path provided in the update expression is invalid for update"),
    ("add x.a :small", "The document path provided in the update expression is invalid for update"),
    ("delete x.a :tagset", "The document path provided in the update expression is invalid for update"),
    ("delete #n.a :tagset", "The document path provided in the update expression is invalid for update"),
    ("delete lst.a :tagset", "The document path provided in the update expression is invalid for update"),
    ("set e = #n + :small", "An operand in the update expression has an incorrect data type"),
    ("set e = :small - doc", "An operand in the update expression has an incorrect data type"),
    ("set e = list_append(tags, :lst)", "An operand in the update expression has an incorrect data type"),
    ("add #n :small", "An operand in the update expression has an incorrect data type"),
    ("add tags :ns", "An operand in the update expression has an incorrect data type"),
    ("add nums :small", "An operand in the update expression has an incorrect data type"),
    ("delete tags :ns", "An operand in the update expression has an incorrect data type"),
    ("delete age :ns", "An operand in the update expression has an incorrect data type"),
])
def test_update_run_time_errors(text: str, message: str) -> None:
    with pytest.raises(DynamoDbError) as caught:
        update(text)
    assert caught.value.message == message


def test_condition_top_level_names() -> None:
    parsed = parse_condition("(#n = :s OR doc.inside.n > size(lst[1])) AND NOT contains(tags, :red) "
                             "AND age BETWEEN score AND :big AND pk IN (:s, bin)", ph())
    assert condition_top_level_names(parsed) == {"name", "doc", "lst", "tags", "age", "score", "pk", "bin"}


def test_updated_top_level_names_for_key_checks() -> None:
    for text, names in [("add a.b :small", {"a"}), ("delete a :tagset", {"a"}),
                        ("remove d set b = :small, a = :small", {"a", "b", "d"}), ("set a = a.b + a[1]", {"a"}),
                        ("set d[1] = :small add b.b :small", {"b", "d"})]:
        assert updated_top_level_names(parse_update(text, ph())) == names


def test_update_paths_serve_updated_old_and_new() -> None:
    parsed = parse_update("SET doc.inside.n = :two REMOVE score", ph())
    new = apply_update(parsed, ITEM)
    assert project(ITEM, parsed.paths) == {"doc": {"M": {"inside": {"M": {"n": {"N": "7"}}}}}, "score": {"N": "-1.5"}}
    assert project(new, parsed.paths) == {"doc": {"M": {"inside": {"M": {"n": {"N": "2"}}}}}}


def test_updates_may_not_nest_beyond_32_levels() -> None:
    deep: dict[str, Any] = {"S": "x"}
    for _ in range(31):
        deep = {"L": [deep]}
    p = Placeholders(None, {":deep": deep})
    assert apply_update(parse_update("SET a = :deep", p), {})["a"] == deep  # 31 levels below a
    item = {"a": {"M": {}}}
    apply_update(parse_update("SET a.b = :deep", Placeholders(None, {":deep": deep})), item)  # 32
    with pytest.raises(DynamoDbError, match=r"^Nesting Levels have exceeded supported limits$"):
        apply_update(parse_update("SET a.b = :deep", Placeholders(None, {":deep": {"L": [deep]}})), item)


def test_update_of_a_missing_item_starts_empty() -> None:
    assert update("SET a = :small ADD n :two", None) == {"a": {"N": "1"}, "n": {"N": "2"}}
    assert update("REMOVE a DELETE s :tagset", None) == {}


# --- key conditions --------------------------------------------------------------------------------

HASH = ("pk", "S")
RANGE = ("sk", "N")


def key(text: str, values: dict[str, Any], range_key: tuple[str, str] | None = RANGE,
        names: dict[str, str] | None = None) -> KeyCondition:
    return parse_key_condition(text, Placeholders(names, values), HASH, range_key)


@pytest.mark.parametrize(("text", "op", "count"), [
    ("sk = :n", "=", 1), ("sk < :n", "<", 1), ("sk <= :n", "<=", 1), ("sk > :n", ">", 1), ("sk >= :n", ">=", 1),
    ("sk BETWEEN :n AND :m", "BETWEEN", 2),
])
def test_key_conditions(text: str, op: str, count: int) -> None:
    got = key(f"pk = :p AND {text}", {":p": {"S": "a"}, ":n": {"N": "1"}, ":m": {"N": "2"}})
    assert (got.hash_name, got.hash_value, got.range_name, got.range_op) == ("pk", {"S": "a"}, "sk", op)
    assert len(got.range_values) == count
    assert got.matches({"pk": {"S": "a"}, "sk": {"N": "1"}}) is (op in ("=", "<=", ">=", "BETWEEN"))


def test_key_condition_forms() -> None:
    values = {":p": {"S": "a"}, ":pre": {"S": "ab"}}
    assert key("pk = :p", values) == KeyCondition("pk", {"S": "a"})
    swapped = key("begins_with(sk, :pre) AND pk = :p", values, ("sk", "S"))
    assert (swapped.range_op, swapped.range_values) == ("begins_with", ({"S": "ab"},))
    assert swapped.matches({"pk": {"S": "a"}, "sk": {"S": "abc"}})
    assert not swapped.matches({"pk": {"S": "a"}, "sk": {"S": "b"}})
    named = key("#p = :p AND (#s = :pre)", values, ("sk", "S"), {"#p": "pk", "#s": "sk"})
    assert named.range_op == "="


@pytest.mark.parametrize(("text", "message"), [
    ("pk = :p OR sk = :n", "Invalid operator used in KeyConditionExpression: OR"),
    ("NOT pk = :p", "Invalid operator used in KeyConditionExpression: NOT"),
    ("pk = :p AND sk IN (:n)", "Invalid operator used in KeyConditionExpression: IN"),
    ("pk = :p AND attribute_exists(sk)", "Invalid operator used in KeyConditionExpression: attribute_exists"),
    ("pk = :p AND sk <> :n", "Invalid operator used in KeyConditionExpression: <>"),
    ("pk = :p AND sk = :n AND sk = :n", "KeyConditionExpressions must only contain one condition per key"),
    ("sk = :n", "Query condition missed key schema element: pk"),
    ("pk = :p AND extra = :n", "Query condition missed key schema element: sk"),
    ("pk < :p", "Query key condition not supported"),
    ("pk = :n", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("pk = :p AND sk = :p",
     "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("pk = :p AND begins_with(sk, :n)", "Invalid KeyConditionExpression: Incorrect operand type for operator or "
                                        "function; operator or function: begins_with, operand type: N"),
    ("pk = :p AND", 'Invalid KeyConditionExpression: Syntax error; token: "<EOF>", near: "AND"'),
    ("pk = :p AND sk = extra",
     "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
])
def test_key_condition_refusals(text: str, message: str) -> None:
    with pytest.raises(DynamoDbError) as caught:
        key(text, {":p": {"S": "a"}, ":n": {"N": "1"}})
    assert caught.value.message == message


@pytest.mark.parametrize(("text", "message"), [
    # Recorded against DynamoDB (dynalite's suite); these come before any look at the key schema.
    ("a > b and size(b) > c or a > c", "Invalid operator used in KeyConditionExpression: OR"),
    ("a in (b, size(c), d)", "Invalid operator used in KeyConditionExpression: IN"),
    ("attribute_type(a, :t)", "Invalid operator used in KeyConditionExpression: attribute_type"),
    ("contains(a.d, b)", "Invalid operator used in KeyConditionExpression: contains"),
    ("not a > b", "Invalid operator used in KeyConditionExpression: NOT"),
    ("a <> b", "Invalid operator used in KeyConditionExpression: <>"),
    ("size(b) > a AND a.b > b AND b > c", "KeyConditionExpressions cannot contain nested operations"),
    ("a > size(b.d)", "KeyConditionExpressions cannot contain nested operations"),
    ("a between size(b) and size(a)", "KeyConditionExpressions cannot contain nested operations"),
    ("b > a.b", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
    ("b between c[1] and d", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
                             "condition"),
    ("a between b and size(a)", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
                                "condition"),
    ("begins_with(a, b)", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
                          "condition"),
    ("b.d > a AND c.d > e.f", "KeyConditionExpressions cannot have conditions on nested attributes"),
    ("a.d > c", "KeyConditionExpressions cannot have conditions on nested attributes"),
    ("b[0] > a", "KeyConditionExpressions cannot have conditions on nested attributes"),
    (":b > :a AND a < :b", "Invalid condition in KeyConditionExpression: No key attribute specified"),
    (":a > b AND :a < :b", "Invalid condition in KeyConditionExpression: No key attribute specified"),
    ("b > :a AND b < :a and c = :a and d = :a", "KeyConditionExpressions must only contain one condition per key"),
    ("(a > :a and b > :a) and (b > :a and c > :a)", "KeyConditionExpressions must only contain one condition per key"),
    ("begins_with(:t, a)", "Invalid condition in KeyConditionExpression: begins_with operator must have the key "
                           "attribute as its first operand"),
    (":a between a and :b", "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key "
                            "attribute as its first operand"),
    ("a between :b and :s", "Invalid KeyConditionExpression: The BETWEEN operator requires same data type for lower "
                            "and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: "
                            "AttributeValue: {S:a}"),
    ("a between :sb and :s", "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater "
                             "than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound "
                             "operand: AttributeValue: {S:a}"),
    ("z between :a and :b", "Query condition missed key schema element: pk"),
    (":a = a and b = :a and :a = c", "Conditions can be of length 1 or 2 only"),
    ("(a > :a and b > :a) and (c > :a and d > :a) and (e > :a and f > :a)", "Conditions can be of length 1 or 2 only"),
])
def test_key_condition_structure_refusals(text: str, message: str) -> None:
    values = {":a": {"N": "1"}, ":b": {"N": "1"}, ":t": {"S": "S"}, ":s": {"S": "a"}, ":sb": {"S": "b"}}
    with pytest.raises(DynamoDbError) as caught:
        parse_key_condition(text, Placeholders(None, values), HASH, RANGE)
    assert caught.value.message == message


def test_a_value_may_come_first() -> None:
    got = key(":n < sk AND :p = pk", {":p": {"S": "a"}, ":n": {"N": "1"}})
    assert (got.hash_value, got.range_op, got.range_values) == ({"S": "a"}, ">", ({"N": "1"},))


def test_key_condition_on_a_hash_only_key() -> None:
    with pytest.raises(DynamoDbError, match=r"^Query key condition not supported$"):
        key("pk = :p AND sk = :n", {":p": {"S": "a"}, ":n": {"N": "1"}}, None)


# --- hostile input ---------------------------------------------------------------------------------

def test_deep_nesting_is_refused_not_recursed() -> None:
    values = {":v": {"S": "x"}}
    depth = MAX_NESTING
    ok = "(" * 1 + "a = :v" + ")" * 1
    assert evaluate(parse_condition("NOT " * (depth - 1) + "a = :v", Placeholders(None, values)), {"a": {"S": "y"}})
    for hostile in ["(" * 2000 + "a = :v" + ")" * 2000, "NOT " * 1000 + "a = :v",
                    "size(" * 1000 + "a" + ")" * 1000 + " = :v", "(" * 4000]:
        with pytest.raises(DynamoDbError) as caught:
            parse_condition(hostile, Placeholders(None, values))
        assert caught.value.message.startswith("Invalid ConditionExpression: ")
    assert evaluate(parse_condition(ok, Placeholders(None, values)), {"a": {"S": "x"}})


def test_long_flat_expressions_are_linear() -> None:
    terms = 450
    values = {":v": {"S": "x"}}
    for joiner in (" AND ", " OR "):
        text = joiner.join(["a=:v"] * terms)
        assert len(text) < 4096
        started = time.monotonic()
        parsed = parse_condition(text, Placeholders(None, values))
        assert evaluate(parsed, {"a": {"S": "x"}})
        assert time.monotonic() - started < 1
    many_paths = ",".join(f"a{i}" for i in range(700))
    assert len(many_paths) < 4096
    started = time.monotonic()
    assert len(parse_projection(many_paths, Placeholders())) == 700
    parse_update("REMOVE " + many_paths, Placeholders())
    assert time.monotonic() - started < 1


def test_many_actions_on_one_big_list_copy_it_once() -> None:
    item = {"l": {"L": [{"N": str(i)} for i in range(50_000)]}}
    text = "REMOVE " + ", ".join(f"l[{i}]" for i in range(0, 1000, 2))
    assert len(text) < 4096
    started = time.monotonic()
    new = apply_update(parse_update(text, Placeholders()), item)
    assert time.monotonic() - started < 1
    assert len(new["l"]["L"]) == 50_000 - 500 and new["l"]["L"][0] == {"N": "1"}
    assert len(item["l"]["L"]) == 50_000  # the old item is intact


def test_garbage_never_escapes_as_another_exception() -> None:
    import random
    rng = random.Random(17)
    alphabet = [*"ab#:()[].,=<>+- 0123456789", "AND ", "OR ", "NOT ", "BETWEEN ", "IN ", "SET ", "REMOVE ", "ADD ",
                "DELETE ", "size", "if_not_exists", "list_append"]
    p_names = {"#a": "a"}
    p_values = {":a": {"S": "x"}, ":n": {"N": "1"}}
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        for parse in (parse_condition, parse_update, parse_projection):
            try:
                parsed = parse(text, Placeholders(p_names, p_values))
            except DynamoDbError as exc:
                assert exc.code == "ValidationException"
                continue
            if parse is parse_condition:
                evaluate(parsed, ITEM)  # type: ignore[arg-type]
            elif parse is parse_update:
                try:
                    apply_update(parsed, ITEM)  # type: ignore[arg-type]
                except DynamoDbError:
                    pass


# --- legacy parameters -----------------------------------------------------------------------------

def test_legacy_filters() -> None:
    f = legacy.filter_condition({
        "name": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "A"}]},
        "age": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "50"}]},
        "tags": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "red"}]},
        "nope": {"ComparisonOperator": "NULL"},
        "pk": {"ComparisonOperator": "NOT_NULL"},
        "score": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "-1.5"}, {"N": "3"}]},
        "lst": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "q"}]},
        "age2": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "1"}]},
    })
    assert f is not None and evaluate(f, ITEM)
    either = legacy.filter_condition({"name": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
                                      "age": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "40"}]}}, "OR")
    assert either is not None and evaluate(either, ITEM)
    both = legacy.filter_condition({"name": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
                                    "age": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "40"}]}})
    assert both is not None and not evaluate(both, ITEM)
    assert legacy.filter_condition({}) is None
    absent = legacy.filter_condition({"nope": {"ComparisonOperator": "NOT_CONTAINS",
                                                "AttributeValueList": [{"S": "q"}]}})
    assert absent is not None and evaluate(absent, ITEM)  # NOT_CONTAINS holds when the attribute is absent


@pytest.mark.parametrize(("spec", "message"), [
    ({"ComparisonOperator": "EQ"}, "Invalid number of argument(s) for the EQ ComparisonOperator"),
    ({"ComparisonOperator": "NULL", "AttributeValueList": [{"S": "a"}]},
     "Invalid number of argument(s) for the NULL ComparisonOperator"),
    ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}]},
     "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    ({"ComparisonOperator": "IN", "AttributeValueList": []},
     "Invalid number of argument(s) for the IN ComparisonOperator"),
    ({"ComparisonOperator": "LT", "AttributeValueList": [{"SS": ["a"]}]},
     "ComparisonOperator LT is not valid for SS AttributeValue type"),
    ({"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"N": "1"}]},
     "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
    ({"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"M": {}}]},
     "ComparisonOperator CONTAINS is not valid for M AttributeValue type"),
    ({"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"SS": ["a"]}]},
     "ComparisonOperator NOT_CONTAINS is not valid for SS AttributeValue type"),
    ({"ComparisonOperator": "IN", "AttributeValueList": [{"BOOL": True}]},
     "ComparisonOperator IN is not valid for BOOL AttributeValue type"),
    ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"NULL": True}, {"NULL": True}]},
     "ComparisonOperator BETWEEN is not valid for NULL AttributeValue type"),
    ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"S": "a"}]},
     "AttributeValues inside AttributeValueList must be of same type"),
    ({"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"S": "a"}]},
     "AttributeValues inside AttributeValueList must be of same type"),
    ({"ComparisonOperator": "EQ", "AttributeValueList": [{"SS": []}]}, "An string set  may not be empty"),
])
def test_legacy_filter_refusals(spec: dict[str, Any], message: str) -> None:
    assert refusal(legacy.filter_condition, {"a": spec}) == f"One or more parameter values were invalid: {message}"


def test_conditional_operator_needs_two_conditions() -> None:
    one = {"a": {"ComparisonOperator": "NULL"}}
    message = "ConditionalOperator can only be used when Filter or Expected has two or more elements"
    assert refusal(legacy.filter_condition, one, "OR") == message
    assert refusal(legacy.expected_condition, {"a": {"Exists": False}}, "AND") == message
    assert legacy.filter_condition(one) is not None


def test_legacy_contains_takes_booleans_and_nulls() -> None:
    f = legacy.filter_condition({"lst": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"BOOL": True}]}})
    assert f is not None and not evaluate(f, ITEM)
    assert evaluate(f, {"lst": {"L": [{"BOOL": True}]}})


def test_legacy_between_bounds() -> None:
    spec = {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "2"}, {"N": "1"}]}
    assert refusal(legacy.filter_condition, {"a": spec}) == \
        "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"


def test_legacy_expected() -> None:
    holds = legacy.expected_condition({"name": {"Value": {"S": "Ana"}}, "nope": {"Exists": False},
                                       "age": {"Exists": True, "Value": {"N": "42.0"}},
                                       "score": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "0"}]}})
    assert holds is not None and evaluate(holds, ITEM)
    fails = legacy.expected_condition({"name": {"Value": {"S": "Bo"}}, "nope": {"Exists": False}}, "OR")
    assert fails is not None and evaluate(fails, ITEM)
    alone = legacy.expected_condition({"name": {"Value": {"S": "Bo"}}})
    assert alone is not None and not evaluate(alone, ITEM)


@pytest.mark.parametrize(("spec", "message"), [
    ({}, "Value must be provided when Exists is null for Attribute: a"),
    ({"Exists": True}, "Value must be provided when Exists is true for Attribute: a"),
    ({"Exists": False, "Value": {"S": "a"}}, "Value cannot be used when Exists is false for Attribute: a"),
    ({"ComparisonOperator": "EQ", "Value": {"S": "a"}, "AttributeValueList": [{"S": "a"}]},
     "Value and AttributeValueList cannot be used together for Attribute: a"),
    ({"ComparisonOperator": "EQ", "Exists": True, "AttributeValueList": [{"S": "a"}]},
     "Exists and ComparisonOperator cannot be used together for Attribute: a"),
    ({"Value": {"S": "a"}, "AttributeValueList": [{"S": "a"}]},
     "Value and AttributeValueList cannot be used together for Attribute: a"),
    ({"ComparisonOperator": "EQ"},
     "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"),
    ({"AttributeValueList": [{"S": "a"}]},
     "AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
    ({"ComparisonOperator": "BETWEEN", "Value": {"S": "a"}},
     "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    ({"ComparisonOperator": "NULL", "Value": {"S": "a"}},
     "Invalid number of argument(s) for the NULL ComparisonOperator"),
])
def test_legacy_expected_refusals(spec: dict[str, Any], message: str) -> None:
    assert refusal(legacy.expected_condition, {"a": spec}) == f"One or more parameter values were invalid: {message}"


def test_legacy_key_conditions() -> None:
    got = legacy.key_conditions({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
                                 "sk": {"ComparisonOperator": "BETWEEN",
                                        "AttributeValueList": [{"N": "1"}, {"N": "2"}]}}, HASH, RANGE)
    assert got == KeyCondition("pk", {"S": "a"}, "sk", "BETWEEN", ({"N": "1"}, {"N": "2"}))
    eq = {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}
    assert refusal(legacy.key_conditions, {"pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "a"}]}},
                   HASH, RANGE) == "Attempted conditional constraint is not an indexable operation"
    assert refusal(legacy.key_conditions, {"pk": eq, "sk": {"ComparisonOperator": "CONTAINS",
                                                            "AttributeValueList": [{"N": "1"}]}},
                   HASH, RANGE) == "Attempted conditional constraint is not an indexable operation"
    assert refusal(legacy.key_conditions, {"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}},
                   HASH, RANGE) == "Query condition missed key schema element: pk"
    assert refusal(legacy.key_conditions, {"pk": eq, "a": eq, "b": eq}, HASH, RANGE) == \
        "Conditions can be of length 1 or 2 only"
    assert refusal(legacy.key_conditions, {}, HASH, RANGE) == "Conditions can be of length 1 or 2 only"
    # Each condition's arity is checked before their count (recorded).
    assert refusal(legacy.key_conditions, {"a": {"ComparisonOperator": "EQ"}, "b": {"ComparisonOperator": "NULL"},
                                           "c": {"ComparisonOperator": "NULL"}}, HASH, RANGE) == \
        "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator"
    assert refusal(legacy.key_conditions, {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}},
                   HASH, RANGE) == \
        "One or more parameter values were invalid: Condition parameter type does not match schema type"


def test_legacy_attribute_updates() -> None:
    parsed = legacy.attribute_updates({
        "name": {"Value": {"S": "Bo"}}, "age": {"Action": "ADD", "Value": {"N": "1"}},
        "tags": {"Action": "DELETE", "Value": {"SS": ["red"]}}, "score": {"Action": "DELETE"},
        "lst": {"Action": "ADD", "Value": {"L": [{"S": "z"}]}}, "fresh": {"Action": "ADD", "Value": {"L": []}},
    })
    new = apply_update(parsed, ITEM)
    assert new["name"] == {"S": "Bo"} and new["age"] == {"N": "43"} and new["tags"] == {"SS": ["blue"]}
    assert "score" not in new and new["lst"]["L"][-1] == {"S": "z"} and new["fresh"] == {"L": []}
    assert updated_top_level_names(parsed) == {"name", "age", "tags", "score", "lst", "fresh"}
    with pytest.raises(DynamoDbError, match=r"^Type mismatch for attribute to update$"):
        apply_update(legacy.attribute_updates({"name": {"Action": "ADD", "Value": {"N": "1"}}}), ITEM)
    with pytest.raises(DynamoDbError, match=r"^Type mismatch for attribute to update$"):
        apply_update(legacy.attribute_updates({"tags": {"Action": "DELETE", "Value": {"NS": ["1"]}}}), ITEM)


@pytest.mark.parametrize(("spec", "message"), [
    ({"Action": "PUT"}, "Only DELETE action is allowed when no attribute value is specified"),
    ({"Action": "ADD"}, "Only DELETE action is allowed when no attribute value is specified"),
    ({"Action": "DELETE", "Value": {"S": "1"}}, "DELETE action with value is not supported for the type S"),
    ({"Action": "DELETE", "Value": {"L": []}}, "DELETE action with value is not supported for the type L"),
    ({"Action": "ADD", "Value": {"S": "1"}}, "ADD action is not supported for the type S"),
    ({"Action": "ADD", "Value": {"B": b"b"}}, "ADD action is not supported for the type B"),
    ({"Action": "ADD", "Value": {"M": {}}}, "ADD action is not supported for the type M"),
])
def test_legacy_attribute_update_refusals(spec: dict[str, Any], message: str) -> None:
    assert refusal(legacy.attribute_updates, {"a": spec}) == f"One or more parameter values were invalid: {message}"


def test_legacy_attributes_to_get() -> None:
    assert legacy.attributes_to_get(["a", "status", "b.c"]) == (("a",), ("status",), ("b.c",))
    assert refusal(legacy.attributes_to_get, ["a", "a"]) == \
        "One or more parameter values were invalid: Duplicate value in attribute name: a"


@pytest.mark.parametrize(("request_", "operation", "message"), [
    ({"Expected": {"a": {}}, "AttributeUpdates": {}, "ExpressionAttributeNames": {}, "ExpressionAttributeValues": {},
      "ConditionExpression": "", "UpdateExpression": ""}, "UpdateItem",
     "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: "
     "{AttributeUpdates, Expected} Expression parameters: {UpdateExpression, ConditionExpression}"),
    ({"AttributesToGet": ["a"], "QueryFilter": {}, "ConditionalOperator": "OR", "KeyConditions": {},
      "ProjectionExpression": "", "FilterExpression": "", "KeyConditionExpression": ""}, "Query",
     "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: "
     "{AttributesToGet, QueryFilter, ConditionalOperator, KeyConditions} Expression parameters: "
     "{ProjectionExpression, FilterExpression, KeyConditionExpression}"),
    ({"AttributesToGet": ["a"], "ProjectionExpression": "a"}, "GetItem",
     "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: "
     "{AttributesToGet} Expression parameters: {ProjectionExpression}"),
    ({"Expected": {"a": {}}, "ConditionExpression": "a = :b"}, "PutItem",
     "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: "
     "{Expected} Expression parameters: {ConditionExpression}"),
    ({"Expected": {"a": {}}, "ExpressionAttributeNames": {}}, "UpdateItem",
     "ExpressionAttributeNames can only be specified when using expressions"),
    ({"Expected": {"a": {}}, "ExpressionAttributeValues": {}}, "UpdateItem",
     "ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and "
     "ConditionExpression are null"),
    ({"ExpressionAttributeValues": {}}, "Query",
     "ExpressionAttributeValues can only be specified when using expressions: FilterExpression and "
     "KeyConditionExpression are null"),
    ({"ExpressionAttributeValues": {}, "ProjectionExpression": "a"}, "Scan",
     "ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null"),
    ({"ExpressionAttributeValues": {}}, "DeleteItem",
     "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"),
    ({"ConditionalOperator": "OR", "KeyConditions": {}}, "Query",
     "ConditionalOperator cannot be used without Filter or Expected"),
    ({"ConditionalOperator": "AND"}, "PutItem", "ConditionalOperator cannot be used without Filter or Expected"),
])
def test_legacy_and_expression_parameters_do_not_mix(request_: dict[str, Any], operation: str, message: str) -> None:
    assert refusal(legacy.check_mixing, request_, operation) == message


def test_either_kind_alone_is_fine() -> None:
    legacy.check_mixing({"Expected": {"a": {"Exists": False}}, "ConditionalOperator": "AND"}, "PutItem")
    legacy.check_mixing({"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":v": {"S": "x"}},
                         "ExpressionAttributeNames": {"#a": "a"}}, "PutItem")
    legacy.check_mixing({"ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": "a"}}, "GetItem")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_parsed_or_refused_in_dynamodbs_terms(text: str) -> None:
    for parse in (parse_condition, parse_update, parse_projection):
        try:
            parse(text, Placeholders({"#a": "a"}, {":a": {"S": "x"}}))
        except DynamoDbError as exc:
            assert exc.code == "ValidationException"
            assert exc.message.startswith("Invalid ")
    try:
        parse_key_condition(text, Placeholders({"#a": "a"}, {":a": {"S": "x"}}), ("a", "S"), ("b", "N"))
    except DynamoDbError as exc:
        assert exc.code == "ValidationException"


@pytest.mark.parametrize(("parse", "text", "message"), [
    # Conditions: whole-expression checks first (function names before reserved words) ...
    (parse_condition, "status = foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo"),
    # ... then, within the first leaf condition with problems: names and values, operand counts,
    # distinct operands, operand types.
    (parse_condition, "size(:bool) = size(b, c)", "Invalid ConditionExpression: Incorrect number of operands for "
                                                  "operator or function; operator or function: size, number of "
                                                  "operands: 2"),
    (parse_condition, "#nope = #nope", "Invalid ConditionExpression: An expression attribute name used in the "
                                       "document path is not defined; attribute name: #nope"),
    (parse_condition, "a = :v AND size(:bool) > b AND #nope = c",
     "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, "
     "operand type: BOOL"),
    # Updates: reserved words before function names; undefined names, then values, before overlaps.
    (parse_update, "SET status = foo(:v)", "Invalid UpdateExpression: Attribute name is a reserved keyword; "
                                           "reserved keyword: status"),
    (parse_update, "SET a = :nope, #nope = :v", "Invalid UpdateExpression: An expression attribute name used in the "
                                                "document path is not defined; attribute name: #nope"),
    (parse_update, "SET a = :nope REMOVE a", "Invalid UpdateExpression: An expression attribute value used in "
                                             "expression is not defined; attribute value: :nope"),
    # Projections: undefined names before overlaps.
    (parse_projection, "a, a, #nope", "Invalid ProjectionExpression: An expression attribute name used in the "
                                      "document path is not defined; attribute name: #nope"),
])
def test_which_problem_is_reported_first(parse: Any, text: str, message: str) -> None:
    assert refusal(parse, text, Placeholders(None, {":v": {"S": "x"}, ":bool": {"BOOL": True}})) == message
