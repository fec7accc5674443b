"""/api/v1/endpoints: create, update (live), roll back, inspect, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from modelport.api.auth import Principal, require
from modelport.api.bodies import RequestBody, StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.domain import PositiveInt64
from modelport.endpoints.config import AsyncInferenceConfig, CaptureConfig, ConfigRevision, Endpoint, RoutingConfig
from modelport.endpoints.shadow_report import ShadowReport
from modelport.endpoints.stats import endpoint_stats

router = APIRouter(prefix="/endpoints", tags=["endpoints"], route_class=StrictJSONRoute)
Read = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class VariantSpec(RequestBody):
    name: str
    model: str
    """``churn:3``, ``churn@champion`` or ``churn``; pinned to a version when the config is written."""
    weight: float | None = None
    shadow: bool = False
    sample_percent: float | None = None
    max_batch_size: PositiveInt64 | None = None
    max_batch_wait_ms: float | None = None

    def fields(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        data["requested"] = data.pop("model")
        return data


class CreateEndpoint(RequestBody):
    name: str
    variants: list[VariantSpec]
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    async_inference: AsyncInferenceConfig | None = None
    """Take asynchronous invocations (docs/async.md); none: only real-time ones."""


class UpdateEndpoint(RequestBody):
    weights: dict[str, float] | None = None
    variants: list[VariantSpec] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    capture: CaptureConfig | None = None
    routing: RoutingConfig | None = None
    """Replaces the routing section as a whole (``{}`` clears it)."""
    async_inference: AsyncInferenceConfig | None = None
    """Replaces the asynchronous inference section as a whole (``{}``: on, with the defaults)."""
    remove_async: bool = False
    """Stop taking asynchronous invocations (those queued still run)."""


class Rollback(RequestBody):
    revision: PositiveInt64 | None = None


@router.post("", response_model=Endpoint, status_code=201)
def create_endpoint(body: CreateEndpoint, svc: Svc, who: Admin) -> Endpoint:
    return svc.endpoints.create(
        body.name,
        [v.fields() for v in body.variants],
        capture=body.capture,
        routing=body.routing,
        async_inference=body.async_inference,
        created_by=who.name,
    )


@router.get("", response_model=list[Endpoint])
def list_endpoints(svc: Svc, _: Read) -> list[Endpoint]:
    return svc.endpoints.list()


@router.get("/{name}", response_model=Endpoint)
def get_endpoint(name: str, svc: Svc, _: Read) -> Endpoint:
    return svc.endpoints.get(name)


@router.patch("/{name}", response_model=Endpoint)
def update_endpoint(name: str, body: UpdateEndpoint, svc: Svc, who: Admin) -> Endpoint:
    return svc.endpoints.update(
        name,
        weights=body.weights,
        variants=[v.fields() for v in body.variants],
        remove=body.remove,
        capture=body.capture,
        routing=body.routing,
        async_inference=body.async_inference,
        remove_async=body.remove_async,
        created_by=who.name,
    )


@router.post("/{name}/rollback", response_model=Endpoint)
def rollback_endpoint(name: str, body: Rollback, svc: Svc, who: Admin) -> Endpoint:
    return svc.endpoints.rollback(name, to_revision=body.revision, created_by=who.name)


@router.get("/{name}/history", response_model=list[ConfigRevision])
def endpoint_history(name: str, svc: Svc, _: Read) -> list[ConfigRevision]:
    return svc.endpoints.history(name)


@router.get("/{name}/stats")
def stats(name: str, request: Request, svc: Svc, _: Read) -> dict[str, Any]:
    """Recent figures of this server (all workers): requests, errors, latency, shadow agreement."""
    svc.endpoints.get(name)
    return endpoint_stats(request.app.state.metrics.collect_samples(), name)


@router.get("/{name}/shadow-report", response_model=list[ShadowReport])
def shadow_report(
    name: str,
    svc: Svc,
    _: Read,
    since: Annotated[datetime | None, Query(description="Start (default: since each shadow serves its model).")] = None,
    until: Annotated[datetime | None, Query(description="End (default: now).")] = None,
    confidence: Annotated[float, Query(gt=0, lt=1, description="Of the intervals.")] = 0.95,
) -> list[ShadowReport]:
    """Each shadow next to the live traffic on the same requests, over every server: label agreement,
    |diff| of numeric outputs, latency and failures, with intervals."""
    return svc.endpoints.shadow_report(name, since=since, until=until, confidence=confidence)


@router.delete("/{name}", status_code=204)
def delete_endpoint(name: str, svc: Svc, _: Admin) -> None:
    svc.endpoints.delete(name)
