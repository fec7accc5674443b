"""/api/v1/artifacts: streamed, size-limited, sha256-checked uploads."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request

from modelport.api.auth import Principal, require
from modelport.api.bodies import StrictJSONRoute
from modelport.api.dataplane import declared_length
from modelport.domain import ArtifactUpload
from modelport.errors import InvalidArgument, PayloadTooLarge
from modelport.services import Services
from modelport.spool import spool_path
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
    declared = request.headers.get("content-length")
    if declared is not None:
        length = declared_length(declared)
        if length is None:
            raise InvalidArgument(f"invalid Content-Length {declared[:40]!r}")
        if length > limit:
            raise PayloadTooLarge(f"upload of {length} bytes exceeds the limit of {limit} bytes")
    tmp = spool_path(svc.settings.spool_dir, ".upload")
    try:
        total = 0
        with open(tmp, "wb") as fh:
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise PayloadTooLarge(f"upload exceeds the limit of {limit} bytes")
                fh.write(chunk)  # local disk, chunks of at most a few hundred KiB
        if total == 0:
            raise InvalidArgument("empty upload: the request body must carry the artifact bytes")
        return await anyio.to_thread.run_sync(lambda: svc.artifacts.put_file(tmp, sha256))
    finally:
        tmp.unlink(missing_ok=True)
