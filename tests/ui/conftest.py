"""Fixtures of the console tests: a classifier with a baseline, deployed behind an endpoint, in a home."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelport.client import Client
from tests.api.conftest import InProcess, in_process

__all__ = ["InProcess", "in_process"]


def churn_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50, 15, n).round(2),
            "plan": rng.choice(["basic", "pro", "team"], n),
        }
    )


def train_churn(folder: Path) -> tuple[Path, Path]:
    """(model file, sample CSV): a pipeline over an integer, a float and a category column."""
    import joblib
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x = churn_frame(1000, seed=1)
    y = ((x.age > 40) & (x.income > 45)).astype(int)
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["plan"]), remainder="passthrough"), LogisticRegression(max_iter=1000)
    )
    joblib.dump(pipe.fit(x, y), folder / "churn.joblib")
    x.to_csv(folder / "train.csv", index=False)
    return folder / "churn.joblib", folder / "train.csv"


@pytest.fixture(scope="session")
def churn_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return train_churn(tmp_path_factory.mktemp("churn"))


def deploy(home: Path, churn_model: tuple[Path, Path], *, capture: bool = False) -> None:
    """churn:1 and churn:2 registered with their sample; endpoint ``churn-api`` serves a=churn:1 (80), b=churn:2 (20)."""
    model, sample = churn_model
    with Client(home=home) as client:
        client.models.register(model, "churn", sample=sample, metrics={"auc": 0.91}, params={"C": "1.0"})
        client.models.register(model, "churn", sample=sample, metrics={"auc": 0.93}, params={"C": "0.5"})
        client.endpoints.create("churn-api", ["a=churn:1:80", "b=churn:2:20"], capture=100 if capture else None)


def seed_all(home: Path, churn_model: tuple[Path, Path]) -> dict[str, str]:
    """Something on every page: ``deploy``'s models and endpoint with capture on and some traffic (a little
    shifted), a monitor run over it, an experiment between the variants, a finished transform job; a read and
    an admin token (returned by scope)."""
    _, sample = churn_model
    deploy(home, churn_model, capture=True)
    with Client(home=home) as client:
        shifted = churn_frame(400, seed=2)
        shifted["income"] = shifted["income"] + 12
        for start in range(0, len(shifted), 20):
            client.endpoints.invoke("churn-api", shifted.iloc[start : start + 20])
        client.endpoints.close()  # type: ignore[attr-defined]  # the in-process data plane writes its capture
        client.monitors.create("churn-drift", endpoint="churn-api", every="1h", config={"min_samples": 50})
        client.monitors.run("churn-drift")
        client.experiments.start("churn-ab", "churn-api", "a", "b", metric="error_rate")
        client.jobs.transform("churn:1", str(sample), str(home / "scored"), header=True)
        return {scope: client.tokens.create(scope, f"{scope}-token").secret for scope in ("admin", "read")}
