"""The read-only SQLite reader answers exactly what the SQLAlchemy stores answer, or declines."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelport.db import tables
from modelport.db.database import Database
from modelport.db.sqlite_reads import JSON_COLUMNS, TABLES, TIME_COLUMNS, SQLiteReads, open_reads
from modelport.domain import ArtifactFile
from modelport.errors import ModelportError
from modelport.services import Services
from modelport.settings import Settings

#: names a LIKE pattern could get wrong ('_' is a wildcard there)
NAMES = ("churn", "churn_v2", "churnxv2", "a.b", "a-b", "ab", "fraud")


def _add(svc: Services, name: str, *, format: str = "sklearn", tags: dict[str, str] | None = None) -> None:
    store = svc.registry.db
    store.add_version(
        name,
        format=format,
        artifact_uri=f"file:///blobs/{name}",
        sha256="ab" * 32,
        size=123,
        files=[
            ArtifactFile(uri=f"file:///blobs/{name}", sha256="ab" * 32, size=123, filename="m.joblib", format=format)
        ],
        signature={"inputs": [{"name": "x", "dtype": "float64"}], "classes": [0, 1]},
        metrics={"auc": 0.9, "n": 3},
        params={"depth": "3"},
        tags=tags or {},
        source={"path": "/tmp/m.joblib"},
        description="a model",
        created_by="ci",
        baseline={"item_count": 10, "features": []},
        conversion={},
    )


@pytest.fixture
def registry(sqlite_settings: Settings) -> Iterator[tuple[Services, SQLiteReads]]:
    svc = Services.open(sqlite_settings)
    for i, name in enumerate(NAMES):
        _add(svc, name, tags={"team": "risk" if i % 2 else "growth", 'odd"key': "x", "n": str(i)})
        _add(svc, name, format="onnx", tags={"team": "risk", "stage": "prod"})
        _add(svc, name, format="onnx")
    svc.registry.db.update_model("churn", description="d", tags={"team": "risk", "n": "1"})
    svc.registry.set_alias("churn", "champion", 2)
    svc.registry.set_alias("churn", "old", 1)
    svc.registry.db.delete_version("fraud", 3)
    svc.tokens.create("read", "dashboard")
    svc.tokens.create("invoke", "app")
    svc.endpoints.create(
        "churn",
        [
            {"name": "a", "requested": "churn:1", "weight": 80},
            {"name": "b", "requested": "churn@champion", "weight": 20},
        ],
        created_by="ci",
    )
    svc.endpoints.create(
        "fraud",
        [{"name": "main", "requested": "fraud:2"}],
        capture={"enabled": True, "sampling_percent": 5},
        created_by="ci",
    )
    reads = open_reads(sqlite_settings.resolved_database_url)
    assert reads is not None
    yield svc, reads
    reads.close()
    svc.close()


def _same(store_call: Callable[[], Any], reader_call: Callable[[], Any]) -> Any:
    """Both calls return equal results, or raise the same error with the same message."""
    try:
        expected = store_call()
    except ModelportError as exc:
        with pytest.raises(type(exc)) as raised:
            reader_call()
        assert raised.value.message == exc.message
        return exc
    assert reader_call() == expected
    return expected


def test_the_reader_answers_what_the_store_answers(registry: tuple[Services, SQLiteReads]) -> None:
    svc, reads = registry
    store = svc.registry.db
    for filters in (
        {},
        {"limit": 3},
        {"name_contains": "_"},
        {"name_contains": "%"},
        {"name_contains": "/"},
        {"name_contains": "n_v"},
        {"name_contains": "churn"},
        {"name_contains": "nothing"},
        {"tags": {"team": "risk"}},
        {"tags": {"team": "risk", "n": "1"}},
        {"tags": {"n": 1}},  # values are compared as strings
        {"limit": 0},
        {"page_token": "forged"},
    ):
        page = _same(lambda f=filters: store.list_models(**f), lambda f=filters: reads.registry.list_models(**f))
        while getattr(page, "next_page_token", None):  # every page, following the tokens
            token = page.next_page_token
            page = _same(
                lambda f=filters, t=token: store.list_models(**{**f, "page_token": t}),
                lambda f=filters, t=token: reads.registry.list_models(**{**f, "page_token": t}),
            )
    assert [m.name for m in reads.registry.list_models(name_contains="n_v").items] == ["churn_v2"]
    assert [m.name for m in reads.registry.list_models(tags={"team": "risk", "n": "1"}).items] == ["churn"]
    assert [v.version for v in reads.registry.list_versions("churn", tags={"stage": "prod"}).items] == [2]
    for ref in (
        "churn",
        "churn:1",
        "churn@champion",
        "churn@old",
        "fraud",
        "fraud:3",
        "churn@nope",
        "ghost",
        "ghost:1",
        "bad name",
        "churn:x",
    ):
        _same(lambda r=ref: store.get_version(r), lambda r=ref: reads.registry.get_version(r))
    for name in ("churn", "a.b", "ghost", "bad name"):
        _same(lambda n=name: store.get_model(n), lambda n=name: reads.registry.get_model(n))
    for filters in (
        {},
        {"limit": 1},
        {"format": "onnx"},
        {"tags": {"stage": "prod"}},
        {"tags": {'odd"key': "x"}},
        {"page_token": "Im5hbWUi"},
    ):
        for name in ("churn", "a-b", "ghost"):
            page = _same(
                lambda n=name, f=filters: store.list_versions(n, **f),
                lambda n=name, f=filters: reads.registry.list_versions(n, **f),
            )
            while getattr(page, "next_page_token", None):
                token = page.next_page_token
                page = _same(
                    lambda n=name, f=filters, t=token: store.list_versions(n, **{**f, "page_token": t}),
                    lambda n=name, f=filters, t=token: reads.registry.list_versions(n, **{**f, "page_token": t}),
                )
    assert [t.name for t in _same(svc.tokens.list, reads.tokens.list)] == ["dashboard", "app"]
    assert [e.name for e in _same(svc.endpoints.list, reads.endpoints.list)] == ["churn", "fraud"]


def test_the_reader_sees_each_commit_and_never_waits_for_a_writer(registry: tuple[Services, SQLiteReads]) -> None:
    svc, reads = registry
    before = reads.registry.list_models(limit=100)
    with svc.db.write() as conn:  # BEGIN IMMEDIATE: the write lock, held while the reader reads
        conn.execute(tables.models_table.delete().where(tables.models_table.c.name == "ab"))
        assert reads.registry.list_models(limit=100) == before
    assert "ab" not in [m.name for m in reads.registry.list_models(limit=100).items]


def test_the_reader_cannot_write(registry: tuple[Services, SQLiteReads], sqlite_settings: Settings) -> None:
    path = sqlite_settings.home / "modelport.db"
    connection = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)  # what open_reads opens
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        connection.execute("DELETE FROM models")
    connection.close()


def test_it_declines_what_the_sqlalchemy_path_must_handle(sqlite_settings: Settings, tmp_path: Path) -> None:
    """Not created yet, another revision, no schema, not a database, another backend: None, and Services decides."""
    url = sqlite_settings.resolved_database_url
    assert open_reads(url) is None  # does not exist yet: Services.open creates it
    db = Database(url)
    try:
        db.upgrade("0001")
        assert open_reads(url) is None  # stale: Services.open says which command fixes it
        db.upgrade()
    finally:
        db.dispose()
    reads = open_reads(url)
    assert reads is not None
    reads.close()
    assert open_reads(url + "?timeout=5") is None  # options only SQLAlchemy passes on
    assert open_reads("sqlite://") is None and open_reads("sqlite:///:memory:") is None
    assert open_reads("postgresql+psycopg://u@localhost/db") is None
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert open_reads(f"sqlite:///{empty}") is None  # no schema revision
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    assert open_reads(f"sqlite:///{junk}") is None


def test_decoded_columns_are_the_tables_json_and_time_columns() -> None:
    """The reader decodes by column name: the names must mean the same type in every table it reads."""
    for name in TABLES:
        table = tables.metadata.tables[name]
        json_columns = {c.name for c in table.columns if isinstance(c.type, tables.sa.JSON)}
        time_columns = {c.name for c in table.columns if isinstance(c.type, tables.UTCDateTime)}
        others = {c.name for c in table.columns} - json_columns - time_columns
        assert json_columns <= JSON_COLUMNS and time_columns <= TIME_COLUMNS, name
        assert not others & (JSON_COLUMNS | TIME_COLUMNS), name
