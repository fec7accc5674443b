"""Tuning (P12): the hook. The section appears once ``Services`` has a ``tuning`` service; until a page made for
its jobs lands, this lists them with the fields they carry."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from modelport.errors import NotFound
from modelport.ui.console import page, render, router, services_of
from modelport.ui.session import Viewer

COLUMNS = ("name", "status", "best value", "trials", "runs", "created_at")


@router.get("/tuning")
@page
def tuning(request: Request, viewer: Viewer) -> Response:
    svc = services_of(request)
    service = getattr(svc, "tuning", None)
    if service is None:
        raise NotFound("tuning is not available on this server")
    listed: Any = service.list()
    items = listed.items if hasattr(listed, "items") and not isinstance(listed, dict) else listed
    rows = [summary(i.model_dump(mode="json") if hasattr(i, "model_dump") else dict(i)) for i in items]
    columns = [c for c in COLUMNS if any(c in r for r in rows)] or sorted({k for r in rows for k in r})[:8]
    return render(request, "tuning.html", viewer=viewer, rows=rows, columns=columns)


def summary(job: dict[str, Any]) -> dict[str, Any]:
    """A job's row: its best trial's value(s) and its trial count beside what it carries."""
    best = job.get("best") or {}
    values = best.get("values") if isinstance(best, dict) else None
    if values is not None:
        job["best value"] = ", ".join(f"{v:.6g}" for v in values)
    if isinstance(job.get("trials"), list):
        job["trials"] = len(job["trials"])
    return job
