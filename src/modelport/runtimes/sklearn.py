"""scikit-learn estimators and pipelines: joblib/pickle, and skops (the safe format).

Pickles run code when they are loaded.  modelport loads them only from its
own artifact store, after the sha256 recorded at registration has been
checked (:meth:`modelport.store.ArtifactStore.local_path`), so the bytes that
run are the bytes the registering user uploaded.  skops files are loaded
without running arbitrary code: only types from an allow-list of modules
(scikit-learn, NumPy, SciPy, the boosting libraries' scikit-learn wrappers)
are trusted, and a file referencing anything else is refused by name.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelport.errors import InvalidArgument, MissingExtra, ModelFailure
from modelport.runtimes.base import PREDICTION, Runtime, classifier_outputs, first_line, import_optional, stack_columns
from modelport.runtimes.categories import CategoryCodes, declared_categories, refuse_conversion, with_categories
from modelport.runtimes.sklearn_forest import forest_scorer
from modelport.signature import Batch, ColumnSpec, Signature

TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.", "xgboost.", "lightgbm.", "collections.", "builtins.")


def _joblib() -> Any:
    return import_optional("joblib", extra="sklearn", what="scikit-learn models")


def _estimator_name(model: Any) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _final_step(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _default_inputs(model: Any) -> tuple[ColumnSpec, ...]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return tuple(ColumnSpec(name=str(n), dtype="float64") for n in names)
    n = getattr(model, "n_features_in_", None)
    if n is None:
        return ()
    # scikit-learn's own names for unnamed features
    return tuple(ColumnSpec(name=f"x{i}", dtype="float64") for i in range(int(n)))


class SklearnRuntime(Runtime):
    format: ClassVar[str] = "sklearn"

    def __init__(self, model: Any, signature: Signature) -> None:
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgument(
                f"the file holds a {_estimator_name(model)}, which has no predict method: "
                "expected a fitted scikit-learn estimator or pipeline"
            )
        declared = None if signature.is_empty or not signature.inputs else signature
        if declared is None:
            signature = Signature(inputs=_default_inputs(model), outputs=signature.outputs, extra=signature.extra)
        self.categorical, categories = _xgboost_categories(model, declared)
        if self.categorical:
            signature = with_categories(signature, categories, declared=declared, categorical=self.categorical)
        # only an XGBoost wrapper's categorical columns: other estimators take the strings themselves
        self._codes = CategoryCodes(declared_categories(signature) if self.categorical else {})
        classes = getattr(model, "classes_", None)
        self.is_classifier = classes is not None and callable(getattr(model, "predict_proba", None))
        if self.is_classifier and "classes" not in signature.extra:
            signature = Signature(
                inputs=signature.inputs,
                outputs=signature.outputs,
                extra={**signature.extra, "classes": np.asarray(classes).tolist()},
            )
        super().__init__(signature)
        self.model = model
        self.classes = np.asarray(classes) if classes is not None else None
        self.takes_frames = getattr(model, "feature_names_in_", None) is not None
        self.names_from_model = self.takes_frames
        self.dtypes_from_model = False
        self._names = signature.input_names
        if self.takes_frames and self._names and not self._codes and self._arrays_suffice():
            self.takes_frames = False
        # forests skip predict_proba's per-call bookkeeping once a trial proves the results identical
        forest = None if self.takes_frames or not self._names else forest_scorer(model, len(self._names))
        self._score = forest or (model.predict_proba if self.is_classifier else model.predict)

    def _arrays_suffice(self) -> bool:
        """Can this model take a plain matrix instead of a DataFrame? (5x faster per call)

        Validation already put the columns in the model's order, so names only
        matter to steps that select columns by name (ColumnTransformer) or hold
        strings.  scikit-learn would then warn that the matrix has no feature
        names; the names are dropped from this in-memory copy instead, and one
        trial call proves nothing else still expects them.
        """
        if _has_column_transformer(self.model) or any(c.dtype == "string" for c in self.signature.inputs):
            return False
        if list(getattr(self.model, "feature_names_in_", [])) != list(self._names):
            return False
        first = self.model.steps[0][1] if getattr(self.model, "steps", None) else self.model
        saved = first.__dict__.get("feature_names_in_")
        first.__dict__.pop("feature_names_in_", None)
        trial = np.zeros((1, len(self._names)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                (self.model.predict_proba if self.is_classifier else self.model.predict)(trial)
            except Exception:  # the trial row may be out of a model's domain: keep frames, to be safe
                caught.append(None)  # type: ignore[arg-type]
        if caught:
            first.__dict__["feature_names_in_"] = saved
            return False
        return True

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> SklearnRuntime:
        joblib = _joblib()
        try:
            model = joblib.load(path)
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise InvalidArgument(
                f"not a scikit-learn model (expected a joblib or pickle file): {type(exc).__name__}: {exc}"
            ) from None
        except (AttributeError, ModuleNotFoundError, ImportError) as exc:
            raise InvalidArgument(f"the pickle needs code that is not installed here: {exc}") from None
        return cls(model, signature or Signature())

    def model_input(self, batch: Batch) -> Any:
        if self.takes_frames:
            import pandas as pd

            codes = self._codes
            columns = {n: codes.categorical(n, batch[n]) if n in codes else batch[n] for n in self._names}
            return pd.DataFrame(columns, copy=False)
        if not self._names:
            return np.empty((0, 0))
        return stack_columns(batch, self._names)

    def predict(self, batch: Batch) -> Batch:
        x = self.model_input(batch)
        try:
            scores = self._score(x)
            if self.is_classifier:
                return classifier_outputs(scores, self.classes)  # type: ignore[arg-type]
            return {PREDICTION: np.asarray(scores)}
        except (ValueError, TypeError) as exc:
            raise ModelFailure(f"the scikit-learn model failed: {exc}") from None


def _xgboost_categories(model: Any, declared: Signature | None) -> tuple[frozenset[str], dict[str, list[Any]]]:
    """The categorical features of an XGBoost scikit-learn wrapper fitted on a DataFrame, and their categories.

    The categories are the booster's own (XGBoost 3.1+), else the declared
    signature's (registration puts the sample's ``category`` dtypes there).
    """
    names = getattr(model, "feature_names_in_", None)
    if not type(model).__module__.startswith("xgboost.") or names is None:
        return frozenset(), {}
    from modelport.runtimes.xgboost import stored_categories

    kinds = model.get_booster().feature_types or ()
    positions = [i for i, kind in enumerate(kinds) if kind == "c"]
    if not positions:
        return frozenset(), {}
    stored = stored_categories(model.get_booster())
    given = declared_categories(declared)
    categories = {}
    for i in positions:
        values = stored.get(i, given.get(str(names[i])))
        if values is not None:
            categories[str(names[i])] = values
    return frozenset(str(names[i]) for i in positions), categories


class SkopsRuntime(SklearnRuntime):
    format: ClassVar[str] = "skops"

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> SkopsRuntime:
        sio = import_optional("skops.io", extra="sklearn", what="skops models")
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:  # skops raises zipfile/json/KeyError variants for foreign files
            raise InvalidArgument(f"not a skops model (expected a file written by skops.io.dump): {exc}") from None
        refused = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
        if refused:
            raise InvalidArgument(
                f"the skops file references types outside scikit-learn/NumPy/SciPy, refused: {', '.join(refused)}"
            )
        model = sio.load(path, trusted=untrusted)
        return cls(model, signature or Signature())


# -- conversion -------------------------------------------------------------------


def _has_column_transformer(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    if isinstance(model, ColumnTransformer):
        return True
    return any(_has_column_transformer(step) for _, step in getattr(model, "steps", ()))


def to_onnx(runtime: Runtime, sample: Batch, *, opset: int | None = None) -> bytes:
    """Convert with skl2onnx: plain tensors (no ZipMap), standard output names."""
    assert isinstance(runtime, SklearnRuntime)
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import (
            DoubleTensorType,
            FloatTensorType,
            Int64TensorType,
            StringTensorType,
        )

        from modelport.runtimes.onnx_graph import rename_tensors
    except ImportError:
        raise MissingExtra.for_extra("onnx", "converting scikit-learn models to ONNX") from None
    refuse_conversion(runtime.signature)
    model = runtime.model
    sig = runtime.signature
    per_column = _has_column_transformer(model) or any(c.dtype == "string" for c in sig.inputs)
    if per_column:
        types = {
            "string": StringTensorType,
            "int64": Int64TensorType,
            "int32": Int64TensorType,
            "float64": DoubleTensorType,
        }
        initial = [(c.name, types.get(c.dtype, FloatTensorType)([None, 1])) for c in sig.inputs]
        # skl2onnx's numeric imputers/scalers want float inputs: keep numbers as float32 unless integral ids.
        initial = [(n, FloatTensorType([None, 1]) if isinstance(t, DoubleTensorType) else t) for n, t in initial]
    else:
        initial = [("input", FloatTensorType([None, len(sig.inputs)]))]
    final = _final_step(model)
    options = {id(final): {"zipmap": False}} if runtime.is_classifier else None
    final_types = None
    if not runtime.is_classifier:
        final_types = [(PREDICTION, FloatTensorType([None, 1]))]
    try:
        onx = convert_sklearn(
            model,
            initial_types=initial,
            options=options,
            final_types=final_types,
            target_opset=opset,
        )
    except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError/MissingShapeCalculator…
        raise InvalidArgument(f"skl2onnx cannot convert {_estimator_name(final)}: {first_line(exc)}") from None
    if runtime.is_classifier:
        rename_tensors(onx, {"output_label": "label", "output_probability": "probabilities"})
    if per_column:
        # skl2onnx sanitises names ("petal length (cm)" → "petal_length__cm_"): put the columns back.
        rename_tensors(onx, {i.name: c.name for i, c in zip(onx.graph.input, sig.inputs, strict=True)})
    return bytes(onx.SerializeToString())
