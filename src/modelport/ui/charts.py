"""Charts drawn on the server as SVG (histograms, heatmap colours), and the down-sampling of time series.

Distributions are a handful of bars: drawn here, they cost the browser nothing
and show without JavaScript. Time series go to uPlot (vendored in ``static/``)
as JSON, never more than ``MAX_POINTS`` points (``downsample``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

MAX_POINTS = 2000
#: baseline, current: blue and orange of the Okabe-Ito palette (told apart with colour-blindness too)
BASELINE, CURRENT = "#0072B2", "#D55E00"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    other: float | None = None  # the second series (current), on the same scale


def downsample(
    xs: Sequence[float], *columns: Sequence[float | None], limit: int = MAX_POINTS
) -> tuple[list[float], list[list[float | None]]]:
    """At most ``limit`` points of series sharing the x axis ``xs``: per bucket of consecutive points, the first
    series' minimum and maximum (spikes survive), the same points of every series."""
    keep = downsample_indices(columns[0], limit)
    return [xs[i] for i in keep], [[ys[i] for i in keep] for ys in columns]


def downsample_indices(ys: Sequence[float | None], limit: int = MAX_POINTS) -> list[int]:
    """Which points ``downsample`` keeps (so series sharing an x axis can be sampled at the same points)."""
    n = len(ys)
    if n <= limit:
        return list(range(n))
    buckets = limit // 2
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        present = [i for i in range(lo, hi) if ys[i] is not None]
        if not present:
            keep.append(lo)
            continue
        i_min = min(present, key=lambda i: ys[i])  # type: ignore[arg-type,return-value]
        i_max = max(present, key=lambda i: ys[i])  # type: ignore[arg-type,return-value]
        keep.extend(sorted({i_min, i_max}))
    return keep


def _num(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000 or magnitude < 0.01:
        return f"{value:.3g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bars(items: Sequence[Bar], *, title: str, width: int = 320, height: int = 140, legend: tuple[str, str] | None = None) -> Markup:
    """A bar chart (two series side by side when ``other`` is set), with a text alternative for screen readers."""
    if not items:
        return Markup('<p class="muted">no data</p>')
    two = any(b.other is not None for b in items)
    top = max(max(b.value, b.other or 0.0) for b in items) or 1.0
    pad_bottom, pad_top = 28, 6
    inner = height - pad_bottom - pad_top
    slot = width / len(items)
    bar_w = max(1.0, slot * (0.42 if two else 0.8))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, b in enumerate(items):
        x0 = i * slot + (slot - bar_w * (2 if two else 1)) / 2
        series = [(b.value, BASELINE)] + ([(b.other or 0.0, CURRENT)] if two else [])
        for k, (value, colour) in enumerate(series):
            h = inner * value / top
            x = x0 + k * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{pad_top + inner - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(b.label)}: {_num(value)}</title></rect>"
            )
    # first, middle and last labels: readable at phone width
    for i in sorted({0, len(items) // 2, len(items) - 1}):
        x = i * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" class="axis">{escape(items[i].label[:14])}</text>'
        )
    parts.append("</svg>")
    if legend and two:
        parts.append(
            f'<p class="legend"><span class="swatch sw-base"></span>{escape(legend[0])} '
            f'<span class="swatch sw-cur"></span>{escape(legend[1])}</p>'
        )
    return Markup("".join(parts))


def heat(value: float | None, threshold: float | None) -> str:
    """A cell's colour class: how far a drift statistic is towards (and past) its threshold."""
    if value is None or threshold is None or threshold <= 0:
        return "h-none"
    ratio = value / threshold
    if ratio >= 1:
        return "h-4"
    if ratio >= 0.75:
        return "h-3"
    if ratio >= 0.5:
        return "h-2"
    if ratio >= 0.25:
        return "h-1"
    return "h-0"
