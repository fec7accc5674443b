"""Guardrails: non-inferiority of the treatment against the control, judged on confidence sequences."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from modelport.errors import InvalidArgument
from modelport.experiments.arms import DEFAULT_ALPHA, ArmStats, Direction, Interval, MetricKind
from modelport.experiments.latency import (
    LATENCY_BUCKETS_MS,
    count_above,
    histogram_quantile,
    margin_buckets,
    quantile_edge_index,
)
from modelport.experiments.sequential import MIN_SAMPLES, SequentialState, mixture_tau, sequential_update

GuardrailStatus = Literal["pending", "pass", "breached"]
GUARDRAIL_SPREAD = (1.0, 4.0, 16.0, 64.0, 256.0)
"""A guardrail's mixture scales, multiples of τ(margin): a breach far beyond the margin (20 % errors
against a 0.5-point margin) is confirmed within a few hundred requests, not thousands."""
TAIL_MIN_COUNT = 10
"""Control requests beyond its quantile before a latency-quantile guardrail fixes its threshold."""

_GUARDRAIL = re.compile(r"^(?P<metric>[a-z][a-z0-9_.]*):(?P<sign>[+-]?)(?P<value>\d+(?:\.\d*)?|\.\d+)(?P<unit>pp|%)?$")
_QUANTILE = re.compile(r"^latency_p(?P<q>\d{1,2}(?:\.\d+)?)$")
_HIGHER_IS_WORSE = ("error_rate", "latency_", "abs_diff")
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
        spread=GUARDRAIL_SPREAD,
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
        spread=GUARDRAIL_SPREAD,
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
