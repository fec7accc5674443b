"""One look at a running experiment: a pure function of its spec, what it carried from the last look, and the
arms' readings, returning the new state, the report ``show`` prints, and a decision.

Nothing here reads a database or a clock; the random generator (Thompson
sampling) is passed in.  The statistics are :mod:`modelport.experiments.stats`'s
(docs/experiments.md, "Statistics"); this module puts them in order:

1. the primary metric on each arm, and the lift with its always-valid p-value
   and confidence sequence (sequential, and bandits), or the classic test once
   the planned sample size is reached (fixed);
2. the sample-ratio check on the requests each arm served by a random draw
   (fixed splits only: a bandit's weights move, so it has no single expected
   ratio; a shadow sees every request its control answers, so it has no
   split), flagged on the chi-square's p-value at the look, or on the
   anytime-valid p-value (``spec.srm``);
3. each guardrail, a non-inferiority check of the treatment against the
   control on its own confidence sequence (latency percentiles on the
   histograms);
4. :func:`~modelport.experiments.stats.decide`.  Its ``srm`` blocks decisions
   but does not end the experiment here (the flag can clear as counts grow; a
   person should look); every other decision but ``running`` ends it.

The mixture's scale τ comes from the MDE when one is given; otherwise from
:data:`DEFAULT_EFFECT` (2 points for a proportion) or :data:`DEFAULT_LIFT`
(5 % of the control's mean for a mean).  The maximum sample size, when not
given, is planned once from the MDE and the control's first
:data:`~modelport.experiments.stats.MIN_SAMPLES` samples, then kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from modelport.experiments import stats
from modelport.experiments.experiment import ExperimentSpec
from modelport.experiments.metrics import Metric, parse_metric
from modelport.experiments.readings import ArmValues, Readings
from modelport.experiments.stats import ArmStats

#: τ for a proportion when no MDE is given: sized for a 2-point difference
DEFAULT_EFFECT = 0.02
#: τ for a mean when no MDE is given: sized for a 5 % lift of the control's mean
DEFAULT_LIFT = 0.05


@dataclass
class Look:
    state: dict[str, Any]
    result: dict[str, Any]
    decision: str
    reason: str = ""
    weights: dict[str, float] | None = None
    """Bandit: the arms' new shares (summing to 1)."""
    notes: list[str] = field(default_factory=list)


def guardrails_of(spec: ExperimentSpec) -> list[tuple[stats.Guardrail, Metric]]:
    """Each guardrail parsed, with its metric (checked when an experiment starts)."""
    out = []
    for text in spec.guardrails:
        guardrail = stats.parse_guardrail(text)
        out.append((guardrail, parse_metric(guardrail.metric)))
    return out


def judge(
    spec: ExperimentSpec,
    control: str,
    treatment: str,
    state: dict[str, Any],
    readings: Readings,
    *,
    shares: dict[str, float],
    rng: Any = None,
) -> Look:
    """The look (see the module docstring); ``shares``: the arms' current shares of the traffic;
    ``rng``: a ``numpy.random.Generator`` (bandits)."""
    metric = parse_metric(spec.metric)
    primary = readings.values[metric.name]
    kind = "proportion" if primary.kind == "proportion" else "mean"
    c = primary.stats.get(control, ArmStats())
    t = primary.stats.get(treatment, ArmStats())
    direction = "higher" if spec.direction == "increase" else "lower"
    new_state = dict(state)

    # 1. the lift
    planned = _planned(spec, new_state, c, kind)
    tau, tau_relative = _scales(spec, kind)
    sequential, seq = stats.sequential_update(
        stats.SequentialState.from_json(state.get("sequential")),
        c,
        t,
        alpha=spec.alpha,
        tau=tau,
        tau_relative=tau_relative,
        kind=kind,  # type: ignore[arg-type]
    )
    new_state["sequential"] = sequential.to_json()
    outcome: stats.SequentialResult | stats.FixedResult | None = seq
    if spec.mode == "fixed":
        outcome = (
            stats.fixed_result(c, t, planned_n=planned, alpha=spec.alpha, kind=kind)  # type: ignore[arg-type]
            if planned is not None
            else None
        )
    result: dict[str, Any] = {
        "metric": {"name": metric.name, "kind": kind, "direction": spec.direction},
        "mode": spec.mode,
        "alpha": spec.alpha,
        "arms": {
            control: _arm("control", c, kind, shares.get(control), spec.alpha),
            treatment: _arm("treatment", t, kind, shares.get(treatment), spec.alpha),
        },
        "lift": _lift(outcome),
        "p_value": None if outcome is None else outcome.p_value,
        "max_samples": planned,
        "notes": list(readings.notes) + ([seq.reason] if seq.reason else []),
    }

    # 2. sample ratio
    check = None
    requests = {arm: readings.requests.get(arm, 0) for arm in (control, treatment)}
    if spec.mode != "bandit" and not spec.shadow and sum(requests.values()) > 0:
        # flagged on the chi-square's p at this look (spec.srm "chi-square"), or on the anytime-valid p-value
        # (reported either way)
        check = stats.srm(
            requests,
            {arm: shares.get(arm, 0.5) for arm in (control, treatment)},
            sequential=spec.srm == "sequential",
        )
    result["srm"] = None if check is None else check.to_json()
    if readings.shadow is not None:  # a shadow experiment: the pairs, every figure with its interval
        result["shadow"] = readings.shadow

    # 3. guardrails
    states = dict(state.get("guardrails") or {})
    results = []
    for guardrail, gmetric in guardrails_of(spec):
        key = str(guardrail)
        gstate, gresult = _guardrail(
            guardrail, readings.values.get(gmetric.name), control, treatment, states.get(key), spec.alpha
        )
        states[key] = gstate.to_json()
        results.append(gresult)
    new_state["guardrails"] = states
    result["guardrails"] = [g.to_json() for g in results]

    # 4. decide
    decision = stats.decide(
        primary=outcome,
        direction=direction,  # type: ignore[arg-type]
        srm=check,
        guardrails=results,
        max_samples=planned if spec.mode != "fixed" else None,
        mde=spec.mde,
    )
    weights = None
    if spec.mode == "bandit":
        import numpy as np

        weights = stats.thompson_weights(
            {control: c, treatment: t},
            kind=kind,  # type: ignore[arg-type]
            min_share=spec.min_share,
            rng=rng if rng is not None else np.random.default_rng(),
            direction=direction,  # type: ignore[arg-type]
        )
        result["bandit"] = {"weights": weights, "min_share": spec.min_share}
    reason = "; ".join(decision.reasons)
    result["decision"] = decision.kind
    result["reason"] = reason
    return Look(state=new_state, result=result, decision=decision.kind, reason=reason, weights=weights)


def _scales(spec: ExperimentSpec, kind: str) -> tuple[float | None, float | None]:
    """(τ, τ relative) for the primary metric's mixture: one of them, the other derived and kept."""
    if spec.mde is not None:
        return stats.mixture_tau(spec.mde, alpha=spec.alpha), None
    if kind == "proportion":
        return stats.mixture_tau(DEFAULT_EFFECT, alpha=spec.alpha), None
    return None, stats.mixture_tau(DEFAULT_LIFT, alpha=spec.alpha)


def _planned(spec: ExperimentSpec, state: dict[str, Any], control: ArmStats, kind: str) -> int | None:
    """``max_samples``, else planned once from the MDE and the control's first samples (kept in the state)."""
    if spec.max_samples is not None:
        return spec.max_samples
    if spec.mde is None:
        return None
    if state.get("max_samples") is None and control.n >= stats.MIN_SAMPLES:
        mode: Literal["fixed", "sequential"] = "fixed" if spec.mode == "fixed" else "sequential"
        try:
            if kind == "proportion":
                planned = stats.max_samples(spec.mde, proportion=control.mean, alpha=spec.alpha, mode=mode)
            else:
                planned = stats.max_samples(spec.mde, baseline_var=control.variance, alpha=spec.alpha, mode=mode)
        except Exception:  # a baseline at 0 or 1, no variance yet: plan at a later look
            return None
        state["max_samples"] = planned
    value = state.get("max_samples")
    return None if value is None else int(value)


def _guardrail(
    guardrail: stats.Guardrail,
    values: ArmValues | None,
    control: str,
    treatment: str,
    state: dict[str, Any] | None,
    alpha: float,
) -> tuple[stats.SequentialState, stats.GuardrailResult]:
    previous = stats.SequentialState.from_json(state)
    if values is not None and guardrail.quantile is not None:
        from modelport.experiments.latency import HISTOGRAM_SIZE

        empty = [0] * HISTOGRAM_SIZE
        return stats.latency_guardrail_update(
            previous,
            guardrail,
            values.histograms.get(control, empty),
            values.histograms.get(treatment, empty),
            alpha=alpha,
        )
    if values is None or values.kind == "quantile":
        return previous, stats.GuardrailResult(
            str(guardrail), guardrail.metric, "pending", "difference", None, (None, None), 0.0, 0, 0,
            reason="no data for this metric",
        )  # fmt: skip
    return stats.guardrail_update(
        previous,
        guardrail,
        values.stats.get(control, ArmStats()),
        values.stats.get(treatment, ArmStats()),
        alpha=alpha,
        kind="proportion" if values.kind == "proportion" else "mean",
    )


def _lift(outcome: stats.SequentialResult | stats.FixedResult | None) -> dict[str, Any]:
    if outcome is None:
        return {"absolute": None, "ci": [None, None], "relative": None, "relative_ci": [None, None]}
    return {
        "absolute": _finite(outcome.diff),
        "ci": [_finite(x) for x in outcome.diff_ci],
        "relative": _finite(outcome.lift),
        "relative_ci": [_finite(x) for x in outcome.lift_ci],
    }


def _arm(role: str, a: ArmStats, kind: str, share: float | None, alpha: float) -> dict[str, Any]:
    """An arm's n, metric and its own interval (the normal interval at this look)."""
    low, high = stats.arm_interval(a, alpha=alpha, kind=kind)  # type: ignore[arg-type]
    return {
        "role": role,
        "n": a.n,
        "value": _finite(a.mean) if a.n else None,
        "ci": None if low is None and high is None else [_finite(low), _finite(high)],
        "share": share,
    }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
