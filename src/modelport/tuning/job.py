"""TuningJob and Trial: a tuning job as the registry records it and every interface shows it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelport.tuning.spec import TuningSpec

TuningStatus = Literal["pending", "running", "completed", "failed", "stopped"]
TUNING_STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "stopped")
TrialState = Literal["running", "complete", "pruned", "failed"]
FINISHED: frozenset[str] = frozenset({"complete", "pruned", "failed"})


class Trial(BaseModel):
    """One trial: its parameters, what it reported, and how it ended."""

    model_config = ConfigDict(extra="ignore")

    number: int
    state: TrialState
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    values: list[float] | None = None
    """The objectives' values in the spec's order."""
    intermediate: dict[str, float] = Field(default_factory=dict)
    reason: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)
    """``model`` (and ``sample``): files the trial left, for registering it."""
    attempts: int = 1
    started_at: datetime
    finished_at: datetime | None = None
    feasible: bool = True
    """Meets every ``--constraint``."""
    pareto: bool = False
    """On the Pareto front (multi-objective jobs)."""

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class TuningJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    status: TuningStatus
    spec: TuningSpec
    outcome: dict[str, Any] = Field(default_factory=dict)
    """Why it ended (``budget``, ``target``, ``timeout``, ``max_failed``, ``stopped``, ``not_improving``) and what was registered."""
    stop_requested: bool = False
    runs: int = 0
    failure_code: str | None = None
    failure_reason: str | None = None
    created_by: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    trials: list[Trial] = Field(default_factory=list)
    best: Trial | None = None
    """The best feasible complete trial (single objective), else the first of the Pareto front."""
    importances: dict[str, float] = Field(default_factory=dict)
    """Parameter importances (fANOVA) on the first objective; filled by ``tune show``."""

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed", "stopped")

    def counts(self) -> dict[str, int]:
        c = {"complete": 0, "pruned": 0, "failed": 0, "running": 0}
        for t in self.trials:
            c[t.state] += 1
        return c

    @property
    def finished_trials(self) -> int:
        return sum(1 for t in self.trials if t.state in FINISHED)


def summarize(job: TuningJob, trials: list[Trial]) -> TuningJob:
    """Mark feasibility, the Pareto front and the best trial (pure: from the spec and the trials)."""
    from modelport.tuning.front import best_trial, mark

    marked = mark(job.spec, trials)
    return job.model_copy(update={"trials": marked, "best": best_trial(job.spec, marked)})


def trial_row(trial: Trial) -> dict[str, Any]:
    """A flat record (``tune export``): number, state, params.*, metrics.*, duration."""
    row: dict[str, Any] = {"number": trial.number, "state": trial.state}
    row.update({f"params.{k}": v for k, v in trial.params.items()})
    row.update({f"metrics.{k}": v for k, v in trial.metrics.items()})
    row["duration_s"] = trial.duration_s
    row["feasible"] = trial.feasible
    row["pareto"] = trial.pareto
    row["reason"] = trial.reason
    return row


def write_trials(job: TuningJob, path: str | Path, *, format: str = "csv") -> Path:
    """The trials as a table file (``tune export``): CSV or Parquet."""
    import pandas as pd

    from modelport.errors import InvalidArgument

    if format not in ("csv", "parquet"):
        raise InvalidArgument(f"unknown export format {format!r}: expected csv or parquet")
    frame = pd.DataFrame([trial_row(t) for t in job.trials])
    out = Path(path)
    if format == "csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return out
