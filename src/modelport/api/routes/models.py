"""/api/v1/models: models, versions, aliases, artifact downloads."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from modelport.api.auth import Principal, require
from modelport.api.bodies import RequestBody, StrictJSONRoute
from modelport.domain import (
    Alias,
    Model,
    ModelRef,
    ModelVersion,
    NonNegativeInt64,
    Page,
    PositiveInt64,
    RegisterOptions,
    RegisterRequest,
)
from modelport.errors import InvalidArgument, PermissionDenied
from modelport.services import Services

router = APIRouter(prefix="/models", tags=["models"], route_class=StrictJSONRoute)

Read = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(services)]


def parse_tags(tag: list[str] | None) -> dict[str, str] | None:
    if not tag:
        return None
    out: dict[str, str] = {}
    for item in tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid tag filter {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def version_ref(name: str, version: str) -> ModelRef:
    if version == "latest":
        return ModelRef.parse(name)
    return ModelRef.parse(f"{name}:{version}")


class CreateModel(RequestBody):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateModel(RequestBody):
    description: str | None = None
    tags: dict[str, str] | None = None


class RegisterBody(RequestBody):
    """A version whose artifact was uploaded with ``PUT /api/v1/artifacts/{sha256}``."""

    format: str | None = None
    filename: str = "model"
    sha256: str
    size: NonNegativeInt64 | None = Field(default=None, description="Optional; the server measures the bytes and refuses a size that disagrees.")
    description: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict)
    signature: dict[str, Any] = Field(default_factory=dict)
    options: RegisterOptions = Field(default_factory=RegisterOptions)


class SetAlias(RequestBody):
    version: PositiveInt64


@router.get("", response_model=Page[Model])
def list_models(
    svc: Svc,
    _: Read,
    limit: int = 100,
    page_token: str | None = None,
    name_contains: str | None = None,
    tag: Annotated[list[str] | None, Query()] = None,
) -> Page[Model]:
    return svc.registry.list_models(limit=limit, page_token=page_token, name_contains=name_contains, tags=parse_tags(tag))


@router.post("", response_model=Model, status_code=201)
def create_model(body: CreateModel, svc: Svc, _: Admin) -> Model:
    return svc.registry.create_model(body.name, description=body.description, tags=body.tags)


@router.get("/{name}", response_model=Model)
def get_model(name: str, svc: Svc, _: Read) -> Model:
    return svc.registry.get_model(name)


@router.patch("/{name}", response_model=Model)
def update_model(name: str, body: UpdateModel, svc: Svc, _: Admin) -> Model:
    return svc.registry.update_model(name, description=body.description, tags=body.tags)


@router.delete("/{name}", response_model=list[ModelVersion])
def delete_model(name: str, svc: Svc, _: Admin, force: bool = False) -> list[ModelVersion]:
    return svc.registry.delete_model(name, force=force)


@router.get("/{name}/versions", response_model=Page[ModelVersion])
def list_versions(
    name: str,
    svc: Svc,
    _: Read,
    limit: int = 100,
    page_token: str | None = None,
    format: str | None = None,
    tag: Annotated[list[str] | None, Query()] = None,
) -> Page[ModelVersion]:
    return svc.registry.list_versions(name, limit=limit, page_token=page_token, format=format, tags=parse_tags(tag))


@router.post("/{name}/versions", response_model=ModelVersion, status_code=201)
def register_version(name: str, body: RegisterBody, svc: Svc, who: Admin) -> ModelVersion:
    req = RegisterRequest(name=name, **dict(body))
    if req.options.trust and who.scope is not None and who.scope != "trust-code":
        raise PermissionDenied(
            "trusting a model's code (options.trust) needs a trust-code token: this token's scope is " + who.scope
        )
    # pickles are scanned here and loaded in a child process: a model's code never runs in the server
    return svc.registry.register_uploaded(req, created_by=who.name, isolate=True)


@router.get("/{name}/versions/{version}", response_model=ModelVersion)
def get_version(name: str, version: str, svc: Svc, _: Read) -> ModelVersion:
    return svc.registry.get_version(version_ref(name, version))


@router.delete("/{name}/versions/{version}", response_model=ModelVersion)
def delete_version(name: str, version: str, svc: Svc, _: Admin, force: bool = False) -> ModelVersion:
    ref = version_ref(name, version)
    return svc.registry.delete_version(ref, force=force)


def content_disposition(filename: str) -> str:
    """``attachment`` with the name quoted safely (RFC 6266): an ASCII fallback and the UTF-8 name (RFC 5987)."""
    name = PurePosixPath(filename.replace("\\", "/")).name or "model"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/{name}/versions/{version}/files/{role}",
    response_class=StreamingResponse,
    responses={200: {"description": "The file's bytes", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
def download_file(name: str, version: str, role: str, svc: Svc, _: Read) -> StreamingResponse:
    mv = svc.registry.get_version(version_ref(name, version))
    f = mv.file(role)
    chunks = svc.artifacts.open_chunks(f.uri, f.sha256)
    first = next(chunks, b"")  # verification happens here, before the status line is sent

    def body():  # type: ignore[no-untyped-def]
        yield first
        yield from chunks

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(f.filename),
            "X-Content-SHA256": f.sha256,
            "Content-Length": str(f.size),
        },
    )


@router.get("/{name}/aliases/{alias}", response_model=ModelVersion)
def get_alias(name: str, alias: str, svc: Svc, _: Read) -> ModelVersion:
    return svc.registry.get_version(ModelRef.parse(f"{name}@{alias}"))


@router.put("/{name}/aliases/{alias}", response_model=Alias)
def set_alias(name: str, alias: str, body: SetAlias, svc: Svc, _: Admin) -> Alias:
    return svc.registry.set_alias(name, alias, body.version)


@router.delete("/{name}/aliases/{alias}", status_code=204)
def delete_alias(name: str, alias: str, svc: Svc, _: Admin) -> None:
    svc.registry.delete_alias(name, alias)
