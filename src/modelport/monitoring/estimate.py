"""Quality before the labels come: confidence-based performance estimation (CBPE, as NannyML).

If a classifier's probabilities are *calibrated* — of the rows scored 0.8 for a
class, 80% really are that class — then each row's probabilities say how
likely each outcome is, and the metrics can be computed in expectation:

- expected accuracy: the mean, over rows, of the probability of the class the
  model predicted (the highest one, unless the model thresholds otherwise);
- expected ROC AUC (NannyML's construction): rows sorted by score; at each
  threshold the expected true positives are the sum of the scores above it and
  the expected false positives the sum of (1 - score); TPR and FPR follow from
  the expected totals, and the area under that curve is the estimate.
  Binary: the positive class's score; more classes: one-vs-rest per class,
  macro-averaged.

The caveat, shown with every estimate: **the probabilities must be calibrated**
(on data like the current one).  An over-confident model — boosted trees, an
SVM's Platt scores fitted elsewhere, a network without temperature scaling —
gets an optimistic estimate; calibrate it (scikit-learn's
``CalibratedClassifierCV``) or trust only the realized values.  The estimate
also cannot see *concept drift*: if the relation between inputs and labels
changes, calibrated-on-old-data probabilities are wrong in a way no score shows.

The interval given with each estimate is where the realized value should fall
if the probabilities are calibrated: for accuracy, the spread of a sum of
Bernoulli(p_i) (normal approximation); for ROC AUC, Hanley & McNeil's standard
error at the expected numbers of positives and negatives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modelport.intervals import z_score
from modelport.monitoring.quality import CONFIDENCE, ClassIndex, measured

if TYPE_CHECKING:
    import pandas as pd

CAVEAT = (
    "estimated from the model's probabilities, assuming they are calibrated; "
    "over-confident models get optimistic estimates, and a change in how labels follow inputs is invisible"
)


def estimate(
    predictions: pd.DataFrame, classes: Sequence[Any] | None, *, confidence: float = CONFIDENCE
) -> dict[str, Any]:
    """Expected accuracy and ROC AUC of a window's predictions from their probabilities alone.

    Uses the rows whose ``scores`` hold one probability per class (in ``classes`` order).
    """
    index = ClassIndex(classes)
    k = len(index.names)
    report: dict[str, Any] = {"method": "cbpe", "caveat": CAVEAT, "rows": 0, "confidence": confidence, "metrics": {}}
    if k < 2 or "scores" not in predictions:
        report["reason"] = "the model returned no probabilities" if k >= 2 else "the model declares no classes"
        return report
    keep, scores = score_rows(predictions["scores"], k)
    if not len(keep):
        report["reason"] = "no prediction in the window has one probability per class"
        return report
    n = len(keep)
    report["rows"] = n

    # the probability that the predicted class is right: the predicted label's score (argmax without a label)
    chosen = np.argmax(scores, axis=1)
    if "label" in predictions:
        labels = predictions["label"]
        given = index.positions_of(labels if n == len(labels) else labels.iloc[keep])
        chosen = np.where(given >= 0, given, chosen)
    p_correct = scores[np.arange(n), chosen]
    expected = float(p_correct.mean())
    spread = math.sqrt(float(np.sum(p_correct * (1 - p_correct)))) / n
    half = z_score(confidence) * spread
    report["metrics"]["accuracy"] = measured(expected, (max(0.0, expected - half), min(1.0, expected + half)), "cbpe")

    if k == 2:
        auc, positives = expected_auc(scores[:, 1])
        report["metrics"]["roc_auc"] = measured(
            auc, _hanley_mcneil(auc, positives, n - positives, confidence), "cbpe", kind="binary"
        )
    else:
        aucs = []
        variances = []
        for c in range(k):
            auc, positives = expected_auc(scores[:, c])
            if auc is None:
                continue
            aucs.append(auc)
            ci = _hanley_mcneil(auc, positives, n - positives, confidence)
            if ci is not None:
                variances.append(((ci[1] - ci[0]) / (2 * z_score(confidence))) ** 2)
        if aucs:
            macro = float(np.mean(aucs))
            ci = None
            if len(variances) == len(aucs):
                # the classes' AUCs are treated as independent here: a rough interval
                half = z_score(confidence) * math.sqrt(sum(variances)) / len(aucs)
                ci = (max(0.0, macro - half), min(1.0, macro + half))
            report["metrics"]["roc_auc"] = measured(macro, ci, "cbpe", kind="macro_ovr")
    return report


def score_rows(scores: pd.Series, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows whose scores hold ``k`` probabilities, and those as an ``(n, k)`` matrix (a missing
    probability is NaN).  Scores as Arrow lists (:func:`~modelport.monitoring.predictions.predictions_frame`) are
    read at once; other lists or arrays one by one."""
    import pandas as pd

    if isinstance(scores.dtype, pd.ArrowDtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        lists = pa.array(scores.array)
        if isinstance(lists, pa.ChunkedArray):
            lists = lists.combine_chunks()
        if pa.types.is_list(lists.type):
            fits = pc.fill_null(pc.equal(pc.list_value_length(lists), k), False)
            values = lists.filter(fits).flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            keep = np.flatnonzero(fits.to_numpy(zero_copy_only=False))
            return keep, values.reshape(len(keep), k)
    listed = scores.tolist()
    kept = [i for i, s in enumerate(listed) if s is not None and len(s) == k]
    matrix = np.asarray([listed[i] for i in kept], dtype=np.float64).reshape(len(kept), k)
    return np.asarray(kept, dtype=np.int64), matrix


def expected_auc(score: np.ndarray) -> tuple[float | None, float]:
    """NannyML's CBPE ROC AUC of calibrated positive-class probabilities, and the expected number of positives."""
    p = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
    positives = float(p.sum())
    negatives = float(len(p) - positives)
    if positives <= 0 or negatives <= 0:
        return None, positives
    # one point per distinct score, highest first: ties move along a straight segment, as in an ROC curve
    order = np.argsort(-p, kind="mergesort")
    ordered = p[order]
    tp = np.cumsum(ordered)
    fp = np.cumsum(1 - ordered)
    last = np.r_[ordered[1:] != ordered[:-1], True]
    tpr = np.r_[0.0, tp[last] / positives]
    fpr = np.r_[0.0, fp[last] / negatives]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)), positives


def _hanley_mcneil(
    auc: float | None, positives: float, negatives: float, confidence: float
) -> tuple[float, float] | None:
    if auc is None or positives < 1 or negatives < 1:
        return None
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    half = z_score(confidence) * math.sqrt(max(variance, 0.0))
    return (max(0.0, auc - half), min(1.0, auc + half))
