"""Bad records: ``--on-error fail`` stops at one and names it; ``skip`` leaves them out and lists them."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from modelport.client import Client
from modelport.errors import InvalidArgument
from tests.batch.conftest import BatchHome, write_csv, write_parquet


def _bad_csv(home: BatchHome, path: Path) -> Path:
    write_csv(home.frame, path)
    lines = path.read_text().splitlines()
    lines[5] = "r0004,5.1,abc,1.4,0.2"  # not a number (line 6 of the file: the header is line 1)
    lines[101] = "r0100,5.1,3.5"  # too few fields
    lines[400] = "r0399,5.1,,1.4,0.2"  # a missing value the model's signature does not allow
    lines.insert(250, "")  # a blank line is no record, and no error
    path.write_text("\n".join(lines) + "\n")
    return path


def test_skip_leaves_bad_records_out_and_lists_them(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    path = _bad_csv(batch_home, tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    job = client.transform(
        "iris:1", str(path), str(out), join_input=True, on_error="skip", max_payload_mb=0.002, output_filter="id,label"
    )
    assert job.status == "completed"
    assert (job.progress.records, job.progress.bad_records, job.progress.rows_written) == (600, 3, 597)
    assert job.errors_file == f"{out}.errors.csv"
    with open(job.errors_file, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["input", "row", "reason"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == [("in.csv", 6), ("in.csv", 102), ("in.csv", 402)]
    assert rows[1][2] == "column 'sw': 'abc' is not a number (float64)"
    assert "Expected 5 columns, got 3" in rows[2][2]
    assert rows[3][2] == "column 'sw': missing value (NaN), and this column does not allow missing values"
    result = pd.read_csv(out)
    assert "r0004" not in set(result["id"]) and len(result) == 597
    good = batch_home.frame[~batch_home.frame["id"].isin(["r0004", "r0100", "r0399"])]
    assert list(result["id"]) == list(good["id"])
    assert list(result["label"]) == list(batch_home.expected(good)["label"])


def test_fail_stops_at_the_first_bad_record(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    path = _bad_csv(batch_home, tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    with pytest.raises(InvalidArgument, match=r"transform job tj-\w+ failed: in.csv row 6: column 'sw': 'abc' is not a number \(float64\)"):
        client.transform("iris:1", str(path), str(out), max_payload_mb=0.002)
    assert not out.exists()
    failed = client.jobs.list(status="failed").items[0]
    assert failed.failure_code == "INVALID_ARGUMENT"
    assert "use --on-error skip" in (failed.failure_reason or "")


def test_bad_parquet_rows_are_numbered_by_row(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    frame = batch_home.frame.copy()
    frame.loc[[3, 450], "pl"] = float("nan")
    path = write_parquet(frame, tmp_path / "in.parquet", row_group_size=128)
    job = client.transform("iris:1", str(path), str(tmp_path / "out/"), on_error="skip", max_payload_mb=0.001)
    assert job.progress.bad_records == 2
    errors = pd.read_csv(tmp_path / "out" / "modelport-errors.csv")
    assert list(errors["row"]) == [4, 451]
    assert len(pd.read_parquet(tmp_path / "out" / "in.parquet.out")) == 598


def test_bad_json_lines(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"sl": 5.1, "sw": 3.5, "pl": 1.4, "pw": 0.2}\n'
        "{not json}\n"
        '{"sl": "x", "sw": 3.5, "pl": 1.4, "pw": 0.2}\n'
        '{"sl": 6.7, "sw": 3.0, "pl": 5.2, "pw": 2.3}\n'
    )
    job = client.transform("iris:1", str(path), str(tmp_path / "out.jsonl"), on_error="skip")
    assert (job.progress.records, job.progress.bad_records) == (4, 2)
    errors = pd.read_csv(str(tmp_path / "out.jsonl") + ".errors.csv")
    assert list(errors["row"]) == [2, 3]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
