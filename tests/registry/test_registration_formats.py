"""Registering XGBoost, LightGBM and PyTorch files end to end: detection, signature, conversion, scoring.

Each model is registered as a user would: the file (named without a suffix,
so only its bytes can tell the format) and a sample CSV.  The registered
version must take its input names from the sample, store the ONNX conversion
next to the original, and score like the framework that trained it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import load_iris

from modelport.errors import InvalidArgument
from modelport.scoring import LoadedModel
from modelport.services import Services
from modelport.settings import Settings

TREES = 10


@dataclass(frozen=True)
class Saved:
    """A model file, its format, and what the framework itself predicts (as LoadedModel's columns)."""

    path: Path
    format: str
    expected: Callable[[pd.DataFrame], dict[str, np.ndarray]]


@pytest.fixture
def svc(sqlite_settings: Settings, make_services) -> Services:  # type: ignore[no-untyped-def]
    return make_services(sqlite_settings)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def features(iris: pd.DataFrame) -> pd.DataFrame:
    return iris.drop(columns="target")


@pytest.fixture(scope="module")
def sample(features: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample a user passes for a model trained without names: exactly its feature columns."""
    path = tmp_path_factory.mktemp("sample") / "sample.csv"
    features.to_csv(path, index=False)
    return path


def suffixless(path: Path) -> Path:
    """The file renamed without its suffix: registration must recognise it from its bytes."""
    return path.rename(path.with_suffix(""))


def classifier_columns(estimator: object) -> Callable[[pd.DataFrame], dict[str, np.ndarray]]:
    def expected(x: pd.DataFrame) -> dict[str, np.ndarray]:
        proba = estimator.predict_proba(x)  # type: ignore[attr-defined]
        return {"label": estimator.predict(x), **{f"proba_{i}": proba[:, i] for i in range(proba.shape[1])}}  # type: ignore[attr-defined]

    return expected


@pytest.fixture(scope="module")
def boosters(iris: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Saved]:
    """Boosters trained on a bare array: their feature names are the libraries' defaults (f0…, Column_0…)."""
    root = tmp_path_factory.mktemp("boosters")
    x, y = iris.drop(columns="target").to_numpy(), iris["target"]
    # n_jobs=1: the two libraries' OpenMP pools otherwise spin against each other on small machines
    xgb = xgboost.XGBClassifier(n_estimators=TREES, max_depth=3, random_state=0, n_jobs=1).fit(x, y)
    lgb = lightgbm.LGBMClassifier(n_estimators=TREES, num_leaves=7, random_state=0, n_jobs=1, verbose=-1).fit(x, y)
    saved = {}
    for ext in ("json", "ubj"):
        xgb.get_booster().save_model(root / f"xgb-{ext}.{ext}")
        saved[f"xgboost-{ext}"] = Saved(suffixless(root / f"xgb-{ext}.{ext}"), "xgboost", classifier_columns(xgb))
    lgb.booster_.save_model(root / "lgb.txt")
    saved["lightgbm-txt"] = Saved(suffixless(root / "lgb.txt"), "lightgbm", classifier_columns(lgb))
    return saved


@pytest.fixture(scope="module")
def torch_models(features: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Saved]]:
    torch = pytest.importorskip("torch")
    from tests.runtimes.fixtures import IrisNet

    # Servers run torch with one intra-op thread; on a busy small machine torch's default
    # OpenMP pool spin-waits.  The setting is process-global: put it back.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("torch")
    x = torch.tensor(features.to_numpy(), dtype=torch.float32)
    torch.manual_seed(0)
    model = IrisNet(x.mean(dim=0), x.std(dim=0)).eval()

    def expected(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = model(torch.tensor(frame.to_numpy(), dtype=torch.float32)).numpy()
        return {f"output_{i}": out[:, i] for i in range(out.shape[1])}

    with warnings.catch_warnings():
        # torch 2.13 deprecates every torch.jit entry point; users still save TorchScript files.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        torch.jit.save(torch.jit.script(model), root / "script.pt")
    torch.save(model, root / "module.pt")
    yield {
        "torch-script": Saved(suffixless(root / "script.pt"), "torch", expected),
        "torch-module": Saved(suffixless(root / "module.pt"), "torch", expected),
    }
    torch.set_num_threads(threads)


@pytest.fixture(params=["xgboost-json", "xgboost-ubj", "lightgbm-txt", "torch-script", "torch-module"])
def saved(request: pytest.FixtureRequest) -> Saved:
    group = "torch_models" if request.param.startswith("torch") else "boosters"
    return request.getfixturevalue(group)[request.param]  # type: ignore[no-any-return]


def assert_scores_like(predictions: pd.DataFrame, expected: dict[str, np.ndarray]) -> None:
    assert list(predictions.columns) == list(expected)
    for name, values in expected.items():
        if name == "label":
            np.testing.assert_array_equal(predictions[name], values)
        else:
            np.testing.assert_allclose(predictions[name], values, rtol=0, atol=1e-5, err_msg=name)


def test_registered_with_a_sample_converts_and_scores_like_the_framework(
    svc: Services, saved: Saved, sample: Path, features: pd.DataFrame
) -> None:
    mv = svc.registry.register(saved.path, "m", sample=sample, to_onnx=True, trust=True)
    assert [(f.role, f.format) for f in mv.files] == [("model", "onnx"), ("original", saved.format)]
    assert mv.format == "onnx" and mv.conversion["from"] == saved.format
    assert mv.conversion["parity"]["ok"] is True and mv.conversion["parity"]["rows"] == len(features)
    # the booster's f0…/Column_0… (or, for torch, nothing at all) give way to the sample's header
    assert [c["name"] for c in mv.signature["inputs"]] == list(features.columns)
    original = mv.file("original")
    assert svc.artifacts.local_path(original.uri, original.sha256).read_bytes() == saved.path.read_bytes()
    loaded = LoadedModel.from_path(mv, svc.registry.artifact_path(mv))
    assert type(loaded.runtime).__name__ == "OnnxRuntime"
    assert_scores_like(loaded.predict(features), saved.expected(features))


def test_a_torch_model_is_converted_without_being_asked(
    svc: Services, torch_models: dict[str, Saved], sample: Path, features: pd.DataFrame
) -> None:
    saved = torch_models["torch-module"]
    mv = svc.registry.register(saved.path, "m", sample=sample, trust=True)
    assert mv.format == "onnx" and [(f.role, f.format) for f in mv.files] == [("model", "onnx"), ("original", "torch")]
    assert mv.conversion["parity"]["ok"] is True
    assert_scores_like(LoadedModel.from_path(mv, svc.registry.artifact_path(mv)).predict(features), saved.expected(features))


def test_a_torch_model_without_a_sample_registers_nothing(svc: Services, torch_models: dict[str, Saved]) -> None:
    path = torch_models["torch-script"].path
    with pytest.raises(InvalidArgument, match=r"^a PyTorch model needs --sample or --signature to know its inputs$"):
        svc.registry.register(path, "m")
    assert svc.registry.list_models().items == []
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert svc.registry.collect_garbage(grace_s=0).deleted == [sha]


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_a_booster_with_its_own_names_takes_them_from_a_wider_sample(
    svc: Services, iris: pd.DataFrame, tmp_path: Path, framework: str
) -> None:
    # A feature called "input" shares its name with the converted graph's one [N, k] input:
    # the served ONNX model must still stack all four columns into it.
    names = ["input", "sepal_width", "petal_length", "petal_width"]
    x, y = iris.drop(columns="target").set_axis(names, axis=1), iris["target"]
    if framework == "xgboost":
        est = xgboost.XGBClassifier(n_estimators=TREES, max_depth=3, random_state=0, n_jobs=1).fit(x, y)
        est.get_booster().save_model(tmp_path / "model.json")
        path = suffixless(tmp_path / "model.json")
    else:
        est = lightgbm.LGBMClassifier(n_estimators=TREES, num_leaves=7, random_state=0, n_jobs=1, verbose=-1).fit(x, y)
        est.booster_.save_model(tmp_path / "model.txt")
        path = suffixless(tmp_path / "model.txt")
    table = x.assign(target=y)[["target", *reversed(names)]]  # the target too, columns in another order
    table.to_csv(tmp_path / "train.csv", index=False)
    mv = svc.registry.register(path, "m", sample=tmp_path / "train.csv", to_onnx=True)
    assert [c["name"] for c in mv.signature["inputs"]] == names  # the model's order; the target is no input
    # what the booster computes in, and NaN allowed: it routes missing values itself
    dtype = "float32" if framework == "xgboost" else "float64"
    assert {(c["dtype"], c.get("nullable")) for c in mv.signature["inputs"]} == {(dtype, True)}
    assert mv.conversion["parity"]["ok"] is True
    loaded = LoadedModel.from_path(mv, svc.registry.artifact_path(mv))
    assert_scores_like(loaded.predict(table), classifier_columns(est)(x))
    # names the model knows are not replaced by whatever a sample of the right width says
    table.set_axis(["target", "a", "b", "c", "d"], axis=1).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(InvalidArgument, match=r"the sample lacks the model's input columns 'input', 'sepal_width'"):
        svc.registry.register(path, "m", sample=tmp_path / "other.csv")
