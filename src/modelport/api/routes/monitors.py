"""/api/v1/monitors: drift and data quality of endpoints' captured traffic against their baselines.

A run asked for here (``POST /monitors/{name}/runs``) runs while the call
waits and answers the finished run; scheduled runs happen inside the servers
(docs/monitoring.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import Field

from modelport.api.auth import Principal, require
from modelport.api.bodies import RequestBody, StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.monitoring.monitor import DatasetBaseline, Monitor, MonitorDetails, MonitorRun
from modelport.store import check_sha256

router = APIRouter(prefix="/monitors", tags=["monitors"], route_class=StrictJSONRoute)
Read = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class CreateMonitor(RequestBody):
    name: str
    endpoint: str
    variant: str | None = None
    """One variant; default every live variant, each judged on its own."""
    every: str | None = None
    """Run every so long: ``1h``, ``30m`` (aligned to the clock)."""
    cron: str | None = None
    """Or on a 5-field cron expression, in UTC: ``0 * * * *``."""
    window: str | None = None
    """How much capture a run judges (default ``every``, else 1h)."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Thresholds per feature, as in monitor.yaml."""


class RunMonitor(RequestBody):
    since: datetime | None = None
    """Default ``until`` minus the monitor's window; cut to the minute (a time without zone is UTC)."""
    until: datetime | None = None
    """Default now; cut to the minute."""
    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    """Dask scheduler address for ``engine: dask`` (default a local cluster)."""


class CreateBaseline(RequestBody):
    model: str
    """``churn:3``, ``churn@champion`` or ``churn``."""
    data_sha256: str | None = None
    """A dataset uploaded to ``PUT /api/v1/artifacts/{sha256}`` (CSV, JSON Lines or Parquet)."""
    data_filename: str | None = None
    """The dataset's file name (its format comes from its extension)."""
    statistics: dict[str, Any] | None = None
    """Or: SageMaker Model Monitor's statistics.json to import ..."""
    constraints: dict[str, Any] | None = None
    """... and its constraints.json."""
    config: dict[str, Any] | None = None
    """Thresholds written into the new constraints.json."""


@router.post("", response_model=Monitor, status_code=201)
def create_monitor(body: CreateMonitor, svc: Svc, who: Admin) -> Monitor:
    return svc.monitors.create(
        body.name,
        endpoint=body.endpoint,
        variant=body.variant,
        every=body.every,
        cron=body.cron,
        window=body.window,
        config=body.config,
        created_by=who.name,
    )


@router.get("", response_model=list[Monitor])
def list_monitors(svc: Svc, _: Read) -> list[Monitor]:
    return svc.monitors.list()


@router.post("/baselines", response_model=DatasetBaseline, status_code=201)
def create_baseline(body: CreateBaseline, svc: Svc, who: Admin) -> DatasetBaseline:
    """A dataset baseline for a model version (SageMaker's suggest_baseline), or imported SageMaker files."""
    data = None
    if body.data_sha256 is not None:
        artifacts = svc.artifacts
        data = artifacts.local_path(artifacts.uri_for(check_sha256(body.data_sha256)), body.data_sha256)
    return svc.monitors.baseline(
        body.model,
        data=data,
        data_name=body.data_filename or "data.csv",
        statistics=body.statistics,
        constraints=body.constraints,
        config=body.config,
        created_by=who.name,
    )


@router.get("/{name}", response_model=MonitorDetails)
def show_monitor(name: str, svc: Svc, _: Read, runs: Annotated[int, Query(ge=1, le=1000)] = 10) -> MonitorDetails:
    """The monitor, its last runs (per-feature results, violations) and its alerts."""
    return svc.monitors.show(name, runs=runs)


@router.delete("/{name}", status_code=204)
def delete_monitor(name: str, svc: Svc, _: Admin) -> None:
    svc.monitors.delete(name)


@router.post("/{name}/runs", response_model=MonitorRun, status_code=201)
def run_monitor(name: str, svc: Svc, _: Admin, body: Annotated[RunMonitor | None, Body()] = None) -> MonitorRun:
    """Run now over ``[since, until)`` (no body: the monitor's window up to now); answers the finished run
    (a failure is recorded, then answered)."""
    body = body or RunMonitor()
    return svc.monitors.run(name, since=body.since, until=body.until, engine=body.engine, scheduler=body.scheduler)


@router.get("/{name}/runs", response_model=list[MonitorRun])
def list_runs(name: str, svc: Svc, _: Read, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[MonitorRun]:
    return svc.monitors.runs(name, limit=limit)
