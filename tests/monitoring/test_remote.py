"""Monitors against a live `modelport server`: the API and SDK verbs, and runs the server schedules itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from modelport.client import Client
from modelport.errors import FailedPrecondition, InvalidArgument, NotFound
from tests import infra
from tests.monitoring.conftest import CONFIG, FEATURES, draw


def captured(home: Path, endpoint: str, variant: str) -> int:
    return sum(
        len(f.read_bytes().splitlines()) for f in (home / "artifacts" / "capture" / endpoint / variant).rglob("*.jsonl")
    )


def test_monitors_over_the_api(
    server: infra.LiveServer, server_home: Path, trained: tuple[Path, Path], tmp_path: Path
) -> None:
    model, train = trained
    with Client(url=server.url) as remote:
        remote.models.register(model, "clf", sample=train)
        remote.endpoints.create("churn", ["a=clf:1"], capture=100)
        remote.endpoints.create("quiet", ["a=clf:1"])
        infra.wait_for(lambda: remote.endpoints.get("churn").status == "in_service", 60, "the endpoint in service")
        frame = draw(600, seed=11, shift={"f2": 1.5})
        for start in range(0, len(frame), 50):
            remote.endpoints.invoke("churn", frame.iloc[start : start + 50])
        infra.wait_for(lambda: captured(server_home, "churn", "a") == 12, 30, "the server's capture files")

        # caller mistakes: the same errors as in process
        with pytest.raises(FailedPrecondition, match="endpoint 'quiet' does not capture data"):
            remote.monitors.create("m", "quiet")
        with pytest.raises(NotFound, match="endpoint 'nope' does not exist"):
            remote.monitors.create("m", "nope")
        with pytest.raises(InvalidArgument, match=r"config names unknown feature\(s\) 'income'"):
            remote.monitors.create("m", "churn", config={"features": {"income": {"enabled": False}}})

        monitor = remote.monitors.create("m", "churn", every="1m", config=CONFIG)
        assert monitor.schedule == {"every": 60}
        run = remote.monitors.run("m", since=datetime.now(UTC) - timedelta(hours=1))
        section = run.result["variants"]["a"]
        assert (run.status, section["rows"]) == ("completed", 600)
        assert [v["feature_name"] for v in section["violations"]] == ["f2"]
        assert [r.id for r in remote.monitors.runs("m")] == [run.id]
        # the run's drift on the server's /metrics
        infra.wait_for(
            lambda: (
                'modelport_feature_drift{endpoint="churn",feature="f2",statistic="psi",variant="a"}'
                in httpx.get(f"{server.url}/metrics").text
            ),
            30,
            "the run's gauges",
        )

        data = tmp_path / "train.parquet"
        draw(2000, seed=12).to_parquet(data)
        made = remote.monitors.baseline("clf:1", data=data)  # uploaded, then computed by the server
        assert made.source == "train.parquet, 2000 rows"
        assert [f["name"] for f in made.statistics["features"]] == FEATURES

        # the server runs the monitor on its schedule (the next whole minute, once its capture settled)
        infra.wait_for(
            lambda: any(r.trigger == "schedule" for r in remote.monitors.runs("m")), 150, "a scheduled run", interval=1
        )
        scheduled = next(r for r in remote.monitors.runs("m") if r.trigger == "schedule")
        assert scheduled.status == "completed", scheduled.error

    with Client(home=server_home) as local:  # in process, on the server's home: the same monitor
        shown = local.monitors.show("m")
        assert {r.id for r in shown.runs} >= {run.id, scheduled.id}
        local.monitors.delete("m")
    with Client(url=server.url) as remote, pytest.raises(NotFound, match="monitor 'm' does not exist"):
        remote.monitors.show("m")
