"""Jobs: batch transform jobs with their progress (live while any runs), paged with a cursor."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from modelport.ui.console import json_response, page, render, router, services_of, viewer_of
from modelport.ui.session import LoginNeeded, Viewer

PAGE_SIZE = 50


@router.get("/jobs")
@page
def jobs(request: Request, viewer: Viewer) -> Response:
    cursor = request.query_params.get("cursor") or None
    status = request.query_params.get("status") or None
    svc = services_of(request)
    result = svc.transforms.list(limit=PAGE_SIZE, page_token=cursor, status=status)
    async_rows = [i.model_dump(mode="json") for i in svc.async_inference.list(limit=PAGE_SIZE).items]
    return render(
        request,
        "jobs.html",
        viewer=viewer,
        jobs=result.items,
        next_cursor=result.next_page_token,
        status=status or "",
        async_rows=async_rows,
    )


@router.get("/jobs/progress")
def progress(request: Request) -> Response:
    """Progress of the jobs on the first page, polled by the page while one of them runs."""
    try:
        viewer_of(request)
    except LoginNeeded:
        return Response(status_code=401)
    page_ = services_of(request).transforms.list(limit=PAGE_SIZE)
    return json_response(
        {
            j.id: {
                "status": j.status,
                "inputs": j.progress.inputs,
                "inputs_done": j.progress.inputs_done,
                "bytes_total": j.progress.bytes_total,
                "bytes_done": j.progress.bytes_done,
                "records": j.progress.records,
                "bad_records": j.progress.bad_records,
                "rows_per_second": round(j.rows_per_second, 1),
            }
            for j in page_.items
        }
    )
