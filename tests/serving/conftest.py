"""A deployed home: real models registered, endpoints created, a real server running."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from modelport.services import Services
from modelport.settings import Settings
from tests import infra
from tests.runtimes.fixtures import FailingModel, SlowModel


@dataclass
class Deployment:
    home: Path
    server: infra.LiveServer
    x: pd.DataFrame
    models: dict[str, object]

    @property
    def url(self) -> str:
        return self.server.url

    def expected(self, version: int, rows: pd.DataFrame) -> np.ndarray:
        return self.models[f"iris:{version}"].predict(rows)  # type: ignore[attr-defined, no-any-return]


def build_home(root: Path) -> tuple[Path, pd.DataFrame, dict[str, object]]:
    home = root / "home"
    x, y = load_iris(return_X_y=True, as_frame=True)
    models: dict[str, object] = {
        "iris:1": LogisticRegression(max_iter=1000).fit(x, y),
        "iris:2": RandomForestClassifier(20, random_state=0).fit(x, y),
        "iris:3": DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y),
    }
    sample = root / "iris.csv"
    x.to_csv(sample, index=False)
    svc = Services.open(Settings(home=home))
    try:
        for ref, model in models.items():
            path = root / f"{ref.replace(':', '-')}.joblib"
            joblib.dump(model, path)
            svc.registry.register(path, "iris", sample=sample, to_onnx=ref == "iris:2")
        # XML element names cannot hold "sepal length (cm)": a model with plain names for the XML tests.
        plain = x.set_axis([c.removesuffix(" (cm)").replace(" ", "_") for c in x.columns], axis=1)
        models["flowers:1"] = LogisticRegression(max_iter=1000).fit(plain, y)
        joblib.dump(models["flowers:1"], root / "flowers.joblib")
        plain.to_csv(root / "flowers.csv", index=False)
        svc.registry.register(root / "flowers.joblib", "flowers", sample=root / "flowers.csv")
        svc.endpoints.create("flowers", [{"name": "main", "requested": "flowers:1"}], created_by="tests")
        for name, model in (("slow", SlowModel(3.0)), ("broken", FailingModel())):
            path = root / f"{name}.joblib"
            joblib.dump(model, path)
            svc.registry.register(path, name, trust=True)  # test classes: outside the allow-list
        svc.endpoints.create(
            "iris",
            [{"name": "a", "requested": "iris:1", "weight": 90}, {"name": "b", "requested": "iris:2", "weight": 10}],
            capture={"enabled": True, "sampling_percent": 100},
            created_by="tests",
        )
        svc.endpoints.create("slow", [{"name": "only", "requested": "slow:1"}], created_by="tests")
    finally:
        svc.close()
    return home, x, models


def server_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "MODELPORT_HOME": str(home),
        "MODELPORT_REQUEST_TIMEOUT_S": "1",
        "MODELPORT_SYNC_INTERVAL_S": "0.2",
        "PYTHONPATH": infra.PYTHONPATH,  # the toy models are pickled from tests.runtimes.fixtures
        **extra,
    }


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deployment")
    home, x, models = build_home(root)
    with infra.live_server(server_env(home)) as server:
        infra.wait_for(lambda: "in service" in _status(server.url), 30, "endpoints in service")
        yield Deployment(home=home, server=server, x=x, models=models)


def _status(url: str) -> str:
    import httpx

    eps = httpx.get(f"{url}/api/v1/endpoints").json()
    return "in service" if all(e["status"] == "in_service" for e in eps) else "waiting"


# -- in process: the data plane a server runs, driven on a loop of the test's own -----------------


def build_small_home(root: Path) -> tuple[Settings, pd.DataFrame, dict[str, object]]:
    """iris:1 (logistic regression), iris:2 (a depth-2 tree) and broken:1, no endpoint: quick to build."""
    home = root / "home"
    x, y = load_iris(return_X_y=True, as_frame=True)
    models: dict[str, object] = {
        "iris:1": LogisticRegression(max_iter=1000).fit(x, y),
        "iris:2": DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y),
        "broken:1": FailingModel(),
    }
    sample = root / "iris.csv"
    x.to_csv(sample, index=False)
    settings = Settings(home=home)
    svc = Services.open(settings)
    try:
        for ref, model in models.items():
            path = root / f"{ref.replace(':', '-')}.joblib"
            joblib.dump(model, path)
            if ref.startswith("broken"):
                svc.registry.register(path, "broken", trust=True)  # a test class: outside the allow-list
            else:
                svc.registry.register(path, "iris", sample=sample)
    finally:
        svc.close()
    return settings, x, models


class Plane:
    """One serving process's :class:`~modelport.serving.plane.Serving`, on an event loop of its own.

    Two planes over one home are two "processes" (each has its own arm-counter row).
    """

    def __init__(self, settings: Settings) -> None:
        import asyncio

        from modelport.metrics import Metrics
        from modelport.serving.plane import Serving

        self.services = Services.open(settings)
        self.loop = asyncio.new_event_loop()
        self.serving = Serving(self.services, Metrics(), threads=2)
        self.run(self.serving.start())

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def sync(self) -> None:
        self.run(self.serving.manager.sync())

    def invoke(
        self, endpoint: str, body: bytes, content_type: str = "text/csv", variant: str | None = None, **headers: str
    ):  # type: ignore[no-untyped-def]
        from modelport.serving.dataplane import InvokeRequest

        request = InvokeRequest(
            endpoint=endpoint,
            body=body,
            content_type=content_type,
            target_variant=variant,
            headers={k.replace("_", "-").lower(): v for k, v in headers.items()},
        )
        return self.run(self.serving.dataplane.invoke(request))

    def settle(self) -> None:
        """Wait for mirrored calls, hand the tallies to the arm counts and write them."""
        self.run(self.serving.dataplane.drain_shadows())
        self.serving.dataplane.flush_metrics()
        self.serving.arms.flush()

    def close(self) -> None:
        self.run(self.serving.stop())
        self.loop.close()
        self.services.close()
