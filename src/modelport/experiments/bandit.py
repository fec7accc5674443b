"""Thompson sampling: each arm's traffic share is the posterior probability that it is the best.

Binary rewards use Beta-Bernoulli with a uniform Beta(1, 1) prior.  Continuous rewards use the
normal-inverse-gamma model (unknown mean and variance) whose prior is centred on all arms' pooled
mean and variance with the weight of one observation: a new arm starts plausible, and two data
points already dominate it.  The mean's posterior is then Student t with 2·alpha_n degrees of freedom.
The random generator comes in, so the same generator state gives the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np

from modelport.errors import InvalidArgument

if TYPE_CHECKING:
    from modelport.experiments.arms import ArmStats

DEFAULT_MIN_SHARE = 0.05
DEFAULT_DRAWS = 10_000


def thompson_weights(
    arms: Mapping[str, ArmStats],
    *,
    kind: Literal["proportion", "mean"],
    min_share: float = DEFAULT_MIN_SHARE,
    draws: int = DEFAULT_DRAWS,
    rng: np.random.Generator,
    direction: Literal["higher", "lower"] = "higher",
) -> dict[str, float]:
    """P(arm is best) by ``draws`` posterior draws, floored at ``min_share`` and renormalised.

    The floor keeps every arm explored (and every propensity ≥ ``min_share``, so the logged data
    supports off-policy evaluation): arms below it get exactly ``min_share``, the others share the
    rest in proportion to their probabilities.
    """
    names = list(arms)
    k = len(names)
    if k == 0:
        raise InvalidArgument("a bandit needs at least one arm")
    if not min_share >= 0 or k * min_share > 1 + 1e-12:
        raise InvalidArgument(f"min_share {min_share} must be between 0 and 1/{k} for {k} arms")
    if draws < 1:
        raise InvalidArgument(f"draws must be positive, got {draws}")
    samples = np.empty((draws, k))
    if kind == "proportion":
        for j, name in enumerate(names):
            a = arms[name]
            if not 0 <= a.sum <= a.n:
                raise InvalidArgument(f"arm {name}: {a.sum} successes out of {a.n}")
            samples[:, j] = rng.beta(1 + a.sum, 1 + a.n - a.sum, size=draws)
    elif kind == "mean":
        _normal_inverse_gamma(arms, names, samples, rng)
    else:
        raise InvalidArgument(f"unknown reward kind {kind!r}: proportion or mean")
    if direction == "lower":
        samples = -samples
    best = np.argmax(samples, axis=1)
    probability = np.bincount(best, minlength=k) / draws
    return dict(zip(names, _floor(probability, min_share), strict=True))


def _normal_inverse_gamma(
    arms: Mapping[str, ArmStats], names: list[str], out: np.ndarray, rng: np.random.Generator
) -> None:
    total_n = sum(arms[n].n for n in names)
    total_sum = sum(arms[n].sum for n in names)
    total_sumsq = sum(arms[n].sumsq for n in names)
    mu0 = total_sum / total_n if total_n else 0.0
    var0 = (total_sumsq - total_sum * total_sum / total_n) / (total_n - 1) if total_n > 1 else 0.0
    var0 = var0 if var0 > 0 else 1.0
    kappa0, alpha0 = 1.0, 1.0
    beta0 = alpha0 * var0
    for j, name in enumerate(names):
        a = arms[name]
        n = a.n
        mean = a.sum / n if n else mu0
        ss = max(a.sumsq - a.sum * a.sum / n, 0.0) if n else 0.0
        kappa = kappa0 + n
        mu = (kappa0 * mu0 + a.sum) / kappa
        alpha = alpha0 + n / 2
        beta = beta0 + ss / 2 + kappa0 * n * (mean - mu0) ** 2 / (2 * kappa)
        scale = math.sqrt(beta / (alpha * kappa))
        out[:, j] = mu + scale * rng.standard_t(2 * alpha, size=out.shape[0])


def _floor(probability: np.ndarray, min_share: float) -> list[float]:
    weights = probability.astype(np.float64)
    fixed = np.zeros(weights.size, dtype=bool)
    while True:
        low = (weights < min_share) & ~fixed
        if not low.any():
            break
        fixed |= low
        free = ~fixed
        rest = 1.0 - fixed.sum() * min_share
        weights[fixed] = min_share
        if free.any():
            mass = probability[free].sum()
            weights[free] = probability[free] / mass * rest if mass > 0 else rest / free.sum()
    return [float(w) for w in weights]
