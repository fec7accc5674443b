"""Capture files → per-minute profiles and a predictions table, decoded as the data plane decoded them."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest

from modelport.baseline import compute_baseline
from modelport.endpoints.config import CaptureConfig
from modelport.monitoring.capture import CaptureLocation, fold_file, fold_files
from modelport.monitoring.predictions import read_predictions
from modelport.monitoring.profiles import Reference, fold, merge_all
from modelport.serving.capture import CaptureEvent, RecordEncoder
from modelport.signature import ColumnSpec, Signature

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
SIGNATURE = Signature(
    inputs=(ColumnSpec("amount", "float64"), ColumnSpec("visits", "int64"), ColumnSpec("plan", "string")),
    outputs=(ColumnSpec("label", "string"), ColumnSpec("probabilities", "float64", (-1, 2))),
    extra={"classes": ["no", "yes"]},
)
ROWS = pd.DataFrame({"amount": [1.5, 20.0, 3.25, 7.0], "visits": [0, 3, 1, 2], "plan": ["free", "pro", "free", "team"]})


@pytest.fixture
def reference() -> Reference:
    rng = np.random.default_rng(0)
    sample = pd.DataFrame(
        {
            "amount": rng.lognormal(2, 1, 500),
            "visits": rng.integers(0, 5, 500),
            "plan": rng.choice(["free", "pro", "team"], 500),
        }
    )
    return Reference.from_baseline(compute_baseline(sample))


def event(
    body: bytes,
    ctype: str,
    reply: bytes | None = None,
    reply_type: str = "application/json",
    *,
    at: datetime = T0,
    inference_id: str = "id-1",
) -> CaptureEvent:
    return CaptureEvent(
        endpoint="churn",
        variant="a",
        config=CaptureConfig(enabled=True, capture_output=reply is not None),
        input_body=body,
        input_type=ctype,
        output_body=reply or b"",
        output_type=reply_type,
        inference_id=inference_id,
        time=at.timestamp(),
    )


def write(
    tmp_path: Path, events: list[CaptureEvent], name: str = "f1.jsonl", extra_lines: list[bytes] = ()
) -> CaptureLocation:
    folder = tmp_path / "churn" / "a" / T0.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    encoder = RecordEncoder()
    lines = [encoder.line(e) for e in events] + list(extra_lines)
    (folder / name).write_bytes(b"\n".join(lines) + b"\n")
    return CaptureLocation(str(tmp_path))


def only_file(location: CaptureLocation):  # type: ignore[no-untyped-def]
    files = location.files("churn", "a", T0 - timedelta(minutes=5), T0 + timedelta(hours=1))
    assert len(files) == 1
    return files[0]


def csv_rows(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, header=False).encode()


def expected(frame: pd.DataFrame, reference: Reference):  # type: ignore[no-untyped-def]
    return fold({c: frame[c].to_numpy() for c in frame}, reference.binning)


def same_counts(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.rows == b.rows
    for name in b.features:
        x, y = a.features[name], b.features[name]
        assert (x.count, x.missing, x.invalid, x.bins, x.categories, x.min, x.max) == (
            y.count,
            y.missing,
            y.invalid,
            y.bins,
            y.categories,
            y.min,
            y.max,
        ), name


def test_every_body_shape_callers_send_folds_to_the_rows_it_held(tmp_path: Path, reference: Reference) -> None:
    records = ROWS.to_dict(orient="records")
    split = {"dataframe_split": {"columns": list(ROWS.columns), "data": ROWS.to_numpy().tolist()}}
    parquet = io.BytesIO()
    ROWS.to_parquet(parquet)
    bodies = [
        (csv_rows(ROWS), "text/csv"),  # SageMaker's usual: no header, several rows
        (csv_rows(ROWS.iloc[:1]).rstrip(b"\n"), "text/csv"),  # no trailing newline
        (ROWS.to_csv(index=False).encode(), "text/csv"),  # with a header line
        (ROWS[["plan", "amount", "visits"]].to_csv(index=False).encode(), "text/csv"),  # header, other order
        (orjson.dumps({"instances": ROWS.to_numpy().tolist()}), "application/json"),
        (orjson.dumps({"dataframe_records": records}), "application/json"),
        (orjson.dumps(split), "application/json"),
        (orjson.dumps(records[0]), "application/json"),  # one record keyed by the input names
        (orjson.dumps({"inputs": {c: ROWS[c].tolist() for c in ROWS}}), "application/json"),  # columns
        (parquet.getvalue(), "application/vnd.apache.parquet"),  # BASE64 in the capture file
    ]
    location = write(tmp_path, [event(body, ctype, inference_id=f"id-{i}") for i, (body, ctype) in enumerate(bodies)])
    folded = fold_file(only_file(location), location, SIGNATURE, reference.binning)
    assert folded.undecodable == {} and folded.errors == {}
    held = pd.concat([ROWS, ROWS.iloc[:1], ROWS, ROWS, ROWS, ROWS, ROWS, ROWS.iloc[:1], ROWS, ROWS], ignore_index=True)
    assert list(folded.profiles) == ["2024-05-01T10:00"]
    same_counts(folded.profiles["2024-05-01T10:00"], expected(held, reference))


def test_records_that_cannot_be_decoded_are_counted_with_the_reason(tmp_path: Path, reference: Reference) -> None:
    good = [event(csv_rows(ROWS.iloc[[i]]), "text/csv", inference_id=f"ok-{i}") for i in range(4)]
    bad = [
        event(b"1.0,2,free,4\n", "text/csv"),  # a column too many
        event(b"abc,1,free\n", "text/csv"),  # text in a number column
        event(b'{"instances": [[1.0, 2, "free"]', "application/json"),  # broken JSON
        event(b'{"rows": []}', "application/json"),  # not a shape the codec knows
    ]
    location = write(tmp_path, [*good[:2], *bad, *good[2:]], extra_lines=[b"not json", b'{"captureData": {}}'])
    folded = fold_file(only_file(location), location, SIGNATURE, reference.binning)
    assert folded.records == 8
    assert folded.undecodable == {"2024-05-01T10:00": 6}  # 4 bodies + 2 lines that are no record
    assert any("CSV rows have 4 values" in m for m in folded.errors), folded.errors
    assert any("'amount'" in m for m in folded.errors), folded.errors
    assert any("invalid JSON" in m for m in folded.errors), folded.errors
    same_counts(folded.profiles["2024-05-01T10:00"], expected(ROWS, reference))


def test_rows_fold_into_the_minute_of_their_inference_time(tmp_path: Path, reference: Reference) -> None:
    events = [
        event(csv_rows(ROWS.iloc[:2]), "text/csv", at=T0),
        event(csv_rows(ROWS.iloc[2:3]), "text/csv", at=T0 + timedelta(seconds=50)),
        event(csv_rows(ROWS.iloc[3:]), "text/csv", at=T0 + timedelta(minutes=7)),
    ]
    location = write(tmp_path, events)
    folded = fold_file(only_file(location), location, SIGNATURE, reference.binning)
    assert sorted(folded.profiles) == ["2024-05-01T10:00", "2024-05-01T10:07"]
    same_counts(folded.profiles["2024-05-01T10:00"], expected(ROWS.iloc[:3], reference))
    same_counts(folded.profiles["2024-05-01T10:07"], expected(ROWS.iloc[3:], reference))
    assert (folded.first_at, folded.last_at) == (T0.replace(microsecond=0), T0 + timedelta(minutes=7))


def test_a_file_folds_to_the_same_numbers_alone_or_with_others(tmp_path: Path, reference: Reference) -> None:
    rng = np.random.default_rng(5)
    frames = []
    for k in range(3):
        frame = pd.DataFrame(
            {
                "amount": rng.lognormal(2, 1, 50),
                "visits": rng.integers(0, 5, 50),
                "plan": rng.choice(["free", "pro"], 50),
            }
        )
        frames.append(frame)
        events = [
            event(csv_rows(frame.iloc[i : i + 1]), "text/csv", at=T0 + timedelta(seconds=i))
            if i % 2
            else event(
                orjson.dumps({"instances": frame.iloc[i : i + 1].to_numpy().tolist()}),
                "application/json",
                at=T0 + timedelta(seconds=i),
            )
            for i in range(50)
        ]
        location = write(tmp_path, events, name=f"f{k}.jsonl")
    files = location.files("churn", "a", T0, T0 + timedelta(hours=1))
    together = list(fold_files(files, location, SIGNATURE, reference.binning))
    alone = [fold_file(f, location, SIGNATURE, reference.binning) for f in files]
    for a, b, frame in zip(together, alone, frames, strict=True):
        assert a.profiles.keys() == b.profiles.keys()
        for minute in a.profiles:
            assert a.profiles[minute].to_json() == b.profiles[minute].to_json()
        same_counts(merge_all(a.profiles.values(), reference.binning), expected(frame, reference))


def test_replies_become_a_predictions_table(tmp_path: Path, reference: Reference) -> None:
    csv_reply = b"no,0.9,0.1\nyes,0.2,0.8\n"
    json_reply = orjson.dumps({"predictions": [{"label": "yes", "probabilities": [0.3, 0.7]}]})
    header_reply = b"label,proba_no,proba_yes\nno,0.6,0.4\n"
    events = [
        event(csv_rows(ROWS.iloc[:2]), "text/csv", csv_reply, "text/csv; charset=utf-8", inference_id="r1"),
        event(csv_rows(ROWS.iloc[:1]), "text/csv", json_reply, "application/json", inference_id="r2"),
        event(csv_rows(ROWS.iloc[:1]), "text/csv", header_reply, "text/csv; charset=utf-8", inference_id="r3"),
        event(csv_rows(ROWS.iloc[:1]), "text/csv", b"garbage", "application/json", inference_id="r4"),
    ]
    location = write(tmp_path, events)
    folded = fold_file(only_file(location), location, SIGNATURE, reference.binning)
    table = pq.read_table(io.BytesIO(folded.predictions)).to_pylist()
    assert [(r["inference_id"], r["row"], r["label"], r["scores"]) for r in table] == [
        ("r1", 0, "no", [0.9, 0.1]),
        ("r1", 1, "yes", [0.2, 0.8]),
        ("r2", 0, "yes", [0.3, 0.7]),
        ("r3", 0, "no", [0.6, 0.4]),
    ]
    assert {r["time"] for r in table} == {T0.replace(microsecond=0)}
    assert any(m.startswith("reply: ") for m in folded.errors)
    assert read_predictions([folded.predictions, None]).num_rows == 4


def test_regression_replies_and_v2_bodies(tmp_path: Path) -> None:
    signature = Signature(
        inputs=(ColumnSpec("x", "float64"), ColumnSpec("y", "float64")), outputs=(ColumnSpec("prediction", "float64"),)
    )
    reference = Reference.from_baseline(compute_baseline(pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [1.0, 2.0, 3.0]})))
    v2 = orjson.dumps(
        {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 2], "data": [0.5, 1.5, 1.0, 2.0]}]}
    )
    v2_reply = orjson.dumps(
        {"model_name": "m", "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [2], "data": [3.5, 4.5]}]}
    )
    events = [
        event(b"0.0,1.0\n", "text/csv", b"2.5\n", "text/csv", inference_id="c"),
        event(
            orjson.dumps({"instances": [[1.0, 2.0]]}), "application/json", b'{"predictions":[7.25]}', inference_id="j"
        ),
        event(v2, "application/json", v2_reply, inference_id="v"),
        event(base64.b64decode(base64.b64encode(b"1.0,1.0\n")), "text/plain", None, inference_id="p"),
    ]
    location = write(tmp_path, events)
    folded = fold_file(only_file(location), location, signature, reference.binning)
    profile = folded.profiles["2024-05-01T10:00"]
    assert profile.rows == 4
    assert folded.undecodable == {"2024-05-01T10:00": 1}  # text/plain is no type the data plane takes
    table = pq.read_table(io.BytesIO(folded.predictions)).to_pylist()
    assert [(r["inference_id"], r["row"], r["prediction"], r["label"]) for r in table] == [
        ("c", 0, 2.5, None),
        ("j", 0, 7.25, None),
        ("v", 0, 3.5, None),
        ("v", 1, 4.5, None),
    ]


def test_the_window_lists_the_hour_folders_it_overlaps(tmp_path: Path) -> None:
    for hour in (9, 10, 11, 12):
        folder = tmp_path / "churn" / "a" / f"2024/05/01/{hour:02d}"
        folder.mkdir(parents=True)
        (folder / "x.jsonl").write_bytes(b"")
        (folder / ".x.jsonl.tmp.part").write_bytes(b"")
    location = CaptureLocation(str(tmp_path))
    files = location.files(
        "churn", "a", datetime(2024, 5, 1, 10, 30, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    )
    assert [f.hour.hour for f in files] == [10, 11]
    assert (
        location.files("churn", "b", datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 12, tzinfo=UTC)) == []
    )


def test_a_file_folds_to_what_decode_request_gives_record_by_record(tmp_path: Path) -> None:
    """Randomized capture (rows of numbers in JSON and CSV, other shapes, malformed bodies, multi-row requests,
    replies as the data plane writes them) folds to the profiles and predictions of decoding each record alone
    with the data plane's decode_request; undecodable records are counted with the same reasons."""
    import base64

    from modelport.errors import ModelportError
    from modelport.monitoring.payloads import Payloads
    from modelport.monitoring.profiles import fold_groups
    from modelport.monitoring.records import parse_lines
    from modelport.monitoring.replies import OutputDecoder
    from modelport.serving.codecs.request import decode_request
    from modelport.serving.codecs.response import encode_response
    from tests.monitoring.test_inputs import random_bodies

    signature = Signature(
        inputs=tuple(ColumnSpec(n, "float64") for n in "abcd"),
        outputs=(ColumnSpec("label", "int64"), ColumnSpec("probabilities", "float64", (-1, 2))),
        extra={"classes": [0, 1]},
    )
    rng = np.random.default_rng(11)
    sample = pd.DataFrame(rng.normal(0, 10, (400, 4)), columns=list("abcd"))
    reference = Reference.from_baseline(compute_baseline(sample))
    events = []
    for i, (body, ctype) in enumerate(random_bodies(rng, 4, 700)):
        proba = rng.dirichlet([1, 1], int(rng.integers(1, 3)))
        accept = str(rng.choice(["application/json", "text/csv"]))
        reply, reply_type = encode_response({"label": proba.argmax(axis=1), "probabilities": proba}, accept, [0, 1])
        at = T0 + timedelta(seconds=float(rng.integers(0, 300)))
        events.append(event(body, ctype, reply, reply_type, at=at, inference_id=f"r{i}"))
    location = write(tmp_path, events)
    folded = fold_file(only_file(location), location, signature, reference.binning)

    records, _ = parse_lines((tmp_path / "churn/a" / T0.strftime("%Y/%m/%d/%H") / "f1.jsonl").read_bytes())
    minutes = np.asarray(records.stamps).astype("datetime64[m]")
    columns: dict[str, dict[str, list[np.ndarray]]] = {}
    undecodable: dict[str, int] = {}
    errors: dict[str, int] = {}
    inputs = records.inputs
    for i in range(len(records)):
        data, ctype, encoding = inputs.data[i].as_py(), inputs.content_types[i].as_py(), inputs.encodings[i].as_py()
        body = base64.b64decode(data) if encoding == "BASE64" else data.encode()
        minute = str(minutes[i])
        try:
            batch = decode_request(body, ctype or None, signature, sniff_missing=True)
        except ModelportError as exc:
            undecodable[minute] = undecodable.get(minute, 0) + 1
            if exc.message in errors or len(errors) < 5:
                errors[exc.message] = errors.get(exc.message, 0) + 1
            continue
        for name in "abcd":
            columns.setdefault(minute, {}).setdefault(name, []).append(np.asarray(batch[name]))
    assert folded.undecodable == undecodable
    assert {m: n for m, n in folded.errors.items() if not m.startswith("reply")} == errors
    assert sorted(folded.profiles) == sorted(columns)
    for minute, parts in columns.items():
        joined = {name: np.concatenate(values) for name, values in parts.items()}
        (expected,) = fold_groups(joined, reference.binning, np.zeros(len(joined["a"]), dtype=np.int64), 1)
        assert folded.profiles[minute].to_json() == expected.to_json(), minute

    decoder = OutputDecoder(signature, arrow=False)
    expected_rows = []
    outputs = records.outputs
    for i in range(len(records)):
        alone = Payloads.of(
            [outputs.data[i].as_py()], [outputs.content_types[i].as_py()], [outputs.encodings[i].as_py()]
        )
        table = decoder.decode(alone).table()
        assert table is not None
        _, positions, labels, _, scores = table
        for p, label, score in zip(positions.tolist(), labels.to_pylist(), scores.to_pylist(), strict=True):
            expected_rows.append((f"r{i}", p, label, score))
    got = pq.read_table(io.BytesIO(folded.predictions)).to_pylist()
    assert [(r["inference_id"], r["row"], r["label"], r["scores"]) for r in got] == sorted(
        expected_rows, key=lambda r: (int(r[0][1:]), r[1])
    )


def test_a_file_that_disappears_fails_the_fold_and_stops_its_threads(tmp_path: Path, reference: Reference) -> None:
    import threading

    from modelport.errors import NotFound

    location = write(tmp_path, [event(csv_rows(ROWS), "text/csv")], name="a.jsonl")
    write(tmp_path, [event(csv_rows(ROWS), "text/csv")], name="b.jsonl")
    files = location.files("churn", "a", T0, T0 + timedelta(hours=1))
    Path(files[1].url).unlink()  # listed, then gone (a retention job)
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(NotFound, match="disappeared"):
        list(fold_files(files, location, SIGNATURE, reference.binning, batch_records=1))
    assert not {t.name for t in threading.enumerate()} - before

    # a consumer that stops early stops the threads too
    write(tmp_path, [event(csv_rows(ROWS), "text/csv")], name="b.jsonl")
    folded = fold_files(files, location, SIGNATURE, reference.binning, batch_records=1)
    assert next(folded).records == 1
    folded.close()
    assert not {t.name for t in threading.enumerate()} - before
