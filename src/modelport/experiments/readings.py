"""What each arm of an experiment measured so far: the evaluator's input, gathered from three places.

- **captured replies** (``output:…`` metrics, and which arm served which
  inference id for feedback metrics): the endpoint's capture files, folder per
  variant, decoded once into predictions tables by monitoring's own reader
  (:func:`modelport.monitoring.capture.fold_predictions`, stored in
  ``capture_folds`` like a monitor's folds: a file is read once, whoever reads
  it first);
- **feedback** (``accuracy``, ``error``, ``reward``): labels joined with those
  predictions by inference id (:func:`modelport.monitoring.quality.join`);
  only labels received before the look (before the experiment ended, for the
  last one) count;
- **the data plane's counters** (``error_rate``, ``latency``, ``latency_pNN``
  and the requests per arm that the sample-ratio check counts): the per-minute
  counters every serving process keeps per variant.

A shadow experiment reads everything from the shadow's comparison counters
(:class:`~modelport.endpoints.counters.ShadowCounts`): the control's and the
shadow's failures, latencies, label agreement and |Δ| on the same requests.

Proportions and means become :class:`ArmStats` (n, sum, sum of squares);
latency percentiles stay histograms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelport.experiments.metrics import Metric
from modelport.experiments.stats import ArmStats

if TYPE_CHECKING:
    import pandas as pd

    from modelport.endpoints.config import Endpoint
    from modelport.monitoring.feedback import FeedbackStore
    from modelport.monitoring.store import MonitorStore
    from modelport.registry.service import Registry
    from modelport.store import ArtifactStore

#: ``counters(endpoint, variants, since, until, experiment=…)`` → per variant its summed
#: :class:`~modelport.endpoints.counters.ArmCounts` (:meth:`ArmCounters.totals`)
Counters = Callable[..., Mapping[str, Any]]


@dataclass
class ArmValues:
    """One metric, on each arm."""

    metric: Metric
    kind: str
    """proportion | mean | quantile (a metric of kind ``auto`` resolved by the data)."""
    stats: dict[str, ArmStats] = field(default_factory=dict)
    histograms: dict[str, list[int]] = field(default_factory=dict)
    """Latency counts on the data plane's buckets (quantile metrics)."""


@dataclass
class Readings:
    values: dict[str, ArmValues]
    """Metric name → its values on each arm."""
    requests: dict[str, int]
    """Requests each arm served in the whole minutes since the start (the sample-ratio check's counts);
    empty when the data plane's counters are not available."""
    notes: list[str] = field(default_factory=list)
    shadow: dict[str, Any] | None = None
    """A shadow experiment: the shadow comparison report of its window (``ShadowReport`` as JSON)."""


class ArmReader:
    def __init__(
        self,
        registry: Registry,
        artifacts: ArtifactStore,
        monitor_store: MonitorStore,
        feedback: FeedbackStore,
        counters: Counters | None = None,
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.monitor_store = monitor_store
        self.feedback = feedback
        self.counters = counters

    def read(
        self,
        endpoint: Endpoint,
        arms: Sequence[str],
        metrics: Sequence[Metric],
        since: datetime,
        until: datetime,
        *,
        experiment: str | None = None,
        shadow: bool = False,
    ) -> Readings:
        """The arms' values of ``metrics`` for what they served in ``[since, until)``; ``experiment``: the
        data plane's counters only while the endpoint's routing named it (exact, whatever the minute);
        ``shadow``: the second arm is a shadow of the first (every value from its comparison counters)."""
        if shadow:
            return self._shadow(endpoint, arms, metrics, since, until, experiment)
        values: dict[str, ArmValues] = {}
        notes: list[str] = []
        predictions: dict[str, pd.DataFrame] | None = None
        if any(m.needs_capture for m in metrics):
            predictions = {arm: self.predictions(endpoint, arm, since, until) for arm in arms}
        labels = None
        if any(m.source == "feedback" for m in metrics):
            labels = self._labels(endpoint.name, since, until)
        totals = None
        if self.counters is not None:
            totals = self.counters(endpoint.name, arms, since, until, experiment=experiment)
        for metric in metrics:
            if metric.name in values:
                continue
            if metric.source == "dataplane":
                if totals is None:
                    notes.append(f"{metric.name}: the data plane's counters are not available")
                    values[metric.name] = ArmValues(metric, _fixed_kind(metric))
                else:
                    values[metric.name] = _dataplane(metric, totals, arms)
            elif metric.source == "capture":
                assert predictions is not None
                values[metric.name] = _output(metric, predictions)
            else:
                assert predictions is not None and labels is not None
                values[metric.name] = self._from_feedback(metric, endpoint, predictions, labels)
        # the sample-ratio check counts requests routed by a random draw on the weights (not by a unit's
        # hash, nor named by the caller)
        requests = (
            {} if totals is None else {arm: totals[arm].weighted_requests if arm in totals else 0 for arm in arms}
        )
        return Readings(values=values, requests=requests, notes=notes)

    def _shadow(
        self,
        endpoint: Endpoint,
        arms: Sequence[str],
        metrics: Sequence[Metric],
        since: datetime,
        until: datetime,
        experiment: str | None,
    ) -> Readings:
        from modelport.endpoints.counters import ShadowCounts
        from modelport.endpoints.shadow_report import build_shadow_report

        control, treatment = arms
        if self.counters is None:
            notes = ["the data plane's counters are not available"]
            return Readings({m.name: ArmValues(m, _fixed_kind(m)) for m in metrics}, {}, notes)
        found = self.counters(endpoint.name, [treatment], since, until, experiment=experiment).get(treatment)
        counts = found.shadow if found is not None else ShadowCounts()
        values = {m.name: shadow_values(m, counts, control, treatment) for m in metrics}
        model = endpoint.config.variant(treatment).model
        report = build_shadow_report(treatment, model, counts, since=since, until=until)
        return Readings(values, {}, [], report.model_dump(mode="json"))

    # -- captured replies ----------------------------------------------------------------

    def predictions(self, endpoint: Endpoint, arm: str, since: datetime, until: datetime) -> pd.DataFrame:
        """The arm's captured predictions made in ``[since, until)`` (monitoring's predictions table)."""
        from modelport.monitoring.capture import (
            PREDICTIONS_ONLY,
            CaptureLocation,
            capture_root,
            floor_hour,
            fold_predictions,
        )
        from modelport.monitoring.predictions import read_predictions
        from modelport.signature import Signature

        location = CaptureLocation(
            capture_root(endpoint.config.capture.destination, self.artifacts.root), self.artifacts.s3_endpoint_url
        )
        files = location.files(endpoint.name, arm, since, until)
        known = self.monitor_store.folded_paths(
            endpoint.name, arm, None, floor_hour(since), floor_hour(until) + timedelta(hours=1)
        )
        new = [f for f in files if f.url not in known]
        if new:
            signature = Signature.from_dict(self.registry.get_version(endpoint.config.variant(arm).model).signature)
            self.monitor_store.save_folds(
                endpoint.name, arm, PREDICTIONS_ONLY, list(fold_predictions(new, location, signature))
            )
        frame = read_predictions(self.monitor_store.predictions(endpoint.name, arm, since, until)).to_pandas()
        if len(frame):
            # capture times are whole seconds: the start's own second counts
            inside = (frame["time"] >= since.replace(microsecond=0)) & (frame["time"] < until)
            frame = frame[inside.to_numpy()].reset_index(drop=True)
        return frame

    # -- feedback --------------------------------------------------------------------------

    def _labels(self, endpoint: str, since: datetime, until: datetime) -> pd.DataFrame:
        """Labels that can belong to predictions made since the start, received before ``until``: a label
        sent after an experiment ended never reaches its result (its last look was at the end)."""
        import pandas as pd

        frame = self.feedback.window(endpoint, since, until)
        if len(frame):
            frame = frame[(frame["received_at"] < pd.Timestamp(until)).to_numpy()].reset_index(drop=True)
        return frame

    def _from_feedback(
        self, metric: Metric, endpoint: Endpoint, predictions: Mapping[str, pd.DataFrame], labels: pd.DataFrame
    ) -> ArmValues:
        import numpy as np

        from modelport.monitoring.quality import ClassIndex, classification_rows, join, regression_rows

        out = ArmValues(metric, "proportion" if metric.kind == "auto" else metric.kind)
        if metric.name == "reward":
            rewards = {arm: _rewards(frame, labels) for arm, frame in predictions.items()}
            binary = all(bool(np.isin(r, (0.0, 1.0)).all()) for r in rewards.values())
            out.kind = "proportion" if binary else "mean"
            out.stats = {arm: _stats(r) for arm, r in rewards.items()}
            return out
        for arm, frame in predictions.items():
            signature = self.registry.get_version(endpoint.config.variant(arm).model).signature
            classes = signature.get("classes")
            joined, _ = join(frame, labels)
            regression = not classes and not (len(joined) and joined["label"].notna().any())
            if regression and len(joined) and joined["prediction"].notna().any():
                if metric.name == "accuracy":
                    from modelport.errors import FailedPrecondition

                    raise FailedPrecondition(
                        f"variant {arm!r} serves a regression model: accuracy needs classes (use error)"
                    )
                truth, predicted, _ = regression_rows(joined)
                out.kind = "mean"
                out.stats[arm] = _stats(np.abs(predicted - truth))
                continue
            rows = classification_rows(joined, ClassIndex(classes))
            right = np.asarray([t == p for t, p in zip(rows["truth"], rows["predicted"], strict=True)], dtype=float)
            out.stats[arm] = _stats(right if metric.name == "accuracy" else 1.0 - right)
        return out


def _fixed_kind(metric: Metric) -> str:
    return "proportion" if metric.kind == "auto" else metric.kind


def _dataplane(metric: Metric, totals: Mapping[str, Any], arms: Sequence[str]) -> ArmValues:
    """An arm's error rate (its own failures: model errors, timeouts, crashes — a caller's mistake would fail
    on any variant), mean latency or latency histogram."""
    from modelport.endpoints.counters import ArmCounts

    out = ArmValues(metric, _fixed_kind(metric))
    for arm in arms:
        counts = totals.get(arm) or ArmCounts()
        if metric.name == "error_rate":
            out.stats[arm] = ArmStats.proportion(min(counts.failures, counts.requests), counts.requests)
        elif metric.kind == "quantile":
            out.histograms[arm] = latency_histogram(counts)
        else:
            out.stats[arm] = _latency_stats(counts)
    return out


def shadow_values(metric: Metric, counts: Any, control: str, treatment: str) -> ArmValues:
    """A metric on the pairs a shadow answered next to the live variant (``counts``: its ShadowCounts).

    Failures: the live variant's own and the shadow's, over the same pairs; latency: both histograms
    of the timed pairs (means from the buckets' middles); agreement and |Δ|: the live variant agrees
    with itself (1, and 0 apart), so a guardrail on them bounds how far the shadow strays.
    """
    from modelport.endpoints.counters import latency_counts

    out = ArmValues(metric, _fixed_kind(metric))
    if metric.name == "error_rate":
        out.stats[control] = ArmStats.proportion(counts.live_failures, counts.pairs)
        out.stats[treatment] = ArmStats.proportion(counts.shadow_failures, counts.pairs)
    elif metric.name == "agreement":
        out.stats[control] = ArmStats.proportion(counts.labelled, counts.labelled)
        out.stats[treatment] = ArmStats.proportion(counts.agreements, counts.labelled)
    elif metric.name == "abs_diff":
        out.stats[control] = ArmStats(counts.diffed, 0.0, 0.0)
        out.stats[treatment] = ArmStats(counts.diffed, counts.abs_diff_sum, counts.abs_diff_sq)
    else:  # latency, latency_pNN
        for arm, hist in ((control, counts.live_latency), (treatment, counts.latency)):
            dense = latency_counts(hist)
            if metric.kind == "quantile":
                out.histograms[arm] = dense
            else:
                out.stats[arm] = _histogram_stats(dense, None)
    return out


def latency_histogram(counts: Any) -> list[int]:
    """The arm's successful requests' latencies, dense, on the edges the data plane counts on
    (``endpoints.counters.LATENCY_BUCKETS_MS``, which the statistics read too)."""
    return [int(c) for c in counts.latency_histogram()]


def _latency_stats(counts: Any) -> ArmStats:
    """Mean latency (ms) of the arm's successful requests: the exact sum, the squares from the histogram."""
    return _histogram_stats(counts.latency_histogram(), float(counts.latency_sum_ms))


def _histogram_stats(histogram: Sequence[int], total: float | None) -> ArmStats:
    """n, sum and sum of squares of latencies counted on the data plane's buckets: each count at its
    bucket's geometric middle (within half a bucket); ``total``: the exact sum, when it was kept."""
    from modelport.endpoints.counters import LATENCY_BUCKETS_MS as EDGES

    n, middles, squares = 0, 0.0, 0.0
    lower = EDGES[0] / (EDGES[1] / EDGES[0])
    for index, count in enumerate(histogram):
        upper = EDGES[index] if index < len(EDGES) else EDGES[-1]
        if count:
            middle = math.sqrt(lower * upper)
            n += int(count)
            middles += count * middle
            squares += count * middle * middle
        lower = upper
    if n == 0:
        return ArmStats()
    total = middles if total is None else total
    return ArmStats(n, total, max(squares, total * total / n))


def _output(metric: Metric, predictions: Mapping[str, pd.DataFrame]) -> ArmValues:
    import numpy as np

    out = ArmValues(metric, "mean")
    for arm, frame in predictions.items():
        if metric.output == "prediction":
            values = frame["prediction"].to_numpy(dtype=np.float64, na_value=np.nan) if len(frame) else np.empty(0)
        else:
            index = metric.index or 0
            values = np.asarray(
                [s[index] if s is not None and len(s) > index else np.nan for s in frame["scores"].tolist()],
                dtype=np.float64,
            )
        out.stats[arm] = _stats(values[np.isfinite(values)])
    return out


def _rewards(predictions: pd.DataFrame, labels: pd.DataFrame) -> Any:
    """The numeric labels of the inference ids this arm served (one per id; lists and words left out)."""
    import numpy as np

    from modelport.monitoring.quality import label_number

    if not len(predictions) or not len(labels):
        return np.empty(0)
    served = set(predictions["inference_id"].astype(str))
    values = []
    for ident, label in zip(labels["inference_id"].astype(str), labels["label"], strict=True):
        if ident not in served:
            continue
        number = label_number(label)
        if number is not None:
            values.append(number)
    return np.asarray(values, dtype=np.float64)


def _stats(values: Any) -> ArmStats:
    import numpy as np

    return ArmStats.of(np.asarray(values, dtype=np.float64))
