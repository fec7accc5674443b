"""Scheduled monitor runs inside ``modelport server``: one runner across every worker and server.

Each server process runs a :class:`MonitorScheduler` thread.  Every few
seconds it tries to take (or renew) the ``monitor-scheduler`` lease in the
registry database; only the holder looks for due monitors.  A lease lasts
``ttl_s`` (30 s) and is renewed on every tick and before every run, so when
its holder stops or dies another process takes over within about that long.

A due run is claimed by moving the monitor's ``next_run_at`` with a
compare-and-set in the same statement that decides who runs it: even two
holders (a lease that expired in the middle of a long run) never both run
one due time.  A scheduler that was down runs the latest window it missed,
not each of them.  Runs wait ``settle_s`` past their due time, so capture
still in a server's write buffer (``MODELPORT_CAPTURE_FLUSH_S``) lands first.
A failed run is recorded as a failed run; nothing a run does stops the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from modelport.db.leases import LeasedLoop, utcnow
from modelport.monitoring.monitor import Monitor, MonitorRun
from modelport.monitoring.schedule import next_run

if TYPE_CHECKING:
    from modelport.monitoring.service import MonitorService

log = logging.getLogger("modelport.monitoring")

LEASE = "monitor-scheduler"
#: scheduled times looked at when catching up on missed runs
MAX_CATCH_UP = 100_000


class MonitorScheduler(LeasedLoop[MonitorRun]):
    def __init__(
        self,
        service: MonitorService,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        interval_s: float = 5.0,
        ttl_s: float = 30.0,
        settle_s: float = 5.0,
    ) -> None:
        super().__init__(service.store.db, LEASE, holder=holder, clock=clock, interval_s=interval_s, ttl_s=ttl_s)
        self.service = service
        self.store = service.store
        self.settle_s = settle_s

    def work(self) -> list[MonitorRun]:
        """Every due monitor, once.  Returns the runs made."""
        runs: list[MonitorRun] = []
        ready = self.clock() - timedelta(seconds=self.settle_s)
        for monitor in self.store.due(ready):
            if self.stopping or not self.holds_lease():
                break
            run = self._run_due(monitor, ready)
            if run is not None:
                runs.append(run)
        return runs

    def _run_due(self, monitor: Monitor, ready: datetime) -> MonitorRun | None:
        due = monitor.next_run_at
        if due is None:
            return None
        until = due
        following = next_run(monitor.schedule, due)
        for _ in range(MAX_CATCH_UP):  # missed several: judge the latest window only
            if following is None or following > ready:
                break
            until, following = following, next_run(monitor.schedule, following)
        if not self.store.claim(monitor.name, due, following):
            return None  # another scheduler claimed it
        try:
            return self.service.run(monitor.name, until=until, trigger="schedule")
        except Exception as exc:  # recorded as a failed run by the service; the thread goes on
            log.warning("scheduled run of monitor %s failed: %s", monitor.name, getattr(exc, "message", exc))
            return None
