"""The worker that runs queued asynchronous inferences, in every server process (docs/async.md).

On PostgreSQL every server process works the queue (claims use ``FOR UPDATE
SKIP LOCKED``, so they never contend); on SQLite one process across all the
servers sharing the database does (the ``async-inference`` lease), since
SQLite has one writer at a time anyway.  Either way a request is held by one
worker at a time through its row's lease (:mod:`modelport.async_inference.queue`).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from modelport.async_inference.queue import worker_lease
from modelport.async_inference.service import AsyncInferenceService
from modelport.db.leases import LeasedLoop

log = logging.getLogger("modelport.async")


class AsyncWorker(LeasedLoop[str]):
    """``endpoint``: work that endpoint's requests only (``modelport serve NAME``: what a cluster scales)."""

    def __init__(
        self, service: AsyncInferenceService, *, holder: str | None = None, endpoint: str | None = None
    ) -> None:
        settings = service.settings
        name = "async-inference" if endpoint is None else f"async-inference/{_short(endpoint)}"
        super().__init__(
            service.services.db, name, holder=holder, interval_s=settings.async_poll_s, ttl_s=settings.async_lease_s
        )
        self.service = service
        self.endpoint = endpoint
        self.shared = not service.services.db.is_sqlite
        self.registration = worker_lease(self.holder, endpoint)
        self._registered: datetime | None = None
        self._held_at: datetime | None = None

    def holds_lease(self) -> bool:
        # every worker keeps a lease of its own: the /metrics gauges count the live ones (renewed every third
        # of its life, not on every poll: a write each second from every process would crowd SQLite)
        now = self.clock()
        if self._registered is None or (now - self._registered).total_seconds() > self.ttl_s / 3:
            self.leases.acquire(*self.registration, self.ttl_s, now)
            self._registered = now
        if self.shared:
            return True
        # SQLite: one worker at a time.  Look before taking the write lock: another holder's live lease
        # is a read away, and this worker's own is renewed every third of its life, not on every poll.
        current = self.leases.holder(self.name, now)
        if current is not None and current != self.holder:
            return False
        fresh = self._held_at is not None and (now - self._held_at).total_seconds() < self.ttl_s / 3
        if current == self.holder and fresh:
            return True
        held = super().holds_lease()
        self._held_at = now if held else None
        return held

    def work(self) -> list[str]:
        """Claim and run requests until the queue has nothing due (or the worker stops)."""
        done: list[str] = []
        queue = self.service.queue
        while not self.stopping:
            item = queue.claim(self.holder, self.service.settings.async_lease_s, endpoint=self.endpoint)
            if item is None:
                break
            log.info("async %s: attempt %d on endpoint %s", item.id, item.attempts, item.endpoint)
            try:
                ended = self.service.process(
                    item, self.holder, keepalive=self.holds_lease, abandon=lambda: self.stopping
                )
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
            self.leases.release(*self.registration)
        except Exception:  # shutting down with the database away: the lease just expires
            log.debug("could not release the async worker lease", exc_info=True)


def _short(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()[:24]
