"""The runtime contract every model format implements.

A runtime is loaded from a model version's artifact file, warmed up, and
then called concurrently from many threads:

    runtime = SklearnRuntime.load(path, signature=sig, options=opts)
    outputs = runtime.predict({"sepal_length": np.array([5.1]), ...})
    # -> {"label": array([0]), "proba_0": array([0.97]), ...}

``predict`` takes a columnar batch (``dict[str, np.ndarray]``, rows on the
first axis) and returns named output columns with the same number of rows.
Input is validated against the signature by the caller before ``predict``
(see :func:`modelport.signature.validate_batch`), so runtimes may assume the
names and dtypes they declared.

Output names are shared by every format, so an original and its ONNX
conversion can be compared column by column and a client sees the same reply
whichever runtime serves it:

- classifiers: ``label`` (n,) and ``probabilities`` (n, k), the class order in
  ``signature.extra["classes"]``;
- regressors: ``prediction`` (n,) (or (n, m) for several targets);
- anything else keeps the model's own output names (ONNX graph outputs,
  PMML fields, PFA record fields).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelport.signature import Batch, Signature


class Runtime(ABC):
    """Loads one artifact and predicts columnar batches; thread-safe."""

    #: the ``ModelVersion.format`` this runtime serves
    format: ClassVar[str]
    #: input names come from the model (feature_names_in_, a graph); False = generic (x0, f0…)
    names_from_model: bool = True
    #: input dtypes come from the model (ONNX, PMML); False = take them from the sample
    dtypes_from_model: bool = True
    #: the model cannot describe its inputs: ``load`` needs a signature (from a sample)
    needs_signature: ClassVar[bool] = False

    def __init__(self, signature: Signature) -> None:
        self.signature = signature

    @classmethod
    @abstractmethod
    def load(cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None) -> Runtime:
        """Load the artifact at ``path`` (already sha256-verified by the store)."""

    @abstractmethod
    def predict(self, batch: Batch) -> Batch:
        """Score a columnar batch; return output columns with as many rows."""

    def warm_up(self) -> None:
        """Run one prediction on a synthetic row so the first caller pays nothing."""
        if self.signature.inputs:
            from modelport.signature import synthesize_batch

            self.predict(synthesize_batch(self.signature, rows=1))

    def close(self) -> None:  # noqa: B027 - optional hook, most runtimes hold nothing native
        """Release native resources (sessions, JVM references)."""


LABEL = "label"
PROBABILITIES = "probabilities"
PREDICTION = "prediction"


def classifier_outputs(proba: np.ndarray, classes: np.ndarray) -> Batch:
    """The standard classifier outputs from a probability matrix (label = most probable class)."""
    proba = np.asarray(proba)
    return {LABEL: np.asarray(classes).take(proba.argmax(axis=1)), PROBABILITIES: proba}


def as_2d_float(batch: Mapping[str, np.ndarray], names: list[str], dtype: Any = np.float64) -> np.ndarray:
    """Stack 1-D columns (in signature order) into an ``(n, k)`` matrix."""
    cols = [np.asarray(batch[n]) for n in names]
    if len(cols) == 1 and cols[0].ndim == 2:
        return cols[0].astype(dtype, copy=False)
    return np.column_stack(cols).astype(dtype, copy=False)
