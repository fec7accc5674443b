"""One look at a running experiment: a pure function of its spec, what it carried from the last look, and the
arms' readings, returning the new state, the report ``show`` prints, and a decision.

Nothing here reads a database or a clock; the random generator (Thompson
sampling) is passed in.  The statistics themselves are
:mod:`modelport.experiments.stats`'s (docs/experiments.md, "Statistics"):
this module puts them in order —

1. the primary metric on each arm, and the lift with its always-valid
   p-value and confidence sequence (sequential), or the classic test once
   the planned sample size is reached (fixed);
2. the sample-ratio check on the requests each arm served (fixed splits only:
   a bandit's changing weights have no single expected ratio);
3. each guardrail, a non-inferiority check of the treatment against the
   control read off its own confidence sequence;
4. the decision: ``srm`` blocks everything; a breached guardrail wins over a
   winner; a winner once the p-value is under alpha (with at least
   :data:`MIN_SAMPLES` per arm); ``no_difference`` at the maximum sample size;
   else ``running``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from modelport.experiments import _interim_stats as stats
from modelport.experiments._interim_stats import ArmStats
from modelport.experiments.experiment import ExperimentSpec
from modelport.experiments.metrics import Metric, parse_metric
from modelport.experiments.readings import ArmValues, Readings

#: samples per arm before any decision (variances of a handful of values are not worth trusting)
MIN_SAMPLES = 100
#: samples per arm before the maximum sample size is worked out from the MDE and the variance seen
PLANNING_SAMPLES = 100


@dataclass
class Look:
    state: dict[str, Any]
    result: dict[str, Any]
    decision: str
    reason: str = ""
    weights: dict[str, float] | None = None
    """Bandit: the arms' new shares (summing to 1)."""
    notes: list[str] = field(default_factory=list)


def metric_of(spec: ExperimentSpec) -> Metric:
    return parse_metric(spec.metric)


def guardrails_of(spec: ExperimentSpec) -> list[tuple[Any, Metric]]:
    """Each guardrail parsed, with its metric (validated when an experiment starts)."""
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
    rng: random.Random | None = None,
) -> Look:
    """The look (see the module docstring); ``shares``: the arms' current shares of the traffic."""
    metric = metric_of(spec)
    primary = readings.values[metric.name]
    c = primary.stats.get(control, ArmStats(0, 0.0, 0.0))
    t = primary.stats.get(treatment, ArmStats(0, 0.0, 0.0))
    new_state = dict(state)
    result: dict[str, Any] = {
        "metric": {"name": metric.name, "kind": primary.kind, "direction": spec.direction},
        "mode": spec.mode,
        "alpha": spec.alpha,
        "arms": {
            control: _arm("control", c, primary.kind, shares.get(control)),
            treatment: _arm("treatment", t, primary.kind, shares.get(treatment)),
        },
        "notes": list(readings.notes),
    }

    # 1. the lift
    sequential, outcome = stats.sequential_update(
        stats.SequentialState.from_json(state.get("sequential")), c, t, alpha=spec.alpha
    )
    new_state["sequential"] = sequential.to_json()
    planned = _planned_samples(spec, new_state, c, t)
    if spec.mode == "fixed":
        outcome = stats.fixed_result(c, t, alpha=spec.alpha)
    result["lift"] = {
        "absolute": outcome.lift,
        "ci": None if outcome.ci is None else [_finite(outcome.ci[0]), _finite(outcome.ci[1])],
        "relative": None if outcome.lift is None or not c.mean else outcome.lift / abs(c.mean),
    }
    result["p_value"] = outcome.p_value
    result["max_samples"] = planned
    n = min(c.n, t.n)

    # 2. sample ratio
    srm = None
    if spec.mode != "bandit" and readings.requests:
        expected = {control: shares.get(control, 0.5), treatment: shares.get(treatment, 0.5)}
        check = stats.srm(readings.requests, expected)
        srm = {"p_value": check.p_value, "flagged": check.flagged, "requests": readings.requests, "expected": expected}
    result["srm"] = srm

    # 3. guardrails
    guardrail_states = dict(state.get("guardrails") or {})
    result["guardrails"] = []
    for guardrail, gmetric in guardrails_of(spec):
        values = readings.values.get(gmetric.name)
        entry, guardrail_states[guardrail.text] = _guardrail(
            guardrail, gmetric, values, control, treatment, guardrail_states.get(guardrail.text), spec.alpha
        )
        result["guardrails"].append(entry)
    new_state["guardrails"] = guardrail_states

    # 4. decide
    weights = None
    if spec.mode == "bandit":
        arms = {control: c, treatment: t}
        if spec.direction == "decrease":
            arms = {k: _flipped(v, primary.kind) for k, v in arms.items()}
        weights = stats.thompson_weights(arms, kind=primary.kind, min_share=spec.min_share, rng=rng)
        result["bandit"] = {"weights": weights, "min_share": spec.min_share}
    decision, reason = _decide(spec, result, outcome, n, planned)
    result["decision"] = decision
    result["reason"] = reason
    return Look(state=new_state, result=result, decision=decision, reason=reason, weights=weights)


def _decide(spec: ExperimentSpec, result: dict[str, Any], outcome: Any, n: int, planned: int | None) -> tuple[str, str]:
    srm = result["srm"]
    if srm and srm["flagged"]:
        return "srm", (
            f"sample ratio mismatch (p = {srm['p_value']:.2g} < 0.001): requests {srm['requests']} do not match "
            "the split; decisions are blocked until it is explained"
        )
    breached = [g for g in result["guardrails"] if g["status"] == "breached"]
    if breached:
        return "guardrail_breached", "; ".join(f"guardrail {g['guardrail']} breached: {g['summary']}" for g in breached)
    if n < MIN_SAMPLES:
        return "running", f"{n} of at least {MIN_SAMPLES} samples per arm"
    better = None
    if outcome.lift is not None:
        better = "treatment" if (outcome.lift > 0) == (spec.direction == "increase") else "control"
    if spec.mode == "fixed":
        assert planned is not None
        if n < planned:
            return "running", f"fixed test: {n} of {planned} planned samples per arm"
        if outcome.p_value < spec.alpha and better:
            return f"{better}_wins", f"p = {outcome.p_value:.3g} < {spec.alpha} at the planned {planned} samples"
        return "no_difference", f"p = {outcome.p_value:.3g} at the planned {planned} samples per arm"
    if spec.mode == "bandit":
        if planned is not None and n >= planned:
            return "no_difference" if not better else f"{better}_wins", f"the bandit reached {planned} samples per arm"
        return "running", "bandit: weights follow the posterior"
    if outcome.p_value <= spec.alpha and better and outcome.lift:
        return f"{better}_wins", f"always-valid p = {outcome.p_value:.3g} ≤ {spec.alpha}"
    if planned is not None and n >= planned:
        return "no_difference", f"no difference found within the maximum {planned} samples per arm"
    return "running", f"always-valid p = {outcome.p_value:.3g}"


def _planned_samples(spec: ExperimentSpec, state: dict[str, Any], c: ArmStats, t: ArmStats) -> int | None:
    """``--max-samples``, else worked out once from the MDE and the variance of the first samples."""
    if spec.max_samples is not None:
        return spec.max_samples
    if spec.mde is None:
        return None
    if state.get("max_samples") is None and min(c.n, t.n) >= PLANNING_SAMPLES:
        variances = [v for v in (c.variance, t.variance) if v]
        if variances:
            state["max_samples"] = stats.max_samples(
                spec.mde, alpha=spec.alpha, variance=max(variances), sequential=spec.mode != "fixed"
            )
    planned = state.get("max_samples")
    return None if planned is None else int(planned)


def _guardrail(
    guardrail: Any,
    metric: Metric,
    values: ArmValues | None,
    control: str,
    treatment: str,
    state: dict[str, Any] | None,
    alpha: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    entry: dict[str, Any] = {"guardrail": guardrail.text, "metric": metric.name, "status": "inconclusive"}
    if values is None or metric.kind == "quantile":
        entry["summary"] = "no data" if values is None else _quantile_summary(values, control, treatment)
        return entry, state or {}
    c = values.stats.get(control, ArmStats(0, 0.0, 0.0))
    t = values.stats.get(treatment, ArmStats(0, 0.0, 0.0))
    sequential, outcome = stats.sequential_update(stats.SequentialState.from_json(state), c, t, alpha=alpha)
    margin = guardrail.margin * abs(c.mean or 0.0) if guardrail.relative else guardrail.margin
    entry.update(control=c.mean, treatment=t.mean, difference=outcome.lift, margin=margin)
    entry["ci"] = None if outcome.ci is None else [_finite(outcome.ci[0]), _finite(outcome.ci[1])]
    if outcome.ci is not None and min(c.n, t.n) >= 1:
        # worse = higher for a metric where lower is better
        worse = (outcome.ci[0], outcome.ci[1]) if metric.direction == "decrease" else (-outcome.ci[1], -outcome.ci[0])
        if worse[0] > margin:
            entry["status"] = "breached"
        elif worse[1] < margin:
            entry["status"] = "ok"
    entry["summary"] = (
        f"treatment {_fmt(t.mean)} vs control {_fmt(c.mean)} ({t.n} and {c.n} samples), margin {_fmt(margin)}"
    )
    return entry, sequential.to_json()


def _quantile_summary(values: ArmValues, control: str, treatment: str) -> str:
    return f"{values.metric.name}: histograms of {sum(values.histograms.get(control, []))} and " + (
        f"{sum(values.histograms.get(treatment, []))} requests"
    )


def _arm(role: str, a: ArmStats, kind: str, share: float | None) -> dict[str, Any]:
    from modelport.monitoring.quality import wilson

    ci: tuple[float, float] | None = None
    if a.n:
        if kind == "proportion":
            ci = wilson(round(a.sum), a.n)
        elif a.variance is not None and a.mean is not None:
            half = 1.959963984540054 * math.sqrt(a.variance / a.n)
            ci = (a.mean - half, a.mean + half)
    return {"role": role, "n": a.n, "value": a.mean, "ci": list(ci) if ci else None, "share": share}


def _flipped(a: ArmStats, kind: str) -> ArmStats:
    """The same arm with 'better' meaning higher (for Thompson sampling on a metric where lower is better)."""
    if kind == "proportion":
        return ArmStats(a.n, a.n - a.sum, a.n - a.sum)
    return ArmStats(a.n, -a.sum, a.sumsq)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"
