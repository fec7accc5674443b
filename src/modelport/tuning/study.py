"""The Optuna study behind a job: sampler and pruner from the spec, rebuilt from the recorded trials.

The study lives in the runner's memory; the registry's tables are its
durable form.  Resuming rebuilds it from the trials that finished (and warm
starts add earlier jobs' trials), so the sampler knows everything the job
knows without a second writer on the database.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from modelport.errors import MissingExtra
from modelport.tuning.job import Trial
from modelport.tuning.spec import Bound, TuningSpec

#: a constraint metric the trial never reported counts as this far over its bound
MISSING_VIOLATION = 1e9
#: where Optuna's samplers keep a trial's constraint values (optuna.samplers._base._CONSTRAINTS_KEY)
CONSTRAINTS_KEY = "constraints"


def optuna_module() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingExtra.for_extra("tuning", "tuning") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distributions(spec: TuningSpec) -> dict[str, Any]:
    optuna = optuna_module()
    d = optuna.distributions
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.kind == "cat":
            out[p.name] = d.CategoricalDistribution(p.choices)
        elif p.kind == "int":
            out[p.name] = d.IntDistribution(int(p.low or 0), int(p.high or 0), log=p.log, step=int(p.step or 1))
        else:
            out[p.name] = d.FloatDistribution(float(p.low or 0.0), float(p.high or 0.0), log=p.log, step=p.step)
    return out


def grid_size(spec: TuningSpec) -> int:
    n = 1
    for p in spec.params:
        n *= len(p.grid_values())
    return n


def sampler(spec: TuningSpec) -> Any:
    """The strategy's sampler, seeded: the same seed gives the same trial sequence as a bare Optuna loop."""
    optuna = optuna_module()
    s = optuna.samplers
    if spec.strategy == "random":
        return s.RandomSampler(seed=spec.seed)
    if spec.strategy == "grid":
        return s.GridSampler({p.name: p.grid_values() for p in spec.params}, seed=spec.seed)
    constraints = functools.partial(violations, spec.constraints) if spec.constraints else None
    if spec.sampler == "gp":
        try:
            import torch  # noqa: F401  # Optuna's Gaussian process runs on PyTorch
        except ImportError:
            from modelport.errors import MissingExtra

            raise MissingExtra.for_extra("torch", "--sampler gp") from None
        return s.GPSampler(seed=spec.seed, constraints_func=constraints)
    return s.TPESampler(seed=spec.seed, constraints_func=constraints)


def pruner(spec: TuningSpec) -> Any:
    optuna = optuna_module()
    if spec.strategy == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if spec.early_stop == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    return optuna.pruners.NopPruner()


def violations(constraints: Sequence[Bound], trial: Any) -> list[float]:
    """Optuna's constraint values for a finished trial (≤ 0: satisfied)."""
    return _violations(constraints, trial.user_attrs.get("metrics", {}))


def _violations(constraints: Sequence[Bound], metrics: dict[str, float]) -> list[float]:
    return [c.violation(metrics[c.metric]) if c.metric in metrics else MISSING_VIOLATION for c in constraints]


def create_study(spec: TuningSpec) -> Any:
    optuna = optuna_module()
    directions = [o.direction for o in spec.objectives]
    with warnings.catch_warnings():  # constraints_func and multi-objective TPE are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(sampler=sampler(spec), pruner=pruner(spec), directions=directions)
    # The runner drives ask/tell as Optuna's own loop does: a grid sampler that runs out asks the
    # study to stop (allowed only inside that loop); the runner's budget already ends at the grid's size.
    study._thread_local.in_optimize_loop = True
    return study


def add_trials(study: Any, spec: TuningSpec, trials: Iterable[Trial]) -> int:
    """Tell the study about finished trials (this job's, or a warm start's that fit this search space)."""
    optuna = optuna_module()
    dists = distributions(spec)
    states = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED, "failed": optuna.trial.TrialState.FAIL}
    added = 0
    for t in trials:
        if t.state not in states or set(t.params) != set(dists):
            continue
        if not all(_fits(dists[k], v) for k, v in t.params.items()):
            continue
        values = t.values if t.state == "complete" else None
        if t.state == "complete" and (values is None or len(values) != len(spec.objectives)):
            continue
        system: dict[str, Any] = {}
        if spec.constraints:
            system[CONSTRAINTS_KEY] = _violations(spec.constraints, t.metrics)
        frozen = optuna.trial.create_trial(
            state=states[t.state],
            params=t.params,
            distributions=dists,
            values=values,
            intermediate_values={int(k): v for k, v in t.intermediate.items()},
            user_attrs={"metrics": t.metrics},
            system_attrs=system,
        )
        study.add_trial(frozen)
        added += 1
    return added


def _fits(dist: Any, value: Any) -> bool:
    """The value is one this search space could have sampled (warm starts from other spaces)."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


#: fANOVA's cost grows fast with trials (9.6 s for 500, 285 s for 9,000 here): importances are computed on
#: at most this many complete trials, spread evenly over the job
IMPORTANCE_SAMPLE = 200


def evenly(items: Sequence[Trial], limit: int) -> list[Trial]:
    """At most ``limit`` of ``items``, spread evenly (all of them when there are no more)."""
    if len(items) <= limit:
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


def importances(spec: TuningSpec, trials: Sequence[Trial]) -> dict[str, float]:
    """fANOVA importances of the parameters for the first objective (needs two complete trials), on at most
    :data:`IMPORTANCE_SAMPLE` complete trials spread evenly over the job."""
    complete = evenly([t for t in trials if t.state == "complete" and t.values], IMPORTANCE_SAMPLE)
    if len(complete) < 2 or len(spec.params) < 1:
        return {}
    optuna = optuna_module()
    study = optuna.create_study(directions=[o.direction for o in spec.objectives])
    add_trials(study, spec.model_copy(update={"constraints": []}), complete)
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        target = (lambda t: t.values[0]) if spec.multi_objective else None
        found = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target)
    except (RuntimeError, ValueError):  # every trial has the same value: nothing to attribute
        return {}
    return {k: float(v) for k, v in found.items()}
