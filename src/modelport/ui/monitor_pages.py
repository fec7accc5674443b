"""Monitoring: monitors, and per monitor a drift heatmap (features by windows), baseline vs current distribution per
feature, quality over time beside the label-free estimate, and the alerts."""

from __future__ import annotations

import bisect
import json
import logging
import math
from typing import Any

from fastapi import Request
from starlette.responses import Response

from modelport.errors import ModelportError
from modelport.monitoring.monitor import MonitorRun
from modelport.ui.charts import Bar, bars, downsample, heat
from modelport.ui.console import page, render, router, services_of
from modelport.ui.session import Viewer

log = logging.getLogger("modelport.ui")

#: windows in the heatmap and points in the quality chart
RUNS = 48


@router.get("/monitoring")
@page
def monitors(request: Request, viewer: Viewer) -> Response:
    svc = services_of(request)
    rows = []
    for m in svc.monitors.list():
        last = svc.monitors.runs(m.name, limit=1)
        rows.append((m, last[0] if last else None))
    return render(request, "monitoring.html", viewer=viewer, monitors=rows)


def heatmap(runs: list[MonitorRun], variant: str) -> tuple[list[str], list[tuple[str, list[tuple[str, str, str]]]]]:
    """(column labels, rows): per feature, per run oldest first, (text, colour class, tooltip)."""
    ordered = [r for r in reversed(runs) if variant in (r.result.get("variants") or {})]
    columns = [f"{r.until:%m-%d %H:%M}" for r in ordered]
    features: dict[str, list[tuple[str, str, str]]] = {}
    for i, run in enumerate(ordered):
        for f in run.result["variants"][variant].get("features") or []:
            cells = features.setdefault(f["name"], [("", "h-none", "no data")] * len(ordered))
            stat = f.get("decided_by")
            value = (f.get("statistics") or {}).get(stat) if stat else None
            text = "—" if value is None else f"{value:.2f}"
            tip = f"{f['name']} at {columns[i]}: {stat or 'no statistic'} {text} (threshold {f.get('threshold')}); {f.get('status')}"
            cells[i] = (text, heat(value, f.get("threshold")), tip)
    return columns, sorted(features.items())


def quality_series(runs: list[MonitorRun], variant: str) -> dict[str, Any] | None:
    """Measured quality (labels) and the label-free estimate per run, as a uPlot spec; None without either."""
    ordered = [r for r in reversed(runs) if variant in (r.result.get("variants") or {})]
    xs: list[float] = []
    measured: dict[str, list[float | None]] = {}
    estimated: dict[str, list[float | None]] = {}
    for i, run in enumerate(ordered):
        section = run.result["variants"][variant]
        xs.append(run.until.timestamp())
        for name, value in ((section.get("quality") or {}).get("metrics") or {}).items():
            v = value.get("value") if isinstance(value, dict) else value
            measured.setdefault(name, [None] * len(ordered))[i] = v if isinstance(v, int | float) else None
        for name, value in ((section.get("estimate") or {}).get("metrics") or {}).items():
            v = value.get("value") if isinstance(value, dict) else value
            estimated.setdefault(name, [None] * len(ordered))[i] = v if isinstance(v, int | float) else None
    metric = next((m for m in ("accuracy", "roc_auc", "f1", "rmse", "mae") if m in measured or m in estimated), None)
    if metric is None:
        return None
    shown = [(label, source[metric], dash) for label, source, dash in (
        (f"{metric} (labels)", measured, False), (f"{metric} (estimated, no labels)", estimated, True)) if metric in source]  # fmt: skip
    x, ys = downsample(xs, *(values for _, values, _ in shown))  # every series at the same runs
    return {"x": x, "series": [{"label": label, "y": y, "dash": dash} for (label, _, dash), y in zip(shown, ys, strict=True)], "ylabel": metric}


def distributions(svc: Any, run: MonitorRun | None, variant: str, baseline_features: dict[str, Any]) -> list[tuple[str, Any]]:
    """Per feature, the baseline's shares beside the last window's, on the baseline's bins (statistics.json)."""
    if run is None or not run.report_uri:
        return []
    try:
        with svc.artifacts.fs.open(f"{run.report_uri}/{variant}/statistics.json", "rb") as fh:
            current = json.load(fh)
    except (OSError, ValueError) as exc:
        log.info("no statistics for %s/%s: %s", run.monitor, variant, exc)
        return []
    out = []
    for f in current.get("features") or []:
        name = f.get("name")
        base = baseline_features.get(name) or {}
        if "numerical_statistics" in f:
            buckets = (((f["numerical_statistics"].get("distribution") or {}).get("kll") or {}).get("buckets")) or []
            counts = (base.get("bins") or {}).get("counts") or []
            edges = (base.get("bins") or {}).get("edges") or []
            current = _on_bins(buckets, edges, len(counts))
            if not buckets or current is None:
                continue
            total_c = sum(current) or 1.0
            total_b = sum(counts) or 1.0
            low = [f"< {edges[0]:.3g}" if edges else "all", *(f"{e:.3g}" for e in edges)]
            items = [Bar(low[i], counts[i] / total_b, current[i] / total_c) for i in range(len(counts))]
        else:
            cats = (((f.get("string_statistics") or {}).get("distribution") or {}).get("categorical") or {}).get("buckets") or []
            base_cats = base.get("categories") or {}
            total_c = sum(b["count"] for b in cats) or 1.0
            total_b = sum(base_cats.values()) or 1.0
            seen = {b["value"]: b["count"] for b in cats}
            names = sorted(set(base_cats) | set(seen), key=lambda k: -base_cats.get(k, 0))[:20]
            items = [Bar(k, base_cats.get(k, 0) / total_b, seen.get(k, 0) / total_c) for k in names]
        out.append((name, bars(items, title=f"{name}: baseline vs last window", legend=("baseline", "last window"))))
    return out


def _on_bins(buckets: list[dict[str, Any]], edges: list[float], size: int) -> list[float] | None:
    """The window's bucket counts on the baseline's bins (statistics.json leaves out an empty first or last
    bucket, so buckets are placed by their bounds, not their order); None when they do not fit the bins."""
    if size != len(edges) + 1:
        return None
    out = [0.0] * size
    for b in buckets:
        upper = bisect.bisect_left(edges, b["upper_bound"])  # the bin whose upper edge this bucket ends at
        index = upper if upper < len(edges) and math.isclose(edges[upper], b["upper_bound"]) else size - 1
        if index == size - 1 and edges and not math.isclose(b["lower_bound"], edges[-1]):
            return None
        out[index] += float(b["count"])
    return out


@router.get("/monitoring/{name}")
@page
def monitor(request: Request, viewer: Viewer, name: str) -> Response:
    svc = services_of(request)
    details = svc.monitors.show(name, runs=RUNS)
    runs = details.runs
    variants = sorted({v for r in runs for v in (r.result.get("variants") or {})})
    variant = request.query_params.get("variant") or (variants[0] if variants else "")
    columns, rows = heatmap(runs, variant)
    quality = quality_series(runs, variant)
    last = next((r for r in runs if variant in (r.result.get("variants") or {})), None)
    baseline_features: dict[str, Any] = {}
    section: dict[str, Any] = {}
    if last is not None:
        section = last.result["variants"][variant]
        try:
            from modelport.domain import ModelRef

            mv = svc.registry.get_version(ModelRef.parse(section.get("model", "")))
            baseline, _, _ = svc.monitors.judged_against(mv)  # the drift's own reference, a dataset baseline first
            baseline_features = {f.get("name"): f for f in baseline.get("features") or []}
        except ModelportError:  # the version was deleted since: no baseline to draw
            baseline_features = {}
    dists = distributions(svc, last, variant, baseline_features)
    return render(
        request,
        "monitor.html",
        viewer=viewer,
        details=details,
        variants=variants,
        variant=variant,
        columns=columns,
        rows=rows,
        quality=quality,
        estimate=section.get("estimate") or {},
        measured=section.get("quality") or {},
        dists=dists,
        last=last,
    )
