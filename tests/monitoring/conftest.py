"""Fixtures of the monitoring tests: the app in process (tests/api's), the SDK talking to it over httpx, and a
classifier registered with a training sample, deployed behind an endpoint that captures its traffic."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelport.client import Client
from modelport.settings import Settings
from tests.api.conftest import InProcess, in_process
from tests.cli.conftest import cli

__all__ = ["InProcess", "InProcessTransport", "cli", "in_process"]

FEATURES = ["f0", "f1", "f2", "f3", "f4"]
#: low enough for a test's traffic to be conclusive, against a 4000-row baseline
CONFIG = {"min_samples": 200}


class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport answered by an in-process app: the remote SDK without a server process."""

    def __init__(self, api: InProcess) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.api.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://modelport") as client:
                response = await client.send(
                    client.build_request(
                        request.method,
                        request.url.path,
                        params=request.url.params,
                        headers=request.headers,
                        content=request.read(),
                    )
                )
                await response.aread()
                return response

        response = self.api.loop.run_until_complete(send())
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)


def remote_client(api: InProcess, home: Any, token: str | None = None) -> Any:
    from modelport.client import Client

    http = httpx.Client(transport=InProcessTransport(api), base_url="http://testserver")
    secret = api.tokens.get(token, token) if token else None
    return Client(url="http://testserver", token=secret, home=home, http_client=http)


def draw(n: int, seed: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    """Rows from the training distribution; ``shift`` moves features by that many standard deviations."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "f0": rng.normal(0, 1, n),
            "f1": rng.normal(5, 2, n),
            "f2": rng.lognormal(1, 0.5, n),
            "f3": rng.uniform(-1, 1, n),
            "f4": rng.normal(10, 3, n),
        }
    )
    for name, sd in (shift or {}).items():
        frame[name] = frame[name] + sd * float(frame[name].std())
    return frame.round(6)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model file, sample CSV): a logistic regression and the 4000 rows it was trained on."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("monitored")
    sample = draw(4000, seed=1)
    labels = (sample["f0"] + 0.3 * sample["f1"] - 0.5 * sample["f3"] > 1.5).astype(int)
    model = folder / "clf.joblib"
    joblib.dump(LogisticRegression(max_iter=1000).fit(sample[FEATURES], labels), model)
    sample.to_csv(folder / "train.csv", index=False)
    return model, folder / "train.csv"


@pytest.fixture
def deployed(sqlite_settings: Settings, trained: tuple[Path, Path]) -> Iterator[Callable[..., Client]]:
    """``deployed(capture=True)``: a client on a home where clf:1 serves endpoint ``churn`` (variants a and b)."""
    clients: list[Client] = []

    def make(*, capture: bool = True, sample: bool = True, settings: Settings = sqlite_settings) -> Client:
        client = Client(settings=settings)
        clients.append(client)
        model, train = trained
        client.models.register(model, "clf", sample=train if sample else None)
        client.endpoints.create("churn", ["a=clf:1:50", "b=clf:1:50"], capture=100 if capture else None)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def settings_home(sqlite_settings: Settings) -> Path:
    """The home ``deployed()`` clients work on."""
    return sqlite_settings.home


def send(client: Client, frame: pd.DataFrame, variant: str, *, batch: int = 25) -> None:
    """The rows as requests to one variant, alternating CSV (SageMaker) and JSON bodies; capture flushed after."""
    for i, start in enumerate(range(0, len(frame), batch)):
        rows = frame.iloc[start : start + batch]
        if i % 2:
            client.endpoints.invoke(
                "churn", rows.to_csv(index=False, header=False).encode(), content_type="text/csv", variant=variant
            )
        else:
            client.endpoints.invoke("churn", rows, variant=variant)
    client.endpoints.close()  # type: ignore[attr-defined]  # the in-process data plane stops: its capture is written
