"""The shadow comparison report: how a shadow variant answered next to the live one, on the same requests.

Built from the shadow's arm counters (:class:`~modelport.endpoints.counters.ShadowCounts`,
summed over every serving process) for a window — by default since the
shadow started serving its current model.  Every figure comes with its
interval: Wilson for the label agreement rate; a normal interval for the mean
|Δ| and for the mean latency difference (paired, per request); an adjusted
Wald interval (Agresti-Min) for the difference in failure rates on paired
requests.
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from modelport.endpoints.counters import ABS_DIFF_BUCKETS, LATENCY_BUCKETS_MS, ShadowCounts, quantile
from modelport.intervals import wilson, z_score


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Agreement(_Report):
    """Classification: rows whose ``label`` equals the live label."""

    rows: int
    agreements: int
    rate: float
    interval: tuple[float, float]


class AbsDiff(_Report):
    """Numeric outputs: each row's mean |shadow - live| over the outputs both have."""

    rows: int
    mean: float
    interval: tuple[float, float] | None
    p50: float | None
    p90: float | None
    p99: float | None
    histogram: dict[str, int]
    """Rows per bucket, keyed by the bucket's upper edge (``ABS_DIFF_BUCKETS``; ``inf``: beyond the last)."""


class LatencyComparison(_Report):
    """Model latency (predict, with the batch queue) of both variants on the same requests, in ms."""

    pairs: int
    live_p50_ms: float | None
    live_p99_ms: float | None
    shadow_p50_ms: float | None
    shadow_p99_ms: float | None
    mean_delta_ms: float
    """Mean over requests of shadow - live."""
    interval: tuple[float, float] | None


class FailureComparison(_Report):
    """Failures on the same requests: the live variant's own (model errors, timeouts) and the shadow's (any error)."""

    pairs: int
    live_failures: int
    shadow_failures: int
    both_failures: int
    live_rate: float
    shadow_rate: float
    delta: float
    """shadow_rate - live_rate."""
    interval: tuple[float, float]


class ShadowReport(_Report):
    variant: str
    model: str
    since: datetime | None
    until: datetime | None
    confidence: float
    pairs: int
    """Requests mirrored to the shadow that came back (answered or failed)."""
    dropped: int
    """Copies not sent because the shadow had too many calls in flight."""
    rows: int
    """Rows both variants answered."""
    agreement: Agreement | None
    abs_diff: AbsDiff | None
    latency: LatencyComparison | None
    failures: FailureComparison | None


def mean_interval(total: float, squares: float, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Normal interval of a mean from its sum and sum of squares; None below 2 observations."""
    if n < 2:
        return None
    mean = total / n
    var = max(0.0, (squares - n * mean * mean) / (n - 1))
    half = z_score(confidence) * math.sqrt(var / n)
    return mean - half, mean + half


def paired_difference(only_b: int, only_a: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of p_b - p_a for paired binary outcomes from the discordant counts (Agresti-Min: +0.5 a cell)."""
    b, c, m = only_b + 0.5, only_a + 0.5, n + 2
    d = (b - c) / m
    var = max(0.0, (b + c) - (b - c) ** 2 / m) / (m * m)
    half = z_score(confidence) * math.sqrt(var)
    return max(-1.0, d - half), min(1.0, d + half)


def _non_negative(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if interval is None else (max(0.0, interval[0]), interval[1])


def _edge_label(edges: tuple[float, ...], i: int) -> str:
    return "inf" if i >= len(edges) else f"{edges[i]:.3g}"


def build_shadow_report(
    variant: str,
    model: str,
    counts: ShadowCounts,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    confidence: float = 0.95,
) -> ShadowReport:
    """The report of one shadow from its counts (summed over processes and minutes)."""
    agreement = None
    if counts.labelled:
        agreement = Agreement(
            rows=counts.labelled,
            agreements=counts.agreements,
            rate=counts.agreements / counts.labelled,
            interval=wilson(counts.agreements, counts.labelled, confidence),
        )
    abs_diff = None
    if counts.diffed:
        hist = counts.abs_diff
        abs_diff = AbsDiff(
            rows=counts.diffed,
            mean=counts.abs_diff_sum / counts.diffed,
            interval=_non_negative(mean_interval(counts.abs_diff_sum, counts.abs_diff_sq, counts.diffed, confidence)),
            p50=quantile(hist, ABS_DIFF_BUCKETS, 0.5),
            p90=quantile(hist, ABS_DIFF_BUCKETS, 0.9),
            p99=quantile(hist, ABS_DIFF_BUCKETS, 0.99),
            histogram={_edge_label(ABS_DIFF_BUCKETS, i): hist[i] for i in sorted(hist) if hist[i]},
        )
    latency = None
    if counts.latency_pairs:
        latency = LatencyComparison(
            pairs=counts.latency_pairs,
            live_p50_ms=quantile(counts.live_latency, LATENCY_BUCKETS_MS, 0.5),
            live_p99_ms=quantile(counts.live_latency, LATENCY_BUCKETS_MS, 0.99),
            shadow_p50_ms=quantile(counts.latency, LATENCY_BUCKETS_MS, 0.5),
            shadow_p99_ms=quantile(counts.latency, LATENCY_BUCKETS_MS, 0.99),
            mean_delta_ms=counts.delta_sum_ms / counts.latency_pairs,
            interval=mean_interval(counts.delta_sum_ms, counts.delta_sq_ms, counts.latency_pairs, confidence),
        )
    failures = None
    if counts.pairs:
        n = counts.pairs
        failures = FailureComparison(
            pairs=n,
            live_failures=counts.live_failures,
            shadow_failures=counts.shadow_failures,
            both_failures=counts.both_failures,
            live_rate=counts.live_failures / n,
            shadow_rate=counts.shadow_failures / n,
            delta=(counts.shadow_failures - counts.live_failures) / n,
            interval=paired_difference(
                counts.shadow_failures - counts.both_failures,
                counts.live_failures - counts.both_failures,
                n,
                confidence,
            ),
        )
    return ShadowReport(
        variant=variant,
        model=model,
        since=since,
        until=until,
        confidence=confidence,
        pairs=counts.pairs,
        dropped=counts.dropped,
        rows=counts.rows,
        agreement=agreement,
        abs_diff=abs_diff,
        latency=latency,
        failures=failures,
    )
