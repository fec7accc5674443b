"""Sticky assignment: a unit id always gets the same variant, on every serving process; without it, weights."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pandas as pd
import pytest

from modelport.errors import InvalidArgument
from modelport.services import Services
from modelport.settings import Settings
from tests import infra
from tests.serving.conftest import Plane, build_small_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, pd.DataFrame]]:
    settings, x, _ = build_small_home(tmp_path_factory.mktemp("sticky"))
    svc = Services.open(settings)
    try:
        svc.endpoints.create(
            "iris",
            [{"name": "a", "requested": "iris:1", "weight": 70}, {"name": "b", "requested": "iris:2", "weight": 30}],
            routing={"unit": "header:X-User-Id", "experiment": "exp-1"},
            created_by="tests",
        )
        svc.endpoints.create(
            "captured",
            [{"name": "a", "requested": "iris:1", "weight": 3}, {"name": "b", "requested": "iris:2", "weight": 1}],
            capture={"enabled": True},
            routing={"unit": "header:X-User-Id", "experiment": "exp-c"},
            created_by="tests",
        )
        svc.endpoints.create(
            "plain",
            [{"name": "a", "requested": "iris:1", "weight": 50}, {"name": "b", "requested": "iris:2", "weight": 50}],
            created_by="tests",
        )
    finally:
        svc.close()
    yield settings, x


@pytest.fixture(scope="module")
def planes(home: tuple[Settings, pd.DataFrame]) -> Iterator[tuple[Plane, Plane]]:
    first, second = Plane(home[0]), Plane(home[0])
    yield first, second
    first.close()
    second.close()


def body(x: pd.DataFrame) -> bytes:
    return x.iloc[[7]].to_csv(index=False, header=False).encode()


def test_a_unit_gets_the_same_variant_every_time_on_every_process(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, second = planes
    row = body(home[1])
    for unit in (f"user-{i}" for i in range(60)):
        served = {first.invoke("iris", row, x_user_id=unit).variant for _ in range(5)}
        served |= {second.invoke("iris", row, x_user_id=unit).variant for _ in range(5)}
        assert len(served) == 1, (unit, served)


def test_units_spread_as_the_weights(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, _ = planes
    row = body(home[1])
    served = Counter(first.invoke("iris", row, x_user_id=f"u{i}").variant for i in range(3000))
    assert abs(served["a"] / 3000 - 0.70) < 0.03, served


def test_without_the_header_requests_go_by_weight_and_are_counted_apart(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, second = planes
    counters = first.services.endpoints.counters
    first.settle()
    second.settle()  # what the other "process" counted earlier is written now, not during the test
    before = counters.totals("iris")
    row = body(home[1])
    served = Counter(first.invoke("iris", row).variant for _ in range(400))
    assert set(served) == {"a", "b"}  # one unit would always get one variant
    for _ in range(100):
        first.invoke("iris", row, x_user_id="the-same-user")
    first.settle()
    after = counters.totals("iris")
    requests = {v: after[v].requests - (before[v].requests if v in before else 0) for v in after}
    unit = {v: after[v].unit_requests - (before[v].unit_requests if v in before else 0) for v in after}
    assert sum(requests.values()) == 500
    assert sum(unit.values()) == 100 and sorted(unit.values()) == [0, 100]
    assert {v: requests[v] - unit[v] for v in requests} == dict(served)


def test_a_named_variant_still_wins_and_is_counted_as_forced(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, _ = planes
    row = body(home[1])
    unit = next(f"v{i}" for i in range(100) if first.invoke("iris", row, x_user_id=f"v{i}").variant == "a")
    first.settle()
    before = first.services.endpoints.counters.totals("iris")["b"].forced_requests
    assert first.invoke("iris", row, variant="b", x_user_id=unit).variant == "b"
    first.settle()
    assert first.services.endpoints.counters.totals("iris")["b"].forced_requests == before + 1


def test_an_endpoint_without_routing_ignores_the_header(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, _ = planes
    row = body(home[1])
    served = Counter(first.invoke("plain", row, x_user_id="one-user").variant for _ in range(200))
    assert set(served) == {"a", "b"}
    first.settle()
    assert sum(c.unit_requests for c in first.services.endpoints.counters.totals("plain").values()) == 0


def test_v2_requests_are_sticky_too(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    import orjson

    first, second = planes
    payload = orjson.dumps(
        {
            "inputs": [
                {"name": c, "shape": [1], "datatype": "FP64", "data": [float(home[1].iloc[7][c])]}
                for c in home[1].columns
            ]
        }
    )
    for unit in ("alice", "bob", "carol", "dave"):
        expected = first.invoke("iris", body(home[1]), x_user_id=unit).variant
        for plane in (first, second):
            _, _, variant, _ = plane.run(
                plane.serving.dataplane.infer_v2(
                    "iris", None, payload, {"content-type": "application/json", "x-user-id": unit}
                )
            )
            assert variant.name == expected


def test_routing_changes_are_revisions_and_can_be_cleared(tmp_path: Path) -> None:
    settings, _, _ = build_small_home(tmp_path)
    svc = Services.open(settings)
    try:
        svc.endpoints.create("e", [{"name": "a", "requested": "iris:1"}], created_by="tests")
        ep = svc.endpoints.update("e", routing={"unit": "header:X-Session"}, created_by="tests")
        assert ep.revision == 2 and ep.config.routing.unit_header == "x-session"
        with pytest.raises(InvalidArgument, match="nothing to change"):
            svc.endpoints.update("e", routing={"unit": "header:X-Session"}, created_by="tests")
        with pytest.raises(InvalidArgument, match="expected header:NAME"):
            svc.endpoints.update("e", routing={"unit": "cookie:sid"}, created_by="tests")
        ep = svc.endpoints.update("e", weights={"a": 2}, created_by="tests")
        assert ep.config.routing.unit == "header:X-Session"  # other changes keep the routing
        ep = svc.endpoints.update("e", routing={}, created_by="tests")
        assert ep.config.routing.unit is None
        assert [r.config.routing.unit for r in svc.endpoints.history("e")] == [
            None,
            "header:X-Session",
            "header:X-Session",
            None,
        ]
    finally:
        svc.close()


def test_capture_records_say_how_each_variant_was_chosen_and_its_propensity(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, _ = planes
    row = body(home[1])
    sent = {}
    for i in range(8):
        sent[first.invoke("captured", row, x_user_id=f"c{i}").inference_id] = "unit"
        sent[first.invoke("captured", row).inference_id] = "weighted"
    sent[first.invoke("captured", row, variant="b").inference_id] = "forced"
    root = home[0].home / "artifacts" / "capture" / "captured"

    def records() -> list[tuple[str, dict]]:  # type: ignore[type-arg]
        return [
            (f.relative_to(root).parts[0], orjson.loads(line))  # captured/<variant>/yyyy/mm/dd/hh/…
            for f in root.rglob("*.jsonl")
            for line in f.read_bytes().splitlines()
        ]

    infra.wait_for(lambda: len(records()) == len(sent), 10, "the capture files")
    share = {"a": 0.75, "b": 0.25}  # weights 3 and 1
    for variant, rec in records():
        meta = rec["eventMetadata"]
        assert {"eventId", "inferenceTime", "inferenceId"} <= set(meta)  # SageMaker's keys, as before
        assignment = sent[meta["inferenceId"]]
        assert meta["assignment"] == assignment and meta["experiment"] == "exp-c"
        assert meta["propensity"] == (1.0 if assignment == "forced" else share[variant])
