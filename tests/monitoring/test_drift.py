"""Drift and data quality: effect sizes checked against independent computations, decisions on known shifts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelport.baseline import compute_baseline
from modelport.monitoring.config import MonitorConfig
from modelport.monitoring.drift import Evaluation, benjamini_hochberg, chi2_sf, evaluate
from modelport.monitoring.profiles import Profile, Reference, fold, merge_all

PLANS = ["free", "pro", "team", "enterprise"]
PLAN_SHARES = [0.55, 0.3, 0.1, 0.05]


def sample(rng: np.random.Generator, n: int, **shift: float) -> pd.DataFrame:
    """Four features; ``shift`` moves a named one: amount (log-mean), age (years), plan (share moved to team)."""
    plan_shares = np.array(PLAN_SHARES)
    moved = shift.get("plan", 0.0)
    plan_shares = plan_shares + np.array([-moved, 0.0, moved, 0.0])
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3 + shift.get("amount", 0.0), 1, n),
            "age": rng.normal(40 + shift.get("age", 0.0), 12, n),
            "visits": rng.poisson(3, n),
            "plan": rng.choice(PLANS, n, p=plan_shares),
        }
    )


def columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy() for name in frame}


@pytest.fixture(scope="module")
def baseline_frame() -> pd.DataFrame:
    return sample(np.random.default_rng(1), 100_000)


@pytest.fixture(scope="module")
def reference(baseline_frame: pd.DataFrame) -> Reference:
    return Reference.from_baseline(compute_baseline(baseline_frame))


def test_no_drift_on_a_million_rows_of_the_same_distribution(reference: Reference) -> None:
    rng = np.random.default_rng(2)
    current = merge_all((fold(columns(sample(rng, 250_000)), reference.binning) for _ in range(4)), reference.binning)
    assert current.rows == 1_000_000
    for config in (
        MonitorConfig(),
        MonitorConfig(numeric_method="js", categorical_method="js"),
        MonitorConfig(numeric_method="wasserstein", categorical_method="chi2"),
        MonitorConfig(numeric_method="ks"),
    ):
        result = evaluate(reference, current, config)
        assert [f.status for f in result.features] == ["ok"] * 4
        assert result.violations == []
    # where a p-value alone would have flagged, the effect size keeps the feature ok
    plan = evaluate(reference, current, MonitorConfig(categorical_method="chi2")).feature("plan")
    assert plan.statistics["cramers_v"] < 0.01


def test_planted_shifts_are_found_on_exactly_the_shifted_features(reference: Reference) -> None:
    rng = np.random.default_rng(3)
    current = fold(columns(sample(rng, 200_000, age=8.0, plan=0.2)), reference.binning)
    result = evaluate(reference, current)
    assert result.drifted == ["age", "plan"]
    drift = [v for v in result.violations if v.constraint_check_type == "baseline_drift_check"]
    assert [v.feature_name for v in drift] == ["age", "plan"]
    assert len(result.violations) == 2
    age = result.feature("age")
    assert age.decided_by == "psi" and age.threshold == 0.2 and age.statistic > 0.2
    assert "exceeds threshold: 0.2" in drift[0].description
    assert result.feature("plan").decided_by == "linf"


def test_a_tiny_window_is_inconclusive_however_far_it_moved(reference: Reference) -> None:
    rng = np.random.default_rng(4)
    current = fold(columns(sample(rng, 40, age=30.0, amount=2.0, plan=0.4)), reference.binning)
    result = evaluate(reference, current)
    assert {f.status for f in result.features} == {"inconclusive"}
    assert not [v for v in result.violations if v.constraint_check_type == "baseline_drift_check"]
    age = result.feature("age")
    assert age.statistics["psi"] > 1  # computed and shown, but it decides nothing
    assert "effective 40 < min_samples 500" in age.reason
    # with min_samples lowered the big shifts decide (and at n=40 noise can too: why the default is 500)
    assert {"amount", "age", "plan"} <= set(evaluate(reference, current, MonitorConfig(min_samples=30)).drifted)


def test_a_small_baseline_makes_every_window_inconclusive(baseline_frame: pd.DataFrame) -> None:
    small = Reference.from_baseline(compute_baseline(baseline_frame.iloc[:300]))
    current = fold(columns(sample(np.random.default_rng(5), 100_000, age=8.0)), small.binning)
    age = evaluate(small, current).feature("age")
    assert age.status == "inconclusive" and age.effective_n < 300


def test_effect_sizes_match_independent_computations(reference: Reference, baseline_frame: pd.DataFrame) -> None:
    frame = sample(np.random.default_rng(6), 50_000, amount=0.3, plan=0.1)
    result = evaluate(reference, fold(columns(frame), reference.binning))
    eps = MonitorConfig().psi_epsilon
    for name in ("amount", "age", "visits"):
        edges = np.array(reference.binning[name].edges)
        cut = np.concatenate(([-np.inf], edges, [np.inf]))
        p = pd.cut(baseline_frame[name], cut, right=False).value_counts(sort=False).to_numpy() / len(baseline_frame)
        q = pd.cut(frame[name], cut, right=False).value_counts(sort=False).to_numpy() / len(frame)
        got = result.feature(name).statistics
        ps, qs = np.clip(p, eps, None), np.clip(q, eps, None)
        assert got["psi"] == pytest.approx(np.sum((qs - ps) * np.log(qs / ps)), rel=1e-9)
        assert got["js"] == pytest.approx(jensenshannon(p, q), rel=1e-9)
        assert got["ks"] == pytest.approx(np.abs(np.cumsum(p) - np.cumsum(q)).max(), rel=1e-9)
        table = np.vstack([p * len(baseline_frame), q * len(frame)])
        chi2, p_value, _, _ = stats.chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False)
        assert got["chi2"] == pytest.approx(chi2, rel=1e-9)
        assert got["p_value"] == pytest.approx(p_value, rel=1e-6, abs=1e-300)
    plan = result.feature("plan").statistics
    p = baseline_frame["plan"].value_counts(normalize=True).reindex(sorted(PLANS)).to_numpy()
    q = frame["plan"].value_counts(normalize=True).reindex(sorted(PLANS)).to_numpy()
    assert plan["linf"] == pytest.approx(np.abs(p - q).max(), rel=1e-9)
    assert plan["js"] == pytest.approx(jensenshannon(p, q), rel=1e-9)
    # Cramér's V of the 2xk table with both rows scaled to the same total
    equal = np.vstack([p, q]) * 1_000_000
    v = np.sqrt(stats.chi2_contingency(equal, correction=False)[0] / equal.sum())
    assert plan["cramers_v"] == pytest.approx(v, rel=1e-9)


def test_wasserstein_on_bins(reference: Reference, baseline_frame: pd.DataFrame) -> None:
    frame = sample(np.random.default_rng(7), 100_000, age=3.0)
    age = evaluate(reference, fold(columns(frame), reference.binning)).feature("age").statistics
    # the integral of |F - G| with both CDFs linear inside the bins, the open bins one neighbour wide
    edges = np.array(reference.binning["age"].edges)
    knots = np.concatenate(([2 * edges[0] - edges[1]], edges, [2 * edges[-1] - edges[-2]]))

    def cdf(values: pd.Series) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.concatenate(([0.0], np.cumsum(counts) / len(values)))

    grid = np.linspace(knots[0], knots[-1], 2_000_001)
    gap = np.abs(np.interp(grid, knots, cdf(baseline_frame["age"])) - np.interp(grid, knots, cdf(frame["age"])))
    assert age["wasserstein_raw"] == pytest.approx(np.trapezoid(gap, grid), rel=1e-5)
    assert age["wasserstein_scale"] == pytest.approx(baseline_frame["age"].std(), rel=1e-9)
    # close to (a little under) the distance between the raw samples: the tails beyond the outer edges are cut
    raw = stats.wasserstein_distance(baseline_frame["age"], frame["age"]) / baseline_frame["age"].std()
    assert 0.85 * raw < age["wasserstein"] <= raw


def test_benjamini_hochberg_matches_the_formula() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.9]
    m = len(p)
    order = np.argsort(p, kind="stable")
    ranked = np.array(p)[order] * m / np.arange(1, m + 1)
    expected = np.empty(m)
    expected[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    assert benjamini_hochberg(p) == pytest.approx(expected.tolist(), rel=1e-12)
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.5]) == [0.5]


def test_p_values_are_adjusted_across_features(reference: Reference) -> None:
    current = fold(columns(sample(np.random.default_rng(8), 3_000, age=0.5)), reference.binning)
    result = evaluate(reference, current, MonitorConfig(categorical_method="chi2"))
    raw = [f.statistics["p_value"] for f in result.features]
    assert [f.statistics["p_adjusted"] for f in result.features] == pytest.approx(benjamini_hochberg(raw))


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 19, 60])
def test_chi_square_tail_probability(dof: int) -> None:
    for x in (0.01, 0.5, dof / 2, dof, dof + 3, 2 * dof + 10, 5 * dof + 40):
        assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300)


def test_chi2_decides_only_with_its_effect_size(reference: Reference) -> None:
    # a shift of 1.5 points in a share: at a million rows the p-value is ~0, the effect is tiny
    current = fold(columns(sample(np.random.default_rng(9), 1_000_000, plan=0.015)), reference.binning)
    plan = evaluate(reference, current, MonitorConfig(categorical_method="chi2")).feature("plan")
    assert plan.statistics["p_adjusted"] < 1e-10
    assert plan.status == "ok" and plan.statistics["cramers_v"] < 0.1


def test_data_quality_checks(reference: Reference) -> None:
    batch = {
        "amount": np.array([1.0, None, "lots", 20.0] * 150, dtype=object),  # a quarter missing, a quarter text
        "visits": np.array([1.0, 2.5, 3.0, 4.0] * 150),  # a quarter not whole numbers
        "plan": np.array(["pro", "free", "gold", "free"] * 150, dtype=object),  # a quarter never seen
        "colour": np.array(["red"] * 600, dtype=object),
    }
    current = fold(batch, reference.binning)
    current.features["colour"] = fold({"colour": batch["colour"]}, _one_categorical("colour")).features["colour"]
    result = evaluate(reference, current)
    found = {(v.feature_name, v.constraint_check_type) for v in result.violations}
    assert found >= {
        ("amount", "completeness_check"),
        ("amount", "data_type_check"),
        ("visits", "data_type_check"),
        ("plan", "categorical_values_check"),
        ("age", "missing_column_check"),
        ("colour", "extra_column_check"),
    }
    assert ("age", "completeness_check") not in found  # reported once, as a missing column
    amount, plan, age = result.feature("amount"), result.feature("plan"), result.feature("age")
    assert amount.completeness == pytest.approx(0.75) and amount.baseline_completeness == 1.0
    assert amount.type_match == pytest.approx(2 / 3)
    assert result.feature("visits").type_match == pytest.approx(0.75)
    assert plan.new_categories == ["gold"] and plan.new_category_share == pytest.approx(0.25)
    assert age.status == "no_data" and age.completeness == 0.0
    descriptions = {v.constraint_check_type: v.description for v in result.violations if v.feature_name == "amount"}
    assert "Expected data type: Fractional" in descriptions["data_type_check"]


def _one_categorical(name: str):  # a binning for a feature the reference lacks
    from modelport.monitoring.profiles import Binning, FeatureBinning

    return Binning((FeatureBinning(name, "categorical"),))


def test_a_window_without_rows_is_no_data_and_no_violation(reference: Reference) -> None:
    result = evaluate(reference, Profile.empty(reference.binning))
    assert {f.status for f in result.features} == {"no_data"} and result.violations == []
    assert result.rows == 0


def test_disabled_features_and_per_feature_thresholds(reference: Reference) -> None:
    current = fold(columns(sample(np.random.default_rng(10), 20_000, age=8.0, plan=0.2)), reference.binning)
    config = MonitorConfig.from_mapping({"features": {"plan": {"enabled": False}, "age": {"threshold": 5.0}}})
    result = evaluate(reference, current, config)
    assert [f.name for f in result.features] == ["amount", "age", "visits"]
    assert result.feature("age").status == "ok" and result.feature("age").threshold == 5.0


def test_same_counts_give_the_same_numbers(reference: Reference) -> None:
    frame = sample(np.random.default_rng(11), 30_000, amount=0.2, plan=0.05)
    parts = [fold(columns(frame.iloc[a : a + 7_000]), reference.binning) for a in range(0, len(frame), 7_000)]
    one = evaluate(reference, merge_all(parts, reference.binning)).to_json()
    other = evaluate(reference, merge_all(reversed(parts), reference.binning)).to_json()
    for a, b in zip(one["features"], other["features"], strict=True):  # sums of floats may differ in the last bit
        a.pop("mean"), b.pop("mean"), a.pop("std"), b.pop("std")
    assert one == other
    restored = Evaluation.from_json(evaluate(reference, merge_all(parts, reference.binning)).to_json())
    assert restored.to_json() == evaluate(reference, merge_all(parts, reference.binning)).to_json()
