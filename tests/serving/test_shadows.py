"""The shadow comparison report from real shadows: agreement, |diff|, latency and failures on the same requests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from modelport.errors import ModelportError
from modelport.services import Services
from modelport.settings import Settings
from tests.serving.conftest import Plane, build_small_home

ROWS = [10, 60, 120, 77]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plane, pd.DataFrame, dict[str, object]]]:
    settings: Settings
    settings, x, models = build_small_home(tmp_path_factory.mktemp("shadows"))
    svc = Services.open(settings)
    try:
        svc.endpoints.create(
            "iris",
            [
                {"name": "live", "requested": "iris:1"},
                {"name": "tree", "requested": "iris:2", "shadow": True},
                {"name": "bad", "requested": "broken:1", "shadow": True},
            ],
            created_by="tests",
        )
        # the live variant fails by its own fault: would the shadow have answered?
        svc.endpoints.create(
            "flip",
            [{"name": "live", "requested": "broken:1"}, {"name": "good", "requested": "iris:1", "shadow": True}],
            created_by="tests",
        )
    finally:
        svc.close()
    plane = Plane(settings)
    yield plane, x, models
    plane.close()


def test_the_report_compares_a_shadow_with_the_live_answers(deployed) -> None:  # type: ignore[no-untyped-def]
    plane, x, models = deployed
    rows = x.iloc[ROWS]
    body = rows.to_csv(index=False, header=False).encode()
    for _ in range(40):
        assert plane.invoke("iris", body).variant == "live"
        plane.settle()  # one mirrored call at a time: none dropped
    reports = {r.variant: r for r in plane.services.endpoints.shadow_report("iris")}
    assert set(reports) == {"tree", "bad"}

    tree = reports["tree"]
    agree = int(np.sum(models["iris:1"].predict(rows) == models["iris:2"].predict(rows)))  # type: ignore[attr-defined]
    assert agree < len(ROWS)  # the two models differ on these rows
    assert (tree.model, tree.pairs, tree.dropped, tree.rows) == ("iris:2", 40, 0, 40 * len(ROWS))
    assert tree.agreement is not None
    assert (tree.agreement.rows, tree.agreement.agreements) == (40 * len(ROWS), 40 * agree)
    low, high = tree.agreement.interval
    assert low < tree.agreement.rate < high
    # numeric outputs (the class probabilities): each row's mean |diff|, the same 4 rows 40 times
    live_p = models["iris:1"].predict_proba(rows)  # type: ignore[attr-defined]
    tree_p = models["iris:2"].predict_proba(rows)  # type: ignore[attr-defined]
    per_row = np.abs(live_p - tree_p).mean(axis=1)
    assert tree.abs_diff is not None and tree.abs_diff.rows == 40 * len(ROWS)
    assert tree.abs_diff.mean == pytest.approx(per_row.mean(), rel=1e-6)
    assert sum(tree.abs_diff.histogram.values()) == 40 * len(ROWS)
    assert tree.latency is not None and tree.latency.pairs == 40
    assert tree.latency.shadow_p50_ms and tree.latency.live_p50_ms
    assert tree.failures is not None and (tree.failures.shadow_failures, tree.failures.live_failures) == (0, 0)
    assert tree.since is not None  # since the shadow joined

    bad = reports["bad"]
    assert bad.failures is not None
    assert (bad.pairs, bad.failures.shadow_failures, bad.failures.shadow_rate) == (40, 40, 1.0)
    assert bad.failures.delta == 1.0 and bad.failures.interval[0] > 0.8
    assert bad.agreement is None and bad.abs_diff is None and bad.latency is None


def test_live_failures_are_mirrored_and_compared(deployed) -> None:  # type: ignore[no-untyped-def]
    plane, x, _ = deployed
    body = x.iloc[ROWS].to_csv(index=False, header=False).encode()
    for _ in range(12):
        with pytest.raises(ModelportError) as caught:
            plane.invoke("flip", body)
        assert caught.value.code == "MODEL_ERROR"
        plane.settle()
    [good] = plane.services.endpoints.shadow_report("flip")
    assert good.failures is not None
    assert (good.pairs, good.failures.live_failures, good.failures.shadow_failures) == (12, 12, 0)
    assert good.failures.delta == -1.0 and good.failures.interval[1] < -0.6
    assert good.rows == 0  # nothing to compare the shadow's answers with


def test_a_swapped_shadow_starts_a_new_report(deployed) -> None:  # type: ignore[no-untyped-def]
    plane, x, _ = deployed
    svc = plane.services
    before = {r.variant: r for r in svc.endpoints.shadow_report("iris")}
    assert before["tree"].pairs > 0
    svc.endpoints.update("iris", variants=[{"name": "tree", "requested": "iris:1", "shadow": True}], created_by="tests")
    plane.sync()
    after = {r.variant: r for r in svc.endpoints.shadow_report("iris")}
    assert after["tree"].model == "iris:1" and after["tree"].since > before["tree"].since  # type: ignore[operator]
    assert after["tree"].pairs == 0  # rows are kept per model served: the same minute holds the old model's
    assert after["bad"].since == before["bad"].since and after["bad"].pairs == before["bad"].pairs  # goes on
    plane.invoke("iris", x.iloc[ROWS].to_csv(index=False, header=False).encode())
    plane.settle()
    tree = next(r for r in svc.endpoints.shadow_report("iris") if r.variant == "tree")
    assert tree.pairs == 1 and tree.agreement is not None and tree.agreement.rate == 1.0  # the same model as live
