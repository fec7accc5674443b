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
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from modelport.db.leases import LeasedLoop
from modelport.experiments.experiment import Experiment

if TYPE_CHECKING:
    from modelport.experiments.service import ExperimentService

log = logging.getLogger("modelport.experiments")

LEASE = "experiment-evaluator"


class ExperimentEvaluator(LeasedLoop[Experiment]):
    def __init__(
        self,
        service: ExperimentService,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
        interval_s: float = 5.0,
        ttl_s: float | None = None,
    ) -> None:
        super().__init__(
            service.store.db,
            LEASE,
            holder=holder,
            clock=clock or service.clock,
            interval_s=interval_s,
            ttl_s=ttl_s if ttl_s is not None else max(30.0, 6 * interval_s),
        )
        self.service = service

    def work(self) -> list[Experiment]:
        """Every running experiment, one look each.  Returns them after the look."""
        looked: list[Experiment] = []
        for experiment in self.service.store.list(status="running"):
            if self.stopping or not self.holds_lease():
                break
            try:
                looked.append(self.service.evaluate(experiment.name))
            except Exception as exc:  # recorded on the experiment by the service; the others still get their look
                log.warning("experiment %s: the look failed: %s", experiment.name, getattr(exc, "message", exc))
        return looked
