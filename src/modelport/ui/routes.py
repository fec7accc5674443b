"""The console's router with every section registered, and the 404 page last (it catches the rest of /ui)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from modelport.ui import endpoint_pages, experiment_pages, job_pages, models_pages, monitor_pages, tuning_pages  # noqa: F401
from modelport.ui.console import not_found, page, router
from modelport.ui.session import Viewer

__all__ = ["router"]


@router.get("/{rest:path}")
@page
def missing(request: Request, viewer: Viewer, rest: str) -> Response:
    return not_found(request, f"There is no page at {request.url.path}.", viewer)
