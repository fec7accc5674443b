"""Jobs reading from and writing to S3 (a real S3-compatible server on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import s3fs

from modelport.batch.outputs import atomic_writer
from modelport.client import Client
from modelport.settings import Settings
from tests import infra
from tests.batch.conftest import BatchHome, write_csv, write_parquet

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(s3: infra.S3Server) -> str:
    return s3.create_bucket()


@pytest.fixture
def fs(s3: infra.S3Server) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3.url}, use_listings_cache=False)


@pytest.fixture
def s3_client(batch_home: BatchHome, s3: infra.S3Server) -> Iterator[Client]:
    c = Client(settings=Settings(home=batch_home.home, s3_endpoint_url=s3.url))
    yield c
    c.close()


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_prefix_to_a_prefix_matches_the_local_run(
    s3_client: Client, batch_home: BatchHome, fs: s3fs.S3FileSystem, bucket: str, tmp_path: Path, engine: str
) -> None:
    local_in = tmp_path / "in"
    (local_in / "day=2").mkdir(parents=True)
    write_csv(batch_home.frame.iloc[:250], local_in / "a.csv")
    write_csv(batch_home.frame.iloc[250:], local_in / "day=2" / "b.csv.gz", gz=True)
    fs.put(str(local_in) + "/", f"{bucket}/in/", recursive=True)
    options = {"join_input": True, "max_payload_mb": 0.003, "engine": engine}
    job = s3_client.transform("iris:1", f"s3://{bucket}/in/", f"s3://{bucket}/out/", **options)
    assert job.status == "completed"
    assert job.outputs == [f"s3://{bucket}/out/a.csv.out", f"s3://{bucket}/out/day=2/b.csv.gz.out"]
    s3_client.transform("iris:1", str(local_in), str(tmp_path / "out/"), **options)
    for rel in ("a.csv.out", "day=2/b.csv.gz.out"):
        assert fs.cat_file(f"{bucket}/out/{rel}") == (tmp_path / "out" / rel).read_bytes()
    assert sorted(fs.find(f"{bucket}/out")) == [f"{bucket}/out/a.csv.out", f"{bucket}/out/day=2/b.csv.gz.out"]


def test_parquet_from_s3_to_one_filtered_output(
    s3_client: Client, batch_home: BatchHome, fs: s3fs.S3FileSystem, bucket: str, tmp_path: Path
) -> None:
    write_parquet(batch_home.frame, tmp_path / "in.parquet", row_group_size=200)
    fs.put_file(str(tmp_path / "in.parquet"), f"{bucket}/in.parquet")
    out = f"s3://{bucket}/out/preds.parquet"
    job = s3_client.transform("iris:1", f"s3://{bucket}/in.parquet", out, join_input=True, output_filter="id,label,proba_1")
    assert job.progress.records == 600
    with fs.open(out, "rb") as fh:
        result = pd.read_parquet(fh)
    assert list(result.columns) == ["id", "label", "proba_1"]
    assert list(result["id"]) == list(batch_home.frame["id"])
    assert list(result["label"]) == list(batch_home.expected()["label"])


def test_a_key_prefix_selects_objects_like_sagemaker(
    s3_client: Client, batch_home: BatchHome, fs: s3fs.S3FileSystem, bucket: str, tmp_path: Path
) -> None:
    for i in range(2):
        write_csv(batch_home.frame.iloc[i * 10 : i * 10 + 10], tmp_path / f"p{i}.csv")
        fs.put_file(str(tmp_path / f"p{i}.csv"), f"{bucket}/data/part-{i}.csv")
    fs.put_file(str(tmp_path / "p0.csv"), f"{bucket}/data/other.csv")
    job = s3_client.transform("iris:1", f"s3://{bucket}/data/part-", f"s3://{bucket}/scored.csv")
    assert (job.progress.inputs, job.progress.records) == (2, 20)
    assert fs.cat_file(f"{bucket}/scored.csv").count(b"\n") == 21


def test_an_s3_output_is_invisible_until_complete(s3: infra.S3Server, fs: s3fs.S3FileSystem, bucket: str) -> None:
    url = f"s3://{bucket}/big.csv"
    with pytest.raises(RuntimeError), atomic_writer(url, s3.url) as sink:
        sink.write(b"x" * (17 * 1024 * 1024))  # past one multipart part: an upload is under way
        assert not fs.exists(url)
        raise RuntimeError("the job died here")
    assert not fs.exists(url)
    with atomic_writer(url, s3.url) as sink:
        sink.write(b"complete\n")
    assert fs.cat_file(url) == b"complete\n"
