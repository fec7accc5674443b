"""Statistics of an experiment: pure functions of per-arm sufficient statistics.

Every figure here is a function of each arm's ``(n, sum, sum of squares)`` (and, for latency
quantiles, its histogram counts on fixed buckets), so the data plane only has to add counters, and
the same counters always give the same numbers.  Randomness (the bandit's draws) comes in as a
``numpy.random.Generator``; nothing reads a clock.

- **Sequential** (the default mode): the mixture sequential probability ratio test (mSPRT) with a
  normal mixture, as Johari, Pekelis & Walsh, *Always valid inference* (Operations Research 2022)
  and Optimizely's Stats Engine: an always-valid p-value (a running minimum across looks) and a
  confidence sequence for the difference and the relative lift, so the experiment can be looked at
  every minute without inflating false positives.  :func:`plan` gives the mixture's τ and the
  maximum sample size per arm from the minimum detectable effect (MDE).
- **Fixed**: Welch's t-test (a z-test for proportions) at a planned sample size, refused before it.
- **Sample-ratio mismatch**: chi-square goodness of fit of the arms' counts to their weights.
- **Guardrails**: non-inferiority of the treatment with a margin, on the same confidence sequences;
  latency quantiles on a tail share read off the histograms (:func:`latency_guardrail_update`).
- :func:`decide`: the policy turning all of that into running / treatment_wins / control_wins /
  no_difference / guardrail_breached / srm, with reasons.
- Bandits: :func:`~modelport.experiments.bandit.thompson_weights`.

docs/experiments.md, "Statistics", gives every formula, default and the simulations behind them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from statistics import NormalDist
from typing import Any, Literal, TypeVar

import numpy as np

from modelport.errors import InvalidArgument
from modelport.experiments.bandit import thompson_weights
from modelport.experiments.latency import (
    LATENCY_BUCKETS_MS,
    count_above,
    histogram_quantile,
    margin_buckets,
    quantile_edge_index,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_POWER",
    "LATENCY_BUCKETS_MS",
    "MIN_SAMPLES",
    "SRM_THRESHOLD",
    "ArmStats",
    "Decision",
    "FixedResult",
    "Guardrail",
    "GuardrailResult",
    "Plan",
    "SRMResult",
    "SequentialResult",
    "SequentialState",
    "always_valid_p_value",
    "arm_interval",
    "confidence_halfwidth",
    "decide",
    "fixed_result",
    "guardrail_update",
    "latency_guardrail_update",
    "max_samples",
    "mixture_log_likelihood_ratio",
    "mixture_tau",
    "parse_guardrail",
    "plan",
    "sequential_update",
    "srm",
    "thompson_weights",
]

Direction = Literal["higher", "lower"]
"""Which way is better (a metric's direction) or worse (a guardrail's)."""
MetricKind = Literal["proportion", "mean"]
DecisionKind = Literal["running", "treatment_wins", "control_wins", "no_difference", "guardrail_breached", "srm"]
GuardrailStatus = Literal["pending", "pass", "breached"]

DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8
MIN_SAMPLES = 100
"""Per arm, before a sequential look counts: the plug-in variance needs some data (docs, "Statistics")."""
SRM_THRESHOLD = 0.001
"""A chi-square p-value below this flags a sample-ratio mismatch (the industry's usual bar)."""
SRM_PRIOR_CONCENTRATION = 1000.0
"""Dirichlet prior's total weight for the sequential SRM Bayes factor (sensitive to ~3-point share gaps)."""
TAIL_MIN_COUNT = 10
"""Control requests beyond its quantile before a latency-quantile guardrail fixes its threshold."""

_NORMAL = NormalDist()


def _z(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# -- sufficient statistics ------------------------------------------------------------


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


# -- the normal-mixture SPRT ------------------------------------------------------------

_Array = TypeVar("_Array", float, np.ndarray)


def mixture_log_likelihood_ratio(diff: _Array, var: _Array, tau: float) -> _Array:
    """log Λ of the normal-mixture SPRT for H0: difference = 0 (vectorised).

    With θ̂ the difference of the means, V its variance and the mixing distribution N(0, τ²)
    (Johari et al. 2022, eq. 11, written in terms of V = σ²/n so that unequal arms fit):
    Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))).
    """
    t2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log(var / (var + t2)) + t2 * diff * diff / (2 * var * (var + t2))  # type: ignore[no-any-return]


def always_valid_p_value(diff: _Array, var: _Array, tau: float) -> _Array:
    """min(1, 1/Λ) at one look (vectorised); the always-valid p-value is its running minimum."""
    log_lr = mixture_log_likelihood_ratio(diff, var, tau)
    out = np.minimum(1.0, np.exp(-np.nan_to_num(log_lr, nan=0.0, neginf=0.0)))
    return float(out) if np.ndim(out) == 0 else out  # type: ignore[return-value]


def confidence_halfwidth(var: _Array, tau: float, alpha: float) -> _Array:
    """Half-width of the mixture's confidence sequence at one look (vectorised):
    θ̂ ± √( V (V + τ²)/τ² · (2 log(1/alpha) + log((V + τ²)/V)) ) — the θ whose Λ(θ) stays below 1/alpha."""
    t2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var * (var + t2) / t2 * (2 * math.log(1 / alpha) + np.log((var + t2) / var)))  # type: ignore[no-any-return]


def _golden_min(f: Any, lo: float, hi: float, iterations: int = 80) -> float:
    ratio = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(iterations):
        if f(c) < f(d):
            b = d
        else:
            a = c
        c, d = b - ratio * (b - a), a + ratio * (b - a)
    return (a + b) / 2


def _boundary_factor(alpha: float) -> tuple[float, float]:
    """(r*, g(r*)): the ratio r = τ²/V minimising the boundary in standard errors,
    g(r) = √((1 + 1/r)(2 log(1/alpha) + log(1 + r))); for alpha = 0.05, r* ≈ 8.2 and g ≈ 3.04."""
    two_log = 2 * math.log(1 / alpha)

    def g(log_r: float) -> float:
        r = math.exp(log_r)
        return math.sqrt((1 + 1 / r) * (two_log + math.log1p(r)))

    log_r = _golden_min(g, -5.0, 12.0)
    return math.exp(log_r), g(log_r)


def _check_alpha(alpha: float, power: float | None = None) -> None:
    if not 0 < alpha < 1:
        raise InvalidArgument(f"alpha {alpha} must be between 0 and 1")
    if power is not None and not 0 < power < 1:
        raise InvalidArgument(f"power {power} must be between 0 and 1")


def mixture_tau(mde: float, *, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> float:
    """The mixing standard deviation τ for an effect of ``mde``: τ = mde · √r* / (g(r*) + z_power).

    τ is chosen so the confidence sequence is narrowest (in standard errors) exactly at the sample size
    where an effect of ``mde`` is detected with probability ``power`` (:func:`plan`), which makes that
    maximum sample size as small as the mixture allows.  It depends on the MDE, alpha and power only.
    """
    _check_alpha(alpha, power)
    if not mde > 0 or not math.isfinite(mde):
        raise InvalidArgument(f"the minimum detectable effect must be positive, got {mde}")
    r, g = _boundary_factor(alpha)
    return mde * math.sqrt(r) / (g + _z(power))


@dataclass(frozen=True)
class Plan:
    """Sample sizes per arm and the mixture's τ for a minimum detectable effect."""

    mde: float
    """Absolute difference of the means (a proportion: in probability, 0.02 = 2 points)."""
    alpha: float
    power: float
    variance: float
    """σ²_control + σ²_treatment at the alternative."""
    tau: float
    max_samples: int
    """Sequential: per arm, after which an undecided experiment ends with no_difference."""
    fixed_samples: int
    """Fixed horizon: per arm, the classic two-sided two-sample sample size."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    mde: float,
    *,
    baseline_mean: float | None = None,
    baseline_var: float | None = None,
    proportion: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    relative: bool = False,
) -> Plan:
    """Sample sizes for detecting ``mde`` with probability ``power`` at level ``alpha`` (two-sided).

    Give ``proportion`` (the control's rate) for a 0/1 metric, or ``baseline_var`` (and, for a relative
    MDE, ``baseline_mean``) for a mean.  ``relative=True`` reads ``mde`` as a share of the baseline.

    - fixed: n = (z_{1-alpha/2} + z_power)² (σ²_C + σ²_T) / mde²;
    - sequential: the n at which the mixture boundary plus z_power standard errors equals the MDE,
      n = (g(r*) + z_power)² (σ²_C + σ²_T) / mde² — so P(significant at n) ≥ power under the normal
      approximation, and looking earlier only adds chances.  About 1.9x the fixed n at alpha = 0.05.
    """
    _check_alpha(alpha, power)
    if (proportion is None) == (baseline_var is None):
        raise InvalidArgument("give either the baseline proportion or the baseline variance")
    if not mde > 0 or not math.isfinite(mde):
        raise InvalidArgument(f"the minimum detectable effect must be positive, got {mde}")
    if proportion is not None:
        if not 0 < proportion < 1:
            raise InvalidArgument(f"the baseline proportion {proportion} must be between 0 and 1")
        delta = mde * proportion if relative else mde
        treated = proportion + delta if proportion + delta < 1 else proportion - delta
        if not 0 < treated < 1:
            raise InvalidArgument(f"a change of {delta} from {proportion} leaves (0, 1)")
        variance = proportion * (1 - proportion) + treated * (1 - treated)
    else:
        assert baseline_var is not None
        if not baseline_var > 0:
            raise InvalidArgument(f"the baseline variance must be positive, got {baseline_var}")
        if relative:
            if not baseline_mean:
                raise InvalidArgument("a relative MDE needs the baseline mean")
            delta = mde * abs(baseline_mean)
        else:
            delta = mde
        variance = 2 * baseline_var
    _, g = _boundary_factor(alpha)
    z_power = _z(power)
    sequential = math.ceil(variance * (g + z_power) ** 2 / delta**2)
    fixed = math.ceil(variance * (_z(1 - alpha / 2) + z_power) ** 2 / delta**2)
    return Plan(
        mde=delta,
        alpha=alpha,
        power=power,
        variance=variance,
        tau=mixture_tau(delta, alpha=alpha, power=power),
        max_samples=max(sequential, MIN_SAMPLES),
        fixed_samples=max(fixed, 2),
    )


def max_samples(
    mde: float,
    *,
    baseline_mean: float | None = None,
    baseline_var: float | None = None,
    proportion: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    relative: bool = False,
    mode: Literal["sequential", "fixed"] = "sequential",
) -> int:
    """Per-arm sample size from :func:`plan`: the sequential maximum, or the fixed horizon."""
    p = plan(
        mde,
        baseline_mean=baseline_mean,
        baseline_var=baseline_var,
        proportion=proportion,
        alpha=alpha,
        power=power,
        relative=relative,
    )
    return p.fixed_samples if mode == "fixed" else p.max_samples


@dataclass(frozen=True)
class SequentialState:
    """What an always-valid analysis carries from look to look (JSON via :meth:`to_json`).

    The p-value is the running minimum of 1/Λ; the confidence sequences are running intersections
    (bounds None = unbounded).  alpha and τ are fixed at the first look that counts: changing them
    mid-way would void the guarantee, so :func:`sequential_update` refuses to.
    """

    looks: int = 0
    p_value: float = 1.0
    diff_low: float | None = None
    diff_high: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    alpha: float | None = None
    tau: float | None = None
    tau_relative: float | None = None
    threshold_ms: float | None = None
    """Latency-quantile guardrails: the control's quantile, fixed once known (see that function)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SequentialState:
        if not data:
            return cls()
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


Interval = tuple[float | None, float | None]


@dataclass(frozen=True)
class SequentialResult:
    """One look of the sequential analysis; treatment minus control."""

    n_control: int
    n_treatment: int
    control_mean: float | None
    treatment_mean: float | None
    diff: float | None
    diff_ci: Interval
    """Always-valid: covers the true difference at every look at once with probability ≥ 1 - alpha."""
    lift: float | None
    """Relative lift, treatment / control - 1 (None when the control's mean is too close to 0)."""
    lift_ci: Interval
    p_value: float
    """Always-valid two-sided p-value for "no difference"."""
    significant: bool
    alpha: float
    looks: int
    reason: str = ""
    """Why the look did not count (too few samples, no variance)."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["diff_ci"] = list(self.diff_ci)
        out["lift_ci"] = list(self.lift_ci)
        return out


def _intersect(low: float | None, high: float | None, new_low: float, new_high: float) -> tuple[float, float]:
    lo = new_low if low is None else max(low, new_low)
    hi = new_high if high is None else min(high, new_high)
    if lo > hi:  # the running intersection emptied (a rare misfit of the normal approximation): keep a point
        lo = hi = (new_low + new_high) / 2 if lo > new_high or hi < new_low else min(max(lo, new_low), new_high)
    return lo, hi


def _lift_variance(control: ArmStats, treatment: ArmStats, kind: MetricKind) -> float | None:
    """Delta method for T/C - 1: Var ≈ V_T/μ_C² + μ_T² V_C/μ_C⁴ (None when |μ_C| < 3 standard errors)."""
    mu_c, mu_t = control.mean, treatment.mean
    v_c, v_t = control.variance_of_mean(kind), treatment.variance_of_mean(kind)
    if not (math.isfinite(mu_c) and math.isfinite(v_c) and math.isfinite(v_t)) or abs(mu_c) <= 3 * math.sqrt(v_c):
        return None
    return v_t / mu_c**2 + mu_t**2 * v_c / mu_c**4


def sequential_update(
    state: SequentialState,
    control: ArmStats,
    treatment: ArmStats,
    *,
    alpha: float = DEFAULT_ALPHA,
    tau: float | None = None,
    tau_relative: float | None = None,
    kind: MetricKind = "mean",
    min_samples: int = MIN_SAMPLES,
) -> tuple[SequentialState, SequentialResult]:
    """One look of the mSPRT on cumulative per-arm statistics → (new state, result).

    The variance of the difference is per arm, V = s²_C/n_C + s²_T/n_T (not pooled): the arms may
    differ in size (weights, bandits) and in spread, and the confidence sequence needs the variance
    away from the null too.  ``tau`` is the mixture's scale for the difference (:func:`mixture_tau`
    of the MDE); ``tau_relative`` the scale for the lift (default: τ / |control mean| at the first look
    where the lift is defined).  Either may be None if the other is given; whichever is derived is
    then fixed in the state.  A look with fewer than ``min_samples`` in an arm changes nothing.
    """
    _check_alpha(alpha)
    if tau is None and tau_relative is None and state.tau is None:
        raise InvalidArgument("the mixture needs tau (see mixture_tau) or tau_relative")
    if state.alpha is not None and not math.isclose(state.alpha, alpha):
        raise InvalidArgument(f"alpha cannot change during an experiment (was {state.alpha}, now {alpha})")
    for name, given, kept in (("tau", tau, state.tau), ("tau_relative", tau_relative, state.tau_relative)):
        if given is not None and not given > 0:
            raise InvalidArgument(f"{name} must be positive, got {given}")
        if given is not None and kept is not None and not math.isclose(given, kept, rel_tol=1e-9):
            raise InvalidArgument(f"{name} cannot change during an experiment (was {kept}, now {given})")
    tau = state.tau if state.tau is not None else tau
    tau_relative = state.tau_relative if state.tau_relative is not None else tau_relative

    mu_c = control.mean if control.n else None
    mu_t = treatment.mean if treatment.n else None
    diff = mu_t - mu_c if mu_c is not None and mu_t is not None else None
    lift = diff / mu_c if diff is not None and mu_c else None

    def result(new: SequentialState, reason: str = "") -> tuple[SequentialState, SequentialResult]:
        return new, SequentialResult(
            n_control=control.n,
            n_treatment=treatment.n,
            control_mean=mu_c,
            treatment_mean=mu_t,
            diff=diff,
            diff_ci=(new.diff_low, new.diff_high),
            lift=lift,
            lift_ci=(new.lift_low, new.lift_high),
            p_value=new.p_value,
            significant=new.p_value <= alpha,
            alpha=alpha,
            looks=new.looks,
            reason=reason,
        )

    if min(control.n, treatment.n) < max(min_samples, 2):
        return result(state, f"fewer than {max(min_samples, 2)} samples in an arm")
    var = control.variance_of_mean(kind) + treatment.variance_of_mean(kind)
    if not var > 0:
        return result(state, "no variance in either arm yet")
    assert diff is not None and mu_c is not None
    lift_var = _lift_variance(control, treatment, kind)
    if tau is None:  # derived from the relative scale, then kept
        assert tau_relative is not None
        if lift_var is None:
            return result(state, "the control's mean is too close to 0 to size the mixture from a relative margin")
        tau = tau_relative * abs(mu_c)
    if tau_relative is None and lift_var is not None:
        tau_relative = tau / abs(mu_c)

    p_now = float(always_valid_p_value(diff, var, tau))
    half = float(confidence_halfwidth(var, tau, alpha))
    diff_low, diff_high = _intersect(state.diff_low, state.diff_high, diff - half, diff + half)
    lift_low, lift_high = state.lift_low, state.lift_high
    if lift_var is not None and lift is not None and tau_relative is not None:
        half_rel = float(confidence_halfwidth(lift_var, tau_relative, alpha))
        lift_low, lift_high = _intersect(lift_low, lift_high, lift - half_rel, lift + half_rel)
    new = replace(
        state,
        looks=state.looks + 1,
        p_value=min(state.p_value, float(p_now)),
        diff_low=diff_low,
        diff_high=diff_high,
        lift_low=lift_low,
        lift_high=lift_high,
        alpha=alpha,
        tau=tau,
        tau_relative=tau_relative,
    )
    return result(new)


def arm_interval(
    arm: ArmStats,
    *,
    alpha: float = DEFAULT_ALPHA,
    tau: float | None = None,
    kind: MetricKind = "mean",
) -> Interval:
    """An arm's own interval for its mean: the mixture's confidence sequence at this look with ``tau``
    (valid at every look at once, without state), else the fixed-horizon normal interval."""
    _check_alpha(alpha)
    if arm.n < 2:
        return (None, None)
    var = arm.variance_of_mean(kind)
    if not var > 0:
        return (arm.mean, arm.mean)
    half = float(confidence_halfwidth(var, tau, alpha)) if tau else _z(1 - alpha / 2) * math.sqrt(var)
    low, high = arm.mean - half, arm.mean + half
    if kind == "proportion":
        low, high = max(low, 0.0), min(high, 1.0)
    return (low, high)


# -- fixed horizon ---------------------------------------------------------------------


@dataclass(frozen=True)
class FixedResult:
    """Welch's t-test (a z-test for proportions) at the planned sample size; treatment minus control."""

    status: Literal["waiting", "complete"]
    """waiting: an arm has fewer than ``planned_n``: no p-value, no decision."""
    planned_n: int
    n_control: int
    n_treatment: int
    control_mean: float | None
    treatment_mean: float | None
    diff: float | None
    diff_ci: Interval
    lift: float | None
    lift_ci: Interval
    p_value: float | None
    statistic: float | None
    df: float | None
    """Welch-Satterthwaite degrees of freedom (None for the z-test)."""
    significant: bool
    alpha: float

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["diff_ci"] = list(self.diff_ci)
        out["lift_ci"] = list(self.lift_ci)
        return out


def fixed_result(
    control: ArmStats,
    treatment: ArmStats,
    *,
    planned_n: int,
    alpha: float = DEFAULT_ALPHA,
    kind: MetricKind = "mean",
) -> FixedResult:
    """The classic test, once both arms have ``planned_n``: two-sided Welch t for means (per-arm
    variances, Welch-Satterthwaite df), the two-proportion z-test for proportions (pooled variance
    for the p-value, per-arm for the interval).  Before that: ``waiting``, no p-value.

    Decide at the first look past ``planned_n`` and stop: testing again later is peeking.
    """
    _check_alpha(alpha)
    if planned_n < 2:
        raise InvalidArgument(f"the planned sample size must be at least 2, got {planned_n}")
    mu_c = control.mean if control.n else None
    mu_t = treatment.mean if treatment.n else None
    diff = mu_t - mu_c if mu_c is not None and mu_t is not None else None
    lift = diff / mu_c if diff is not None and mu_c else None
    base = {
        "planned_n": planned_n,
        "n_control": control.n,
        "n_treatment": treatment.n,
        "control_mean": mu_c,
        "treatment_mean": mu_t,
        "diff": diff,
        "lift": lift,
        "alpha": alpha,
    }
    if min(control.n, treatment.n) < planned_n:
        return FixedResult(
            status="waiting",
            diff_ci=(None, None),
            lift_ci=(None, None),
            p_value=None,
            statistic=None,
            df=None,
            significant=False,
            **base,  # type: ignore[arg-type]
        )
    assert diff is not None and mu_c is not None
    if kind == "proportion":
        v_c = mu_c * (1 - mu_c) / control.n
        v_t = (mu_t or 0.0) * (1 - (mu_t or 0.0)) / treatment.n
        pooled = (control.sum + treatment.sum) / (control.n + treatment.n)
        null_var = pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n)
        stat = diff / math.sqrt(null_var) if null_var > 0 else 0.0
        p_value = 2 * _NORMAL.cdf(-abs(stat))
        df = None
        crit = _z(1 - alpha / 2)
    else:
        v_c, v_t = control.variance / control.n, treatment.variance / treatment.n
        se2 = v_c + v_t
        stat = diff / math.sqrt(se2) if se2 > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
        denom = (v_c**2 / (control.n - 1)) + (v_t**2 / (treatment.n - 1))
        df = se2**2 / denom if denom > 0 else float(control.n + treatment.n - 2)
        p_value = 2 * student_t_sf(abs(stat), df)
        crit = student_t_ppf(1 - alpha / 2, df)
    half = crit * math.sqrt(v_c + v_t)
    lift_ci: Interval = (None, None)
    lift_var = _lift_variance(control, treatment, kind)
    if lift is not None and lift_var is not None:
        lift_ci = (lift - crit * math.sqrt(lift_var), lift + crit * math.sqrt(lift_var))
    return FixedResult(
        status="complete",
        diff_ci=(diff - half, diff + half),
        lift_ci=lift_ci,
        p_value=p_value,
        statistic=_finite(stat),
        df=df,
        significant=p_value <= alpha,
        **base,  # type: ignore[arg-type]
    )


def student_t_sf(t: float, df: float) -> float:
    """P(T_df > t) from the regularized incomplete beta: ½ I_{df/(df+t²)}(df/2, ½) for t ≥ 0."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1 - tail


def student_t_ppf(p: float, df: float) -> float:
    """Inverse of the t distribution's CDF, by bisection (72 halvings: float precision)."""
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -student_t_ppf(1 - p, df)
    lo, hi = 0.0, max(2 * _z(p), 1.0)
    while student_t_sf(hi, df) > 1 - p:
        hi *= 2
    for _ in range(72):
        mid = (lo + hi) / 2
        if student_t_sf(mid, df) > 1 - p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) (continued fraction, modified Lentz; Numerical Recipes 6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (tiny if abs(d) < tiny else d)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (tiny if abs(d) < tiny else d)
            c = 1.0 + num / c
            c = tiny if abs(c) < tiny else c
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return front * h / a


# -- sample-ratio mismatch -------------------------------------------------------------


@dataclass(frozen=True)
class SRMResult:
    """Chi-square goodness of fit of the arms' counts to their weights."""

    p_value: float
    chi2: float
    flagged: bool
    """p_value < threshold: the split is not what was configured; no decision can be trusted."""
    threshold: float
    observed: dict[str, int] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)
    """Expected counts."""
    sequential_p_value: float = 1.0
    """Anytime-valid p-value of the same hypothesis (Dirichlet-multinomial Bayes factor): valid at every
    look without correction, where the chi-square's false flags accumulate over looks (docs)."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["chi2"] = _finite(self.chi2)
        return out


def srm(
    observed: Mapping[str, int],
    expected_weights: Mapping[str, float],
    *,
    threshold: float = SRM_THRESHOLD,
) -> SRMResult:
    """Sample-ratio mismatch: chi-square (k-1 df) of ``observed`` counts against ``expected_weights``.

    The weights are normalised, so expected *counts* work too (a bandit's Σ weight x requests per
    minute).  An arm with weight 0 that received requests is a mismatch (p = 0).
    """
    unknown = sorted(set(observed) - set(expected_weights))
    if unknown:
        raise InvalidArgument(f"arms without an expected weight: {', '.join(unknown)}")
    if any(w < 0 or not math.isfinite(w) for w in expected_weights.values()):
        raise InvalidArgument("expected weights must be non-negative numbers")
    if any(int(c) < 0 for c in observed.values()):
        raise InvalidArgument("observed counts must be non-negative")
    weight_total = float(sum(expected_weights.values()))
    if not weight_total > 0:
        raise InvalidArgument("the expected weights are all zero")
    arms = list(expected_weights)
    counts = {arm: int(observed.get(arm, 0)) for arm in arms}
    n = sum(counts.values())
    expected = {arm: n * expected_weights[arm] / weight_total for arm in arms}
    if n == 0:
        return SRMResult(1.0, 0.0, False, threshold, counts, expected)
    chi2 = 0.0
    for arm in arms:
        if expected[arm] > 0:
            chi2 += (counts[arm] - expected[arm]) ** 2 / expected[arm]
        elif counts[arm] > 0:
            chi2 = math.inf
    live = sum(1 for arm in arms if expected[arm] > 0)
    if math.isinf(chi2):
        p_value, seq_p = 0.0, 0.0
    else:
        p_value = chi2_sf(chi2, live - 1)
        shares = {arm: expected_weights[arm] / weight_total for arm in arms if expected[arm] > 0}
        seq_p = _dirichlet_multinomial_p(
            [counts[a] for a in shares], [shares[a] for a in shares], SRM_PRIOR_CONCENTRATION
        )
    return SRMResult(p_value, chi2, p_value < threshold, threshold, counts, expected, seq_p)


def _dirichlet_multinomial_p(counts: Sequence[int], shares: Sequence[float], concentration: float) -> float:
    """1 / Bayes factor of a Dirichlet(c·shares) mixture against the configured shares (Lindon & Malek,
    *Anytime-valid inference for multinomial count data*, NeurIPS 2022): a nonnegative martingale
    under the null, so min(1, 1/BF) is a p-value at any look."""
    n = sum(counts)
    prior = [concentration * s for s in shares]
    log_bf = math.lgamma(concentration) - math.lgamma(concentration + n)
    for x, a, s in zip(counts, prior, shares, strict=True):
        log_bf += math.lgamma(a + x) - math.lgamma(a) - x * math.log(s)
    return min(1.0, math.exp(-log_bf)) if log_bf > -700 else 1.0


def chi2_sf(x: float, dof: int) -> float:
    """P(χ²_dof ≥ x); one degree of freedom exactly as erfc(√(x/2))."""
    if x <= 0 or dof <= 0:
        return 1.0
    if dof == 1:
        return math.erfc(math.sqrt(x / 2))
    from modelport.monitoring.drift import chi2_sf as general  # one implementation of the incomplete gamma

    return general(x, dof)


# -- guardrails ------------------------------------------------------------------------

_GUARDRAIL = re.compile(r"^(?P<metric>[a-z][a-z0-9_.]*):(?P<sign>[+-]?)(?P<value>\d+(?:\.\d*)?|\.\d+)(?P<unit>pp|%)?$")
_QUANTILE = re.compile(r"^latency_p(?P<q>\d{1,2}(?:\.\d+)?)$")
_HIGHER_IS_WORSE = ("error_rate", "latency_")
_GUARDRAIL_HELP = (
    "expected METRIC:+MARGIN, MARGIN in points (0.5pp), percent of the control (20%) or the metric's "
    "units (3); + when higher is worse, - when lower is: error_rate:+0.5pp, latency_p99:+20%, accuracy:-1pp"
)


@dataclass(frozen=True)
class Guardrail:
    """Non-inferiority of the treatment: it may be worse than the control by at most ``margin``."""

    metric: str
    margin: float
    """Positive: absolute (0.005 for 0.5pp; metric units) or relative (0.2 for 20%)."""
    relative: bool
    worse: Direction = "higher"
    """Which way of the metric is harm: error rate and latency get worse as they rise."""
    unit: Literal["pp", "%", ""] = ""
    """How the margin was written: points, percent of the control, or the metric's units."""

    @property
    def quantile(self) -> float | None:
        """0.99 for latency_p99; None for a mean or proportion metric."""
        match = _QUANTILE.match(self.metric)
        return float(match["q"]) / 100 if match else None

    def __str__(self) -> str:
        sign = "+" if self.worse == "higher" else "-"
        value = f"{self.margin * 100:g}{self.unit}" if self.unit else f"{self.margin:g}"
        return f"{self.metric}:{sign}{value}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Guardrail:
        return cls(
            str(data["metric"]),
            float(data["margin"]),
            bool(data["relative"]),
            data.get("worse", "higher"),
            data.get("unit", "%" if data["relative"] else ""),
        )


def parse_guardrail(text: str) -> Guardrail:
    """``error_rate:+0.5pp`` → Guardrail("error_rate", 0.005, relative=False); ``latency_p99:+20%`` →
    Guardrail("latency_p99", 0.2, relative=True).  Without a sign, only error rates and latencies
    (worse when higher) are understood."""
    match = _GUARDRAIL.match(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise InvalidArgument(f"invalid guardrail {text!r}: {_GUARDRAIL_HELP}")
    metric, sign, unit = match["metric"], match["sign"], match["unit"]
    value = float(match["value"])
    if not value > 0:
        raise InvalidArgument(f"invalid guardrail {text!r}: the margin must be positive")
    if not sign:
        if not metric.startswith(_HIGHER_IS_WORSE):
            raise InvalidArgument(
                f"invalid guardrail {text!r}: say which way is worse, {metric}:+{match['value']}{unit or ''} "
                f"(higher is worse) or {metric}:-{match['value']}{unit or ''} (lower is worse)"
            )
        sign = "+"
    quantile = _QUANTILE.match(metric)
    if quantile is not None:
        q = float(quantile["q"])
        if not 50 <= q < 100:
            raise InvalidArgument(f"invalid guardrail {text!r}: latency quantiles from p50 to p99.9")
        if unit != "%" or sign != "+":
            raise InvalidArgument(
                f"invalid guardrail {text!r}: a latency quantile takes a relative margin, {metric}:+20%"
            )
    if unit == "pp" and value >= 100:
        raise InvalidArgument(f"invalid guardrail {text!r}: a margin in points is below 100pp")
    relative = unit == "%"
    margin = value / 100 if unit in ("pp", "%") else value
    written: Literal["pp", "%", ""] = "pp" if unit == "pp" else "%" if relative else ""
    return Guardrail(metric, margin, relative, "higher" if sign == "+" else "lower", written)


@dataclass(frozen=True)
class GuardrailResult:
    """One look of a guardrail.  ``ci`` is always-valid, on ``statistic``'s scale."""

    guardrail: str
    metric: str
    status: GuardrailStatus
    """breached: the treatment is worse than the margin allows (established at level alpha); pass: it is
    shown within the margin; pending: neither yet."""
    statistic: str
    """What ``estimate``/``ci``/``bound`` measure: "difference", "relative change", or, for latency
    quantiles, "tail share difference"."""
    estimate: float | None
    ci: Interval
    bound: float
    """The value on ``statistic``'s scale that separates pass from breach (the signed margin, or 0)."""
    n_control: int
    n_treatment: int
    control_value: float | None = None
    treatment_value: float | None = None
    """The metric per arm (for latency quantiles: each arm's quantile in ms from the histogram)."""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out


def _judge(low: float | None, high: float | None, bound: float, worse: Direction) -> GuardrailStatus:
    if worse == "higher":
        if low is not None and low > bound:
            return "breached"
        if high is not None and high < bound:
            return "pass"
    else:
        if high is not None and high < bound:
            return "breached"
        if low is not None and low > bound:
            return "pass"
    return "pending"


def guardrail_update(
    state: SequentialState,
    guardrail: Guardrail,
    control: ArmStats,
    treatment: ArmStats,
    *,
    alpha: float = DEFAULT_ALPHA,
    kind: MetricKind = "mean",
    tau: float | None = None,
    min_samples: int = MIN_SAMPLES,
) -> tuple[SequentialState, GuardrailResult]:
    """Non-inferiority of a mean or proportion, on its own confidence sequence (its own state).

    Absolute margin m, higher worse: breached when the sequence's lower bound of T - C exceeds m,
    pass when its upper bound falls below m (mirrored when lower is worse).  A relative margin is
    judged the same way on the lift's sequence (delta method).  A guardrail that holds exactly
    (T = C) is breached with probability ≤ alpha/2 over the whole experiment.  τ defaults to
    :func:`mixture_tau` of the margin (on the lift's scale for relative margins).
    """
    if guardrail.quantile is not None:
        raise InvalidArgument(f"{guardrail.metric} is judged on histograms: latency_guardrail_update")
    scale = tau if tau is not None else mixture_tau(guardrail.margin, alpha=alpha)
    state, seq = sequential_update(
        state,
        control,
        treatment,
        alpha=alpha,
        tau=None if guardrail.relative else scale,
        tau_relative=scale if guardrail.relative else None,
        kind=kind,
        min_samples=min_samples,
    )
    bound = guardrail.margin if guardrail.worse == "higher" else -guardrail.margin
    if guardrail.relative:
        statistic, estimate, ci = "relative change", seq.lift, seq.lift_ci
    else:
        statistic, estimate, ci = "difference", seq.diff, seq.diff_ci
    status = _judge(ci[0], ci[1], bound, guardrail.worse)
    return state, GuardrailResult(
        guardrail=str(guardrail),
        metric=guardrail.metric,
        status=status,
        statistic=statistic,
        estimate=estimate,
        ci=ci,
        bound=bound,
        n_control=control.n,
        n_treatment=treatment.n,
        control_value=seq.control_mean,
        treatment_value=seq.treatment_mean,
        reason=seq.reason,
    )


def latency_guardrail_update(
    state: SequentialState,
    guardrail: Guardrail,
    control_counts: Sequence[int],
    treatment_counts: Sequence[int],
    *,
    alpha: float = DEFAULT_ALPHA,
    tau: float | None = None,
) -> tuple[SequentialState, GuardrailResult]:
    """Non-inferiority of a latency quantile (``latency_p99:+20%``) from the arms' histograms.

    "The treatment's p99 is at most 1.2x the control's" is a statement about tail shares: with c the
    control's p99, it holds exactly when at most 1 % of the treatment's requests are slower than 1.2·c.
    Once the control has seen enough requests for ``TAIL_MIN_COUNT`` beyond its quantile, c is fixed
    (in the state) at the bucket edge just above the control's quantile, and the test compares two
    proportions on exact bucket counts:

        θ = P(treatment > c · ratio^k) - P(control > c),   k = margin in whole buckets (+20 % → +18.9 %)

    θ > 0 is harm.  Breached when the confidence sequence of θ lies above 0, pass when below.  Fixing
    c makes θ one fixed parameter, so the sequence keeps its guarantee; τ is sized for θ = 1 - q (the
    treatment's tail twice the control's).
    """
    q = guardrail.quantile
    if q is None or not guardrail.relative or guardrail.worse != "higher":
        raise InvalidArgument(f"{guardrail} is not a latency quantile guardrail such as latency_p99:+20%")
    n_c, n_t = int(sum(control_counts)), int(sum(treatment_counts))
    c_value = histogram_quantile(control_counts, q) if n_c else None
    t_value = histogram_quantile(treatment_counts, q) if n_t else None
    k = margin_buckets(guardrail.margin)
    effective = 2 ** (k / 8) - 1
    statistic = f"tail share difference (treatment above {1 + effective:.3g}x the control's p{q * 100:g})"

    def pending(new: SequentialState, reason: str) -> tuple[SequentialState, GuardrailResult]:
        return new, GuardrailResult(
            str(guardrail), guardrail.metric, "pending", statistic, None, (None, None), 0.0, n_c, n_t,
            c_value, t_value, reason,
        )  # fmt: skip

    if state.threshold_ms is None:
        needed = math.ceil(TAIL_MIN_COUNT / (1 - q))
        if n_c < needed:
            return pending(state, f"{n_c} control requests: the control's p{q * 100:g} is fixed after {needed}")
        index = quantile_edge_index(control_counts, q)
        assert index is not None
        if index >= len(LATENCY_BUCKETS_MS):
            return pending(state, "the control's quantile is above the last latency bucket")
        state = replace(state, threshold_ms=LATENCY_BUCKETS_MS[index])
    assert state.threshold_ms is not None
    index = LATENCY_BUCKETS_MS.index(state.threshold_ms) if state.threshold_ms in LATENCY_BUCKETS_MS else None
    if index is None:
        raise InvalidArgument(f"the state's threshold {state.threshold_ms} ms is not a bucket edge")
    t_index = min(index + k, len(LATENCY_BUCKETS_MS) - 1)
    control = ArmStats.proportion(count_above(control_counts, index), n_c)
    treatment = ArmStats.proportion(count_above(treatment_counts, t_index), n_t)
    state, seq = sequential_update(
        state,
        control,
        treatment,
        alpha=alpha,
        tau=tau if tau is not None else mixture_tau(1 - q, alpha=alpha),
        kind="proportion",
    )
    status = _judge(seq.diff_ci[0], seq.diff_ci[1], 0.0, "higher")
    reason = seq.reason or (
        f"control p{q * 100:g} fixed at {state.threshold_ms:.4g} ms; {treatment.sum:g} of {n_t} treatment requests "
        f"above {LATENCY_BUCKETS_MS[t_index]:.4g} ms, {control.sum:g} of {n_c} control requests above "
        f"{state.threshold_ms:.4g} ms"
    )
    return state, GuardrailResult(
        guardrail=str(guardrail),
        metric=guardrail.metric,
        status=status,
        statistic=statistic,
        estimate=seq.diff,
        ci=seq.diff_ci,
        bound=0.0,
        n_control=n_c,
        n_treatment=n_t,
        control_value=c_value,
        treatment_value=t_value,
        reason=reason,
    )


# -- the decision ----------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    reasons: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        """Everything but ``running`` ends the experiment."""
        return self.kind != "running"

    @property
    def winner(self) -> Literal["control", "treatment"] | None:
        return {"treatment_wins": "treatment", "control_wins": "control"}.get(self.kind)  # type: ignore[return-value]

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.kind, "reasons": list(self.reasons), "final": self.final, "winner": self.winner}


def decide(
    *,
    primary: SequentialResult | FixedResult | None,
    direction: Direction = "higher",
    srm: SRMResult | None = None,
    guardrails: Sequence[GuardrailResult] = (),
    max_samples: int | None = None,
    mde: float | None = None,
    require_guardrails: bool = True,
) -> Decision:
    """The experiment's decision from this look's results (pure: same inputs, same decision).

    In order: a flagged SRM blocks everything (``srm``); a breached guardrail ends it
    (``guardrail_breached``); a significant primary metric names the winner by ``direction``: the
    control wins outright, the treatment only once every guardrail has passed (with
    ``require_guardrails``: shipping needs superiority *and* non-inferiority); ``no_difference`` when
    the difference's confidence sequence lies inside ±``mde`` (sequential), at ``max_samples`` per arm
    undecided (sequential), or not significant at the planned n (fixed).  Else ``running``.
    """
    reasons: list[str] = []
    breached = [g for g in guardrails if g.status == "breached"]
    if srm is not None and srm.flagged:
        observed = ", ".join(f"{a} {c}" for a, c in srm.observed.items())
        expected = ", ".join(f"{a} {c:.0f}" for a, c in srm.expected.items())
        reasons.append(
            f"sample-ratio mismatch: observed {observed}, expected {expected} (chi-square p = {srm.p_value:.2g} < "
            f"{srm.threshold:g}): assignment or logging is broken, no result can be trusted"
        )
        reasons.extend(f"guardrail {g.guardrail} also breached" for g in breached)
        return Decision("srm", tuple(reasons))
    if breached:
        for g in breached:
            reasons.append(f"guardrail {g.guardrail} breached: {g.statistic} {_fmt(g.estimate)} {_fmt_ci(g.ci)}")
        return Decision("guardrail_breached", tuple(reasons))
    if primary is None:
        return Decision("running", ("no data for the metric yet",))
    pending = [g for g in guardrails if g.status != "pass"]
    if isinstance(primary, FixedResult):
        if primary.status == "waiting":
            n = min(primary.n_control, primary.n_treatment)
            return Decision("running", (f"fixed horizon: {n} of {primary.planned_n} samples per arm",))
    elif primary.reason:
        reasons.append(primary.reason)
    estimate = f"difference {_fmt(primary.diff)} {_fmt_ci(primary.diff_ci)}, p = {_fmt(primary.p_value)}"
    at_max = (
        isinstance(primary, SequentialResult)
        and max_samples is not None
        and min(primary.n_control, primary.n_treatment) >= max_samples
    )
    if primary.significant and primary.diff is not None:
        better = primary.diff > 0 if direction == "higher" else primary.diff < 0
        if not better:
            return Decision("control_wins", (f"control better: {estimate}",))
        if require_guardrails and pending:
            names = ", ".join(g.guardrail for g in pending)
            if at_max:
                return Decision(
                    "no_difference",
                    (f"treatment better ({estimate}) but guardrails {names} not shown within their margins by "
                     f"{max_samples} samples per arm: not promoted",),
                )  # fmt: skip
            return Decision("running", (f"treatment better ({estimate}); waiting for guardrails {names}",))
        return Decision("treatment_wins", (f"treatment better: {estimate}",))
    if isinstance(primary, FixedResult):
        return Decision("no_difference", (f"not significant at the planned {primary.planned_n} per arm: {estimate}",))
    low, high = primary.diff_ci
    if mde is not None and low is not None and high is not None and -mde < low and high < mde:
        return Decision("no_difference", (f"any difference is smaller than the MDE {mde:g}: {estimate}",))
    if at_max:
        return Decision(
            "no_difference", (f"no significant difference after {max_samples} samples per arm: {estimate}",)
        )
    return Decision("running", (*reasons, estimate))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _fmt_ci(ci: Interval) -> str:
    low, high = ci
    return f"[{'-inf' if low is None else f'{low:.4g}'}, {'inf' if high is None else f'{high:.4g}'}]"
