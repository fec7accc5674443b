"""POST /api/v1/endpoints/{name}/feedback: ground truth for captured predictions (monitoring/feedback.py)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from modelport.api.auth import Principal, require
from modelport.api.bodies import StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.monitoring.feedback import DEFAULT_ID_COLUMN, DEFAULT_LABEL_COLUMN, FeedbackReceipt, parse_body
from modelport.services import Services

router = APIRouter(prefix="/endpoints", tags=["endpoints"], route_class=StrictJSONRoute)
# whoever calls the model reports what really happened: the invoke scope (admin and trust-code too)
Invoke = Annotated[Principal, Depends(require("invoke"))]


class FeedbackReply(BaseModel):
    received: int
    """Records in the request."""
    updated: int
    """Of those, labels that replaced one sent before for the same inference id."""


@router.post(
    "/{name}/feedback",
    response_model=FeedbackReply,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/jsonlines": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def send_feedback(
    name: str,
    request: Request,
    svc: Svc,
    _: Invoke,
    id_column: Annotated[str, Query(max_length=255)] = DEFAULT_ID_COLUMN,
    label_column: Annotated[str, Query(max_length=255)] = DEFAULT_LABEL_COLUMN,
    timestamp_column: Annotated[str | None, Query(max_length=255)] = None,
) -> FeedbackReply:
    """Labels by inference id: ``[{"inference_id", "label", "timestamp"?}]``, ``{"records": [...]}``,
    JSON lines or CSV.  Ids that match no captured prediction are stored and counted by quality
    reports as unmatched; a malformed record refuses the request (400 naming it)."""
    body = await request.body()
    content_type = request.headers.get("content-type")

    def store(services: Services) -> FeedbackReceipt:
        services.endpoints.get(name)  # 404 before anything is parsed
        records = parse_body(
            body, content_type, id_column=id_column, label_column=label_column, timestamp_column=timestamp_column
        )
        return services.feedback.send(name, records)

    receipt = await anyio.to_thread.run_sync(store, svc)
    return FeedbackReply(received=receipt.received, updated=receipt.updated)
