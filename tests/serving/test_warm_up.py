"""Warm-up is an optimisation: a model that refuses the synthetic warm-up row still serves."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from modelport.client import Client
from modelport.settings import Settings


def test_a_pipeline_that_refuses_unknown_categories_deploys_and_serves(sqlite_settings: Settings, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 300), "plan": rng.choice(["free", "pro"], 300)})
    labels = ((frame["age"] > 40) & (frame["plan"] == "pro")).astype(int)
    # handle_unknown="error": the warm-up's synthetic category is refused, as any category the sample lacks
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="error"), ["plan"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, labels)
    joblib.dump(model, tmp_path / "m.joblib")
    frame.to_csv(tmp_path / "sample.csv", index=False)
    with Client(settings=sqlite_settings) as client:
        client.models.register(tmp_path / "m.joblib", "churn", sample=tmp_path / "sample.csv")
        client.endpoints.create("churn", ["a=churn:1"])
        answer = client.endpoints.invoke("churn", frame.head(5))
        assert [p["label"] for p in answer.predictions] == model.predict(frame.head(5)).tolist()
        assert client.endpoints.get("churn").status == "in_service"


def test_a_pipeline_that_refuses_unknown_categories_scores_a_file(sqlite_settings: Settings, tmp_path: Path) -> None:
    """The transform planner's synthetic probe is refused too: the plan takes the declared outputs instead."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 300), "plan": rng.choice(["free", "pro"], 300)})
    labels = ((frame["age"] > 40) & (frame["plan"] == "pro")).astype(int)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="error"), ["plan"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, labels)
    joblib.dump(model, tmp_path / "m.joblib")
    frame.to_csv(tmp_path / "sample.csv", index=False)
    frame.head(50).to_csv(tmp_path / "in.csv", index=False)
    with Client(settings=sqlite_settings) as client:
        client.models.register(tmp_path / "m.joblib", "churn", sample=tmp_path / "sample.csv")
        job = client.transform("churn:1", str(tmp_path / "in.csv"), str(tmp_path / "out"))
        assert job.status == "completed", job.error
    scored = pd.concat(pd.read_csv(p) for p in sorted((tmp_path / "out").rglob("*.out")))
    assert scored["label"].tolist() == model.predict(frame.head(50)).tolist()
    np.testing.assert_allclose(scored["proba_1"], model.predict_proba(frame.head(50))[:, 1], rtol=1e-6)
