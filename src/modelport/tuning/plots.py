"""A job's plots as self-contained HTML files (inline SVG): no plotting library to install.

``history.html`` (each trial's objective and the best so far), ``importance.html``
(fANOVA importances), ``parallel.html`` (parallel coordinates of the top
trials) and, for multi-objective jobs, ``pareto.html``.  The web console can
serve the same files.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from modelport.tuning.job import Trial, TuningJob

W, H, PAD = 720, 360, 48
TOP_TRIALS = 10


def write_plots(job: TuningJob, folder: str | Path) -> list[Path]:
    """Write the plots for ``job`` into ``folder``; returns the files written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pages = {
        "history.html": _history(job),
        "parallel.html": _parallel(job),
    }
    if job.importances:
        pages["importance.html"] = _importance(job.importances)
    if job.spec.multi_objective:
        pages["pareto.html"] = _pareto(job)
    written = []
    for name, svg in pages.items():
        path = out / name
        title = f"{job.name}: {name.removesuffix('.html')}"
        path.write_text(
            f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<body style='font-family:sans-serif'><h3>{html.escape(title)}</h3>{svg}</body>\n"
        )
        written.append(path)
    return written


def _complete(job: TuningJob) -> list[Trial]:
    return [t for t in job.trials if t.state == "complete" and t.values]


def _scale(values: Sequence[float], lo_px: float, hi_px: float) -> list[float]:
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    span = (hi - lo) or 1.0
    return [lo_px + (v - lo) / span * (hi_px - lo_px) for v in values]


def _svg(body: str, x_label: str, y_label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' font-size='12'>"
        f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - PAD}' y2='{H - PAD}' stroke='#333'/>"
        f"<line x1='{PAD}' y1='{PAD / 2}' x2='{PAD}' y2='{H - PAD}' stroke='#333'/>"
        f"<text x='{W / 2}' y='{H - 12}' text-anchor='middle'>{html.escape(x_label)}</text>"
        f"<text x='14' y='{H / 2}' transform='rotate(-90 14 {H / 2})' text-anchor='middle'>{html.escape(y_label)}</text>"
        f"{body}</svg>"
    )


def _history(job: TuningJob) -> str:
    trials = _complete(job)
    objective = job.spec.objectives[0]
    if not trials:
        return "<p>no complete trial yet</p>"
    values = [(t.values or [0.0])[0] for t in trials]
    xs = _scale([t.number for t in trials], PAD, W - PAD)
    ys = _scale(values, H - PAD, PAD / 2)
    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='4' fill='#4a7fd4'><title>trial {t.number}: {v:.6g}</title></circle>"
        for x, y, t, v in zip(xs, ys, trials, values, strict=True)
    )
    best: list[float] = []
    for v in values:
        better = not best or (v > best[-1] if objective.direction == "maximize" else v < best[-1])
        best.append(v if better else best[-1])
    best_ys = _scale([*values, *best], H - PAD, PAD / 2)[len(values) :]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, best_ys, strict=True))
    path = f"<polyline points='{line}' fill='none' stroke='#d4544a' stroke-width='2'/>"
    return _svg(dots + path, "trial", f"{objective.metric} (red: best so far)")


def _importance(importances: dict[str, float]) -> str:
    names = list(importances)
    bar_h = max(12.0, (H - 1.5 * PAD) / max(len(names), 1) - 6)
    body = ""
    for i, name in enumerate(names):
        width = importances[name] * (W - 3 * PAD)
        y = PAD / 2 + i * (bar_h + 6)
        body += (
            f"<rect x='{PAD}' y='{y:.1f}' width='{width:.1f}' height='{bar_h:.1f}' fill='#4a7fd4'/>"
            f"<text x='{PAD + width + 6:.1f}' y='{y + bar_h / 2 + 4:.1f}'>{html.escape(name)} {importances[name]:.2f}</text>"
        )
    return _svg(body, "importance (fANOVA)", "parameter")


def _parallel(job: TuningJob) -> str:
    trials = _complete(job)
    if not trials:
        return "<p>no complete trial yet</p>"
    objective = job.spec.objectives[0]
    sign = -1.0 if objective.direction == "maximize" else 1.0
    top = sorted(trials, key=lambda t: sign * (t.values or [0.0])[0])[:TOP_TRIALS]
    axes = [p.name for p in job.spec.params] + [objective.metric]
    xs = _scale(list(range(len(axes))), PAD, W - PAD) if len(axes) > 1 else [W / 2]

    def numeric(t: Trial, axis: str) -> float:
        if axis == objective.metric:
            return (t.values or [0.0])[0]
        value = t.params.get(axis)
        spec = next(p for p in job.spec.params if p.name == axis)
        return float(spec.choices.index(value)) if spec.kind == "cat" else float(value)  # type: ignore[arg-type]

    columns = [_scale([numeric(t, a) for t in top], H - PAD, PAD / 2) for a in axes]
    body = "".join(
        f"<line x1='{x:.1f}' y1='{PAD / 2}' x2='{x:.1f}' y2='{H - PAD}' stroke='#999'/>"
        f"<text x='{x:.1f}' y='{H - PAD + 16}' text-anchor='middle'>{html.escape(a)}</text>"
        for x, a in zip(xs, axes, strict=True)
    )
    for i, t in enumerate(top):
        points = " ".join(f"{x:.1f},{col[i]:.1f}" for x, col in zip(xs, columns, strict=True))
        color = "#d4544a" if i == 0 else "#4a7fd4"
        body += f"<polyline points='{points}' fill='none' stroke='{color}' stroke-opacity='0.7'><title>trial {t.number}</title></polyline>"
    return _svg(body, f"top {len(top)} trials (red: best)", "")


def _pareto(job: TuningJob) -> str:
    trials = _complete(job)
    if not trials:
        return "<p>no complete trial yet</p>"
    a, b = job.spec.objectives[0], job.spec.objectives[1]
    xs = _scale([(t.values or [0.0, 0.0])[0] for t in trials], PAD, W - PAD)
    ys = _scale([(t.values or [0.0, 0.0])[1] for t in trials], H - PAD, PAD / 2)
    body = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{6 if t.pareto else 4}' fill='{'#d4544a' if t.pareto else '#9ab'}'>"
        f"<title>trial {t.number}: {', '.join(f'{v:.6g}' for v in t.values or [])}</title></circle>"
        for x, y, t in zip(xs, ys, trials, strict=True)
    )
    return _svg(body, f"{a.metric} ({a.direction})", f"{b.metric} ({b.direction}); red: Pareto front")
