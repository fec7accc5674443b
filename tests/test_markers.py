"""Tests carry the markers of the components they start, so `pytest -m "not postgres"` leaves them out."""

from __future__ import annotations

import pytest

from tests import infra


def _marks(request: pytest.FixtureRequest) -> set[str]:
    return {m.name for m in request.node.iter_markers()}


def test_a_test_using_postgres_through_a_param_is_marked_postgres(request: pytest.FixtureRequest, db_url: str) -> None:
    on_postgres = request.node.callspec.params["db_url"] == "postgres"
    assert db_url.startswith("postgresql") == on_postgres
    assert ("postgres" in _marks(request)) == on_postgres
    assert "slow" not in _marks(request)


def test_a_test_using_the_postgres_fixture_is_marked_postgres(
    request: pytest.FixtureRequest, pg: infra.PostgresCluster
) -> None:
    assert _marks(request) >= {"postgres"}
