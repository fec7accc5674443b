"""XGBoostRuntime and LightGBMRuntime: native boosters, and their ONNX conversions.

Every model is trained here, on datasets that ship with scikit-learn, through
the frameworks' scikit-learn wrappers; the native runtimes must reproduce the
wrappers' own ``predict``/``predict_proba``, and the ONNX conversions must
pass :func:`modelport.parity.check_parity` against the native runtimes.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import onnx
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from modelport.errors import InvalidArgument, MissingExtra
from modelport.formats import detect_format, sniff_format
from modelport.parity import check_parity
from modelport.runtimes import lightgbm as lgb_runtime
from modelport.runtimes import load_runtime
from modelport.runtimes import xgboost as xgb_runtime
from modelport.runtimes.base import Runtime
from modelport.runtimes.lightgbm import LightGBMRuntime
from modelport.runtimes.onnx import OnnxRuntime
from modelport.runtimes.xgboost import XGBoostRuntime
from modelport.signature import Batch, ColumnSpec, Signature, validate_batch

TREES = 20


@dataclass(frozen=True)
class Trained:
    """A fitted scikit-learn wrapper, its training rows, and its native file."""

    estimator: Any
    X: pd.DataFrame
    path: Path
    runtime_class: type[XGBoostRuntime] | type[LightGBMRuntime]
    to_onnx: Callable[..., bytes]

    @property
    def classifier(self) -> bool:
        return hasattr(self.estimator, "predict_proba")

    def expected(self) -> Batch:
        if self.classifier:
            return {"label": self.estimator.predict(self.X), "probabilities": self.estimator.predict_proba(self.X)}
        return {"prediction": self.estimator.predict(self.X)}


def datasets() -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    # iris keeps positional columns (the boosters then use their default
    # feature names); the others keep scikit-learn's names.
    iris = load_iris(as_frame=True)
    cancer = load_breast_cancer(as_frame=True)
    diabetes = load_diabetes(as_frame=True)
    return {
        "iris": (iris.data.set_axis(range(iris.data.shape[1]), axis=1), iris.target),
        "cancer": (cancer.data, cancer.target),
        "diabetes": (diabetes.data, diabetes.target),
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    root = tmp_path_factory.mktemp("boosters")
    data = datasets()
    out: dict[str, Trained] = {}
    xgb_estimators = {
        "iris": xgboost.XGBClassifier,
        "cancer": xgboost.XGBClassifier,
        "diabetes": xgboost.XGBRegressor,
    }
    lgb_estimators = {
        "iris": lightgbm.LGBMClassifier,
        "cancer": lightgbm.LGBMClassifier,
        "diabetes": lightgbm.LGBMRegressor,
    }
    for name, (X, y) in data.items():
        X_fit = X.to_numpy() if name == "iris" else X
        # n_jobs=1: the two libraries' OpenMP pools otherwise spin against each other on small machines
        est = xgb_estimators[name](n_estimators=TREES, max_depth=4, random_state=0, n_jobs=1).fit(X_fit, y)
        for ext in ("json", "ubj"):
            path = root / f"xgb-{name}.{ext}"
            est.get_booster().save_model(path)
            out[f"xgboost-{name}-{ext}"] = Trained(est, X, path, XGBoostRuntime, xgb_runtime.to_onnx)
        est = lgb_estimators[name](n_estimators=TREES, num_leaves=15, random_state=0, n_jobs=1, verbose=-1).fit(
            X_fit, y
        )
        path = root / f"lgb-{name}.txt"
        est.booster_.save_model(path)
        out[f"lightgbm-{name}"] = Trained(est, X, path, LightGBMRuntime, lgb_runtime.to_onnx)
    return out


CASES = [
    "xgboost-iris-json",
    "xgboost-iris-ubj",
    "xgboost-cancer-json",
    "xgboost-cancer-ubj",
    "xgboost-diabetes-json",
    "xgboost-diabetes-ubj",
    "lightgbm-iris",
    "lightgbm-cancer",
    "lightgbm-diabetes",
]


def as_batch(X: pd.DataFrame, signature: Signature) -> Batch:
    """The frame's columns under the signature's names, validated as a server would."""
    return validate_batch(signature, dict(zip(signature.input_names, X.T.to_numpy(), strict=True)))


def assert_outputs_equal(actual: Batch, expected: Batch) -> None:
    assert set(actual) == set(expected)
    for name, want in expected.items():
        got = actual[name]
        assert got.shape == want.shape, name
        if name == "label":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)


# -- native runtimes --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_native_runtime_matches_the_framework(models: dict[str, Trained], case: str) -> None:
    trained = models[case]
    runtime = trained.runtime_class.load(trained.path)
    assert_outputs_equal(runtime.predict(as_batch(trained.X, runtime.signature)), trained.expected())


@pytest.mark.parametrize(
    ("case", "first_column", "outputs", "classes"),
    [
        (
            "xgboost-iris-ubj",
            ColumnSpec("f0", "float32", nullable=True),
            {"label": (-1,), "probabilities": (-1, 3)},
            [0, 1, 2],
        ),
        (
            "xgboost-cancer-json",
            ColumnSpec("mean radius", "float32", nullable=True),
            {"label": (-1,), "probabilities": (-1, 2)},
            [0, 1],
        ),
        ("xgboost-diabetes-json", ColumnSpec("age", "float32", nullable=True), {"prediction": (-1,)}, None),
        (
            "lightgbm-iris",
            ColumnSpec("Column_0", "float64", nullable=True),
            {"label": (-1,), "probabilities": (-1, 3)},
            [0, 1, 2],
        ),
        # LightGBM writes feature names without spaces
        (
            "lightgbm-cancer",
            ColumnSpec("mean_radius", "float64", nullable=True),
            {"label": (-1,), "probabilities": (-1, 2)},
            [0, 1],
        ),
        ("lightgbm-diabetes", ColumnSpec("age", "float64", nullable=True), {"prediction": (-1,)}, None),
    ],
)
def test_signature_comes_from_the_booster(
    models: dict[str, Trained],
    case: str,
    first_column: ColumnSpec,
    outputs: dict[str, tuple[int, ...]],
    classes: list[int] | None,
) -> None:
    trained = models[case]
    signature = trained.runtime_class.load(trained.path).signature
    assert len(signature.inputs) == trained.X.shape[1]
    assert signature.inputs[0] == first_column
    assert {c.name: c.shape for c in signature.outputs} == outputs
    assert signature.extra.get("classes") == classes


def test_load_runtime_finds_and_warms_both_formats(models: dict[str, Trained]) -> None:
    for fmt, case in (("xgboost", "xgboost-iris-ubj"), ("lightgbm", "lightgbm-iris")):
        runtime = load_runtime(fmt, models[case].path, options={"threads": 2})
        assert type(runtime) is models[case].runtime_class


@pytest.mark.parametrize("case", ["xgboost-iris-json", "lightgbm-iris", "xgboost-diabetes-ubj", "lightgbm-diabetes"])
def test_empty_batch_gives_empty_outputs(models: dict[str, Trained], case: str) -> None:
    trained = models[case]
    runtime = trained.runtime_class.load(trained.path)
    out = runtime.predict(as_batch(trained.X.iloc[:0], runtime.signature))
    assert {name: value.shape for name, value in out.items()} == {
        c.name: (0, *(d for d in c.shape[1:])) for c in runtime.signature.outputs
    }


def test_declared_signature_is_checked_against_the_booster(models: dict[str, Trained]) -> None:
    for case in ("xgboost-iris-json", "lightgbm-iris"):
        trained = models[case]
        three = Signature(inputs=tuple(ColumnSpec(f"x{i}", "float64") for i in range(3)))
        with pytest.raises(InvalidArgument, match=r"the signature has 3 input feature\(s\); the \w+ model has 4"):
            trained.runtime_class.load(trained.path, signature=three)
        # one [N, 4] tensor column is as good as four 1-D columns
        tensor = Signature(inputs=(ColumnSpec("X", "float32", shape=(-1, 4)),))
        runtime = trained.runtime_class.load(trained.path, signature=tensor)
        out = runtime.predict({"X": trained.X.to_numpy()})
        np.testing.assert_allclose(
            out["probabilities"], trained.estimator.predict_proba(trained.X), rtol=1e-6, atol=1e-6
        )


def test_linear_xgboost_boosters_are_refused(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    booster = xgboost.train({"booster": "gblinear", "nthread": 1}, xgboost.DMatrix(X, y), num_boost_round=2)
    booster.save_model(tmp_path / "linear.ubj")
    with pytest.raises(
        InvalidArgument, match=r"linear\.ubj uses booster=gblinear: only tree boosters \(gbtree, dart\)"
    ):
        XGBoostRuntime.load(tmp_path / "linear.ubj")


def test_threads_option_is_validated(models: dict[str, Trained]) -> None:
    for case in ("xgboost-iris-json", "lightgbm-iris"):
        with pytest.raises(InvalidArgument, match=r"option threads must be an integer >= 1, got 0"):
            models[case].runtime_class.load(models[case].path, options={"threads": 0})


@pytest.mark.parametrize(
    ("case", "threads"),
    [("xgboost-iris-ubj", 1), ("xgboost-cancer-json", 2), ("lightgbm-iris", 1), ("lightgbm-diabetes", 2)],
)
def test_concurrent_predictions_match_sequential_ones(models: dict[str, Trained], case: str, threads: int) -> None:
    trained = models[case]
    runtime = trained.runtime_class.load(trained.path, options={"threads": threads})
    slices = [as_batch(trained.X.iloc[i : i + 37], runtime.signature) for i in range(0, len(trained.X), 37)]
    expected = [runtime.predict(s) for s in slices]
    workers, rounds = 8, 20
    start = threading.Barrier(workers)

    def work(worker: int) -> list[tuple[int, Batch]]:
        start.wait(timeout=10)
        order = [(worker + r) % len(slices) for r in range(rounds)]
        return [(i, runtime.predict(slices[i])) for i in order]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = [r for rs in pool.map(work, range(workers)) for r in rs]
    assert len(results) == workers * rounds
    # Exact: the same runtime on the same slice (a booster sums each row's trees in order,
    # whatever the thread count), so any difference is an answer mixed up between callers.
    for i, out in results:
        for name, value in expected[i].items():
            np.testing.assert_array_equal(out[name], value)


# -- ONNX conversion --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_onnx_conversion_passes_parity(models: dict[str, Trained], case: str, tmp_path: Path) -> None:
    trained = models[case]
    native = trained.runtime_class.load(trained.path)
    batch = as_batch(trained.X, native.signature)
    path = tmp_path / "model.onnx"
    path.write_bytes(trained.to_onnx(native, batch))

    converted = OnnxRuntime.load(path, signature=native.signature)
    (graph_input,) = converted.session.get_inputs()
    assert (graph_input.name, graph_input.type, graph_input.shape[1]) == ("input", "tensor(float)", trained.X.shape[1])
    assert [o.name for o in converted.session.get_outputs()] == native.signature.output_names

    report = check_parity(native, converted, batch)
    assert report.ok, report.summary()
    out = converted.predict(batch)
    if trained.classifier:
        assert out["probabilities"].shape == (len(trained.X), len(native.signature.extra["classes"]))
        assert report.label_agreement == 1.0
    else:
        assert out["prediction"].shape == (len(trained.X),)


def test_onnx_conversion_is_deterministic(models: dict[str, Trained]) -> None:
    for case in ("xgboost-cancer-ubj", "lightgbm-cancer"):
        trained = models[case]
        native = trained.runtime_class.load(trained.path)
        batch = as_batch(trained.X.iloc[:5], native.signature)
        assert trained.to_onnx(native, batch) == trained.to_onnx(native, batch)


def test_onnx_graph_declares_a_batch_dimension_on_every_output(models: dict[str, Trained]) -> None:
    # onnxmltools declares a LightGBM label as [1]; ONNX Runtime then logs a
    # shape mismatch on every call with more than one row.
    trained = models["lightgbm-iris"]
    native = trained.runtime_class.load(trained.path)
    model = onnx.load_from_string(trained.to_onnx(native, as_batch(trained.X.iloc[:5], native.signature)))
    assert [(o.name, o.type.tensor_type.shape.dim[0].dim_param) for o in model.graph.output] == [
        ("label", "N"),
        ("probabilities", "N"),
    ]


def test_onnx_conversion_refuses_what_it_cannot_reproduce(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    booster = xgboost.train(
        {"objective": "reg:logistic", "max_depth": 2, "nthread": 1}, xgboost.DMatrix(X, y), num_boost_round=2
    )
    booster.save_model(tmp_path / "logistic.json")
    runtime = XGBoostRuntime.load(tmp_path / "logistic.json")
    with pytest.raises(
        InvalidArgument, match=r"onnxmltools cannot convert an XGBoost model with objective 'reg:logistic'"
    ):
        xgb_runtime.to_onnx(runtime, {})
    with pytest.raises(InvalidArgument, match=r"onnxmltools converts XGBoost models up to opset 15, not 17"):
        xgb_runtime.to_onnx(runtime, {}, opset=17)

    dart = xgboost.train({"booster": "dart", "nthread": 1}, xgboost.DMatrix(X, y), num_boost_round=2)
    dart.save_model(tmp_path / "dart.json")
    runtime = XGBoostRuntime.load(tmp_path / "dart.json")
    with pytest.raises(InvalidArgument, match=r"onnxmltools converts XGBoost gbtree models only, not booster=dart"):
        xgb_runtime.to_onnx(runtime, {})

    model = lightgbm.train(
        {"objective": "multiclassova", "num_class": 3, "num_threads": 1, "verbose": -1},
        lightgbm.Dataset(*load_iris(return_X_y=True)),
        2,
    )
    model.save_model(tmp_path / "ova.txt")
    ova = LightGBMRuntime.load(tmp_path / "ova.txt")
    with pytest.raises(
        InvalidArgument, match=r"onnxmltools cannot convert a LightGBM model with objective 'multiclassova'"
    ):
        lgb_runtime.to_onnx(ova, {})


def test_raw_score_objectives_get_probabilities(tmp_path: Path) -> None:
    # multi:softmax predicts class indices and binary:logitraw log-odds; both
    # are classifiers whose probabilities come from the margins.
    X, y = load_iris(return_X_y=True)
    softmax = xgboost.train(
        {"objective": "multi:softmax", "num_class": 3, "nthread": 1}, xgboost.DMatrix(X, y), num_boost_round=5
    )
    softprob = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "nthread": 1}, xgboost.DMatrix(X, y), num_boost_round=5
    )
    softmax.save_model(tmp_path / "softmax.ubj")
    softprob.save_model(tmp_path / "softprob.ubj")
    a = XGBoostRuntime.load(tmp_path / "softmax.ubj")
    b = XGBoostRuntime.load(tmp_path / "softprob.ubj")
    batch = {f"f{i}": X[:, i] for i in range(4)}
    out_a, out_b = a.predict(batch), b.predict(batch)
    np.testing.assert_array_equal(out_a["label"], softmax.predict(xgboost.DMatrix(X)).astype(np.int64))
    np.testing.assert_allclose(out_a["probabilities"], out_b["probabilities"], atol=1e-6)
    # and its conversion (as multi:softprob) agrees
    path = tmp_path / "softmax.onnx"
    path.write_bytes(xgb_runtime.to_onnx(a, batch))
    assert check_parity(a, OnnxRuntime.load(path, signature=a.signature), batch).ok

    X, y = load_breast_cancer(return_X_y=True)
    logitraw = xgboost.train({"objective": "binary:logitraw", "nthread": 1}, xgboost.DMatrix(X, y), num_boost_round=5)
    logitraw.save_model(tmp_path / "logitraw.json")
    out = XGBoostRuntime.load(tmp_path / "logitraw.json").predict({f"f{i}": X[:, i] for i in range(X.shape[1])})
    margin = logitraw.predict(xgboost.DMatrix(X), output_margin=True).astype(np.float64)
    np.testing.assert_allclose(out["probabilities"][:, 1], 1 / (1 + np.exp(-margin)), atol=1e-6)


# -- files that are not boosters --------------------------------------------------------------------


@pytest.fixture
def not_models(models: dict[str, Trained], tmp_path: Path) -> dict[str, Path]:
    files = {
        "text": "sepal_length,sepal_width\n5.1,3.5\n",
        "json": '{"not": "a booster"}\n',
    }
    out = {name: tmp_path / f"{name}.txt" for name in files}
    for name, text in files.items():
        out[name].write_text(text)
    for case, name in (
        ("xgboost-iris-json", "model.json"),
        ("xgboost-iris-ubj", "model.ubj"),
        ("lightgbm-iris", "model.txt"),
    ):
        data = models[case].path.read_bytes()
        out[f"truncated-{name}"] = tmp_path / name
        out[f"truncated-{name}"].write_bytes(data[: len(data) // 2])
    crlf = models["lightgbm-iris"].path.read_bytes().replace(b"\n", b"\r\n")
    out["crlf"] = tmp_path / "crlf.txt"
    out["crlf"].write_bytes(crlf)
    return out


XGB_NOT_A_MODEL = r"not an XGBoost model \(expected a booster saved with save_model as \.json or \.ubj\): "
LGB_NOT_A_MODEL = r"not a LightGBM model \(expected a text model saved with Booster\.save_model\): "


@pytest.mark.parametrize(
    ("runtime_class", "file", "message"),
    [
        (XGBoostRuntime, "text", XGB_NOT_A_MODEL + r"text\.txt is neither JSON nor UBJSON with a 'learner' object$"),
        (XGBoostRuntime, "json", XGB_NOT_A_MODEL + r"json\.txt is neither JSON nor UBJSON with a 'learner' object$"),
        (XGBoostRuntime, "truncated-model.txt", XGB_NOT_A_MODEL + r"model\.txt is neither JSON nor UBJSON"),
        (
            XGBoostRuntime,
            "truncated-model.json",
            XGB_NOT_A_MODEL + r'model\.json is damaged or truncated \(Expecting: .*"EOF"',
        ),
        (XGBoostRuntime, "truncated-model.ubj", XGB_NOT_A_MODEL + r"model\.ubj is damaged or truncated \(.+\)$"),
        (
            LightGBMRuntime,
            "text",
            LGB_NOT_A_MODEL + r"text\.txt does not start with a 'tree' line and a 'version=' line$",
        ),
        (LightGBMRuntime, "truncated-model.json", LGB_NOT_A_MODEL + r"model\.json does not start with a 'tree' line"),
        (
            LightGBMRuntime,
            "truncated-model.txt",
            LGB_NOT_A_MODEL + r"model\.txt: its trees are not where its tree_sizes line says: "
            r"the file is truncated or was edited$",
        ),
        (LightGBMRuntime, "crlf", LGB_NOT_A_MODEL + r"crlf\.txt: .* \(its line endings were converted to CRLF; "),
    ],
)
def test_a_file_that_is_not_a_booster_is_an_invalid_argument(
    not_models: dict[str, Path], runtime_class: type[Runtime], file: str, message: str
) -> None:
    # The truncated LightGBM file matters most: LightGBM itself reads past the
    # end of it and aborts the process.
    with pytest.raises(InvalidArgument, match=message) as info:
        runtime_class.load(not_models[file])
    assert "\n" not in str(info.value)


def test_sniffers_recognise_their_own_format(models: dict[str, Trained], not_models: dict[str, Path]) -> None:
    xgb_files = [models["xgboost-iris-json"].path, models["xgboost-iris-ubj"].path]
    lgb_files = [models["lightgbm-iris"].path, not_models["crlf"]]
    others = [not_models["text"], not_models["json"]]
    found = [sniff_format(p) for p in xgb_files + lgb_files + others]
    assert found == ["xgboost", "xgboost", "lightgbm", "lightgbm", None, None]


def test_detection_and_the_runtime_agree_on_what_is_a_booster(tmp_path: Path) -> None:
    """One rule: a UBJSON or JSON document is XGBoost only when its first key is "learner", as the runtime checks."""
    ubj_other = tmp_path / "other.ubj"
    ubj_other.write_bytes(b"{i\x05hello" + b"SU\x05world}")  # UBJSON {"hello": "world"}
    json_other = tmp_path / "other.json"
    json_other.write_text('{"booster": {}, "note": "learner"}')
    tree_only = tmp_path / "notes.txt"
    tree_only.write_text("tree\nnot a LightGBM header\n")
    for path in (ubj_other, json_other, tree_only):
        assert sniff_format(path) is None
        with pytest.raises(InvalidArgument, match="is not a model file modelport recognises"):
            detect_format(path)


def test_missing_library_is_a_missing_extra(models: dict[str, Trained], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingExtra, match=r"pip install 'modelport\[xgboost\]'"):
        XGBoostRuntime.load(models["xgboost-iris-json"].path)
    with pytest.raises(MissingExtra, match=r"pip install 'modelport\[lightgbm\]'"):
        LightGBMRuntime.load(models["lightgbm-iris"].path)
