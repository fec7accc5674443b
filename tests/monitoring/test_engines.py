"""Where capture lives and who folds it: S3 capture, and the Dask engine giving the local engine's numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from modelport.client import Client
from modelport.db.tables import capture_folds_table
from modelport.settings import Settings
from tests import infra
from tests.monitoring.conftest import CONFIG, draw, send


def test_the_dask_engine_folds_to_the_same_numbers(deployed: Callable[..., Client]) -> None:
    client = deployed()
    for seed in range(4):  # four capture files
        send(client, draw(150, seed=20 + seed, shift={"f1": 1.0} if seed % 2 else None), "a")
    client.monitors.create("m", "churn", variant="a", config=CONFIG)
    since = datetime.now(UTC) - timedelta(hours=1)
    on_dask = client.monitors.run("m", since=since, engine="dask")
    with client.services.db.write() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.delete(capture_folds_table))  # forget the folds: the local engine folds everything again
    local = client.monitors.run("m", since=since)
    a, b = on_dask.result["variants"]["a"], local.result["variants"]["a"]
    assert a["files"] == b["files"] == {"listed": 4, "folded": 4, "reused": 0}
    assert a["rows"] == 600 and a["features"] == b["features"] and a["violations"] == b["violations"]


def test_capture_on_s3(s3: infra.S3Server, trained: tuple[Path, Path], tmp_path: Path) -> None:
    bucket = s3.create_bucket()
    settings = Settings(home=tmp_path / "home", s3_endpoint_url=s3.url)
    model, train = trained
    with Client(settings=settings) as client:
        client.models.register(model, "clf", sample=train)
        client.endpoints.create("churn", ["a=clf:1"], capture={"enabled": True, "destination": f"s3://{bucket}/capture"})
        send(client, draw(300, seed=30, shift={"f4": 2.0}), "a")
        client.monitors.create("m", "churn", config=CONFIG)
        run = client.monitors.run("m", since=datetime.now(UTC) - timedelta(hours=1))
        section = run.result["variants"]["a"]
        assert (section["rows"], section["files"]["folded"]) == (300, 1)
        assert [v["feature_name"] for v in section["violations"]] == ["f4"]
