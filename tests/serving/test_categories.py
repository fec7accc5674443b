"""An endpoint serving an XGBoost model trained on category columns: requests carry the strings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost

from modelport.services import Services
from modelport.settings import Settings
from tests import infra
from tests.runtimes.fixtures import COLORS, as_categories, training_frame, xgboost_answer
from tests.serving.conftest import server_env

pytestmark = pytest.mark.slow


@dataclass
class Served:
    urls: dict[str, str]
    """The endpoint serving the booster (``xgboost``), and the one serving its ONNX conversion (``onnx``)."""
    booster: xgboost.Booster
    rows: pd.DataFrame
    """Request rows: strings, a category the model never saw and missing cells."""

    def expected(self) -> np.ndarray:
        """XGBoost's own answer, with the unknown category as a missing value."""
        rows = as_categories(self.rows.replace({"color": {"ultraviolet": None}}), {"color": COLORS})
        return xgboost_answer(self.booster, rows)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("colors")
    frame, y = training_frame()
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=4, enable_categorical=True, n_jobs=1)
    model.fit(as_categories(frame, {"color": COLORS}), y)
    model.get_booster().save_model(root / "colors.ubj")
    frame.to_csv(root / "train.csv", index=False)
    home = root / "home"
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(root / "colors.ubj", "colors", sample=root / "train.csv")
        svc.registry.register(root / "colors.ubj", "colors", sample=root / "train.csv", to_onnx=True)
        svc.endpoints.create("colors", [{"name": "main", "requested": "colors:1"}], created_by="tests")
        svc.endpoints.create("colors-onnx", [{"name": "main", "requested": "colors:2"}], created_by="tests")
    finally:
        svc.close()
    rows, _ = training_frame(rows=12, seed=11)
    rows.loc[::3, "color"] = "ultraviolet"
    rows.loc[1::3, "size"] = None
    with infra.live_server(server_env(home)) as server:
        names = {"xgboost": "colors", "onnx": "colors-onnx"}
        for name in names.values():
            status = f"{server.url}/api/v1/endpoints/{name}"
            infra.wait_for(lambda s=status: httpx.get(s).json()["status"] == "in_service", 30, "in service")
        urls = {kind: f"{server.url}/endpoints/{name}/invocations" for kind, name in names.items()}
        yield Served(urls=urls, booster=model.get_booster(), rows=rows)


def probabilities(reply: httpx.Response) -> np.ndarray:
    assert reply.status_code == 200, reply.text
    return np.array([p["probabilities"] for p in reply.json()["predictions"]])


@pytest.mark.parametrize("kind", ["xgboost", "onnx"])
def test_json_requests_carry_the_strings(served: Served, kind: str) -> None:
    rows = served.rows.astype(object).where(served.rows.notna(), None)
    split = {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}}
    records = {"dataframe_records": rows.to_dict(orient="records")}
    for body in (split, records):
        np.testing.assert_allclose(probabilities(httpx.post(served.urls[kind], json=body)), served.expected(), atol=1e-6)


@pytest.mark.parametrize("kind", ["xgboost", "onnx"])
def test_csv_requests_carry_the_strings(served: Served, kind: str) -> None:
    for header in (True, False):  # by name, and positional as SageMaker sends rows
        body = served.rows.to_csv(index=False, header=header).encode()
        reply = httpx.post(served.urls[kind], content=body, headers={"Content-Type": "text/csv"})
        np.testing.assert_allclose(probabilities(reply), served.expected(), atol=1e-6)


def test_a_code_where_a_category_is_expected_is_refused(served: Served) -> None:
    reply = httpx.post(served.urls["xgboost"], json={"dataframe_records": [{"num": 0.5, "color": 2, "size": "XL"}]})
    # SageMaker's envelope: the model container's 400 inside a 424
    assert reply.json()["OriginalStatusCode"] == 400
    assert reply.json()["OriginalMessage"] == "column 'color': expected strings, got int64"
