"""Per-arm counters: what the data plane answered, per variant and minute, summed over serving processes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from modelport.endpoints.counters import LATENCY_BUCKETS_MS, LAYOUT, ArmCounters, ArmCounts, MinuteRow
from modelport.errors import ModelportError
from modelport.services import Services
from modelport.serving.arms import ArmBook
from modelport.settings import Settings
from tests.serving.conftest import Plane, build_small_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, pd.DataFrame]:
    settings, x, _ = build_small_home(tmp_path_factory.mktemp("arms"))
    svc = Services.open(settings)
    try:
        svc.endpoints.create(
            "iris",
            [
                {"name": "a", "requested": "iris:1", "weight": 50},
                {"name": "b", "requested": "iris:2", "weight": 50},
                {"name": "bad", "requested": "broken:1", "weight": 0},  # only when asked for by name
            ],
            capture={"enabled": True},
            created_by="tests",
        )
    finally:
        svc.close()
    return settings, x


@pytest.fixture(scope="module")
def planes(home: tuple[Settings, pd.DataFrame]) -> Iterator[tuple[Plane, Plane]]:
    first, second = Plane(home[0]), Plane(home[0])
    yield first, second
    first.close()
    second.close()


def test_counts_equal_what_was_sent_summed_over_two_processes(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, second = planes
    x = home[1]
    row = x.iloc[[3, 4]].to_csv(index=False, header=False).encode()
    served: Counter[str] = Counter()
    for plane, n in ((first, 150), (second, 90)):
        served.update(plane.invoke("iris", row).variant for _ in range(n))
    for plane in (first, second):  # caller mistakes: a body that is not the endpoint's input
        with pytest.raises(ModelportError) as caught:
            plane.invoke("iris", b"1,2\n", variant="a")
        assert caught.value.code == "INVALID_ARGUMENT"
    for _ in range(3):  # the variant's own failures
        with pytest.raises(ModelportError) as caught:
            first.invoke("iris", row, variant="bad")
        assert caught.value.code == "MODEL_ERROR"
    first.settle()
    second.settle()

    totals = first.services.endpoints.counters.totals("iris", ["a", "b", "bad"])
    a, b, bad = totals["a"], totals["b"], totals["bad"]
    assert (a.requests, b.requests) == (served["a"] + 2, served["b"])
    assert (a.errors, a.failures) == (2, 0)  # refused bodies are not the variant's failures
    assert (b.errors, b.failures) == (0, 0)
    assert (bad.requests, bad.errors, bad.failures, bad.forced_requests) == (3, 3, 3, 3)
    assert bad.failure_rate == 1.0
    assert a.rows == 2 * served["a"] and b.rows == 2 * served["b"]
    for arm in (a, b):
        assert sum(arm.latency_histogram()) == arm.ok  # successful requests only
        assert len(arm.latency_histogram()) == len(LATENCY_BUCKETS_MS) + 1
        assert 0 < arm.latency_quantile_ms(0.5) <= arm.latency_quantile_ms(0.99) < 5000  # type: ignore[operator]
        assert arm.latency_mean_ms and arm.latency_mean_ms > 0
    with first.services.db.read() as conn:
        sql = "SELECT COUNT(DISTINCT process) FROM arm_counters WHERE endpoint = 'iris'"
        assert conn.exec_driver_sql(sql).scalar() == 2
    assert first.serving.arms.process != second.serving.arms.process


def test_flushing_again_does_not_count_twice(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, _ = planes
    counters = first.services.endpoints.counters
    first.settle()
    before = sum(c.requests for c in counters.totals("iris").values())
    first.invoke("iris", home[1].iloc[[1]].to_csv(index=False, header=False).encode())
    first.settle()
    first.settle()
    assert first.serving.arms.flush() == 0  # nothing changed: nothing written
    assert sum(c.requests for c in counters.totals("iris").values()) == before + 1


def test_a_window_reads_only_its_minutes(home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc = Services.open(home[0])
    try:
        counters = ArmCounters(svc.db)
        t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
        rows = [MinuteRow("win", "a", t0 + timedelta(minutes=m), ArmCounts(requests=10 + m)) for m in range(5)]
        counters.write("host:1:aa", rows)
        counters.write("host:2:bb", rows[:2])
        assert counters.totals("win")["a"].requests == (10 + 11 + 12 + 13 + 14) + (10 + 11)
        window = counters.totals("win", since=t0 + timedelta(minutes=1, seconds=30), until=t0 + timedelta(minutes=3))
        assert window["a"].requests == 11 + 12 + 11
        assert counters.totals("win", ["b"]) == {}
    finally:
        svc.close()


class FlakyStore:
    """An ArmCounters stand-in whose database is away until told otherwise."""

    def __init__(self) -> None:
        self.up = False
        self.rows: list[MinuteRow] = []

    def write(self, process: str, rows: list[MinuteRow]) -> int:
        if not self.up:
            raise ModelportError("database is unavailable")
        self.rows.extend(rows)
        return len(rows)


def test_counts_survive_a_database_outage_and_minutes_roll_over() -> None:
    now = [datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC).timestamp()]
    store = FlakyStore()
    book = ArmBook(store, process="p", clock=lambda: now[0])  # type: ignore[arg-type]
    book.add("e", "a", ArmCounts(requests=5, errors=1, failures=1))
    with pytest.raises(ModelportError):
        book.flush()
    now[0] += 60  # the next minute
    book.add("e", "a", ArmCounts(requests=2))
    book.add("e", "a", ArmCounts(requests=1, latency={3: 1}))
    store.up = True
    assert book.flush() == 2
    by_minute = {r.minute.minute: r.counts for r in store.rows}
    assert by_minute[0].requests == 5 and by_minute[0].failures == 1
    assert by_minute[1].requests == 3 and by_minute[1].latency == {3: 1}
    assert [r.minute.minute for r in book.snapshot()] == [1]  # the finished minute, written, is let go
    assert orjson.loads(orjson.dumps(by_minute[1].to_json())) == {"v": LAYOUT, "requests": 3, "latency": {"3": 1}}


def test_stopping_a_server_writes_what_it_counted(home) -> None:  # type: ignore[no-untyped-def]
    plane = Plane(home[0])
    counters = plane.services.endpoints.counters
    before = sum(c.requests for c in counters.totals("iris").values())
    row = home[1].iloc[[1]].to_csv(index=False, header=False).encode()
    for _ in range(7):
        plane.invoke("iris", row)
    svc = Services.open(home[0])
    try:
        plane.close()  # no flush by hand: the background writer runs every 5 s, the stop writes the rest
        assert sum(c.requests for c in ArmCounters(svc.db).totals("iris").values()) == before + 7
    finally:
        svc.close()


def test_an_experiments_counts_are_exactly_those_made_while_it_ran(planes: tuple[Plane, Plane], home) -> None:  # type: ignore[no-untyped-def]
    first, second = planes
    svc = first.services
    row = home[1].iloc[[2]].to_csv(index=False, header=False).encode()
    for _ in range(5):
        first.invoke("iris", row)  # before: the same minute, no experiment
    svc.endpoints.update("iris", routing={"experiment": "exp-a"}, weights={"a": 80, "b": 20}, created_by="tests")
    first.sync()
    second.sync()
    served = Counter(first.invoke("iris", row).variant for _ in range(30))
    served.update(second.invoke("iris", row).variant for _ in range(20))
    first.settle()
    second.settle()
    during = svc.endpoints.counters.totals("iris", experiment="exp-a")
    assert {v: c.requests for v, c in during.items()} == dict(served)
    assert sum(c.requests for c in svc.endpoints.counters.totals("iris", experiment="").values()) >= 5
    assert {r.experiment for r in first.serving.arms.snapshot() if r.endpoint == "iris"} <= {"", "exp-a"}
