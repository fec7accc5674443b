"""Tree ensembles in ONNX scored by modelport's kernel: bit-identical to ONNX Runtime, or not used at all."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from modelport.client import Client
from modelport.errors import InvalidArgument
from modelport.runtimes import load_runtime
from modelport.runtimes.onnx import OnnxRuntime
from modelport.runtimes.onnx_trees import MAX_DEPTH, _kernel, build, trial_rows


def _onnx(model, x: np.ndarray, path: Path) -> Path:  # type: ignore[no-untyped-def]
    from skl2onnx import to_onnx

    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    path.write_bytes(to_onnx(model, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString())
    return path


def _xgb_regressor_with_missing(path: Path) -> tuple[Path, np.ndarray]:
    """XGBoost learns where missing values go (BRANCH_LT, missing_value_tracks_true) and adds a base score."""
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y = load_diabetes(return_X_y=True)
    x = x.astype(np.float32)
    x[np.random.default_rng(0).random(x.shape) < 0.1] = np.nan
    model = xgboost.XGBRegressor(n_estimators=40, max_depth=5).fit(x, y)
    onx = convert_xgboost(model, initial_types=[("input", FloatTensorType([None, x.shape[1]]))], target_opset=15)
    path.write_bytes(onx.SerializeToString())
    return path, x


def _case(name: str, tmp_path: Path) -> tuple[Path, np.ndarray]:
    xi, yi = load_iris(return_X_y=True)
    xi = xi.astype(np.float32)
    xd, yd = load_diabetes(return_X_y=True)
    xd = xd.astype(np.float32)
    xb, yb = make_classification(3000, 12, random_state=0)
    xb = xb.astype(np.float32)
    path = tmp_path / f"{name}.onnx"
    if name == "forest-binary":
        return _onnx(RandomForestClassifier(40, max_depth=9, random_state=0).fit(xb, yb), xb, path), xb
    if name == "forest-string-labels":
        labels = np.array(["setosa", "versicolor", "virginica"])[yi]
        return _onnx(RandomForestClassifier(25, max_depth=6, random_state=0).fit(xi, labels), xi, path), xi
    if name == "extra-trees-regressor":
        return _onnx(ExtraTreesRegressor(30, max_depth=8, random_state=0).fit(xd, yd), xd, path), xd
    if name == "forest-two-targets":
        y2 = np.column_stack([yd, yd * 0.5 + xd[:, 0]])
        return _onnx(RandomForestRegressor(20, max_depth=7, random_state=0).fit(xd, y2), xd, path), xd
    if name == "boosted-regressor":
        return _onnx(GradientBoostingRegressor(n_estimators=50, random_state=0).fit(xd, yd), xd, path), xd
    assert name == "xgboost-missing-values"
    return _xgb_regressor_with_missing(path)


CASES = ["forest-binary", "forest-string-labels", "extra-trees-regressor", "forest-two-targets", "boosted-regressor",
         "xgboost-missing-values"]  # fmt: skip


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[OnnxRuntime, OnnxRuntime]:
    native = load_runtime("onnx", path, options={"threads": 1})
    monkeypatch.setenv("MODELPORT_NATIVE_TREES", "0")
    plain = load_runtime("onnx", path, options={"threads": 1})
    monkeypatch.delenv("MODELPORT_NATIVE_TREES")
    assert isinstance(native, OnnxRuntime) and isinstance(plain, OnnxRuntime)
    return native, plain


def _assert_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), f"{name} differs"


def test_the_kernel_is_built() -> None:
    """`make install` compiles it; a machine without a C compiler would quietly lose the speed, so CI checks."""
    assert _kernel() is not None


@pytest.mark.parametrize("case", CASES)
def test_native_scores_are_bit_identical_to_onnx_runtime(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, x = _case(case, tmp_path)
    native, plain = _both(path, monkeypatch)
    assert native.engine == "native trees"
    assert plain.engine == "onnxruntime"
    rng = np.random.default_rng(1)
    noisy = (x[rng.integers(0, len(x), 4000)] * rng.normal(1, 0.3, size=(4000, x.shape[1]))).astype(np.float32)
    noisy[rng.random(noisy.shape) < 0.03] = np.nan  # missing values follow the model's own rule
    assert native.trees is not None
    at_splits = trial_rows(native.trees, rows=2000, seed=5)  # values exactly at, under and over every split
    name = next(iter(native.signature.input_names))
    for rows in (x, noisy, at_splits, np.vstack([x[:8], [[np.inf] * x.shape[1]], [[-np.inf] * x.shape[1]]])):
        batch = {name: rows.astype(np.float32)}
        _assert_identical(native.predict(batch), plain.predict(batch))


def test_labels_keep_the_models_classes(tmp_path: Path) -> None:
    path, x = _case("forest-string-labels", tmp_path)
    rt = load_runtime("onnx", path)
    out = rt.predict({"X": x})
    assert set(out["label"]) == {"setosa", "versicolor", "virginica"}
    assert out["probabilities"].shape == (len(x), 3)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)


def test_models_it_cannot_reproduce_stay_on_onnx_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xb, yb = make_classification(3000, 12, random_state=0)
    xb = xb.astype(np.float32)
    deep = RandomForestClassifier(5, random_state=0).fit(xb, yb)  # grown to full depth
    assert max(e.tree_.max_depth for e in deep.estimators_) > MAX_DEPTH
    boosted = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(xb, yb)  # a logistic on the sum
    for model in (deep, boosted):
        rt = load_runtime("onnx", _onnx(model, xb, tmp_path / "m.onnx"))
        assert rt.engine == "onnxruntime"
        assert (rt.predict({"X": xb})["label"] == model.predict(xb)).mean() > 0.99
    path, _ = _case("forest-binary", tmp_path)
    monkeypatch.setenv("MODELPORT_NATIVE_TREES", "off")
    assert load_runtime("onnx", path).engine == "onnxruntime"


def test_few_rows_and_wrong_inputs_go_to_onnx_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, x = _case("forest-binary", tmp_path)
    native, plain = _both(path, monkeypatch)
    _assert_identical(native.predict({"X": x[:1]}), plain.predict({"X": x[:1]}))
    with pytest.raises(InvalidArgument, match="the ONNX model rejected the input"):
        native.predict({"X": np.ones((50, 3), dtype=np.float32)})


def test_concurrent_callers_get_their_own_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, x = _case("forest-binary", tmp_path)
    native, plain = _both(path, monkeypatch)
    blocks = [x[i::4] for i in range(4)]
    expected = [plain.predict({"X": b}) for b in blocks]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(20):
                _assert_identical(native.predict({"X": blocks[i]}), expected[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_the_kernel_refuses_buffers_of_the_wrong_size(tmp_path: Path) -> None:
    import onnx

    path, x = _case("forest-binary", tmp_path)
    forest = build(onnx.load(path), _kernel())
    assert forest is not None
    out = np.empty((len(x), forest.nout), dtype=np.float32)
    args = (forest.feat, forest.thr, forest.miss, forest.leaves, np.zeros(1, np.float32), forest.ntrees, forest.depth,
            forest.nout, forest.nfeat, forest.mode)  # fmt: skip
    forest.kernel.score(*args, x, out)
    with pytest.raises(ValueError, match="wrong size"):
        forest.kernel.score(*args, x, out[:-1])
    with pytest.raises(ValueError, match="wrong size"):
        forest.kernel.score(forest.feat[:-1], *args[1:], x, out)
    with pytest.raises(ValueError, match="bad forest parameters"):
        forest.kernel.score(*args[:-1], 9, x, out)
    with pytest.raises(TypeError):
        forest.kernel.score(*args, x, out.tobytes())  # the output must be writable


def test_a_transform_job_writes_the_same_bytes_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, x = _case("forest-binary", tmp_path)
    frame = pd.DataFrame(x.round(4), columns=[f"f{i}" for i in range(x.shape[1])])
    frame.head(50).to_csv(tmp_path / "sample.csv", index=False)
    frame.to_csv(tmp_path / "in.csv", index=False)
    outputs = []
    with Client(home=tmp_path / "home") as client:
        client.models.register(path, "forest", sample=tmp_path / "sample.csv")
        for native in ("1", "0"):
            monkeypatch.setenv("MODELPORT_NATIVE_TREES", native)
            out = tmp_path / f"out-{native}.csv"
            job = client.transform("forest:1", str(tmp_path / "in.csv"), str(out), max_payload_mb=0.05)
            assert job.status == "completed" and job.progress.records == len(x)
            outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith(b"label,probabilities_0,probabilities_1\n")
