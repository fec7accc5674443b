"""Latency histograms of an experiment's arms: fixed log-spaced buckets, quantiles and tail shares.

The data plane counts each arm's request latencies on :data:`LATENCY_BUCKETS_MS` (the same buckets in
every process, so per-minute, per-process counts add up exactly).  The buckets are Prometheus native
histograms' schema 3: eight per doubling, so each is 9 % wide, from 0.125 ms to 131 s.  A latency
quantile read off them is within half a bucket (±4.5 %) of the sample's; a tail share above a bucket
edge is exact.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from modelport.endpoints.counters import BUCKETS_PER_DOUBLING, LATENCY_BUCKETS_MS
from modelport.errors import InvalidArgument

BUCKET_RATIO = 2.0 ** (1 / BUCKETS_PER_DOUBLING)
"""Ratio between consecutive edges (≈ 1.0905)."""
# A histogram is ``len(LATENCY_BUCKETS_MS) + 1`` counts: ``counts[i]`` holds latencies in
# ``(edges[i-1], edges[i]]`` (``counts[0]``: at most 0.125 ms) and the last one everything above 131 s.

HISTOGRAM_SIZE = len(LATENCY_BUCKETS_MS) + 1


def latency_bucket(ms: float) -> int:
    """Index of the bucket that counts a latency of ``ms`` milliseconds."""
    return bisect.bisect_left(LATENCY_BUCKETS_MS, ms)


def histogram(latencies_ms: Sequence[float] | np.ndarray) -> list[int]:
    """Counts of many latencies on the buckets (tests, simulations, backfills)."""
    index = np.searchsorted(np.asarray(LATENCY_BUCKETS_MS), np.asarray(latencies_ms, dtype=np.float64), side="left")
    return [int(c) for c in np.bincount(index, minlength=HISTOGRAM_SIZE)]


def merge_histograms(*histograms: Sequence[int]) -> list[int]:
    """Bucket-wise sum: minutes, processes and workers add up exactly."""
    total = np.zeros(HISTOGRAM_SIZE, dtype=np.int64)
    for counts in histograms:
        _check(counts)
        total += np.asarray(counts, dtype=np.int64)
    return [int(c) for c in total]


def quantile_edge_index(counts: Sequence[int], q: float) -> int | None:
    """The smallest edge index i with at least a share ``q`` of the latencies ≤ ``edges[i]``.

    ``edges[i]`` is then an upper bound of the q-quantile within one bucket; None for an empty
    histogram, ``len(edges)`` when the quantile lies above the last edge.
    """
    _check(counts)
    if not 0 < q < 1:
        raise InvalidArgument(f"quantile {q} must be between 0 and 1")
    cumulative = np.cumsum(np.asarray(counts, dtype=np.int64))
    total = int(cumulative[-1])
    if total == 0:
        return None
    return int(np.searchsorted(cumulative, q * total, side="left"))


def histogram_quantile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile in milliseconds, log-linear inside its bucket (Prometheus' native-histogram rule).

    The first bucket reads as ``(edges[0] / ratio, edges[0]]``; a quantile in the overflow bucket is
    the last edge (a lower bound).  None for an empty histogram.
    """
    index = quantile_edge_index(counts, q)
    if index is None:
        return None
    if index >= len(LATENCY_BUCKETS_MS):
        return LATENCY_BUCKETS_MS[-1]
    cumulative = np.cumsum(np.asarray(counts, dtype=np.int64))
    total = float(cumulative[-1])
    below = float(cumulative[index - 1]) if index else 0.0
    inside = float(counts[index])
    upper = LATENCY_BUCKETS_MS[index]
    lower = upper / BUCKET_RATIO
    fraction = (q * total - below) / inside if inside else 1.0
    return float(lower * (upper / lower) ** min(max(fraction, 0.0), 1.0))


def count_above(counts: Sequence[int], index: int) -> int:
    """Latencies above ``edges[index]`` (exact)."""
    _check(counts)
    return int(sum(counts[index + 1 :]))


def share_above(counts: Sequence[int], ms: float) -> float | None:
    """Share of the latencies above ``ms``: exact at an edge, log-linear inside a bucket."""
    _check(counts)
    total = sum(counts)
    if total == 0:
        return None
    index = latency_bucket(ms)
    above = float(sum(counts[index + 1 :]))
    if index < len(LATENCY_BUCKETS_MS):
        upper = LATENCY_BUCKETS_MS[index]
        lower = upper / BUCKET_RATIO
        if ms < upper:  # part of the bucket holding ms lies above it
            fraction = math.log(upper / max(ms, lower)) / math.log(upper / lower)
            above += counts[index] * fraction
    return above / total


def margin_buckets(relative_margin: float) -> int:
    """Whole buckets nearest to a relative margin (at least one): +20 % → 2 buckets (+18.9 %)."""
    return max(1, round(math.log2(1 + relative_margin) * BUCKETS_PER_DOUBLING))


def _check(counts: Sequence[int]) -> None:
    if len(counts) != HISTOGRAM_SIZE:
        raise InvalidArgument(
            f"a latency histogram has {HISTOGRAM_SIZE} counts (LATENCY_BUCKETS_MS plus the overflow), got {len(counts)}"
        )
