"""Simulated experiments, vectorised over many runs: the evidence behind docs/experiments.md's table.

Each run draws both arms' observations ``look_every`` at a time, looks after every batch exactly
as :func:`~modelport.experiments.stats.sequential_update` would (same formulas, applied to arrays),
and records when it became significant and whether the confidence sequence ever lost the true
difference.  Seeded by the generator passed in; used by tests/experiments and bench/experiments_sim.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from modelport.experiments.stats import MIN_SAMPLES, always_valid_p_value, confidence_halfwidth, student_t_sf

Distribution = Literal["bernoulli", "normal", "lognormal"]


@dataclass(frozen=True)
class SequentialRuns:
    significant: np.ndarray
    """Per run: significant at some look up to ``max_n`` per arm."""
    decided_at: np.ndarray
    """Per run: samples per arm when it stopped (significant, all differences within ±mde, or ``max_n``)."""
    covered: np.ndarray
    """Per run: the true difference stayed inside the running confidence sequence at every look."""
    low: np.ndarray
    high: np.ndarray
    """Per run: the running confidence sequence for the difference after the last look."""
    max_n: int
    look_every: int
    crossed_at: np.ndarray | None = None
    """Per run, with ``cross_above``: samples per arm when the sequence's lower bound first rose above it
    (0: never) — a guardrail's breach."""

    @property
    def rejection_rate(self) -> float:
        return float(self.significant.mean())

    @property
    def coverage(self) -> float:
        return float(self.covered.mean())

    @property
    def mean_decided_at(self) -> float:
        return float(self.decided_at.mean())


def _draw(distribution: Distribution, mean: float, sd: float, size: tuple[int, int], rng: np.random.Generator):  # type: ignore[no-untyped-def]
    if distribution == "bernoulli":
        return (rng.random(size) < mean).astype(np.float64)
    if distribution == "normal":
        return rng.normal(mean, sd, size)
    # lognormal with the given mean and standard deviation (a skewed metric: latency, revenue)
    s2 = math.log1p((sd / mean) ** 2)
    return rng.lognormal(math.log(mean) - s2 / 2, math.sqrt(s2), size)


def simulate_sequential(
    *,
    distribution: Distribution,
    control_mean: float,
    treatment_mean: float,
    sd: float = 1.0,
    runs: int,
    look_every: int,
    max_n: int,
    alpha: float,
    tau: float,
    rng: np.random.Generator,
    mde: float | None = None,
    min_samples: int = MIN_SAMPLES,
    spread: Sequence[float] = (1.0,),
    cross_above: float | None = None,
) -> SequentialRuns:
    """``runs`` experiments looked at after every ``look_every`` samples per arm up to ``max_n``."""
    kind = "proportion" if distribution == "bernoulli" else "mean"
    taus = [tau * s for s in spread]
    truth = treatment_mean - control_mean
    sums = np.zeros((2, runs))
    sumsqs = np.zeros((2, runs))
    p_min = np.ones(runs)
    low = np.full(runs, -np.inf)
    high = np.full(runs, np.inf)
    decided_at = np.full(runs, max_n, dtype=np.int64)
    decided = np.zeros(runs, dtype=bool)
    crossed_at = np.zeros(runs, dtype=np.int64)
    n = 0
    while n < max_n:
        step = min(look_every, max_n - n)
        for arm, mean in enumerate((control_mean, treatment_mean)):
            batch = _draw(distribution, mean, sd, (runs, step), rng)
            sums[arm] += batch.sum(axis=1)
            sumsqs[arm] += np.square(batch).sum(axis=1)
        n += step
        if n < max(min_samples, 2):
            continue
        means = sums / n
        if kind == "proportion":
            p = (sums + 1) / (n + 2)
            var_of_mean = p * (1 - p) / n
        else:
            var_of_mean = np.maximum(sumsqs - sums * sums / n, 0.0) / (n - 1) / n
        var = var_of_mean.sum(axis=0)
        diff = means[1] - means[0]
        ok = var > 0
        p_now = np.where(ok, always_valid_p_value(diff, np.where(ok, var, 1.0), taus), 1.0)
        half = np.where(ok, confidence_halfwidth(np.where(ok, var, 1.0), taus, alpha), np.inf)
        p_min = np.minimum(p_min, p_now)
        low = np.maximum(low, diff - half)
        high = np.minimum(high, diff + half)
        stop = p_min <= alpha
        if mde is not None:
            stop |= (low > -mde) & (high < mde)
        if cross_above is not None:
            crossed_at[(low > cross_above) & (crossed_at == 0)] = n
        newly = stop & ~decided
        decided_at[newly] = n
        decided |= stop
    covered = (low <= truth) & (truth <= high)
    return SequentialRuns(
        p_min <= alpha,
        decided_at,
        covered,
        low,
        high,
        max_n,
        look_every,
        crossed_at if cross_above is not None else None,
    )


def simulate_fixed(
    *,
    distribution: Distribution,
    control_mean: float,
    treatment_mean: float,
    sd: float = 1.0,
    runs: int,
    n: int,
    alpha: float,
    rng: np.random.Generator,
) -> float:
    """Share of ``runs`` fixed-horizon tests at ``n`` per arm that are significant (z / Welch)."""
    stats = []
    for mean in (control_mean, treatment_mean):
        batch = _draw(distribution, mean, sd, (runs, n), rng)
        stats.append((batch.mean(axis=1), batch.var(axis=1, ddof=1)))
    (m_c, v_c), (m_t, v_t) = stats
    if distribution == "bernoulli":
        pooled = (m_c + m_t) / 2
        se = np.sqrt(pooled * (1 - pooled) * 2 / n)
    else:
        se = np.sqrt((v_c + v_t) / n)
    z = np.where(se > 0, (m_t - m_c) / np.where(se > 0, se, 1.0), 0.0)
    df = 2 * n - 2
    p = np.array([2 * student_t_sf(abs(float(t)), df) for t in z])
    return float((p <= alpha).mean())


@dataclass(frozen=True)
class SRMRuns:
    flagged_once: float
    """Share of runs flagged by one chi-square test at the end."""
    flagged_any_look: float
    """Share flagged by the chi-square at some look (looking repeatedly, as a running experiment does)."""
    sequential_flagged_any_look: float
    """Share flagged by the anytime-valid p-value at some look."""


def simulate_srm(
    *,
    share: float,
    total: int,
    look_every: int,
    runs: int,
    rng: np.random.Generator,
    threshold: float = 0.001,
) -> SRMRuns:
    """Two arms configured 50/50 whose true share of the first is ``share``: how often is SRM flagged?"""
    from modelport.experiments.stats import SRM_PRIOR_CONCENTRATION, chi2_sf

    looks = math.ceil(total / look_every)
    steps = np.full(looks, look_every)
    steps[-1] = total - look_every * (looks - 1)
    first = np.cumsum(rng.binomial(steps, share, size=(runs, looks)), axis=1)
    sizes = np.cumsum(steps)
    expected = sizes / 2
    chi2 = 2 * (first - expected) ** 2 / expected
    chi2_p = np.vectorize(lambda x: chi2_sf(float(x), 1))(chi2)
    lgamma = np.vectorize(math.lgamma)
    c = SRM_PRIOR_CONCENTRATION
    second = sizes - first
    log_bf = (
        math.lgamma(c)
        - lgamma(c + sizes)
        + lgamma(c / 2 + first)
        + lgamma(c / 2 + second)
        - 2 * math.lgamma(c / 2)
        + sizes * math.log(2)
    )
    seq_p = np.minimum(1.0, np.exp(-log_bf))
    return SRMRuns(
        flagged_once=float((chi2_p[:, -1] < threshold).mean()),
        flagged_any_look=float((chi2_p < threshold).any(axis=1).mean()),
        sequential_flagged_any_look=float((seq_p < threshold).any(axis=1).mean()),
    )
