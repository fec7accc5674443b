"""Variant specs, config validation and the routing policy (pure, seeded)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from modelport.endpoints.config import EndpointConfig, RoutingConfig, Variant, parse_variant_spec, parse_weights
from modelport.errors import InvalidArgument
from modelport.serving.routing import Router, unit_draw


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


def test_unit_draws_are_fixed_points_anyone_can_reproduce() -> None:
    import hashlib

    # SHA-256 of "salt NUL unit", first 8 bytes big-endian over 2^64: pinned, so no release moves a unit
    assert unit_draw("exp-1", "user-42") == int.from_bytes(hashlib.sha256(b"exp-1\0user-42").digest()[:8], "big") / 2**64
    assert unit_draw("exp-1", "user-42") == pytest.approx(0.3567037630, abs=1e-9)
    assert unit_draw("exp-2", "user-42") != unit_draw("exp-1", "user-42")


def test_sticky_routing_lays_units_on_the_weights() -> None:
    router = Router({"a": 70, "b": 30, "off": 0})
    assigned = {f"u{i}": router.for_unit("exp", f"u{i}") for i in range(20000)}
    assert Counter(assigned.values())["off"] == 0
    assert abs(Counter(assigned.values())["a"] / 20000 - 0.70) < 0.01
    assert all(router.for_unit("exp", u) == v for u, v in list(assigned.items())[:500])
    # moving weight from a to b moves only units from a to b (none the other way)
    moved = Router({"a": 60, "b": 40})
    assert all(moved.for_unit("exp", u) == "b" for u, v in assigned.items() if v == "b")


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ({"unit": "cookie:sid"}, "expected header:NAME"),
        ({"unit": "header:"}, "expected header:NAME|is not an HTTP header name"),
        ({"unit": "header:X User"}, "is not an HTTP header name"),
        ({"unit": "header:Content-Type"}, "does not identify a caller"),
        ({"unit": "header:X-Amzn-SageMaker-Target-Variant"}, "does not identify a caller"),
        ({"experiment": "bad name"}, "invalid experiment name"),
        ({"salt": ""}, "salt must be 1-255 characters"),
    ],
)
def test_routing_checks(routing: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        EndpointConfig(variants=[Variant(name="a", model="m:1")], routing=RoutingConfig(**routing)).check()


def test_configs_written_before_routing_read_as_weights_only() -> None:
    config = EndpointConfig.model_validate({"variants": [{"name": "a", "model": "m:1"}], "capture": {}})
    assert config.routing == RoutingConfig() and config.routing.unit_header is None
    sticky = RoutingConfig(unit="header:X-User-Id", experiment="exp-1").check()
    assert sticky.unit_header == "x-user-id"
