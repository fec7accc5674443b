"""MonitorStore on SQLite and PostgreSQL: monitors, runs written whole, claims, leases, folded capture."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from modelport.db.database import Database
from modelport.errors import AlreadyExists, NotFound
from modelport.monitoring.capture import FoldedFile
from modelport.monitoring.profiles import FeatureSketch, Profile
from modelport.monitoring.store import MonitorStore, NewRun

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> MonitorStore:
    db = Database(db_url)
    db.ensure_schema()
    yield MonitorStore(db)
    db.dispose()


def make(store: MonitorStore, name: str = "churn-drift", next_run_at: datetime | None = T0) -> None:
    store.create(
        name,
        endpoint="churn",
        variant=None,
        schedule={"every": 3600},
        window_s=3600,
        config={"min_samples": 100},
        next_run_at=next_run_at,
        created_by="ana",
    )


def finished(status: str = "completed", violations: int = 0) -> NewRun:
    return NewRun(
        status=status,
        trigger="manual",
        since=T0 - timedelta(hours=1),
        until=T0,
        result={"variants": {"a": {"rows": 5}}},
        violations=violations,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
    )


def test_monitors_are_created_listed_and_deleted(store: MonitorStore) -> None:
    make(store)
    monitor = store.get("churn-drift")
    assert (monitor.endpoint, monitor.schedule, monitor.window_s, monitor.config) == (
        "churn",
        {"every": 3600},
        3600,
        {"min_samples": 100},
    )
    assert monitor.next_run_at == T0
    with pytest.raises(AlreadyExists, match="monitor 'churn-drift' already exists"):
        make(store)
    assert [m.name for m in store.list()] == ["churn-drift"]
    store.add_run("churn-drift", finished())
    store.delete("churn-drift")
    with pytest.raises(NotFound, match="monitor 'churn-drift' does not exist"):
        store.get("churn-drift")
    make(store)
    assert store.runs("churn-drift") == []  # the runs went with the monitor


def test_a_run_is_recorded_with_its_report_or_not_at_all(store: MonitorStore) -> None:
    make(store)
    run = store.add_run(
        "churn-drift", finished(violations=2), lambda run_id: f"s3://bucket/monitoring/churn-drift/{run_id}"
    )
    assert run.report_uri == f"s3://bucket/monitoring/churn-drift/{run.id}"
    assert (run.status, run.violations, run.result) == ("completed", 2, {"variants": {"a": {"rows": 5}}})

    def broken(run_id: int) -> str:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.add_run("churn-drift", finished(), broken)
    assert [r.id for r in store.runs("churn-drift")] == [run.id]  # no row for the run whose report failed


def test_runs_are_listed_newest_first(store: MonitorStore) -> None:
    make(store)
    ids = [store.add_run("churn-drift", finished()).id for _ in range(3)]
    assert [r.id for r in store.runs("churn-drift", limit=2)] == ids[::-1][:2]
    with pytest.raises(NotFound, match="has no run 999"):
        store.get_run("churn-drift", 999)


def test_a_due_time_is_claimed_once(store: MonitorStore) -> None:
    make(store, next_run_at=T0)
    make(store, "later", next_run_at=T0 + timedelta(hours=5))
    make(store, "by-hand", next_run_at=None)
    assert [m.name for m in store.due(T0)] == ["churn-drift"]
    assert store.claim("churn-drift", T0, T0 + timedelta(hours=1))
    assert not store.claim("churn-drift", T0, T0 + timedelta(hours=1))  # someone else moved it already
    assert store.get("churn-drift").next_run_at == T0 + timedelta(hours=1)
    assert store.due(T0) == []


def test_a_lease_has_one_holder_until_it_expires(store: MonitorStore) -> None:
    assert store.acquire("monitor-scheduler", "a", 30, T0)
    assert store.acquire("monitor-scheduler", "a", 30, T0 + timedelta(seconds=10))  # renewed
    assert not store.acquire("monitor-scheduler", "b", 30, T0 + timedelta(seconds=39))
    assert store.lease_holder("monitor-scheduler", T0 + timedelta(seconds=39)) == "a"
    assert store.acquire("monitor-scheduler", "b", 30, T0 + timedelta(seconds=41))  # a's renewal ran out
    assert not store.acquire("monitor-scheduler", "a", 30, T0 + timedelta(seconds=42))
    store.release("monitor-scheduler", "a")  # not a's to give up
    assert store.lease_holder("monitor-scheduler", T0 + timedelta(seconds=42)) == "b"
    store.release("monitor-scheduler", "b")
    assert store.acquire("monitor-scheduler", "a", 30, T0 + timedelta(seconds=43))


def test_holders_racing_for_a_new_lease_get_one_winner(store: MonitorStore) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def race(holder: str) -> None:
        barrier.wait()
        if store.acquire("race", holder, 30, T0):
            winners.append(holder)

    threads = [threading.Thread(target=race, args=(f"h{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def folded(url: str, minute: str, rows: int) -> FoldedFile:
    at = datetime.fromisoformat(minute + ":00+00:00")
    profile = Profile(rows, {"x": FeatureSketch("numeric", count=rows, bins=[rows, 0])})
    return FoldedFile(
        url,
        at.replace(minute=0),
        records=rows,
        profiles={minute: profile},
        undecodable={minute: 1},
        errors={"bad": 1},
        predictions=b"PAR1",
        first_at=at,
        last_at=at + timedelta(seconds=59),
    )


def test_a_file_is_stored_once_per_binning(store: MonitorStore) -> None:
    files = [
        folded("/c/e/a/2024/05/01/10/1.jsonl", "2024-05-01T10:05", 3),
        folded("/c/e/a/2024/05/01/10/2.jsonl", "2024-05-01T10:40", 4),
    ]
    assert store.save_folds("e", "a", "digest1", files) == 2
    assert store.save_folds("e", "a", "digest1", files[:1]) == 0  # already there: kept
    assert store.save_folds("e", "a", "digest2", files[:1]) == 1  # another binning folds it again
    assert store.folded_paths("e", "a", "digest1", T0, T0 + timedelta(hours=1)) == {f.url for f in files}
    window = store.folds("e", "a", "digest1", T0 + timedelta(minutes=30), T0 + timedelta(hours=1))
    assert [f.path for f in window] == [files[1].url]
    assert window[0].profiles["2024-05-01T10:40"].features["x"].bins == [4, 0]
    assert (window[0].undecodable, window[0].errors) == ({"2024-05-01T10:40": 1}, {"bad": 1})
    assert store.predictions("e", "a", T0, T0 + timedelta(hours=1)) == [b"PAR1", b"PAR1"]  # one per file


def test_the_newest_dataset_baseline_wins(store: MonitorStore) -> None:
    assert store.latest_baseline("churn", 3) is None
    store.add_baseline("churn", 3, statistics={"v": 1}, constraints={}, source="a.csv", created_by="ana")
    second = store.add_baseline("churn", 3, statistics={"v": 2}, constraints={}, source="b.csv", created_by="ana")
    latest = store.latest_baseline("churn", 3)
    assert latest is not None and (latest.id, latest.statistics, latest.ref) == (second.id, {"v": 2}, "churn:3")
