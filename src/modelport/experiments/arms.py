"""One arm's sufficient statistics, and the vocabulary the experiment statistics share."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from modelport.errors import InvalidArgument

Direction = Literal["higher", "lower"]
"""Which way is better (a metric's direction) or worse (a guardrail's)."""
MetricKind = Literal["proportion", "mean"]
Interval = tuple[float | None, float | None]
"""A confidence interval or sequence; None is an unbounded side."""

DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8

_NORMAL = NormalDist()


def normal_quantile(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def normal_cdf(x: float) -> float:
    return _NORMAL.cdf(x)


def check_alpha(alpha: float, power: float | None = None) -> None:
    if not 0 < alpha < 1:
        raise InvalidArgument(f"alpha {alpha} must be between 0 and 1")
    if power is not None and not 0 < power < 1:
        raise InvalidArgument(f"power {power} must be between 0 and 1")


def finite(value: float | None) -> float | None:
    """None for a missing or infinite value (JSON has no infinity)."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class ArmStats:
    """One arm's sufficient statistics: count, sum and sum of squares (a proportion: sum = successes).

    Mergeable: ``a + b`` is the statistics of both samples (minutes, processes).  ``sumsq`` of a 0/1
    metric equals ``sum``.  Large means with small spreads lose precision in ``sumsq - sum²/n``;
    metrics here (rates, rewards, milliseconds) are far from that.
    """

    n: int = 0
    sum: float = 0.0
    sumsq: float = 0.0

    def __post_init__(self) -> None:
        if self.n < 0 or self.sumsq < 0 or not (math.isfinite(self.sum) and math.isfinite(self.sumsq)):
            raise InvalidArgument(f"invalid arm statistics n={self.n} sum={self.sum} sumsq={self.sumsq}")

    @classmethod
    def proportion(cls, successes: float, n: int) -> ArmStats:
        if not 0 <= successes <= n:
            raise InvalidArgument(f"{successes} successes out of {n}")
        return cls(int(n), float(successes), float(successes))

    @classmethod
    def of(cls, values: Iterable[float] | np.ndarray) -> ArmStats:
        data = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
        return cls(int(data.size), float(data.sum()), float(np.square(data).sum()))

    def __add__(self, other: ArmStats) -> ArmStats:
        return ArmStats(self.n + other.n, self.sum + other.sum, self.sumsq + other.sumsq)

    @property
    def mean(self) -> float:
        """Sample mean (NaN for an empty arm)."""
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Unbiased sample variance (n - 1 in the denominator; NaN below two observations)."""
        if self.n < 2:
            return math.nan
        return max(self.sumsq - self.sum * self.sum / self.n, 0.0) / (self.n - 1)

    def variance_of_mean(self, kind: MetricKind = "mean") -> float:
        """Estimated variance of the mean.  For a proportion, p̃(1-p̃)/n with p̃ = (s+1)/(n+2) (Agresti-Caffo):
        the plain p̂(1-p̂) is 0 after 0 successes, which would make one arm look exact."""
        if self.n == 0:
            return math.nan
        if kind == "proportion":
            p = (self.sum + 1) / (self.n + 2)
            return p * (1 - p) / self.n
        return self.variance / self.n

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "sum": self.sum, "sumsq": self.sumsq}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArmStats:
        return cls(int(data.get("n", 0)), float(data.get("sum", 0.0)), float(data.get("sumsq", 0.0)))


def lift_variance(control: ArmStats, treatment: ArmStats, kind: MetricKind) -> float | None:
    """Delta method for T/C - 1: Var ≈ V_T/μ_C² + μ_T² V_C/μ_C⁴ (None when |μ_C| < 3 standard errors)."""
    mu_c, mu_t = control.mean, treatment.mean
    v_c, v_t = control.variance_of_mean(kind), treatment.variance_of_mean(kind)
    if not (math.isfinite(mu_c) and math.isfinite(v_c) and math.isfinite(v_t)) or abs(mu_c) <= 3 * math.sqrt(v_c):
        return None
    return v_t / mu_c**2 + mu_t**2 * v_c / mu_c**4
