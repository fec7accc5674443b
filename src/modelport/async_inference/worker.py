"""The worker that runs queued asynchronous inferences, in every server process (docs/async.md).

On PostgreSQL every server process works the queue (claims use ``FOR UPDATE
SKIP LOCKED``, so they never contend); on SQLite one process across all the
servers sharing the database does (the ``async-inference`` lease), since
SQLite has one writer at a time anyway.  Either way a request is held by one
worker at a time through its row's lease (:mod:`modelport.async_inference.queue`).
"""

from __future__ import annotations

import logging

from modelport.async_inference.queue import WORKER_LEASE_PREFIX
from modelport.async_inference.service import AsyncInferenceService
from modelport.db.leases import LeasedLoop

log = logging.getLogger("modelport.async")


class AsyncWorker(LeasedLoop[str]):
    def __init__(self, service: AsyncInferenceService, *, holder: str | None = None) -> None:
        settings = service.settings
        super().__init__(
            service.services.db,
            "async-inference",
            holder=holder,
            interval_s=settings.async_poll_s,
            ttl_s=settings.async_lease_s,
        )
        self.service = service
        self.shared = not service.services.db.is_sqlite

    def holds_lease(self) -> bool:
        # every worker keeps a lease of its own: the /metrics gauges count the live ones
        self.leases.acquire(f"{WORKER_LEASE_PREFIX}{self.holder}", self.holder, self.ttl_s, self.clock())
        if self.shared:
            return True
        return super().holds_lease()

    def work(self) -> list[str]:
        """Claim and run requests until the queue has nothing due (or the worker stops)."""
        done: list[str] = []
        queue = self.service.queue
        while not self.stopping:
            item = queue.claim(self.holder, self.service.settings.async_lease_s)
            if item is None:
                break
            log.info("async %s: attempt %d on endpoint %s", item.id, item.attempts, item.endpoint)
            try:
                ended = self.service.process(item, self.holder, keepalive=self.holds_lease)
            except Exception:  # a bug: the row's lease runs out and it is retried, then dead-lettered
                log.exception("async %s: processing failed", item.id)
                continue
            if ended is not None:
                log.info("async %s: %s", item.id, ended.status)
            done.append(item.id)
            if not self.holds_lease():
                break
        return done

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        try:
            self.leases.release(f"{WORKER_LEASE_PREFIX}{self.holder}", self.holder)
        except Exception:  # shutting down with the database away: the lease just expires
            log.debug("could not release the async worker lease", exc_info=True)
