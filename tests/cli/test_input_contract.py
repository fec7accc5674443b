"""One input contract on every path: the same value gets the same answer however it arrives.

A model with two float32 columns ``a`` and ``b`` is registered twice — as the
scikit-learn pickle (a RandomForest, which raises on infinities) and converted
to ONNX (which would score them) — and each value of ``a`` is sent through
every path that scores: JSON (the ``instances`` fast path and records), CSV,
Parquet, the Open Inference Protocol as JSON and as binary tensors, a
transform job and ``modelport predict``.  Booleans, infinities, numbers beyond
float32 and NaN are refused everywhere with a 400-class error naming the
column; good values get the same prediction everywhere.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from tritonclient.http import InferenceServerClient, InferInput, InferResult

from modelport.api.app import create_app
from modelport.api.rsgi import RSGIApp
from modelport.services import Services
from modelport.settings import Settings
from tests.serving.test_transports import Protocol, Scope

pytestmark = pytest.mark.slow  # ~20 s: every path for 9 values and 2 models

MODELS = ("rf", "rf-onnx")
BAD = {"true": True, "false": False, "inf": math.inf, "-inf": -math.inf, "1e39": 1e39, "NaN": math.nan}
GOOD = {"0.5": 0.5, "-1.25": -1.25, "3e38": 3e38}


@dataclass
class Contract:
    home: Path
    rsgi: RSGIApp
    loop: asyncio.AbstractEventLoop

    def call(self, path: str, body: bytes, **headers: str) -> Protocol:
        headers["content-length"] = str(len(body))
        proto = Protocol(body)
        scope = Scope("POST", path, {k.replace("_", "-"): v for k, v in headers.items()})
        self.loop.run_until_complete(self.rsgi.__rsgi__(scope, proto))
        return proto


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contract]:
    root = tmp_path_factory.mktemp("contract")
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=300).astype(np.float32), "b": rng.normal(size=300).astype(np.float32)})
    joblib.dump(RandomForestRegressor(10, max_depth=5, random_state=0).fit(x, x.a * 2 + x.b), root / "rf.joblib")
    x.to_parquet(root / "sample.parquet")  # the sample's float32 columns make the signature's
    home = root / "home"
    svc = Services.open(Settings(home=home))
    try:
        for name in MODELS:
            svc.registry.register(root / "rf.joblib", name, sample=root / "sample.parquet", to_onnx=name == "rf-onnx")
            svc.endpoints.create(name, [{"name": "main", "requested": f"{name}:1"}], created_by="tests")
    finally:
        svc.close()
    app = create_app(Settings(home=home))
    rsgi = RSGIApp(app)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    rsgi.__rsgi_init__(loop)
    deadline = loop.time() + 60
    while set(app.dataplane.manager.endpoints) != set(MODELS) and loop.time() < deadline:  # type: ignore[attr-defined]
        loop.run_until_complete(asyncio.sleep(0.05))
    try:
        yield Contract(home, rsgi, loop)
    finally:
        rsgi.__rsgi_del__(loop)
        loop.close()


@pytest.fixture
def home(contract: Contract) -> Path:
    """The `cli` fixture runs against the contract's home."""
    return contract.home


@dataclass(frozen=True)
class Outcome:
    """What a path answered: a prediction, or the error message it refused the row with."""

    prediction: float | None = None
    error: str | None = None


def _cell(value: Any) -> str:
    """A value as CSV text: how pandas and people write it."""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value).replace("nan", "NaN")


def _sagemaker(contract: Contract, model: str, body: bytes, content_type: str) -> Outcome:
    r = contract.call(f"/endpoints/{model}/invocations", body, content_type=content_type)
    reply = orjson.loads(r.reply)
    if r.status == 200:
        return Outcome(prediction=float(reply["predictions"][0]))
    assert r.status == 424 and reply["OriginalStatusCode"] == 400, (r.status, reply)
    return Outcome(error=reply["OriginalMessage"])


def json_instances(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    # what Python's json module writes: NaN and Infinity as bare tokens (MLflow's clients send them)
    return _sagemaker(contract, model, json.dumps({"instances": [[value, 1.0]]}).encode(), "application/json")


def json_records(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    body = json.dumps({"dataframe_records": [{"a": value, "b": 1.0}]}).encode()
    return _sagemaker(contract, model, body, "application/json")


def csv(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    return _sagemaker(contract, model, f"{_cell(value)},1.0\n".encode(), "text/csv")


def _frame(value: Any) -> pd.DataFrame:
    """Booleans as a bool column, numbers as float64 (so 1e39 is what is sent)."""
    return pd.DataFrame({"a": [value], "b": [1.0]})


def parquet(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    buf = io.BytesIO()
    _frame(value).to_parquet(buf)
    return _sagemaker(contract, model, buf.getvalue(), "application/vnd.apache.parquet")


def _v2(contract: Contract, model: str, value: Any, binary: bool) -> Outcome:
    """What tritonclient sends: a BOOL tensor for a boolean, FP64 for a number."""
    a = InferInput("a", [1], "BOOL" if isinstance(value, bool) else "FP64")
    a.set_data_from_numpy(np.array([value], dtype=bool if isinstance(value, bool) else np.float64), binary_data=binary)
    b = InferInput("b", [1], "FP32")
    b.set_data_from_numpy(np.array([1.0], dtype=np.float32), binary_data=binary)
    body, length = InferenceServerClient.generate_request_body([a, b])
    headers = {} if length is None else {"inference_header_content_length": str(length)}
    r = contract.call(f"/v2/models/{model}/infer", body, **headers)
    if r.status == 200:
        length = r.headers.get("inference-header-content-length")
        result = InferResult.from_response_body(r.reply, header_length=None if length is None else int(length))
        return Outcome(prediction=float(result.as_numpy("prediction")[0]))
    reply = orjson.loads(r.reply)
    assert r.status == 400, (r.status, reply)
    return Outcome(error=reply["error"])


def v2_json(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    return _v2(contract, model, value, binary=False)


def v2_binary(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    return _v2(contract, model, value, binary=True)


def _cli_outcome(code: int, err: str, out: Path) -> Outcome:
    if code == 0:
        return Outcome(prediction=float(pd.read_csv(out).iloc[0, -1]))
    last = err.strip().splitlines()[-1]  # a job prints its progress line first
    assert code == 1 and last.startswith("error: "), err
    return Outcome(error=last.removeprefix("error: "))


def transform(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    src, out = tmp_path / "rows.csv", tmp_path / "out.csv"
    src.write_text(f"a,b\n{_cell(value)},1.0\n")
    code, _, err = cli("transform", f"{model}:1", "--input", str(src), "--output", str(out))
    return _cli_outcome(code, err, out)


def predict(contract: Contract, model: str, value: Any, tmp_path: Path, cli: Any) -> Outcome:
    src, out = tmp_path / "rows.csv", tmp_path / "preds.csv"
    src.write_text(f"a,b\n{_cell(value)},1.0\n")
    code, _, err = cli("predict", f"{model}:1", "--input", str(src), "--output", str(out))
    return _cli_outcome(code, err, out)


PATHS: dict[str, Callable[..., Outcome]] = {
    "json instances": json_instances,
    "json records": json_records,
    "csv": csv,
    "parquet": parquet,
    "v2 json": v2_json,
    "v2 binary": v2_binary,
    "transform": transform,
    "predict": predict,
}
WHY = {"true": "true/false", "false": "true/false", "inf": "infinite", "-inf": "infinite", "1e39": "float32", "NaN": "NaN"}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("value", BAD)
def test_bad_values_are_refused_alike_on_every_path(contract: Contract, cli, model: str, value: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outcomes = {path: send(contract, model, BAD[value], tmp_path, cli) for path, send in PATHS.items()}
    scored = {path: o.prediction for path, o in outcomes.items() if o.prediction is not None}
    assert not scored, f"{value} was scored on {', '.join(scored)}"
    for path, o in outcomes.items():
        assert o.error is not None and "'a'" in o.error and WHY[value] in o.error, f"{path}: {o.error}"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("value", GOOD)
def test_good_values_get_the_same_answer_on_every_path(contract: Contract, cli, model: str, value: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outcomes = {path: send(contract, model, GOOD[value], tmp_path, cli) for path, send in PATHS.items()}
    errors = {path: o.error for path, o in outcomes.items() if o.error is not None}
    assert not errors
    # the ONNX model answers float32, which text formats write in its shortest form
    same = np.float32 if model == "rf-onnx" else float
    answers = {path: same(o.prediction) for path, o in outcomes.items()}
    assert len(set(answers.values())) == 1, answers
