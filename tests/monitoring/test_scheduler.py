"""Scheduled runs: one runner across processes sharing a database, failures recorded, never fatal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from modelport.client import Client
from modelport.monitoring.scheduler import LEASE, MonitorScheduler
from modelport.monitoring.service import MonitorService
from modelport.services import Services
from modelport.settings import Settings
from tests import infra


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def scheduler(services: Services, holder: str, clock: Clock) -> MonitorScheduler:
    """A server process's scheduler: its own services on the shared database, on the test's clock."""
    svc = services.monitors
    service = MonitorService(svc.store, svc.endpoints, svc.registry, svc.artifacts, svc.feedback, clock=clock)
    return MonitorScheduler(service, holder=holder, clock=clock, interval_s=0.05, settle_s=5)


def test_two_schedulers_on_one_database_run_each_due_time_once(
    deployed: Callable[..., Client], settings: Settings, make_services: Callable[[Settings], Services]
) -> None:
    client = deployed(settings=settings)
    client.monitors.create("hourly", "churn", variant="a", every="1h")
    due = client.monitors.get("hourly").next_run_at
    clock = Clock(due + timedelta(seconds=10))
    first = scheduler(make_services(settings), "server-1", clock)
    second = scheduler(make_services(settings), "server-2", clock)

    barrier = threading.Barrier(2)
    made: dict[str, list] = {}

    def tick(s: MonitorScheduler) -> None:
        barrier.wait()
        made[s.holder] = s.tick()

    threads = [threading.Thread(target=tick, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(runs) for runs in made.values()) == [0, 1]  # one holder ran it, the other did nothing
    (run,) = client.monitors.runs("hourly")
    assert (run.trigger, run.until, run.since) == ("schedule", due, due - timedelta(hours=1))
    assert client.monitors.get("hourly").next_run_at == due + timedelta(hours=1)
    holder = first if made["server-1"] else second
    other = second if holder is first else first
    assert holder.tick() == [] and other.tick() == []  # nothing due: no second run

    # while the holder renews its lease, the other never runs; once it stops renewing, the other takes over
    clock.now = due + timedelta(hours=1, seconds=10)
    assert [r.until for r in holder.tick()] == [due + timedelta(hours=1)]
    clock.now += timedelta(seconds=holder.ttl_s / 2)
    assert other.tick() == []
    assert other.store.lease_holder(LEASE, clock.now) == holder.holder
    clock.now = due + timedelta(hours=2, seconds=10)  # the holder died in between: its lease ran out
    assert [r.until for r in other.tick()] == [due + timedelta(hours=2)]
    assert other.store.lease_holder(LEASE, clock.now) == other.holder
    assert [r.until for r in client.monitors.runs("hourly")] == [due + timedelta(hours=h) for h in (2, 1, 0)]


def test_a_scheduler_that_was_down_runs_the_latest_missed_window_once(deployed: Callable[..., Client]) -> None:
    client = deployed()
    client.monitors.create("hourly", "churn", variant="a", every="1h")
    due = client.monitors.get("hourly").next_run_at
    clock = Clock(due + timedelta(hours=5, minutes=30))
    runs = scheduler(client.services, "s", clock).tick()  # type: ignore[attr-defined]
    assert [(r.since, r.until) for r in runs] == [(due + timedelta(hours=4), due + timedelta(hours=5))]
    assert client.monitors.get("hourly").next_run_at == due + timedelta(hours=6)


def test_a_failing_run_is_recorded_and_the_thread_goes_on(deployed: Callable[..., Client]) -> None:
    client = deployed(sample=False)  # no baseline: every run fails
    client.monitors.create("doomed", "churn", variant="a", every="1m")
    due = client.monitors.get("doomed").next_run_at
    clock = Clock(due + timedelta(seconds=10))
    s = scheduler(client.services, "s", clock)  # type: ignore[attr-defined]
    s.start()
    try:
        infra.wait_for(lambda: len(client.monitors.runs("doomed")) == 1, 20, "the first scheduled run")
        clock.now += timedelta(minutes=1)
        infra.wait_for(lambda: len(client.monitors.runs("doomed")) == 2, 20, "the next scheduled run")
    finally:
        s.stop()
    runs = client.monitors.runs("doomed")
    assert {(r.status, r.trigger) for r in runs} == {("failed", "schedule")}
    assert "has no baseline" in (runs[0].error or "")
    assert s.store.lease_holder(LEASE, clock.now) is None  # handed over on stop
