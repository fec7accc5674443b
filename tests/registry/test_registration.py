"""Registration with formats: detection, signature and baseline from a sample, conversion with parity."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelport.errors import FailedPrecondition, InvalidArgument
from modelport.services import Services
from modelport.settings import Settings


@pytest.fixture
def svc(sqlite_settings: Settings, make_services) -> Services:  # type: ignore[no-untyped-def]
    return make_services(sqlite_settings)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, LogisticRegression, pd.DataFrame]:
    d = tmp_path_factory.mktemp("iris")
    x, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    joblib.dump(model, d / "model.joblib")
    sample = x.assign(target=y)  # a training file usually carries the target too
    sample.to_csv(d / "train.csv", index=False)
    return d / "model.joblib", d / "train.csv", model, x


def test_signature_and_baseline_from_sample(svc: Services, iris) -> None:  # type: ignore[no-untyped-def]
    model_path, sample, _model, x = iris
    mv = svc.registry.register(model_path, "iris", sample=sample)
    assert mv.format == "sklearn" and [f.role for f in mv.files] == ["model"]
    assert [c["name"] for c in mv.signature["inputs"]] == list(x.columns)  # the target column is not an input
    assert {c["dtype"] for c in mv.signature["inputs"]} == {"float64"}
    assert [(c["name"], c["dtype"], c["shape"]) for c in mv.signature["outputs"]] == [
        ("label", "int64", [-1]),
        ("probabilities", "float64", [-1, 3]),
    ]
    assert mv.signature["classes"] == [0, 1, 2]
    base = mv.baseline
    assert base["item_count"] == 150 and len(base["features"]) == 4
    petal = next(f for f in base["features"] if f["name"] == "petal length (cm)")
    assert petal["missing"] == 0 and petal["min"] == x["petal length (cm)"].min()
    assert petal["mean"] == pytest.approx(x["petal length (cm)"].mean())
    assert len(petal["histogram"]) == 10 and sum(b["count"] for b in petal["histogram"]) == 150
    sample_sha = hashlib.sha256(sample.read_bytes()).hexdigest()  # no version keeps the sample: gc removes it
    assert svc.registry.collect_garbage(grace_s=0).deleted == [sample_sha]
    assert not svc.artifacts.exists(sample_sha)


def test_to_onnx_stores_both_and_serves_onnx(svc: Services, iris, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model_path, sample, model, x = iris
    mv = svc.registry.register(model_path, "iris", sample=sample, to_onnx=True)
    assert mv.format == "onnx"
    assert [(f.role, f.format) for f in mv.files] == [("model", "onnx"), ("original", "sklearn")]
    assert mv.conversion["from"] == "sklearn" and mv.conversion["parity"]["ok"] is True
    assert mv.conversion["parity"]["rows"] == 150
    original = svc.artifacts.local_path(mv.file("original").uri, mv.file("original").sha256)
    assert original.read_bytes() == model_path.read_bytes()
    from modelport.scoring import LoadedModel

    loaded = LoadedModel.from_path(mv, svc.registry.artifact_path(mv))
    assert type(loaded.runtime).__name__ == "OnnxRuntime"
    preds = loaded.predict(x)
    np.testing.assert_array_equal(preds["label"], model.predict(x))
    np.testing.assert_allclose(preds[["proba_0", "proba_1", "proba_2"]], model.predict_proba(x), atol=1e-5)


def test_parity_failure_is_refused_unless_forced(svc: Services, iris) -> None:  # type: ignore[no-untyped-def]
    model_path, sample, *_ = iris
    with pytest.raises(FailedPrecondition, match=r"failed the parity check \(parity on 150 sample rows: label: 100\.00% agree; probabilities: max \|diff\| .*use --force") as err:
        svc.registry.register(model_path, "iris", sample=sample, to_onnx=True, atol=0.0)
    assert err.value.details["parity"]["ok"] is False
    assert svc.registry.list_models().items == []
    mv = svc.registry.register(model_path, "iris", sample=sample, to_onnx=True, atol=0.0, force=True)
    assert mv.conversion["forced"] is True and mv.format == "onnx"


def test_conversion_without_sample_uses_synthesized_rows(svc: Services, iris) -> None:  # type: ignore[no-untyped-def]
    model_path, *_ = iris
    mv = svc.registry.register(model_path, "iris", to_onnx=True)
    assert mv.conversion["parity"]["source"] == "synthesized" and mv.conversion["parity"]["ok"]


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        (b"just some text\n", {}, r"'bad.bin' is not a model file modelport recognises"),
        ("TRUNCATED_ONNX", {}, r"^not a valid ONNX model: "),
        ("PICKLED_DICT", {}, r"holds a builtins\.dict, which has no predict method"),
        ("MODEL", {"format": "pmml"}, r"format mismatch: --format pmml expects a PMML document, but 'bad.bin' looks like a scikit-learn"),
        ("MODEL", {"format": "tensorflow"}, r"unknown format 'tensorflow'"),
        (b"", {}, r"'bad.bin' is empty"),
    ],
)
def test_bad_models_register_nothing(svc: Services, iris, tmp_path: Path, content, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    model_path, *_ = iris
    if content == "TRUNCATED_ONNX":
        from skl2onnx import to_onnx

        x, y = load_iris(return_X_y=True)
        data = to_onnx(LogisticRegression(max_iter=300).fit(x, y), x[:1].astype(np.float32)).SerializeToString()
        content = data[: len(data) // 3]
    elif content == "PICKLED_DICT":
        content = pickle.dumps({"not": "a model"})
    elif content == "MODEL":
        content = model_path.read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    with pytest.raises(InvalidArgument, match=message):
        svc.registry.register(bad, "m", **kwargs)
    assert svc.registry.list_models().items == []
    svc.registry.collect_garbage(grace_s=0)  # what the refused upload left, nothing else
    assert [p for p in Path(svc.artifacts.root, "blobs").rglob("*") if p.is_file()] == []


def test_sample_must_fit_the_model(svc: Services, iris, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model_path, *_ = iris
    wrong = tmp_path / "wrong.csv"
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_csv(wrong, index=False)
    with pytest.raises(InvalidArgument, match=r"the sample lacks the model's input columns 'sepal length \(cm\)'"):
        svc.registry.register(model_path, "m", sample=wrong)
    with pytest.raises(InvalidArgument, match=r"sample file '.*nope.csv' does not exist"):
        svc.registry.register(model_path, "m", sample=tmp_path / "nope.csv")


def test_signature_override(svc: Services, iris) -> None:  # type: ignore[no-untyped-def]
    model_path, _, _, x = iris
    sig = {"inputs": [{"name": n, "dtype": "float32", "nullable": True} for n in x.columns]}
    mv = svc.registry.register(model_path, "m", signature=sig)
    assert [c["dtype"] for c in mv.signature["inputs"]] == ["float32"] * 4
    assert all(c.get("nullable") for c in mv.signature["inputs"])
