"""The Dask engine on a real local cluster: the same blocks, so the same bytes as the local engine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelport.client import Client
from modelport.errors import InvalidArgument
from tests.batch.conftest import BatchHome, write_csv, write_jsonl, write_parquet
from tests.batch.test_bad_rows import _bad_csv


def _both(client: Client, source: Path, out_name: str, tmp_path: Path, **options: object) -> tuple[bytes, bytes]:
    outs = []
    for engine in ("local", "dask"):
        out = tmp_path / engine / out_name
        job = client.transform("iris:1", str(source), str(out), engine=engine, **options)
        assert job.status == "completed", job.failure_reason
        outs.append(out.read_bytes())
    return outs[0], outs[1]


@pytest.mark.parametrize(
    ("name", "out_name", "options"),
    [
        ("in.csv", "out.csv", {"join_input": True}),
        ("in.csv.gz", "out.jsonl", {"join_input": True, "output_filter": "$[0,-1]"}),
        ("in.jsonl", "out.parquet", {"join_input": True}),
        ("in.parquet", "out.csv", {"output_filter": "label"}),
    ],
)
def test_dask_writes_what_the_local_engine_writes(
    client: Client, batch_home: BatchHome, tmp_path: Path, name: str, out_name: str, options: dict[str, object]
) -> None:
    path = tmp_path / name
    if name.startswith("in.csv"):
        write_csv(batch_home.frame, path, gz=name.endswith(".gz"))
    elif name.endswith(".jsonl"):
        write_jsonl(batch_home.frame, path)
    else:
        write_parquet(batch_home.frame, path, row_group_size=90)
    local, dask = _both(client, path, out_name, tmp_path, max_payload_mb=0.002, **options)
    assert local == dask
    assert len(local) > 1000


def test_bad_records_on_dask(client: Client, batch_home: BatchHome, tmp_path: Path) -> None:
    path = _bad_csv(batch_home, tmp_path / "in.csv")
    local, dask = _both(client, path, "out.csv", tmp_path, on_error="skip", max_payload_mb=0.002)
    assert local == dask
    assert (tmp_path / "local" / "out.csv.errors.csv").read_bytes() == (tmp_path / "dask" / "out.csv.errors.csv").read_bytes()
    with pytest.raises(InvalidArgument, match=r"in.csv row (6|102|402): "):
        client.transform("iris:1", str(path), str(tmp_path / "x.csv"), engine="dask", max_payload_mb=0.002)


@pytest.fixture
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0", silence_logs=logging.ERROR
    ) as cluster:
        yield cluster.scheduler_address


def test_an_external_scheduler(client: Client, batch_home: BatchHome, tmp_path: Path, scheduler: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_csv(batch_home.frame.iloc[:300], folder / "a.csv")
    write_csv(batch_home.frame.iloc[300:], folder / "b.csv")
    out = tmp_path / "preds"
    job = client.transform("iris:1", str(folder), f"{out}/", engine="dask", scheduler=scheduler, max_payload_mb=0.002)
    assert job.status == "completed"
    assert sorted(p.name for p in out.iterdir()) == ["a.csv.out", "b.csv.out"]  # the staging area beside it is gone
    client.transform("iris:1", str(folder), f"{tmp_path / 'ref'}/", max_payload_mb=0.002)
    assert (out / "b.csv.out").read_bytes() == (tmp_path / "ref" / "b.csv.out").read_bytes()
