"""Prometheus metrics, one registry per app (lifespan state, not module globals).

With several server workers each process writes its samples to a shared
folder (prometheus_client's multiprocess mode) and ``/metrics`` aggregates.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "modelport_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "modelport_http_request_duration_seconds",
            "Time from request start to the end of the response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        if self.multiprocess_dir is not None:
            collector = CollectorRegistry()
            multiprocess.MultiProcessCollector(collector, path=str(self.multiprocess_dir))
            return generate_latest(collector)
        return generate_latest(self.registry)
