"""Experiments as the API, CLI and SDK see them (domain objects; also the REST schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["sequential", "fixed", "bandit"]
Status = Literal["running", "ended"]
Direction = Literal["increase", "decrease"]
OnWin = Literal["promote", "none"]
OnBreach = Literal["rollback", "none"]
SRMTest = Literal["chi-square", "sequential"]

#: what ``show`` reports an experiment decided (``stopped``: ended by hand, or by a change made by hand)
DECISIONS = ("running", "treatment_wins", "control_wins", "no_difference", "guardrail_breached", "srm", "stopped")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ExperimentSpec(_Model):
    """How an experiment judges its arms and what it does with a decision (docs/experiments.md)."""

    metric: str = "error_rate"
    """``accuracy``, ``error``, ``reward`` (feedback); ``error_rate``, ``latency`` (data plane);
    ``output:prediction``, ``output:probabilities[1]`` (a captured output's mean)."""
    direction: Direction = "increase"
    """Which way is better for the metric (its default: ``decrease`` for error, error_rate, latency)."""
    mode: Mode = "sequential"
    alpha: float = 0.05
    mde: float | None = None
    """The smallest difference worth finding, in the metric's units (``2pp`` = 0.02)."""
    max_samples: int | None = None
    """Samples per arm after which an undecided experiment ends with no difference (default from ``mde``)."""
    guardrails: list[str] = Field(default_factory=list)
    """``error_rate:+0.5pp``, ``latency_p99:+20%``, ``accuracy:-1pp``: how much worse the treatment may be."""
    on_win: OnWin = "none"
    on_breach: OnBreach = "rollback"
    unit: str | None = None
    """``header:X-User-Id``: the same unit always gets the same arm."""
    split: dict[str, float] = Field(default_factory=dict)
    """Weights of control and treatment (sequential, fixed); default 50/50."""
    min_share: float = 0.05
    """Bandit: the least share of traffic each arm keeps."""
    promote_alias: str | None = None
    """On promotion, also point this alias of the winner's model at the winner's version."""
    srm: SRMTest = "chi-square"
    """What flags a sample-ratio mismatch: the chi-square's p < 0.001 at the look, or the anytime-valid
    p-value (fewer false flags when looked at every few seconds, a little less power: docs)."""
    shadow: bool = False
    """The treatment is a shadow variant: compared on the same requests as the control (set at start)."""


class Experiment(_Model):
    id: int
    name: str
    endpoint: str
    control: str
    treatment: str
    spec: ExperimentSpec
    status: Status
    decision: str
    """running | treatment_wins | control_wins | no_difference | guardrail_breached | srm | stopped."""
    result: dict[str, Any] = Field(default_factory=dict)
    """The latest look: per arm n, metric and interval; lift and interval, p-value, SRM, guardrails."""
    stop_reason: str | None = None
    created_by: str
    started_at: datetime
    evaluated_at: datetime | None = None
    ended_at: datetime | None = None
    state: dict[str, Any] = Field(default_factory=dict, exclude=True)
    """What the evaluator carries from one look to the next (not part of the API)."""

    @property
    def arms(self) -> tuple[str, str]:
        return self.control, self.treatment

    @property
    def cause(self) -> str:
        """``created_by`` of the endpoint revisions this experiment makes."""
        return f"experiment:{self.name}"


class ExperimentEvent(_Model):
    id: int
    kind: str
    """started, weights, decision, promoted, rolled_back, ended, stopped, manual_change, error."""
    detail: dict[str, Any] = Field(default_factory=dict)
    at: datetime


class ExperimentDetails(_Model):
    experiment: Experiment
    events: list[ExperimentEvent]
