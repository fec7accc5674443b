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
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from modelport.db.leases import holder_id
from modelport.monitoring.monitor import Monitor, MonitorRun
from modelport.monitoring.schedule import next_run

if TYPE_CHECKING:
    from modelport.monitoring.service import MonitorService

log = logging.getLogger("modelport.monitoring")

LEASE = "monitor-scheduler"
#: scheduled times looked at when catching up on missed runs
MAX_CATCH_UP = 100_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class MonitorScheduler:
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
        self.service = service
        self.store = service.store
        self.holder = holder or holder_id()
        self.clock = clock
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass -------------------------------------------------------------------

    def holds_lease(self) -> bool:
        return self.store.acquire(LEASE, self.holder, self.ttl_s, self.clock())

    def tick(self) -> list[MonitorRun]:
        """Take or renew the lease; if held, run every due monitor once.  Returns the runs made."""
        if not self.holds_lease():
            return []
        runs: list[MonitorRun] = []
        ready = self.clock() - timedelta(seconds=self.settle_s)
        for monitor in self.store.due(ready):
            if self._stop.is_set() or not self.holds_lease():
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

    # -- the thread -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="modelport-monitor-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the database is away, a bug: log, try again next tick
                log.exception("monitor scheduler tick failed")
            self._stop.wait(self.interval_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the run in progress, and hand the lease over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.store.release(LEASE, self.holder)
        except Exception:  # shutting down with the database away: the lease just expires
            log.debug("could not release the monitor scheduler lease", exc_info=True)
