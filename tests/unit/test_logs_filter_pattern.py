"""CloudWatch Logs filter patterns (services/logs/filter_pattern.py) as AWS documents them, and a
hostile pattern costing time linear in its length."""

from __future__ import annotations

import json
import time

import pytest

from lambdad.errors import LogsError
from lambdad.services.logs.filter_pattern import compile_pattern, split_fields

J = json.dumps

CASES = [
    ("", "anything", True),
    ("ERROR", "an ERROR here", True),
    ("ERROR", "an error here", False),  # case-sensitive
    ("ERROR Exception", "ERROR: Exception raised", True),  # terms are substrings, in any order
    ("ERROR Exception", "ERROR and Exception", True),
    ("ERROR Exception", "ERROR only", False),
    ('"Internal Server Error"', "500 Internal Server Error", True),
    ('"Internal Server Error"', "Internal Error", False),
    ("ERROR -Retry", "ERROR will Retry", False),
    ("ERROR -Retry", "ERROR final", True),
    ("?ERROR ?WARN", "WARN low disk", True),
    ("?ERROR ?WARN", "INFO fine", False),
    ('{ $.level = "ERROR" }', J({"level": "ERROR"}), True),
    ('{ $.level = "ERROR" }', J({"level": "INFO"}), False),
    ('{ $.level = "ERROR" }', "not json ERROR", False),
    ('{ $.level = ERR* }', J({"level": "ERROR"}), True),
    ('{ $.level != "ERROR" }', J({"level": "INFO"}), True),
    ('{ $.latency > 100 }', J({"latency": 150}), True),
    ('{ $.latency > 100 }', J({"latency": "150"}), False),
    ('{ $.latency <= 100 }', J({"latency": 100}), True),
    ('{ $.code = 404 }', J({"code": 404.0}), True),
    ('{ $.a.b[1] = "x" }', J({"a": {"b": ["w", "x"]}}), True),
    ('{ $.a.b[5] = "x" }', J({"a": {"b": ["w", "x"]}}), False),
    ('{ ($.level = "ERROR" || $.level = "WARN") && $.ms > 10 }', J({"level": "WARN", "ms": 11}), True),
    ('{ ($.level = "ERROR" || $.level = "WARN") && $.ms > 10 }', J({"level": "WARN", "ms": 1}), False),
    ('{ $.level = "ERROR" || $.ms > 10 && $.x = 1 }', J({"level": "ERROR"}), True),  # && binds tighter
    ('{ $.flag IS TRUE }', J({"flag": True}), True),
    ('{ $.flag IS FALSE }', J({"flag": True}), False),
    ('{ $.gone IS NULL }', J({"gone": None}), True),
    ('{ $.gone NOT EXISTS }', J({}), True),
    ('{ $.here EXISTS }', J({"here": 0}), True),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]",
     '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 404 2326', True),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]",
     '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326', False),
    ("[ip, user, ..., status = 4* || status = 5*, bytes > 1000]", "1.2.3.4 bob x y 503 2000", True),
    ("[ip, user, ..., status = 4* || status = 5*, bytes > 1000]", "1.2.3.4 bob x y 503 20", False),
    ("[a, b]", "one two three", False),
    ("[a, ...]", "one two three", True),
    ('[a, b != "x"]', "one y", True),
]


@pytest.mark.parametrize(("pattern", "message", "expected"), CASES)
def test_documented_patterns(pattern: str, message: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(message) is expected


@pytest.mark.parametrize("bad", [
    '{ $.level = "ERROR"', "{ level = 1 }", "{ $.a > x }", "{ $.a = }", "{ $. = 1 }", '{ $.a = "x }',
    "{ $.a = 1 && }", "{ ((((((((($.a = 1))))))))) }", "[a, , b]", "[a, ..., ...]", "[a, b = ]",
    "[a, b = 1 && z = 2]", "email@domain.com", '""', '"unterminated', "%regex%", "x" * 1025, "[a b",
])
def test_malformed_patterns_are_invalid_parameter(bad: str) -> None:
    with pytest.raises(LogsError) as exc:
        compile_pattern(bad)
    assert exc.value.code == "InvalidParameterException"


def test_hostile_patterns_stay_linear() -> None:
    message = "a" * 200_000
    started = time.perf_counter()
    glob = compile_pattern("{ $.x = " + "a*" * 200 + "b }")
    assert not glob.matches(J({"x": message}))
    nested = compile_pattern("{ " + " || ".join(f"$.k{i} = {i}" for i in range(50)) + " }")
    assert not nested.matches(J({"k": 1}))
    assert not compile_pattern("[" + ", ".join(f"f{i}" for i in range(100)) + "]").matches(message)
    assert time.perf_counter() - started < 5  # generous: a backtracking matcher takes hours here


def test_fields_split_quotes_and_brackets() -> None:
    assert split_fields('1.2.3.4 - [10/Oct/2000 -0700] "GET / HTTP/1.0" 200') == [
        "1.2.3.4", "-", "10/Oct/2000 -0700", "GET / HTTP/1.0", "200"]


def test_json_needles_narrow_only_what_must_appear() -> None:
    assert compile_pattern('{ $.level = "ERROR" && $.ms > 3 }').required == ("ERROR",)
    assert compile_pattern('{ $.level = "ERR*" }').required == ("ERR",)
    assert compile_pattern('{ $.level = "ERROR" || $.x = 1 }').required == ()
    assert compile_pattern('{ $.level != "ERROR" }').required == ()
    assert compile_pattern('{ $.path = "/a/b" }').required == ()  # "/" may be written "\\/"
    assert compile_pattern('{ $.level = "ERROR" }').matches('{"level": "\\u0045RROR"}')
