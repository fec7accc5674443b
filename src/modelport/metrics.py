"""Prometheus metrics, one registry per app (lifespan state, not module globals).

With several server workers each process writes its samples to a shared
folder (prometheus_client's multiprocess mode) and ``/metrics`` aggregates.

The monitoring gauges (:class:`MonitorGauges`) are not kept that way: a
monitor runs in one worker of one server — or from cron, in no server at
all — and its result must show on the ``/metrics`` of every worker of every
server.  So they come from the database: on a scrape, the latest finished run
of each monitor (read at most every ``ttl_s`` seconds); a run finished in this
process shows at once (:func:`publish_run`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger("modelport.metrics")

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
    def __init__(
        self, multiprocess_dir: Path | None = None, *, monitor_runs: Callable[[], list[RunSnapshot]] | None = None
    ) -> None:
        """``monitor_runs``: the latest finished run of each monitor (from the database), for the monitoring gauges."""
        self.multiprocess_dir = multiprocess_dir
        #: called before samples are read, to add what hot paths tallied (see LatencyTally)
        self.before_collect: list[Callable[[], None]] = []
        self.registry = CollectorRegistry(auto_describe=True)
        self.monitoring = MonitorGauges(monitor_runs)
        self.registry.register(self.monitoring)
        #: collectors that read the database at scrape time (every worker shows the same): registered
        #: with :meth:`add_collector`
        self.collectors: list[Any] = [self.monitoring]
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

    def add_collector(self, collector: Any) -> None:
        self.collectors.append(collector)
        self.registry.register(collector)

    def collect_samples(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Current samples by metric family (summed over workers), for `endpoints show`."""
        self._flush()
        if self.multiprocess_dir is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(self.multiprocess_dir))
            for extra in self.collectors:
                registry.register(extra)
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
            for extra in self.collectors:
                collector.register(extra)
            return generate_latest(collector)
        return generate_latest(self.registry)


# -- monitoring gauges ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunSnapshot:
    """What the gauges show of one monitor run."""

    monitor: str
    endpoint: str
    finished_at: float
    """Seconds since the epoch."""
    drift: tuple[tuple[str, str, str, float], ...] = ()
    """(variant, feature, statistic, value)"""
    quality: tuple[tuple[str, str, float], ...] = ()
    """(variant, metric, value)"""
    violations: tuple[tuple[str, int], ...] = ()
    """(variant, count)"""


_DRIFT_KEYS = ("statistics", "drift", "effect_sizes")
DRIFT_GAUGE_STATISTICS = frozenset({"psi", "js", "wasserstein", "ks", "linf", "cramers_v"})
"""The effect sizes ``modelport_feature_drift`` exports (p-values, raw chi-square and scales would
only multiply the series: they are in the run's report)."""


def run_snapshot(monitor: str, endpoint: str, result: Mapping[str, Any], finished_at: datetime | float) -> RunSnapshot:
    """The gauges' view of a run result.  Read from ``result["variants"][variant]``:

    - ``features``: ``{feature: {"statistics": {name: number}}}`` or a list of
      ``{"name"|"feature"|"feature_name": …, "statistics": {…}}`` (``drift`` or
      ``effect_sizes`` in place of ``statistics`` too) → ``modelport_feature_drift``;
    - ``quality``: a :func:`modelport.monitoring.quality.assess` report (its metrics'
      values and ``coverage``) and ``estimate``: a :func:`~modelport.monitoring.estimate.estimate`
      report (as ``estimated_<metric>``) → ``modelport_model_quality``;
    - ``violations``: a list (or a count) → ``modelport_monitor_violations``; violations
      listed at the top level (``result["violations"]``, each with its ``variant``) count too.
    """
    at = finished_at.timestamp() if isinstance(finished_at, datetime) else float(finished_at)
    drift: list[tuple[str, str, str, float]] = []
    quality: list[tuple[str, str, float]] = []
    violations: dict[str, int] = {}
    variants = result.get("variants") or {}
    if isinstance(variants, list):
        variants = {str(v.get("variant") or v.get("name")): v for v in variants if isinstance(v, Mapping)}
    for variant, section in variants.items():
        if not isinstance(section, Mapping):
            continue
        for feature, stats in _features(section.get("features")):
            for statistic, value in stats.items():
                if statistic in DRIFT_GAUGE_STATISTICS and _finite(value):
                    drift.append((str(variant), feature, str(statistic), float(value)))
        for prefix, report in (("", section.get("quality")), ("estimated_", section.get("estimate"))):
            if not isinstance(report, Mapping):
                continue
            for metric, entry in (report.get("metrics") or {}).items():
                value = entry.get("value") if isinstance(entry, Mapping) else entry
                if _finite(value):
                    quality.append((str(variant), prefix + str(metric), float(value)))
            if not prefix and report.get("predictions") and _finite(report.get("coverage")):
                quality.append((str(variant), "coverage", float(report["coverage"])))
        found = section.get("violations")
        count = len(found) if isinstance(found, list) else found if isinstance(found, int) else 0
        violations[str(variant)] = violations.get(str(variant), 0) + count
    for item in result.get("violations") or ():
        if isinstance(item, Mapping):
            variant = str(item.get("variant") or "")
            violations[variant] = violations.get(variant, 0) + 1
    return RunSnapshot(monitor, endpoint, at, tuple(drift), tuple(quality), tuple(sorted(violations.items())))


def _features(features: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    items: Iterable[tuple[str, Any]]
    if isinstance(features, Mapping):
        items = ((str(k), v) for k, v in features.items())
    elif isinstance(features, list):
        items = (
            (str(f.get("name") or f.get("feature") or f.get("feature_name")), f)
            for f in features
            if isinstance(f, Mapping)
        )
    else:
        return
    for name, entry in items:
        if not isinstance(entry, Mapping):
            continue
        for key in _DRIFT_KEYS:
            stats = entry.get(key)
            if isinstance(stats, Mapping):
                yield name, stats
                break


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(eq=False)  # registries key collectors by identity
class MonitorGauges:
    """A Prometheus collector of the latest run of each monitor (see the module docstring)."""

    source: Callable[[], list[RunSnapshot]] | None = None
    ttl_s: float = 15.0
    clock: Callable[[], float] = time.monotonic
    _from_db: dict[str, RunSnapshot] = field(default_factory=dict)
    _published: dict[str, RunSnapshot] = field(default_factory=dict)
    _read_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, snapshot: RunSnapshot) -> None:
        """Show a run finished in this process now, without waiting for the next database read."""
        with self._lock:
            shown = self._published.get(snapshot.monitor)
            if shown is None or snapshot.finished_at >= shown.finished_at:
                self._published[snapshot.monitor] = snapshot

    def snapshots(self) -> list[RunSnapshot]:
        with self._lock:
            now = self.clock()
            if self.source is not None and (self._read_at is None or now - self._read_at >= self.ttl_s):
                try:
                    self._from_db = {s.monitor: s for s in self.source()}
                except Exception as exc:  # a scrape must not fail: show what was read last
                    log.warning("monitoring gauges: cannot read the latest monitor runs: %s", exc)
                self._read_at = now
            if self.source is None:
                merged = dict(self._published)
            else:
                # the database says which monitors exist (a deleted one disappears); the newer run wins
                merged = {}
                for name, stored in self._from_db.items():
                    mine = self._published.get(name)
                    merged[name] = mine if mine is not None and mine.finished_at > stored.finished_at else stored
            return sorted(merged.values(), key=lambda s: s.monitor)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self.snapshots())

    @staticmethod
    def _families(snapshots: Iterable[RunSnapshot] = ()) -> Iterator[Metric]:
        drift = GaugeMetricFamily(
            "modelport_feature_drift",
            "Drift of a feature in the latest monitor run: the statistic's value (PSI, Jensen-Shannon, ...).",
            labels=["endpoint", "variant", "feature", "statistic"],
        )
        quality = GaugeMetricFamily(
            "modelport_model_quality",
            "Model quality in the latest monitor run, from ground truth (estimated_*: from probabilities only).",
            labels=["endpoint", "variant", "metric"],
        )
        last_run = GaugeMetricFamily(
            "modelport_monitor_last_run_timestamp_seconds",
            "When the latest successful run of a monitor finished.",
            labels=["monitor"],
        )
        violations = GaugeMetricFamily(
            "modelport_monitor_violations", "Violations found by the latest monitor run.", labels=["monitor", "variant"]
        )
        # two monitors may watch one endpoint: one series per label set, the newer run's value
        drift_values: dict[tuple[str, ...], float] = {}
        quality_values: dict[tuple[str, ...], float] = {}
        for snap in sorted(snapshots, key=lambda s: s.finished_at):
            last_run.add_metric([snap.monitor], snap.finished_at)
            for variant, feature, statistic, value in snap.drift:
                drift_values[(snap.endpoint, variant, feature, statistic)] = value
            for variant, metric, value in snap.quality:
                quality_values[(snap.endpoint, variant, metric)] = value
            for variant, count in snap.violations:
                violations.add_metric([snap.monitor, variant], count)
        for labels, value in drift_values.items():
            drift.add_metric(list(labels), value)
        for labels, value in quality_values.items():
            quality.add_metric(list(labels), value)
        yield from (drift, quality, last_run, violations)


def publish_run(
    metrics: Metrics,
    monitor: str,
    endpoint: str,
    result_json: Mapping[str, Any],
    finished_at: datetime | float | None = None,
) -> RunSnapshot:
    """Set the monitoring gauges of this process from a finished run (other processes read it from the database)."""
    snapshot = run_snapshot(monitor, endpoint, result_json, time.time() if finished_at is None else finished_at)
    metrics.monitoring.publish(snapshot)
    return snapshot
