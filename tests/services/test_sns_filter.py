"""SNS filter policies, table-driven: what matches, and AWS's validation messages (recorded)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdad.services.sns.filter_policy import FilterPolicyError, compile_policy


def attrs(**values: Any) -> dict[str, dict[str, str]]:
    out = {}
    for name, value in values.items():
        if isinstance(value, bytes):
            out[name] = {"DataType": "Binary", "BinaryValue": value}
        elif isinstance(value, list):
            out[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        elif isinstance(value, int | float):
            out[name] = {"DataType": "Number", "StringValue": str(value)}
        else:
            out[name] = {"DataType": "String", "StringValue": value}
    return out


ATTRIBUTE_CASES = [
    # (policy, message attributes, matches)
    ({"color": ["red"]}, attrs(color="red"), True),
    ({"color": ["red"]}, attrs(color="blue"), False),
    ({"color": ["red"]}, attrs(), False),
    ({"color": ["red", "blue"]}, attrs(color="blue"), True),
    ({"color": ["red"], "size": ["L"]}, attrs(color="red", size="L"), True),
    ({"color": ["red"], "size": ["L"]}, attrs(color="red", size="M"), False),
    ({"price": [100]}, attrs(price=100), True),
    ({"price": [100]}, attrs(price="100"), False),
    ({"price": ["100"]}, attrs(price=100), False),
    ({"color": [{"prefix": "re"}]}, attrs(color="red"), True),
    ({"color": [{"prefix": "re"}]}, attrs(color="bred"), False),
    ({"color": [{"suffix": "ed"}]}, attrs(color="red"), True),
    ({"color": [{"suffix": "ed"}]}, attrs(color="redx"), False),
    ({"color": [{"equals-ignore-case": "RED"}]}, attrs(color="rEd"), True),
    ({"color": [{"anything-but": "red"}]}, attrs(color="blue"), True),
    ({"color": [{"anything-but": "red"}]}, attrs(color="red"), False),
    ({"color": [{"anything-but": "red"}]}, attrs(), False),
    ({"color": [{"anything-but": ["red", "blue"]}]}, attrs(color="blue"), False),
    ({"color": [{"anything-but": {"prefix": "re"}}]}, attrs(color="red"), False),
    ({"color": [{"anything-but": {"prefix": "re"}}]}, attrs(color="green"), True),
    ({"price": [{"anything-but": [100, 200]}]}, attrs(price=150), True),
    ({"price": [{"anything-but": [100, 200]}]}, attrs(price=200), False),
    ({"price": [{"numeric": [">", 0, "<=", 100]}]}, attrs(price=99.12), True),
    ({"price": [{"numeric": [">", 0, "<=", 100]}]}, attrs(price=100), True),
    ({"price": [{"numeric": [">", 0, "<=", 100]}]}, attrs(price=100.12), False),
    ({"price": [{"numeric": [">", 0, "<=", 100]}]}, attrs(price=0), False),
    ({"price": [{"numeric": ["=", 3.5]}]}, attrs(price=3.5), True),
    ({"price": [{"numeric": ["<", 10]}]}, attrs(price="5"), False),
    ({"store": [{"exists": True}]}, attrs(store="x"), True),
    ({"store": [{"exists": True}]}, attrs(other="x"), False),
    ({"store": [{"exists": False}]}, attrs(other="x"), True),
    ({"store": [{"exists": False}]}, attrs(store="x"), False),
    ({"store": [{"exists": True}]}, attrs(store=b"\x01"), True),
    ({"store": ["x"]}, attrs(store=b"x"), False),
    ({"store": ["value1"]}, attrs(store=["value1", "value2"]), True),
    ({"store": ["value3"]}, attrs(store=["value1", "value2"]), False),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip="10.0.0.255"), True),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip="10.0.1.0"), False),
    ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(b="2"), True),
    ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(c="3"), False),
    ({"c": ["3"], "$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(a="1", c="3"), True),
    ({"c": ["3"], "$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(a="1"), False),
    ({}, attrs(anything="x"), True),
]


@pytest.mark.parametrize(("policy", "attributes", "expected"), ATTRIBUTE_CASES)
def test_message_attributes_scope(policy: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    assert compile_policy(json.dumps(policy)).matches(attributes, "body") is expected


BODY_CASES = [
    ({"object": {"key": [{"prefix": "auto-"}]}}, {"object": {"key": "auto-test"}}, True),
    ({"object": {"key": [{"prefix": "auto-"}]}}, {"object": {"key": "manual"}}, False),
    ({"object": {"key": [{"prefix": "auto-"}]}}, {"object.key": "auto-test"}, False),
    ({"object": {"nested": {"test": ["string.value"]}}}, {"object": {"nested": {"test": "string.value"}}}, True),
    ({"headers": {"route-to": ["queue1"]}}, {"headers": {"route-to": ["queue1", "queue2"]}}, True),
    ({"headers": {"route-to": ["queue1"]}}, {"headers": {"route-to": ["queue2"]}}, False),
    ({"Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}}, "eventName": [{"prefix": "ObjectCreated:"}]}},
     {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": [[{"key": "auto-insurance-2314.xml"}]]}}]},
     True),
    ({"Records": {"eventName": [{"prefix": "ObjectCreated:"}]}},
     {"Records": [{"eventName": "ObjectRemoved:Delete"}]}, False),
    ({"detail": {"scope": ["Service"]}, "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
     {"metricName": "CPUUtilization", "detail": {"scope": "Service"}}, True),
    ({"detail": {"scope": ["Service"]}, "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
     {"namespace": "AWS/ES", "detail": {"scope": "Service"}}, False),
    ({"detail": {"responseElements": [None]}}, {"detail": {"responseElements": None}}, True),
    ({"flag": [True]}, {"flag": True}, True),
    ({"flag": [True]}, {"flag": "true"}, False),
    ({"count": [{"numeric": [">=", 2]}]}, {"count": 3}, True),
    ({"missing": [{"exists": False}]}, {"present": 1}, True),
    ({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, {"detail": {"sourceIPAddress": "10.0.0.255"}}, True),
    ({"detail": {"sourceIPAddressV6": [{"cidr": "2001:db8:1234:1a00::/64"}]}},
     {"detail": {"sourceIPAddressV6": "2001:0db8:1234:1a00:0000:0000:0000:0000"}}, True),
]


@pytest.mark.parametrize(("policy", "payload", "expected"), BODY_CASES)
def test_message_body_scope(policy: dict[str, Any], payload: Any, expected: bool) -> None:
    assert compile_policy(json.dumps(policy), "MessageBody").matches({}, json.dumps(payload)) is expected


def test_message_body_scope_needs_a_json_object() -> None:
    policy = compile_policy(json.dumps({"a": ["b"]}), "MessageBody")
    assert not policy.matches({}, "not json")
    assert not policy.matches({}, json.dumps(["a"]))


INVALID_CASES = [
    # Messages recorded from AWS (without Jackson's " at [Source: ...]" trailer).
    ({"key": [["value"]]}, "Match value must be String, number, true, false, or null"),
    ({"key": [{"wrong-operator": True}]}, "Unrecognized match type wrong-operator"),
    ({"key": [{"suffix": "value", "prefix": "value2"}]}, "Only one key allowed in match expression"),
    ({"key": []}, "Empty arrays are not allowed"),
    ({"key": [{"suffix": 100}]}, "suffix match pattern must be a string"),
    ({"key": [{"suffix": None}]}, "suffix match pattern must be a string"),
    ({"key": {"suffix": "value"}}, '"suffix" must be an object or an array'),
    ({"key": [{"prefix": False}]}, "prefix match pattern must be a string"),
    ({"key": [{"cidr": "bad-filter"}]}, "Malformed CIDR, one '/' required"),
    ({"key": [{"cidr": "bad-filter/"}]}, "Nonstandard IP address: bad-filter"),
    ({"key": [{"cidr": "10.0.0.0/x"}]}, "Malformed CIDR, mask bits must be an integer"),
    ({"key": [{"cidr": "xx.11.xx/8"}]}, "Nonstandard IP address: xx.11.xx"),
    ({"key": [{"numeric": []}]}, "Invalid member in numeric match: ]"),
    ({"key": [{"numeric": ["operator"]}]}, "Unrecognized numeric range operator: operator"),
    ({"key": [{"numeric": [1, "<="]}]}, "Invalid member in numeric match: 1"),
    ({"key": [{"numeric": ["=", "000"]}]}, "Value of equals must be numeric"),
    ({"key": [{"numeric": [">="]}]}, "Value of >= must be numeric"),
    ({"key": [{"numeric": ["<", 100, ">", 10]}]}, "Too many elements in numeric expression"),
    ({"key": [{"numeric": [">", 10, ">", 100]}]}, "Bad numeric range operator: >"),
    ({"key": [{"numeric": [">", 100, "<", 10]}]}, "Bottom must be less than top"),
    ({"key": [{"numeric": [">", 10, "<="]}]}, "Value of <= must be numeric"),
    ({"key": [{"numeric": [">", 10, 30]}]}, "Bad value in numeric range: 30"),
    ({"key": [{"numeric": [">", 10, "test", 30]}]}, "Bad numeric range operator: test"),
    ({"key": [{"numeric": [">", "10", "<", 30]}]}, "Value of > must be numeric"),
    ({"key": [{"numeric": [">", 10, "<", "30"]}]}, "Value of < must be numeric"),
    ({"key": [{"numeric": [">", 0, "<", 1, ">", 2]}]}, "Too many terms in numeric range expression"),
    ({"key": [{"exists": None}]}, "exists match pattern must be either true or false."),
    ({"key": [{"exists": "no"}]}, "exists match pattern must be either true or false."),
    ({"key": [{"anything-but": {"wrong-operator": None}}]}, "Unsupported anything-but pattern: wrong-operator"),
    ({"key": [{"anything-but": {"suffix": "test"}}]}, "Unsupported anything-but pattern: suffix"),
    ({"key": [{"anything-but": {"prefix": False}}]}, "prefix match pattern must be a string"),
    ({"key": [str(i) for i in range(151)]}, "Filter policy is too complex"),
    ({"a": [str(i) for i in range(13)], "b": [str(i) for i in range(13)]}, "Filter policy is too complex"),
    ({k: ["v"] for k in "abcdef"}, "Filter policy can not have more than 5 keys"),
    ({"$or": [{"a": [str(i) for i in range(100)]}, {"b": [str(i) for i in range(51)]}]},
     "Filter policy is too complex"),
    ({"key_a": "value_one"}, '"key_a" must be an object or an array'),
]


@pytest.mark.parametrize(("policy", "message"), INVALID_CASES)
def test_validation_messages(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterPolicyError) as exc:
        compile_policy(json.dumps(policy))
    assert str(exc.value) == message


def test_nested_policies_need_the_message_body_scope() -> None:
    text = json.dumps({"object": {"key": [{"prefix": "auto-"}]}})
    with pytest.raises(FilterPolicyError) as exc:
        compile_policy(text, "MessageAttributes")
    assert str(exc.value) == "Filter policy scope MessageAttributes does not support nested filter policy"
    assert compile_policy(text, "MessageBody").scope == "MessageBody"
