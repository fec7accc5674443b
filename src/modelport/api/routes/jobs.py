"""/api/v1/jobs: batch transform jobs — start, list, show, cancel, resume.

The server runs a job in a background thread and answers at once; clients
poll ``GET /api/v1/jobs/{id}`` until its status is terminal.  Input and
output locations are read and written by the server (use ``s3://`` or paths
the server can see).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from modelport.api.auth import Principal, require
from modelport.api.bodies import StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.batch.job import TransformJob
from modelport.batch.spec import TransformSpec
from modelport.domain import Page

router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=StrictJSONRoute)
Read = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


@router.post("", response_model=TransformJob, status_code=201)
def start_job(body: TransformSpec, svc: Svc, who: Admin) -> TransformJob:
    """Check and plan a transform job, then run it in the background."""
    job = svc.transforms.create(body, created_by=who.name)
    return svc.transforms.start(job.id)


@router.get("", response_model=Page[TransformJob])
def list_jobs(
    svc: Svc,
    _: Read,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> Page[TransformJob]:
    return svc.transforms.list(status=status, limit=limit, page_token=page_token)  # type: ignore[no-any-return]


@router.get("/{job_id}", response_model=TransformJob)
def get_job(job_id: str, svc: Svc, _: Read) -> TransformJob:
    return svc.transforms.get(job_id)


@router.post("/{job_id}/cancel", response_model=TransformJob)
def cancel_job(job_id: str, svc: Svc, _: Admin) -> TransformJob:
    return svc.transforms.cancel(job_id)


@router.post("/{job_id}/resume", response_model=TransformJob)
def resume_job(job_id: str, svc: Svc, _: Admin) -> TransformJob:
    """Run a failed or interrupted job again from its last committed block."""
    return svc.transforms.start(job_id)
