"""Which trials count: feasibility under constraints, the Pareto front, the best trial (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

from modelport.tuning.job import Trial
from modelport.tuning.spec import TuningSpec


def feasible(spec: TuningSpec, trial: Trial) -> bool:
    """A complete trial that meets every constraint (a constraint metric it lacks is a violation)."""
    if trial.state != "complete":
        return False
    return all(c.metric in trial.metrics and c.met(trial.metrics[c.metric]) for c in spec.constraints)


def dominates(a: Sequence[float], b: Sequence[float], maximize: Sequence[bool]) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    better = False
    for x, y, up in zip(a, b, maximize, strict=True):
        if (x < y) if up else (x > y):
            return False
        if x != y:
            better = True
    return better


def pareto_front(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices of the points no other point dominates."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, maximize) for j, q in enumerate(points) if j != i)]


def mark(spec: TuningSpec, trials: Sequence[Trial]) -> list[Trial]:
    """The trials with ``feasible`` and (multi-objective) ``pareto`` set."""
    marked = [t.model_copy(update={"feasible": feasible(spec, t), "pareto": False}) for t in trials]
    if spec.multi_objective:
        candidates = [t for t in marked if t.feasible and t.values is not None]
        maximize = [o.direction == "maximize" for o in spec.objectives]
        front = set(pareto_front([t.values or [] for t in candidates], maximize))
        numbers = {candidates[i].number for i in front}
        marked = [t.model_copy(update={"pareto": True}) if t.number in numbers else t for t in marked]
    return marked


def best_trial(spec: TuningSpec, trials: Sequence[Trial]) -> Trial | None:
    """The best feasible complete trial on the first objective (among the Pareto front when multi-objective);
    ties go to the earlier trial."""
    pool = [t for t in trials if t.feasible and t.values is not None]
    if spec.multi_objective:
        pool = [t for t in pool if t.pareto]
    if not pool:
        return None
    sign = 1.0 if spec.objectives[0].direction == "maximize" else -1.0
    return max(pool, key=lambda t: (sign * (t.values or [0.0])[0], -t.number))
