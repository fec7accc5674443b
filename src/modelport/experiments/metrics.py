"""What an experiment can measure: one table of metrics, and how a metric's name is read.

============================  =========  ==========  ========  ===========================================
metric                        source     kind        better    what
============================  =========  ==========  ========  ===========================================
``accuracy``                  feedback   proportion  higher    labelled predictions that were right
``error``                     feedback   proportion  lower     labelled predictions that were wrong; for a
                                         / mean                regressor the absolute error (a mean)
``reward``                    feedback   proportion  higher    the label itself, a number per inference id
                                         / mean                (0/1 or true/false: a proportion)
``error_rate``                data plane proportion  lower     requests the variant failed (model error,
                                                               timeout, crash)
``latency``                   data plane mean        lower     request latency, ms
``latency_p99`` (p50, p95…)   data plane quantile    lower     a latency percentile, ms (guardrails only)
``output:prediction``         capture    mean        higher    a captured output's mean:
``output:probabilities[1]``                                    ``prediction`` (regressors), a class's
                                                               probability (``probabilities[i]``)
``agreement``                 shadow     proportion  higher    rows where a shadow's label equals the live
                                                               one's (guardrails of shadow experiments)
``abs_diff``                  shadow     mean        lower     a row's mean |shadow - live| over numeric
                                                               outputs (guardrails of shadow experiments)
============================  =========  ==========  ========  ===========================================

Feedback and capture metrics read the endpoint's captured replies (which arm
served which inference id: the capture folder is the variant), so they need
capture on, with replies; data-plane metrics come from the per-arm counters
every server keeps.  A *shadow experiment* (the treatment is a shadow
variant: it answers a copy of every request the control answers, and its
answers are never returned) reads the data-plane metrics on those pairs, and
the two shadow metrics, from the shadow's comparison counters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from modelport.errors import InvalidArgument

Source = Literal["feedback", "dataplane", "capture", "shadow"]
Kind = Literal["proportion", "mean", "auto", "quantile"]
Direction = Literal["increase", "decrease"]


@dataclass(frozen=True)
class Metric:
    name: str
    """As written: ``accuracy``, ``output:probabilities[1]``."""
    source: Source
    kind: Kind
    """``auto``: a proportion when every value is 0 or 1 (reward), or by the model's task (error)."""
    direction: Direction
    """Which way is better."""
    output: str | None = None
    """For ``output:…``: the output read (``prediction`` or ``probabilities``) …"""
    index: int | None = None
    """… and, for ``probabilities[i]``, the class's position."""
    quantile: float | None = None
    """For ``latency_pNN``: NN / 100."""

    @property
    def needs_capture(self) -> bool:
        return self.source in ("feedback", "capture")


#: name → (source, kind, better, description)
METRICS: dict[str, tuple[Source, Kind, Direction, str]] = {
    "accuracy": ("feedback", "proportion", "increase", "labelled predictions that were right (classifiers)"),
    "error": ("feedback", "auto", "decrease", "labelled predictions that were wrong; absolute error for regressors"),
    "reward": ("feedback", "auto", "increase", "the label sent for each inference id, a number"),
    "error_rate": ("dataplane", "proportion", "decrease", "requests the variant failed (not the caller's mistakes)"),
    "latency": ("dataplane", "mean", "decrease", "request latency, ms"),
    "agreement": ("shadow", "proportion", "increase", "rows where the shadow's label equals the live variant's"),
    "abs_diff": ("shadow", "mean", "decrease", "a row's mean |shadow - live| over the numeric outputs"),
}
#: what a shadow experiment can measure: the pairs (the live variant's answer and the shadow's, same request)
SHADOW_METRICS = ("error_rate", "latency", "agreement", "abs_diff")
OUTPUTS = ("prediction", "probabilities")
_OUTPUT = re.compile(r"^output:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?$")
_PERCENTILE = re.compile(r"^latency_p(?P<q>\d{1,2}(?:\.\d+)?)$")


def parse_metric(text: str) -> Metric:
    """A metric by its name (the table above); a clear error listing what exists otherwise."""
    name = (text or "").strip()
    if name in METRICS:
        source, kind, direction, _ = METRICS[name]
        return Metric(name, source, kind, direction)
    percentile = _PERCENTILE.match(name)
    if percentile:
        q = float(percentile["q"])
        if not 0 < q < 100:
            raise InvalidArgument(f"unknown metric {text!r}: a latency percentile is latency_p1 … latency_p99")
        return Metric(name, "dataplane", "quantile", "decrease", quantile=q / 100)
    output = _OUTPUT.match(name)
    if output:
        field, index = output["name"], output["index"]
        if field not in OUTPUTS:
            raise InvalidArgument(
                f"unknown metric {text!r}: an output metric reads {' or '.join(OUTPUTS)} "
                "(output:prediction, output:probabilities[1])"
            )
        if field == "probabilities" and index is None:
            raise InvalidArgument(f"metric {text!r} needs the class's position: output:probabilities[1]")
        if field == "prediction" and index is not None:
            raise InvalidArgument(f"metric {text!r}: output:prediction takes no [index]")
        return Metric(name, "capture", "mean", "increase", output=field, index=None if index is None else int(index))
    raise InvalidArgument(
        f"unknown metric {text!r}: use {', '.join(METRICS)}, latency_p99 (any percentile) "
        "or output:prediction / output:probabilities[i]"
    )
