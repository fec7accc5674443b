"""One serving process's per-minute arm counts, written to ``arm_counters`` in the background.

The data plane tallies plain numbers per request (see ``DataPlane._observe``)
and hands them over every 0.25 s, on the event loop, to :meth:`ArmBook.add`;
a thread writes the minutes that changed every ``flush_interval`` seconds —
never a request — and once more at :meth:`close`.  A write that fails (the
database is away) keeps the counts and tries again on the next round.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

from modelport.endpoints.counters import RETENTION, ArmCounters, ArmCounts, MinuteRow, minute_of

log = logging.getLogger("modelport.counters")

#: minutes kept while the database cannot be written (per endpoint and variant, ~a day): then the oldest go
MAX_PENDING_MINUTES = 100_000
#: how often a process deletes rows older than RETENTION
PRUNE_EVERY_S = 3600.0


def process_id() -> str:
    """``host:pid:token``: unique per serving process, even for a pid reused by a restarted container."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{secrets.token_hex(3)}"


class ArmBook:
    """Per (endpoint, variant, minute) counts of this process; :meth:`flush` upserts the ones that changed."""

    def __init__(
        self,
        store: ArmCounters | None,
        *,
        process: str | None = None,
        flush_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.process = process or process_id()
        self.flush_interval = flush_interval
        self.clock = clock
        # (endpoint, variant, model, experiment, minute since the epoch) → counts
        self._minutes: dict[tuple[str, str, str, str, int], ArmCounts] = {}
        self._dirty: set[tuple[str, str, str, str, int]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._pruned_at = 0.0

    def add(self, endpoint: str, variant: str, counts: ArmCounts, *, model: str = "", experiment: str = "") -> None:
        """Add counts to the current minute (from any thread); ``counts`` is the book's from now on."""
        key = (endpoint, variant, model, experiment, int(self.clock() // 60))
        with self._lock:
            found = self._minutes.get(key)
            if found is None:
                self._minutes[key] = counts
            else:
                found.merge(counts)
            self._dirty.add(key)

    def snapshot(self) -> list[MinuteRow]:
        """Every minute held (copies), oldest first: what the next flushes will write."""
        with self._lock:
            return [self._row(k) for k in sorted(self._minutes, key=lambda k: k[4])]

    def _row(self, key: tuple[str, str, str, str, int]) -> MinuteRow:
        counts = ArmCounts.from_json(self._minutes[key].to_json())  # a copy: the loop keeps adding
        endpoint, variant, model, experiment, minute = key
        return MinuteRow(endpoint, variant, minute_of(minute * 60), counts, model=model, experiment=experiment)

    def flush(self) -> int:
        """Write the minutes that changed since the last flush; rows written.  Raises what the database raises."""
        with self._lock:
            keys = list(self._dirty)
            rows = [self._row(k) for k in keys]
            self._dirty.clear()
        try:
            if self.store is not None and rows:
                self.store.write(self.process, rows)
        except BaseException:
            with self._lock:
                self._dirty.update(k for k in keys if k in self._minutes)
                self._bound()
            raise
        with self._lock:  # minutes that are over and written are done with
            now = int(self.clock() // 60)
            for key in [k for k in self._minutes if k[4] < now and k not in self._dirty]:
                del self._minutes[key]
        return len(rows)

    def _bound(self) -> None:
        if len(self._minutes) > MAX_PENDING_MINUTES:
            for key in sorted(self._minutes, key=lambda k: k[4])[: len(self._minutes) - MAX_PENDING_MINUTES]:
                del self._minutes[key]
                self._dirty.discard(key)
            log.warning("arm counters: the database is unavailable; the oldest minutes were dropped")

    # -- the background writer ------------------------------------------------------

    def start(self) -> None:
        if self._thread is None and self.store is not None:
            self._thread = threading.Thread(target=self._run, name="modelport-arm-counters", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the writer and write what is left (a clean shutdown loses nothing)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self._flush_logged()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self._flush_logged()
            if self.store is not None and time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                try:
                    self.store.prune(datetime.fromtimestamp(self.clock()).astimezone() - RETENTION)
                except Exception as exc:
                    log.warning("arm counters: could not delete old rows: %s", exc)

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # the database is away: keep the counts, say so once
            if not self._failing:
                log.warning("arm counters: cannot write to the database (will retry): %s", exc)
            self._failing = True
        else:
            if self._failing:
                log.info("arm counters: written again")
            self._failing = False
