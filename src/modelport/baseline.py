"""Baseline statistics of a model's training sample, for drift monitoring.

Per feature: count, missing, and for numbers mean, std, min, max, quantiles
a 10-bucket histogram and counts on 20 quantile bins (what monitors bin
captured values on: ``monitoring/profiles.py``); for strings the distinct
count, the top categories and the counts of up to ``MAX_CATEGORIES`` values.  The shape follows SageMaker Model Monitor's statistics.json
(PROTOCOLS.md §5) closely enough to be exported as one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.monitoring.profiles import quantile_bins

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_CATEGORIES = 20
MAX_CATEGORIES = 1000


def _numeric(values: np.ndarray) -> dict[str, Any]:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "sum": 0.0, "quantiles": {}, "histogram": []}
    lo, hi = float(present.min()), float(present.max())
    counts, edges = np.histogram(present, bins=10, range=(lo, hi) if hi > lo else (lo - 0.5, hi + 0.5))
    return {
        "mean": float(present.mean()),
        "std": float(present.std(ddof=1)) if present.size > 1 else 0.0,
        "min": lo,
        "max": hi,
        "sum": float(present.sum()),
        "quantiles": {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(present, QUANTILES), strict=True)},
        "bins": quantile_bins(present),
        "histogram": [
            {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": int(counts[i])}
            for i in range(len(counts))
        ],
    }


def compute_baseline(frame: Any, columns: list[str] | None = None) -> dict[str, Any]:
    """Statistics of the sample's input columns."""
    import pandas as pd

    names = columns if columns is not None else [str(c) for c in frame.columns]
    features = []
    for name in names:
        series = frame[name]
        missing = int(series.isna().sum())
        feature: dict[str, Any] = {"name": name, "count": len(series), "missing": missing}
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            counts = series.dropna().astype(str).value_counts()
            feature["inferred_type"] = "String"
            feature["distinct_count"] = int(counts.size)
            feature["top"] = [{"value": str(v), "count": int(c)} for v, c in counts.head(TOP_CATEGORIES).items()]
            feature["categories"] = {str(v): int(c) for v, c in counts.head(MAX_CATEGORIES).items()}
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            integral = pd.api.types.is_integer_dtype(series)
            feature["inferred_type"] = "Integral" if integral else "Fractional"
            feature.update(_numeric(values))
        features.append(feature)
    return {"version": 0, "item_count": len(frame), "features": features}
