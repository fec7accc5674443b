"""/api/v1/experiments: A/B tests and bandits between an endpoint's variants (docs/experiments.md).

Starting one changes the endpoint's weights (a new revision, named as the
experiment's); the decisions are taken inside the servers (the evaluator).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import Field

from modelport.api.auth import Principal, require
from modelport.api.bodies import RequestBody, StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.experiments.experiment import Experiment, ExperimentDetails

router = APIRouter(prefix="/experiments", tags=["experiments"], route_class=StrictJSONRoute)
Read = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class StartExperiment(RequestBody):
    name: str
    endpoint: str
    control: str
    """The variant to compare against."""
    treatment: str
    metric: str | None = None
    """accuracy, error, reward (feedback); error_rate, latency (data plane); output:prediction,
    output:probabilities[1] (captured replies).  Default error_rate."""
    direction: Literal["increase", "decrease"] | None = None
    """Which way is better (default: the metric's own)."""
    mode: Literal["sequential", "fixed", "bandit"] = "sequential"
    alpha: float = 0.05
    mde: float | str | None = None
    """The smallest difference worth finding, in the metric's units: 0.02 or "2pp"."""
    max_samples: int | None = Field(default=None, ge=1)
    """Samples per arm after which an undecided experiment ends (default from the MDE)."""
    guardrails: list[str] = Field(default_factory=list)
    """``error_rate:+0.5pp``, ``latency_p99:+20%``: how much worse the treatment may be."""
    on_win: Literal["promote", "none"] = "none"
    on_breach: Literal["rollback", "none"] = "rollback"
    unit: str | None = None
    """``header:X-User-Id``: the same unit always gets the same arm."""
    split: dict[str, float] | str | None = None
    """``"90/10"`` (control/treatment) or ``{"a": 90, "b": 10}``; default 50/50 (not for bandits)."""
    min_share: float = 0.05
    """Bandit: the least share of traffic each arm keeps."""
    promote_alias: str | None = None
    """On promotion, point this alias of the winner's model at its version."""
    srm: Literal["chi-square", "sequential"] = "chi-square"
    """What flags a sample-ratio mismatch: the chi-square's p < 0.001, or the anytime-valid p-value."""


class StopExperiment(RequestBody):
    reason: str | None = Field(default=None, max_length=1000)
    restore: bool = False
    """Put the arms' weights back as they were before the experiment."""


@router.post("", response_model=Experiment, status_code=201)
def start_experiment(body: StartExperiment, svc: Svc, who: Admin) -> Experiment:
    """Check everything, then take the endpoint's weights between the two arms."""
    return svc.experiments.start(
        body.name,
        endpoint=body.endpoint,
        control=body.control,
        treatment=body.treatment,
        metric=body.metric,
        direction=body.direction,
        mode=body.mode,
        alpha=body.alpha,
        mde=body.mde,
        max_samples=body.max_samples,
        guardrails=body.guardrails,
        on_win=body.on_win,
        on_breach=body.on_breach,
        unit=body.unit,
        split=body.split,
        min_share=body.min_share,
        promote_alias=body.promote_alias,
        srm=body.srm,
        created_by=who.name,
    )


@router.get("", response_model=list[Experiment])
def list_experiments(
    svc: Svc,
    _: Read,
    status: Literal["running", "ended"] | None = None,
    endpoint: Annotated[str | None, Query(max_length=63)] = None,
) -> list[Experiment]:
    return svc.experiments.list(status=status, endpoint=endpoint)


@router.get("/{name}", response_model=ExperimentDetails)
def show_experiment(
    name: str, svc: Svc, _: Read, events: Annotated[int, Query(ge=1, le=1000)] = 100
) -> ExperimentDetails:
    """The experiment, its latest look (per arm n, metric and interval; lift, p-value, SRM, guardrails,
    decision) and its events."""
    return svc.experiments.show(name, events=events)


@router.post("/{name}/stop", response_model=Experiment)
def stop_experiment(
    name: str, svc: Svc, who: Admin, body: Annotated[StopExperiment | None, Body()] = None
) -> Experiment:
    """End a running experiment; the weights stay as they are unless ``restore``."""
    body = body or StopExperiment()
    return svc.experiments.stop(name, reason=body.reason, restore=body.restore, by=who.name)
