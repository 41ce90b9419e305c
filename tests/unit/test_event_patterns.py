"""The event-pattern engine: every operator matching and not matching, arrays, nesting, `$or`, AWS's
reasons for invalid patterns, pathological patterns, and the index agreeing with a scan."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

from lambdad.errors import LambdadError
from lambdad.event_patterns import (
    MAX_ALTERNATIVES,
    EventPattern,
    InvalidEventPattern,
    PatternIndex,
    compile_pattern,
)

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3.0,
        "x-limit": 301.8,
        "ip": "10.0.0.17",
        "ipv6": "2001:db8::1",
        "flag": True,
        "nothing": None,
        "tags": ["blue", "green"],
        "nested": {"deep": {"value": "Hello World"}},
        "numbers": [1, 2, [3, [4]]],
        "empty": [],
        "items": [{"kind": "a", "size": 1}, {"kind": "b", "size": 2}],
        "filename": "photo.PNG",
    },
}


def check(pattern: Any, expected: bool, event: dict[str, Any] = EVENT) -> None:
    compiled = compile_pattern(json.dumps(pattern) if not isinstance(pattern, str) else pattern)
    assert compiled.matches(event) is expected, pattern
    # The index agrees with the pattern alone.
    index: PatternIndex[str] = PatternIndex()
    index.add("k", compiled)
    assert (index.matching(event) == {"k"}) is expected, pattern


def reason(pattern: Any) -> str:
    with pytest.raises(InvalidEventPattern) as info:
        compile_pattern(pattern if isinstance(pattern, str) else json.dumps(pattern))
    return info.value.reason


# -- exact values -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"source": ["aws.ec2"]}, True),
    ({"source": ["aws.s3"]}, False),
    ({"source": ["aws.s3", "aws.ec2"]}, True),  # arrays are OR
    ({"source": ["AWS.EC2"]}, False),  # case sensitive
    ({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}, True),
    ({"source": ["aws.ec2"], "detail-type": ["other"]}, False),  # fields are AND
    ({"detail": {"state": ["terminated"]}}, True),
    ({"detail": {"state": ["running"]}}, False),
    ({"detail": {"c-count": [5]}}, True),
    ({"detail": {"c-count": [5.0]}}, True),  # numbers compare numerically
    ({"detail": {"c-count": [5e0]}}, True),
    ({"detail": {"c-count": ["5"]}}, False),  # a string is not the number
    ({"detail": {"d-count": [3]}}, True),
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"flag": [False]}}, False),
    ({"detail": {"flag": [1]}}, False),  # true is not 1
    ({"detail": {"flag": ["true"]}}, False),
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"state": [None]}}, False),
    ({"detail": {"missing": [None]}}, False),  # null matches a null value, not an absent field
    ({"detail": {"nested": {"deep": {"value": ["Hello World"]}}}}, True),
    ({"detail": {"nested": {"deep": {"value": ["hello world"]}}}}, False),
    ({"detail": {"nested": ["Hello World"]}}, False),  # an object is no leaf value
    ({"detail": {"state": {"sub": ["x"]}}}, False),  # below a string there is nothing
    ({"detail": {"ip": ["10.0.0.17"]}}, True),
    ({"detail": {"ipv6": ["2001:0db8:0000::0001"]}}, True),  # IP literals compare as addresses
    ({"detail": {"ip": ["10.0.0.18"]}}, False),
    ({"account": [111122223333]}, False),  # the event's account is a string
    ({"detail": {"exactly-field": [{"exactly": "x"}]}}, False),
    ({"detail": {"state": [{"exactly": "terminated"}]}}, True),
])
def test_exact(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


# -- arrays in the event ----------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"tags": ["green"]}}, True),  # any element
    ({"detail": {"tags": ["red"]}}, False),
    ({"detail": {"tags": ["red", "blue"]}}, True),
    ({"detail": {"numbers": [4]}}, True),  # nested arrays are flattened
    ({"detail": {"numbers": [5]}}, False),
    ({"resources": [{"prefix": "arn:aws:ec2:us-west-1"}]}, True),
    ({"detail": {"items": {"kind": ["b"]}}}, True),  # arrays of objects
    ({"detail": {"items": {"kind": ["c"]}}}, False),
    ({"detail": {"items": {"kind": ["a"], "size": [1]}}}, True),
    ({"detail": {"items": {"kind": ["a"], "size": [2]}}}, False),  # within one element
    ({"detail": {"items": {"kind": ["b"], "size": [{"numeric": [">", 1]}]}}}, True),
    ({"detail": {"empty": ["x"]}}, False),
    ({"detail": {"empty": [{"exists": False}]}}, True),  # an empty array holds no value
    ({"detail": {"empty": [{"exists": True}]}}, False),
])
def test_arrays(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


# -- prefix, suffix, equals-ignore-case, wildcard ---------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"source": [{"prefix": "aws."}]}, True),
    ({"source": [{"prefix": "aws.ec"}]}, True),
    ({"source": [{"prefix": "aws.ec2"}]}, True),
    ({"source": [{"prefix": "aws.ec2x"}]}, False),
    ({"source": [{"prefix": "AWS."}]}, False),
    ({"source": [{"prefix": ""}]}, True),
    ({"detail": {"c-count": [{"prefix": "5"}]}}, False),  # numbers are not strings
    ({"source": [{"prefix": {"equals-ignore-case": "AWS.E"}}]}, True),
    ({"source": [{"prefix": {"equals-ignore-case": "AWS.S"}}]}, False),
    ({"detail": {"filename": [{"suffix": ".PNG"}]}}, True),
    ({"detail": {"filename": [{"suffix": ".png"}]}}, False),
    ({"detail": {"filename": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
    ({"detail": {"filename": [{"suffix": {"equals-ignore-case": ".jpg"}}]}}, False),
    ({"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}}, True),
    ({"detail": {"state": [{"equals-ignore-case": "TeRmInAtEd"}]}}, True),
    ({"detail": {"state": [{"equals-ignore-case": "TERMINATE"}]}}, False),
    ({"detail": {"flag": [{"equals-ignore-case": "TRUE"}]}}, False),
    ({"detail": {"filename": [{"wildcard": "photo.*"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "*.PNG"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "p*o*G"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "p*x*G"}]}}, False),
    ({"detail": {"filename": [{"wildcard": "*"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "photo.PNG"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "photo"}]}}, False),
    ({"detail": {"filename": [{"wildcard": "*photo.PNG*"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "photo.PNG*x"}]}}, False),
    ({"detail": {"filename": [{"wildcard": "*o*o*"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "*o*o*o*"}]}}, False),
    ({"detail": {"c-count": [{"wildcard": "*"}]}}, False),
    ({"source": [{"wildcard": "aws.*"}, "other"]}, True),
])
def test_string_operators(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


@pytest.mark.parametrize(("glob", "value", "expected"), [
    (r"a\*b", "a*b", True),
    (r"a\*b", "axb", False),
    (r"a\\b", "a\\b", True),
    ("ab*ab", "ab", False),  # prefix and suffix may not overlap
    ("ab*ab", "abab", True),
    ("a*b*c", "abc", True),
    ("a*b*c", "acb", False),
    ("*é*", "café", True),
])
def test_wildcard_details(glob: str, value: str, expected: bool) -> None:
    check({"f": [{"wildcard": glob}]}, expected, {"f": value})


# -- anything-but -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"state": [{"anything-but": "running"}]}}, True),
    ({"detail": {"state": [{"anything-but": "terminated"}]}}, False),
    ({"detail": {"state": [{"anything-but": ["running", "pending"]}]}}, True),
    ({"detail": {"state": [{"anything-but": ["running", "terminated"]}]}}, False),
    ({"detail": {"c-count": [{"anything-but": 5}]}}, False),
    ({"detail": {"c-count": [{"anything-but": [4, 6]}]}}, True),
    ({"detail": {"d-count": [{"anything-but": [3]}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # needs the field
    ({"detail": {"tags": [{"anything-but": "blue"}]}}, True),  # green is not blue
    ({"detail": {"tags": [{"anything-but": ["blue", "green"]}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"prefix": ["run", "term"]}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"suffix": "ated"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"suffix": "ing"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": "TERMINATED"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["RUNNING", "X"]}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"wildcard": "*min*"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"wildcard": ["x*", "*y"]}}]}}, True),
    ({"detail": {"c-count": [{"anything-but": {"prefix": "5"}}]}}, True),  # a number is no string
])
def test_anything_but(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


# -- numeric ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"c-count": [{"numeric": [">", 0]}]}}, True),
    ({"detail": {"c-count": [{"numeric": [">", 5]}]}}, False),
    ({"detail": {"c-count": [{"numeric": [">=", 5]}]}}, True),
    ({"detail": {"c-count": [{"numeric": ["<", 5]}]}}, False),
    ({"detail": {"c-count": [{"numeric": ["<=", 5]}]}}, True),
    ({"detail": {"c-count": [{"numeric": ["=", 5]}]}}, True),
    ({"detail": {"c-count": [{"numeric": ["=", 5.5]}]}}, False),
    ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ({"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}}, False),
    ({"detail": {"c-count": [{"numeric": [">", 5, "<", 10]}]}}, False),
    ({"detail": {"c-count": [{"numeric": [">=", 5, "<", 10]}]}}, True),
    ({"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}, True),
    ({"detail": {"x-limit": [{"numeric": [">", -1e9, "<", 1e9]}]}}, True),
    ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),  # strings never match numeric
    ({"detail": {"flag": [{"numeric": [">", 0]}]}}, False),  # nor booleans
    ({"detail": {"numbers": [{"numeric": [">", 3.5]}]}}, True),  # any array element
    ({"detail": {"numbers": [{"numeric": [">", 4]}]}}, False),
])
def test_numeric(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


# -- exists -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"state": [{"exists": False}]}}, False),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"nothing": [{"exists": True}]}}, True),  # a null value is there
    ({"detail": {"nested": [{"exists": True}]}}, False),  # exists looks at leaves only
    ({"detail": {"nested": {"deep": {"value": [{"exists": True}]}}}}, True),
    ({"nope": {"deeper": [{"exists": False}]}}, True),
    ({"detail": {"missing": [{"exists": False}, "x"]}}, True),
    ({"detail": {"state": [{"exists": False}, "terminated"]}}, True),
    ({"detail": {"state": [{"exists": False}, "running"]}}, False),
    ({"detail": {"items": {"kind": [{"exists": True}]}}}, True),
])
def test_exists(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


# -- cidr -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/28"}]}}, False),
    ({"detail": {"ip": [{"cidr": "10.0.0.16/31"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/0"}]}}, True),
    ({"detail": {"ip": [{"cidr": "192.168.0.0/16"}]}}, False),
    ({"detail": {"ipv6": [{"cidr": "2001:db8::/32"}]}}, True),
    ({"detail": {"ipv6": [{"cidr": "2001:db9::/32"}]}}, False),
    ({"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}, False),
    ({"detail": {"state": [{"cidr": "10.0.0.0/8"}]}}, False),
    ({"detail": {"c-count": [{"cidr": "10.0.0.0/8"}]}}, False),
])
def test_cidr(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


# -- $or --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"state": ["terminated"]}}]}, True),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"state": ["running"]}}]}, False),
    ({"source": ["aws.ec2"], "$or": [{"detail-type": ["x"]}, {"region": ["us-west-1"]}]}, True),
    ({"source": ["aws.s3"], "$or": [{"detail-type": ["x"]}, {"region": ["us-west-1"]}]}, False),
    ({"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                         {"d-count": [{"numeric": ["<", 10]}]}]}}, True),
    ({"detail": {"$or": [{"c-count": [{"numeric": [">", 5]}]},
                         {"d-count": [{"numeric": ["<", 3]}]}]}}, False),
    ({"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"source": ["aws.ec2"]}]}]}, True),
    ({"$or": [{"source": ["aws.ec2"], "region": ["x"]}, {"account": ["111122223333"]}]}, True),
    ({"$or": [{"source": ["aws.ec2"], "region": ["x"]}, {"account": ["1"]}]}, False),
])
def test_or(pattern: Any, expected: bool) -> None:
    check(pattern, expected)


def test_mapping_source_and_repr() -> None:
    pattern = compile_pattern({"source": ["aws.ec2"]})
    assert isinstance(pattern, EventPattern)
    assert pattern.matches(EVENT)
    assert json.loads(pattern.source) == {"source": ["aws.ec2"]}


# -- invalid patterns (AWS's reasons) ---------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "text"), [
    ('["source"]', "Filter is not an object"),
    ('"x"', "Filter is not an object"),
    ({}, "Empty objects are not allowed"),
    ({"detail": {}}, "Empty objects are not allowed"),
    ({"source": "aws.ec2"}, '"source" must be an object or an array'),
    ({"source": 5}, '"source" must be an object or an array'),
    ({"source": []}, "Empty arrays are not allowed"),
    ({"source": [["x"]]}, "Match value must be String, number, true, false, or null"),
    ({"source": [{}]}, "Match expression name not found"),
    ({"source": [{"regex": "x"}]}, "Unrecognized match type regex"),
    ({"source": [{"prefix": 5}]}, "prefix match pattern must be a string"),
    ({"source": [{"prefix": "a", "suffix": "b"}]}, "Only one key allowed in match expression"),
    ({"source": [{"prefix": {"suffix": "a"}}]}, "Unsupported prefix pattern: suffix"),
    ({"source": [{"prefix": {"equals-ignore-case": 5}}]}, "equals-ignore-case match pattern must be a string"),
    ({"source": [{"suffix": None}]}, "suffix match pattern must be a string"),
    ({"source": [{"suffix": {"prefix": "a"}}]}, "Unsupported suffix pattern: prefix"),
    ({"source": [{"equals-ignore-case": ["a"]}]}, "equals-ignore-case match pattern must be a string"),
    ({"source": [{"wildcard": 1}]}, "wildcard match pattern must be a string"),
    ({"source": [{"wildcard": "a**b"}]}, "Consecutive wildcard characters at pos 2"),
    ({"source": [{"wildcard": "a\\b"}]}, "Invalid escape character at pos 2"),
    ({"source": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
    ({"source": [{"exactly": 5}]}, "exact match pattern must be a string"),
    ({"source": [{"numeric": 5}]}, "Value of numeric must be an array."),
    ({"source": [{"numeric": []}]}, "Invalid member in numeric match: ]"),
    ({"source": [{"numeric": [5]}]}, "Invalid member in numeric match: 5"),
    ({"source": [{"numeric": ["!=", 5]}]}, "Unrecognized numeric range operator: !="),
    ({"source": [{"numeric": ["=", "5"]}]}, "Value of equals must be numeric"),
    ({"source": [{"numeric": [">", "a"]}]}, "Value of > must be numeric"),
    ({"source": [{"numeric": ["<", 5, ">", 1]}]}, "Too many elements in numeric expression"),
    ({"source": [{"numeric": [">", 5, 6]}]}, "Bad value in numeric range: 6"),
    ({"source": [{"numeric": [">", 5, ">", 6]}]}, "Bad numeric range operator: >"),
    ({"source": [{"numeric": [">", 5, "<", "x"]}]}, "Value of < must be numeric"),
    ({"source": [{"numeric": [">", 5, "<", 6, 7]}]}, "Too many terms in numeric range expression"),
    ({"source": [{"numeric": [">", 6, "<", 5]}]}, "Bottom must be less than top"),
    ({"source": [{"anything-but": None}]},
     "Value of anything-but must be an array or single string/number value."),
    ({"source": [{"anything-but": [True]}]}, "Inside anything but list, start|null|boolean is not supported."),
    ({"source": [{"anything-but": ["a", 1]}]},
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ({"source": [{"anything-but": []}]},
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ({"source": [{"anything-but": {"exists": True}}]}, "Unsupported anything-but pattern: exists"),
    ({"source": [{"anything-but": {}}]}, "Anything-But expression name not found"),
    ({"source": [{"anything-but": {"prefix": ""}}]}, "Null prefix/suffix not allowed"),
    ({"source": [{"anything-but": {"prefix": 5}}]}, "prefix/suffix match pattern must be a string"),
    ({"source": [{"anything-but": {"suffix": [1]}}]}, "prefix/suffix match pattern must be a string"),
    ({"source": [{"anything-but": {"equals-ignore-case": [1]}}]},
     "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."),
    ({"source": [{"anything-but": {"wildcard": [1]}}]}, "wildcard match pattern must be a string"),
    ({"source": [{"anything-but": {"wildcard": "a**"}}]}, "Consecutive wildcard characters at pos 2"),
    ({"source": [{"anything-but": {"prefix": True}}]},
     "Value of anything-but must be an array or single string/number value."),
    ({"source": [{"cidr": 5}]}, "prefix match pattern must be a string"),
    ({"source": [{"cidr": "10.0.0.0"}]}, "Malformed CIDR, one '/' required"),
    ({"source": [{"cidr": "10.0.0.0/x"}]}, "Malformed CIDR, mask bits must be an integer"),
    ({"source": [{"cidr": "10.0.0.0/-1"}]}, "Malformed CIDR, mask bits must not be negative"),
    ({"source": [{"cidr": "10.0.0.0/32"}]}, "IPv4 mask bits must be < 32"),
    ({"source": [{"cidr": "::/128"}]}, "IPv6 mask bits must be < 128"),
    ({"source": [{"cidr": "example.com/8"}]}, "Nonstandard IP address: example.com"),
    ({"source": [{"cidr": "999.0.0.0/8"}]}, "Invalid IP address: 999.0.0.0"),
    ({"$or": {"a": ["b"]}}, "It must be an Array followed with $or."),
    ({"$or": [{"a": ["b"]}, "x"]}, "Only JSON object is allowed in array of $or relationship."),
    ({"$or": [{"a": ["b"]}]}, "There must have at least 2 Objects in $or relationship."),
    ({"$or": [{"a": ["b"]}, {"numeric": ["b"]}]},
     "numeric is Ruler reserved fieldName which cannot be used inside $or."),
])
def test_invalid(pattern: Any, text: str) -> None:
    assert reason(pattern) == text


def test_invalid_json_and_error_class() -> None:
    assert reason('{"source": [') .startswith("Expecting value")
    assert reason('{"a": [NaN]}') == "Non-standard token 'NaN'"
    assert issubclass(InvalidEventPattern, LambdadError)


def test_first_error_in_document_order() -> None:
    assert reason({"a": "x", "$or": 5}) == '"a" must be an object or an array'


# -- pathological patterns --------------------------------------------------------------------------

def test_or_explosion_is_refused_before_it_is_multiplied_out() -> None:
    branch = {"$or": [{"a": ["1"]}, {"b": ["2"]}]}
    pattern = {f"f{i}": branch for i in range(40)}  # 2**40 alternatives
    started = time.monotonic()
    assert reason(pattern) == "Rule is too complex"
    assert time.monotonic() - started < 1
    ten = {f"f{i}": branch for i in range(10)}  # exactly 1,024: accepted
    assert len(compile_pattern(ten).alternatives) == MAX_ALTERNATIVES


def test_deep_nesting_is_refused() -> None:
    text = '{"a":' * 5000 + '["x"]' + "}" * 5000
    assert reason(text) == "Filter is nested too deeply"
    nested: dict[str, Any] = {"v": ["x"]}
    for _ in range(100):
        nested = {"n": nested}
    assert reason(nested) == "Filter is nested too deeply"


def test_wildcards_do_not_backtrack() -> None:
    glob = "*a" * 2000 + "*b"
    compiled = compile_pattern({"f": [{"wildcard": glob}]})
    started = time.monotonic()
    assert not compiled.matches({"f": "a" * 50_000})
    assert compiled.matches({"f": "a" * 2000 + "b"})
    assert time.monotonic() - started < 2  # a regex would take geological time


def test_huge_event_arrays() -> None:
    compiled = compile_pattern({"detail": {"items": {"k": ["last"], "n": [{"numeric": [">", 5]}]}}})
    items = [{"k": "x", "n": i} for i in range(20_000)] + [{"k": "last", "n": 6}]
    assert compiled.matches({"detail": {"items": items}})
    assert not compiled.matches({"detail": {"items": items[:-1]}})


# -- the index --------------------------------------------------------------------------------------

def test_index_add_remove_replace() -> None:
    index: PatternIndex[str] = PatternIndex()
    index.add("ec2", compile_pattern({"source": ["aws.ec2"]}))
    index.add("s3", compile_pattern({"source": ["aws.s3"]}))
    index.add("prefix", compile_pattern({"source": [{"prefix": "aws."}]}))
    index.add("absent", compile_pattern({"nope": [{"exists": False}]}))
    assert index.matching(EVENT) == {"ec2", "prefix", "absent"}
    index.remove("ec2")
    index.remove("missing")  # removing a key not there is a no-op
    assert index.matching(EVENT) == {"prefix", "absent"}
    index.add("s3", compile_pattern({"detail": {"state": ["terminated"]}}))  # replaces
    assert index.matching(EVENT) == {"s3", "prefix", "absent"}
    assert len(index) == 3 and "s3" in index
    for key in list(index.keys()):
        index.remove(key)
    assert index.matching(EVENT) == set()


def test_index_agrees_with_scanning_random_patterns() -> None:
    rng = random.Random(15)
    sources = ["aws.ec2", "aws.s3", "app.orders", "app.users"]
    states = ["running", "terminated", "pending"]

    def random_pattern() -> dict[str, Any]:
        pattern: dict[str, Any] = {}
        if rng.random() < 0.7:
            pattern["source"] = rng.sample(sources, rng.randint(1, 2))
        if rng.random() < 0.5:
            pattern["detail"] = {"state": rng.choice([rng.sample(states, 1), [{"prefix": "ru"}],
                                                      [{"anything-but": "pending"}]])}
        if rng.random() < 0.3:
            pattern["$or"] = [{"detail-type": ["A"]}, {"detail": {"n": [{"numeric": [">", rng.randint(0, 9)]}]}}]
        return pattern or {"account": [{"exists": True}]}

    patterns = {f"r{i}": compile_pattern(random_pattern()) for i in range(300)}
    index: PatternIndex[str] = PatternIndex()
    for key, pattern in patterns.items():
        index.add(key, pattern)
    for _ in range(120):
        event = {"source": rng.choice(sources), "detail-type": rng.choice(["A", "B"]), "account": "1",
                 "detail": {"state": rng.choice(states), "n": rng.randint(0, 10)}}
        assert index.matching(event) == {k for k, p in patterns.items() if p.matches(event)}
