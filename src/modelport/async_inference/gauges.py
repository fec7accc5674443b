"""Prometheus gauges of the asynchronous inference backlog: what an autoscaler (KEDA) scales on.

Read from the database at scrape time (cached a few seconds), so every worker process of every server
shows the same numbers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric

from modelport.async_inference.queue import Backlog

log = logging.getLogger("modelport.async")


@dataclass(eq=False)  # registries key collectors by identity
class AsyncGauges:
    source: Callable[[], tuple[list[Backlog], dict[str, int]]] | None = None
    """The backlog per endpoint and the live workers by the endpoint they work (``*``: all)."""
    ttl_s: float = 5.0
    _read: tuple[list[Backlog], dict[str, int]] = ([], {})
    _read_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[list[Backlog], dict[str, int]]:
        with self._lock:
            now = time.monotonic()
            if self.source is not None and (self._read_at is None or now - self._read_at >= self.ttl_s):
                try:
                    self._read = self.source()
                except Exception as exc:  # a scrape must not fail: show what was read last
                    log.warning("async gauges: cannot read the backlog: %s", exc)
                self._read_at = now
            return self._read

    def describe(self) -> list[Metric]:
        return list(self._families([], {}))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(*self.snapshot())

    @staticmethod
    def _families(backlogs: list[Backlog], workers: dict[str, int]) -> Iterator[Metric]:
        size = GaugeMetricFamily(
            "modelport_async_backlog",
            "Asynchronous inference requests accepted and not finished (queued or running), per endpoint.",
            labels=["endpoint"],
        )
        queued = GaugeMetricFamily(
            "modelport_async_queued", "Asynchronous inference requests waiting for a worker.", labels=["endpoint"]
        )
        oldest = GaugeMetricFamily(
            "modelport_async_backlog_oldest_age_seconds",
            "Age of the oldest unfinished asynchronous inference request, per endpoint.",
            labels=["endpoint"],
        )
        per_worker = GaugeMetricFamily(
            "modelport_async_backlog_per_worker",
            "Unfinished asynchronous inference requests per live worker process working the endpoint "
            "(KEDA's target metric).",
            labels=["endpoint"],
        )
        live = GaugeMetricFamily(
            "modelport_async_workers",
            "Live asynchronous inference worker processes, by the endpoint they work ('*': every endpoint).",
            labels=["endpoint"],
        )
        for endpoint, count in sorted(workers.items()):
            live.add_metric([endpoint], count)
        everyone = workers.get("*", 0)
        for b in backlogs:
            size.add_metric([b.endpoint], b.size)
            queued.add_metric([b.endpoint], b.queued)
            oldest.add_metric([b.endpoint], b.oldest_age_s)
            per_worker.add_metric([b.endpoint], b.size / max(everyone + workers.get(b.endpoint, 0), 1))
        yield from (size, queued, oldest, per_worker, live)
