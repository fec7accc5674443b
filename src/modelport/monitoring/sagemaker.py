"""SageMaker Model Monitor's files: statistics.json, constraints.json, constraint_violations.json.

Written with SageMaker's field and check names (PROTOCOLS.md §5) so a user's
tooling reads them; read leniently (extra fields, ``version: 0.0``, float
counts, the KLL sketch ignored) so a SageMaker user's baseline becomes a
:class:`~modelport.monitoring.profiles.Reference`:

    Reference.from_baseline(baseline_from_statistics(statistics, constraints))
    MonitorConfig.from_constraints(constraints)

Numeric features: SageMaker's 10 equal-width KLL buckets become bins the way
an old registration baseline's histogram does (the buckets' lower bounds plus
the top bound nudged up, so the maximum falls inside, and an empty open bin on
either side).  A statistics.json modelport wrote also carries its exact
quantile bins (``distribution.modelport_bins``), so our own files round-trip to
the same bins; its KLL buckets are those bins, closed at the minimum and the
maximum.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument
from modelport.monitoring.config import MonitorConfig
from modelport.monitoring.drift import Evaluation
from modelport.monitoring.profiles import OTHER, Binning, FeatureSketch, Profile, Reference

KLL_PARAMETERS = {"c": 0.64, "k": 2048.0}
"""What SageMaker's analyzer writes in each sketch."""
DOMAIN_LIMIT = 1000
"""Categories up to this many are written as a string feature's ``domains`` ("for small cardinality")."""


# -- statistics.json ------------------------------------------------------------


def statistics_json(
    source: Reference | Profile,
    binning: Binning | None = None,
    inferred_types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """statistics.json of a reference (the baseline) or of a window's profile on ``binning``."""
    if isinstance(source, Reference):
        profile, binning = source.profile, binning or source.binning
        types = dict(source.inferred_types) | dict(inferred_types or {})
    else:
        if binning is None:
            raise InvalidArgument("statistics of a profile need the binning it was folded on")
        profile, types = source, dict(inferred_types or {})
    features = []
    for spec in binning.features:
        sketch = profile.features.get(spec.name) or FeatureSketch(spec.kind)
        common = {"num_present": sketch.present, "num_missing": sketch.missing + sketch.invalid}
        if spec.kind == "categorical":
            categorical = [
                {"value": value, "count": n}
                for value, n in sorted(sketch.categories.items(), key=lambda kv: (-kv[1], kv[0]))
                if value != OTHER
            ]
            features.append(
                {
                    "name": spec.name,
                    "inferred_type": "String",
                    "string_statistics": {
                        "common": common,
                        "distinct_count": float(sum(1 for c in sketch.categories if c != OTHER)),
                        "distribution": {"categorical": {"buckets": categorical}},
                    },
                }
            )
            continue
        inferred = types.get(spec.name) or ("Integral" if spec.integral else "Fractional")
        kll = _kll_buckets(spec.edges, sketch)
        features.append(
            {
                "name": spec.name,
                "inferred_type": inferred,
                "numerical_statistics": {
                    "common": common,
                    "mean": _finite(sketch.mean),
                    "sum": sketch.sum,
                    "std_dev": _finite(sketch.std if sketch.std is not None else (0.0 if sketch.present else None)),
                    "min": sketch.min,
                    "max": sketch.max,
                    "distribution": {
                        "kll": {"buckets": kll, "sketch": _kll_sketch(kll)},
                        "modelport_bins": {"edges": list(spec.edges), "counts": list(sketch.bins)},
                    },
                },
            }
        )
    return {"version": 0.0, "dataset": {"item_count": profile.rows}, "features": features}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _kll_buckets(edges: tuple[float, ...], sketch: FeatureSketch) -> list[dict[str, float]]:
    """Our bins as buckets: the open outer ones closed at the minimum and maximum (empty ones dropped)."""
    counts = list(sketch.bins) or [sketch.present]
    lo = sketch.min if sketch.min is not None else (edges[0] if edges else 0.0)
    hi = sketch.max if sketch.max is not None else (edges[-1] if edges else 0.0)
    bounds = [min(lo, edges[0]) if edges else lo, *edges, max(hi, edges[-1]) if edges else hi]
    out = []
    for i, n in enumerate(counts):
        if n == 0 and i in (0, len(counts) - 1):
            continue
        out.append({"lower_bound": float(bounds[i]), "upper_bound": float(bounds[i + 1]), "count": float(n)})
    return out


def _kll_sketch(buckets: list[dict[str, float]]) -> dict[str, Any]:
    """A KLL-shaped sketch of the buckets: each bucket's count written in binary, an item at level h
    weighing 2**h, at the bucket's midpoint, so a reader ranking the items gets the buckets' CDF."""
    levels: list[list[float]] = []
    for bucket in buckets:
        mid = (bucket["lower_bound"] + bucket["upper_bound"]) / 2
        n, level = int(bucket["count"]), 0
        while n:
            if n & 1:
                while len(levels) <= level:
                    levels.append([])
                levels[level].append(mid)
            n >>= 1
            level += 1
    return {"parameters": dict(KLL_PARAMETERS), "data": [sorted(items) for items in levels]}


# -- reading statistics.json ----------------------------------------------------


def baseline_from_statistics(
    statistics: Mapping[str, Any], constraints: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A SageMaker statistics.json (and optionally its constraints.json) as a modelport baseline
    (:func:`modelport.baseline.compute_baseline`'s shape), for :meth:`Reference.from_baseline`."""
    if not isinstance(statistics, Mapping) or not isinstance(statistics.get("features"), list):
        raise InvalidArgument("statistics.json must be an object with a list of features")
    declared: dict[str, Mapping[str, Any]] = {}
    if constraints is not None:
        if not isinstance(constraints, Mapping):
            raise InvalidArgument("constraints.json must be a JSON object")
        declared = {str(f.get("name")): f for f in constraints.get("features") or () if isinstance(f, Mapping)}
    features = []
    item_count = 0
    for i, feature in enumerate(statistics["features"]):
        if not isinstance(feature, Mapping) or not feature.get("name"):
            raise InvalidArgument(f"statistics.json: features[{i}] needs a name")
        name = str(feature["name"])
        where = f"statistics.json: feature {name!r}"
        constraint = declared.get(name, {})
        inferred = str(constraint.get("inferred_type") or feature.get("inferred_type") or "")
        numeric = feature.get("numerical_statistics")
        text = feature.get("string_statistics")
        if inferred == "String" or (numeric is None and text is not None):
            features.append(_string_feature(name, text or {}, constraint, where))
        elif numeric is not None:
            features.append(
                _numeric_feature(name, numeric, "Integral" if inferred == "Integral" else "Fractional", where)
            )
        else:
            raise InvalidArgument(f"{where} has neither numerical_statistics nor string_statistics")
        item_count = max(item_count, features[-1]["count"])
    dataset = statistics.get("dataset") or {}
    rows = _count(dataset.get("item_count"), f"{'statistics.json'}: dataset.item_count") if dataset else item_count
    return {"version": 0, "item_count": rows or item_count, "features": features}


def _count(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"{where} must be a count, got {value!r}")
    return round(value)


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{where} must be a number, got {value!r}")
    return float(value) if math.isfinite(value) else None


def _common(stats: Mapping[str, Any], where: str) -> tuple[int, int]:
    common = stats.get("common") or {}
    present = _count(common.get("num_present"), f"{where}: common.num_present")
    missing = _count(common.get("num_missing"), f"{where}: common.num_missing")
    return present, missing


def _numeric_feature(name: str, stats: Mapping[str, Any], inferred: str, where: str) -> dict[str, Any]:
    if not isinstance(stats, Mapping):
        raise InvalidArgument(f"{where}: numerical_statistics must be an object")
    present, missing = _common(stats, where)
    distribution = stats.get("distribution") or {}
    kll = distribution.get("kll") or {}
    buckets = []
    for j, b in enumerate(kll.get("buckets") or ()):
        lower = _number(b.get("lower_bound"), f"{where}: kll bucket {j} lower_bound")
        upper = _number(b.get("upper_bound"), f"{where}: kll bucket {j} upper_bound")
        if lower is None or upper is None or upper < lower:
            raise InvalidArgument(f"{where}: kll bucket {j} needs finite bounds, lower <= upper")
        buckets.append(
            {
                "lower_bound": lower,
                "upper_bound": upper,
                "count": _count(b.get("count"), f"{where}: kll bucket {j} count"),
            }
        )
    exact = distribution.get("modelport_bins")
    bins = _exact_bins(exact, present, where) if exact else _bins_from_buckets(buckets, present)
    return {
        "name": name,
        "count": present + missing,
        "missing": missing,
        "inferred_type": inferred,
        "mean": _number(stats.get("mean"), f"{where}: mean"),
        "std": _number(stats.get("std_dev"), f"{where}: std_dev"),
        "min": _number(stats.get("min"), f"{where}: min"),
        "max": _number(stats.get("max"), f"{where}: max"),
        "sum": _number(stats.get("sum"), f"{where}: sum") or 0.0,
        "quantiles": {},
        "bins": bins,
        "histogram": buckets,
    }


def _exact_bins(exact: Mapping[str, Any], present: int, where: str) -> dict[str, list[Any]]:
    edges = [float(e) for e in exact.get("edges") or ()]
    counts = [_count(c, f"{where}: modelport_bins count") for c in exact.get("counts") or ()]
    if len(counts) != len(edges) + 1 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise InvalidArgument(f"{where}: modelport_bins needs increasing edges and one count more than edges")
    return {"edges": edges, "counts": counts}


def _bins_from_buckets(buckets: list[dict[str, Any]], present: int) -> dict[str, list[Any]]:
    """Buckets → bins as Reference.from_baseline reads a histogram: lower bounds + the top nudged up."""
    if not buckets:
        return {"edges": [], "counts": [present]}
    edges: list[float] = []
    counts: list[int] = []
    for b in buckets:
        if edges and b["lower_bound"] <= edges[-1]:  # a zero-width bucket (a constant feature): merge it
            counts[-1] += b["count"]
            continue
        edges.append(b["lower_bound"])
        counts.append(b["count"])
    top = max(b["upper_bound"] for b in buckets)
    edges.append(float(np.nextafter(max(top, edges[-1]), np.inf)))
    return {"edges": edges, "counts": [0, *counts, 0]}


def _string_feature(name: str, stats: Mapping[str, Any], constraint: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(stats, Mapping):
        raise InvalidArgument(f"{where}: string_statistics must be an object")
    present, missing = _common(stats, where)
    categories: dict[str, int] = {}
    buckets = ((stats.get("distribution") or {}).get("categorical") or {}).get("buckets") or ()
    for j, b in enumerate(buckets):
        if "value" not in b:
            raise InvalidArgument(f"{where}: categorical bucket {j} needs a value")
        value = str(b["value"])
        categories[value] = categories.get(value, 0) + _count(b.get("count"), f"{where}: categorical bucket {j} count")
    for value in (constraint.get("string_constraints") or {}).get("domains") or ():
        categories.setdefault(str(value), 0)  # in the domain: known, if never counted
    ranked = sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "name": name,
        "count": present + missing,
        "missing": missing,
        "inferred_type": "String",
        "distinct_count": _count(stats.get("distinct_count"), f"{where}: distinct_count") or len(categories),
        "top": [{"value": v, "count": c} for v, c in ranked[:20]],
        "categories": dict(ranked),
    }


# -- constraints.json -------------------------------------------------------------


def constraints_json(reference: Reference, config: MonitorConfig | None = None) -> dict[str, Any]:
    """constraints.json of a baseline under ``config``: SageMaker's fields say what they can (completeness,
    non-negative, domains, the L-infinity/KS thresholds), and ``modelport`` keeps the whole config, which
    :meth:`MonitorConfig.from_constraints` prefers when it is there."""
    config = config or MonitorConfig()
    features = []
    for spec in reference.binning.features:
        fc = config.feature(spec.name)
        sketch = reference.profile.features.get(spec.name) or FeatureSketch(spec.kind)
        entry: dict[str, Any] = {
            "name": spec.name,
            "inferred_type": reference.inferred_types.get(spec.name)
            or ("String" if spec.kind == "categorical" else "Integral" if spec.integral else "Fractional"),
        }
        if sketch.count:
            baseline = (sketch.count - sketch.missing) / sketch.count
            entry["completeness"] = (
                fc.completeness if fc.completeness is not None else max(0.0, baseline - config.completeness_tolerance)
            )
        if spec.kind == "numeric":
            entry["num_constraints"] = {"is_non_negative": sketch.min is not None and sketch.min >= 0}
        elif len(spec.categories) <= DOMAIN_LIMIT:
            entry["string_constraints"] = {"domains": list(spec.categories)}
        overrides: dict[str, Any] = {}
        if fc.type_check_threshold is not None:
            overrides["datatype_check_threshold"] = fc.type_check_threshold
        if fc.new_category_threshold is not None:
            overrides["domain_content_threshold"] = round(1.0 - fc.new_category_threshold, 12)
        dist: dict[str, Any] = {}
        if fc.drift_check is not None:
            dist["perform_comparison"] = "Enabled" if fc.drift_check else "Disabled"
        method = config.method_for(spec.name, spec.kind)
        if fc.threshold is not None and method in ("ks", "linf"):
            key = "comparison_threshold" if spec.kind == "numeric" else "categorical_comparison_threshold"
            dist[key] = fc.threshold
        if dist:
            overrides["distribution_constraints"] = dist
        entry["monitoringConfigOverrides"] = overrides
        features.append(entry)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": config.type_check_threshold,
            "domain_content_threshold": round(1.0 - config.new_category_threshold, 12),
            "distribution_constraints": {
                "perform_comparison": "Enabled" if config.drift_check else "Disabled",
                "comparison_threshold": config.numeric.ks,
                "comparison_method": config.comparison_method or "Robust",
                "categorical_comparison_threshold": config.categorical.linf,
                "categorical_drift_method": "ChiSquared" if config.categorical_method == "chi2" else "LInfinity",
            },
        },
        "modelport": config.to_json(),
    }


# -- constraint_violations.json ---------------------------------------------------


def violations_json(evaluation: Evaluation) -> dict[str, Any]:
    """constraint_violations.json of a run."""
    return {"violations": [v.to_json() for v in evaluation.violations]}
