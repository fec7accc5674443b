"""Models: the list (search, cursor paging), a model's versions, a version, two versions compared."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.responses import Response

from modelport.domain import ModelRef, ModelVersion
from modelport.errors import InvalidArgument
from modelport.ui.charts import Bar, bars
from modelport.ui.console import page, render, router, services_of
from modelport.ui.session import Viewer

PAGE_SIZE = 50


def feature_chart(feature: dict[str, Any]) -> Any:
    """A baseline feature's histogram (numbers) or category counts (strings)."""
    name = str(feature.get("name"))
    if feature.get("histogram"):
        items = [Bar(_edge(h["lower_bound"]), float(h["count"])) for h in feature["histogram"]]
        return bars(items, title=f"baseline histogram of {name}")
    if feature.get("top"):
        items = [Bar(str(t["value"]), float(t["count"])) for t in feature["top"][:20]]
        return bars(items, title=f"baseline categories of {name}")
    return bars([], title=name)


def _edge(value: float) -> str:
    return f"{value:.3g}"


@router.get("")
@router.get("/")
@page
def home(request: Request, viewer: Viewer) -> Response:
    from starlette.responses import RedirectResponse

    return RedirectResponse("/ui/models", status_code=303)


@router.get("/models")
@page
def models(request: Request, viewer: Viewer) -> Response:
    q = request.query_params.get("q") or None
    cursor = request.query_params.get("cursor") or None
    result = services_of(request).registry.list_models(limit=PAGE_SIZE, page_token=cursor, name_contains=q)
    return render(request, "models.html", viewer=viewer, models=result.items, next_cursor=result.next_page_token, q=q or "")


@router.get("/models/{name}")
@page
def model(request: Request, viewer: Viewer, name: str) -> Response:
    svc = services_of(request)
    m = svc.registry.get_model(name)
    cursor = request.query_params.get("cursor") or None
    versions = svc.registry.list_versions(name, limit=PAGE_SIZE, page_token=cursor)
    return render(request, "model.html", viewer=viewer, model=m, versions=versions.items, next_cursor=versions.next_page_token)


@router.get("/models/{name}/versions/{version}")
@page
def version(request: Request, viewer: Viewer, name: str, version: str) -> Response:
    svc = services_of(request)
    mv = svc.registry.get_version(_ref(name, version))
    features = mv.baseline.get("features") or []
    charts = [(f, feature_chart(f)) for f in features]
    from modelport.endpoints.store import EndpointStore

    endpoints = EndpointStore(svc.db).models_in_use().get(f"{mv.name}:{mv.version}", [])
    return render(
        request,
        "version.html",
        viewer=viewer,
        mv=mv,
        charts=charts,
        lineage=lineage(mv),
        endpoints=endpoints,
        conversion=json.dumps(mv.conversion, indent=2, default=str) if mv.conversion else "",
    )


def lineage(mv: ModelVersion) -> list[tuple[str, str]]:
    """Where a version came from: its source (run, path, commit…), what it was converted from, who registered it."""
    out = [(f"source.{k}", _text(v)) for k, v in sorted(mv.source.items())]
    for key in ("from_format", "source_sha256", "converter"):
        if key in mv.conversion:
            out.append((f"conversion.{key}", _text(mv.conversion[key])))
    out.append(("artifact", mv.sha256))
    out.append(("registered", f"{mv.created_at:%Y-%m-%d %H:%M} by {mv.created_by or '?'}"))
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _ref(name: str, version: str) -> ModelRef:
    if version.isdigit():
        return ModelRef.parse(f"{name}:{version}")
    return ModelRef.parse(f"{name}@{version}")


def comparison(a: ModelVersion, b: ModelVersion) -> list[tuple[str, str, str]]:
    """(field, a, b) rows over everything two versions carry."""
    rows: list[tuple[str, str, str]] = [
        ("format", a.format, b.format),
        ("size (bytes)", str(a.size), str(b.size)),
        ("sha256", a.sha256[:16], b.sha256[:16]),
        ("aliases", ", ".join(a.aliases), ", ".join(b.aliases)),
        ("created", f"{a.created_at:%Y-%m-%d %H:%M}", f"{b.created_at:%Y-%m-%d %H:%M}"),
        ("description", a.description, b.description),
    ]

    def section(prefix: str, left: dict[str, Any], right: dict[str, Any]) -> None:
        for key in sorted(set(left) | set(right)):
            rows.append((f"{prefix}.{key}", _cell(left.get(key)), _cell(right.get(key))))

    section("metric", a.metrics, b.metrics)
    section("param", a.params, b.params)
    section("tag", a.tags, b.tags)
    section("input", _columns(a), _columns(b))
    section("output", _columns(a, "outputs"), _columns(b, "outputs"))
    return rows


def _columns(mv: ModelVersion, key: str = "inputs") -> dict[str, str]:
    return {str(c.get("name")): str(c.get("dtype", "")) for c in mv.signature.get(key) or []}


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@router.get("/models/{name}/compare")
@page
def compare(request: Request, viewer: Viewer, name: str) -> Response:
    svc = services_of(request)
    model = svc.registry.get_model(name)
    a, b = request.query_params.get("a"), request.query_params.get("b")
    if not a or not b:
        latest = model.latest_version or 1
        a, b = a or str(max(1, latest - 1)), b or str(latest)
    if not a.isdigit() or not b.isdigit():
        raise InvalidArgument("compare takes version numbers: ?a=1&b=2")
    va, vb = svc.registry.get_version(_ref(name, a)), svc.registry.get_version(_ref(name, b))
    only = request.query_params.get("diff") == "1"
    rows = [(field, x, y, x != y) for field, x, y in comparison(va, vb)]
    if only:
        rows = [r for r in rows if r[3]]
    return render(request, "compare.html", viewer=viewer, model=model, a=va, b=vb, rows=rows, only=only)
