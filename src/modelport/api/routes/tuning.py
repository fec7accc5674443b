"""/api/v1/tuning-jobs: hyperparameter tuning jobs — start, list, show, stop, resume, export, register.

The server runs a job in a background thread and answers at once; clients
poll ``GET /api/v1/tuning-jobs/{name}`` until its status is terminal.  A
``trial`` module and a ``command``'s folder are the server's (``workdir``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from modelport.api.auth import Principal, require
from modelport.api.bodies import StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.domain import ModelVersion, Page
from modelport.tuning.job import TuningJob
from modelport.tuning.spec import TuningSpec

router = APIRouter(prefix="/tuning-jobs", tags=["tuning"], route_class=StrictJSONRoute)
Read = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class RegisterTrial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trial: int | None = None
    name: str | None = None
    alias: str | None = None
    to_onnx: bool | None = None


@router.post("", response_model=TuningJob, status_code=201)
def start_tuning_job(body: TuningSpec, svc: Svc, who: Admin) -> TuningJob:
    """Check a tuning job, then run it in the background."""
    body.check()
    job = svc.tuning.create(body, created_by=who.name)
    return svc.tuning.start(job.name)


@router.get("", response_model=Page[TuningJob])
def list_tuning_jobs(
    svc: Svc,
    _: Read,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> Page[TuningJob]:
    return svc.tuning.list(status=status, limit=limit, page_token=page_token)


@router.get("/{name}", response_model=TuningJob)
def get_tuning_job(name: str, svc: Svc, _: Read, importances: bool = True) -> TuningJob:
    """The job with its trials, best trial, Pareto marks and (``importances``) parameter importances."""
    return svc.tuning.get(name, importances=importances)


_TABLE = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/{name}/trials",
    response_class=Response,
    responses={200: {"description": "The trials table", "content": {"text/csv": _TABLE, "application/x-parquet": _TABLE}}},
)
def export_trials(name: str, svc: Svc, _: Read, format: Literal["csv", "parquet"] = "csv") -> Response:
    """The trials table as CSV or Parquet."""
    with tempfile.TemporaryDirectory() as tmp:
        path = svc.tuning.export(name, Path(tmp) / f"trials.{format}", format=format)
        data = path.read_bytes()
    media = "text/csv" if format == "csv" else "application/x-parquet"
    return Response(data, media_type=media)


@router.post("/{name}/stop", response_model=TuningJob)
def stop_tuning_job(name: str, svc: Svc, _: Admin) -> TuningJob:
    return svc.tuning.stop(name)


@router.post("/{name}/resume", response_model=TuningJob)
def resume_tuning_job(name: str, svc: Svc, _: Admin) -> TuningJob:
    """Run an interrupted, failed or stopped job on: finished trials kept, unfinished ones rerun."""
    return svc.tuning.start(name)


@router.post("/{name}/register", response_model=ModelVersion, status_code=201)
def register_trial(name: str, body: RegisterTrial, svc: Svc, _: Admin) -> ModelVersion:
    """Register a trial's model (the best unless ``trial``) with its parameters, metrics and lineage."""
    return svc.tuning.register(
        name, trial=body.trial, model_name=body.name, alias=body.alias, to_onnx=body.to_onnx, isolate=True
    )
