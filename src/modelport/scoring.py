"""Scoring a registered version in-process: load, validate, predict, tabulate.

`modelport predict` and ``client.models.load(ref).predict(...)`` use this; so
will batch jobs and endpoints, through the same runtime and the same input
validation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelport.domain import ModelVersion
from modelport.errors import InvalidArgument
from modelport.frames import outputs_to_columns
from modelport.runtimes import load_runtime
from modelport.runtimes.base import Runtime
from modelport.signature import Batch, Signature, batch_rows, frame_to_batch, validate_batch

CHUNK_ROWS = 65536


class LoadedModel:
    """A version's runtime with its signature: ``predict`` takes a DataFrame, dict or array."""

    def __init__(self, version: ModelVersion, runtime: Runtime) -> None:
        self.version = version
        self.runtime = runtime
        self.signature = runtime.signature
        self.classes = self.signature.extra.get("classes")

    @classmethod
    def from_path(
        cls,
        version: ModelVersion,
        path: Path,
        options: Mapping[str, Any] | None = None,
        *,
        shared: Mapping[str, Any] | None = None,
    ) -> LoadedModel:
        """Load with the options asked for this model over the ``shared`` settings (see :func:`load_runtime`)."""
        sig = Signature.from_dict(version.signature) if version.signature else None
        return cls(version, load_runtime(version.format, path, signature=sig, options=options, shared=shared))

    def to_batch(self, data: Any) -> Batch:
        """Validate any common input shape against the signature."""
        import pandas as pd

        names = self.signature.input_names
        inputs = self.signature.inputs
        if isinstance(data, pd.DataFrame) and len(inputs) == 1 and len(inputs[0].shape) == 2 and names[0] not in data.columns:
            # One tensor input (an ONNX "X" [N, k]) fed from k table columns.
            width = inputs[0].shape[1]
            if width not in (-1, len(data.columns)):
                raise InvalidArgument(f"input {names[0]!r} takes {width} values per row, the table has {len(data.columns)} columns")
            return validate_batch(self.signature, {names[0]: data.to_numpy()})
        if isinstance(data, pd.DataFrame):
            if names and not all(n in data.columns for n in names) and len(data.columns) == len(names):
                data = data.set_axis(names, axis=1)  # positional (a CSV without header)
            missing = [n for n in names if n not in data.columns]
            if missing:
                raise InvalidArgument(f"missing input column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; expected {', '.join(names)}")
            return frame_to_batch(data[names] if names else data, self.signature)
        if isinstance(data, Mapping):
            return validate_batch(self.signature, dict(data))
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or (names and arr.shape[1] != len(names)):
            raise InvalidArgument(f"expected rows of {len(names)} values ({', '.join(names)}), got shape {list(arr.shape)}")
        return validate_batch(self.signature, {n: arr[:, i] for i, n in enumerate(names)})

    def predict_batch(self, batch: Batch) -> Batch:
        return self.runtime.predict(batch)

    def predict(self, data: Any) -> Any:
        """Predictions as a DataFrame: labels and ``proba_<class>`` columns, input row order."""
        import pandas as pd

        batch = self.to_batch(data)
        return pd.DataFrame(outputs_to_columns(self.runtime.predict(batch), self.classes))

    def predict_frame(self, frame: Any, progress: Callable[[int], None] | None = None) -> Any:
        """Score a DataFrame in chunks (bounded memory per model call)."""
        import pandas as pd

        parts = []
        for start in range(0, max(len(frame), 1), CHUNK_ROWS):
            chunk = frame.iloc[start : start + CHUNK_ROWS]
            batch = self.to_batch(chunk)
            out = outputs_to_columns(self.runtime.predict(batch), self.classes)
            parts.append(pd.DataFrame(out, index=chunk.index))
            if progress:
                progress(batch_rows(batch))
        return pd.concat(parts) if parts else pd.DataFrame()

    def close(self) -> None:
        self.runtime.close()
