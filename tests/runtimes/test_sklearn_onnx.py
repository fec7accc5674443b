"""scikit-learn (joblib, skops) and ONNX runtimes, compared with scikit-learn itself."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelport.errors import InvalidArgument
from modelport.parity import check_parity
from modelport.runtimes import load_runtime
from modelport.runtimes.onnx import OnnxRuntime
from modelport.runtimes.sklearn import SklearnRuntime, SkopsRuntime, to_onnx
from modelport.signature import Signature, frame_to_batch, output_specs, signature_from_frame


def _runtime_for(model, frame: pd.DataFrame, path: Path) -> SklearnRuntime:  # type: ignore[no-untyped-def]
    joblib.dump(model, path)
    return SklearnRuntime.load(path, signature=Signature(inputs=signature_from_frame(frame)))


CASES = {
    "iris-logreg": (load_iris, lambda: LogisticRegression(max_iter=1000)),
    "wine-forest": (load_wine, lambda: RandomForestClassifier(30, random_state=0)),
    "cancer-pipeline": (load_breast_cancer, lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
    "diabetes-ridge": (load_diabetes, lambda: Ridge()),
    "diabetes-gbr": (load_diabetes, lambda: GradientBoostingRegressor(n_estimators=30, random_state=0)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sklearn_runtime_equals_sklearn_and_onnx_passes_parity(case: str, tmp_path: Path) -> None:
    loader, make = CASES[case]
    x, y = loader(return_X_y=True, as_frame=True)
    model = make().fit(x, y)
    rt = _runtime_for(model, x, tmp_path / "m.joblib")
    batch = frame_to_batch(x, rt.signature)
    out = rt.predict(batch)
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(out["label"], model.predict(x))
        np.testing.assert_allclose(out["probabilities"], model.predict_proba(x))
        assert rt.signature.extra["classes"] == model.classes_.tolist()
    else:
        np.testing.assert_allclose(out["prediction"], model.predict(x))
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(to_onnx(rt, batch))
    sig = Signature(inputs=rt.signature.inputs, outputs=output_specs(out), extra=rt.signature.extra)
    ort = OnnxRuntime.load(onnx_path, signature=sig)
    report = check_parity(rt, ort, batch)
    assert report.ok, report.summary()
    assert report.rows == len(x)
    if "label" in out:
        assert report.label_agreement == 1.0
        assert ort.predict(batch)["probabilities"].shape == (len(x), len(model.classes_))


def test_multi_input_graph_with_string_columns(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True, as_frame=True)
    x = x.copy()
    x["colour"] = np.where(y == 0, "red", np.where(y == 1, "green", "blue"))
    x.loc[::7, "colour"] = "grey"
    pre = ColumnTransformer(
        [("num", StandardScaler(), list(x.columns[:4])), ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"])]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(x, y)
    rt = _runtime_for(model, x, tmp_path / "m.joblib")
    assert [c.dtype for c in rt.signature.inputs][-1] == "string"
    batch = frame_to_batch(x, rt.signature)
    (tmp_path / "m.onnx").write_bytes(to_onnx(rt, batch))
    sig = Signature(inputs=rt.signature.inputs, outputs=output_specs(rt.predict(batch)), extra=rt.signature.extra)
    ort = OnnxRuntime.load(tmp_path / "m.onnx", signature=sig)
    assert sorted(i.name for i in ort.session.get_inputs()) == sorted(x.columns)  # one input per column
    out = ort.predict(batch)
    np.testing.assert_array_equal(out["label"], model.predict(x))
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(x), atol=1e-5)


def test_skops_safe_format(tmp_path: Path) -> None:
    import skops.io as sio

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(10, random_state=0).fit(x, y)
    sio.dump(model, tmp_path / "m.skops")
    rt = SkopsRuntime.load(tmp_path / "m.skops")
    out = rt.predict(frame_to_batch(x, rt.signature))
    np.testing.assert_array_equal(out["label"], model.predict(x))


def test_skops_refuses_foreign_types(tmp_path: Path) -> None:
    import skops.io as sio

    from tests.runtimes.fixtures import CustomThing

    sio.dump({"model": CustomThing()}, tmp_path / "m.skops")
    with pytest.raises(InvalidArgument, match=r"types outside scikit-learn/NumPy/SciPy, refused: tests\.runtimes\.fixtures\.CustomThing"):
        SkopsRuntime.load(tmp_path / "m.skops")


def test_onnx_graph_signature_and_threads(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    model = RandomForestClassifier(20, random_state=0).fit(x, y)
    from skl2onnx import to_onnx as skl_to_onnx

    (tmp_path / "m.onnx").write_bytes(skl_to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False}).SerializeToString())
    rt = load_runtime("onnx", tmp_path / "m.onnx", options={"threads": 1})
    assert [(c.name, c.dtype, c.shape) for c in rt.signature.inputs] == [("X", "float32", (-1, 4))]
    errors: list[BaseException] = []
    expected = model.predict(x)

    def work() -> None:
        try:
            for _ in range(20):
                np.testing.assert_array_equal(rt.predict({"X": x.astype(np.float32)})["label"], expected)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with pytest.raises(InvalidArgument, match="the ONNX model rejected the input"):
        rt.predict({"X": np.ones((2, 3), dtype=np.float32)})


def test_bad_files(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    from skl2onnx import to_onnx as skl_to_onnx

    data = skl_to_onnx(LogisticRegression(max_iter=300).fit(x, y), x[:1].astype(np.float32)).SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArgument, match="^not a valid ONNX model: "):
        OnnxRuntime.load(tmp_path / "cut.onnx")
    with open(tmp_path / "dict.pkl", "wb") as fh:
        pickle.dump({"weights": [1, 2, 3]}, fh)
    with pytest.raises(InvalidArgument, match=r"holds a builtins\.dict, which has no predict method: expected a fitted scikit-learn"):
        SklearnRuntime.load(tmp_path / "dict.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(InvalidArgument, match=r"^not a scikit-learn model \(expected a joblib or pickle file\)"):
        SklearnRuntime.load(tmp_path / "junk.pkl")
