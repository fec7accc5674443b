"""The ``pfa`` runtime: serves a PFA document (JSON or YAML) through modelport.

The signature comes from the document's Avro types (see :mod:`columns`): a
record input gives one 1-D column per field, another input one column named
``input``; likewise the output.  ``options={"mode": "record"}`` forces
record-by-record evaluation (``"vector"`` insists on the batch form;
the default ``"auto"`` uses it whenever the document allows).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelport.errors import InvalidArgument
from modelport.runtimes.base import Runtime
from modelport.runtimes.pfa.columns import column_spec, columns_for, example_value, is_json_column, json_text
from modelport.runtimes.pfa.engine import PfaEngine
from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.types import AvroType, EnumType, RecordType
from modelport.signature import Batch, Signature, batch_rows

_MODES = ("auto", "vector", "record")


def derive_signature(engine: PfaEngine) -> Signature:
    """The modelport signature a PFA document's input and output types imply."""
    inputs = columns_for(engine.input_type, "input")
    outputs = columns_for(engine.output_type, "output")
    categories: dict[str, list[str]] = {}
    for name, t in inputs:
        if isinstance(t, EnumType):
            categories[name] = list(t.symbols)
        elif is_json_column(t):
            # Synthetic warm-up rows need a value of the right shape.
            import json

            categories[name] = [json.dumps(example_value(t))]
    extra: dict[str, Any] = {"pfa": {"name": engine.name, "vectorized": engine.vectorized}}
    if categories:
        extra["categories"] = categories
    return Signature(
        inputs=tuple(column_spec(n, t) for n, t in inputs),
        outputs=tuple(column_spec(n, t) for n, t in outputs),
        extra=extra,
    )


class PfaRuntime(Runtime):
    """Scores columnar batches with a compiled :class:`PfaEngine`; thread-safe."""

    format: ClassVar[str] = "pfa"
    options: ClassVar[Mapping[str, str]] = {"mode": "auto (default), vector or record"}

    def __init__(self, engine: PfaEngine, signature: Signature, mode: str = "auto") -> None:
        super().__init__(signature)
        self.engine = engine
        self.mode = mode
        self._inputs = columns_for(engine.input_type, "input")
        self._outputs = columns_for(engine.output_type, "output")

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> PfaRuntime:
        options = cls.check_options(options)
        mode = options.get("mode", "auto")
        if mode not in _MODES:
            raise InvalidArgument(f"pfa option 'mode' must be one of {', '.join(_MODES)}, not {mode!r}")
        engine = PfaEngine.from_document(Path(path).read_bytes())
        derived = derive_signature(engine)
        if signature is None or signature.is_empty:
            signature = derived
        else:
            _check_names("input", signature.input_names, derived.input_names)
            if signature.outputs:  # a signature built from a sample names inputs only
                _check_names("output", signature.output_names, derived.output_names)
            else:
                signature = Signature(inputs=signature.inputs, outputs=derived.outputs, extra=signature.extra)
        if mode == "vector" and not engine.vectorized:
            raise InvalidArgument("pfa option mode='vector': this document has no batch form (it uses loops or 'set')")
        return cls(engine, signature, mode)

    def predict(self, batch: Batch) -> Batch:
        n = batch_rows(batch)
        if isinstance(self.engine.input_type, RecordType):
            columns: Any = {name: batch[name] for name, _ in self._inputs if name in batch}
        else:
            columns = {"input": batch["input"]} if "input" in batch else {}
        result = self.engine.action_batch(columns, n, mode=self.mode)  # type: ignore[arg-type]
        if not isinstance(result, dict):
            result = {"output": result}
        return {name: _encode(t, result[name]) for name, t in self._outputs}

    def warm_up(self) -> None:
        """Score one synthetic row; the document's own checks may reject it, which is fine."""
        try:
            super().warm_up()
        except PfaRuntimeError:
            # e.g. a synthetic array of the wrong length for model.reg.linear:
            # compilation already happened at load, so nothing is lost.
            pass


def _encode(t: AvroType, column: np.ndarray) -> np.ndarray:
    return json_text(t, column) if is_json_column(t) else column


def _check_names(what: str, given: list[str], derived: list[str]) -> None:
    if given != derived:
        raise InvalidArgument(
            f"the given signature's {what}s ({', '.join(given)}) do not match the PFA document's ({', '.join(derived)})"
        )
