"""Confidence intervals shared by monitoring (model quality) and the shadow comparison report."""

from __future__ import annotations

import math
from statistics import NormalDist


def z_score(confidence: float) -> float:
    """The normal quantile of a two-sided interval (1.96 for 95%)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion (good at small n and near 0 or 1); ``n`` > 0."""
    if n <= 0:
        raise ValueError("a proportion of nothing has no interval")
    z = z_score(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high
