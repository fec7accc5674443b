"""Preparing a model for registration: format, signature, baseline, conversion.

Runs wherever the registry runs (in-process, or on the server for remote
clients), always on sha256-verified files from the artifact store:

1. the format is recognised from the bytes (a declared ``--format`` must agree);
2. the format's runtime loads the model — a file that is not a model, a
   truncated ONNX graph or a pickle without ``predict`` fails here, and
   nothing is registered;
3. the signature comes from the model and the sample (names, dtypes, shapes),
   or from ``--signature``; outputs are what the model actually returns;
4. baseline statistics are computed on the sample;
5. with ``--to-onnx`` (always for PyTorch) the model is converted and both are
   run on the sample (or on synthesised rows): beyond tolerance the
   conversion is refused with the parity report, unless ``--force``.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelport.baseline import compute_baseline
from modelport.domain import RegisterOptions
from modelport.errors import FailedPrecondition, InvalidArgument, ModelportError
from modelport.formats import TABLE, format_info
from modelport.parity import ParityReport, compare
from modelport.runtimes import runtime_class
from modelport.runtimes.base import Runtime
from modelport.runtimes.categories import KEY as CATEGORIES
from modelport.runtimes.categories import column_dtype, declared_categories, frame_categories
from modelport.signature import (
    ColumnSpec,
    Signature,
    frame_to_batch,
    output_specs,
    signature_from_frame,
    synthesize_batch,
)

SAMPLE_ROWS_FOR_OUTPUTS = 1000
SYNTHETIC_ROWS = 200


@dataclass
class Prepared:
    """What registration stores next to the bytes."""

    format: str
    signature: Signature
    baseline: dict[str, Any] = field(default_factory=dict)
    conversion: dict[str, Any] = field(default_factory=dict)
    onnx_bytes: bytes | None = None
    parity: ParityReport | None = None


def converter(fmt: str) -> Any:
    target = format_info(fmt).converter
    if target is None:
        convertible = ", ".join(sorted(f.name for f in TABLE.values() if f.converter))
        raise InvalidArgument(f"{fmt} models cannot be converted to ONNX; convertible formats: {convertible}")
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def reconcile(runtime: Runtime, frame: Any) -> tuple[Signature, Any]:
    """The signature a sample implies for this model, and the sample's input columns."""
    sig, inputs = _reconcile(runtime, frame)
    return (_sample_categories(runtime, sig, inputs) if runtime.categorical else sig), inputs


def _sample_categories(runtime: Runtime, sig: Signature, frame: Any) -> Signature:
    """Categorical inputs the model cannot name take the categories of the sample's ``category`` columns.

    The codes such a model was trained on are positions in the training
    frame's categories, which a sample keeps only as a pandas ``category``
    dtype (Parquet stores it; a CSV has strings alone, whose codes nobody can tell).
    """
    named = declared_categories(sig)
    from_sample = frame_categories(frame)
    # by position: the sample may name the columns of a model that names none (f0, f1, …)
    own = runtime.signature.inputs
    categorical = {i for i, c in enumerate(own) if c.name in runtime.categorical} if len(own) == len(sig.inputs) else set()
    inputs = []
    for i, spec in enumerate(sig.inputs):
        if i in categorical and spec.name not in named:
            if spec.name in from_sample:
                named[spec.name] = from_sample[spec.name]
                spec = replace(spec, dtype=column_dtype(from_sample[spec.name]), nullable=True)
            elif frame[spec.name].dtype.kind in "OSU" or str(frame[spec.name].dtype) in ("string", "str"):
                raise InvalidArgument(
                    f"sample column {spec.name!r} holds strings, but the {runtime.format} model takes category codes "
                    "there and does not store which string each stands for (XGBoost before 3.1 saves only codes): "
                    f"pass a sample whose {spec.name!r} column has the pandas category dtype (Parquet keeps it), "
                    'or a --signature listing the categories in code order under "categories"'
                )
        inputs.append(spec)
    extra = {**sig.extra, CATEGORIES: named} if named else sig.extra
    return Signature(inputs=tuple(inputs), outputs=sig.outputs, extra=extra)


def _reconcile(runtime: Runtime, frame: Any) -> tuple[Signature, Any]:
    sig = runtime.signature
    columns = [str(c) for c in frame.columns]
    if not sig.inputs:
        return Signature(inputs=signature_from_frame(frame), extra=sig.extra), frame
    names = sig.input_names
    if all(n in columns for n in names):
        sub = frame[names]
        from_sample = {c.name: c for c in signature_from_frame(sub)}
        inputs = tuple(
            ColumnSpec(
                name=spec.name,
                dtype=spec.dtype if runtime.dtypes_from_model else from_sample[spec.name].dtype,
                shape=spec.shape,
                nullable=from_sample[spec.name].nullable or spec.nullable,
                allow_inf=from_sample[spec.name].allow_inf or spec.allow_inf,
            )
            for spec in sig.inputs
        )
        return Signature(inputs=inputs, extra=sig.extra), sub
    # One tensor input [N, k] fed from k sample columns (an ONNX "X", a PyTorch input).
    if len(sig.inputs) == 1 and len(sig.inputs[0].shape) == 2 and sig.inputs[0].shape[1] in (-1, len(columns)):
        spec = sig.inputs[0]
        inputs = tuple(
            ColumnSpec(name=c.name, dtype=spec.dtype, shape=(-1,), nullable=c.nullable, allow_inf=c.allow_inf)
            for c in signature_from_frame(frame)
        )
        return Signature(inputs=inputs, extra=sig.extra), frame
    if not runtime.names_from_model:
        if len(columns) != len(names):
            raise InvalidArgument(
                f"the sample has {len(columns)} columns but the model takes {len(names)} features; "
                "pass a sample with exactly the model's input columns"
            )
        # The sample names the columns; the model still decides dtypes it computes in.
        inputs = tuple(
            ColumnSpec(
                name=c.name,
                dtype=spec.dtype if runtime.dtypes_from_model else c.dtype,
                shape=spec.shape,
                nullable=c.nullable or spec.nullable,
                allow_inf=c.allow_inf or spec.allow_inf,
            )
            for c, spec in zip(signature_from_frame(frame), sig.inputs, strict=True)
        )
        return Signature(inputs=inputs, extra=sig.extra), frame
    missing = [n for n in names if n not in columns]
    raise InvalidArgument(
        f"the sample lacks the model's input column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
    )


def _with_outputs(sig: Signature, outputs: Mapping[str, Any]) -> Signature:
    return Signature(inputs=sig.inputs, outputs=output_specs(outputs), extra=sig.extra)


def prepare(
    path: Path,
    fmt: str,
    *,
    sample: Any = None,
    signature: Mapping[str, Any] | None = None,
    options: RegisterOptions | None = None,
) -> Prepared:
    """Load, describe and optionally convert a model; raises before anything is stored."""
    options = options or RegisterOptions()
    cls = runtime_class(fmt)
    override = Signature.from_dict(signature) if signature else None
    initial = override
    if initial is None and cls.needs_signature and sample is not None:
        initial = Signature(inputs=signature_from_frame(sample))
    runtime = cls.load(path, signature=initial)
    batch = None
    baseline: dict[str, Any] = {}
    if sample is not None:
        if len(sample) == 0:
            raise InvalidArgument("the sample has no rows")
        if override is None:
            sig, inputs = reconcile(runtime, sample)
            if sig != runtime.signature:
                runtime = cls.load(path, signature=sig)
        else:
            missing = [n for n in override.input_names if n not in sample.columns]
            if missing:
                raise InvalidArgument(f"the sample lacks the signature's input columns {', '.join(map(repr, missing))}")
            inputs = sample[override.input_names]
        baseline = compute_baseline(inputs)
        batch = frame_to_batch(inputs.head(SAMPLE_ROWS_FOR_OUTPUTS), runtime.signature)
    elif not runtime.signature.inputs:
        raise InvalidArgument(f"a {fmt} model does not describe its inputs: pass --sample or --signature")
    source = "sample" if batch is not None else "synthesized"
    if batch is None:
        batch = synthesize_batch(runtime.signature, rows=SYNTHETIC_ROWS)
    try:
        outputs = runtime.predict(batch)
    except ModelportError as exc:
        raise InvalidArgument(f"the model cannot score the {source} rows: {exc.message}") from None
    except Exception as exc:  # the model's own code raised: refuse it rather than register it
        raise InvalidArgument(f"the model cannot score the {source} rows: {type(exc).__name__}: {exc}") from None
    full = _with_outputs(runtime.signature, outputs) if not (override and override.outputs) else override
    prepared = Prepared(format=fmt, signature=full, baseline=baseline)
    if options.to_onnx or format_info(fmt).always_convert:
        _convert(prepared, runtime, batch, options, source)
    runtime.close()
    return prepared


def _convert(prepared: Prepared, runtime: Runtime, batch: Any, options: RegisterOptions, source: str) -> None:
    from modelport.runtimes.onnx import OnnxRuntime

    original = prepared.format
    onnx_bytes = converter(original)(runtime, batch, opset=options.opset)
    with tempfile.NamedTemporaryFile(suffix=".onnx") as tmp:
        tmp.write(onnx_bytes)
        tmp.flush()
        converted = OnnxRuntime.load(Path(tmp.name), signature=prepared.signature)
        expected = runtime.predict(batch)
        actual = converted.predict(batch)
        report = compare(
            expected, actual, atol=options.atol, min_label_agreement=options.min_label_agreement, source=source
        )
        converted.close()
    # What serving returns is the ONNX graph's outputs (float32 where the original gave float64).
    prepared.signature = _with_outputs(prepared.signature, actual)
    prepared.parity = report
    prepared.conversion = {
        "from": original,
        "to": "onnx",
        "parity": report.to_dict(),
        "forced": bool(options.force and not report.ok),
    }
    if not report.ok and not options.force:
        raise FailedPrecondition(
            f"conversion of the {original} model to ONNX failed the parity check ({report.summary()}; "
            f"tolerance {options.atol:g}, labels {options.min_label_agreement:.0%}): use --force to register anyway",
            details={"parity": report.to_dict()},
        )
    prepared.format = "onnx"
    prepared.onnx_bytes = onnx_bytes


# -- preparing in a child process -----------------------------------------------------------------
# The server never unpickles a model in its own process: a pickle that passed the
# scan (or that its registering caller trusts) is loaded, described and converted
# by `python -m modelport.registration` in a fresh interpreter.  Nothing crosses
# the boundary as a pickle: the request and the answer are JSON, the sample a
# Parquet file and the ONNX copy a file.


def prepare_in_child(
    path: Path,
    fmt: str,
    *,
    sample: tuple[Path, str] | None = None,
    signature: Mapping[str, Any] | None = None,
    options: RegisterOptions | None = None,
) -> Prepared:
    """:func:`prepare` in a child process; ``sample`` is (file, table format), read there.

    The child's errors come back as the same ModelportError.
    """
    import json
    import os
    import subprocess
    import sys

    from modelport.errors import error_from_code

    options = options or RegisterOptions()
    with tempfile.TemporaryDirectory(prefix="modelport-prepare-") as tmp:
        folder = Path(tmp)
        request = {
            "path": str(path),
            "format": fmt,
            "sample": [str(sample[0]), sample[1]] if sample else None,
            "signature": dict(signature) if signature else None,
            "options": options.model_dump(mode="json"),
            "onnx": str(folder / "model.onnx"),
        }
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run(
            [sys.executable, "-m", "modelport.registration"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise InvalidArgument(f"loading the model failed in its process (exit {done.returncode}): {last}")
        answer = json.loads(lines[-1])
        if "error" in answer:
            raise error_from_code(answer["error"]["code"], answer["error"]["message"], answer["error"].get("details"))
        onnx = folder / "model.onnx"
        return Prepared(
            format=answer["format"],
            signature=Signature.from_dict(answer["signature"]),
            baseline=answer["baseline"],
            conversion=answer["conversion"],
            onnx_bytes=onnx.read_bytes() if onnx.is_file() else None,
        )


def _child_main() -> None:
    import json
    import sys

    from modelport.frames import read_table

    request = json.loads(sys.stdin.read())
    try:
        sample = read_table(Path(request["sample"][0]), fmt=request["sample"][1]) if request["sample"] else None
        prepared = prepare(
            Path(request["path"]),
            request["format"],
            sample=sample,
            signature=request["signature"],
            options=RegisterOptions.model_validate(request["options"]),
        )
    except ModelportError as exc:
        answer: dict[str, Any] = {"error": exc.to_dict()}
    else:
        if prepared.onnx_bytes is not None:
            Path(request["onnx"]).write_bytes(prepared.onnx_bytes)
        answer = {
            "format": prepared.format,
            "signature": prepared.signature.to_dict(),
            "baseline": prepared.baseline,
            "conversion": prepared.conversion,
        }
    sys.stdout.write("\n" + json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    _child_main()
