"""LightGBM text models (``Booster.save_model``), scored in-process.

    runtime = LightGBMRuntime.load(Path("iris.txt"))
    runtime.predict({"Column_0": np.array([5.1]), ...})
    # -> {"label": array([0]), "probabilities": array([[0.97, 0.02, 0.01]])}

The ``objective=`` line of the model decides the outputs: ``binary``,
``multiclass`` and ``multiclassova`` are classifiers (``label`` and
``probabilities``, classes ``0..k-1``, probabilities exactly as
``Booster.predict`` gives them, so one-vs-all rows need not sum to 1); every
other objective is a regressor whose ``prediction`` is ``Booster.predict``'s
output.  Inputs are one float64 column per feature (LightGBM scores in
double), named from ``Booster.feature_name()`` (``Column_0..`` unless the
model was trained with names), nullable because LightGBM routes NaN itself.

The file is checked in Python before LightGBM parses it: LightGBM locates
each tree from the ``tree_sizes=`` header without bounds checks, so a
truncated file (or one whose line endings were converted to CRLF) reads past
its buffer and aborts the whole process.  LightGBM then receives exactly the
text that was checked.

Thread-safety: one booster serves every thread.  LightGBM's maintainers
state that concurrent predictions on one booster are safe when they use the
same iterations (lightgbm-org/LightGBM#666); the race reported in #6142 is
each call writing those same iteration numbers, so every call here passes the
same ``start_iteration=0, num_iteration=-1``.  ``num_threads`` for each call
comes from ``options["threads"]`` (default 1).

:func:`to_onnx` converts the booster with onnxmltools into a graph with one
float input ``input`` of shape ``[N, k]`` and the same output names, which
:class:`~modelport.runtimes.onnx.OnnxRuntime` serves with this runtime's
signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from modelport.errors import FailedPrecondition, InvalidArgument, MissingExtra, ModelFailure
from modelport.formats import looks_like_lightgbm
from modelport.runtimes.base import (
    LABEL,
    PREDICTION,
    PROBABILITIES,
    Runtime,
    as_2d_float,
    classifier_outputs,
    empty_outputs,
    first_line,
    import_optional,
    merge_numeric_signature,
    standard_signature,
    threads_option,
)
from modelport.signature import Batch, ColumnSpec, Signature, batch_rows, validate_batch

CLASSIFIER_OBJECTIVES = frozenset({"binary", "multiclass", "multiclassova"})

#: objectives whose onnxmltools conversion reproduces LightGBM's predictions
ONNX_OBJECTIVES = frozenset(
    {
        "binary",
        "multiclass",
        "regression",
        "regression_l1",
        "huber",
        "quantile",
        "poisson",
        "gamma",
        "tweedie",
        "lambdarank",
        "rank_xendcg",
    }
)

#: the highest opset onnxmltools' tree converters accept
MAX_ONNX_OPSET = 15

_NOT_A_MODEL = "not a LightGBM model (expected a text model saved with Booster.save_model)"
_SNIFF_BYTES = 4096
_REQUIRED_KEYS = ("version", "num_class", "label_index", "max_feature_idx", "feature_names", "feature_infos")


def _lightgbm() -> ModuleType:
    return import_optional("lightgbm", extra="lightgbm", what="LightGBM models")


class LightGBMRuntime(Runtime):
    """A LightGBM booster; thread-safe (see the module docstring for why one booster is shared)."""

    format: ClassVar[str] = "lightgbm"
    options: ClassVar[Mapping[str, str]] = {"threads": "LightGBM's num_threads per call (default 1)"}
    # Booster.predict turns every feature into float64 (NaN = missing, which LightGBM routes
    # itself), so float64 and nullable is what the model takes.  A sample's dtypes would say
    # less: an integral CSV column would become int64 and refuse the fractions and missing
    # values the booster handles.
    dtypes_from_model = True

    def __init__(
        self, signature: Signature, booster: Any, *, objective: str, num_features: int, threads: int, linear: bool
    ) -> None:
        super().__init__(signature)
        self.booster = booster
        #: the objective's name, without its parameters ("binary", not "binary sigmoid:1")
        self.objective = objective.split()[0] if objective else ""
        self.objective_spec = objective
        self.num_features = num_features
        self.linear_trees = linear
        self.names_from_model = _has_feature_names(booster)
        self._threads = threads
        self._classes = np.asarray(signature.extra["classes"]) if self.objective in CLASSIFIER_OBJECTIVES else None
        self._error = _lightgbm().basic.LightGBMError

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> LightGBMRuntime:
        """Check and load a text model; ``options``: ``threads`` (LightGBM's num_threads per call, default 1)."""
        lgb = _lightgbm()
        threads = threads_option(options, "LightGBM")
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"cannot read LightGBM model {path.name}: {exc.strerror}") from None
        header = _check_model_text(data, path.name)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{_NOT_A_MODEL}: {path.name} is not UTF-8 text ({exc.reason})") from None
        try:
            booster = lgb.Booster(model_str=text)
        except lgb.basic.LightGBMError as exc:
            raise InvalidArgument(f"{_NOT_A_MODEL}: {path.name}: {first_line(exc)}") from None
        objective = header.get("objective", "")
        num_features = booster.num_feature()
        own = _booster_signature(booster, objective.split()[0] if objective else "", num_class=int(header["num_class"]))
        return cls(
            merge_numeric_signature(own, signature, width=num_features, framework="LightGBM"),
            booster,
            objective=objective,
            num_features=num_features,
            threads=threads,
            linear=b"\nis_linear=1" in data,
        )

    def predict(self, batch: Batch) -> Batch:
        booster = self.booster
        if booster is None:
            raise FailedPrecondition("this LightGBM runtime was closed")
        x = as_2d_float(batch, self.signature.input_names, np.float64)
        if batch_rows(batch) == 0:
            return empty_outputs(self.signature)
        try:
            raw = booster.predict(x, start_iteration=0, num_iteration=-1, num_threads=self._threads)
        except (self._error, ValueError) as exc:
            raise ModelFailure(f"LightGBM prediction failed: {first_line(exc)}") from None
        if self._classes is None:
            return {PREDICTION: raw}
        proba = np.column_stack((1.0 - raw, raw)) if raw.ndim == 1 else raw
        return classifier_outputs(proba, self._classes)

    def close(self) -> None:
        self.booster = None


def to_onnx(runtime: LightGBMRuntime, sample: Batch, *, opset: int | None = None) -> bytes:
    """Convert the runtime's booster to ONNX with onnxmltools; serve it with the same signature.

    The graph has one float input ``input`` of shape ``[N, k]`` (the signature's
    columns, stacked in order) and outputs ``label`` (int64 ``[N]``) and
    ``probabilities`` (float ``[N, classes]``, no ZipMap) for classifiers, or
    ``prediction`` (float ``[N, 1]``) for regressors.  ``sample`` (rows in the
    runtime's signature) is checked against it; trees need no type inference
    from data.  The graph compares features in float32 where LightGBM uses
    double: a value within float32 rounding of a split threshold can take the
    other branch, which the caller's parity check is there to catch.
    """
    opset = MAX_ONNX_OPSET if opset is None else opset
    if not 1 <= opset <= MAX_ONNX_OPSET:
        raise InvalidArgument(f"onnxmltools converts LightGBM models up to opset {MAX_ONNX_OPSET}, not {opset}")
    _check_convertible(runtime)
    validate_batch(runtime.signature, sample)
    try:
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        from modelport.runtimes.onnx_graph import name_outputs
    except ImportError:
        raise MissingExtra.for_extra("onnx", "converting LightGBM models to ONNX") from None
    try:
        model = convert_lightgbm(
            runtime.booster,
            name="lightgbm",
            initial_types=[("input", FloatTensorType([None, runtime.num_features]))],
            target_opset=opset,
            zipmap=False,
        )
    except (RuntimeError, ValueError, NotImplementedError) as exc:
        raise InvalidArgument(f"onnxmltools could not convert the LightGBM model: {first_line(exc)}") from None
    names = [LABEL, PROBABILITIES] if runtime.objective in CLASSIFIER_OBJECTIVES else [PREDICTION]
    return name_outputs(model, names, opset).SerializeToString()


def _check_convertible(runtime: LightGBMRuntime) -> None:
    if runtime.booster is None:
        raise FailedPrecondition("this LightGBM runtime was closed")
    objective, *params = runtime.objective_spec.split()
    if objective not in ONNX_OBJECTIVES:
        raise InvalidArgument(
            f"onnxmltools cannot convert a LightGBM model with objective {objective!r}: "
            f"expected one of {', '.join(sorted(ONNX_OBJECTIVES))}"
        )
    # The converter applies a plain logistic function and ignores these modifiers.
    if objective == "binary" and "sigmoid:1" not in params:
        raise InvalidArgument(f"onnxmltools cannot convert a LightGBM binary model with {' '.join(params)}")
    if "sqrt" in params:
        raise InvalidArgument("onnxmltools cannot convert a LightGBM regression trained with reg_sqrt")
    if runtime.linear_trees:
        raise InvalidArgument("onnxmltools cannot convert a LightGBM model with linear trees (linear_tree=true)")


# -- the model file ---------------------------------------------------------------------------------


def _check_model_text(data: bytes, name: str) -> dict[str, str]:
    """The header's key=value lines, once the trees are known to be where tree_sizes says."""
    if not looks_like_lightgbm(data[:_SNIFF_BYTES]):
        raise InvalidArgument(f"{_NOT_A_MODEL}: {name} does not start with a 'tree' line and a 'version=' line")
    start = data.find(b"\nTree=") + 1
    if start == 0:
        raise InvalidArgument(f"{_NOT_A_MODEL}: {name} has no trees (is it truncated?)")
    header: dict[str, str] = {}
    for line in data[:start].decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            header[key] = value
    missing = [k for k in _REQUIRED_KEYS if k not in header]
    if missing:
        raise InvalidArgument(f"{_NOT_A_MODEL}: {name} has no {', '.join(missing)} in its header")
    try:
        int(header["num_class"])
        sizes = [int(s) for s in header.get("tree_sizes", "").split()]
    except ValueError:
        raise InvalidArgument(f"{_NOT_A_MODEL}: {name} has a malformed num_class or tree_sizes line") from None
    if sizes:
        offsets = np.concatenate(([0], np.cumsum(sizes))) + start
        intact = all(data.startswith(b"Tree=", int(o)) for o in offsets[:-1]) and data.startswith(
            b"end of trees", int(offsets[-1])
        )
    else:  # models written before tree_sizes existed are parsed sequentially
        intact = data.find(b"\nend of trees", start) != -1
    if not intact:
        reason = "its trees are not where its tree_sizes line says: the file is truncated or was edited"
        if b"\r\n" in data[:start]:
            reason += " (its line endings were converted to CRLF; LightGBM needs the file byte for byte as saved)"
        raise InvalidArgument(f"{_NOT_A_MODEL}: {name}: {reason}")
    return header


# -- signature --------------------------------------------------------------------------------------


def _has_feature_names(booster: Any) -> bool:
    """Whether the booster was trained with feature names, not LightGBM's own ``Column_0, Column_1, …``."""
    names = booster.feature_name()
    return list(names) != [f"Column_{i}" for i in range(len(names))]


def _booster_signature(booster: Any, objective: str, *, num_class: int) -> Signature:
    inputs = tuple(ColumnSpec(name=str(n), dtype="float64", nullable=True) for n in booster.feature_name())
    classes = max(num_class, 2) if objective in CLASSIFIER_OBJECTIVES else None
    return standard_signature(inputs, dtype="float64", classes=classes, targets=num_class)
