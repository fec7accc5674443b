"""Environment problems are one line saying what to fix, never `unexpected …Error (please report this)`."""

from __future__ import annotations

import json

import pytest

from tests import infra


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://"])
def test_postgres_urls_without_a_driver_are_accepted(
    cli, monkeypatch: pytest.MonkeyPatch, pg: infra.PostgresCluster, scheme: str
) -> None:  # type: ignore[no-untyped-def]
    url = pg.create_database().replace("postgresql+psycopg://", scheme)
    monkeypatch.setenv("MODELPORT_DATABASE_URL", url)
    code, out, err = cli("models", "list", "--json")
    assert code == 0, err
    assert json.loads(out)["items"] == []
    code, out, _ = cli("db", "current")
    assert code == 0 and out.startswith("postgresql+psycopg://postgres@127.0.0.1:")


def test_postgres_down_is_one_line_naming_host_and_port(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    port = infra.free_port()  # nothing listens there: a server that is down
    monkeypatch.setenv("MODELPORT_DATABASE_URL", f"postgres://modelport:secret@127.0.0.1:{port}/registry")
    code, out, err = cli("models", "list")
    assert (code, out) == (1, "")
    assert err.startswith(
        f"error: database postgresql+psycopg://modelport:***@127.0.0.1:{port}/registry is unavailable "
        f"(PostgreSQL at 127.0.0.1:{port}): "
    )
    assert err.count("\n") == 1 and "secret" not in err, err
