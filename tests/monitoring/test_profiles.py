"""Profiles: folding on the baseline's bins is exact and independent of how rows are split."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from modelport.baseline import compute_baseline
from modelport.monitoring.profiles import OTHER, Profile, Reference, fold, merge_all


@pytest.fixture
def sample() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 4000
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "visits": rng.integers(0, 6, n),
            "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy() for name in frame}


def test_the_baseline_sample_folds_to_the_reference_counts(sample: pd.DataFrame) -> None:
    reference = Reference.from_baseline(compute_baseline(sample))
    folded = fold(columns(sample), reference.binning)
    for name in sample:
        assert folded.features[name].bins == reference.profile.features[name].bins
        assert folded.features[name].categories == reference.profile.features[name].categories
    assert reference.inferred_types == {"amount": "Fractional", "visits": "Integral", "plan": "String"}


def test_any_split_merges_to_the_same_profile(sample: pd.DataFrame) -> None:
    reference = Reference.from_baseline(compute_baseline(sample))
    whole = fold(columns(sample), reference.binning)
    cuts = [0, 1, 333, 334, 2500, len(sample)]
    parts = [fold(columns(sample.iloc[a:b]), reference.binning) for a, b in itertools.pairwise(cuts)]
    merged = merge_all(reversed(parts), reference.binning)
    restored = Profile.from_json(merged.to_json())
    assert restored.rows == whole.rows == len(sample)
    for name in sample:
        a, b = restored.features[name], whole.features[name]
        assert (a.bins, a.categories, a.count, a.missing, a.min, a.max) == (
            b.bins,
            b.categories,
            b.count,
            b.missing,
            b.min,
            b.max,
        )
    assert restored.features["amount"].mean == pytest.approx(sample["amount"].mean(), rel=1e-12)
    assert restored.features["amount"].std == pytest.approx(sample["amount"].std(), rel=1e-9)


def test_missing_invalid_and_new_values_are_counted(sample: pd.DataFrame) -> None:
    reference = Reference.from_baseline(compute_baseline(sample))
    batch = {
        "amount": np.array([1.5, None, "lots", 10_000.0], dtype=object),
        "visits": np.array([1.0, 2.5, np.nan, 99.0]),
        "plan": np.array(["pro", None, "enterprise", "pro"], dtype=object),
    }
    p = fold(batch, reference.binning)
    amount, visits, plan = p.features["amount"], p.features["visits"], p.features["plan"]
    assert (amount.count, amount.missing, amount.invalid, amount.max) == (4, 1, 1, 10_000.0)
    assert amount.bins[-1] == 1  # above every baseline value: the open top bin
    assert (visits.missing, visits.nonintegral) == (1, 1)
    assert plan.categories == {"enterprise": 1, "pro": 2} and plan.missing == 1
    assert "enterprise" not in reference.binning["plan"].categories


def test_a_baseline_from_before_quantile_bins_uses_its_histogram(sample: pd.DataFrame) -> None:
    baseline = compute_baseline(sample)
    for feature in baseline["features"]:
        feature.pop("bins", None)
        feature.pop("categories", None)
    reference = Reference.from_baseline(baseline)
    folded = fold(columns(sample), reference.binning)
    assert folded.features["amount"].bins == reference.profile.features["amount"].bins  # the maximum falls inside
    top = reference.profile.features["plan"].categories
    assert sum(top.values()) == len(sample) and OTHER not in top  # all three plans are in the top list


def test_counts_match_a_binary_search_and_mixed_types_stay_apart() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(0, 1, 10_000).round(1)
    for edges in (tuple(np.unique(np.quantile(values, np.linspace(0, 1, 21)[1:-1]))), tuple(np.linspace(-3, 3, 100))):
        spec = Reference.from_baseline(
            {
                "features": [
                    {
                        "name": "x",
                        "inferred_type": "Fractional",
                        "bins": {"edges": list(edges), "counts": [0] * (len(edges) + 1)},
                    }
                ]
            }
        ).binning
        expected = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        assert fold({"x": values}, spec).features["x"].bins == expected.tolist()
    plan = Reference.from_baseline({"features": [{"name": "p", "inferred_type": "String", "categories": {"1": 1}}]})
    mixed = np.array([1, "1", True, "True", None, "a"], dtype=object)
    assert fold({"p": mixed}, plan.binning).features["p"].categories == {"1": 2, "True": 2, "a": 1}


def test_merging_a_window_in_place_adds_as_merging_two_at_a_time(sample: pd.DataFrame) -> None:
    """merge_all gives exactly Profile.merge applied in turn: the same sums in the same order, the same categories
    (those past the limit in OTHER), a feature only some profiles have."""
    import modelport.monitoring.profiles as profiles

    reference = Reference.from_baseline(compute_baseline(sample))
    rng = np.random.default_rng(8)
    parts = []
    for _ in range(40):
        rows = sample.sample(int(rng.integers(1, 60)), random_state=int(rng.integers(0, 10**6)))
        part = fold(columns(rows), reference.binning)
        if rng.random() < 0.2:
            part.features.pop(next(iter(part.features)))
        parts.append(part)
    parts[3].features["extra"] = profiles.FeatureSketch("categorical", count=2, categories={"a": 1, "b": 1})
    expected = Profile.empty(reference.binning)
    for part in parts:
        expected = expected.merge(part)
    assert merge_all(parts, reference.binning).to_json() == expected.to_json()

    many = [
        Profile(3, {"c": profiles.FeatureSketch("categorical", count=3, categories={f"v{i}": 1, f"w{i}": 2})})
        for i in range(profiles.MAX_CATEGORIES)
    ]
    binning = profiles.Binning((profiles.FeatureBinning("c", "categorical"),))
    expected = Profile.empty(binning)
    for part in many:
        expected = expected.merge(part)
    merged = merge_all(many, binning)
    assert merged.to_json() == expected.to_json() and OTHER in merged.features["c"].categories
