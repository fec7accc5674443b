"""Prometheus metrics, one registry per app (lifespan state, not module globals).

With several server workers each process writes its samples to a shared
folder (prometheus_client's multiprocess mode) and ``/metrics`` aggregates.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))


class LatencyTally:
    """Observations of one histogram child kept as plain numbers, added to it in bulk.

    ``observe`` is a bisect and two additions — the data plane calls it on
    every request, where prometheus_client's ``Histogram.observe`` (a lock and
    a loop over the buckets per call) cost several microseconds.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(_BOUNDS)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(_BOUNDS, seconds)] += 1  # first bucket whose bound is >= seconds: Prometheus' "le"
        self.total += seconds

    def drain_into(self, child: Any) -> None:
        """Add the observations to a ``Histogram`` child (its per-bucket values) and start over."""
        counts, total = self.counts, self.total
        self.counts, self.total = [0] * len(_BOUNDS), 0.0
        if not any(counts):
            return
        child._sum.inc(total)
        for bucket, n in zip(child._buckets, counts, strict=True):
            if n:
                bucket.inc(n)


class Metrics:
    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        #: called before samples are read, to add what hot paths tallied (see LatencyTally)
        self.before_collect: list[Callable[[], None]] = []
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

        ev = ["endpoint", "variant"]
        self.invocations = Counter(
            "modelport_invocations_total", "Endpoint invocations, by variant and outcome code.", [*ev, "code"],
            registry=self.registry,
        )
        self.invocation_latency = Histogram(
            "modelport_invocation_duration_seconds", "Invocation time inside the data plane (decode, model, encode).",
            ev, buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.model_latency = Histogram(
            "modelport_model_duration_seconds", "Time spent in the model's predict.", ev,
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.rows = Counter("modelport_rows_total", "Rows scored.", ev, registry=self.registry)
        self.payload_bytes = Counter(
            "modelport_payload_bytes_total", "Request and response body bytes.", ["endpoint", "direction"],
            registry=self.registry,
        )
        self.shadow_rows = Counter(
            "modelport_shadow_rows_total", "Rows a shadow variant scored next to the live one.", ev, registry=self.registry
        )
        self.shadow_label_matches = Counter(
            "modelport_shadow_label_matches_total", "Shadow rows whose label equals the live label.", ev,
            registry=self.registry,
        )
        self.shadow_abs_diff = Counter(
            "modelport_shadow_abs_diff_total", "Sum over rows of the mean |shadow - live| of numeric outputs.", ev,
            registry=self.registry,
        )
        self.shadow_failures = Counter(
            "modelport_shadow_failures_total", "Shadow calls that failed or were dropped.", ev, registry=self.registry
        )
        self.capture_records = Counter(
            "modelport_capture_records_total", "Data-capture records, written or dropped.", [*ev, "result"],
            registry=self.registry,
        )

    def collect_samples(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Current samples by metric family (summed over workers), for `endpoints show`."""
        self._flush()
        if self.multiprocess_dir is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(self.multiprocess_dir))
        else:
            registry = self.registry
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in registry.collect():
            for sample in family.samples:
                out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
        return out

    def _flush(self) -> None:
        for flush in self.before_collect:
            flush()

    def render(self) -> bytes:
        self._flush()
        if self.multiprocess_dir is not None:
            collector = CollectorRegistry()
            multiprocess.MultiProcessCollector(collector, path=str(self.multiprocess_dir))
            return generate_latest(collector)
        return generate_latest(self.registry)
