"""Model quality from ground truth: captured predictions joined with feedback by inference id.

:func:`assess` joins a window's predictions (one row per scored row: ``inference_id``,
``time``, ``row``, ``label``, ``prediction``, ``scores``) with the labels sent for them
(:mod:`modelport.monitoring.feedback`) on (inference id, row) and computes

- classification: accuracy, precision / recall / F1 per class and macro-averaged,
  ROC AUC (binary, or macro one-vs-rest) and log loss when the model returned
  probabilities, and the confusion matrix;
- regression: MAE, RMSE and R²;

each with a confidence interval, plus how many predictions have a label
(``coverage``) and how many labels match no prediction (``unmatched``).

The intervals are reproducible — the same rows always give the same numbers:

========================  ==========================================================
accuracy, precision_c,    Wilson score interval (a proportion)
recall_c
F1 (per class, macro),    bootstrap of the confusion matrix — resampling rows is a
macro precision/recall    multinomial draw over its cells — with a fixed seed
ROC AUC                   DeLong's variance (binary); for the macro one-vs-rest
                          average, the same influence values summed over classes, so
                          the covariance between the classes' AUCs is kept
log loss, MAE             normal interval of a mean
RMSE                      normal interval of the mean squared error, square-rooted
R²                        delta method on (mean squared error, variance of the labels)
========================  ==========================================================

Metric values equal scikit-learn's on the joined rows (``zero_division=0``; macro
averages over the labels present in the labels or the predictions, as scikit-learn
does when not told the labels).  Nothing here imports scikit-learn or SciPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelport import intervals
from modelport.intervals import z_score

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["classification", "regression"]

CONFIDENCE = 0.95
BOOTSTRAP_ROUNDS = 1000
SEED = 20240501
"""The bootstrap's seed: the same rows give the same interval in every run."""
_EPS = float(np.finfo(np.float64).eps)


# -- intervals -----------------------------------------------------------------------


def wilson(successes: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson's score interval for a proportion; None for no rows."""
    return intervals.wilson(successes, total, confidence) if total > 0 else None


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Normal interval of a mean (the central limit theorem; fine at the sizes monitoring sees)."""
    n = len(values)
    if n < 2:
        return None
    half = z_score(confidence) * float(np.std(values, ddof=1)) / math.sqrt(n)
    mean = float(np.mean(values))
    return (mean - half, mean + half)


def measured(value: float | None, ci: tuple[float, float] | None, method: str, **extra: Any) -> dict[str, Any]:
    """A metric as reports show it: ``{"value", "ci": [low, high], "method", …}``, None where undefined."""
    out: dict[str, Any] = {
        "value": None if value is None or not math.isfinite(value) else float(value),
        "ci": None if ci is None or not all(math.isfinite(c) for c in ci) else [float(ci[0]), float(ci[1])],
        "method": method,
    }
    out.update(extra)
    return out


# -- labels and classes --------------------------------------------------------------


class ClassIndex:
    """Matches labels to the model's classes whatever their spelling: ``1``, ``"1"`` and ``1.0`` are one class.

    An exact string match comes first (classes ``"007"`` and ``"7"`` stay apart); then a
    numeric one.  A label the model does not know keeps its own spelling.
    """

    def __init__(self, classes: Sequence[Any] | None) -> None:
        self.names: list[str] = [_text(c) for c in classes or ()]
        self._by_text = {name: name for name in self.names}
        self._by_number: dict[float, str] = {}
        for c, name in zip(classes or (), self.names, strict=True):
            number = label_number(c)
            if number is not None:
                self._by_number.setdefault(number, name)

    def name(self, value: Any) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        text = _text(value)
        if text in self._by_text:
            return text
        number = label_number(value)
        if number is not None and number in self._by_number:
            return self._by_number[number]
        return text

    def names_of(self, values: Any) -> list[str | None]:
        """:meth:`name` of each value, each distinct value looked up once (values equal in Python, like
        ``1``, ``1.0`` and ``True``, are one value: the same class)."""
        import pandas as pd

        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        names = np.array([self.name(u) for u in uniques] + [None], dtype=object)  # code -1 (missing) → None
        return names[codes].tolist()  # type: ignore[no-any-return]

    def positions_of(self, values: Any) -> np.ndarray:
        """Each value's position among the classes (-1: missing, or a class the model does not know), each
        distinct value looked up once (as :meth:`names_of`)."""
        import pandas as pd

        series = values if isinstance(values, pd.Series) and values.dtype != object else pd.Series(values, dtype=object)
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        where = {name: i for i, name in enumerate(self.names)}
        lookup = np.array([where.get(self.name(u), -1) for u in uniques] + [-1], dtype=np.int64)  # type: ignore[arg-type]
        return lookup[codes]

    def position(self, name: str) -> int | None:
        try:
            return self.names.index(name)
        except ValueError:
            return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def label_number(value: Any) -> float | None:
    """A label as a number (booleans and their text too); None for what is not a finite number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return float(text == "true")
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# -- the join -----------------------------------------------------------------------------


def label_rows(feedback: pd.DataFrame) -> pd.DataFrame:
    """One row per labelled row: a scalar label is row 0, a list's entry i is row i (nulls dropped).

    Columns: ``inference_id``, ``row``, ``truth``, ``rows_labelled`` (1 for a scalar, the
    list's length otherwise: it must match the request's rows).
    """
    import pandas as pd

    ids = _texts(feedback["inference_id"])
    labels = feedback["label"].tolist()
    is_list = np.fromiter((isinstance(v, list | tuple) for v in labels), dtype=bool, count=len(labels))
    scalar = np.flatnonzero(~is_list)
    parts = [
        pd.DataFrame(
            {
                "inference_id": pd.Series(ids[scalar], dtype=object),
                "row": np.zeros(len(scalar), dtype=np.int64),
                "truth": pd.Series([labels[i] for i in scalar], dtype=object),
                "rows_labelled": np.ones(len(scalar), dtype=np.int64),
            }
        )
    ]
    listed = np.flatnonzero(is_list)
    if len(listed):
        lengths = np.fromiter((len(labels[i]) for i in listed), dtype=np.int64, count=len(listed))
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        values = [v for i in listed for v in labels[i]]
        exploded = pd.DataFrame(
            {
                "inference_id": pd.Series(np.repeat(ids[listed], lengths), dtype=object),
                "row": np.arange(len(values), dtype=np.int64) - starts,
                "truth": pd.Series(values, dtype=object),
                "rows_labelled": np.repeat(lengths, lengths),
            }
        )
        parts.append(exploded.loc[exploded["truth"].notna()])
    return pd.concat(parts, ignore_index=True)


def _texts(column: pd.Series) -> np.ndarray:
    """Ids as an object array of str: pandas' Arrow-backed strings are ~50x slower to match in ``isin``."""
    import pandas as pd

    values = column.to_numpy(dtype=object)
    if isinstance(column.dtype, pd.StringDtype) and not column.hasnans:
        return values  # a string column holds nothing else
    if all(isinstance(v, str) for v in values):
        return values
    return np.array([str(v) for v in values], dtype=object)


def join(
    predictions: pd.DataFrame, feedback: pd.DataFrame, *, window: tuple[datetime, datetime] | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Predictions with their labels (inner join on inference id and row), and the counts of what did not join.

    - ``unmatched``: labels (inference ids) that match no prediction here — the id is
      unknown, or its capture is not written yet.  With ``window``, only labels
      stamped inside it count (a label without a timestamp, or stamped in another
      window, cannot be told apart from a label for another window's prediction);
    - ``mismatched``: labels whose shape does not fit their request (a single label
      for a multi-row request, or a list of another length); they are not used.
    """
    import pandas as pd

    feedback = feedback.assign(
        inference_id=pd.Series(_texts(feedback["inference_id"]), index=feedback.index, dtype=object)
    )
    # only the predictions of labelled ids can join: the others are only counted (a window has millions)
    labelled = _labelled(predictions["inference_id"], feedback["inference_id"].to_numpy())
    every = labelled is None or bool(labelled.all())
    n_predictions = None if every else _distinct_rows(predictions)
    preds = predictions if every else predictions[labelled]
    preds = preds.assign(inference_id=pd.Series(_texts(preds["inference_id"]), index=preds.index, dtype=object))
    preds = preds.drop_duplicates(["inference_id", "row"], keep="last")
    rows_per_request = preds.groupby("inference_id", sort=False)["row"].max() + 1
    matched = feedback["inference_id"].isin(rows_per_request.index).to_numpy()
    unmatched = ~matched
    if window is not None and "event_time" in feedback:
        stamps = pd.to_datetime(feedback["event_time"], utc=True)
        inside = ((stamps >= pd.Timestamp(window[0])) & (stamps < pd.Timestamp(window[1]))).to_numpy()
        unmatched &= inside
    truth = label_rows(feedback.loc[matched])
    fits = (truth["rows_labelled"] == truth["inference_id"].map(rows_per_request)).to_numpy()
    mismatched = int(truth.loc[~fits, "inference_id"].nunique())
    joined = preds.merge(truth.loc[fits, ["inference_id", "row", "truth"]], on=["inference_id", "row"], how="inner")
    counts = {
        "predictions": len(preds) if n_predictions is None else n_predictions,
        "unmatched": int(unmatched.sum()),
        "mismatched": mismatched,
    }
    return joined, counts


def _labelled(ids: pd.Series, labelled: np.ndarray) -> np.ndarray | None:
    """Which predictions have an id among ``labelled`` (str); None when the ids are not all text (they are
    matched as their ``str()`` then, by the general way)."""
    import pandas as pd

    if not isinstance(ids.dtype, pd.StringDtype) or ids.hasnans:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pa.array(ids.array)
    found = pc.is_in(texts, value_set=pa.array(labelled, pa.string()).cast(texts.type))
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _distinct_rows(predictions: pd.DataFrame) -> int:
    """How many distinct (inference id, row) the predictions hold (ids all text)."""
    return int((~predictions.duplicated(["inference_id", "row"])).sum())


# -- assess ------------------------------------------------------------------------------


def assess(
    predictions: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    task: Task,
    classes: Sequence[Any] | None = None,
    window: tuple[datetime, datetime] | None = None,
    confidence: float = CONFIDENCE,
    by_time: str | None = "1h",
    seed: int = SEED,
) -> dict[str, Any]:
    """Quality of a window's predictions against the labels sent for them (see the module docstring).

    ``feedback``: ``inference_id``, ``label`` (scalar or list), optionally ``event_time``
    (:meth:`FeedbackStore.window`).  ``by_time``: a pandas frequency for the breakdown
    over time (``None``: none).  The result is plain JSON (None where undefined).
    """
    joined, counts = join(predictions, feedback, window=window)
    n_predictions = counts["predictions"]
    report: dict[str, Any] = {
        "task": task,
        "predictions": n_predictions,
        "labelled": 0,
        "coverage": 0.0,
        "unmatched": counts["unmatched"],
        "mismatched": counts["mismatched"],
        "confidence": confidence,
        "metrics": {},
    }
    if task == "classification":
        index = ClassIndex(classes)
        rows = classification_rows(joined, index)
        report["labelled"] = len(rows["truth"])
        report["metrics"], extra = classification_metrics(
            rows["truth"], rows["predicted"], rows["scores"], index, confidence=confidence, seed=seed
        )
        report.update(extra)
    elif task == "regression":
        truth, predicted, invalid = regression_rows(joined)
        report["labelled"] = len(truth)
        report["invalid_labels"] = invalid
        report["metrics"] = regression_metrics(truth, predicted, confidence=confidence)
    else:
        raise ValueError(f"unknown task {task!r}")
    report["coverage"] = report["labelled"] / n_predictions if n_predictions else 0.0
    if by_time and report["labelled"]:
        report["by_time"] = _by_time(predictions, joined, task, classes, by_time)
    return report


def classification_rows(joined: pd.DataFrame, index: ClassIndex) -> dict[str, Any]:
    """Joined rows with a true and a predicted class (the top probability when the reply had no label):
    ``{"truth": [...], "predicted": [...], "scores": matrix | None}`` (experiments read accuracy from it too)."""
    truth = index.names_of(joined["truth"].to_numpy(dtype=object))
    n = len(truth)
    predicted: list[str | None] = (
        index.names_of(joined["label"].to_numpy(dtype=object)) if "label" in joined else [None] * n
    )
    scores: list[Any] = _score_lists(joined["scores"]) if "scores" in joined else [None] * n
    k = len(index.names)
    has_scores = (
        np.fromiter((s is not None and len(s) == k for s in scores), dtype=bool, count=n) if k else np.zeros(n, bool)
    )
    for i in np.flatnonzero(has_scores):  # no label: the class with the highest probability
        if predicted[i] is None:
            predicted[i] = index.names[int(np.argmax(scores[i]))]
    keep = [i for i in range(n) if truth[i] is not None and predicted[i] is not None]
    matrix: np.ndarray | None = None
    if k and keep and has_scores[keep].all():
        matrix = np.asarray([scores[i] for i in keep], dtype=np.float64)
    return {"truth": [truth[i] for i in keep], "predicted": [predicted[i] for i in keep], "scores": matrix}


def _score_lists(column: pd.Series) -> list[Any]:
    """Each row's probabilities, or None (Arrow lists give pandas' NA for a missing one)."""
    import pandas as pd

    if isinstance(column.dtype, pd.ArrowDtype):
        return column.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[no-any-return]
    return column.tolist()


def classification_metrics(
    truth: Sequence[str],
    predicted: Sequence[str],
    scores: np.ndarray | None,
    index: ClassIndex,
    *,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and the extra sections (per class, confusion matrix) of labelled classification rows."""
    n = len(truth)
    if n == 0:
        return {}, {"per_class": {}, "confusion_matrix": {"labels": list(index.names), "matrix": []}}
    seen = set(truth) | set(predicted)
    labels = [c for c in index.names if c in seen] + sorted(seen - set(index.names))
    position = {label: i for i, label in enumerate(labels)}
    t = np.fromiter((position[v] for v in truth), dtype=np.int64, count=n)
    p = np.fromiter((position[v] for v in predicted), dtype=np.int64, count=n)
    k = len(labels)
    confusion = np.bincount(t * k + p, minlength=k * k).reshape(k, k)  # rows: truth, columns: predicted

    correct = int(np.trace(confusion))
    metrics: dict[str, Any] = {"accuracy": measured(correct / n, wilson(correct, n, confidence), "wilson")}
    tp = np.diag(confusion)
    predicted_count = confusion.sum(axis=0)
    true_count = confusion.sum(axis=1)
    precision, recall, f1 = _prf(confusion)
    per_class: dict[str, Any] = {}
    for i, label in enumerate(labels):
        per_class[label] = {
            "support": int(true_count[i]),
            "precision": measured(precision[i], wilson(int(tp[i]), int(predicted_count[i]), confidence), "wilson"),
            "recall": measured(recall[i], wilson(int(tp[i]), int(true_count[i]), confidence), "wilson"),
            "f1": measured(f1[i], None, "bootstrap"),
        }
    boot = _bootstrap_confusion(confusion, confidence, seed)
    for i, label in enumerate(labels):
        per_class[label]["f1"]["ci"] = boot["f1"][i]
    metrics["precision_macro"] = measured(float(precision.mean()), boot["precision_macro"], "bootstrap")
    metrics["recall_macro"] = measured(float(recall.mean()), boot["recall_macro"], "bootstrap")
    metrics["f1_macro"] = measured(float(f1.mean()), boot["f1_macro"], "bootstrap")

    if scores is not None:
        metrics.update(_probability_metrics(t, labels, scores, index, confidence))
    extra = {
        "per_class": per_class,
        "confusion_matrix": {"labels": labels, "matrix": confusion.tolist()},
    }
    return metrics, extra


def _prf(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per class of one or more confusion matrices (``[..., k, k]``), 0 when undefined."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    predicted = confusion.sum(axis=-2)
    actual = confusion.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def _bootstrap_confusion(confusion: np.ndarray, confidence: float, seed: int) -> dict[str, Any]:
    """Percentile intervals of F1 per class and macro P/R/F1: rows resampled as a multinomial over the cells.

    Which labels a resample holds does not change: macro averages stay over the
    window's labels, so an interval describes the same quantity as its value.
    """
    k = confusion.shape[0]
    n = int(confusion.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, confusion.ravel() / n, size=BOOTSTRAP_ROUNDS).reshape(BOOTSTRAP_ROUNDS, k, k)
    precision, recall, f1 = _prf(draws)
    tail = (1 - confidence) / 2

    def interval(values: np.ndarray) -> list[float]:
        low, high = np.quantile(values, [tail, 1 - tail], axis=0)
        return [float(low), float(high)]

    return {
        "f1": [interval(f1[:, i]) for i in range(k)],
        "precision_macro": tuple(interval(precision.mean(axis=1))),
        "recall_macro": tuple(interval(recall.mean(axis=1))),
        "f1_macro": tuple(interval(f1.mean(axis=1))),
    }


def _probability_metrics(
    truth: np.ndarray, labels: Sequence[str], scores: np.ndarray, index: ClassIndex, confidence: float
) -> dict[str, Any]:
    """ROC AUC and log loss on the rows whose label is one of the model's classes."""
    column = np.array([index.position(label) if index.position(label) is not None else -1 for label in labels])
    y = column[truth]  # each row's class as a column of ``scores``; -1: a label the model does not know
    known = y >= 0
    out: dict[str, Any] = {}
    if not known.any():
        return out
    y, s = y[known], scores[known]
    k = s.shape[1]
    rows = np.arange(len(y))
    losses = -np.log(np.clip(s[rows, y], _EPS, 1 - _EPS))
    out["log_loss"] = measured(float(losses.mean()), mean_interval(losses, confidence), "normal", rows=len(y))
    if k == 2:
        auc, variance = auc_delong(s[:, 1], y == 1)
        out["roc_auc"] = measured(auc, _normal_ci(auc, variance, confidence), "delong", kind="binary", rows=len(y))
    elif k > 2:
        present = [c for c in range(k) if 0 < int((y == c).sum()) < len(y)]
        if present:
            influence = np.zeros(len(y))
            aucs = []
            for c in present:
                auc, values = _auc_influence(s[:, c], y == c)
                aucs.append(auc)
                influence += values / len(present)
            macro = float(np.mean(aucs))
            variance = float(np.sum(influence**2)) / len(y) ** 2
            out["roc_auc"] = measured(
                macro,
                _normal_ci(macro, variance, confidence),
                "delong",
                kind="macro_ovr",
                classes=[index.names[c] for c in present],
                rows=len(y),
            )
    return out


def _normal_ci(value: float | None, variance: float | None, confidence: float) -> tuple[float, float] | None:
    if value is None or variance is None or not math.isfinite(variance):
        return None
    half = z_score(confidence) * math.sqrt(max(variance, 0.0))
    return (max(0.0, value - half), min(1.0, value + half))


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # the first and last position of each run of equal values
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2.0  # mean of (start+1 .. end) in 1-based positions
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _auc_influence(score: np.ndarray, positive: np.ndarray) -> tuple[float, np.ndarray]:
    """ROC AUC and each row's influence value (DeLong's structural components, centred and scaled)."""
    m = int(positive.sum())
    n_neg = len(score) - m
    combined = _midranks(score)
    pos_ranks = _midranks(score[positive])
    neg_ranks = _midranks(score[~positive])
    auc = (combined[positive].sum() - m * (m + 1) / 2) / (m * n_neg)
    v10 = (combined[positive] - pos_ranks) / n_neg  # per positive: share of negatives it outranks
    v01 = 1 - (combined[~positive] - neg_ranks) / m  # per negative: share of positives that outrank it
    total = len(score)
    influence = np.empty(total)
    influence[positive] = (v10 - auc) * total / m
    influence[~positive] = (v01 - auc) * total / n_neg
    return float(auc), influence


def auc_delong(score: np.ndarray, positive: np.ndarray) -> tuple[float | None, float | None]:
    """ROC AUC of ``score`` for ``positive`` rows and DeLong's variance of it (None without both kinds of rows)."""
    m = int(positive.sum())
    if m == 0 or m == len(score):
        return None, None
    auc, influence = _auc_influence(score, positive)
    return auc, float(np.sum(influence**2)) / len(score) ** 2


def regression_rows(joined: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Joined rows with a numeric label and prediction: (truth, predicted, labels that are not numbers)."""
    truth = np.array(
        [label_number(v) if not isinstance(v, bool) else None for v in joined["truth"].tolist()], dtype=object
    )
    predicted = joined["prediction"].to_numpy(dtype=np.float64, na_value=np.nan)
    numeric = np.array([v is not None for v in truth], dtype=bool)
    keep = numeric & np.isfinite(predicted)
    return truth[keep].astype(np.float64), predicted[keep], int((~numeric).sum())


def regression_metrics(truth: np.ndarray, predicted: np.ndarray, *, confidence: float = CONFIDENCE) -> dict[str, Any]:
    n = len(truth)
    if n == 0:
        return {}
    error = predicted - truth
    absolute = np.abs(error)
    squared = error**2
    mse = float(squared.mean())
    mse_ci = mean_interval(squared, confidence)
    metrics = {
        "mae": measured(float(absolute.mean()), mean_interval(absolute, confidence), "normal"),
        "rmse": measured(
            math.sqrt(mse),
            None if mse_ci is None else (math.sqrt(max(mse_ci[0], 0.0)), math.sqrt(mse_ci[1])),
            "normal",
        ),
    }
    deviation = (truth - truth.mean()) ** 2
    variance = float(deviation.mean())
    r2: float | None = None
    r2_ci: tuple[float, float] | None = None
    if variance > 0:
        r2 = 1 - mse / variance
        if n >= 3:
            # delta method: R² = 1 - a/b with a = mean(e²), b = mean((y - ȳ)²)
            cov = np.cov(np.vstack([squared, deviation]), ddof=1) / n
            grad = np.array([-1 / variance, mse / variance**2])
            half = z_score(confidence) * math.sqrt(max(float(grad @ cov @ grad), 0.0))
            r2_ci = (r2 - half, min(1.0, r2 + half))
    metrics["r2"] = measured(r2, r2_ci, "delta")
    return metrics


def _by_time(
    predictions: pd.DataFrame, joined: pd.DataFrame, task: Task, classes: Sequence[Any] | None, freq: str
) -> list[dict[str, Any]]:
    """Per time bucket: predictions, labelled rows, coverage and the headline metric (no intervals)."""
    import pandas as pd

    index = ClassIndex(classes)
    buckets: dict[Any, dict[str, Any]] = {}
    all_times = pd.to_datetime(predictions["time"], utc=True).dt.floor(freq)
    for start, count in all_times.value_counts().sort_index().items():
        buckets[start] = {"start": start.isoformat(), "predictions": int(count), "labelled": 0}
    times = pd.to_datetime(joined["time"], utc=True).dt.floor(freq)
    for start, group in joined.groupby(times, sort=True):
        bucket = buckets.setdefault(start, {"start": start.isoformat(), "predictions": 0, "labelled": 0})
        if task == "classification":
            rows = classification_rows(group, index)
            n = len(rows["truth"])
            if n:
                correct = sum(t == p for t, p in zip(rows["truth"], rows["predicted"], strict=True))
                bucket["accuracy"] = correct / n
        else:
            truth, predicted, _ = regression_rows(group)
            n = len(truth)
            if n:
                bucket["mae"] = float(np.abs(predicted - truth).mean())
                bucket["rmse"] = float(np.sqrt(((predicted - truth) ** 2).mean()))
        bucket["labelled"] = n
    out = [buckets[k] for k in sorted(buckets)]
    for bucket in out:
        bucket["coverage"] = bucket["labelled"] / bucket["predictions"] if bucket["predictions"] else None
    return out


def headline(report: Mapping[str, Any]) -> dict[str, float]:
    """Metric name → value (what the ``modelport_model_quality`` gauge shows), with ``coverage``."""
    out = {name: m["value"] for name, m in report.get("metrics", {}).items() if m.get("value") is not None}
    if report.get("predictions"):
        out["coverage"] = float(report.get("coverage", 0.0))
    return out


# -- thresholds -------------------------------------------------------------------------------

HIGHER_IS_BETTER = frozenset({"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "r2", "coverage"})
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
MIN_LABELLED = 100
"""Labelled rows below which a quality threshold is not judged (the report says ``inconclusive``)."""
QUALITY_CHECK = "model_quality_check"


def check_thresholds(thresholds: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{"accuracy": 0.8, "rmse": {"max": 2.5}, "estimated_accuracy": 0.8}`` → ``{metric: {"min"|"max": x}}``.

    A bare number is a minimum for metrics where higher is better and a maximum for the
    others; ``estimated_<metric>`` judges the label-free estimate.  Unknown names are an error.
    """
    out: dict[str, dict[str, float]] = {}
    for name, rule in thresholds.items():
        base = name.removeprefix("estimated_")
        if base not in HIGHER_IS_BETTER | LOWER_IS_BETTER or (name != base and base not in ("accuracy", "roc_auc")):
            known = [*sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER), "estimated_accuracy", "estimated_roc_auc"]
            raise ValueError(f"unknown quality metric {name!r}; known: {', '.join(known)}")
        if isinstance(rule, int | float) and not isinstance(rule, bool):
            out[name] = {"min" if base in HIGHER_IS_BETTER else "max": float(rule)}
        elif isinstance(rule, Mapping) and rule and set(rule) <= {"min", "max"}:
            out[name] = {k: float(v) for k, v in rule.items()}
        else:
            raise ValueError(f"quality threshold {name!r}: expected a number or {{min: x}} / {{max: y}}, not {rule!r}")
    return out


def breaches(
    variant: str,
    report: Mapping[str, Any] | None,
    thresholds: Mapping[str, Any],
    *,
    estimate: Mapping[str, Any] | None = None,
    min_labelled: int = MIN_LABELLED,
) -> list[dict[str, str]]:
    """Quality thresholds a variant's window breaks, as violations (``Alerter.process`` takes them).

    A realized metric is judged only with at least ``min_labelled`` labelled rows (a
    handful of labels says little); ``coverage`` is judged whenever there were predictions.
    """
    out: list[dict[str, str]] = []
    for name, rule in check_thresholds(thresholds).items():
        estimated = name.startswith("estimated_")
        source = estimate if estimated else report
        if not source:
            continue
        if name == "coverage":
            value = source.get("coverage") if source.get("predictions") else None
            basis = f"{source.get('labelled', 0):,} of {source.get('predictions', 0):,} predictions labelled"
        else:
            if not estimated and int(source.get("labelled", 0)) < min_labelled:
                continue
            entry = (source.get("metrics") or {}).get(name.removeprefix("estimated_")) or {}
            value = entry.get("value")
            rows = source.get("rows") if estimated else source.get("labelled")
            basis = f"{rows:,} {'scored' if estimated else 'labelled'} rows"
            if entry.get("ci"):
                basis += f", {source.get('confidence', CONFIDENCE):.0%} interval {entry['ci'][0]:.4g} to {entry['ci'][1]:.4g}"
        if value is None:
            continue
        if "min" in rule and value < rule["min"]:
            description = f"{name} {value:.4g} is below the minimum {rule['min']:g} ({basis})"
        elif "max" in rule and value > rule["max"]:
            description = f"{name} {value:.4g} is above the maximum {rule['max']:g} ({basis})"
        else:
            continue
        out.append(
            {
                "variant": variant,
                "feature_name": name,
                "constraint_check_type": QUALITY_CHECK,
                "description": description,
            }
        )
    return out
