"""The decision loop inside ``modelport server``: one evaluator across every worker and server.

Each server process runs an :class:`ExperimentEvaluator` thread.  Every
``MODELPORT_EXPERIMENT_INTERVAL_S`` (5 s) it takes or renews the
``experiment-evaluator`` lease (:mod:`modelport.db.leases`, the same
mechanism as the monitor scheduler, its own name: a long monitor run never
delays a rollback); only the holder looks at the running experiments
(:meth:`ExperimentService.evaluate_all`).  A look that fails is logged and
recorded on the experiment (once per distinct error); nothing stops the
thread.  When the holder stops it hands the lease over; when it dies, another
process takes over once the lease runs out (``ttl_s``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from modelport.db.leases import Leases, holder_id
from modelport.experiments.experiment import Experiment

if TYPE_CHECKING:
    from modelport.experiments.service import ExperimentService

log = logging.getLogger("modelport.experiments")

LEASE = "experiment-evaluator"


def utcnow() -> datetime:
    return datetime.now(UTC)


class ExperimentEvaluator:
    def __init__(
        self,
        service: ExperimentService,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
        interval_s: float = 5.0,
        ttl_s: float | None = None,
    ) -> None:
        self.service = service
        self.leases = Leases(service.store.db)
        self.holder = holder or holder_id()
        self.clock = clock or service.clock
        self.interval_s = interval_s
        self.ttl_s = ttl_s if ttl_s is not None else max(30.0, 6 * interval_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holds_lease(self) -> bool:
        return self.leases.acquire(LEASE, self.holder, self.ttl_s, self.clock())

    def tick(self) -> list[Experiment]:
        """Take or renew the lease; if held, look at every running experiment once.  Returns them after the look."""
        if not self.holds_lease():
            return []
        looked: list[Experiment] = []
        for experiment in self.service.store.list(status="running"):
            if self._stop.is_set() or not self.holds_lease():
                break
            try:
                looked.append(self.service.evaluate(experiment.name))
            except Exception as exc:  # recorded on the experiment by the service; the others still get their look
                log.warning("experiment %s: the look failed: %s", experiment.name, getattr(exc, "message", exc))
        return looked

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="modelport-experiment-evaluator", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the database is away, a bug: log, try again next tick
                log.exception("experiment evaluator tick failed")
            self._stop.wait(self.interval_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the look in progress, and hand the lease over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.leases.release(LEASE, self.holder)
        except Exception:  # shutting down with the database away: the lease just expires
            log.debug("could not release the experiment evaluator lease", exc_info=True)
