"""Per-arm counters: what each variant of an endpoint did, per minute, summed over every serving process.

Every serving process tallies, per (endpoint, variant, minute), the requests
it answered and how they ended, a latency histogram and — for a shadow — how
its answers compared with the live ones (:mod:`modelport.serving.arms`), and
upserts one ``arm_counters`` row per (endpoint, variant, minute) of its own
(``process`` = host:pid:token) every few seconds.  :class:`ArmCounters`
reads the rows of a window and sums them: the figures of an experiment's arms
(error rate, latency) and the shadow comparison report
(:mod:`modelport.endpoints.shadow_report`) come from here, not from one
server's Prometheus registry.

Rows hold the counts as JSON (``counters``), written whole for the minute
(an upsert is idempotent: a flush that failed is simply done again).
Histograms are sparse ``{bucket index: count}`` over fixed bucket edges
(:data:`LATENCY_BUCKETS_MS`, :data:`ABS_DIFF_BUCKETS`); ``"v"`` names the
layout, and rows of another layout are skipped.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from modelport.db.database import Database
from modelport.db.tables import arm_counters_table, utcnow

log = logging.getLogger("modelport.counters")

#: the layout of ``arm_counters.counters`` written by this code (2: latency on the 2^(k/8) ms edges)
LAYOUT = 2

BUCKETS_PER_DOUBLING = 8
#: Latency histogram bucket edges in milliseconds, inclusive upper bounds (Prometheus native
#: histograms' schema 3: eight per doubling, each ~9% wider than the last): 2^(k/8) ms for
#: k = -24 … 136, 0.125 ms to 131 s; bucket i counts latencies in (edge i-1, edge i], bucket
#: len(edges) longer ones.  The data plane counts on them and the experiments' statistics read them
#: (``experiments.latency``).  Fixed: rows written on other edges would not add up (change LAYOUT).
LATENCY_BUCKETS_MS: tuple[float, ...] = tuple(2.0 ** (k / BUCKETS_PER_DOUBLING) for k in range(-24, 137))

#: |shadow - live| histogram bucket edges: 5 per decade from 1e-9 (identical, to float noise) to 1e6
ABS_DIFF_BUCKETS: tuple[float, ...] = tuple(round(10 ** (k / 5), 15) for k in range(-45, 31))

#: error codes that are the variant's own failure (a broken model, a timeout, a crash); every other
#: error is the caller's mistake (a bad body, an unacceptable Accept) and would fail on any variant
FAILURE_CODES = frozenset({"MODEL_ERROR", "DEADLINE_EXCEEDED", "INTERNAL", "UNAVAILABLE"})


def bucket(edges: Sequence[float], value: float) -> int:
    """The histogram bucket of ``value``: the first edge >= value (len(edges) past the last)."""
    return bisect.bisect_left(edges, value)


def add_histogram(into: dict[int, int], other: Mapping[Any, int]) -> None:
    for i, n in other.items():
        k = int(i)
        into[k] = into.get(k, 0) + int(n)


def quantile(hist: Mapping[int, int], edges: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of a histogram, interpolated (log-linearly) inside its bucket; None when empty.

    Past the last edge the last edge is returned (a lower bound).
    """
    total = sum(hist.values())
    if total <= 0:
        return None
    target = q * total
    seen = 0
    for i in sorted(hist):
        n = hist[i]
        if n <= 0:
            continue
        if seen + n >= target:
            if i >= len(edges):
                return edges[-1]
            hi = edges[i]
            lo = edges[i - 1] if i > 0 else hi / (edges[1] / edges[0])
            frac = (target - seen) / n
            if lo <= 0:
                return lo + (hi - lo) * frac
            return float(lo * (hi / lo) ** frac)
        seen += n
    return edges[min(max(hist), len(edges) - 1)]


def latency_counts(hist: Mapping[int, int]) -> list[int]:
    """Counts per bucket of :data:`LATENCY_BUCKETS_MS` (len(edges) + 1: the last is "longer")."""
    return _dense(hist, len(LATENCY_BUCKETS_MS) + 1)


def _dense(hist: Mapping[int, int], size: int) -> list[int]:
    out = [0] * size
    for i, n in hist.items():
        out[min(i, size - 1)] += n
    return out


@dataclass
class ShadowCounts:
    """A shadow variant next to the live one, on the same requests (the pairs)."""

    pairs: int = 0
    """Mirrored requests that came back (the shadow answered or failed)."""
    dropped: int = 0
    """Copies not sent: the shadow had too many calls in flight."""
    shadow_failures: int = 0
    """Pairs where the shadow failed (any error: it could not answer what the live variant was asked)."""
    live_failures: int = 0
    """Pairs where the live variant failed by its own fault (a model error, a timeout)."""
    both_failures: int = 0
    rows: int = 0
    """Rows both answered (compared)."""
    labelled: int = 0
    """Compared rows with a ``label`` output on both sides."""
    agreements: int = 0
    """Of ``labelled``, rows whose labels are equal."""
    diffed: int = 0
    """Compared rows with numeric outputs on both sides."""
    abs_diff_sum: float = 0.0
    abs_diff_sq: float = 0.0
    abs_diff: dict[int, int] = field(default_factory=dict)
    """Histogram over :data:`ABS_DIFF_BUCKETS` of each row's mean |shadow - live| over numeric outputs."""
    latency_pairs: int = 0
    """Pairs both answered, timed: decode and predict, each on its own variant."""
    latency: dict[int, int] = field(default_factory=dict)
    """The shadow's latency histogram (ms, :data:`LATENCY_BUCKETS_MS`) on the timed pairs."""
    live_latency: dict[int, int] = field(default_factory=dict)
    """The live variant's latency histogram on the same pairs."""
    delta_sum_ms: float = 0.0
    """Sum over timed pairs of shadow - live latency (ms)."""
    delta_sq_ms: float = 0.0

    def merge(self, other: ShadowCounts) -> None:
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, dict):
                add_histogram(mine, getattr(other, f.name))
            else:
                setattr(self, f.name, mine + getattr(other, f.name))

    @property
    def empty(self) -> bool:
        return not (self.pairs or self.dropped)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                value = {str(k): n for k, n in value.items() if n}
            if value:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShadowCounts:
        out = cls()
        for f in fields(out):
            value = data.get(f.name)
            if value is None:
                continue
            if isinstance(getattr(out, f.name), dict):
                add_histogram(getattr(out, f.name), value)
            else:
                setattr(out, f.name, value)
        return out


@dataclass
class ArmCounts:
    """What one variant of an endpoint did (in a minute, or summed over a window).

    ``requests`` counts every request routed to the variant, however it
    ended; ``errors`` those that did not succeed, of which ``failures`` are
    the variant's own fault (:data:`FAILURE_CODES`) and the rest the caller's
    mistakes.  ``unit_requests`` carried the endpoint's unit header (assigned
    by the unit's hash), ``forced_requests`` named their variant (target
    variant header, v2 version): neither follows a random draw, and
    ``forced_requests`` do not follow the weights at all (leave them out of a
    sample-ratio check).  The latency histogram covers successful requests:
    the data plane's time from the request's arrival to its reply.
    """

    requests: int = 0
    errors: int = 0
    failures: int = 0
    unit_requests: int = 0
    forced_requests: int = 0
    rows: int = 0
    latency_sum_ms: float = 0.0
    latency: dict[int, int] = field(default_factory=dict)
    """Histogram over :data:`LATENCY_BUCKETS_MS` of successful requests."""
    shadow: ShadowCounts = field(default_factory=ShadowCounts)
    """For a shadow variant: how it compared with the live one (empty for a live variant)."""

    @property
    def ok(self) -> int:
        return self.requests - self.errors

    @property
    def weighted_requests(self) -> int:
        """Requests assigned by a random draw on the weights (neither a unit's hash nor forced)."""
        return self.requests - self.unit_requests - self.forced_requests

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def latency_mean_ms(self) -> float | None:
        return self.latency_sum_ms / self.ok if self.ok > 0 else None

    def latency_quantile_ms(self, q: float) -> float | None:
        return quantile(self.latency, LATENCY_BUCKETS_MS, q)

    def latency_histogram(self) -> list[int]:
        """Counts per bucket of :data:`LATENCY_BUCKETS_MS` (len(edges) + 1: the last is "longer")."""
        return latency_counts(self.latency)

    def merge(self, other: ArmCounts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.failures += other.failures
        self.unit_requests += other.unit_requests
        self.forced_requests += other.forced_requests
        self.rows += other.rows
        self.latency_sum_ms += other.latency_sum_ms
        add_histogram(self.latency, other.latency)
        self.shadow.merge(other.shadow)

    def to_json(self) -> dict[str, Any]:
        """The row's ``counters``: only what is not zero."""
        out: dict[str, Any] = {"v": LAYOUT}
        for name in ("requests", "errors", "failures", "unit_requests", "forced_requests", "rows", "latency_sum_ms"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.latency:
            out["latency"] = {str(k): n for k, n in self.latency.items() if n}
        if not self.shadow.empty:
            out["shadow"] = self.shadow.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArmCounts:
        out = cls(
            requests=int(data.get("requests", 0)),
            errors=int(data.get("errors", 0)),
            failures=int(data.get("failures", 0)),
            unit_requests=int(data.get("unit_requests", 0)),
            forced_requests=int(data.get("forced_requests", 0)),
            rows=int(data.get("rows", 0)),
            latency_sum_ms=float(data.get("latency_sum_ms", 0.0)),
        )
        add_histogram(out.latency, data.get("latency") or {})
        if data.get("shadow"):
            out.shadow = ShadowCounts.from_json(data["shadow"])
        return out

    def to_dict(self) -> dict[str, Any]:
        """For JSON answers: the counts, rates and latency quantiles (histograms dense)."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "failures": self.failures,
            "unit_requests": self.unit_requests,
            "forced_requests": self.forced_requests,
            "rows": self.rows,
            "failure_rate": self.failure_rate,
            "latency_mean_ms": self.latency_mean_ms,
            "latency_p50_ms": self.latency_quantile_ms(0.5),
            "latency_p99_ms": self.latency_quantile_ms(0.99),
            "latency_hist": self.latency_histogram(),
        }


@dataclass(frozen=True)
class MinuteRow:
    """One process's counts of one variant (serving ``model``, under ``experiment``) in one minute, as written."""

    endpoint: str
    variant: str
    minute: datetime
    counts: ArmCounts
    model: str = ""
    experiment: str = ""


def minute_of(seconds: float) -> datetime:
    """The minute (UTC, seconds zeroed) a ``time.time()`` falls in."""
    return datetime.fromtimestamp(int(seconds // 60) * 60, UTC)


class ArmCounters:
    """The ``arm_counters`` table: processes upsert their minutes, readers sum a window."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _upsert(self) -> Any:
        if self.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        stmt = insert(arm_counters_table)
        return stmt.on_conflict_do_update(
            index_elements=["endpoint", "variant", "minute", "model", "experiment", "process"],
            set_={"counters": stmt.excluded.counters, "updated_at": stmt.excluded.updated_at},
        )

    def write(self, process: str, rows: Iterable[MinuteRow]) -> int:
        """Upsert ``process``'s rows (each the minute's whole counts so far); the number written."""
        now = utcnow()
        values = [
            {
                "endpoint": r.endpoint,
                "variant": r.variant,
                "model": r.model,
                "experiment": r.experiment,
                "minute": r.minute,
                "process": process,
                "counters": r.counts.to_json(),
                "updated_at": now,
            }
            for r in rows
        ]
        if values:
            with self.db.write() as conn:
                conn.execute(self._upsert(), values)
        return len(values)

    def totals(
        self,
        endpoint: str,
        variants: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        experiment: str | None = None,
        model: str | None = None,
    ) -> dict[str, ArmCounts]:
        """Each variant's counts summed over every process, for the minutes that start in [since, until).

        Minute granularity: ``since`` is taken down to its minute (12:00:30
        includes the 12:00 minute).  ``experiment``: only what was counted
        while the endpoint's routing named that experiment (``""``: while it
        named none) — exact, whatever the minute; ``model``: only what the
        variant counted while serving that version (``name:N``).  Variants
        with no row are absent.
        """
        c = arm_counters_table.c
        query = sa.select(c.variant, c.counters).where(c.endpoint == endpoint)
        if variants is not None:
            query = query.where(c.variant.in_(list(variants)))
        if experiment is not None:
            query = query.where(c.experiment == experiment)
        if model is not None:
            query = query.where(c.model == model)
        if since is not None:
            query = query.where(c.minute >= since.replace(second=0, microsecond=0))
        if until is not None:
            query = query.where(c.minute < until)
        out: dict[str, ArmCounts] = {}
        skipped = 0
        with self.db.read() as conn:
            for variant, counters in conn.execute(query):
                if not isinstance(counters, Mapping) or counters.get("v") != LAYOUT:
                    skipped += 1
                    continue
                found = out.get(variant)
                if found is None:
                    found = out[variant] = ArmCounts()
                found.merge(ArmCounts.from_json(counters))
        if skipped:
            log.warning("arm counters of %s: %d rows of another layout skipped", endpoint, skipped)
        return out

    def prune(self, before: datetime) -> int:
        """Delete the rows of minutes before ``before``; the number deleted."""
        with self.db.write() as conn:
            result = conn.execute(sa.delete(arm_counters_table).where(arm_counters_table.c.minute < before))
            return int(result.rowcount or 0)


#: how long rows are kept (serving processes prune older minutes now and then)
RETENTION = timedelta(days=90)
