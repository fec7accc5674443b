"""Experiments: per arm the metric and its confidence interval, lift, SRM, guardrails, decision; stop (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from markupsafe import Markup
from starlette.responses import Response

from modelport.ui.charts import downsample
from modelport.ui.console import action, page, render, router, services_of
from modelport.ui.session import Viewer


@router.get("/experiments")
@page
def experiments(request: Request, viewer: Viewer) -> Response:
    items = sorted(services_of(request).experiments.list(), key=lambda e: e.started_at, reverse=True)
    return render(request, "experiments.html", viewer=viewer, experiments=items)


def interval_svg(rows: list[tuple[str, float | None, float | None, float | None]], *, zero: float | None, title: str) -> Markup:
    """Intervals on one axis (an arm's value, or the lift), with the reference line (0 for a lift)."""
    points = [x for _, v, lo, hi in rows for x in (v, lo, hi) if x is not None] + ([zero] if zero is not None else [])
    if not points:
        return Markup('<p class="muted">no data yet</p>')
    lo_all, hi_all = min(points), max(points)
    span = (hi_all - lo_all) or 1.0
    lo_all, hi_all = lo_all - 0.1 * span, hi_all + 0.1 * span
    width, row_h, left = 420, 30, 90

    def x(v: float) -> float:
        return left + (width - left - 10) * (v - lo_all) / (hi_all - lo_all)

    height = row_h * len(rows) + 20
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{title}"><title>{title}</title>']
    if zero is not None:
        parts.append(f'<line x1="{x(zero):.1f}" x2="{x(zero):.1f}" y1="0" y2="{height - 14}" stroke="#57606a" stroke-dasharray="4 3"/>')
    for i, (label, v, lo, hi) in enumerate(rows):
        y = 15 + i * row_h
        parts.append(f'<text x="4" y="{y + 4}" class="axis">{Markup.escape(label)}</text>')
        if lo is not None and hi is not None:
            parts.append(f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{y}" y2="{y}" stroke="#0072B2" stroke-width="4"/>')
        if v is not None:
            parts.append(f'<circle cx="{x(v):.1f}" cy="{y}" r="5" fill="#D55E00"><title>{label}: {v:.4g}</title></circle>')
    parts.append(f'<text x="{left}" y="{height - 2}" class="axis">{lo_all:.3g}</text>')
    parts.append(f'<text x="{width - 10}" y="{height - 2}" class="axis" text-anchor="end">{hi_all:.3g}</text></svg>')
    return Markup("".join(parts))


def trace_series(state: dict[str, Any]) -> dict[str, Any] | None:
    """The lift and its confidence sequence at every look (kept by the evaluator in the experiment's state)."""
    trace = state.get("trace") or []
    if len(trace) < 2:
        return None
    x, ys = downsample([float(p[0]) for p in trace], *([p[k] for p in trace] for k in (1, 2, 3)))
    series = [{"label": label, "y": y, "dash": k > 0} for k, (label, y) in enumerate(zip(("lift", "lower bound", "upper bound"), ys, strict=True))]
    return {"x": x, "series": series, "ylabel": "treatment - control"}


@router.get("/experiments/{name}")
@page
def experiment(request: Request, viewer: Viewer, name: str) -> Response:
    details = services_of(request).experiments.show(name, events=100)
    e = details.experiment
    result: dict[str, Any] = e.result or {}
    arms = result.get("arms") or {}
    arm_rows = [
        (f"{arm} ({a.get('role')})", a.get("value"), *((a.get("ci") or [None, None])[:2]))
        for arm, a in arms.items()
    ]
    lift = result.get("lift") or {}
    lift_ci = lift.get("ci") or [None, None]
    return render(
        request,
        "experiment.html",
        viewer=viewer,
        e=e,
        events=details.events,
        result=result,
        arms=arms,
        arms_chart=interval_svg(arm_rows, zero=None, title="metric per arm with its confidence interval"),
        lift=lift,
        lift_chart=interval_svg([("lift", lift.get("absolute"), lift_ci[0], lift_ci[1])], zero=0.0, title="lift with its confidence sequence"),
        trace=trace_series(e.state),
    )


@router.post("/experiments/{name}/stop")
@action
def stop(request: Request, viewer: Viewer, form: dict[str, str], name: str) -> tuple[str, str]:
    restore = form.get("restore") == "1"
    e = services_of(request).experiments.stop(name, reason=form.get("reason") or None, restore=restore, by=viewer.name)
    return f"/ui/experiments/{name}", f"experiment stopped ({e.status})"
