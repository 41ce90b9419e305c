"""Alias routing: `Alias.pick` sends a share `w` of invocations to the additional version and the
rest (1 - w: the two shares sum to 1) to the primary one."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from lambdad.control.aliases import Alias

N = 20_000


@pytest.fixture(autouse=True)
def seeded() -> Iterator[None]:
    """A seeded stdlib random (what pick() draws from), restored afterwards."""
    state = random.getstate()
    random.seed(20261204)
    yield
    random.setstate(state)


def alias(weights: dict[str, float]) -> Alias:
    return Alias("000000000000", "us-east-1", "fn", "live", "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
                 "1", weights=weights)


def shares(a: Alias) -> Counter[str]:
    return Counter(a.pick() for _ in range(N))


@pytest.mark.parametrize("weight", [0.05, 0.3, 0.5, 0.9])
def test_the_additional_version_gets_its_weight_and_the_primary_the_rest(weight: float) -> None:
    picked = shares(alias({"2": weight}))
    assert set(picked) == {"1", "2"}
    assert picked["1"] + picked["2"] == N
    # 4.5 standard deviations of a binomial: a seeded run is deterministic, a wrong rule is far off.
    tolerance = 4.5 * (weight * (1 - weight) / N) ** 0.5
    assert abs(picked["2"] / N - weight) < tolerance
    assert abs(picked["1"] / N - (1 - weight)) < tolerance


def test_weight_zero_never_and_weight_one_always_routes_to_the_additional_version() -> None:
    assert shares(alias({"2": 0.0})) == {"1": N}
    assert shares(alias({"2": 1.0})) == {"2": N}


def test_without_routing_every_invocation_runs_the_primary_version() -> None:
    a = alias({})
    assert shares(a) == {"1": N}
    assert a.versions() == ["1"]
    assert alias({"3": 0.2}).versions() == ["1", "3"]
