"""Monitoring gauges on /metrics: set from a run result, and shown by every worker (read from the database)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from modelport.db.database import Database
from modelport.db.tables import monitor_runs_table, monitors_table
from modelport.metrics import Metrics, MonitorGauges, RunSnapshot, publish_run, run_snapshot
from modelport.monitoring.gauges import latest_runs
from modelport.services import Services
from modelport.settings import Settings
from tests.monitoring.conftest import InProcess

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

RESULT: dict[str, Any] = {
    "variants": {
        "a": {
            "features": {
                "age": {"statistics": {"psi": 0.31, "js": 0.12, "wasserstein_raw": 4.2}, "status": "drifted"},
                "plan": {"statistics": {"linf": 0.05, "p_value": 0.01, "chi2": 33.0}},
            },
            "quality": {
                "predictions": 1000,
                "labelled": 400,
                "coverage": 0.4,
                "metrics": {"accuracy": {"value": 0.91, "ci": [0.88, 0.93]}, "roc_auc": {"value": None}},
            },
            "estimate": {"metrics": {"accuracy": {"value": 0.9}}},
            "violations": [{"feature_name": "age"}],
        },
        "b": {"features": [{"name": "age", "drift": {"psi": 0.01}}], "violations": []},
    }
}


def samples(text: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_publish_run_sets_the_four_gauges() -> None:
    metrics = Metrics()
    publish_run(metrics, "churn-drift", "churn", RESULT, finished_at=T0)
    got = samples(metrics.render())
    assert got["modelport_feature_drift"] == {
        (("endpoint", "churn"), ("feature", "age"), ("statistic", "psi"), ("variant", "a")): 0.31,
        (("endpoint", "churn"), ("feature", "age"), ("statistic", "js"), ("variant", "a")): 0.12,
        (("endpoint", "churn"), ("feature", "plan"), ("statistic", "linf"), ("variant", "a")): 0.05,
        (("endpoint", "churn"), ("feature", "age"), ("statistic", "psi"), ("variant", "b")): 0.01,
    }
    assert got["modelport_model_quality"] == {
        (("endpoint", "churn"), ("metric", "accuracy"), ("variant", "a")): 0.91,
        (("endpoint", "churn"), ("metric", "coverage"), ("variant", "a")): 0.4,
        (("endpoint", "churn"), ("metric", "estimated_accuracy"), ("variant", "a")): 0.9,
    }
    assert got["modelport_monitor_last_run_timestamp_seconds"] == {(("monitor", "churn-drift"),): T0.timestamp()}
    assert got["modelport_monitor_violations"] == {
        (("monitor", "churn-drift"), ("variant", "a")): 1.0,
        (("monitor", "churn-drift"), ("variant", "b")): 0.0,
    }


def test_top_level_violations_are_counted_per_variant() -> None:
    snap = run_snapshot("m", "e", {"violations": [{"variant": "a"}, {"variant": "a"}, {"variant": "b"}]}, 0.0)
    assert snap.violations == (("a", 2), ("b", 1))


def test_two_monitors_on_one_endpoint_give_one_series_the_newer_value() -> None:
    metrics = Metrics()
    publish_run(metrics, "new", "churn", {"variants": {"a": {"features": {"age": {"statistics": {"psi": 0.5}}}}}}, T0)
    publish_run(
        metrics,
        "old",
        "churn",
        {"variants": {"a": {"features": {"age": {"statistics": {"psi": 0.1}}}}}},
        T0 - timedelta(hours=1),
    )
    got = samples(metrics.render())["modelport_feature_drift"]
    assert list(got.values()) == [0.5]


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_database_is_read_at_most_once_per_ttl_and_a_failure_keeps_the_last_read() -> None:
    reads: list[int] = []
    rows = [run_snapshot("m", "e", RESULT, 100.0)]

    def source() -> list[RunSnapshot]:
        reads.append(1)
        if len(reads) == 3:
            raise RuntimeError("database is down")
        return list(rows)

    ticks = Ticks()
    gauges = MonitorGauges(source, ttl_s=15, clock=ticks)
    assert [s.monitor for s in gauges.snapshots()] == ["m"]
    ticks.now = 10
    gauges.snapshots()
    assert len(reads) == 1
    ticks.now = 20
    rows.append(run_snapshot("n", "e", {}, 101.0))
    assert [s.monitor for s in gauges.snapshots()] == ["m", "n"]
    ticks.now = 40
    assert [s.monitor for s in gauges.snapshots()] == ["m", "n"] and len(reads) == 3  # the failed read changed nothing
    # a run published here shows at once when newer than the stored one; a deleted monitor goes
    gauges.publish(run_snapshot("m", "e", {}, 200.0))
    assert gauges.snapshots()[0].finished_at == 200.0
    rows[:] = [rows[1]]
    ticks.now = 60
    assert [s.monitor for s in gauges.snapshots()] == ["n"]


def insert_run(
    db: Database, monitor: str, result: dict[str, Any], finished_at: datetime, error: str | None = None
) -> None:
    with db.write() as conn:
        monitor_id = conn.scalar(sa.select(monitors_table.c.id).where(monitors_table.c.name == monitor))
        if monitor_id is None:
            monitor_id = conn.execute(
                sa.insert(monitors_table)
                .values(name=monitor, endpoint="churn", schedule={}, window_s=3600, config={}, created_by="t")
                .returning(monitors_table.c.id)
            ).scalar_one()
        conn.execute(
            sa.insert(monitor_runs_table).values(
                monitor_id=monitor_id,
                status="failed" if error else "succeeded",
                trigger="schedule",
                since=finished_at - timedelta(hours=1),
                until=finished_at,
                result=result,
                violations=0,
                error=error,
                started_at=finished_at,
                finished_at=finished_at,
            )
        )


def test_latest_runs_reads_the_newest_successful_run_of_each_monitor(services: Services) -> None:
    insert_run(services.db, "one", {"variants": {"a": {"violations": 1}}}, T0)
    insert_run(services.db, "one", {"variants": {"a": {"violations": 2}}}, T0 + timedelta(hours=1))
    insert_run(services.db, "one", {}, T0 + timedelta(hours=2), error="capture unreadable")
    insert_run(services.db, "two", {"variants": {"b": {"violations": 0}}}, T0)
    got = latest_runs(services.db)
    assert [(s.monitor, s.finished_at, s.violations) for s in got] == [
        ("one", (T0 + timedelta(hours=1)).timestamp(), (("a", 2),)),
        ("two", T0.timestamp(), (("b", 0),)),
    ]


def test_every_worker_shows_a_run_made_in_another(tmp_path: Path, services: Services) -> None:
    """Two workers in multiprocess mode: the run published in one is read by the other from the database."""
    source = functools.partial(latest_runs, services.db)
    worker_a = Metrics(tmp_path, monitor_runs=source)
    worker_b = Metrics(tmp_path, monitor_runs=source)
    worker_b.render()  # read (nothing yet) before the run: its cache must not hide the run for long
    insert_run(services.db, "churn-drift", RESULT, T0)
    publish_run(worker_a, "churn-drift", "churn", RESULT, T0)
    assert samples(worker_a.render())["modelport_monitor_last_run_timestamp_seconds"] == {
        (("monitor", "churn-drift"),): T0.timestamp()
    }
    worker_b.monitoring.ttl_s = 0  # the next scrape after the cache's life
    assert (
        samples(worker_b.render())["modelport_monitor_violations"][(("monitor", "churn-drift"), ("variant", "a"))]
        == 1.0
    )


def test_the_server_metrics_route_shows_monitor_runs_from_the_database(
    in_process: Callable[..., InProcess], tmp_path: Path
) -> None:
    api = in_process()
    svc = Services.open(Settings(home=tmp_path / "home0"))
    try:
        insert_run(svc.db, "churn-drift", RESULT, T0)
    finally:
        svc.close()
    r = api.get("/metrics")
    assert r.status_code == 200
    got = samples(r.content)
    assert got["modelport_model_quality"][(("endpoint", "churn"), ("metric", "accuracy"), ("variant", "a"))] == 0.91
    assert got["modelport_monitor_last_run_timestamp_seconds"] == {(("monitor", "churn-drift"),): T0.timestamp()}


@pytest.mark.slow
def test_a_two_worker_server_shows_a_run_made_outside_it_on_every_scrape(tmp_path: Path) -> None:
    """A run recorded by another process (cron's `monitors run`): every worker's /metrics shows it within the cache's life."""
    import httpx

    from tests import infra

    home = tmp_path / "h"
    with infra.live_server({"MODELPORT_HOME": str(home)}, "--workers", "2") as live:
        for _ in range(8):  # every worker has read (no runs) and caches that
            assert httpx.get(f"{live.url}/metrics").status_code == 200
        svc = Services.open(Settings(home=home))
        try:
            insert_run(svc.db, "churn-drift", RESULT, T0)
        finally:
            svc.close()
        line = b'modelport_monitor_last_run_timestamp_seconds{monitor="churn-drift"}'

        def every_scrape_shows_it() -> bool:
            return all(
                line in httpx.get(f"{live.url}/metrics").content for _ in range(8)
            )  # connections spread over workers

        infra.wait_for(every_scrape_shows_it, 60, "the run on the /metrics of both workers")
