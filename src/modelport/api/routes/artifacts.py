"""/api/v1/artifacts: streamed, size-limited, sha256-checked uploads."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request

from modelport.api.auth import Principal, require
from modelport.api.bodies import StrictJSONRoute, spooled
from modelport.domain import ArtifactUpload
from modelport.services import Services
from modelport.store import check_sha256

router = APIRouter(prefix="/artifacts", tags=["artifacts"], route_class=StrictJSONRoute)
Admin = Annotated[Principal, Depends(require("admin"))]


_RAW_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.put("/{sha256}", response_model=ArtifactUpload, status_code=201, openapi_extra=_RAW_BODY)
async def upload(sha256: str, request: Request, _: Admin) -> ArtifactUpload:
    """Upload a blob; the body is streamed to disk, never held in memory."""
    svc: Services = request.app.state.services
    check_sha256(sha256)
    limit = svc.settings.max_upload_bytes
    async with spooled(request, limit=limit, folder=svc.settings.spool_dir, what="upload", carries="the artifact bytes") as (
        tmp,
        _size,
    ):
        return await anyio.to_thread.run_sync(lambda: svc.artifacts.put_file(tmp, sha256))
