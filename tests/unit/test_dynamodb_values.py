"""DynamoDB's data types (services/dynamodb/values.py): validation in DynamoDB's words, numbers,
item size, comparison and the order-preserving sort keys the store indexes range keys with."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb import values as v

INVALID = "One or more parameter values were invalid: "


def refused(value: object) -> str:
    with pytest.raises(DynamoDbError) as caught:
        v.validate_value(value)
    assert caught.value.code == "ValidationException"
    return caught.value.message


@pytest.mark.parametrize("value", [{}, {"a": ""}, {"S": None}])
def test_an_empty_value_is_refused(value: object) -> None:
    assert refused(value) == ("Supplied AttributeValue is empty, must contain exactly one of the supported "
                              "datatypes")


def test_two_types_are_refused_after_each_is_checked() -> None:
    assert refused({"S": "a", "N": "1"}) == ("Supplied AttributeValue has more than one datatypes set, must "
                                             "contain exactly one of the supported datatypes")
    # DynamoDB reports the bad number first.
    assert refused({"S": "a", "N": "b"}) == "The parameter cannot be converted to a numeric value: b"


@pytest.mark.parametrize(("value", "message"), [
    ({"NULL": False}, INVALID + "Null attribute value types must have the value of true"),
    ({"SS": []}, INVALID + "An string set  may not be empty"),
    ({"NS": []}, INVALID + "An number set  may not be empty"),
    ({"BS": []}, INVALID + "Binary sets should not be empty"),
    ({"SS": ["a", "a"]}, INVALID + "Input collection [a, a] contains duplicates."),
    ({"BS": [b"b", b"b"]}, INVALID + "Input collection [Yg==, Yg==]of type BS contains duplicates."),
    ({"NS": ["1", "1.0"]}, "Input collection contains duplicates"),
    ({"NS": ["1", ""]}, "The parameter cannot be converted to a numeric value"),
    ({"NS": ["1", "b"]}, "The parameter cannot be converted to a numeric value: b"),
    ({"N": ""}, "The parameter cannot be converted to a numeric value"),
    ({"N": "1" * 39}, "Attempting to store more than 38 significant digits in a Number"),
    ({"N": "-1.23456789012345678901234567890123456789"},
     "Attempting to store more than 38 significant digits in a Number"),
    ({"N": "1e126"}, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ({"N": "-1e126"}, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ({"N": "1e-131"}, "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
    ({"N": "-1e-131"}, "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
])
def test_invalid_values_in_dynamodbs_words(value: object, message: str) -> None:
    assert refused(value) == message


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-inf", "1_000", "0x10", "1e", "e5", "--1", "1.2.3", " 1",
                                  "1 ", "\u0661", "+"])
def test_what_is_not_a_number(text: str) -> None:
    assert refused({"N": text}) == f"The parameter cannot be converted to a numeric value: {text}"


@pytest.mark.parametrize(("text", "canonical"), [
    ("1", "1"), ("1.0", "1"), ("-0", "0"), ("0.000", "0"), ("+5", "5"), ("1e2", "100"), ("1E+2", "100"),
    ("0.10", "0.1"), (".5", "0.5"), ("5.", "5"), ("-12.5e3", "-12500"), ("00012", "12"),
    ("1E-130", "0." + "0" * 129 + "1"), ("9.9999999999999999999999999999999999999E+125", "9" * 38 + "0" * 88),
    ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
    ("1234567890123456789012345678901234567800000", "1234567890123456789012345678901234567800000"),
])
def test_numbers_are_normalised(text: str, canonical: str) -> None:
    assert v.validate_value({"N": text}) == {"N": canonical}


def test_nested_values_are_validated_and_normalised() -> None:
    got = v.validate_item({"m": {"M": {"x": {"L": [{"N": "1.50"}, {"NS": ["2.0", "3"]}]}}}})
    assert got == {"m": {"M": {"x": {"L": [{"N": "1.5"}, {"NS": ["2", "3"]}]}}}}
    assert refused({"L": [{"M": {"a": {}}}]}).startswith("Supplied AttributeValue is empty")


def test_empty_strings_and_binaries_are_allowed_outside_keys_and_in_sets() -> None:
    assert v.validate_value({"S": ""}) == {"S": ""}
    assert v.validate_value({"B": b""}) == {"B": b""}
    assert v.validate_value({"SS": ["", "a"]}) == {"SS": ["", "a"]}


def test_nesting_beyond_32_levels_is_refused_without_recursing_forever() -> None:
    deep: dict[str, object] = {"S": "x"}
    for _ in range(32):
        deep = {"L": [deep]}
    v.validate_value(deep)
    deep = {"L": [deep]}
    assert refused(deep) == "Nesting Levels have exceeded supported limits"
    hostile: dict[str, object] = {"S": "x"}
    for _ in range(5000):
        hostile = {"M": {"a": hostile}}
    assert refused(hostile) == "Nesting Levels have exceeded supported limits"


@pytest.mark.parametrize("value", [{"S": 1}, {"BOOL": "true"}, {"M": []}, {"L": {}}, {"SS": "a"}, {"B": "YQ=="},
                                   {"SS": [1]}, {"BS": ["YQ=="]}, "S"])
def test_wrong_json_types_are_serialization_errors(value: object) -> None:
    with pytest.raises(DynamoDbError) as caught:
        v.validate_value(value)
    assert caught.value.code == "SerializationException"


def test_key_values() -> None:
    v.check_key_value("pk", {"S": "x" * 2048}, "S", is_hash=True)
    v.check_key_value("sk", {"B": b"x" * 1024}, "B", is_hash=False)
    v.check_key_value("sk", {"N": "1" * 38}, "N", is_hash=False)
    cases = [
        ({"S": "x" * 2049}, "S", True, False,
         INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes"),
        ({"S": "\u00e9" * 513}, "S", False, False,
         INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"),
        ({"S": ""}, "S", True, False, "One or more parameter values are not valid. The AttributeValue for a key "
                                     "attribute cannot contain an empty string value. Key: pk"),
        ({"B": b""}, "B", False, False, "One or more parameter values are not valid. The AttributeValue for a key "
                                       "attribute cannot contain an empty binary value. Key: pk"),
        ({"N": "1"}, "S", True, False, "The provided key element does not match the schema"),
        ({"N": "1"}, "S", True, True, INVALID + "Type mismatch for key pk expected: S actual: N"),
        ({"SS": ["a"]}, "S", False, False, "The provided key element does not match the schema"),
    ]
    for value, key_type, is_hash, in_item, message in cases:
        with pytest.raises(DynamoDbError) as caught:
            v.check_key_value("pk", value, key_type, is_hash=is_hash, in_item=in_item)
        assert caught.value.message == message


def test_item_size_counts_names_and_values() -> None:
    assert v.item_size({"a": {"S": "xyz"}}) == 4
    assert v.item_size({"é": {"S": "é"}}) == 4  # UTF-8 bytes
    assert v.item_size({"b": {"B": b"\x00\x01"}}) == 3
    assert v.item_size({"t": {"BOOL": True}, "n": {"NULL": True}}) == 4
    assert v.item_size({"m": {"M": {}}}) == 1 + 3
    assert v.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert v.item_size({"l": {"L": [{"S": "ab"}, {"BOOL": False}]}}) == 1 + 3 + 2 + 2 + 1
    assert v.item_size({"s": {"SS": ["ab", "c"]}}) == 1 + 3
    # Numbers: base-100 digit pairs aligned on the decimal point, plus one byte.
    assert v.item_size({"n": {"N": "0"}}) == 1 + 1
    assert v.item_size({"n": {"N": "1"}}) == 1 + 2
    assert v.item_size({"n": {"N": "12"}}) == 1 + 2
    assert v.item_size({"n": {"N": "123"}}) == 1 + 3
    assert v.item_size({"n": {"N": "100"}}) == 1 + 2
    assert v.item_size({"n": {"N": "1" * 38}}) == 1 + 20


def test_item_size_at_dynamodbs_capacity_boundary() -> None:
    # DynamoDB charges 1 write unit for these 1,024 bytes and 2 for the 1,025 (dynalite's suite,
    # recorded against DynamoDB): names + values, a number as digit pairs, binaries by their bytes.
    key = "k" * 17
    small = {"a": {"S": key}, "b": {"S": "b" * (1009 - len(key))}, "c": {"N": "12.3456"}, "d": {"B": b"\x01\x02"},
             "e": {"BS": [b"\x01\x02", b"\x02", b"\x01"]}}
    larger = {"a": {"S": key}, "b": {"S": "b" * (1011 - len(key))}, "c": {"N": "12.3456"}, "d": {"B": b"\x01\x02"},
              "e": {"BS": [b"\x01\x02", b"\x02"]}}
    assert v.item_size(small) == 1024
    assert v.item_size(larger) == 1025


def test_the_400_kb_limit() -> None:
    at_limit = {"a": {"S": "x" * (400 * 1024 - 1)}}
    v.check_item_size(at_limit)
    over = {"a": {"S": "x" * (400 * 1024)}}
    with pytest.raises(DynamoDbError, match=r"^Item size has exceeded the maximum allowed size$"):
        v.check_item_size(over)
    with pytest.raises(DynamoDbError, match=r"^Item size to update has exceeded the maximum allowed size$"):
        v.check_item_size(over, "Item size to update has exceeded the maximum allowed size")


def test_compare_orders_each_scalar_type_as_dynamodb_does() -> None:
    assert v.compare({"N": "10"}, {"N": "9"}) == 1
    assert v.compare({"N": "-10"}, {"N": "-9"}) == -1
    assert v.compare({"N": "1.0"}, {"N": "1"}) == 0
    assert v.compare({"S": "B"}, {"S": "a"}) == -1  # by UTF-8 bytes, not locale
    assert v.compare({"S": "\uffff"}, {"S": "\U00010000"}) == -1  # UTF-8 order, unlike UTF-16's
    assert v.compare({"B": b"\x00\xff"}, {"B": b"\x01"}) == -1
    assert v.compare({"S": "1"}, {"N": "1"}) is None
    assert v.compare({"BOOL": True}, {"BOOL": True}) is None


def test_equality_of_sets_ignores_order_and_numbers_compare_numerically() -> None:
    assert v.values_equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert v.values_equal({"NS": ["1", "2"]}, {"NS": ["2.0", "1"]})
    assert not v.values_equal({"SS": ["a"]}, {"SS": ["a", "b"]})
    assert v.values_equal({"M": {"a": {"L": [{"N": "1"}]}}}, {"M": {"a": {"L": [{"N": "1.0"}]}}})
    assert not v.values_equal({"L": [{"N": "1"}, {"N": "2"}]}, {"L": [{"N": "2"}, {"N": "1"}]})
    assert not v.values_equal({"S": "1"}, {"N": "1"})
    assert not v.values_equal({"M": {"a": {"S": "x"}}}, {"M": {"b": {"S": "x"}}})


def test_arithmetic_is_exact_and_refuses_what_cannot_be_stored() -> None:
    assert v.add_numbers(Decimal("0.1"), Decimal("0.2")) == {"N": "0.3"}
    assert v.subtract_numbers(Decimal("1"), Decimal("0.25")) == {"N": "0.75"}
    with pytest.raises(DynamoDbError, match="38 significant digits"):
        v.subtract_numbers(Decimal("1"), Decimal("1E-100"))
    big = Decimal("9" * 38)
    assert v.add_numbers(big, Decimal(0)) == {"N": "9" * 38}
    with pytest.raises(DynamoDbError, match="38 significant digits"):
        v.add_numbers(big, Decimal("0.1"))
    with pytest.raises(DynamoDbError, match="Number overflow"):
        v.add_numbers(Decimal("9.9999999999999999999999999999999999999E+125"), Decimal("1E+88"))


# --- sort keys -------------------------------------------------------------------------------------

def _storable(sign: int, coefficient: int, exponent: int) -> Decimal:
    digits = tuple(int(c) for c in str(coefficient))
    exponent = max(-130 - len(digits) + 1, min(exponent, 125 - len(digits) + 1))
    return Decimal((sign, digits, exponent))


# Any number DynamoDB stores: up to 38 digits, 1E-130 <= |n| < 1E+126; small exponents more often.
_numbers = st.builds(_storable, st.integers(0, 1), st.integers(0, 10**38 - 1),
                     st.one_of(st.integers(-4, 4), st.integers(-170, 126)))
_edge = [Decimal(x) for x in ("0", "1", "-1", "10", "-10", "0.1", "-0.1", "1E-130", "-1E-130", "1E+125", "-1E+125",
                              "9.9999999999999999999999999999999999999E+125", "1.5", "1.05", "-1.5", "-1.05", "2",
                              "-2", "100", "99", "-99", "-100", "12", "120", "1.2", "0.12")]


def _key(d: Decimal) -> bytes:
    return v.sort_key_bytes({"N": v.format_number(d)})


def test_number_sort_keys_order_edge_cases() -> None:
    ordered = sorted(_edge)
    by_key = sorted(_edge, key=_key)
    assert [str(x) for x in by_key] == [str(x) for x in ordered]


@settings(max_examples=200, deadline=None)
@given(st.lists(_numbers, min_size=2, max_size=20))
def test_number_sort_keys_preserve_numeric_order(numbers: list[Decimal]) -> None:
    for a, b in itertools.pairwise(numbers):
        ka, kb = _key(a), _key(b)
        assert (ka < kb) == (a < b)
        assert (ka == kb) == (a == b)


@settings(max_examples=100, deadline=None)
@given(st.text(), st.text())
def test_string_sort_keys_order_by_utf8_bytes(a: str, b: str) -> None:
    a, b = a.encode("utf-8", "replace").decode(), b.encode("utf-8", "replace").decode()
    ka, kb = v.sort_key_bytes({"S": a}), v.sort_key_bytes({"S": b})
    assert (ka < kb) == (a.encode() < b.encode())
    assert (ka < kb) == (v.compare({"S": a}, {"S": b}) == -1)


@given(st.binary(), st.binary())
def test_binary_sort_keys_are_the_bytes(a: bytes, b: bytes) -> None:
    assert (v.sort_key_bytes({"B": a}) < v.sort_key_bytes({"B": b})) == (a < b)


def test_no_sort_key_for_non_key_types() -> None:
    with pytest.raises(ValueError):
        v.sort_key_bytes({"BOOL": True})


def test_validation_is_linear_on_large_values() -> None:
    started = time.monotonic()
    v.validate_value({"SS": [str(i) for i in range(50_000)]})
    v.validate_value({"NS": [str(i) for i in range(20_000)]})
    v.validate_value({"L": [{"N": str(i)} for i in range(20_000)]})
    assert v.item_size({"l": {"L": [{"S": "x"}] * 50_000}}) > 50_000
    assert time.monotonic() - started < 5


# --- properties over arbitrary values --------------------------------------------------------------

_names = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
_scalars = st.one_of(
    st.text(alphabet="ab\u00e9", max_size=4).map(lambda s: {"S": s}),
    st.integers(-10**6, 10**6).map(lambda n: {"N": str(n)}),
    st.sampled_from(["0.5", "-1.25", "1E+100", "1E-100"]).map(lambda n: {"N": v.normalize_number(n)}),
    st.binary(max_size=4).map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(st.text(alphabet="xyz", max_size=3), min_size=1, max_size=4).map(lambda s: {"SS": sorted(s)}),
    st.sets(st.integers(-50, 50), min_size=1, max_size=4).map(lambda s: {"NS": [str(n) for n in sorted(s)]}),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda items: {"L": items}),
    st.dictionaries(_names, inner, max_size=3).map(lambda members: {"M": members})), max_leaves=12)
_items = st.dictionaries(_names, _values, max_size=5)


@settings(max_examples=50, deadline=None)
@given(_items)
def test_validation_is_idempotent_and_equality_reflexive(item: dict[str, Any]) -> None:
    once = v.validate_item(item)
    assert v.validate_item(once) == once
    for av in once.values():
        assert v.values_equal(av, av)
    assert v.item_size(once) >= sum(len(name) for name in once)


@settings(max_examples=50, deadline=None)
@given(_values, _values)
def test_equality_is_symmetric_and_compare_agrees(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert v.values_equal(a, b) == v.values_equal(b, a)
    order = v.compare(a, b)
    if order is not None:
        assert (order == 0) == v.values_equal(a, b)
        assert v.compare(b, a) == -order
