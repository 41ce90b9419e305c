"""The wildcard matcher: IAM's semantics, case by case and against a reference regex, and patterns
built to make a backtracking matcher take exponential time (issue 12, finding 2)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys

import pytest

from lambdad.wildcards import arn_match, match

FN = "arn:aws:lambda:us-east-1:000000000000:function:my-fn"

MATCH_CASES = [
    # (pattern, text, ignore_case, expected)
    ("", "", False, True),
    ("", "a", False, False),
    ("*", "", False, True),
    ("*", "anything: at all\n", False, True),
    ("?", "", False, False),
    ("?", "x", False, True),
    ("?", "xy", False, False),
    ("lambda:Invoke*", "lambda:InvokeFunction", False, True),
    ("lambda:Invoke*", "lambda:invokefunction", False, False),
    ("lambda:Invoke*", "lambda:invokefunction", True, True),
    ("LAMBDA:*function", "lambda:InvokeFunction", True, True),
    ("lambda:Get*", "lambda:InvokeFunction", True, False),
    ("AIDA*:ci-?", "AIDAXYZ:ci-7", False, True),
    ("AIDA*:ci-?", "AIDAXYZ:ci-77", False, False),
    ("a*b*c", "abc", False, True),
    ("a*b*c", "aXbYc", False, True),
    ("a*b*c", "acb", False, False),
    ("*ab", "aab", False, True),  # the last block is anchored at the end
    ("ab*", "aab", False, False),  # the first at the start
    ("a*a", "a", False, False),  # first and last blocks must not overlap
    ("a*a", "aa", False, True),
    ("*a?c*", "xxabxaxc", False, True),
    ("*a?c*", "xxabxaxd", False, False),
    ("**", "", False, True),
    ("*?*?*", "x", False, False),
    ("*?*?*", "xy", False, True),
    ("/api/*/items/?", "/api/v1/items/7", False, True),
    ("*.example.com", "API.Example.COM", False, False),
    ("*.example.com", "API.Example.COM", True, True),
    ("*.example.com", "api.example.com", True, True),
    ("[a]", "a", False, False),  # brackets are literal (unlike fnmatch)
    ("[a]", "[a]", False, True),
    ("ß*", "ßx", True, True),
    ("İ?", "İx", True, True),  # folding keeps the length: "?" still counts one character
]

ARN_CASES = [
    # (pattern, arn, expected) -- IAM "Resource" and ArnLike
    (FN, FN, True),
    (FN, f"{FN}:prod", False),  # an unqualified ARN does not cover an alias
    ("arn:aws:lambda:*:000000000000:function:my-*", FN, True),
    ("arn:aws:lambda:us-east-?:000000000000:function:my-fn", FN, True),
    (f"{FN}*", f"{FN}:prod", True),  # a "*" ending a segment runs across colons
    (f"{FN}:*", f"{FN}:prod", True),
    (f"{FN}:*", FN, False),
    ("arn:aws:lambda:us-east-1:000000000000:function:my*prod", f"{FN}:prod", False),  # an inner "*" does not
    ("arn:aws:lambda:us-east-1:000000000000:function:my?fn", FN, True),
    ("arn:aws:lambda:us-east-1:000000000000:function?my-fn", FN, False),  # "?" never matches a colon
    ("arn:aws:sns:*", "arn:aws:sns:us-east-1:000000000000:alerts", True),
    ("arn:aws:sns:*:000000000000:*", "arn:aws:sns:us-east-1:000000000000:alerts", True),
    ("arn:aws:sns:*:000000000000:*", "arn:aws:sns:us-east-1:111111111111:alerts", False),
    ("arn:aws:sns:*", "arn:aws:sns", False),
    ("arn:aws:s3:::uploads-*", "arn:aws:s3:::uploads-2024", True),
    ("arn:aws:s3:::uploads-*", "arn:aws:s3:::uploads-2024/key:with:colons", True),
    ("arn:aws:s3:::*/private/*", "arn:aws:s3:::bucket/private/x", True),
    ("arn:aws:s3:::*/private", "arn:aws:s3:::bucket/public/private", True),
    ("arn:aws:iam::*:user/*", "arn:aws:iam::000000000000:user/alice", True),
    ("arn:aws:iam::*:user/*", "arn:aws:iam::000000000000:role/alice", False),
    ("arn:aws:iam::000000000000:user/*", "arn:aws:iam::000000000000:user/a/b/c", True),
    ("arn:*:lambda:*:*:function:*", FN, True),
    ("arn:*:lambda:*:*:function:*", "arn:aws:sqs:us-east-1:0:function:x", False),
    ("arn:aws:lambda:us-east-1:000000000000:function:*:prod", f"{FN}:prod", True),
    ("arn:aws:lambda:us-east-1:000000000000:function:*:prod", f"{FN}:1", False),
    ("*", "not even an arn", True),
    ("*:*", "no colon", False),
    ("a*:b", "ax:y:b", True),
    ("a*:b", "ax:y:c", False),
]


@pytest.mark.parametrize(("pattern", "text", "ignore_case", "expected"), MATCH_CASES)
def test_match(pattern: str, text: str, ignore_case: bool, expected: bool) -> None:
    assert match(pattern, text, ignore_case) is expected


@pytest.mark.parametrize(("pattern", "arn", "expected"), ARN_CASES)
def test_arn_match(pattern: str, arn: str, expected: bool) -> None:
    assert arn_match(pattern, arn) is expected


# -- the reference: the regexes lambdad used before (right answers, exponential time) --------------

def _reference(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _arn_reference(pattern: str) -> re.Pattern[str]:
    parts = []
    for i, c in enumerate(pattern):
        if c == "*":
            parts.append(".*" if i + 1 == len(pattern) or pattern[i + 1] == ":" else "[^:]*")
        else:
            parts.append("[^:]" if c == "?" else re.escape(c))
    return re.compile("".join(parts), re.DOTALL)


def test_agrees_with_the_reference_on_random_short_inputs() -> None:
    rnd = random.Random(12)
    for _ in range(20000):
        text = "".join(rnd.choice("ab:A") for _ in range(rnd.randint(0, 12)))
        pattern = "".join(rnd.choice("ab:A*?") for _ in range(rnd.randint(0, 9)))
        ignore_case = rnd.random() < 0.3
        expected = _reference(pattern, ignore_case).fullmatch(text) is not None
        assert match(pattern, text, ignore_case) is expected, (pattern, text, ignore_case)
        expected = _arn_reference(pattern).fullmatch(text) is not None
        assert arn_match(pattern, text) is expected, (pattern, text)


# -- pathological patterns ---------------------------------------------------------------------------

PATHOLOGICAL = [
    # (kind, pattern, text, expected); each took a backtracking matcher from seconds to forever
    ("arn", "arn:aws:lambda:us-east-1:000000000000:function:" + "*a" * 7 + "*b",
     "arn:aws:lambda:us-east-1:000000000000:function:" + "a" * 64, False),
    ("arn", "arn:aws:lambda:us-east-1:000000000000:function:" + "*a" * 30 + "*b",
     "arn:aws:lambda:us-east-1:000000000000:function:" + "a" * 64, False),
    ("arn", "arn:aws:sns:us-east-1:000000000000:" + "*a" * 30 + "*", "arn:aws:sns:us-east-1:000000000000:"
     + "a" * 256, True),
    ("arn", "*:" * 100 + "b", ":" * 2000 + "a", False),
    ("action", "lambda:" + "*a" * 40 + "*b", "lambda:" + "a" * 2000, False),
    ("string", "*a" * 500 + "*b", "a" * 10000, False),
    ("string", "*" + "a?" * 500 + "c*", "a" * 10000, False),
    ("string", "*" + "a?" * 2000 + "c*", "a" * 10000 + "ac", True),
    ("string", "?" * 3000 + "*" + "?*" * 3000, "a" * 9000, True),
]


def _run_isolated(code: str, stdin: str = "") -> str:
    # In a child process: a backtracking matcher holds the GIL, so only a process can be given up on.
    done = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pathological_patterns_finish() -> None:
    out = _run_isolated(
        "import json, sys\n"
        "from lambdad.wildcards import arn_match, match\n"
        "print(json.dumps([arn_match(p, t) if kind == 'arn' else match(p, t, kind == 'action')"
        " for kind, p, t, _ in json.load(sys.stdin)]))\n", json.dumps(PATHOLOGICAL))
    assert json.loads(out) == [expected for *_, expected in PATHOLOGICAL]


def test_pathological_policies_evaluate() -> None:
    """Through policy evaluation (Resource, Action, StringLike and ArnLike), the way requests reach it."""
    name = "a" * 64
    fn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    evil = "*a" * 12 + "*b"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"lambda:{evil}", "Resource": "*"},
        {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": f"arn:aws:lambda:us-east-1:000000000000:"
                                                                          f"function:{evil}"},
        {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*",
         "Condition": {"StringLike": {"aws:PrincipalTag/team": evil}}},
        {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*",
         "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:us-east-1:000000000000:{evil}"}}},
    ]}
    out = _run_isolated(
        "import json\n"
        "from lambdad.auth.policy import RequestContext, evaluate\n"
        f"policy = json.loads({json.dumps(policy)!r})\n"
        f"ctx = RequestContext('arn:aws:iam::000000000000:user/u', '000000000000', 'lambda:GetFunction', {fn!r},"
        f" '000000000000', {{'aws:PrincipalTag/team': {'a' * 200!r},"
        f" 'aws:SourceArn': {'arn:aws:sns:us-east-1:000000000000:' + 'a' * 200!r}}})\n"
        "print(evaluate(ctx, [policy], None).value)\n")
    assert out.strip() == "ImplicitDeny"
