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

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from modelport.errors import InvalidArgument, MissingExtra
from modelport.signature import Batch, ColumnSpec, Signature, block_of, numpy_dtype


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
    #: inputs the model takes as category codes (XGBoost's categorical features); registration
    #: gives those it cannot name the categories of the sample's pandas ``category`` columns
    categorical: frozenset[str] = frozenset()
    #: the model is fed pandas DataFrames (columns selected by name, strings): its server needs pandas
    takes_frames: bool = False
    #: the load options this runtime understands, name → meaning; :func:`load_runtime` refuses others
    #: asked for explicitly and passes a shared setting (``Settings.runtime_options``) only when named here
    options: ClassVar[Mapping[str, str]] = {}

    def __init__(self, signature: Signature) -> None:
        self.signature = signature

    @classmethod
    @abstractmethod
    def load(cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None) -> Runtime:
        """Load the artifact at ``path`` (already sha256-verified by the store)."""

    @abstractmethod
    def predict(self, batch: Batch) -> Batch:
        """Score a columnar batch; return output columns with as many rows."""

    @classmethod
    def check_options(cls, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """``options`` as a dict, refused when it names an option this runtime does not declare."""
        given = dict(options or {})
        unknown = sorted(set(given) - set(cls.options))
        if unknown:
            known = "; ".join(f"{k}: {v}" for k, v in cls.options.items()) or "none"
            raise InvalidArgument(
                f"unknown {cls.format} runtime option(s) {', '.join(unknown)}: {cls.format} models take {known}"
            )
        return given

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


def standard_signature(
    inputs: tuple[ColumnSpec, ...], *, dtype: str, classes: int | None = None, targets: int = 1
) -> Signature:
    """``inputs`` and the standard outputs, scores in ``dtype``.

    A classifier (``classes`` given) has ``label`` and ``probabilities`` over
    the class indices ``0..classes-1``; a regressor has ``prediction``, ``(n,)``
    or ``(n, targets)``.
    """
    if classes is not None:
        outputs = (
            ColumnSpec(name=LABEL, dtype="int64"),
            ColumnSpec(name=PROBABILITIES, dtype=dtype, shape=(-1, classes)),
        )
        return Signature(inputs=inputs, outputs=outputs, extra={"classes": list(range(classes))})
    shape = (-1,) if targets <= 1 else (-1, targets)
    return Signature(inputs=inputs, outputs=(ColumnSpec(name=PREDICTION, dtype=dtype, shape=shape),))


def stack_columns(batch: Mapping[str, np.ndarray], names: list[str]) -> np.ndarray:
    """The named columns side by side as ``(n, k)``; free when the batch already holds that matrix."""
    block = block_of(batch, names)
    if block is not None:
        return block
    cols = [np.asarray(batch[n]) for n in names]
    if len(cols) == 1:
        return cols[0].reshape(-1, 1) if cols[0].ndim == 1 else cols[0]
    return np.column_stack(cols)


def as_2d_float(batch: Mapping[str, np.ndarray], names: list[str], dtype: Any = np.float64) -> np.ndarray:
    """Stack 1-D columns (in signature order) into an ``(n, k)`` matrix."""
    return stack_columns(batch, names).astype(dtype, copy=False)


def empty_outputs(signature: Signature) -> Batch:
    """Zero-row output columns as the signature declares them, for a batch with no rows."""
    out: Batch = {}
    for spec in signature.outputs:
        tail = tuple(d if d > 0 else 0 for d in spec.shape[1:])
        out[spec.name] = np.empty((0, *tail), dtype=numpy_dtype(spec.dtype))
    return out


def threads_option(options: Mapping[str, Any] | None, framework: str) -> int:
    """``options["threads"]`` (default 1), checked: a whole number >= 1."""
    threads = (options or {}).get("threads", 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise InvalidArgument(f"{framework} option threads must be an integer >= 1, got {threads!r}")
    return threads


def import_optional(module: str, *, extra: str, what: str) -> ModuleType:
    """Import a framework a runtime needs only once it is used; MissingExtra names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra.for_extra(extra, what) from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def merge_numeric_signature(own: Signature, declared: Signature | None, *, width: int, framework: str) -> Signature:
    """A declared signature where it says something, checked against a model of ``width`` numeric features.

    For models that take one number per feature and predict class indices
    ``0..k-1`` (the boosters): string columns (but where the model's own
    signature has one: a categorical feature), another width or other class
    labels cannot be served by the model, so they are refused here rather than
    at the first request.
    """
    if declared is None or declared.is_empty:
        return own
    inputs = declared.inputs or own.inputs
    declared_width = inputs[0].shape[1] if len(inputs) == 1 and len(inputs[0].shape) == 2 else len(inputs)
    strings = [
        c.name
        for i, c in enumerate(inputs)
        if c.dtype == "string" and not (len(own.inputs) == len(inputs) and own.inputs[i].dtype == "string")
    ]
    if strings:
        raise InvalidArgument(
            f"{framework} models take numbers; signature column(s) {', '.join(map(repr, strings))} are strings"
        )
    if declared_width != width:
        raise InvalidArgument(f"the signature has {declared_width} input feature(s); the {framework} model has {width}")
    classes = own.extra.get("classes")
    if classes is not None and list(declared.extra.get("classes", classes)) != classes:
        raise InvalidArgument(
            f"the {framework} classifier predicts the class indices {classes}; "
            f"the signature's classes {declared.extra['classes']!r} cannot be mapped onto them"
        )
    return Signature(inputs=inputs, outputs=declared.outputs or own.outputs, extra={**own.extra, **declared.extra})
