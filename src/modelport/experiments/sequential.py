"""The mixture sequential probability ratio test: always-valid p-values and confidence sequences.

Johari, Pekelis & Walsh, *Always valid inference: continuous monitoring of A/B tests* (Operations
Research 70(3), 2022), as in Optimizely's Stats Engine: a normal mixture over the difference of two
means, a running-minimum p-value and running-intersection confidence sequences, so an experiment may
be looked at every minute.  :func:`plan` sizes the mixture and the maximum sample size from the MDE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, TypeVar

import numpy as np

from modelport.errors import InvalidArgument
from modelport.experiments.arms import (
    DEFAULT_ALPHA,
    DEFAULT_POWER,
    ArmStats,
    Interval,
    MetricKind,
    check_alpha,
    lift_variance,
    normal_quantile,
)

_Array = TypeVar("_Array", float, np.ndarray)

MIN_SAMPLES = 100
"""Per arm, before a sequential look counts: the plug-in variance needs some data (docs, "Statistics")."""


def _single_log_lr(diff: Any, var: Any, tau: float) -> Any:
    t2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log(var / (var + t2)) + t2 * diff * diff / (2 * var * (var + t2))


def mixture_log_likelihood_ratio(diff: _Array, var: _Array, tau: float | Sequence[float]) -> _Array:
    """log Λ of the normal-mixture SPRT for H0: difference = 0 (vectorised).

    With θ̂ the difference of the means, V its variance and the mixing distribution N(0, τ²)
    (Johari et al. 2022, eq. 11, written in terms of V = σ²/n so that unequal arms fit):
    Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))).  Several τ: the mean of their Λ (an
    equal-weight mixture of normal mixtures, still a martingale under H0).
    """
    taus = _taus(tau)
    if taus.size == 1:
        return _single_log_lr(diff, var, float(taus[0]))  # type: ignore[no-any-return]
    logs = np.stack([np.asarray(_single_log_lr(diff, var, float(t)), dtype=np.float64) for t in taus])
    out = np.logaddexp.reduce(logs, axis=0) - math.log(taus.size)
    return float(out) if np.ndim(out) == 0 else out  # type: ignore[return-value]


def always_valid_p_value(diff: _Array, var: _Array, tau: float | Sequence[float]) -> _Array:
    """min(1, 1/Λ) at one look (vectorised); the always-valid p-value is its running minimum."""
    log_lr = mixture_log_likelihood_ratio(diff, var, tau)
    out = np.minimum(1.0, np.exp(-np.nan_to_num(log_lr, nan=0.0, neginf=0.0)))
    return float(out) if np.ndim(out) == 0 else out  # type: ignore[return-value]


def _single_halfwidth(var: Any, tau: float, alpha: float) -> Any:
    t2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var * (var + t2) / t2 * (2 * math.log(1 / alpha) + np.log((var + t2) / var)))


def confidence_halfwidth(var: _Array, tau: float | Sequence[float], alpha: float) -> _Array:
    """Half-width of the mixture's confidence sequence at one look (vectorised):
    θ̂ ± √( V (V + τ²)/τ² · (2 log(1/alpha) + log((V + τ²)/V)) ) — the θ whose Λ(θ) stays below 1/alpha.

    Several τ (K of them): no closed form.  In u = d², log mean_k Λ_k = logsumexp_k(a_k + b_k u) - log K
    is convex and increasing, so Newton's method from u = min_k d_k(alpha/K)² (where the mixture is
    already past 1/alpha) descends monotonically onto the root in a few steps.
    """
    taus = _taus(tau)
    if taus.size == 1:
        return _single_halfwidth(var, float(taus[0]), alpha)  # type: ignore[no-any-return]
    v = np.asarray(var, dtype=np.float64)
    t2 = np.square(taus).reshape((-1,) + (1,) * v.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 0.5 * np.log(v / (v + t2))
        b = t2 / (2 * v * (v + t2))
        u = np.min(np.stack([_single_halfwidth(v, float(t), alpha / taus.size) for t in taus]), axis=0) ** 2
        target = math.log(1 / alpha) + math.log(taus.size)
        for _ in range(50):
            exponent = a + b * u
            top = exponent.max(axis=0)
            weights = np.exp(exponent - top)
            total = weights.sum(axis=0)
            f = top + np.log(total) - target
            slope = (weights * b).sum(axis=0) / total
            step = np.where(slope > 0, f / slope, 0.0)
            u = np.maximum(u - step, 0.0)
            if not np.any(np.abs(step) > 1e-13 * np.maximum(u, 1e-300)):
                break
        out = np.sqrt(u)
    return float(out) if np.ndim(out) == 0 else out  # type: ignore[return-value]


def _taus(tau: float | Sequence[float]) -> np.ndarray:
    taus = np.atleast_1d(np.asarray(tau, dtype=np.float64))
    if taus.size == 0 or not np.all(taus > 0):
        raise InvalidArgument(f"the mixture's tau must be positive, got {tau}")
    return taus


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


def mixture_tau(mde: float, *, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> float:
    """The mixing standard deviation τ for an effect of ``mde``: τ = mde · √r* / (g(r*) + z_power).

    τ is chosen so the confidence sequence is narrowest (in standard errors) exactly at the sample size
    where an effect of ``mde`` is detected with probability ``power`` (:func:`plan`), which makes that
    maximum sample size as small as the mixture allows.  It depends on the MDE, alpha and power only.
    """
    check_alpha(alpha, power)
    if not mde > 0 or not math.isfinite(mde):
        raise InvalidArgument(f"the minimum detectable effect must be positive, got {mde}")
    r, g = _boundary_factor(alpha)
    return mde * math.sqrt(r) / (g + normal_quantile(power))


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
    check_alpha(alpha, power)
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
    z_power = normal_quantile(power)
    sequential = math.ceil(variance * (g + z_power) ** 2 / delta**2)
    fixed = math.ceil(variance * (normal_quantile(1 - alpha / 2) + z_power) ** 2 / delta**2)
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
    spread: list[float] | None = None
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
    spread: Sequence[float] = (1.0,),
) -> tuple[SequentialState, SequentialResult]:
    """One look of the mSPRT on cumulative per-arm statistics → (new state, result).

    The variance of the difference is per arm, V = s²_C/n_C + s²_T/n_T (not pooled): the arms may
    differ in size (weights, bandits) and in spread, and the confidence sequence needs the variance
    away from the null too.  ``tau`` is the mixture's scale for the difference (:func:`mixture_tau`
    of the MDE); ``tau_relative`` the scale for the lift (default: τ / |control mean| at the first look
    where the lift is defined).  Either may be None if the other is given; whichever is derived is
    then fixed in the state.  A look with fewer than ``min_samples`` in an arm changes nothing.

    ``spread`` mixes several scales τ·s with equal weights: one τ sized for a small effect is slow to
    confirm a huge one (its boundary early on is ~V/τ wide), which a guardrail must catch within a
    minute (:data:`~modelport.experiments.guardrails.GUARDRAIL_SPREAD`).
    """
    check_alpha(alpha)
    if tau is None and tau_relative is None and state.tau is None:
        raise InvalidArgument("the mixture needs tau (see mixture_tau) or tau_relative")
    if state.alpha is not None and not math.isclose(state.alpha, alpha):
        raise InvalidArgument(f"alpha cannot change during an experiment (was {state.alpha}, now {alpha})")
    for name, given, kept in (("tau", tau, state.tau), ("tau_relative", tau_relative, state.tau_relative)):
        if given is not None and not given > 0:
            raise InvalidArgument(f"{name} must be positive, got {given}")
        if given is not None and kept is not None and not math.isclose(given, kept, rel_tol=1e-9):
            raise InvalidArgument(f"{name} cannot change during an experiment (was {kept}, now {given})")
    if not spread or any(not s > 0 for s in spread):
        raise InvalidArgument(f"spread must be positive multipliers, got {list(spread)}")
    if state.spread is not None and list(state.spread) != [float(s) for s in spread]:
        raise InvalidArgument(f"spread cannot change during an experiment (was {state.spread}, now {list(spread)})")
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
    lift_var = lift_variance(control, treatment, kind)
    if tau is None:  # derived from the relative scale, then kept
        assert tau_relative is not None
        if lift_var is None:
            return result(state, "the control's mean is too close to 0 to size the mixture from a relative margin")
        tau = tau_relative * abs(mu_c)
    if tau_relative is None and lift_var is not None:
        tau_relative = tau / abs(mu_c)

    taus = [tau * s for s in spread]
    p_now = float(always_valid_p_value(diff, var, taus))
    half = float(confidence_halfwidth(var, taus, alpha))
    diff_low, diff_high = _intersect(state.diff_low, state.diff_high, diff - half, diff + half)
    lift_low, lift_high = state.lift_low, state.lift_high
    if lift_var is not None and lift is not None and tau_relative is not None:
        half_rel = float(confidence_halfwidth(lift_var, [tau_relative * s for s in spread], alpha))
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
        spread=[float(s) for s in spread],
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
    check_alpha(alpha)
    if arm.n < 2:
        return (None, None)
    var = arm.variance_of_mean(kind)
    if not var > 0:
        return (arm.mean, arm.mean)
    half = float(confidence_halfwidth(var, tau, alpha)) if tau else normal_quantile(1 - alpha / 2) * math.sqrt(var)
    low, high = arm.mean - half, arm.mean + half
    if kind == "proportion":
        low, high = max(low, 0.0), min(high, 1.0)
    return (low, high)
