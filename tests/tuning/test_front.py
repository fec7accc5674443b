"""The Pareto front and the best trial under constraints (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

from modelport.tuning.front import best_trial, mark, pareto_front
from modelport.tuning.job import Trial
from modelport.tuning.spec import TuningSpec

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _trial(n: int, auc: float, latency: float, state: str = "complete") -> Trial:
    return Trial(number=n, state=state, metrics={"val_auc": auc, "latency_p99_ms": latency}, values=[auc, latency], started_at=NOW)  # type: ignore[arg-type]


def test_pareto_front_keeps_the_points_nothing_beats_on_every_objective() -> None:
    points = [[0.9, 2.0], [0.95, 3.0], [0.85, 1.0], [0.88, 2.5], [0.95, 3.5]]
    assert pareto_front(points, [True, False]) == [0, 1, 2]


def test_multi_objective_marks_the_front_and_the_best_is_on_it() -> None:
    spec = TuningSpec.build(objectives=["val_auc:max", "latency_p99_ms:min"], params=["d=int:1:3"], trial="m:f")
    trials = [_trial(0, 0.9, 2.0), _trial(1, 0.95, 3.0), _trial(2, 0.85, 1.0), _trial(3, 0.88, 2.5), _trial(4, 0.99, 0.1, "failed")]
    marked = mark(spec, trials)
    assert [t.number for t in marked if t.pareto] == [0, 1, 2]
    best = best_trial(spec, marked)
    assert best is not None and best.number == 1


def test_a_constraint_rules_out_the_trials_that_break_it() -> None:
    spec = TuningSpec.build(objectives=["val_auc:max"], params=["d=int:1:3"], constraints=["latency_p99_ms<=2"], trial="m:f")
    trials = [Trial(**{**_trial(n, a, lat).model_dump(), "values": [a]}) for n, a, lat in [(0, 0.9, 1.5), (1, 0.97, 2.5), (2, 0.93, 2.0)]]
    marked = mark(spec, trials)
    assert [t.feasible for t in marked] == [True, False, True]
    best = best_trial(spec, marked)
    assert best is not None and best.number == 2
