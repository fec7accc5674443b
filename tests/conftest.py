"""Shared fixtures: settings per backend, real PostgreSQL and S3, live servers, toy models."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelport.client import Client
from modelport.services import Services
from modelport.settings import Settings
from tests import infra


def pytest_configure(config: pytest.Config) -> None:
    # Settings must come from the tests, never from the developer's shell.
    for key in list(os.environ):
        if key.startswith("MODELPORT_") and key != "MODELPORT_SKLEARN2PMML_PYTHON":
            del os.environ[key]


#: Fixtures that start a real component, and the markers a test using them gets.
MARKS_BY_FIXTURE: dict[str, tuple[str, ...]] = {
    "pg": ("postgres",),
    "s3": ("s3",),
    "server": ("slow",),  # a `modelport server` process
    "deployment": ("slow",),  # tests/serving: a deployed home behind a server process
    "api_home": ("slow",),  # tests/batch: a server process with auth on
}
#: Parametrised fixtures that start a component for one of their params (with getfixturevalue,
#: which a collection hook cannot see).
MARKS_BY_PARAM: dict[tuple[str, str], tuple[str, ...]] = {
    ("db_url", "postgres"): ("postgres",),
    ("store_settings", "s3"): ("s3",),
    ("client", "remote"): ("slow",),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the components their fixtures start, so `-m "not slow"` etc. select them.

    Tests that start a server or a subprocess themselves carry an explicit mark.
    """
    for item in items:
        names: set[str] = set()
        for fixture in getattr(item, "fixturenames", ()):
            names.update(MARKS_BY_FIXTURE.get(fixture, ()))
        callspec = getattr(item, "callspec", None)
        for (fixture, param), marks in MARKS_BY_PARAM.items():
            if callspec is not None and callspec.params.get(fixture) == param:
                names.update(marks)
        for name in sorted(names - {m.name for m in item.iter_markers()}):
            item.add_marker(name)


@pytest.fixture(scope="session")
def pg() -> Iterator[infra.PostgresCluster]:
    cluster = infra.start_postgres()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[infra.S3Server]:
    server = infra.start_s3()
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update({k: v for k, v in server.env().items() if k.startswith("AWS_")})
    yield server
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, home: Path) -> str:
    """Each registry test runs on SQLite and on the throwaway PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{home / 'modelport.db'}"
    cluster: infra.PostgresCluster = request.getfixturevalue("pg")
    return cluster.create_database()


@pytest.fixture
def settings(home: Path, db_url: str) -> Settings:
    return Settings(home=home, database_url=db_url)


@pytest.fixture
def sqlite_settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = Services.open(settings)
    yield svc
    svc.close()


@pytest.fixture
def make_services() -> Iterator[Callable[[Settings], Services]]:
    opened: list[Services] = []

    def make(settings: Settings) -> Services:
        svc = Services.open(settings)
        opened.append(svc)
        return svc

    yield make
    for svc in opened:
        svc.close()


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real scikit-learn model, trained here on iris."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("models") / "iris.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path)
    return path


@pytest.fixture(scope="session")
def other_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("models") / "tree.joblib"
    joblib.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y), path)
    return path


@pytest.fixture(scope="module")
def server_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-home")


@pytest.fixture(scope="module")
def server(server_home: Path) -> Iterator[infra.LiveServer]:
    """A real `modelport server` on a free port, shared by a test module."""
    with infra.live_server({"MODELPORT_HOME": str(server_home)}) as live:
        yield live


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, server_home: Path) -> Iterator[Client]:
    """The SDK in-process and against a live server, on the same home: same behaviour expected."""
    if request.param == "local":
        c = Client(home=server_home)
    else:
        live: infra.LiveServer = request.getfixturevalue("server")
        c = Client(url=live.url)
    yield c
    c.close()


@pytest.fixture
def name() -> str:
    """A fresh model name, so tests sharing a server do not collide."""
    return f"m-{uuid.uuid4().hex[:10]}"
