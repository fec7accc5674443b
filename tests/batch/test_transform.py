"""Batch transform end to end, in-process: every format in and out, joins, filters, layouts, SageMaker options."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelport.client import Client
from modelport.errors import InvalidArgument, NotFound
from tests.batch.conftest import (
    FEATURES,
    BatchHome,
    read_output,
    write_csv,
    write_jsonl,
    write_parquet,
)

INPUTS = ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]


def _write(frame: pd.DataFrame, path: Path, kind: str) -> Path:
    if kind.startswith("csv"):
        return write_csv(frame, path, gz=kind.endswith(".gz"))
    if kind.startswith("jsonl"):
        write_jsonl(frame, path)
        if kind.endswith(".gz"):
            path.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
        return path
    return write_parquet(frame, path)


def _check(out: pd.DataFrame, home: BatchHome, frame: pd.DataFrame | None = None) -> None:
    frame = home.frame if frame is None else frame
    expected = home.expected(frame)
    assert list(out["id"]) == list(frame["id"])  # every record, in input order
    assert list(out["label"]) == list(expected["label"])
    np.testing.assert_allclose(out["proba_1"], expected["proba_1"], rtol=1e-6)


@pytest.mark.parametrize("source", INPUTS)
@pytest.mark.parametrize("target", ["csv", "jsonl", "parquet"])
def test_every_input_format_to_every_output_format(
    client: Client, batch_home: BatchHome, tmp_path: Path, source: str, target: str
) -> None:
    path = _write(batch_home.frame, tmp_path / f"in.{source}", source)
    out = tmp_path / f"out.{target}"
    job = client.transform(
        "iris:1", str(path), str(out), join_input=True, output_filter="id,label,proba_1", max_payload_mb=0.004
    )
    assert job.status == "completed"
    assert job.progress.records == job.progress.rows_written == len(batch_home.frame)
    assert job.progress.blocks_done > 3  # many blocks, still in order
    assert job.outputs == [str(out)]
    result = read_output(out, target)
    assert list(result.columns) == ["id", "label", "proba_1"]
    _check(result, batch_home)


def test_join_keeps_input_text_and_adds_predictions(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    frame = batch_home.frame.head(5)
    path = write_csv(frame, tmp_path / "in.csv")
    client.transform("iris:1", str(path), str(tmp_path / "out.csv"), join_input=True)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "id,sl,sw,pl,pw,label,proba_0,proba_1,proba_2"
    original = path.read_text().splitlines()
    for src, got in zip(original[1:], lines[1:], strict=True):
        assert got.startswith(src + ",")  # the input record, as written, then its predictions


def test_predictions_only_by_default(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    path = write_csv(batch_home.frame, tmp_path / "in.csv")
    client.transform("iris", str(path), str(tmp_path / "out.csv"))
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["label", "proba_0", "proba_1", "proba_2"]
    assert list(out["label"]) == list(batch_home.expected()["label"])


def test_an_alias_is_pinned_when_the_job_is_created(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    client.models.set_alias("iris", "champion", 1)
    path = write_csv(batch_home.frame.head(10), tmp_path / "in.csv")
    job = client.transform("iris@champion", str(path), str(tmp_path / "o.csv"))
    assert (job.model, job.spec.model) == ("iris:1", "iris@champion")


def test_headerless_csv_with_an_input_filter_feeds_an_onnx_tensor(
    client: Client, batch_home: BatchHome, tmp_path: Path
) -> None:
    """SageMaker's classic: CSV without header, ``$[1:]`` drops the id, JoinSource=Input, ``$[0,-1]``."""
    path = write_csv(batch_home.frame, tmp_path / "in.csv", header=False)
    out = tmp_path / "out.csv"
    job = client.transform(
        "iris-onnx:1",
        str(path),
        str(out),
        content_type="text/csv",
        input_filter="$[1:]",
        join_input=True,
        output_filter="$[0,-1]",
        max_payload_mb=0.003,
    )
    assert job.status == "completed"
    result = pd.read_csv(out, header=None)
    assert list(result[0]) == list(batch_home.frame["id"])  # no header in, no header out
    x = batch_home.frame[FEATURES].to_numpy(np.float32)
    np.testing.assert_allclose(result[1], batch_home.tensor_model.predict_proba(x)[:, 2], atol=1e-5)


def test_header_is_detected_and_can_be_forced(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    frame = batch_home.frame.head(20)
    with_header = write_csv(frame, tmp_path / "h.csv")
    job = client.transform("iris:1", str(with_header), str(tmp_path / "h.out.csv"), content_type="text/csv; header=present")
    assert job.progress.records == 20
    with pytest.raises(InvalidArgument, match="input filter .* there is no column 'sl'"):
        client.transform("iris:1", str(with_header), str(tmp_path / "x.csv"), header=False, input_filter="sl,sw,pl,pw")


def test_json_arrays_and_a_feature_list(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    frame = batch_home.frame.head(50)
    arrays = tmp_path / "rows.jsonl"
    arrays.write_text("".join(f"[{','.join(map(str, r))}]\n" for r in frame[FEATURES].itertuples(index=False)))
    job = client.transform("iris:1", str(arrays), str(tmp_path / "rows.out.jsonl"))
    assert job.progress.records == 50
    nested = tmp_path / "nested.jsonl"
    nested.write_text(
        "".join(
            f'{{"id": "{i}", "features": [{",".join(map(str, r))}]}}\n'
            for i, r in zip(frame["id"], frame[FEATURES].itertuples(index=False), strict=True)
        )
    )
    out = tmp_path / "nested.out.jsonl"
    client.transform("iris-onnx:1", str(nested), str(out), input_filter="$.features", join_input=True, output_filter="id,label")
    result = pd.read_json(out, lines=True, dtype={"id": str})
    assert list(result.columns) == ["id", "label"]
    assert list(result["id"]) == list(frame["id"])
    assert list(result["label"]) == list(batch_home.tensor_model.predict(frame[FEATURES].to_numpy(np.float32)))


def test_one_output_per_input_object(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "2026-11").mkdir(parents=True)
    a, b = batch_home.frame.iloc[:100], batch_home.frame.iloc[100:250]
    write_csv(a, folder / "a.csv")
    write_csv(b, folder / "2026-11" / "b.csv.gz", gz=True)
    (folder / ".hidden.csv").write_text("not,data\n")
    (folder / "_SUCCESS").write_text("")
    job = client.transform("iris:1", str(folder), str(tmp_path / "preds") + "/", join_input=True, max_payload_mb=0.002)
    assert job.progress.inputs == job.progress.inputs_done == 2
    assert sorted(p.relative_to(tmp_path / "preds").as_posix() for p in (tmp_path / "preds").rglob("*")) == [
        "2026-11",
        "2026-11/b.csv.gz.out",
        "a.csv.out",
    ]
    _check(pd.read_csv(tmp_path / "preds" / "a.csv.out", dtype={"id": str}), batch_home, a)
    _check(pd.read_csv(tmp_path / "preds" / "2026-11" / "b.csv.gz.out", dtype={"id": str}), batch_home, b)
    assert not (batch_home.home / "jobs" / job.id).exists()  # the staging area is gone


def test_a_glob_assembled_into_one_gzipped_output(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    parts = [batch_home.frame.iloc[i : i + 150] for i in range(0, 600, 150)]
    for i, part in enumerate(parts):
        write_csv(part, tmp_path / f"part-{i}.csv")
    write_csv(parts[0], tmp_path / "other.csv")
    out = tmp_path / "all.csv.gz"
    job = client.transform("iris:1", str(tmp_path / "part-*.csv"), str(out), join_input=True, output_filter="id,label,proba_1")
    assert job.progress.inputs == 4
    text = gzip.decompress(out.read_bytes()).decode()
    assert text.count("id,label,proba_1") == 1  # one header for the assembled output
    _check(pd.read_csv(tmp_path / "all.csv.gz", dtype={"id": str}), batch_home)


def test_split_none_and_single_records_give_the_same_predictions(
    client: Client, batch_home: BatchHome, tmp_path: Path
) -> None:
    frame = batch_home.frame.head(40)
    path = write_csv(frame, tmp_path / "in.csv")
    outs = {}
    for name, options in {
        "multi": {},
        "single": {"batch_strategy": "SingleRecord"},
        "whole": {"split": "None"},
    }.items():
        client.transform("iris:1", str(path), str(tmp_path / f"{name}.csv"), join_input=True, **options)
        outs[name] = (tmp_path / f"{name}.csv").read_bytes()
    assert outs["multi"] == outs["whole"]
    single = pd.read_csv(tmp_path / "single.csv")
    np.testing.assert_allclose(single["proba_1"], pd.read_csv(tmp_path / "multi.csv")["proba_1"], rtol=1e-9)
    with pytest.raises(InvalidArgument, match=r"over the max payload .* use --split line"):
        client.transform("iris:1", str(path), str(tmp_path / "x.csv"), split="none", max_payload_mb=0.0001)


def test_empty_inputs_give_empty_outputs(client: Client, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("sl,sw,pl,pw\n5.1,3.5,1.4,0.2\n")
    (tmp_path / "in" / "b.csv").write_text("sl,sw,pl,pw\n")
    job = client.transform("iris:1", str(tmp_path / "in"), str(tmp_path / "out/"))
    assert job.progress.records == 1
    assert (tmp_path / "out" / "b.csv.out").read_text() == "label,proba_0,proba_1,proba_2\n"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": "nope:1"}, NotFound, "model 'nope' does not exist"),
        ({"input": "missing/"}, NotFound, "input 'missing/' does not exist"),
        ({"output_filter": "id"}, InvalidArgument, "output filter 'id': there is no column 'id'"),
        ({"input_filter": "$[1:3]"}, InvalidArgument, r"the model takes 4 input column\(s\)"),
        ({"content_type": "text/xml"}, InvalidArgument, "unsupported content type 'text/xml'"),
        ({"split": "RecordIO"}, InvalidArgument, r"invalid transform: split: Input should be 'line' or 'none'"),
        ({"output": "out.parquet.gz"}, InvalidArgument, "Parquet is compressed inside the file"),
    ],
)
def test_mistakes_are_refused_before_a_job_exists(
    client: Client, batch_home: BatchHome, tmp_path: Path, kwargs: dict[str, str], error: type, message: str
) -> None:
    write_csv(batch_home.frame.head(5), tmp_path / "in.csv")
    before = len(client.jobs.list(limit=1000).items)
    args = {"model": "iris:1", "input": str(tmp_path / "in.csv"), "output": str(tmp_path / "o.csv"), **kwargs}
    if kwargs.get("input") == "missing/":
        args["input"] = "missing/"
    with pytest.raises(error, match=message):
        client.transform(args.pop("model"), args.pop("input"), args.pop("output"), **args)
    assert len(client.jobs.list(limit=1000).items) == before


def test_mixed_formats_are_refused(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    write_csv(batch_home.frame.head(5), tmp_path / "a.csv")
    write_jsonl(batch_home.frame.head(5), tmp_path / "b.jsonl")
    with pytest.raises(InvalidArgument, match=r"the inputs mix formats \(a.csv \(csv\), b.jsonl \(jsonl\)\)"):
        client.transform("iris:1", str(tmp_path), str(tmp_path / "out/"))
