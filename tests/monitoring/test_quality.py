"""Quality from ground truth equals scikit-learn's metrics on the joined rows; intervals are reproducible and cover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from modelport.monitoring.estimate import estimate, expected_auc
from modelport.monitoring.quality import ClassIndex, assess, auc_delong, classification_metrics, headline, join, wilson

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CLASSES = ["setosa", "versicolor", "virginica"]


def predictions_frame(ids, rows, labels=None, scores=None, prediction=None, times=None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    n = len(ids)
    return pd.DataFrame(
        {
            "inference_id": ids,
            "time": times if times is not None else [T0 + timedelta(seconds=i) for i in range(n)],
            "row": rows,
            "label": labels if labels is not None else [None] * n,
            "prediction": prediction if prediction is not None else [None] * n,
            "scores": scores if scores is not None else [None] * n,
        }
    )


def feedback_frame(ids, labels, times=None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return pd.DataFrame(
        {"inference_id": ids, "label": labels, "event_time": times if times is not None else [None] * len(ids)}
    )


def synthetic_classifier(n: int, classes: list, seed: int, *, calibrated: bool = True):  # type: ignore[no-untyped-def]
    """Probabilities from a Dirichlet; with ``calibrated`` the true label is drawn from them."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    scores = rng.dirichlet(np.full(k, 0.6), size=n)
    truth_idx = np.array([rng.choice(k, p=p) for p in scores]) if calibrated else rng.integers(0, k, n)
    predicted_idx = scores.argmax(axis=1)
    return scores, [classes[i] for i in truth_idx], [classes[i] for i in predicted_idx]


# -- classification -------------------------------------------------------------------


def test_multiclass_metrics_equal_scikit_learn_on_the_joined_rows() -> None:
    scores, truth, predicted = synthetic_classifier(3000, CLASSES, seed=1)
    ids = [f"r{i}" for i in range(3000)]
    preds = predictions_frame(ids, [0] * 3000, labels=predicted, scores=[list(s) for s in scores])
    labelled = list(range(0, 3000, 3))  # a third of the predictions get a label
    fb = feedback_frame([ids[i] for i in labelled] + ["nobody"], [truth[i] for i in labelled] + ["setosa"])
    report = assess(preds, fb, task="classification", classes=CLASSES)

    y_true = [truth[i] for i in labelled]
    y_pred = [predicted[i] for i in labelled]
    s = scores[labelled]
    m = report["metrics"]
    assert (report["predictions"], report["labelled"], report["unmatched"]) == (3000, 1000, 1)
    assert report["coverage"] == pytest.approx(1000 / 3000)
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    for name, fn in (
        ("precision_macro", skm.precision_score),
        ("recall_macro", skm.recall_score),
        ("f1_macro", skm.f1_score),
    ):
        assert m[name]["value"] == pytest.approx(fn(y_true, y_pred, average="macro", zero_division=0)), name
    per_class_f1 = skm.f1_score(y_true, y_pred, average=None, labels=CLASSES, zero_division=0)
    assert [report["per_class"][c]["f1"]["value"] for c in CLASSES] == pytest.approx(per_class_f1)
    assert [report["per_class"][c]["support"] for c in CLASSES] == [y_true.count(c) for c in CLASSES]
    assert m["roc_auc"]["value"] == pytest.approx(
        skm.roc_auc_score(y_true, s, multi_class="ovr", average="macro", labels=CLASSES)
    )
    assert m["roc_auc"]["kind"] == "macro_ovr"
    assert m["log_loss"]["value"] == pytest.approx(skm.log_loss(y_true, y_proba=s, labels=CLASSES))
    assert report["confusion_matrix"] == {
        "labels": CLASSES,
        "matrix": skm.confusion_matrix(y_true, y_pred, labels=CLASSES).tolist(),
    }
    for metric in m.values():
        low, high = metric["ci"]
        assert low <= metric["value"] <= high, metric
    assert assess(preds, fb, task="classification", classes=CLASSES) == report  # reproducible, bootstrap included


def test_binary_metrics_with_numeric_classes_spelled_differently() -> None:
    """Classes [0, 1] in the signature, predicted labels as text, labels from CSV as "1"/"0" or JSON 1.0."""
    rng = np.random.default_rng(7)
    p1 = rng.beta(2, 2, 2000)
    truth = (rng.random(2000) < p1).astype(int)
    predicted = (p1 >= 0.5).astype(int)
    ids = [f"b{i}" for i in range(2000)]
    preds = predictions_frame(ids, [0] * 2000, labels=[str(v) for v in predicted], scores=[[1 - p, p] for p in p1])
    spelled = [str(v) if i % 2 else float(v) for i, v in enumerate(truth)]
    report = assess(preds, feedback_frame(ids, spelled), task="classification", classes=[0, 1])
    m = report["metrics"]
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(truth, predicted))
    assert m["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(truth, p1)) and m["roc_auc"]["kind"] == "binary"
    assert m["log_loss"]["value"] == pytest.approx(skm.log_loss(truth, y_proba=np.c_[1 - p1, p1]))
    assert report["per_class"]["1"]["precision"]["value"] == pytest.approx(skm.precision_score(truth, predicted))
    assert report["per_class"]["1"]["recall"]["value"] == pytest.approx(skm.recall_score(truth, predicted))


def test_delong_variance_matches_the_textbook_formula() -> None:
    rng = np.random.default_rng(3)
    score = np.round(rng.normal(size=400), 1)  # ties on purpose
    positive = rng.random(400) < 0.3
    auc, variance = auc_delong(score, positive)
    x, y = score[positive], score[~positive]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    assert auc == pytest.approx(psi.mean())
    # DeLong with population variances of the structural components
    assert variance == pytest.approx(v10.var() / len(x) + v01.var() / len(y))


def test_multi_row_requests_join_per_row_and_shapes_must_fit() -> None:
    preds = predictions_frame(["a", "a", "a", "b", "b", "c"], [0, 1, 2, 0, 1, 0], labels=["x", "y", "x", "y", "y", "x"])
    fb = feedback_frame(
        ["a", "b", "c", "ghost-in", "ghost-out", "ghost-unstamped"],
        [["x", None, "y"], "y", "x", "x", "x", "x"],  # b: one label for a two-row request
        [None, None, None, T0 + timedelta(minutes=1), T0 - timedelta(days=1), None],
    )
    joined, counts = join(preds, fb, window=(T0, T0 + timedelta(hours=1)))
    assert sorted(zip(joined["inference_id"], joined["row"], joined["truth"], strict=True)) == [
        ("a", 0, "x"),
        ("a", 2, "y"),
        ("c", 0, "x"),
    ]
    assert counts == {"predictions": 6, "unmatched": 1, "mismatched": 1}  # only the label stamped in the window
    assert join(preds, fb)[1]["unmatched"] == 3  # without a window: every label without a prediction
    report = assess(preds, fb, task="classification", classes=["x", "y"], window=(T0, T0 + timedelta(hours=1)))
    assert (report["labelled"], report["coverage"], report["mismatched"]) == (3, 0.5, 1)
    assert report["metrics"]["accuracy"]["value"] == pytest.approx(2 / 3)


def test_labels_the_model_does_not_know_count_as_wrong_and_show_in_the_matrix() -> None:
    preds = predictions_frame(
        ["a", "b", "c"], [0, 0, 0], labels=["x", "y", "x"], scores=[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    )
    report = assess(preds, feedback_frame(["a", "b", "c"], ["x", "y", "z"]), task="classification", classes=["x", "y"])
    assert report["confusion_matrix"] == {"labels": ["x", "y", "z"], "matrix": [[1, 0, 0], [0, 1, 0], [1, 0, 0]]}
    assert report["metrics"]["accuracy"]["value"] == pytest.approx(2 / 3)
    assert report["metrics"]["log_loss"]["rows"] == 2  # the unknown label has no probability to score


def test_no_labels_yet_is_a_report_not_an_error() -> None:
    preds = predictions_frame(["a"], [0], labels=["x"])
    report = assess(preds, feedback_frame([], []), task="classification", classes=["x", "y"])
    assert (report["labelled"], report["coverage"], report["metrics"]) == (0, 0.0, {})
    empty = assess(predictions_frame([], []), feedback_frame(["a"], ["x"]), task="regression")
    assert (empty["predictions"], empty["unmatched"], empty["metrics"]) == (0, 1, {})


def test_wilson_interval_known_values() -> None:
    low, high = wilson(81, 263)  # Wikipedia's worked example family; checked against statsmodels' proportion_confint
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 0) is None and wilson(10, 10)[1] == 1.0  # type: ignore[index]


# -- regression ----------------------------------------------------------------------------


def test_regression_metrics_equal_scikit_learn_and_intervals_cover() -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(10, 3, 5000)
    yhat = y + rng.normal(0, 1, 5000)
    ids = [f"q{i}" for i in range(5000)]
    preds = predictions_frame(ids, [0] * 5000, prediction=list(yhat))
    fb = feedback_frame(
        ids[:4000], [str(v) if i % 2 else float(v) for i, v in enumerate(y[:4000])]
    )  # CSV text or numbers
    report = assess(preds, fb, task="regression")
    m = report["metrics"]
    assert report["labelled"] == 4000 and report["coverage"] == pytest.approx(0.8)
    assert m["mae"]["value"] == pytest.approx(skm.mean_absolute_error(y[:4000], yhat[:4000]))
    assert m["rmse"]["value"] == pytest.approx(skm.root_mean_squared_error(y[:4000], yhat[:4000]))
    assert m["r2"]["value"] == pytest.approx(skm.r2_score(y[:4000], yhat[:4000]))
    # the data's own truth: error sd 1 → MAE sqrt(2/pi), RMSE 1, R² = 1 - 1/9
    assert m["mae"]["ci"][0] < np.sqrt(2 / np.pi) < m["mae"]["ci"][1]
    assert m["rmse"]["ci"][0] < 1.0 < m["rmse"]["ci"][1]
    assert m["r2"]["ci"][0] < 1 - 1 / 9 < m["r2"]["ci"][1]
    assert headline(report) == {
        "mae": m["mae"]["value"],
        "rmse": m["rmse"]["value"],
        "r2": m["r2"]["value"],
        "coverage": 0.8,
    }


def test_interval_coverage_over_repeated_samples() -> None:
    """Over 200 samples from a known model the 95% intervals hold the true accuracy and AUC about 95% of the time."""
    rng = np.random.default_rng(5)
    hits_acc = hits_auc = 0
    # the population: p ~ Beta(2, 2), y ~ Bernoulli(p): accuracy of "p >= 0.5" is E[max(p, 1-p)] = 0.6875
    true_acc = 0.6875
    big = rng.beta(2, 2, 400_000)
    true_auc = skm.roc_auc_score(rng.random(big.size) < big, big)
    for _ in range(200):
        p = rng.beta(2, 2, 300)
        y = (rng.random(300) < p).astype(int)
        truth, predicted = [str(v) for v in y], [str(int(v >= 0.5)) for v in p]
        metrics, _ = classification_metrics(truth, predicted, np.c_[1 - p, p], ClassIndex([0, 1]))
        low, high = metrics["accuracy"]["ci"]
        hits_acc += low <= true_acc <= high
        low, high = metrics["roc_auc"]["ci"]
        hits_auc += low <= true_auc <= high
    assert 0.90 <= hits_acc / 200 <= 0.99
    assert 0.88 <= hits_auc / 200 <= 0.99


def test_by_time_breaks_the_window_down() -> None:
    times = [T0 + timedelta(minutes=m) for m in (0, 10, 70, 80)]
    preds = predictions_frame(["a", "b", "c", "d"], [0] * 4, labels=["x", "x", "x", "y"], times=times)
    report = assess(preds, feedback_frame(["a", "b", "c"], ["x", "y", "x"]), task="classification", classes=["x", "y"])
    assert report["by_time"] == [
        {"start": T0.isoformat(), "predictions": 2, "labelled": 2, "accuracy": 0.5, "coverage": 1.0},
        {
            "start": (T0 + timedelta(hours=1)).isoformat(),
            "predictions": 2,
            "labelled": 1,
            "accuracy": 1.0,
            "coverage": 0.5,
        },
    ]


def test_class_index_spellings() -> None:
    index = ClassIndex([0, 1])
    assert [index.name(v) for v in (1, "1", 1.0, "1.0", True, "x", None)] == ["1", "1", "1", "1", "1", "x", None]
    strings = ClassIndex(["007", "7"])
    assert [strings.name(v) for v in ("007", "7", 7)] == ["007", "7", "7"]


# -- label-free estimate ---------------------------------------------------------------------


@pytest.mark.parametrize("classes", [["no", "yes"], CLASSES], ids=["binary", "three-classes"])
def test_cbpe_estimate_lies_within_the_realized_interval_for_a_calibrated_model(classes: list[str]) -> None:
    scores, truth, predicted = synthetic_classifier(20_000, classes, seed=42)
    ids = [f"e{i}" for i in range(20_000)]
    preds = predictions_frame(ids, [0] * 20_000, labels=predicted, scores=[list(s) for s in scores])
    estimated = estimate(preds, classes)
    realized = assess(preds, feedback_frame(ids, truth), task="classification", classes=classes, by_time=None)
    assert estimated["rows"] == 20_000 and "calibrated" in estimated["caveat"]
    for name in ("accuracy", "roc_auc"):
        low, high = realized["metrics"][name]["ci"]
        assert low <= estimated["metrics"][name]["value"] <= high, (
            name,
            estimated["metrics"][name],
            realized["metrics"][name],
        )
        # and the realized value lies in the estimate's own interval
        low, high = estimated["metrics"][name]["ci"]
        assert low <= realized["metrics"][name]["value"] <= high, name


def test_cbpe_is_optimistic_for_an_overconfident_model() -> None:
    """The documented caveat, demonstrated: labels independent of the scores, estimate far above the truth."""
    scores, truth, predicted = synthetic_classifier(5000, CLASSES, seed=9, calibrated=False)
    preds = predictions_frame(list(range(5000)), [0] * 5000, labels=predicted, scores=[list(s) for s in scores])
    estimated = estimate(preds, CLASSES)["metrics"]["accuracy"]["value"]
    realized = assess(preds, feedback_frame(list(range(5000)), truth), task="classification", classes=CLASSES)[
        "metrics"
    ]["accuracy"]["value"]
    assert estimated > realized + 0.2


def test_expected_auc_of_perfectly_separated_calibrated_scores() -> None:
    assert expected_auc(np.array([0.0, 0.0, 1.0, 1.0]))[0] == pytest.approx(1.0)
    assert expected_auc(np.full(10, 0.5))[0] == pytest.approx(0.5)
    assert expected_auc(np.zeros(4))[0] is None


def test_estimate_without_probabilities_says_why() -> None:
    preds = predictions_frame(["a"], [0], labels=["x"])
    assert estimate(preds, ["x", "y"])["reason"] == "no prediction in the window has one probability per class"
    assert estimate(preds, None)["reason"] == "the model declares no classes"


# -- thresholds --------------------------------------------------------------------------------


def test_quality_thresholds_become_violations() -> None:
    from modelport.monitoring.alerts import Violation
    from modelport.monitoring.quality import breaches, check_thresholds

    scores, truth, predicted = synthetic_classifier(500, CLASSES, seed=2)
    ids = list(range(500))
    preds = predictions_frame(ids, [0] * 500, labels=predicted, scores=[list(s) for s in scores])
    report = assess(preds, feedback_frame(ids[:200], truth[:200]), task="classification", classes=CLASSES)
    est = estimate(preds, CLASSES)
    found = breaches(
        "a",
        report,
        {"accuracy": 0.99, "log_loss": 0.01, "coverage": 0.5, "f1_macro": 0.01, "estimated_accuracy": 0.99},
        estimate=est,
    )
    assert [(b["feature_name"], b["constraint_check_type"]) for b in found] == [
        ("accuracy", "model_quality_check"),
        ("log_loss", "model_quality_check"),
        ("coverage", "model_quality_check"),
        ("estimated_accuracy", "model_quality_check"),
    ]
    assert found[0]["description"].startswith(
        f"accuracy {report['metrics']['accuracy']['value']:.4g} is below the minimum 0.99 (200 labelled rows, 95% interval "
    )
    assert found[2]["description"] == "coverage 0.4 is below the minimum 0.5 (200 of 500 predictions labelled)"
    assert Violation.from_dict(found[0]).key == "a/accuracy/model_quality_check"
    assert breaches("a", report, {"accuracy": 0.99}, min_labelled=201) == []  # too few labels to judge
    assert check_thresholds({"rmse": 2, "r2": {"min": 0.5, "max": 1}}) == {
        "rmse": {"max": 2.0},
        "r2": {"min": 0.5, "max": 1.0},
    }
    with pytest.raises(ValueError, match="unknown quality metric 'precision'"):
        check_thresholds({"precision": 0.5})
    with pytest.raises(ValueError, match="expected a number or"):
        check_thresholds({"mae": {"below": 3}})


def test_predictions_read_as_arrow_give_the_same_report() -> None:
    """A window's predictions as the monitor reads them (text ids and Arrow lists of scores, joined on the labelled
    ids only) give exactly the report of plain object columns (joined whole)."""
    import pyarrow as pa

    from modelport.monitoring.predictions import predictions_frame as read_frame

    rng = np.random.default_rng(12)
    n = 3000
    scores, truth, predicted = synthetic_classifier(n, CLASSES, seed=13)
    ids = [f"id-{i % 2700}" for i in range(n)]  # some ids twice: the later prediction wins
    rows = [0] * n
    ids[5:9] = ["id-4"] * 4
    rows[4:9] = [0, 1, 2, 3, 4]  # a request of five rows
    frame = predictions_frame(ids, rows, labels=predicted, scores=[list(s) for s in scores])
    frame.at[17, "scores"] = None
    frame.at[18, "scores"] = [0.5, 0.5]  # another width: not used
    labelled = rng.choice(2700, 900, replace=False)
    frame.at[int(min(i for i in labelled if i >= 300)), "scores"] = None  # a labelled row (ids from 300 are once)
    feedback = feedback_frame(
        [f"id-{i}" for i in labelled] + ["id-unknown"],
        [truth[i] for i in labelled] + ["setosa"],
        times=[T0 + timedelta(seconds=int(i)) for i in labelled] + [T0],
    )

    table = pa.Table.from_pandas(frame, preserve_index=False).cast(
        pa.schema(
            [
                ("inference_id", pa.string()),
                ("time", pa.timestamp("s", tz="UTC")),
                ("row", pa.int64()),
                ("label", pa.string()),
                ("prediction", pa.float64()),
                ("scores", pa.list_(pa.float64())),
            ]
        )
    )
    sink = pa.BufferOutputStream()
    import pyarrow.parquet as pq

    pq.write_table(table, sink)
    window = (T0, T0 + timedelta(hours=1))
    arrow_frame = read_frame([sink.getvalue().to_pybytes()], *window)
    assert isinstance(arrow_frame["scores"].dtype, pd.ArrowDtype)
    plain = arrow_frame.astype({"inference_id": object, "label": object})
    listed = np.empty(len(plain), dtype=object)
    listed[:] = list(arrow_frame["scores"].to_numpy(dtype=object, na_value=None))
    plain["scores"] = pd.Series(listed, index=plain.index, dtype=object)

    fast = assess(arrow_frame, feedback, task="classification", classes=CLASSES, window=window)
    slow = assess(plain, feedback, task="classification", classes=CLASSES, window=window)
    assert fast == slow and fast["labelled"] > 800
    assert fast["predictions"] == len(set(zip(ids, rows, strict=True)))
    assert estimate(arrow_frame, CLASSES) == estimate(plain, CLASSES)
