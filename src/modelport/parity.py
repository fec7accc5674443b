"""Parity between an original model and its conversion, on the same rows.

The report gives, per output, the largest absolute difference (and, for
labels, the agreement rate).  A conversion passes when every probability is
within ``atol`` and labels agree 100% (by default); regression outputs use
the same tolerance relative to their magnitude (float32 rounding of a value
around 150 is ~1e-5, not a modelling error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from modelport.runtimes.base import LABEL, PROBABILITIES, Runtime
from modelport.signature import Batch, batch_rows


@dataclass
class OutputParity:
    name: str
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    agreement: float | None = None
    ok: bool = True


@dataclass
class ParityReport:
    rows: int
    atol: float
    min_label_agreement: float
    outputs: list[OutputParity] = field(default_factory=list)
    source: str = "sample"

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    @property
    def label_agreement(self) -> float | None:
        for o in self.outputs:
            if o.agreement is not None:
                return o.agreement
        return None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def summary(self) -> str:
        parts = []
        for o in self.outputs:
            if o.agreement is not None:
                parts.append(f"{o.name}: {o.agreement:.2%} agree")
            else:
                parts.append(f"{o.name}: max |diff| {o.max_abs_diff:.3g}")
        return f"parity on {self.rows} {self.source} rows: " + "; ".join(parts)


def _is_label(name: str, a: np.ndarray) -> bool:
    return name == LABEL or a.dtype.kind in "OUSb" or (a.dtype.kind in "iu" and name != PROBABILITIES)


def compare(
    expected: Batch,
    actual: Batch,
    *,
    atol: float = 1e-4,
    min_label_agreement: float = 1.0,
    source: str = "sample",
) -> ParityReport:
    """Compare two output batches output by output (names must match)."""
    report = ParityReport(rows=batch_rows(expected), atol=atol, min_label_agreement=min_label_agreement, source=source)
    for name, exp in expected.items():
        exp = np.asarray(exp)
        if name not in actual:
            report.outputs.append(OutputParity(name=name, ok=False))
            continue
        act = np.asarray(actual[name])
        if act.shape != exp.shape and act.size == exp.size:
            act = act.reshape(exp.shape)
        if act.shape != exp.shape:
            report.outputs.append(OutputParity(name=name, ok=False))
            continue
        if _is_label(name, exp):
            if exp.dtype.kind in "iuf" and act.dtype.kind in "iuf":
                same = exp.astype(np.float64) == act.astype(np.float64)
            else:
                same = exp.astype(str) == act.astype(str)
            agreement = float(np.mean(same)) if same.size else 1.0
            report.outputs.append(
                OutputParity(name=name, agreement=agreement, ok=agreement >= min_label_agreement)
            )
            continue
        e = exp.astype(np.float64)
        a = act.astype(np.float64)
        both_nan = np.isnan(e) & np.isnan(a)
        diff = np.where(both_nan, 0.0, np.abs(e - a))
        max_abs = float(np.nanmax(diff)) if diff.size else 0.0
        if np.isnan(diff).any():
            max_abs = float("inf")
        rel = diff / np.maximum(1.0, np.abs(e))
        max_rel = float(np.nanmax(rel)) if rel.size else 0.0
        ok = max_abs <= atol if name == PROBABILITIES else max_rel <= atol
        report.outputs.append(OutputParity(name=name, max_abs_diff=max_abs, max_rel_diff=max_rel, ok=ok))
    return report


def check_parity(
    original: Runtime,
    converted: Runtime,
    batch: Batch,
    *,
    atol: float = 1e-4,
    min_label_agreement: float = 1.0,
    source: str = "sample",
) -> ParityReport:
    """Run both runtimes on the same rows and compare their outputs."""
    return compare(
        original.predict(batch),
        converted.predict(batch),
        atol=atol,
        min_label_agreement=min_label_agreement,
        source=source,
    )
