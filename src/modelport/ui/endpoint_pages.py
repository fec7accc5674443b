"""Endpoints: the list, an endpoint (variants, live figures, history, weights, rollback) and its "Try it" form."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from starlette.responses import Response

from modelport.domain import parse_version
from modelport.endpoints.config import Endpoint, Variant
from modelport.endpoints.stats import endpoint_stats
from modelport.endpoints.store import EndpointStore
from modelport.errors import InvalidArgument, NotFound
from modelport.ui.console import action, json_response, page, render, router, services_of
from modelport.ui.session import LoginNeeded, Viewer

PAGE_SIZE = 50


@router.get("/endpoints")
@page
def endpoints(request: Request, viewer: Viewer) -> Response:
    q = (request.query_params.get("q") or "").strip()
    after = request.query_params.get("after") or ""
    store = EndpointStore(services_of(request).db)
    shown, more = store.page(after=after, limit=PAGE_SIZE, name_contains=q)
    next_after = shown[-1].name if more and shown else None
    return render(
        request, "endpoints.html", viewer=viewer, endpoints=shown, next_after=next_after, q=q, total=store.count()
    )


@router.get("/endpoints/{name}")
@page
def endpoint(request: Request, viewer: Viewer, name: str) -> Response:
    svc = services_of(request)
    ep = svc.endpoints.get(name)
    history = svc.endpoints.history(name, limit=50)  # newest first
    return render(request, "endpoint.html", viewer=viewer, ep=ep, history=history)


@router.get("/endpoints/{name}/live")
def live(request: Request, name: str) -> Response:
    """The endpoint's running totals per variant (the page turns them into rates): JSON, polled by the page."""
    svc = services_of(request)
    try:
        from modelport.ui.console import viewer_of

        viewer_of(request)
        ep = svc.endpoints.get(name)
    except LoginNeeded:
        return Response(status_code=401)
    except NotFound:
        return Response(status_code=404)
    stats = endpoint_stats(request.app.state.metrics.collect_samples(), name)
    variants: dict[str, Any] = {}
    for v in ep.config.variants:
        s = stats["variants"].get(v.name, {})
        variants[v.name] = {
            "weight": v.weight,
            "shadow": v.shadow,
            "requests": s.get("requests", 0.0),
            "errors": s.get("errors", 0.0),
            "rows": s.get("rows", 0.0),
            "p50_ms": s.get("p50_ms"),
            "p99_ms": s.get("p99_ms"),
        }
    return json_response({"t": time.time(), "revision": ep.revision, "variants": variants})


@router.post("/endpoints/{name}/weights")
@action
def change_weights(request: Request, viewer: Viewer, form: dict[str, str], name: str) -> tuple[str, str]:
    svc = services_of(request)
    ep = svc.endpoints.get(name)
    weights: dict[str, float] = {}
    for v in ep.config.live:
        raw = form.get(f"weight.{v.name}")
        if raw is None or raw == "":
            continue
        try:
            weights[v.name] = float(raw)
        except ValueError:
            raise InvalidArgument(f"weight of {v.name!r} must be a number, not {raw!r}") from None
    if not weights:
        raise InvalidArgument("no weights given")
    updated = svc.endpoints.update(name, weights=weights, created_by=viewer.name, expected_revision=_seen(form))
    shown = ", ".join(f"{k}={_w(v)}" for k, v in weights.items())
    return f"/ui/endpoints/{name}", f"weights set to {shown} (revision {updated.revision})"


@router.post("/endpoints/{name}/rollback")
@action
def rollback(request: Request, viewer: Viewer, form: dict[str, str], name: str) -> tuple[str, str]:
    raw = form.get("revision") or ""
    revision = parse_version(raw, "revision") if raw else None  # not "the previous one" for a mistyped number
    updated = services_of(request).endpoints.rollback(
        name, to_revision=revision, created_by=viewer.name, expected_revision=_seen(form)
    )
    return f"/ui/endpoints/{name}", f"rolled back: now revision {updated.revision}"


def _seen(form: dict[str, str]) -> int | None:
    """The revision the page showed: a form from a stale tab is refused rather than undoing newer changes."""
    seen = form.get("seen") or ""
    return parse_version(seen, "revision") if seen else None


def _w(value: float) -> str:
    return f"{value:g}"


# -- Try it -----------------------------------------------------------------------------------------


def try_fields(signature: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """A form field per input column: its type, the baseline's range or categories, a typical value prefilled."""
    stats = {f.get("name"): f for f in baseline.get("features") or []}
    fields = []
    for column in signature.get("inputs") or []:
        name = str(column.get("name"))
        dtype = str(column.get("dtype", ""))
        f = stats.get(name, {})
        field: dict[str, Any] = {"name": name, "dtype": dtype, "kind": _kind(dtype), "value": "", "hint": dtype}
        if f.get("top"):
            field["categories"] = [t["value"] for t in f["top"]]
            field["value"] = f["top"][0]["value"]
            field["hint"] = f"{dtype}, one of {len(f.get('categories') or f['top'])} categories"
        elif f.get("min") is not None:
            median = (f.get("quantiles") or {}).get("0.5", f.get("mean"))
            integral = field["kind"] == "integer" or f.get("inferred_type") == "Integral"
            field["value"] = str(round(median)) if integral else f"{median:.6g}"
            field["min"], field["max"] = f["min"], f["max"]
            field["hint"] = f"{dtype}, baseline {f['min']:.6g} … {f['max']:.6g}"
        fields.append(field)
    return fields


def _kind(dtype: str) -> str:
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith(("float", "double")):
        return "number"
    if dtype in ("bool", "boolean"):
        return "boolean"
    return "string"


def answering_version(svc: Any, ep: Endpoint) -> tuple[Variant, Any]:
    """The live variant with the most weight, and its model version (whose signature the form follows)."""
    live = ep.config.live
    if not live:
        raise InvalidArgument(f"endpoint {ep.name!r} has no live variant to call")
    variant = max(live, key=lambda v: v.weight)
    return variant, svc.registry.get_version(variant.ref)


@router.get("/endpoints/{name}/try")
@page
def try_it(request: Request, viewer: Viewer, name: str) -> Response:
    svc = services_of(request)
    ep = svc.endpoints.get(name)
    variant, mv = answering_version(svc, ep)
    fields = try_fields(mv.signature, mv.baseline)
    return render(
        request,
        "try.html",
        viewer=viewer,
        ep=ep,
        variant=variant,
        mv=mv,
        fields=fields,
        classes=[str(c) for c in mv.signature.get("classes") or []],
        variants=[v.name for v in ep.config.live],
    )
