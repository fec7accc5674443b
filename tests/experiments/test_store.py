"""The experiment store on SQLite and PostgreSQL: one running experiment per endpoint, ends that happen once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from modelport.errors import AlreadyExists, Conflict, NotFound
from modelport.experiments.experiment import ExperimentSpec
from modelport.experiments.store import ExperimentStore
from modelport.services import Services

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def create(store: ExperimentStore, name: str, endpoint: str = "churn") -> None:
    store.create(
        name,
        endpoint=endpoint,
        control="a",
        treatment="b",
        spec=ExperimentSpec(metric="accuracy", guardrails=["error_rate:+0.5pp"]),
        state={"revision": 2},
        created_by="alice",
        started_at=T0,
    )


def test_an_experiment_round_trips_with_its_events(services: Services) -> None:
    store = ExperimentStore(services.db)
    create(store, "exp1")
    got = store.get("exp1")
    assert (got.status, got.decision, got.spec.metric, got.spec.guardrails) == (
        "running",
        "running",
        "accuracy",
        ["error_rate:+0.5pp"],
    )
    assert got.state == {"revision": 2} and got.started_at == T0 and got.cause == "experiment:exp1"
    assert "state" not in got.model_dump()  # internal: not part of the API

    assert store.record("exp1", result={"p_value": 0.2}, decision="srm", events=[("decision", {"decision": "srm"})])
    assert store.finish("exp1", decision="treatment_wins", reason="p < alpha", ended_at=T0 + timedelta(hours=1))
    assert not store.finish("exp1", decision="stopped", reason="late", ended_at=T0 + timedelta(hours=2))
    assert not store.record("exp1", decision="running")  # an ended experiment's look is not overwritten
    got = store.get("exp1")
    assert (got.status, got.decision, got.stop_reason, got.result) == (
        "ended",
        "treatment_wins",
        "p < alpha",
        {"p_value": 0.2},
    )
    assert [e.kind for e in store.events("exp1")] == ["decision"]
    assert [e.name for e in store.list(status="ended")] == ["exp1"] and store.list(status="running") == []


def test_one_running_experiment_per_endpoint_and_unique_names(services: Services) -> None:
    store = ExperimentStore(services.db)
    create(store, "exp1")
    with pytest.raises(Conflict, match="experiment 'exp1' is already running on endpoint 'churn'"):
        create(store, "exp2")
    with pytest.raises(AlreadyExists, match="experiment 'exp1' already exists"):
        create(store, "exp1", endpoint="other")
    create(store, "exp3", endpoint="other")  # another endpoint: fine
    store.finish("exp1", decision="stopped", reason="done", ended_at=T0)
    create(store, "exp2")  # the endpoint is free again
    store.discard("exp2")
    with pytest.raises(NotFound):
        store.get("exp2")


def test_two_starts_at_once_on_one_endpoint_leave_one_running(services: Services) -> None:
    """The database decides (a unique index over the running rows), not a read before the write."""
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def start(name: str) -> None:
        store = ExperimentStore(services.db)
        barrier.wait()
        try:
            create(store, name)
            outcomes.append("started")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=start, args=(f"exp{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["started"]
    assert len(ExperimentStore(services.db).list(status="running", endpoint="churn")) == 1
