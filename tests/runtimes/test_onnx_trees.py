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
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelport.client import Client
from modelport.errors import InvalidArgument
from modelport.runtimes import load_runtime
from modelport.runtimes.onnx import OnnxRuntime
from modelport.runtimes.onnx_trees import _kernel, trial_rows


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


def _booster(kind: str, x: np.ndarray, y: np.ndarray, path: Path) -> Path:
    import lightgbm
    import xgboost
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, x.shape[1]]))]
    if kind == "xgboost":
        model = xgboost.XGBClassifier(n_estimators=30, max_depth=4).fit(x, y)
        onx = convert_xgboost(model, initial_types=types, target_opset=15)
    else:
        model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
        onx = convert_lightgbm(model, initial_types=types, target_opset=15, zipmap=False)
    path.write_bytes(onx.SerializeToString())
    return path


def _case(name: str, tmp_path: Path) -> tuple[Path, np.ndarray]:
    xi, yi = load_iris(return_X_y=True)
    xi = xi.astype(np.float32)
    xd, yd = load_diabetes(return_X_y=True)
    xd = xd.astype(np.float32)
    xb, yb = make_classification(3000, 12, random_state=0)
    xb = xb.astype(np.float32)
    path = tmp_path / f"{name}.onnx"
    if name == "forest-fully-grown":  # depth ~20: no max_depth
        return _onnx(RandomForestClassifier(20, random_state=0).fit(xb, yb), xb, path), xb
    if name == "lightgbm-binary":
        return _booster("lightgbm", xb, yb, path), xb
    if name == "lightgbm-multiclass":
        return _booster("lightgbm", xi, yi, path), xi
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
    if name == "boosted-binary-logistic":
        return _onnx(GradientBoostingClassifier(n_estimators=30, random_state=0).fit(xb, yb), xb, path), xb
    if name == "boosted-multiclass-softmax":
        return _onnx(GradientBoostingClassifier(n_estimators=20, random_state=0).fit(xi, yi), xi, path), xi
    if name == "xgboost-binary":
        return _booster("xgboost", xb, yb, path), xb
    if name == "xgboost-multiclass":
        return _booster("xgboost", xi, yi, path), xi
    assert name == "xgboost-missing-values"
    return _xgb_regressor_with_missing(path)


CASES = ["forest-binary", "forest-string-labels", "extra-trees-regressor", "forest-two-targets", "boosted-regressor",
         "boosted-binary-logistic", "boosted-multiclass-softmax", "xgboost-binary", "xgboost-multiclass",
         "xgboost-missing-values", "forest-fully-grown", "lightgbm-binary", "lightgbm-multiclass"]  # fmt: skip


def _both(path: Path) -> tuple[OnnxRuntime, OnnxRuntime]:
    """The model with the kernel (where its trial passes) and with ONNX Runtime alone."""
    native = load_runtime("onnx", path, options={"threads": 1})
    plain = load_runtime("onnx", path, options={"threads": 1, "native_trees": False})
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
def test_native_scores_are_bit_identical_to_onnx_runtime(case: str, tmp_path: Path) -> None:
    path, x = _case(case, tmp_path)
    native, plain = _both(path)
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


def test_models_it_cannot_reproduce_stay_on_onnx_runtime(tmp_path: Path) -> None:
    xb, yb = make_classification(3000, 12, random_state=0)
    xb = xb.astype(np.float32)
    # a scaler before the trees: the graph is more than a tree ensemble
    scaled = make_pipeline(StandardScaler(), RandomForestClassifier(10, max_depth=6, random_state=0)).fit(xb, yb)
    rt = load_runtime("onnx", _onnx(scaled, xb, tmp_path / "scaled.onnx"))
    assert rt.engine == "onnxruntime"
    assert (rt.predict({"X": xb})["label"] == scaled.predict(xb)).mean() > 0.99
    path, _ = _case("forest-binary", tmp_path)
    assert load_runtime("onnx", path, options={"native_trees": False}).engine == "onnxruntime"


def test_a_trial_that_disagrees_keeps_onnx_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trial is what decides: a kernel that scored one leaf wrong would never be used."""
    from modelport.runtimes import onnx_trees

    path, _ = _case("forest-binary", tmp_path)
    real = onnx_trees.Forest.finish

    def off_by_one_ulp(self, scores):  # type: ignore[no-untyped-def]
        return real(self, np.nextafter(scores, np.float32(np.inf)))

    monkeypatch.setattr(onnx_trees.Forest, "finish", off_by_one_ulp)
    assert load_runtime("onnx", path).engine == "onnxruntime"


def test_few_rows_and_wrong_inputs_go_to_onnx_runtime(tmp_path: Path) -> None:
    path, x = _case("forest-binary", tmp_path)
    native, plain = _both(path)
    _assert_identical(native.predict({"X": x[:1]}), plain.predict({"X": x[:1]}))
    with pytest.raises(InvalidArgument, match="the ONNX model rejected the input"):
        native.predict({"X": np.ones((50, 3), dtype=np.float32)})


def test_concurrent_callers_get_their_own_answers(tmp_path: Path) -> None:
    path, x = _case("forest-binary", tmp_path)
    native, plain = _both(path)
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


def test_the_kernel_checks_every_index_it_is_given(tmp_path: Path) -> None:
    import onnx

    from modelport.runtimes.onnx_trees import _layout

    kernel = _kernel()
    path, x = _case("forest-binary", tmp_path)
    node = onnx.load(path).graph.node[0]
    lay = _layout({a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}, "class", x.shape[1], 1)
    assert lay is not None

    def forest(**change: np.ndarray):  # type: ignore[no-untyped-def]
        arrays = {k: getattr(lay, k) for k in ("feat", "thr", "miss", "child", "roots", "depths", "values")} | change
        return kernel.Forest(*arrays.values(), 1, x.shape[1], lay.mode)

    out = np.empty((len(x), 1), dtype=np.float32)
    forest().score(x, out)
    # the kernel walks its own checked copy: changing the arrays afterwards changes nothing
    feat, child = lay.feat.copy(), lay.child.copy()
    built = forest(feat=feat, child=child)
    feat[:], child[:] = 1 << 30, -(1 << 30)
    again = np.empty_like(out)
    built.score(x, again)
    assert np.array_equal(again, out)
    with pytest.raises(ValueError, match="built once"):
        built.__init__(lay.feat, lay.thr, lay.miss, lay.child, lay.roots, lay.depths, lay.values, 1, x.shape[1], 0)
    with pytest.raises(ValueError, match="feature id out of range"):
        forest(feat=np.where(np.arange(len(lay.feat)) == 3, x.shape[1], lay.feat).astype(np.int32))
    branch = int(np.flatnonzero(~np.isnan(lay.thr))[-1])
    with pytest.raises(ValueError, match="child index out of range"):
        forest(child=np.where(np.arange(len(lay.child)) == branch, len(lay.child) - 1, lay.child).astype(np.int32))
    with pytest.raises(ValueError, match="root or depth out of range"):
        forest(roots=np.append(lay.roots[:-1], len(lay.feat)).astype(np.int32))
    with pytest.raises(ValueError, match="wrong size"):
        forest(values=lay.values[:-1])
    with pytest.raises(ValueError, match="wrong size"):
        forest().score(x, out[:-1])
    with pytest.raises(ValueError, match="wrong size"):
        forest().score(x[:, :-1].copy(), out)
    with pytest.raises(ValueError, match="contiguous"):
        forest(feat=lay.feat[::2])
    with pytest.raises(TypeError):
        forest().score(x, out.tobytes())  # the output must be writable
    with pytest.raises(ValueError, match="bad transform parameters"):
        kernel.transform(np.zeros(5, np.float32), 2, 3)  # 5 scores are not rows of 3
    with pytest.raises(ValueError, match="bad transform parameters"):
        kernel.transform(np.zeros(6, np.float32), 7, 3)  # no such transform


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


# -- ONNX Runtime's own rules, on hand-built ensembles ------------------------------------------

INF = float("inf")


def _ensemble(tmp_path: Path, nodes: list[dict], votes: list[tuple], nfeat: int, classes: int = 0, **attrs) -> Path:  # type: ignore[type-arg]
    """One TreeEnsemble node: ``nodes`` as dicts (tree, id, mode, feat, val, t, f, miss), ``votes`` (tree, node, out, w)."""
    import onnx
    from onnx import TensorProto, helper

    a: dict = {  # type: ignore[type-arg]
        "nodes_treeids": [n["tree"] for n in nodes],
        "nodes_nodeids": [n["id"] for n in nodes],
        "nodes_modes": [n.get("mode", "LEAF") for n in nodes],
        "nodes_featureids": [n.get("feat", 0) for n in nodes],
        "nodes_values": [float(n.get("val", 0.0)) for n in nodes],
        "nodes_truenodeids": [n.get("t", 0) for n in nodes],
        "nodes_falsenodeids": [n.get("f", 0) for n in nodes],
    }
    if any("miss" in n for n in nodes):
        a["nodes_missing_value_tracks_true"] = [n.get("miss", 0) for n in nodes]
    p = "class" if classes else "target"
    for i, key in enumerate(("treeids", "nodeids", "ids")):
        a[f"{p}_{key}"] = [v[i] for v in votes]
    a[f"{p}_weights"] = [float(v[3]) for v in votes]
    a.update(attrs)
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, nfeat])
    if classes:
        a["classlabels_int64s"] = list(range(classes))
        node = helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain="ai.onnx.ml", **a)
        outs = [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, classes]),
        ]
    else:
        node = helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"], domain="ai.onnx.ml", n_targets=1, **a)
        outs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])]
    graph = helper.make_graph([node], "trees", [x], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    path = tmp_path / "trees.onnx"
    onnx.save(model, path)
    return path


def _gate(rare: int) -> list[dict]:  # type: ignore[type-arg]
    """Tree 0: node ``rare`` is reached only when x0, x1 and x2 are all missing (leaves 3, 4, 5 otherwise)."""
    return [
        {"tree": 0, "id": 0, "mode": "BRANCH_LEQ", "feat": 0, "val": INF, "t": 3, "f": 1},
        {"tree": 0, "id": 1, "mode": "BRANCH_LEQ", "feat": 1, "val": INF, "t": 4, "f": 2},
        {"tree": 0, "id": 2, "mode": "BRANCH_LEQ", "feat": 2, "val": INF, "t": 5, "f": rare},
        {"tree": 0, "id": 3},
        {"tree": 0, "id": 4},
        {"tree": 0, "id": 5},
    ]


def _chain(tree: int) -> list[dict]:  # type: ignore[type-arg]
    return [{**n, "tree": tree} for n in _gate(6)] + [{"tree": tree, "id": 6}]


SEMANTICS = {
    # trees summed in the order they are listed (2**24 + 1 + 1 != 2**24 + 2 in float), not by id
    "trees-in-listed-order": (
        [{"tree": 0, "id": 0}, {"tree": 2, "id": 0}, *_chain(1)],
        [(0, 0, 0, 1.0), (2, 0, 0, 1.0), (1, 3, 0, 0.0), (1, 4, 0, 0.0), (1, 5, 0, 0.0), (1, 6, 0, 2.0**24)],
        3, {}, True,
    ),
    # the root is the first node listed for the tree, not node id 0
    "root-listed-first": (
        [
            {"tree": 0, "id": 3, "mode": "BRANCH_LEQ", "feat": 0, "val": 1.0, "t": 0, "f": 4},
            {"tree": 0, "id": 0, "mode": "BRANCH_LEQ", "feat": 1, "val": 0.0, "t": 1, "f": 2},
            {"tree": 0, "id": 1}, {"tree": 0, "id": 2}, {"tree": 0, "id": 4},
        ],
        [(0, 1, 0, 1.0), (0, 2, 0, 2.0), (0, 4, 0, 3.0)],
        2, {}, True,
    ),
    # missing_value_tracks_true counts only when it is exactly 1
    "missing-tracks-true-is-1": (
        [*_gate(6), {"tree": 0, "id": 6, "mode": "BRANCH_LEQ", "feat": 3, "val": 0.0, "t": 7, "f": 8, "miss": 2},
         {"tree": 0, "id": 7}, {"tree": 0, "id": 8}],
        [(0, 3, 0, 1.0), (0, 4, 0, 1.0), (0, 5, 0, 1.0), (0, 7, 0, 10.0), (0, 8, 0, 20.0)],
        4, {}, True,
    ),
    # a leaf without a weight: ONNX Runtime's own treatment, so it keeps the model
    "leaf-without-weight": (
        [*_gate(6), {"tree": 0, "id": 6, "val": 5.0}],
        [(0, 3, 0, 1.0), (0, 4, 0, 1.0), (0, 5, 0, 1.0)],
        3, {}, False,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SEMANTICS))
def test_onnx_runtime_rules_are_followed_or_left_to_it(case: str, tmp_path: Path) -> None:
    nodes, votes, nfeat, attrs, native = SEMANTICS[case]
    path = _ensemble(tmp_path, nodes, votes, nfeat, **attrs)
    ours, theirs = _both(path)
    assert ours.engine == ("native trees" if native else "onnxruntime")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, size=(64, nfeat)).astype(np.float32)
    x[:32, :3] = np.nan  # columns missing together: the rare paths
    _assert_identical(ours.predict({"X": x}), theirs.predict({"X": x}))


def test_classes_nobody_voted_for_are_left_to_onnx_runtime(tmp_path: Path) -> None:
    """ONNX Runtime's argmax skips classes no leaf voted for; a row reaching only the rare leaf would show it."""
    common = [(0, leaf, c, w) for leaf in (3, 4, 5) for c, w in enumerate([0.5, 0.3, 0.2])]
    path = _ensemble(tmp_path, [*_gate(6), {"tree": 0, "id": 6}], [*common, (0, 6, 1, -1.0), (0, 6, 2, -2.0)], 3, 3)
    ours, theirs = _both(path)
    assert ours.engine == "onnxruntime"
    x = np.full((16, 3), np.nan, dtype=np.float32)
    _assert_identical(ours.predict({"X": x}), theirs.predict({"X": x}))
