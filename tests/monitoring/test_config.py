"""Monitor configs: defaults, per-feature overrides, SageMaker constraints.json, errors naming the bad key."""

from __future__ import annotations

import pytest

from modelport.errors import InvalidArgument
from modelport.monitoring.config import MonitorConfig


def test_defaults_and_overrides() -> None:
    config = MonitorConfig.from_mapping(
        {
            "min_samples": 100,
            "numeric": {"psi": 0.25},
            "features": {"amount": {"method": "wasserstein", "threshold": 0.3}, "plan": {"enabled": False}},
        }
    )
    assert config.min_samples == 100 and config.numeric_method == "psi" and config.categorical_method == "linf"
    assert config.threshold_for("age", "numeric", "psi") == 0.25
    assert config.threshold_for("age", "numeric", "js") == 0.1
    assert config.method_for("amount", "numeric") == "wasserstein"
    assert config.threshold_for("amount", "numeric", "wasserstein") == 0.3
    assert config.threshold_for("city", "categorical", "chi2") == config.categorical.cramers_v
    assert not config.feature("plan").enabled and config.feature("other").enabled
    assert MonitorConfig.from_mapping(None) == MonitorConfig()
    assert MonitorConfig.from_mapping(config.to_json()) == config


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"min_sample": 10}, "min_sample: unknown setting"),
        ({"numeric_method": "kl"}, "numeric_method"),
        ({"numeric": {"psi": -1}}, "numeric.psi"),
        ({"categorical": {"hellinger": 0.1}}, "categorical.hellinger: unknown setting"),
        ({"features": {"amount": {"treshold": 0.1}}}, "features.amount.treshold: unknown setting"),
        ({"features": {"amount": {"method": "median"}}}, "unknown method 'median'"),
        ({"min_samples": "lots"}, "min_samples"),
    ],
)
def test_a_bad_setting_is_named(data: dict, named: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid monitor config") as info:
        MonitorConfig.from_mapping(data)
    assert named in info.value.message


def test_a_config_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="mapping"):
        MonitorConfig.from_mapping(["psi"])  # type: ignore[arg-type]


def test_unknown_features_are_named_with_the_signature() -> None:
    config = MonitorConfig.from_mapping({"features": {"amount": {}, "colour": {}, "size": {"enabled": False}}})
    with pytest.raises(InvalidArgument) as info:
        config.check_features(["amount", "plan"])
    assert info.value.message == "config names unknown feature(s) 'colour', 'size'; the signature has: amount, plan"
    config.check_features(["amount", "colour", "size"])


def test_a_method_of_the_wrong_kind_is_named() -> None:
    config = MonitorConfig.from_mapping({"features": {"plan": {"method": "psi"}}})
    with pytest.raises(InvalidArgument, match=r"features\.plan\.method: 'psi' is not for a categorical feature"):
        config.check_features(["plan"], kinds={"plan": "categorical"})


CONSTRAINTS = {
    "version": 0.0,
    "features": [
        {
            "name": "amount",
            "inferred_type": "Fractional",
            "completeness": 0.98,
            "num_constraints": {"is_non_negative": True},
        },
        {
            "name": "plan",
            "inferred_type": "String",
            "completeness": 1.0,
            "string_constraints": {"domains": ["free", "pro"]},
            "monitoringConfigOverrides": {"distribution_constraints": {"categorical_comparison_threshold": 0.3}},
        },
        {"name": "visits", "inferred_type": "Integral", "completeness": 1.0},
    ],
    "monitoring_config": {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 0.9,
        "domain_content_threshold": 0.95,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.15,
            "comparion_method": "Robust",
            "categorical_comparison_threshold": 0.12,
            "categorical_drift_method": "ChiSquared",
        },
    },
}


def test_sagemaker_constraints_map_onto_the_config() -> None:
    config = MonitorConfig.from_constraints(CONSTRAINTS)
    assert config.numeric_method == "ks" and config.numeric.ks == 0.15
    assert config.categorical_method == "chi2" and config.categorical.linf == 0.12
    assert config.comparison_method == "Robust"  # AWS's misspelt key is read
    assert config.type_check_threshold == 0.9
    assert config.new_category_threshold == pytest.approx(0.05)
    assert config.feature("amount").completeness == 0.98 and config.feature("amount").non_negative
    assert config.feature("plan").method == "linf" and config.feature("plan").threshold == 0.3
    assert config.feature("visits").completeness == 1.0


def test_constraints_over_a_monitor_yaml_and_spelt_right() -> None:
    constraints = {
        "monitoring_config": {
            "distribution_constraints": {"comparison_method": "Simple", "perform_comparison": "Disabled"}
        }
    }
    config = MonitorConfig.from_constraints(constraints, base={"min_samples": 50})
    assert config.comparison_method == "Simple" and config.min_samples == 50 and not config.drift_check


@pytest.mark.parametrize(
    ("monitoring", "named"),
    [
        ({"datatype_check_threshold": "high"}, "monitoring_config.datatype_check_threshold must be a number"),
        ({"domain_content_threshold": 2}, "monitoring_config.domain_content_threshold must be between 0 and 1"),
        ({"distribution_constraints": {"comparison_method": "Fancy"}}, "comparison_method must be Simple or Robust"),
        ({"distribution_constraints": {"categorical_drift_method": "KL"}}, "categorical_drift_method must be"),
    ],
)
def test_bad_constraints_are_named(monitoring: dict, named: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        MonitorConfig.from_constraints({"monitoring_config": monitoring})
    assert named in info.value.message


def test_the_documented_monitor_yaml_is_valid() -> None:
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    block = doc.split("### monitor.yaml", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    config = MonitorConfig.from_mapping(yaml.safe_load(block))
    defaults = MonitorConfig().to_json()
    documented = config.to_json()
    documented.pop("features")
    assert documented == {k: v for k, v in defaults.items() if k != "features"}  # the doc shows the defaults
    assert config.feature("amount").min_samples == 2000 and not config.feature("session_id").enabled
