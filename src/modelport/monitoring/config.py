"""What a monitor checks and where it draws the line: ``monitor.yaml``.

Every threshold is on an *effect size* (how far the window's distribution is
from the baseline's), never on a p-value alone; the defaults and why they are
sound are in docs/monitoring.md, "Statistics".  A SageMaker user's
``constraints.json`` maps onto the same config (:meth:`MonitorConfig.from_constraints`).

    min_samples: 500            # fewer values (effective, see drift.py) -> inconclusive
    numeric_method: psi         # psi | js | wasserstein | ks
    categorical_method: linf    # linf | js | chi2
    numeric: {psi: 0.2, js: 0.1, wasserstein: 0.1, ks: 0.1}
    categorical: {linf: 0.1, js: 0.1, cramers_v: 0.1}
    features:
      amount: {method: wasserstein, threshold: 0.2}
      plan: {enabled: false}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelport.errors import InvalidArgument

NumericMethod = Literal["psi", "js", "wasserstein", "ks"]
CategoricalMethod = Literal["linf", "js", "chi2"]
NUMERIC_METHODS: tuple[str, ...] = ("psi", "js", "wasserstein", "ks")
CATEGORICAL_METHODS: tuple[str, ...] = ("linf", "js", "chi2")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericThresholds(_Strict):
    psi: float = Field(default=0.2, gt=0)
    """Population stability index on the baseline's quantile bins: > 0.2 is the usual "significant shift"."""
    js: float = Field(default=0.1, gt=0, le=1)
    """Jensen-Shannon distance (natural log, as scipy and Evidently) on the same bins."""
    wasserstein: float = Field(default=0.1, gt=0)
    """Earth mover's distance on the bins divided by the baseline's standard deviation (Evidently's 0.1)."""
    ks: float = Field(default=0.1, gt=0, le=1)
    """Largest gap between the two CDFs at the bin edges (SageMaker's numeric distance, comparison_threshold)."""


class CategoricalThresholds(_Strict):
    linf: float = Field(default=0.1, gt=0, le=1)
    """Largest change of one category's share (SageMaker's LInfinity, categorical_comparison_threshold)."""
    js: float = Field(default=0.1, gt=0, le=1)
    """Jensen-Shannon distance (natural log) on the category shares."""
    cramers_v: float = Field(default=0.1, gt=0, le=1)
    """Chi-square's effect size (Cramér's V with both samples weighted equally): 0.1 is Cohen's "small"."""


class FeatureConfig(_Strict):
    """Per-feature overrides; anything unset falls back to the monitor-wide value."""

    enabled: bool = True
    """False: the feature is not monitored at all (no checks, not in the results)."""
    drift_check: bool | None = None
    """False: data-quality checks only, no distribution comparison."""
    method: str | None = None
    """The statistic that decides drift for this feature (one of its kind's methods)."""
    threshold: float | None = Field(default=None, gt=0)
    """Threshold of the deciding statistic."""
    min_samples: int | None = Field(default=None, ge=1)
    completeness: float | None = Field(default=None, ge=0, le=1)
    """Least share of non-null values (SageMaker's per-feature ``completeness`` constraint)."""
    new_category_threshold: float | None = Field(default=None, ge=0, le=1)
    type_check_threshold: float | None = Field(default=None, ge=0, le=1)
    non_negative: bool | None = None
    """Flag values below zero (SageMaker's ``num_constraints.is_non_negative``)."""

    @model_validator(mode="after")
    def _known_method(self) -> FeatureConfig:
        if self.method is not None and self.method not in NUMERIC_METHODS + CATEGORICAL_METHODS:
            raise ValueError(
                f"unknown method {self.method!r}; numeric: {', '.join(NUMERIC_METHODS)}; "
                f"categorical: {', '.join(CATEGORICAL_METHODS)}"
            )
        return self


class MonitorConfig(_Strict):
    """What a monitor checks, per feature of the signature.  Immutable; build with :meth:`from_mapping`."""

    min_samples: int = Field(default=500, ge=1)
    """Least *effective* number of values (``n·m/(n+m)`` for n in the window, m in the baseline) for a
    drift decision; below it the feature is ``inconclusive``.  Also the least number of rows for the
    rate checks (completeness, new categories)."""
    numeric_method: NumericMethod = "psi"
    categorical_method: CategoricalMethod = "linf"
    numeric: NumericThresholds = NumericThresholds()
    categorical: CategoricalThresholds = CategoricalThresholds()
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """False discovery rate for the chi-square p-values (Benjamini-Hochberg across features)."""
    psi_epsilon: float = Field(default=1e-4, gt=0, lt=0.01)
    """Share an empty bin is given in PSI (ln(0) is undefined)."""
    completeness_tolerance: float = Field(default=0.02, ge=0, le=1)
    """completeness_check: the window's share of non-null values may fall this far below the baseline's."""
    type_check_threshold: float = Field(default=1.0, ge=0, le=1)
    """data_type_check: least share of non-null values of the baseline's type (SageMaker's
    datatype_check_threshold; 1.0 = every value)."""
    new_category_threshold: float = Field(default=0.01, ge=0, le=1)
    """categorical_values_check: most share of values the baseline never saw (beyond the baseline's own
    long tail); SageMaker's domain_content_threshold is 1 minus this."""
    non_negative: bool = False
    """Flag values below zero in every feature the baseline had non-negative (range check)."""
    drift_check: bool = True
    """Compare distributions at all (SageMaker's ``perform_comparison``); the data-quality checks run either way."""
    comparison_method: Literal["Simple", "Robust"] | None = None
    """Kept from a SageMaker constraints.json (``min_samples`` plays Robust's part here)."""
    features: dict[str, FeatureConfig] = Field(default_factory=dict)

    # -- building -------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> MonitorConfig:
        """A config from a parsed monitor.yaml; a mistake is one InvalidArgument naming the key."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a monitor config is a mapping of settings, got {type(data).__name__}")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise InvalidArgument("invalid monitor config: " + _describe(exc)) from None

    @classmethod
    def from_constraints(cls, constraints: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> MonitorConfig:
        """A config from SageMaker Model Monitor's constraints.json (over ``base``, a monitor.yaml mapping).

        ``monitoring_config``: ``distribution_constraints.comparison_threshold`` → the numeric ``ks``
        threshold and method (SageMaker's numeric distance is the largest CDF gap),
        ``categorical_comparison_threshold`` and ``categorical_drift_method`` (LInfinity | ChiSquared),
        ``comparison_method`` (also AWS's misspelt ``comparion_method``), ``datatype_check_threshold``,
        ``domain_content_threshold``.  Per feature: ``completeness``, ``num_constraints.is_non_negative``
        and ``monitoringConfigOverrides`` (the same keys).

        A constraints.json modelport wrote keeps its whole config under ``modelport``: that block is
        read instead (the SageMaker fields were derived from it).
        """
        if not isinstance(constraints, Mapping):
            raise InvalidArgument("constraints.json must be a JSON object")
        own = constraints.get("modelport")
        if isinstance(own, Mapping):
            return cls.from_mapping({**(base or {}), **own})
        out: dict[str, Any] = dict(base or {})
        monitoring = constraints.get("monitoring_config") or {}
        if not isinstance(monitoring, Mapping):
            raise InvalidArgument("constraints.json: monitoring_config must be an object")
        out.update(_monitoring_settings(monitoring, "monitoring_config", out))
        features: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (out.get("features") or {}).items()}
        for i, feature in enumerate(constraints.get("features") or ()):
            if not isinstance(feature, Mapping) or not feature.get("name"):
                raise InvalidArgument(f"constraints.json: features[{i}] needs a name")
            name = str(feature["name"])
            entry = features.setdefault(name, {})
            if feature.get("completeness") is not None:
                entry["completeness"] = _number(feature["completeness"], f"features[{name}].completeness")
            num = feature.get("num_constraints") or {}
            if isinstance(num, Mapping) and num.get("is_non_negative") is not None:
                entry["non_negative"] = bool(num["is_non_negative"])
            overrides = feature.get("monitoringConfigOverrides") or {}
            if overrides:
                if not isinstance(overrides, Mapping):
                    raise InvalidArgument(
                        f"constraints.json: features[{name}].monitoringConfigOverrides must be an object"
                    )
                entry.update(_feature_overrides(overrides, name))
            if not entry:
                features.pop(name)
        if features:
            out["features"] = features
        if monitoring.get("evaluate_constraints") == "Disabled":
            # SageMaker then checks nothing: keep the numbers, disable every named feature.
            for name in [str(f["name"]) for f in constraints.get("features") or ()]:
                out.setdefault("features", {}).setdefault(name, {})["enabled"] = False
        return cls.from_mapping(out)

    # -- reading --------------------------------------------------------------

    def check_features(self, names: Iterable[str], kinds: Mapping[str, str] | None = None) -> None:
        """Raise InvalidArgument if the config names a feature the signature lacks, or gives a
        feature a method of the other kind (``kinds``: name → ``numeric`` | ``categorical``)."""
        names = list(names)
        unknown = [n for n in self.features if n not in names]
        if unknown:
            raise InvalidArgument(
                f"config names unknown feature(s) {', '.join(repr(n) for n in unknown)}; "
                f"the signature has: {', '.join(names) or '(no features)'}"
            )
        for name, kind in (kinds or {}).items():
            feature = self.features.get(name)
            if feature is not None and feature.method is not None:
                allowed = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
                if feature.method not in allowed:
                    raise InvalidArgument(
                        f"features.{name}.method: {feature.method!r} is not for a {kind} feature; "
                        f"use one of {', '.join(allowed)}"
                    )

    def feature(self, name: str) -> FeatureConfig:
        return self.features.get(name) or _DEFAULT_FEATURE

    def method_for(self, name: str, kind: str) -> str:
        override = self.feature(name).method
        allowed = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
        if override is not None and override in allowed:
            return override
        return self.numeric_method if kind == "numeric" else self.categorical_method

    def threshold_for(self, name: str, kind: str, method: str) -> float:
        """Threshold of ``method`` for this feature (for chi2: the Cramér's V threshold)."""
        feature = self.feature(name)
        if feature.threshold is not None and method == self.method_for(name, kind):
            return feature.threshold
        if kind == "numeric":
            return float(getattr(self.numeric, method))
        return float(getattr(self.categorical, "cramers_v" if method == "chi2" else method))

    def min_samples_for(self, name: str) -> int:
        return self.feature(name).min_samples or self.min_samples

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


_DEFAULT_FEATURE = FeatureConfig()


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown setting"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"constraints.json: {where} must be a number, got {value!r}")
    return float(value)


_METHODS_SAGEMAKER = {"linfinity": "linf", "chisquared": "chi2"}


def _monitoring_settings(monitoring: Mapping[str, Any], where: str, current: Mapping[str, Any]) -> dict[str, Any]:
    """monitoring_config (or a feature's overrides) → MonitorConfig keys."""
    out: dict[str, Any] = {}
    if "datatype_check_threshold" in monitoring:
        out["type_check_threshold"] = _fraction(
            monitoring["datatype_check_threshold"], f"{where}.datatype_check_threshold"
        )
    if "domain_content_threshold" in monitoring:
        share = _fraction(monitoring["domain_content_threshold"], f"{where}.domain_content_threshold")
        out["new_category_threshold"] = round(1.0 - share, 12)
    dist = monitoring.get("distribution_constraints") or {}
    if not isinstance(dist, Mapping):
        raise InvalidArgument(f"constraints.json: {where}.distribution_constraints must be an object")
    numeric = dict(current.get("numeric") or {})
    categorical = dict(current.get("categorical") or {})
    if "comparison_threshold" in dist:
        numeric["ks"] = _number(dist["comparison_threshold"], f"{where}.distribution_constraints.comparison_threshold")
        out["numeric_method"] = "ks"
    if "categorical_comparison_threshold" in dist:
        key = f"{where}.distribution_constraints.categorical_comparison_threshold"
        categorical["linf"] = _number(dist["categorical_comparison_threshold"], key)
        out["categorical_method"] = "linf"
    drift_method = dist.get("categorical_drift_method")
    if drift_method is not None:
        method = _METHODS_SAGEMAKER.get(str(drift_method).lower())
        if method is None:
            raise InvalidArgument(
                f"constraints.json: {where}.distribution_constraints.categorical_drift_method must be "
                f"LInfinity or ChiSquared, got {drift_method!r}"
            )
        out["categorical_method"] = method
    compare = dist.get("comparison_method", dist.get("comparion_method"))
    if compare is not None:
        if compare not in ("Simple", "Robust"):
            raise InvalidArgument(
                f"constraints.json: {where}.distribution_constraints.comparison_method must be Simple or Robust, "
                f"got {compare!r}"
            )
        out["comparison_method"] = compare
    if dist.get("perform_comparison") is not None:
        out["drift_check"] = dist["perform_comparison"] != "Disabled"
    if numeric:
        out["numeric"] = numeric
    if categorical:
        out["categorical"] = categorical
    return out


def _feature_overrides(overrides: Mapping[str, Any], name: str) -> dict[str, Any]:
    where = f"features[{name}].monitoringConfigOverrides"
    entry: dict[str, Any] = {}
    if "datatype_check_threshold" in overrides:
        entry["type_check_threshold"] = _fraction(
            overrides["datatype_check_threshold"], f"{where}.datatype_check_threshold"
        )
    if "domain_content_threshold" in overrides:
        share = _fraction(overrides["domain_content_threshold"], f"{where}.domain_content_threshold")
        entry["new_category_threshold"] = round(1.0 - share, 12)
    dist = overrides.get("distribution_constraints") or {}
    if isinstance(dist, Mapping):
        if dist.get("perform_comparison") is not None:
            entry["drift_check"] = dist["perform_comparison"] != "Disabled"
        if "comparison_threshold" in dist:
            entry["method"] = "ks"
            entry["threshold"] = _number(dist["comparison_threshold"], f"{where}.comparison_threshold")
        if "categorical_comparison_threshold" in dist:
            entry["method"] = "linf"
            entry["threshold"] = _number(
                dist["categorical_comparison_threshold"], f"{where}.categorical_comparison_threshold"
            )
    return entry


def _fraction(value: Any, where: str) -> float:
    number = _number(value, where)
    if not 0.0 <= number <= 1.0:
        raise InvalidArgument(f"constraints.json: {where} must be between 0 and 1, got {number}")
    return number
