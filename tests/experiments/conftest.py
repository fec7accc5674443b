"""Fixtures of the experiment tests: two classifiers of different quality behind one endpoint that captures its
traffic, traffic and ground truth sent in process, and an experiment service on a clock the test moves."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelport.client import Client
from modelport.experiments.experiment import Experiment
from modelport.experiments.service import ExperimentService
from modelport.settings import Settings
from tests.cli.conftest import cli
from tests.experiments.fixtures import COLUMNS, FEATURES, Tagged

__all__ = ["cli"]


def truth(frame: pd.DataFrame) -> np.ndarray:
    """What really happened for each row (the rule both models try to learn)."""
    return (frame["f0"] + 0.3 * frame["f1"] - 0.5 * frame["f3"] > 1.5).astype(int).to_numpy()


def draw(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "f0": rng.normal(0, 1, n),
            "f1": rng.normal(5, 2, n),
            "f2": rng.lognormal(1, 0.5, n),
            "f3": rng.uniform(-1, 1, n),
            "tag": np.zeros(n),
        }
    ).round(6)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``good`` (learnt the rule), ``weak`` (never saw f1: ~80% right), ``flaky`` (good, but fails one request
    in five), and the training sample (``sample``)."""
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("experiment-models")
    sample = draw(4000, seed=1)
    y = truth(sample)
    good = LogisticRegression(max_iter=1000).fit(sample[FEATURES], y)
    blind = sample[FEATURES].assign(f1=5.0)  # f1 held constant: the weak model cannot use it
    weak = LogisticRegression(max_iter=1000).fit(blind, y)
    out = {"sample": folder / "sample.csv"}
    sample[COLUMNS].to_csv(out["sample"], index=False)
    for name, model in (("good", Tagged(good)), ("weak", Tagged(weak)), ("flaky", Tagged(good, fail_every=5))):
        out[name] = folder / f"{name}.pkl"
        out[name].write_bytes(pickle.dumps(model))
    return out


@pytest.fixture
def deploy(sqlite_settings: Settings, models: dict[str, Path]) -> Iterator[Callable[..., Client]]:
    """``deploy(control="weak", treatment="good", capture=True)``: a client whose home serves endpoint ``churn``
    with variants a (control's model, weight 100) and b (treatment's, weight 0)."""
    clients: list[Client] = []

    def make(
        *, control: str = "weak", treatment: str = "good", capture: bool = True, settings: Settings = sqlite_settings
    ) -> Client:
        client = Client(settings=settings)
        clients.append(client)
        for name in dict.fromkeys((control, treatment)):
            client.models.register(models[name], name, sample=models["sample"], trust=True)
        client.endpoints.create("churn", [f"a={control}:1:100", f"b={treatment}:1:0"], capture=100 if capture else None)
        return client

    yield make
    for client in clients:
        client.close()


class Clock:
    """A clock the test moves (real time at first: capture and feedback carry real timestamps)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """``seconds`` later than now or than real time, whichever is later (traffic took real time)."""
        self.now = max(self.now, datetime.now(UTC)) + timedelta(seconds=seconds)


def service(client: Client, clock: Clock, *, seed: int = 7) -> ExperimentService:
    """The client's experiment service on the test's clock (and a seeded generator for bandits)."""
    svc = client.services.experiments
    return ExperimentService(
        svc.store, svc.endpoints, svc.registry, svc.reader, clock=clock, rng=np.random.default_rng(seed)
    )


@dataclass
class Served:
    variant: str
    inference_id: str
    labels: list[int]
    failed: bool = False


def traffic(client: Client, requests: int, *, seed: int, rows: int = 5, first_tag: int = 1) -> list[Served]:
    """``requests`` invocations of ``rows`` rows each, routed by the endpoint's weights; each request's rows are
    tagged with its number (a flaky model fails on multiples of 5).  Capture is written before this returns."""
    from modelport.errors import ModelportError

    frame = draw(requests * rows, seed=seed)
    out = []
    for i in range(requests):
        part = frame.iloc[i * rows : (i + 1) * rows].assign(tag=float(first_tag + i))
        try:
            result = client.endpoints.invoke("churn", part)
        except ModelportError as exc:
            out.append(Served(str(exc.details.get("served_by", "")), "", [], failed=True))
            continue
        out.append(Served(result.variant, result.inference_id, truth(part).tolist()))
    client.endpoints.close()  # type: ignore[attr-defined]  # the in-process data plane stops: capture written
    return out


def feedback(client: Client, served: list[Served]) -> None:
    """Send the ground truth of every answered request."""
    records = [{"inference_id": s.inference_id, "label": s.labels} for s in served if not s.failed]
    client.feedback.send("churn", records)


def weights(client: Client) -> dict[str, float]:
    return {v.name: v.weight for v in client.endpoints.get("churn").config.live}


def events(client: Client, name: str) -> list[str]:
    return [e.kind for e in client.experiments.show(name).events]


def running(experiment: Experiment) -> bool:
    return experiment.status == "running"


def frame_of(served: list[Served]) -> Any:
    return pd.DataFrame([s.__dict__ for s in served])
