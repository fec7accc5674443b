"""/api/v1: asynchronous inference, modelport's own interface (SageMaker's is ``POST /endpoints/{name}/async-invocations``).

``POST /api/v1/async-inputs`` stores an input (streamed, never held in memory) and returns its location;
``POST /api/v1/endpoints/{name}/async-invocations`` queues a request for an input location and answers 202;
``GET /api/v1/async-invocations[/{id}]`` lists and shows requests, ``POST …/{id}/cancel`` cancels one.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from modelport.api.auth import Principal, may_read_server_files, require
from modelport.api.bodies import RequestBody, StrictJSONRoute, spooled
from modelport.api.routes.models import Svc
from modelport.async_inference.queue import AsyncInference
from modelport.domain import Page
from modelport.errors import NotFound, PermissionDenied

router = APIRouter(tags=["async inference"], route_class=StrictJSONRoute)
Invoke = Annotated[Principal, Depends(require("invoke"))]


def _reader_or_invoker(request: Request) -> Principal:
    """Read tokens see every request; invoke tokens only those they submitted (:func:`_owned`)."""
    try:
        return require("read")(request)
    except PermissionDenied:
        return require("invoke")(request)


Read = Annotated[Principal, Depends(_reader_or_invoker)]


def _only_own(who: Principal) -> bool:
    """An invoke token follows and cancels what it submitted, not other callers' requests (their inputs and outputs)."""
    return who.scope == "invoke"


def _owned(item: AsyncInference, who: Principal) -> AsyncInference:
    if _only_own(who) and item.created_by != who.name:
        raise NotFound(f"async inference {item.id!r} does not exist")  # as for an id nobody used
    return item

_RAW_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class AsyncRequest(RequestBody):
    input_location: str
    """``s3://bucket/key``, a location ``POST /api/v1/async-inputs`` returned, or (admin tokens, auth off) a
    file the server can read."""
    inference_id: str | None = None
    """Idempotency key: the same id again returns the first request; default a new UUID."""
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    ttl_s: float | None = Field(default=None, description="RequestTTLSeconds: expire if not started by then.")
    timeout_s: float | None = Field(default=None, description="InvocationTimeoutSeconds: longest run.")


class StoredInput(BaseModel):
    location: str
    size: int


@router.post("/async-inputs", response_model=StoredInput, status_code=201, openapi_extra=_RAW_BODY)
async def upload_input(request: Request, svc: Svc, _: Invoke) -> StoredInput:
    """Store an asynchronous inference input (up to ``async_max_input_bytes``); the body is streamed to disk."""
    limit = svc.settings.async_max_input_bytes
    async with spooled(request, limit=limit, folder=svc.settings.spool_dir, what="input", carries="the input") as (tmp, size):
        location = await anyio.to_thread.run_sync(svc.async_inference.store_input, tmp)
        return StoredInput(location=location, size=size)


@router.post("/endpoints/{name}/async-invocations", response_model=AsyncInference, status_code=202)
def submit(name: str, body: AsyncRequest, svc: Svc, who: Invoke) -> AsyncInference:
    item, _ = svc.async_inference.submit(
        name,
        body.input_location,
        inference_id=body.inference_id,
        content_type=body.content_type,
        accept=body.accept,
        custom_attributes=body.custom_attributes,
        ttl_s=body.ttl_s,
        timeout_s=body.timeout_s,
        created_by=who.name,
        may_read_files=may_read_server_files(who.scope),
    )
    return item


@router.get("/async-invocations", response_model=Page[AsyncInference])
def list_async(
    svc: Svc,
    who: Read,
    endpoint: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> Page[AsyncInference]:
    return svc.async_inference.list(  # type: ignore[no-any-return]
        endpoint=endpoint, status=status, created_by=who.name if _only_own(who) else None, limit=limit,
        page_token=page_token,
    )  # fmt: skip


@router.get("/async-invocations/{inference_id}", response_model=AsyncInference)
def get_async(inference_id: str, svc: Svc, who: Read) -> AsyncInference:
    return _owned(svc.async_inference.get(inference_id), who)


@router.post("/async-invocations/{inference_id}/cancel", response_model=AsyncInference)
def cancel_async(inference_id: str, svc: Svc, who: Invoke) -> AsyncInference:
    _owned(svc.async_inference.queue.get(inference_id), who)
    return svc.async_inference.cancel(inference_id)
