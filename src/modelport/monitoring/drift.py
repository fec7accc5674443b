"""Data quality and drift of a window against the baseline, from counts only.

:func:`evaluate` compares the :class:`~modelport.monitoring.profiles.Profile`
of a window with the :class:`~modelport.monitoring.profiles.Reference` it was
folded on and returns an :class:`Evaluation`: per feature the effect sizes,
the decision and the data-quality figures, and the violations under
SageMaker Model Monitor's check names.  Everything is a pure function of the
integer counts (and the sums/min/max) in the two profiles, so the same
capture always gives the same numbers.

Decisions rest on effect sizes, never on a p-value alone:

- numbers, on the baseline's bins: PSI, Jensen-Shannon distance, the
  Wasserstein distance divided by the baseline's standard deviation, and the
  largest CDF gap (``ks``, SageMaker's numeric distance);
- categories, on the baseline's categories plus one bin for values it never
  saw: L∞ (SageMaker's LInfinity), Jensen-Shannon distance, and chi-square —
  whose p-values are adjusted with Benjamini-Hochberg across the features and
  decide only together with its effect size (Cramér's V);
- below ``min_samples`` *effective* values (``n·m/(n+m)``, n in the window, m
  in the baseline) a feature is ``inconclusive``, never ``drift``.

docs/monitoring.md, "Statistics", gives every default and why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from modelport.errors import InvalidArgument
from modelport.monitoring.config import MonitorConfig
from modelport.monitoring.profiles import OTHER, FeatureBinning, FeatureKind, FeatureSketch, Profile, Reference

Status = Literal["ok", "drift", "inconclusive", "no_data"]
CheckType = Literal[
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
    "range_check",
]
"""SageMaker Model Monitor's violation names; ``range_check`` (values below zero in a non-negative
feature) is modelport's own and appears only when a config asks for it."""

NEW_CATEGORIES_LISTED = 20
"""How many of a window's unseen categories a result names (most frequent first)."""


@dataclass(frozen=True)
class Violation:
    feature_name: str
    constraint_check_type: CheckType
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Violation:
        return cls(str(data["feature_name"]), data["constraint_check_type"], str(data.get("description", "")))


@dataclass
class FeatureResult:
    name: str
    kind: FeatureKind
    n: int
    """Present values in the window (not missing, of the right type)."""
    status: Status
    statistics: dict[str, float] = field(default_factory=dict)
    """Every effect size computed for the feature, plus ``p_value``/``p_adjusted`` (chi-square)."""
    threshold: float | None = None
    """Threshold of the deciding statistic."""
    decided_by: str | None = None
    """The statistic the decision rests on: psi | js | wasserstein | ks | linf | chi2."""
    completeness: float | None = None
    """Share of the window's rows with a value (SageMaker's completeness)."""
    baseline_completeness: float | None = None
    new_categories: list[str] = field(default_factory=list)
    """Values the baseline never saw, most frequent first (at most NEW_CATEGORIES_LISTED)."""
    new_category_share: float | None = None
    out_of_range: dict[str, int | None] = field(default_factory=dict)
    """Numbers below the baseline's minimum / above its maximum: exact counts when the baseline's bins
    start and end at its range (histogram baselines), 0 when the window stays inside, else None."""
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    baseline_n: int = 0
    effective_n: float = 0.0
    """``n·m/(n+m)``: what ``min_samples`` is compared with."""
    missing: int = 0
    invalid: int = 0
    type_match: float | None = None
    """Share of the window's non-null values of the baseline's type."""
    reason: str = ""
    """Why a feature is inconclusive or has no data."""

    @property
    def statistic(self) -> float | None:
        """Value of the deciding statistic (for chi2: Cramér's V)."""
        if self.decided_by is None:
            return None
        return self.statistics.get("cramers_v" if self.decided_by == "chi2" else self.decided_by)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Evaluation:
    features: list[FeatureResult]
    violations: list[Violation]
    rows: int
    """Rows in the window."""
    baseline_rows: int = 0

    def feature(self, name: str) -> FeatureResult:
        for result in self.features:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.status == "drift"]

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "baseline_rows": self.baseline_rows,
            "features": [f.to_json() for f in self.features],
            "violations": [v.to_json() for v in self.violations],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(
            features=[FeatureResult.from_json(f) for f in data.get("features", ())],
            violations=[Violation.from_json(v) for v in data.get("violations", ())],
            rows=int(data.get("rows", 0)),
            baseline_rows=int(data.get("baseline_rows", 0)),
        )


# -- the evaluation -------------------------------------------------------------


def evaluate(reference: Reference, current: Profile, config: MonitorConfig | None = None) -> Evaluation:
    """Data quality and drift of ``current`` (folded on ``reference.binning``) against ``reference``."""
    config = config or MonitorConfig()
    results: list[FeatureResult] = []
    violations: list[Violation] = []
    p_values: dict[str, float] = {}
    for spec in reference.binning.features:
        if not config.feature(spec.name).enabled:
            continue
        base = reference.profile.features.get(spec.name) or FeatureSketch(spec.kind)
        window = current.features.get(spec.name)
        if window is None:  # as fold(): a feature the window lacks is missing on every row
            window = FeatureSketch(spec.kind, count=current.rows, missing=current.rows)
        result, found = _feature(spec, base, window, reference.inferred_types.get(spec.name), current.rows, config)
        results.append(result)
        violations.extend(found)
        if "p_value" in result.statistics:
            p_values[spec.name] = result.statistics["p_value"]
    adjusted = benjamini_hochberg(list(p_values.values()))
    for result in results:
        if result.name in p_values:
            result.statistics["p_adjusted"] = adjusted[list(p_values).index(result.name)]
        _decide(result, config)
        if result.status == "drift":
            violations.append(
                Violation(
                    result.name,
                    "baseline_drift_check",
                    f"Baseline drift distance: {_fmt(result.statistic)} exceeds threshold: {_fmt(result.threshold)} "
                    f"({_METHOD_NAMES[result.decided_by or '']})",
                )
            )
    known = set(reference.binning.names)
    for name in sorted(set(current.features) - known):
        sketch = current.features[name]
        if sketch.count > sketch.missing:
            violations.append(
                Violation(name, "extra_column_check", f"There are extra columns in current dataset: {name}")
            )
    order = {name: i for i, name in enumerate(reference.binning.names)}
    violations.sort(key=lambda v: (order.get(v.feature_name, len(order)), v.feature_name, v.constraint_check_type))
    baseline_rows = reference.profile.rows
    return Evaluation(results, violations, current.rows, baseline_rows)


_METHOD_NAMES = {
    "psi": "population stability index",
    "js": "Jensen-Shannon distance",
    "wasserstein": "Wasserstein distance / baseline std",
    "ks": "largest CDF gap",
    "linf": "L-infinity distance",
    "chi2": "chi-square, Cramér's V",
    "": "",
}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _feature(
    spec: FeatureBinning,
    base: FeatureSketch,
    window: FeatureSketch,
    inferred_type: str | None,
    rows: int,
    config: MonitorConfig,
) -> tuple[FeatureResult, list[Violation]]:
    fc = config.feature(spec.name)
    n, m = window.present, base.present
    result = FeatureResult(
        name=spec.name,
        kind=spec.kind,
        n=n,
        status="ok",
        baseline_n=m,
        effective_n=n * m / (n + m) if n and m else 0.0,
        missing=window.missing,
        invalid=window.invalid,
        completeness=(window.count - window.missing) / window.count if window.count else None,
        baseline_completeness=(base.count - base.missing) / base.count if base.count else None,
        mean=window.mean if spec.kind == "numeric" else None,
        std=window.std if spec.kind == "numeric" else None,
        min=window.min if spec.kind == "numeric" else None,
        max=window.max if spec.kind == "numeric" else None,
    )
    violations: list[Violation] = []
    min_samples = config.min_samples_for(spec.name)

    # -- data quality ----------------------------------------------------------
    never_seen = rows > 0 and window.count > 0 and window.count == window.missing and m > 0
    if never_seen:
        violations.append(
            Violation(spec.name, "missing_column_check", f"There are missing columns in current dataset: {spec.name}")
        )
    elif result.completeness is not None and window.count >= min_samples:
        required = (
            fc.completeness
            if fc.completeness is not None
            else (result.baseline_completeness or 0.0) - config.completeness_tolerance
        )
        if result.completeness < required - 1e-12:
            violations.append(
                Violation(
                    spec.name,
                    "completeness_check",
                    f"Data completeness requirement is not met. Expected completeness: {required:.2%}. "
                    f"Observed completeness: {result.completeness:.2%}.",
                )
            )
    non_null = n + window.invalid
    if spec.kind == "numeric":
        expected = inferred_type or ("Integral" if spec.integral else "Fractional")
        mismatched = window.invalid + (window.nonintegral if expected == "Integral" else 0)
        if non_null:
            result.type_match = 1.0 - mismatched / non_null
            wanted = fc.type_check_threshold if fc.type_check_threshold is not None else config.type_check_threshold
            if result.type_match < wanted - 1e-12:
                violations.append(
                    Violation(
                        spec.name,
                        "data_type_check",
                        f"Data type match requirement is not met. Expected data type: {expected}, "
                        f"Expected match: {wanted:.1%}. Observed: Only {result.type_match:.1%} of data is {expected}.",
                    )
                )
        result.out_of_range = _out_of_range(spec, base, window)
        non_negative = fc.non_negative if fc.non_negative is not None else config.non_negative
        if non_negative and base.min is not None and base.min >= 0 and window.min is not None and window.min < 0:
            violations.append(
                Violation(
                    spec.name,
                    "range_check",
                    f"Values below zero in a non-negative feature: minimum {_fmt(window.min)}.",
                )
            )
    else:
        known = set(spec.categories)
        unseen = {c: k for c, k in window.categories.items() if c not in known}
        listed = sorted((c for c in unseen if c != OTHER), key=lambda c: (-unseen[c], c))
        result.new_categories = listed[:NEW_CATEGORIES_LISTED]
        if n:
            result.new_category_share = sum(unseen.values()) / n
            tail = base.categories.get(OTHER, 0) / m if m else 0.0
            wanted = (
                fc.new_category_threshold if fc.new_category_threshold is not None else config.new_category_threshold
            )
            if n >= min_samples and result.new_category_share - tail > wanted + 1e-12:
                violations.append(
                    Violation(
                        spec.name,
                        "categorical_values_check",
                        f"Data content requirement is not met. Expected: at most {wanted:.2%} of values outside the "
                        f"baseline's domain (plus its own {tail:.2%}). Observed: {result.new_category_share:.2%} "
                        f"({', '.join(result.new_categories[:5]) or OTHER}).",
                    )
                )

    # -- the numbers drift is decided on ---------------------------------------
    if rows == 0 or n == 0:
        result.status = "no_data"
        result.reason = "no rows in the window" if rows == 0 else "no values in the window"
        return result, violations
    if m == 0:
        result.status = "inconclusive"
        result.reason = "the baseline has no values of this feature"
        return result, violations
    if spec.kind == "numeric":
        result.statistics = numeric_statistics(spec, base, window, config.psi_epsilon)
    else:
        result.statistics = categorical_statistics(spec, base, window, config.psi_epsilon)
    if result.effective_n < min_samples:
        result.status = "inconclusive"
        result.reason = (
            f"{n} values in the window, {m} in the baseline: effective {result.effective_n:.0f} "
            f"< min_samples {min_samples}"
        )
    return result, violations


def _decide(result: FeatureResult, config: MonitorConfig) -> None:
    if result.status in ("no_data",) or not result.statistics:
        return
    method = config.method_for(result.name, result.kind)
    result.decided_by = method
    result.threshold = config.threshold_for(result.name, result.kind, method)
    if result.status == "inconclusive":
        return
    fc = config.feature(result.name)
    if not (fc.drift_check if fc.drift_check is not None else config.drift_check):
        result.decided_by = result.threshold = None
        return
    value = result.statistic
    drifted = value is not None and value > result.threshold
    if method == "chi2":
        drifted = drifted and result.statistics.get("p_adjusted", 1.0) < config.alpha
    result.status = "drift" if drifted else "ok"


def _out_of_range(spec: FeatureBinning, base: FeatureSketch, window: FeatureSketch) -> dict[str, int | None]:
    """Counts below/above the baseline's range, where the counts can tell."""
    out: dict[str, int | None] = {"below_min": 0, "above_max": 0}
    if base.min is None or base.max is None or window.min is None or window.max is None:
        return out
    edges = spec.edges
    if window.min < base.min:
        out["below_min"] = window.bins[0] if edges and edges[0] == base.min and window.bins else None
    if window.max > base.max:
        isolated = edges and edges[-1] == float(np.nextafter(base.max, np.inf)) and window.bins
        out["above_max"] = window.bins[-1] if isolated else None
    return out


# -- numbers ----------------------------------------------------------------------


def numeric_statistics(
    spec: FeatureBinning, base: FeatureSketch, window: FeatureSketch, epsilon: float = 1e-4
) -> dict[str, float]:
    """Effect sizes of a numeric feature on the baseline's bins."""
    ref = np.asarray(base.bins, dtype=np.float64)
    cur = np.asarray(window.bins, dtype=np.float64)
    if ref.shape != cur.shape:
        raise InvalidArgument(
            f"feature {spec.name!r}: the window was folded on {cur.size} bins, the baseline has {ref.size}: "
            "fold it again with this reference's binning"
        )
    p, q = ref / ref.sum(), cur / cur.sum()
    std = base.std or 0.0
    raw = wasserstein_on_bins(spec.edges, p, q, std or 1.0)
    # the baseline's standard deviation (exact from its sums; Evidently divides by it too), else the
    # interquartile range read off the bins, else 1 (a constant baseline: the distance in its own units)
    scale = std if std > 0 else (_iqr(spec.edges, p) or 1.0)
    out = {
        "psi": psi(p, q, epsilon),
        "js": jensen_shannon(p, q),
        "wasserstein": raw / scale,
        "wasserstein_raw": raw,
        "wasserstein_scale": scale,
        "ks": float(np.max(np.abs(np.cumsum(p) - np.cumsum(q)))) if p.size else 0.0,
    }
    out.update(chi_square(ref, cur))
    return out


def bin_knots(edges: Sequence[float], outer_width: float = 1.0) -> np.ndarray:
    """The bins' boundaries with the two open bins closed at one neighbouring bin's width beyond the outer
    edges (``outer_width`` when there is no neighbour): the same for the baseline and every window."""
    inner = np.asarray(edges, dtype=np.float64)
    if inner.size >= 2:
        below, above = inner[1] - inner[0], inner[-1] - inner[-2]
    else:
        below = above = outer_width
    return np.concatenate(([inner[0] - below], inner, [inner[-1] + above]))


def wasserstein_on_bins(edges: Sequence[float], p: np.ndarray, q: np.ndarray, outer_width: float = 1.0) -> float:
    """Integral of |F_p - F_q| with both distributions spread evenly inside the same bins.

    Both CDFs are then piecewise linear on the same knots (:func:`bin_knots`) and the integral is exact
    on them.  The open outer bins get their neighbour's width rather than reaching each side's own
    minimum and maximum: extremes are single values, and spreading 5% of the mass out to them made two
    samples of the same heavy-tailed distribution look far apart.
    """
    if not len(edges):
        return 0.0  # one bin: nothing to compare
    knots = bin_knots(edges, outer_width)
    fp = np.concatenate(([0.0], np.cumsum(p)))
    fq = np.concatenate(([0.0], np.cumsum(q)))
    return _integral_abs_linear(knots, fp - fq)


def _integral_abs_linear(x: np.ndarray, d: np.ndarray) -> float:
    """Integral of |d| for d linear between the points x (exact, including sign changes)."""
    width = np.diff(x)
    a, b = d[:-1], d[1:]
    same = a * b >= 0
    whole = width * (np.abs(a) + np.abs(b)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        split = width * (a * a + b * b) / (2 * (np.abs(a) + np.abs(b)))
    return float(np.sum(np.where(same, whole, split)))


def _iqr(edges: Sequence[float], p: np.ndarray) -> float:
    """The baseline's interquartile range, read off the same piecewise-linear CDF."""
    if not len(edges):
        return 0.0
    knots = bin_knots(edges)
    cdf = np.concatenate(([0.0], np.cumsum(p)))
    keep = np.concatenate(([True], np.diff(cdf) > 0))  # a strictly increasing CDF to invert
    q1, q3 = np.interp([0.25, 0.75], cdf[keep], knots[keep])
    return float(q3 - q1)


# -- categories -------------------------------------------------------------------


def category_counts(
    spec: FeatureBinning, base: FeatureSketch, window: FeatureSketch
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Counts on the baseline's categories (sorted) plus one bin, ``__other__``, for every other value."""
    known = sorted(spec.categories)
    ref = [base.categories.get(c, 0) for c in known]
    cur = [window.categories.get(c, 0) for c in known]
    known_set = set(known)
    ref.append(sum(k for c, k in base.categories.items() if c not in known_set))
    cur.append(sum(k for c, k in window.categories.items() if c not in known_set))
    return [*known, OTHER], np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64)


def categorical_statistics(
    spec: FeatureBinning, base: FeatureSketch, window: FeatureSketch, epsilon: float = 1e-4
) -> dict[str, float]:
    _, ref, cur = category_counts(spec, base, window)
    p, q = ref / ref.sum(), cur / cur.sum()
    out = {
        "linf": float(np.max(np.abs(p - q))),
        "js": jensen_shannon(p, q),
        "psi": psi(p, q, epsilon),
    }
    out.update(chi_square(ref, cur))
    return out


# -- the statistics -----------------------------------------------------------------


def psi(p: np.ndarray, q: np.ndarray, epsilon: float = 1e-4) -> float:
    """Population stability index Σ (q - p)·ln(q/p); a share below ``epsilon`` counts as ``epsilon``."""
    ps, qs = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return float(np.sum((qs - ps) * np.log(qs / ps)))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (the square root of the divergence), natural log: in [0, √ln 2]."""
    mid = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / mid[nz])))

    return math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))


def chi_square(ref: np.ndarray, cur: np.ndarray) -> dict[str, float]:
    """Chi-square test of homogeneity on the 2xk table of counts, and its effect size.

    ``cramers_v`` weighs both samples equally — √(½ Σ (pᵢ - qᵢ)² / (pᵢ + qᵢ)), Cramér's V of the
    table with both rows scaled to the same total — so, unlike the textbook V (which shrinks as the
    baseline outgrows the window), it measures how different the distributions are, not the samples'
    sizes.  0 for equal shares, 1 for disjoint ones.
    """
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    if ref.size < 2 or ref.sum() == 0 or cur.sum() == 0:
        return {"chi2": 0.0, "p_value": 1.0, "cramers_v": 0.0}
    table = np.vstack([ref, cur])
    total = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / total
    stat = float(np.sum((table - expected) ** 2 / expected))
    p, q = ref / ref.sum(), cur / cur.sum()
    v = math.sqrt(float(np.sum((p - q) ** 2 / (p + q))) / 2)
    return {"chi2": stat, "p_value": chi2_sf(stat, ref.size - 1), "cramers_v": v}


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (statsmodels' ``fdr_bh``), in the input's order."""
    m = len(p_values)
    if m == 0:
        return []
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


def chi2_sf(x: float, dof: int) -> float:
    """P(χ²_dof ≥ x): the regularized upper incomplete gamma Q(dof/2, x/2)."""
    if x <= 0 or dof <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    if x < a + 1.0:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    # continued fraction for Q (modified Lentz)
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - math.lgamma(a)) * h)
