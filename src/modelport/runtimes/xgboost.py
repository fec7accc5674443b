"""XGBoost boosters saved with ``save_model`` (JSON or UBJSON), scored in-process.

    runtime = XGBoostRuntime.load(Path("iris.ubj"))
    runtime.predict({"f0": np.array([5.1]), "f1": ..., "f2": ..., "f3": ...})
    # -> {"label": array([0]), "probabilities": array([[0.97, 0.02, 0.01]], dtype=float32)}

The objective in the booster's own configuration decides the outputs:
``binary:logistic``, ``binary:logitraw``, ``multi:softprob`` and
``multi:softmax`` are classifiers (``label`` and ``probabilities``, classes
``0..k-1``; the raw-score objectives get their probabilities from the margins
through the logistic/softmax functions); every other objective is a
regressor whose ``prediction`` is what ``Booster.predict`` returns (``(n, m)``
for ``m`` targets).

Inputs are one float32 column per feature, named from the booster's
``feature_names`` or ``f0..f{k-1}`` (XGBoost's own defaults), nullable
because XGBoost routes NaN down each split's default branch.  XGBoost scores
in float32, so that is the dtype the signature declares.

A categorical feature (trained on a pandas ``category`` column with
``enable_categorical=True``) takes the category values themselves: a
``string`` column (``float64`` for numeric categories) whose categories, in
code order, are the signature's ``extra["categories"]``
(:mod:`modelport.runtimes.categories`).  XGBoost 3.1 and later store them in
the booster; for an older booster they come from the registration sample's
``category`` dtypes or from a declared signature.  A value the model never
saw is scored as a missing one.  A signature that declares such a column as
float32 without listing its categories (versions registered before
categories were kept) takes the codes, as before.

Scoring goes through ``inplace_predict``, which XGBoost documents as
thread-safe and lock-free for tree boosters when nothing else touches the
booster: it is configured once at load (``nthread`` from
``options["threads"]``, default 1) and only read afterwards.  Linear boosters
(``gblinear``) have no ``inplace_predict`` and are refused.  On a 20-tree
model ``inplace_predict`` is 1.4x faster than building a ``DMatrix`` for one
row and 2x faster for 10k rows.

:func:`to_onnx` converts the booster with onnxmltools into a graph with one
float input ``input`` of shape ``[N, k]`` and the same output names, which
:class:`~modelport.runtimes.onnx.OnnxRuntime` serves with this runtime's
signature.  Only ``gbtree`` boosters convert (onnxmltools fails on ``dart``).
onnxmltools turns a categorical split into equality tests on its codes; the
columns that take category values then get a graph input each, and an
``ai.onnx.ml`` LabelEncoder in front of the trees maps their values to codes
(unknown → NaN), as :meth:`XGBoostRuntime.predict` does.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from modelport.errors import FailedPrecondition, InvalidArgument, MissingExtra, ModelFailure
from modelport.formats import looks_like_xgboost
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
from modelport.runtimes.categories import KEY as CATEGORIES
from modelport.runtimes.categories import (
    CategoryCodes,
    column_dtype,
    declared_categories,
    plain,
    with_categories,
)
from modelport.signature import Batch, ColumnSpec, Signature, batch_rows, validate_batch

#: classifier objectives, and whether their probabilities come from the margins
CLASSIFIER_OBJECTIVES: dict[str, bool] = {
    "binary:logistic": False,
    "binary:logitraw": True,
    "multi:softprob": False,
    "multi:softmax": True,
}

#: objectives whose onnxmltools conversion reproduces XGBoost's predictions
#: (multi:softmax is converted as multi:softprob: same trees, softmax on top)
ONNX_OBJECTIVES = frozenset(
    {
        "binary:logistic",
        "multi:softprob",
        "multi:softmax",
        "reg:squarederror",
        "reg:squaredlogerror",
        "reg:pseudohubererror",
        "reg:absoluteerror",
        "reg:quantileerror",
        "count:poisson",
        "reg:gamma",
        "reg:tweedie",
    }
)

#: the highest opset onnxmltools' tree converters accept
MAX_ONNX_OPSET = 15

_NOT_A_MODEL = "not an XGBoost model (expected a booster saved with save_model as .json or .ubj)"
_SNIFF_BYTES = 4096
# the "[12:00:00] /path/to/file.cc:409: " prefix of XGBoost's native error messages
_NATIVE_PREFIX = re.compile(r"^\[[\d:]+\]\s+\S+:\d+:\s*")


def _xgboost() -> ModuleType:
    return import_optional("xgboost", extra="xgboost", what="XGBoost models")


class XGBoostRuntime(Runtime):
    """A native XGBoost booster; thread-safe (``inplace_predict`` on a read-only booster)."""

    format: ClassVar[str] = "xgboost"
    options: ClassVar[Mapping[str, str]] = {"threads": "XGBoost's nthread per call (default 1)"}
    # inplace_predict turns every feature into float32 (NaN = missing, routed down the default
    # branch), so float32 and nullable is what the model takes.  A sample's dtypes would say
    # less: an integral CSV column would become int64 and refuse the fractions and missing
    # values the booster handles, and a float64 one promises precision the trees never see.
    dtypes_from_model = True

    def __init__(
        self,
        signature: Signature,
        booster: Any,
        *,
        objective: str,
        num_features: int,
        booster_type: str = "gbtree",
        categorical: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(signature)
        self.booster = booster
        self.objective = objective
        #: "gbtree" or "dart"
        self.booster_type = booster_type
        self.num_features = num_features
        self.names_from_model = _has_feature_names(booster)
        self.categorical = categorical
        self._codes = CategoryCodes(declared_categories(signature))
        self._classes = np.asarray(signature.extra["classes"]) if objective in CLASSIFIER_OBJECTIVES else None
        self._from_margin = CLASSIFIER_OBJECTIVES.get(objective, False)
        self._error = _xgboost().core.XGBoostError

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> XGBoostRuntime:
        """Load a JSON or UBJSON booster; ``options``: ``threads`` (XGBoost's nthread, default 1)."""
        xgb = _xgboost()
        threads = threads_option(options, "XGBoost")
        path = Path(path)
        try:
            with open(path, "rb") as f:
                data = bytearray(os.fstat(f.fileno()).st_size)
                f.readinto(data)
        except OSError as exc:
            raise InvalidArgument(f"cannot read XGBoost model {path.name}: {exc.strerror}") from None
        if not looks_like_xgboost(bytes(data[:_SNIFF_BYTES])):
            raise InvalidArgument(f"{_NOT_A_MODEL}: {path.name} is neither JSON nor UBJSON with a 'learner' object")
        try:
            # From memory, not the path: XGBoost picks the parser from the file
            # extension and warns about store paths that have none.
            booster = xgb.Booster(params={"nthread": threads})
            booster.load_model(data)
        except xgb.core.XGBoostError as exc:
            raise InvalidArgument(
                f"{_NOT_A_MODEL}: {path.name} is damaged or truncated ({_native_message(exc)})"
            ) from None
        config = json.loads(booster.save_config())["learner"]
        booster_type = str(config["gradient_booster"]["name"])
        if booster_type not in ("gbtree", "dart"):
            # gblinear has no inplace_predict, and XGBoost documents thread-safe prediction for trees only.
            raise InvalidArgument(
                f"XGBoost model {path.name} uses booster={booster_type}: only tree boosters (gbtree, dart) are supported"
            )
        objective = str(config["objective"]["name"])
        params = config["learner_model_param"]
        num_features = booster.num_features()
        positions = [i for i, kind in enumerate(booster.feature_types or ()) if kind == "c"]
        known = _known_categories(booster, positions, signature)
        own = _booster_signature(
            booster,
            objective,
            num_class=int(params.get("num_class", 0)),
            num_target=int(params.get("num_target", 1)),
            categories=known,
        )
        merged = merge_numeric_signature(own, signature, width=num_features, framework="XGBoost")
        per_column = len(merged.inputs) == num_features  # not one [N, k] tensor, which takes codes
        by_name = {merged.inputs[i].name: values for i, values in known.items()} if per_column else {}
        return cls(
            with_categories(merged, by_name, declared=signature),
            booster,
            objective=objective,
            num_features=num_features,
            booster_type=booster_type,
            categorical=frozenset(merged.inputs[i].name for i in positions) if per_column else frozenset(),
        )

    def predict(self, batch: Batch) -> Batch:
        booster = self.booster
        if booster is None:
            raise FailedPrecondition("this XGBoost runtime was closed")
        if self._codes:
            x = self._codes.matrix(batch, self.signature.input_names)
        else:
            x = as_2d_float(batch, self.signature.input_names, np.float32)
        if batch_rows(batch) == 0:
            return empty_outputs(self.signature)
        try:
            # validate_features=False: the width was checked at load, and XGBoost's
            # native code checks it again; the Python check costs a third of a 1-row call.
            raw = booster.inplace_predict(
                x, predict_type="margin" if self._from_margin else "value", validate_features=False
            )
        except (self._error, ValueError) as exc:
            raise ModelFailure(f"XGBoost prediction failed: {_native_message(exc)}") from None
        if self._classes is None:
            return {PREDICTION: raw}
        return classifier_outputs(_probabilities(raw, from_margin=self._from_margin), self._classes)

    def close(self) -> None:
        self.booster = None


def to_onnx(runtime: XGBoostRuntime, sample: Batch, *, opset: int | None = None) -> bytes:
    """Convert the runtime's booster to ONNX with onnxmltools; serve it with the same signature.

    The graph has one float input ``input`` of shape ``[N, k]`` (the signature's
    columns, stacked in order) and outputs ``label`` (int64 ``[N]``) and
    ``probabilities`` (float ``[N, classes]``, no ZipMap) for classifiers, or
    ``prediction`` (float ``[N, targets]``) for regressors.  ``sample`` (rows
    in the runtime's signature) is checked against it; trees need no type
    inference from data.
    """
    opset = MAX_ONNX_OPSET if opset is None else opset
    if not 1 <= opset <= MAX_ONNX_OPSET:
        raise InvalidArgument(f"onnxmltools converts XGBoost models up to opset {MAX_ONNX_OPSET}, not {opset}")
    if runtime.booster_type != "gbtree":
        raise InvalidArgument(f"onnxmltools converts XGBoost gbtree models only, not booster={runtime.booster_type}")
    if runtime.objective not in ONNX_OBJECTIVES:
        raise InvalidArgument(
            f"onnxmltools cannot convert an XGBoost model with objective {runtime.objective!r}: "
            f"expected one of {', '.join(sorted(ONNX_OBJECTIVES))}"
        )
    if runtime.booster is None:
        raise FailedPrecondition("this XGBoost runtime was closed")
    validate_batch(runtime.signature, sample)
    xgb = _xgboost()
    try:
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        from modelport.runtimes.onnx_graph import encode_categories, name_outputs
    except ImportError:
        raise MissingExtra.for_extra("onnx", "converting XGBoost models to ONNX") from None

    classifier = runtime.objective in CLASSIFIER_OBJECTIVES
    # onnxmltools converts scikit-learn wrappers most faithfully (a bare Booster
    # goes through heuristics that guess the task from the trees' covers), so
    # wrap a copy of the booster; the copy also loses its feature names, which
    # the converter cannot map back to column indices.
    wrapper = xgb.XGBClassifier() if classifier else xgb.XGBRegressor()
    wrapper.load_model(bytearray(runtime.booster.save_raw("ubj")))
    wrapper.get_booster().feature_names = None
    if runtime.objective == "multi:softmax":
        wrapper.set_params(objective="multi:softprob")
    try:
        model = convert_xgboost(
            wrapper,
            name="xgboost",
            initial_types=[("input", FloatTensorType([None, runtime.num_features]))],
            target_opset=opset,
        )
    except (RuntimeError, ValueError, KeyError, NotImplementedError) as exc:
        raise InvalidArgument(f"onnxmltools could not convert the XGBoost model: {first_line(exc)}") from None
    names = [LABEL, PROBABILITIES] if classifier else [PREDICTION]
    model = name_outputs(model, names, opset)
    categories = declared_categories(runtime.signature)
    if categories:  # the columns that take category values reach the trees through LabelEncoders
        model = encode_categories(model, [(c.name, c.dtype) for c in runtime.signature.inputs], categories)
    return model.SerializeToString()


# -- signature --------------------------------------------------------------------------------------


def _booster_signature(
    booster: Any, objective: str, *, num_class: int, num_target: int, categories: Mapping[int, list[Any]]
) -> Signature:
    names = [str(n) for n in booster.feature_names or [f"f{i}" for i in range(booster.num_features())]]
    inputs = tuple(
        ColumnSpec(name=n, dtype=column_dtype(categories[i]) if i in categories else "float32", nullable=True)
        for i, n in enumerate(names)
    )
    classes = max(num_class, 2) if objective in CLASSIFIER_OBJECTIVES else None
    sig = standard_signature(inputs, dtype="float32", classes=classes, targets=num_target)
    if categories:
        sig.extra[CATEGORIES] = {names[i]: values for i, values in sorted(categories.items())}
    return sig


def stored_categories(booster: Any) -> dict[int, list[Any]]:
    """The categories XGBoost 3.1+ keeps in the booster, by feature position; ``{}`` for older boosters."""
    get_categories = getattr(booster, "get_categories", None)
    if get_categories is None:  # XGBoost before 3.1
        return {}
    try:
        found = get_categories(export_to_arrow=True)
        if found.empty():
            return {}
        arrays = found.to_arrow()
    except (ValueError, TypeError, ImportError, _xgboost().core.XGBoostError):
        return {}
    return {i: plain(array.to_pylist()) for i, (_, array) in enumerate(arrays) if array is not None}


def _known_categories(booster: Any, positions: list[int], declared: Signature | None) -> dict[int, list[Any]]:
    """Each categorical feature's categories: the booster's own, else the declared signature's.

    A booster saved before XGBoost 3.1 holds only codes; registration then
    declares the categories of the sample's ``category`` columns.  A declared
    string column whose categories nobody knows cannot be scored: refused.
    """
    known = {i: v for i, v in stored_categories(booster).items() if i in positions}
    if declared is None or len(declared.inputs) != booster.num_features():
        return known
    given = declared_categories(declared)
    for i in positions:
        column = declared.inputs[i]
        if i not in known and column.name in given:
            known[i] = given[column.name]
        if i not in known and column.dtype == "string":
            raise InvalidArgument(
                f"column {column.name!r} is categorical in the XGBoost model, which does not store its categories "
                f"(XGBoost before 3.1 saves only codes): register with a sample whose {column.name!r} column has the "
                f'pandas category dtype (Parquet keeps it), or list them in code order under "categories" in --signature'
            )
    return known


def _has_feature_names(booster: Any) -> bool:
    """Whether the booster was trained with feature names: not none, and not XGBoost's own ``f0, f1, …``."""
    names = booster.feature_names
    return bool(names) and list(names) != [f"f{i}" for i in range(len(names))]


# -- helpers ----------------------------------------------------------------------------------------


def _probabilities(raw: np.ndarray, *, from_margin: bool) -> np.ndarray:
    if raw.ndim == 1:  # binary: P(class 1), or its log-odds
        p1 = (1.0 / (1.0 + np.exp(-raw.astype(np.float64)))).astype(np.float32) if from_margin else raw
        return np.column_stack((1 - p1, p1))
    if from_margin:
        shifted = np.exp(raw.astype(np.float64) - raw.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return raw


def _native_message(exc: BaseException) -> str:
    """The first line of an XGBoost error, without its timestamp and source-file prefix."""
    return _NATIVE_PREFIX.sub("", first_line(exc)).rstrip(" :")
