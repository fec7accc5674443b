"""Every model format by every path that scores, with default settings.

A shared mechanism (settings, the runtime contract, codecs, the store) reaches
every format through three paths: ``modelport predict`` in-process, an
endpoint called over HTTP on a real server, and a transform job.  Each cell
registers nothing new: the models are small regressors on scikit-learn's
diabetes data, registered once, served by one server, and every answer is
compared with what the original framework predicts for the same rows.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor

from modelport.services import Services
from modelport.settings import Settings
from tests import infra

pytestmark = pytest.mark.slow

ROWS = 40  # rows scored per cell


def _sklearn_pickle(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    model = RandomForestRegressor(10, max_depth=4, random_state=0).fit(x, y)
    joblib.dump(model, path)
    return model.predict


def _skops(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    import skops.io

    model = Ridge(alpha=0.5).fit(x, y)
    skops.io.dump(model, path)
    return model.predict


def _xgboost(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    import xgboost

    model = xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=0).fit(x, y)
    model.get_booster().save_model(path)
    return model.predict


def _lightgbm(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    import lightgbm

    model = lightgbm.LGBMRegressor(n_estimators=20, num_leaves=7, random_state=0, verbose=-1).fit(x, y)
    model.booster_.save_model(path)
    return model.predict


def _onnx(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    from skl2onnx import to_onnx

    model = LinearRegression().fit(x, y)
    path.write_bytes(to_onnx(model, x.to_numpy(np.float32)[:1], target_opset=17).SerializeToString())
    return model.predict


def _converted_onnx(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    model = DecisionTreeRegressor(max_depth=5, random_state=0).fit(x, y)
    joblib.dump(model, path)
    return model.predict


def _pmml(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    pipeline = Pipeline([("model", LinearRegression())]).fit(x, y)
    with warnings.catch_warnings():  # nyoka's generated bindings warn on import
        warnings.simplefilter("ignore")
        from nyoka import skl_to_pmml

        skl_to_pmml(pipeline, list(x.columns), "target", str(path))
    return pipeline.predict


def _pfa(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    model = LinearRegression().fit(x, y)
    fields = list(x.columns)
    doc = {
        "name": "diabetes_linear",
        "input": {"type": "record", "name": "Patient", "fields": [{"name": f, "type": "double"} for f in fields]},
        "output": "double",
        "cells": {
            "model": {
                "type": {
                    "type": "record",
                    "name": "Linear",
                    "fields": [
                        {"name": "coeff", "type": {"type": "array", "items": "double"}},
                        {"name": "const", "type": "double"},
                    ],
                },
                "init": {"coeff": model.coef_.tolist(), "const": float(model.intercept_)},
            }
        },
        "action": {
            "model.reg.linear": [
                {"new": [f"input.{f}" for f in fields], "type": {"type": "array", "items": "double"}},
                {"cell": "model"},
            ]
        },
    }
    path.write_text(json.dumps(doc))
    return model.predict


def _torch(x: pd.DataFrame, y: pd.Series, path: Path) -> Callable[[pd.DataFrame], np.ndarray]:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).eval()
    torch.save(net, path)  # a whole nn.Module (torch.nn classes are importable where it is served)

    def predict(rows: pd.DataFrame) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.tensor(rows.to_numpy(np.float32))).numpy()

    return predict


@dataclass(frozen=True)
class Case:
    build: Callable[[pd.DataFrame, pd.Series, Path], Callable[[pd.DataFrame], np.ndarray]]
    file: str
    to_onnx: bool = False
    rtol: float = 1e-6  # float64 end to end; float32 formats (ONNX, XGBoost, PyTorch) get 1e-4


CASES: dict[str, Case] = {
    "sklearn": Case(_sklearn_pickle, "forest.joblib"),
    "skops": Case(_skops, "ridge.skops"),
    "xgboost": Case(_xgboost, "booster.json", rtol=1e-4),
    "lightgbm": Case(_lightgbm, "booster.txt"),
    "onnx": Case(_onnx, "linear.onnx", rtol=1e-4),
    "converted-onnx": Case(_converted_onnx, "tree.joblib", to_onnx=True, rtol=1e-4),
    "pmml": Case(_pmml, "linear.pmml"),
    "pfa": Case(_pfa, "linear.pfa.json"),
    "torch": Case(_torch, "net.pt", rtol=1e-4),
}


@dataclass
class Matrix:
    home: Path
    rows: Path
    x: pd.DataFrame
    expected: dict[str, np.ndarray]
    server: infra.LiveServer


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    root = tmp_path_factory.mktemp("matrix")
    home = root / "home"
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    sample = root / "train.csv"
    x.to_csv(sample, index=False)
    rows = root / "rows.csv"
    x.iloc[:ROWS].to_csv(rows, index=False)
    expected: dict[str, np.ndarray] = {}
    svc = Services.open(Settings(home=home))  # default settings, as a user's home has
    try:
        for name, case in CASES.items():
            path = root / case.file
            predict = case.build(x, y, path)
            expected[name] = np.asarray(predict(x.iloc[:ROWS]), dtype=np.float64).reshape(-1)
            svc.registry.register(path, name, sample=sample, to_onnx=case.to_onnx)
            svc.endpoints.create(name, [{"name": "main", "requested": f"{name}:1"}], created_by="tests")
    finally:
        svc.close()
    with infra.live_server({"MODELPORT_HOME": str(home)}) as server:
        yield Matrix(home, rows, x, expected, server)


@pytest.fixture
def home(matrix: Matrix) -> Path:
    """The `cli` fixture runs against the matrix's home."""
    return matrix.home


def _numbers(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _columns(frame: pd.DataFrame) -> list[np.ndarray]:
    """Each output column (a PMML model may name its prediction twice: target and output field)."""
    assert 1 <= frame.shape[1] <= 2 and len(frame) == ROWS, f"got columns {list(frame.columns)}, {len(frame)} rows"
    return [_numbers(frame[c]) for c in frame.columns]


def score_with_predict(cli, matrix: Matrix, name: str, tmp_path: Path) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    out = tmp_path / "preds.csv"
    code, _, err = cli("predict", f"{name}:1", "--input", str(matrix.rows), "--output", str(out))
    assert code == 0, err
    return _columns(pd.read_csv(out))


def score_over_http(cli, matrix: Matrix, name: str, tmp_path: Path) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    url = f"{matrix.server.url}/endpoints/{name}/invocations"

    def in_service() -> bool:
        status = httpx.get(f"{matrix.server.url}/api/v1/endpoints/{name}").json()["status"]
        assert status != "failed", f"endpoint {name} failed to load: {matrix.server.log()[-2000:]}"
        return status == "in_service"

    infra.wait_for(in_service, 60, f"endpoint {name} in service")
    body = matrix.x.iloc[:ROWS].to_csv(index=False, header=False)
    reply = httpx.post(url, content=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"}, timeout=30)
    assert reply.status_code == 200, reply.text
    return _columns(pd.read_csv(pd.io.common.StringIO(reply.text), header=None))


def score_with_transform(cli, matrix: Matrix, name: str, tmp_path: Path) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.csv"
    code, _, err = cli("transform", f"{name}:1", "--input", str(matrix.rows), "--output", str(out))
    assert code == 0, err
    return _columns(pd.read_csv(out))


PATHS = {"predict": score_with_predict, "http": score_over_http, "transform": score_with_transform}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("fmt", CASES)
def test_every_format_answers_like_its_framework_on_every_path(
    cli, matrix: Matrix, fmt: str, path: str, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    for got in PATHS[path](cli, matrix, fmt, tmp_path):
        np.testing.assert_allclose(got, matrix.expected[fmt], rtol=CASES[fmt].rtol, atol=CASES[fmt].rtol * 100)
