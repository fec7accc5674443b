"""Ground truth: parsing what callers send, the upsert store on SQLite and PostgreSQL, the service's checks."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from modelport.errors import InvalidArgument, NotFound, UnsupportedMediaType
from modelport.monitoring.feedback import (
    FeedbackRecord,
    FeedbackStore,
    check_labels,
    parse_body,
    parse_csv,
    parse_json,
    parse_jsonl,
    read_file,
    records_from,
)
from modelport.services import Services

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# -- parsing ---------------------------------------------------------------------


def test_json_records_in_both_shapes_with_optional_timestamps() -> None:
    body = b'[{"inference_id": "a", "label": "yes"}, {"inference_id": "b", "label": [1, 0, null], "timestamp": "2024-05-01T12:00:00Z"}]'
    recs = parse_json(body)
    assert [(r.inference_id, r.label, r.event_time) for r in recs] == [("a", "yes", None), ("b", [1, 0, None], T0)]
    assert parse_json(b'{"records": [{"inference_id": "c", "label": 2.5, "timestamp": 1714564800}]}') == [
        FeedbackRecord("c", 2.5, T0, "record 1")
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"inference_id": "a"}', "feedback must be a JSON list of records"),
        (
            b'[{"inference_id": "a", "label": 1}, {"inference_id": "b", "label": {"x": 1}}]',
            "record 2: the label must be a string, number or boolean (or a list of them), not an object",
        ),
        (
            b'[{"inference_id": "a", "label": [1, {"x": 1}]}]',
            "record 1: label [1] must be a string, number or boolean, not an object",
        ),
        (b'[{"inference_id": "a", "label": null}]', "record 1: no label"),
        (b'[{"inference_id": "a", "label": []}]', "record 1: the label is an empty list"),
        (b'[{"inference_id": "a"}]', "record 1: no 'label'"),
        (b'[{"label": 1}]', "record 1: no 'inference_id'"),
        (b'[{"inference_id": "", "label": 1}]', "record 1: the inference id must be a non-empty string"),
        (b'[{"inference_id": ["a"], "label": 1}]', "record 1: the inference id must be a non-empty string, not a list"),
        (
            b'[{"inference_id": "a", "label": 1, "timestamp": "yesterday"}]',
            "record 1: timestamp str 'yesterday' is neither ISO 8601",
        ),
        (b'[{"inference_id": "a", "label": NaN}]', "feedback is not valid JSON"),
        (b"[3]", "record 1: expected an object"),
    ],
)
def test_malformed_json_names_the_record(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        parse_json(body)


def test_a_bad_record_carries_its_index_for_remote_callers() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_json(b'[{"inference_id": "a", "label": 1}, {"inference_id": "b", "label": {}}]')
    assert info.value.details == {
        "index": 1,
        "reason": "the label must be a string, number or boolean (or a list of them), not an object",
    }


def test_csv_with_default_and_custom_columns() -> None:
    text = 'inference_id,label,timestamp\na,1,2024-05-01T12:00:00+00:00\nb,"[0, 1]",\n\n'
    recs = parse_csv(text)
    assert [(r.inference_id, r.label, r.event_time, r.where) for r in recs] == [
        ("a", "1", T0, "line 2"),
        ("b", [0, 1], None, "line 3"),
    ]
    custom = parse_csv(
        "id,truth,when\nx,cat,1714564800\n", id_column="id", label_column="truth", timestamp_column="when"
    )
    assert custom == [FeedbackRecord("x", "cat", T0, "line 2")]
    with pytest.raises(
        InvalidArgument, match=r"the feedback CSV has no column 'inference_id' \(--id-column\); its columns: id, truth"
    ):
        parse_csv("id,truth\nx,1\n")
    with pytest.raises(InvalidArgument, match=r"no column 'when' \(--timestamp-column\)"):
        parse_csv("inference_id,label\nx,1\n", timestamp_column="when")
    with pytest.raises(InvalidArgument, match="line 3: no label"):
        parse_csv("inference_id,label\nx,1\ny,\n")
    with pytest.raises(InvalidArgument, match="line 2: 3 fields, the header has 2"):
        parse_csv("inference_id,label\nx,1,2\n")


def test_jsonl_and_sagemaker_ground_truth_records() -> None:
    lines = (
        b'{"inference_id": "a", "label": 1}\n\n'
        b'{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "b"}, "eventVersion": "0"}\n'
        b'{"groundTruthData": {"data": "[2, 3]", "encoding": "JSON"}, "eventMetadata": {"eventId": "c"}}\n'
    )
    assert [(r.inference_id, r.label, r.where) for r in parse_jsonl(lines)] == [
        ("a", 1, "line 1"),
        ("b", "1", "line 3"),
        ("c", [2, 3], "line 4"),
    ]
    with pytest.raises(InvalidArgument, match="line 2: not valid JSON"):
        parse_jsonl(b'{"inference_id": "a", "label": 1}\n{oops\n')


def test_body_by_content_type() -> None:
    assert len(parse_body(b"inference_id,label\na,1\n", "text/csv; charset=utf-8")) == 1
    assert len(parse_body(b'[{"inference_id": "a", "label": 1}]', "application/json")) == 1
    assert len(parse_body(b'{"inference_id": "a", "label": 1}\n', "application/x-ndjson")) == 1
    with pytest.raises(UnsupportedMediaType, match="send application/json, application/jsonlines or text/csv"):
        parse_body(b"x", "application/xml")


def test_files_frames_and_lists(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("inference_id,label\na,1\n")
    (tmp_path / "l.json").write_text('[{"inference_id": "a", "label": 1}]')
    (tmp_path / "l.jsonl").write_text('{"inference_id": "a", "label": 1}\n')
    for name in ("l.csv", "l.json", "l.jsonl"):
        assert [r.inference_id for r in read_file(tmp_path / name)] == ["a"]
    (tmp_path / "l.txt").write_text("x")
    with pytest.raises(InvalidArgument, match="expected a .csv, .json or .jsonl file"):
        read_file(tmp_path / "l.txt")
    frame = pd.DataFrame({"inference_id": ["a", "b"], "label": [1.5, 2.0], "timestamp": [pd.Timestamp(T0), pd.NaT]})
    assert [(r.label, r.event_time) for r in records_from(frame)] == [(1.5, T0), (2.0, None)]
    assert records_from([{"inference_id": 7, "label": True}]) == [FeedbackRecord("7", True, None, "record 1")]
    with pytest.raises(InvalidArgument, match="cannot send feedback from a int"):
        records_from(3)


def test_regression_labels_must_be_numbers() -> None:
    recs = parse_csv('inference_id,label\na,1.5\nb,"[2, null]"\nc,tall\n')
    with pytest.raises(
        InvalidArgument, match=r"line 4: label str 'tall' is not a number \(endpoint 'ep' serves a regression model\)"
    ):
        check_labels(recs, "regression", "ep")
    assert [r.label for r in check_labels(recs[:2], "regression", "ep")] == [1.5, [2.0, None]]
    assert check_labels(recs, "classification", "ep") == recs


# -- the store ---------------------------------------------------------------------


def test_upsert_latest_label_wins_and_counts_updates(services: Services) -> None:
    store = FeedbackStore(services.db)
    first = store.upsert("ep", [FeedbackRecord("a", 1), FeedbackRecord("b", 0), FeedbackRecord("a", 0)], now=T0)
    assert first.to_json() == {"received": 3, "updated": 1}  # "a" twice in one request: the second wins
    second = store.upsert(
        "ep", [FeedbackRecord("b", [1, 1], T0), FeedbackRecord("c", "x")], now=T0 + timedelta(hours=1)
    )
    assert second.to_json() == {"received": 2, "updated": 1}
    store.upsert("other", [FeedbackRecord("a", 9)], now=T0)
    frame = store.labels_for("ep", ["a", "b", "c", "zzz"]).sort_values("inference_id")
    assert frame["label"].tolist() == [0, [1, 1], "x"]
    assert frame["event_time"].tolist()[1] == pd.Timestamp(T0)
    assert frame["received_at"].tolist() == [pd.Timestamp(T0)] + [pd.Timestamp(T0 + timedelta(hours=1))] * 2
    assert store.count("ep") == 3 and store.count("other") == 1


def test_window_reads_labels_received_since_it_began_or_stamped_inside(services: Services) -> None:
    store = FeedbackStore(services.db)
    store.upsert("ep", [FeedbackRecord("old", 1)], now=T0 - timedelta(days=2))
    store.upsert("ep", [FeedbackRecord("old-stamped", 1, T0 + timedelta(minutes=5))], now=T0 - timedelta(days=2))
    store.upsert("ep", [FeedbackRecord("late", 1)], now=T0 + timedelta(days=1))
    frame = store.window("ep", T0, T0 + timedelta(hours=1))
    assert sorted(frame["inference_id"]) == ["late", "old-stamped"]
    empty = store.window("nothing", T0, T0 + timedelta(hours=1))
    assert list(empty.columns) == ["inference_id", "label", "event_time", "received_at"] and empty.empty


def test_upsert_of_100k_labels_is_fast(services: Services) -> None:
    store = FeedbackStore(services.db)
    records = [FeedbackRecord(f"id-{i:06d}", i % 3) for i in range(100_000)]
    start = time.perf_counter()
    assert store.upsert("ep", records).to_json() == {"received": 100_000, "updated": 0}
    first = time.perf_counter() - start
    start = time.perf_counter()
    assert store.upsert("ep", records[:50_000]).to_json() == {"received": 50_000, "updated": 50_000}
    again = time.perf_counter() - start
    assert store.count("ep") == 100_000
    assert first < 20 and again < 15, (first, again)  # a few seconds on a shared 2-core machine


def test_feedback_and_alert_tables_match_the_migration(settings: object, services: Services) -> None:
    """tables.py and migration 0007 describe the same feedback and monitor_alerts tables."""
    import sqlalchemy as sa

    from modelport.db.tables import feedback_table, monitor_alerts_table

    with services.db.read_engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in (feedback_table, monitor_alerts_table):
            assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.c.keys())
            indexes = {tuple(i["column_names"]) for i in inspector.get_indexes(table.name) if not i.get("unique")}
            assert indexes == {tuple(c.name for c in i.columns) for i in table.indexes if not i.unique}


# -- the service ---------------------------------------------------------------------


@pytest.fixture
def regressor_file(tmp_path: Path) -> Path:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LinearRegression

    x, y = load_iris(return_X_y=True)
    path = tmp_path / "reg.joblib"
    joblib.dump(LinearRegression().fit(x, y.astype(float)), path)
    return path


def test_service_checks_the_endpoint_and_its_task(services: Services, model_file: Path, regressor_file: Path) -> None:
    services.registry.register(model_file, "iris")
    services.registry.register(regressor_file, "size")
    services.endpoints.create("cls", [{"name": "a", "requested": "iris:1"}], created_by="me")
    services.endpoints.create("reg", [{"name": "a", "requested": "size:1"}], created_by="me")
    assert services.feedback.task("cls") == "classification" and services.feedback.task("reg") == "regression"
    assert services.feedback.send("cls", parse_csv("inference_id,label\na,setosa\n")).received == 1
    with pytest.raises(InvalidArgument, match="line 2: label str 'setosa' is not a number"):
        services.feedback.send("reg", parse_csv("inference_id,label\na,setosa\n"))
    assert services.feedback.send("reg", parse_csv("inference_id,label\na,1.25\n")).received == 1
    assert services.feedback.store.labels_for("reg", ["a"])["label"].tolist() == [1.25]  # stored as a number
    with pytest.raises(NotFound, match="endpoint 'nope' does not exist"):
        services.feedback.send("nope", [FeedbackRecord("a", 1)])


def test_times_are_stored_as_sqlalchemy_writes_them(services: Services) -> None:
    """The bulk path binds times itself: a window boundary on a whole second must still compare right."""
    store = FeedbackStore(services.db)
    store.upsert("ep", [FeedbackRecord("on-the-edge", 1, T0)], now=T0 - timedelta(days=3))
    store.upsert("ep", [FeedbackRecord("just-before", 1, T0 - timedelta(microseconds=1))], now=T0 - timedelta(days=3))
    assert store.window("ep", T0, T0 + timedelta(hours=1))["inference_id"].tolist() == ["on-the-edge"]
    assert sorted(store.window("ep", T0 - timedelta(days=3), T0)["inference_id"]) == ["just-before", "on-the-edge"]


def test_csv_the_csv_module_cannot_read_is_a_caller_mistake() -> None:
    with pytest.raises(InvalidArgument, match=r"^feedback CSV line 2: field larger than field limit"):
        parse_csv("inference_id,label\n" + "x" * 200_000 + ",1\n")
    with pytest.raises(InvalidArgument, match="line 2: the inference id holds a NUL character"):
        parse_csv("inference_id,label\na\x00b,1\n")
    with pytest.raises(InvalidArgument, match="feedback CSV is not UTF-8"):
        parse_csv(b"inference_id,label\n\xff,1\n")


def test_labels_read_back_from_the_store_feed_the_quality_report(services: Services) -> None:
    """parse → store → window → assess, on both databases: the types the database returns join as sent."""
    from modelport.monitoring.quality import assess

    store = FeedbackStore(services.db)
    text = 'inference_id,label,timestamp\nr1,1,\nr2,"[0, null]",\nghost,1,2024-05-01T12:30:00Z\nlate,0,2024-05-01T15:00:00Z\n'
    store.upsert("ep", parse_csv(text), now=T0 + timedelta(hours=2))
    predictions = pd.DataFrame(
        {
            "inference_id": ["r1", "r2", "r2", "r3"],
            "time": [T0 + timedelta(minutes=m) for m in (1, 2, 2, 3)],
            "row": [0, 0, 1, 0],
            "label": ["1", "1", "0", "0"],
            "prediction": [None] * 4,
            "scores": [[0.2, 0.8], [0.4, 0.6], [0.7, 0.3], [0.9, 0.1]],
        }
    )
    window = (T0, T0 + timedelta(hours=1))
    report = assess(predictions, store.window("ep", *window), task="classification", classes=[0, 1], window=window)
    assert (report["labelled"], report["coverage"], report["unmatched"]) == (2, 0.5, 1)  # "late" is another window's
    assert report["confusion_matrix"] == {"labels": ["0", "1"], "matrix": [[0, 1], [0, 1]]}
