"""Micro benchmark: microseconds to check a policy document with IAM's grammar
(`lambdad.auth.policy_grammar.validate`), beside `json.loads` of the same text (the baseline: the
parse every store of a policy pays anyway), for a small and a quota-sized document.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_policy.py

It is the write path (CreatePolicy, Put*Policy, CreateRole): evaluation reads the parsed form.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lambdad.auth import policy_grammar


def _small() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ["lambda:GetFunction", "lambda:ListFunctions"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/lambda-*",
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}]})


def _quota_sized() -> str:
    """About 10 KB without whitespace: the inline role quota, spent on many statements."""
    statements = [{"Sid": f"S{n}", "Effect": "Allow", "Action": [f"s3:Get{n}*", "s3:List*"],
                   "Resource": [f"arn:aws:s3:::bucket-{n}/*"],
                   "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}} for n in range(60)]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _per_call(fn: Callable[[], object], seconds: float = 1.0) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            fn()
        calls += 50
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    print(f"{'document':<28} {'chars':>7} {'validate µs':>12} {'json.loads µs (baseline)':>26}")
    for label, text in (("small (2 statements)", _small()), ("quota-sized (60 statements)", _quota_sized())):
        validate = _per_call(lambda text=text: policy_grammar.validate(text, "inline"))
        baseline = _per_call(lambda text=text: json.loads(text))
        print(f"{label:<28} {policy_grammar.policy_size(text):>7} {validate:>12.1f} {baseline:>26.1f}")


if __name__ == "__main__":
    main()
