"""Environment problems are one line saying what to fix, never `unexpected …Error (please report this)`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import infra


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://"])
def test_postgres_urls_without_a_driver_are_accepted(
    cli, monkeypatch: pytest.MonkeyPatch, pg: infra.PostgresCluster, scheme: str
) -> None:  # type: ignore[no-untyped-def]
    url = pg.create_database().replace("postgresql+psycopg://", scheme)
    monkeypatch.setenv("MODELPORT_DATABASE_URL", url)
    code, out, err = cli("models", "list", "--json")
    assert code == 0, err
    assert json.loads(out)["items"] == []
    code, out, _ = cli("db", "current")
    assert code == 0 and out.startswith("postgresql+psycopg://postgres@127.0.0.1:")


def test_postgres_down_is_one_line_naming_host_and_port(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    port = infra.free_port()  # nothing listens there: a server that is down
    monkeypatch.setenv("MODELPORT_DATABASE_URL", f"postgres://modelport:secret@127.0.0.1:{port}/registry")
    code, out, err = cli("models", "list")
    assert (code, out) == (1, "")
    assert err.startswith(
        f"error: database postgresql+psycopg://modelport:***@127.0.0.1:{port}/registry is unavailable "
        f"(PostgreSQL at 127.0.0.1:{port}): "
    )
    assert err.count("\n") == 1 and "secret" not in err, err


@pytest.fixture
def no_aws_credentials(s3: infra.S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[infra.S3Server]:
    """A machine with no AWS credentials anywhere (no keys, no files, no instance role), and an S3 server."""
    import s3fs

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("MODELPORT_S3_ENDPOINT_URL", s3.url)
    s3fs.S3FileSystem.clear_instance_cache()  # fsspec reuses filesystems (and their credentials) across calls
    yield s3
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.mark.s3
def test_s3_without_credentials_says_what_to_set(
    cli, no_aws_credentials: infra.S3Server, monkeypatch: pytest.MonkeyPatch, model_file: Path
) -> None:  # type: ignore[no-untyped-def]
    import s3fs

    bucket = no_aws_credentials.create_bucket()
    monkeypatch.setenv("MODELPORT_ARTIFACTS", f"s3://{bucket}/mp")
    register = ("models", "register", str(model_file), "--name", "churn")
    code, out, err = cli(*register)
    assert (code, out) == (1, "")
    assert err == (
        f"error: artifact store s3://{bucket}/mp: no AWS credentials found: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or AWS_PROFILE to a profile in "
        "~/.aws/credentials, or run with an instance or task role\n"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    s3fs.S3FileSystem.clear_instance_cache()
    code, _, err = cli(*register)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(
        f"error: artifact store s3://{bucket}/mp: Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY: set "
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_PROFILE", "ops")
    s3fs.S3FileSystem.clear_instance_cache()
    code, _, err = cli(*register)
    assert code == 1
    assert err == (
        f"error: artifact store s3://{bucket}/mp: AWS_PROFILE='ops' is not a profile in ~/.aws/config or ~/.aws/credentials\n"
    )
    monkeypatch.delenv("AWS_PROFILE")
    for key, value in no_aws_credentials.env().items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    code, out, err = cli(*register)
    assert code == 0 and "Registered churn:1" in out, err


@pytest.mark.s3
def test_batch_on_s3_without_credentials_says_what_to_set(
    cli, no_aws_credentials: infra.S3Server, tmp_path: Path, model_file: Path
) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd
    from sklearn.datasets import load_iris

    rows = tmp_path / "rows.csv"
    pd.DataFrame(load_iris().data[:3]).to_csv(rows, index=False, header=False)
    assert cli("models", "register", str(model_file), "--name", "churn")[0] == 0  # a local store
    bucket = no_aws_credentials.create_bucket()
    for args, where in (
        (("--input", f"s3://{bucket}/in.csv", "--output", str(tmp_path / "out.csv")), f"input s3://{bucket}/in.csv"),
        (("--input", str(rows), "--output", f"s3://{bucket}/out.csv"), f"output s3://{bucket}/out.csv"),
    ):
        code, _, err = cli("transform", "churn:1", *args)
        assert code == 1
        assert err.strip().splitlines()[-1].startswith("error: ")
        assert f"{where}: no AWS credentials found: set AWS_ACCESS_KEY_ID" in err
        assert "Traceback" not in err and "unexpected" not in err, err
