"""SageMaker Model Monitor's files: our baselines round-trip through statistics.json, theirs become references."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from modelport.baseline import compute_baseline
from modelport.errors import InvalidArgument
from modelport.monitoring.config import MonitorConfig
from modelport.monitoring.drift import evaluate
from modelport.monitoring.profiles import Reference, fold
from modelport.monitoring.sagemaker import baseline_from_statistics, constraints_json, statistics_json, violations_json

CHECK_TYPES = {
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(21)
    n = 20_000
    amount = rng.lognormal(3, 1, n)
    amount[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "visits": rng.poisson(2, n),
            "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy() for name in frame}


def through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))


def test_our_baseline_round_trips_to_the_same_bins(frame: pd.DataFrame) -> None:
    ours = Reference.from_baseline(compute_baseline(frame))
    statistics = through_json(statistics_json(ours))
    assert statistics["version"] == 0.0 and statistics["dataset"] == {"item_count": len(frame)}
    back = Reference.from_baseline(baseline_from_statistics(statistics))
    assert back.binning == ours.binning and back.binning.digest == ours.binning.digest
    assert (
        back.inferred_types == ours.inferred_types == {"amount": "Fractional", "visits": "Integral", "plan": "String"}
    )
    for name in frame:
        a, b = back.profile.features[name], ours.profile.features[name]
        assert (a.bins, a.categories, a.count, a.missing, a.min, a.max) == (
            b.bins,
            b.categories,
            b.count,
            b.missing,
            b.min,
            b.max,
        )
    amount = back.profile.features["amount"]
    assert amount.mean == pytest.approx(frame["amount"].mean(), rel=1e-12)
    assert amount.std == pytest.approx(frame["amount"].std(), rel=1e-9)


def test_statistics_json_has_sagemakers_fields(frame: pd.DataFrame) -> None:
    statistics = statistics_json(Reference.from_baseline(compute_baseline(frame)))
    amount, visits, plan = statistics["features"]
    stats = amount["numerical_statistics"]
    assert amount["inferred_type"] == "Fractional" and visits["inferred_type"] == "Integral"
    present = int(frame["amount"].notna().sum())
    assert stats["common"] == {"num_present": present, "num_missing": len(frame) - present}
    assert stats["min"] == frame["amount"].min() and stats["max"] == frame["amount"].max()
    assert stats["sum"] == pytest.approx(frame["amount"].sum()) and stats["std_dev"] == pytest.approx(
        frame["amount"].std()
    )
    buckets = stats["distribution"]["kll"]["buckets"]
    assert buckets[0]["lower_bound"] == stats["min"] and buckets[-1]["upper_bound"] == stats["max"]
    assert all(a["upper_bound"] == b["lower_bound"] for a, b in itertools.pairwise(buckets))
    assert sum(b["count"] for b in buckets) == present
    sketch = stats["distribution"]["kll"]["sketch"]
    assert sum(len(items) * 2**level for level, items in enumerate(sketch["data"])) == present
    text = plan["string_statistics"]
    assert text["distinct_count"] == 3
    shares = frame["plan"].value_counts()
    assert text["distribution"]["categorical"]["buckets"] == [{"value": v, "count": int(c)} for v, c in shares.items()]


def sagemaker_statistics(frame: pd.DataFrame) -> dict:
    """statistics.json as SageMaker's analyzer writes it: 10 equal-width KLL buckets, float counts, a sketch."""
    features = []
    for name in ("amount", "visits"):
        values = frame[name].dropna().to_numpy(dtype=float)
        counts, edges = np.histogram(values, bins=10)
        features.append(
            {
                "name": name,
                "inferred_type": "Integral" if name == "visits" else "Fractional",
                "numerical_statistics": {
                    "common": {"num_present": float(values.size), "num_missing": float(len(frame) - values.size)},
                    "mean": float(values.mean()),
                    "sum": float(values.sum()),
                    "std_dev": float(values.std()),
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "distribution": {
                        "kll": {
                            "buckets": [
                                {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(c)}
                                for i, c in enumerate(counts)
                            ],
                            "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [sorted(values[:50].tolist())]},
                        }
                    },
                },
            }
        )
    shares = frame["plan"].value_counts()
    features.append(
        {
            "name": "plan",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": float(len(frame)), "num_missing": 0.0},
                "distinct_count": 3.0,
                "distribution": {
                    "categorical": {"buckets": [{"value": v, "count": float(c)} for v, c in shares.items()]}
                },
            },
        }
    )
    return {"version": 0.0, "dataset": {"item_count": float(len(frame))}, "features": features}


SAGEMAKER_CONSTRAINTS = {
    "version": 0.0,
    "features": [
        {
            "name": "amount",
            "inferred_type": "Fractional",
            "completeness": 0.95,
            "num_constraints": {"is_non_negative": True},
        },
        {
            "name": "visits",
            "inferred_type": "Integral",
            "completeness": 1.0,
            "num_constraints": {"is_non_negative": True},
        },
        {
            "name": "plan",
            "inferred_type": "String",
            "completeness": 1.0,
            "string_constraints": {"domains": ["free", "pro", "team", "enterprise"]},
        },
    ],
    "monitoring_config": {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparion_method": "Robust",
        },
    },
}


def test_a_sagemaker_baseline_becomes_a_reference(frame: pd.DataFrame) -> None:
    baseline = baseline_from_statistics(through_json(sagemaker_statistics(frame)), SAGEMAKER_CONSTRAINTS)
    reference = Reference.from_baseline(baseline)
    assert reference.profile.rows == len(frame)
    assert reference.inferred_types == {"amount": "Fractional", "visits": "Integral", "plan": "String"}
    # exact on the buckets: the baseline's own rows fold to the file's counts
    folded = fold(columns(frame), reference.binning)
    for name in ("amount", "visits", "plan"):
        assert folded.features[name].bins == reference.profile.features[name].bins
    assert folded.features["plan"].categories == {
        k: v for k, v in reference.profile.features["plan"].categories.items() if v
    }
    assert "enterprise" in reference.binning["plan"].categories  # from the constraints' domain: not a new value
    # the same data is not drift; moved data is, under the constraints' own config
    config = MonitorConfig.from_constraints(SAGEMAKER_CONSTRAINTS, base={"min_samples": 100})
    assert config.numeric_method == "ks" and config.comparison_method == "Robust"
    assert evaluate(reference, folded, config).violations == []
    moved = frame.assign(amount=frame["amount"] * 1.8, plan="enterprise")
    result = evaluate(reference, fold(columns(moved), reference.binning), config)
    assert result.drifted == ["amount", "plan"]
    assert result.feature("plan").new_categories == []


def test_violations_file(frame: pd.DataFrame) -> None:
    reference = Reference.from_baseline(compute_baseline(frame))
    broken = {
        "amount": np.array([None] * 400 + [5.0] * 600, dtype=object),
        "plan": np.array(["gold"] * 1000, dtype=object),
    }
    document = through_json(violations_json(evaluate(reference, fold(broken, reference.binning))))
    assert set(document) == {"violations"}
    for violation in document["violations"]:
        assert set(violation) == {"feature_name", "constraint_check_type", "description"}
        assert violation["constraint_check_type"] in CHECK_TYPES
    found = {(v["feature_name"], v["constraint_check_type"]) for v in document["violations"]}
    assert {
        ("amount", "completeness_check"),
        ("visits", "missing_column_check"),
        ("plan", "categorical_values_check"),
        ("plan", "baseline_drift_check"),
    } <= found


def test_constraints_json_round_trips_the_config(frame: pd.DataFrame) -> None:
    reference = Reference.from_baseline(compute_baseline(frame))
    config = MonitorConfig.from_mapping(
        {"min_samples": 300, "categorical_method": "chi2", "features": {"amount": {"method": "ks", "threshold": 0.2}}}
    )
    document = through_json(constraints_json(reference, config))
    assert MonitorConfig.from_constraints(document) == config
    amount, _visits, plan = document["features"]
    assert amount["completeness"] == pytest.approx(frame["amount"].notna().mean() - config.completeness_tolerance)
    assert amount["num_constraints"] == {"is_non_negative": True}
    assert plan["string_constraints"] == {"domains": ["free", "pro", "team"]}
    assert amount["monitoringConfigOverrides"] == {"distribution_constraints": {"comparison_threshold": 0.2}}
    dist = document["monitoring_config"]["distribution_constraints"]
    assert dist["categorical_drift_method"] == "ChiSquared" and dist["comparison_threshold"] == config.numeric.ks
    # without modelport's block, SageMaker's fields alone are read
    del document["modelport"]
    sagemaker = MonitorConfig.from_constraints(document)
    assert (sagemaker.numeric_method, sagemaker.categorical_method) == ("ks", "chi2")
    assert sagemaker.feature("amount").threshold == 0.2 and sagemaker.feature("plan").completeness == 1.0 - 0.02


def test_statistics_of_a_window(frame: pd.DataFrame) -> None:
    reference = Reference.from_baseline(compute_baseline(frame))
    window = fold(columns(frame.iloc[:500]), reference.binning)
    statistics = statistics_json(window, reference.binning, reference.inferred_types)
    assert statistics["dataset"]["item_count"] == 500
    assert statistics["features"][1]["inferred_type"] == "Integral"
    with pytest.raises(InvalidArgument, match="need the binning"):
        statistics_json(window)


@pytest.mark.parametrize(
    ("statistics", "named"),
    [
        ({"features": "amount"}, "a list of features"),
        ({"features": [{"inferred_type": "String"}]}, r"features\[0\] needs a name"),
        ({"features": [{"name": "x"}]}, "feature 'x' has neither"),
        (
            {"features": [{"name": "x", "numerical_statistics": {"common": {"num_present": -3}}}]},
            "feature 'x': common.num_present must be a count",
        ),
        (
            {
                "features": [
                    {
                        "name": "x",
                        "numerical_statistics": {
                            "distribution": {"kll": {"buckets": [{"lower_bound": 2, "upper_bound": 1, "count": 1}]}}
                        },
                    }
                ]
            },
            "feature 'x': kll bucket 0 needs finite bounds",
        ),
    ],
)
def test_a_bad_statistics_file_is_named(statistics: dict, named: str) -> None:
    with pytest.raises(InvalidArgument, match=named):
        baseline_from_statistics(statistics)


def test_a_constant_feature_from_sagemaker() -> None:
    statistics = {
        "version": 0.0,
        "features": [
            {
                "name": "flag",
                "inferred_type": "Integral",
                "numerical_statistics": {
                    "common": {"num_present": 10.0, "num_missing": 0.0},
                    "min": 1.0,
                    "max": 1.0,
                    "distribution": {
                        "kll": {
                            "buckets": [{"lower_bound": 1.0, "upper_bound": 1.0, "count": 10.0}]
                            + [{"lower_bound": 1.0, "upper_bound": 1.0, "count": 0.0}] * 9
                        }
                    },
                },
            }
        ],
    }
    reference = Reference.from_baseline(baseline_from_statistics(statistics))
    folded = fold({"flag": np.ones(10)}, reference.binning)
    assert folded.features["flag"].bins == reference.profile.features["flag"].bins == [0, 10, 0]
