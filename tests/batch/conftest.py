"""A home with real models registered once, and input files in every format the jobs read."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelport.client import Client
from modelport.services import Services
from modelport.settings import Settings
from tests import infra
from tests.batch.fixtures import SlowClassifier
from tests.cli.conftest import cli  # noqa: F401 - the in-process CLI runner

FEATURES = ["sl", "sw", "pl", "pw"]


@dataclass
class BatchHome:
    home: Path
    data: Path
    frame: pd.DataFrame
    """The scoring data: ``id`` then the four features, 600 rows."""
    model: LogisticRegression
    tensor_model: LogisticRegression
    """The classifier iris-onnx:1 was converted from (fit on float32 arrays)."""

    def expected(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """What iris:1 predicts for rows of ``frame`` (default all): label and proba_<class>."""
        rows = self.frame if frame is None else frame
        x = rows[FEATURES]
        proba = self.model.predict_proba(x)
        out = pd.DataFrame({"label": self.model.predict(x)})
        for i, c in enumerate(self.model.classes_):
            out[f"proba_{c}"] = proba[:, i]
        return out


@pytest.fixture(scope="session")
def batch_home(tmp_path_factory: pytest.TempPathFactory) -> BatchHome:
    """iris:1 (logistic regression, named columns), iris-onnx:1 (an ONNX graph taking X[N,4]), slow:1."""
    root = tmp_path_factory.mktemp("batch")
    x, y = load_iris(return_X_y=True, as_frame=True)
    x = x.set_axis(FEATURES, axis=1)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    sample = root / "sample.csv"
    x.to_csv(sample, index=False)
    rng = np.random.default_rng(7)
    frame = pd.concat([x] * 4, ignore_index=True)
    frame = frame + rng.normal(0, 0.05, size=frame.shape).round(3)
    frame = frame.round(3)
    frame.insert(0, "id", [f"r{i:04d}" for i in range(len(frame))])
    home = root / "home"
    svc = Services.open(Settings(home=home))
    try:
        joblib.dump(model, root / "iris.joblib")
        svc.registry.register(root / "iris.joblib", "iris", sample=sample)
        onnx_path = root / "iris.onnx"
        tensor_model = _to_onnx(onnx_path)
        svc.registry.register(onnx_path, "iris-onnx")
        slow = SlowClassifier(max_iter=1000).fit(x, y)
        joblib.dump(slow, root / "slow.joblib")
        svc.registry.register(root / "slow.joblib", "slow", sample=sample, trust=True)  # a test class: outside the allow-list
    finally:
        svc.close()
    data = root / "data"
    data.mkdir()
    return BatchHome(home=home, data=data, frame=frame, model=model, tensor_model=tensor_model)


def _to_onnx(path: Path) -> LogisticRegression:
    """An iris classifier as one ONNX graph with a single ``X`` [N, 4] float input (no column names)."""
    from skl2onnx import to_onnx

    x, y = load_iris(return_X_y=True)
    plain = LogisticRegression(max_iter=1000).fit(x.astype(np.float32), y)
    onx = to_onnx(plain, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
    path.write_bytes(onx.SerializeToString())
    return plain


@pytest.fixture
def client(batch_home: BatchHome) -> Iterator[Client]:
    c = Client(home=batch_home.home)
    yield c
    c.close()


def write_csv(frame: pd.DataFrame, path: Path, *, header: bool = True, gz: bool = False) -> Path:
    text = frame.to_csv(index=False, header=header)
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def write_jsonl(frame: pd.DataFrame, path: Path) -> Path:
    path.write_text(frame.to_json(orient="records", lines=True))
    return path


def write_parquet(frame: pd.DataFrame, path: Path, *, row_group_size: int = 100) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size)
    return path


def read_output(path: Path, fmt: str, *, header: bool = True) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, header=0 if header else None, dtype={"id": str})
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype={"id": str})
    return pd.read_parquet(path)


def cli_env(home: Path) -> dict[str, str]:
    import os

    return {**os.environ, "MODELPORT_HOME": str(home), "PYTHONPATH": infra.PYTHONPATH}


@dataclass
class ApiHome:
    home: Path
    server: infra.LiveServer
    admin: str
    reader: str
    data: Path


@pytest.fixture(scope="module")
def api_home(tmp_path_factory: pytest.TempPathFactory, batch_home: BatchHome) -> Iterator[ApiHome]:
    """A live `modelport server` with auth on (an admin and a read token) and iris:1, slow:1 registered."""
    root = tmp_path_factory.mktemp("batch-api")
    home = root / "home"
    x = batch_home.frame[FEATURES]
    x.to_csv(root / "sample.csv", index=False)
    joblib.dump(batch_home.model, root / "iris.joblib")
    joblib.dump(SlowClassifier(max_iter=1000).fit(x, batch_home.model.predict(x)), root / "slow.joblib")
    with Client(home=home) as local:
        local.models.register(root / "iris.joblib", "iris", sample=root / "sample.csv")
        local.models.register(root / "slow.joblib", "slow", sample=root / "sample.csv", trust=True)
        admin = local.tokens.create("admin", "ops").secret
        reader = local.tokens.create("read", "dash").secret
    data = root / "data"
    data.mkdir()
    write_csv(batch_home.frame, data / "in.csv")
    with infra.live_server({"MODELPORT_HOME": str(home), "PYTHONPATH": infra.PYTHONPATH}) as server:
        yield ApiHome(home=home, server=server, admin=admin, reader=reader, data=data)
