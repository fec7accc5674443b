"""Variant specs, config validation and the routing policy (pure, seeded)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from modelport.endpoints.config import EndpointConfig, Variant, parse_variant_spec, parse_weights
from modelport.errors import InvalidArgument
from modelport.serving.routing import Router


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("a=churn:3:90", {"name": "a", "requested": "churn:3", "weight": 90.0, "shadow": False}),
        ("b=churn@challenger:10", {"name": "b", "requested": "churn@challenger", "weight": 10.0, "shadow": False}),
        ("b=churn:4", {"name": "b", "requested": "churn:4", "shadow": False}),
        ("a=churn", {"name": "a", "requested": "churn", "shadow": False}),
    ],
)
def test_variant_specs(spec: str, expected: dict[str, object]) -> None:
    assert parse_variant_spec(spec) == expected


def test_shadow_spec_takes_a_percent() -> None:
    assert parse_variant_spec("c=churn:5:25", shadow=True) == {
        "name": "c", "requested": "churn:5", "sample_percent": 25.0, "shadow": True,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("churn:3", r"expected NAME=MODEL"),
        ("a b=churn:1", r"invalid variant name 'a b'"),
        ("a=bad name:1", r"invalid model name"),
    ],
)
def test_bad_variant_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_variant_spec(spec)


def test_weights_spec() -> None:
    assert parse_weights("a=50,b=50") == {"a": 50.0, "b": 50.0}
    with pytest.raises(InvalidArgument, match="expected NAME=NUMBER"):
        parse_weights("a=lots")


def test_config_checks() -> None:
    with pytest.raises(InvalidArgument, match="no live variant takes traffic"):
        EndpointConfig(variants=[Variant(name="a", model="m:1", weight=0)]).check()
    with pytest.raises(InvalidArgument, match="variant 'a' appears twice"):
        EndpointConfig(variants=[Variant(name="a", model="m:1"), Variant(name="a", model="m:2")]).check()
    with pytest.raises(InvalidArgument, match="weight must be a number >= 0"):
        EndpointConfig(variants=[Variant(name="a", model="m:1", weight=-1)]).check()


def test_router_shares_match_weights_exactly_with_a_seed() -> None:
    router = Router({"a": 90, "b": 10, "c": 0})
    rng = random.Random(7)
    counts = Counter(router.pick(rng) for _ in range(5000))
    assert counts["c"] == 0
    assert abs(counts["a"] / 5000 - 0.9) < 0.02 and abs(counts["b"] / 5000 - 0.1) < 0.02
    first, second = random.Random(3), random.Random(3)
    assert [router.pick(first) for _ in range(100)] == [router.pick(second) for _ in range(100)]


def test_router_is_a_pure_function_of_the_draw() -> None:
    router = Router({"a": 1, "b": 3})
    assert router.choose(0.0) == "a" and router.choose(0.2499) == "a"
    assert router.choose(0.25) == "b" and router.choose(0.9999) == "b"
    with pytest.raises(InvalidArgument):
        Router({"a": 0})
