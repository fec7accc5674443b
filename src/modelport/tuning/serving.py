"""What a trial's model will cost to serve, measured as modelport serves it.

The model goes through registration's own preparation (signature, and with
``--to-onnx`` the ONNX conversion and its parity check), is loaded by the
runtime an endpoint would use, and answers single-row predictions: their
p50/p99 latency, the served file's size and the conversion's parity error
become metrics the job can optimise or constrain.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

#: single-row calls timed (after warm-up calls): p99 of 300 is its 3rd slowest
TIMED_CALLS = 300
WARM_CALLS = 20


def measure(model: Path, sample: str | None, wanted: Sequence[str], *, to_onnx: bool = False) -> dict[str, float]:
    """``latency_p50_ms``, ``latency_p99_ms``, ``model_size_bytes``, ``parity_error``: those ``wanted``
    (both latencies when either is: they come from the same calls)."""
    import numpy as np

    from modelport.domain import RegisterOptions
    from modelport.formats import detect_format
    from modelport.frames import read_table
    from modelport.registration import prepare
    from modelport.runtimes import load_runtime
    from modelport.signature import frame_to_batch, synthesize_batch

    fmt = detect_format(model)
    frame = read_table(sample) if sample else None
    # force: a conversion beyond tolerance still measures; its parity error is a metric the job may constrain
    prepared = prepare(model, fmt, sample=frame, options=RegisterOptions(to_onnx=to_onnx, force=True))
    served, served_fmt = model, fmt
    if prepared.onnx_bytes is not None:
        served = model.with_suffix(".onnx")
        served.write_bytes(prepared.onnx_bytes)
        served_fmt = "onnx"
    out: dict[str, float] = {}
    if "model_size_bytes" in wanted:
        out["model_size_bytes"] = float(served.stat().st_size)
    if "parity_error" in wanted:
        diffs = [o.max_abs_diff for o in (prepared.parity.outputs if prepared.parity else []) if o.max_abs_diff is not None]
        out["parity_error"] = float(max(diffs, default=0.0))
    if "latency_p50_ms" in wanted or "latency_p99_ms" in wanted:
        runtime = load_runtime(served_fmt, served, signature=prepared.signature, shared={"threads": 1})
        try:
            names = prepared.signature.input_names
            row = frame_to_batch(frame[names].head(1), prepared.signature) if frame is not None else synthesize_batch(prepared.signature, 1)
            for _ in range(WARM_CALLS):
                runtime.predict(row)
            times = np.empty(TIMED_CALLS)
            for i in range(TIMED_CALLS):
                t0 = time.perf_counter()
                runtime.predict(row)
                times[i] = time.perf_counter() - t0
        finally:
            runtime.close()
        out["latency_p50_ms"] = float(np.percentile(times, 50) * 1000)
        out["latency_p99_ms"] = float(np.percentile(times, 99) * 1000)
    return out
