"""The fixed-horizon test: Welch's t (a z-test for proportions) at a planned sample size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from modelport.errors import InvalidArgument
from modelport.experiments.arms import (
    DEFAULT_ALPHA,
    ArmStats,
    Interval,
    MetricKind,
    check_alpha,
    finite,
    lift_variance,
    normal_cdf,
    normal_quantile,
)


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
    check_alpha(alpha)
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
        p_value = 2 * normal_cdf(-abs(stat))
        df = None
        crit = normal_quantile(1 - alpha / 2)
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
    lift_var = lift_variance(control, treatment, kind)
    if lift is not None and lift_var is not None:
        lift_ci = (lift - crit * math.sqrt(lift_var), lift + crit * math.sqrt(lift_var))
    return FixedResult(
        status="complete",
        diff_ci=(diff - half, diff + half),
        lift_ci=lift_ci,
        p_value=p_value,
        statistic=finite(stat),
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
    lo, hi = 0.0, max(2 * normal_quantile(p), 1.0)
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
