"""Monitors end to end in-process: deploy with capture → traffic → runs, reports in SageMaker's format."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelport.client import Client
from modelport.domain import ModelRef
from modelport.errors import FailedPrecondition, InvalidArgument, NotFound
from modelport.services import Services
from modelport.settings import Settings
from tests.monitoring.conftest import CONFIG, FEATURES, draw, send


def report(client: Client, run, variant: str, name: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(Path(run.report_uri, variant, name).read_text())


def test_shifted_features_and_only_those_are_violations(deployed: Callable[..., Client]) -> None:
    client = deployed()
    send(client, draw(1500, seed=2), "a")  # as in training
    send(client, draw(1500, seed=3, shift={"f1": 1.0, "f3": 1.0}), "b")  # two features moved by a standard deviation
    client.monitors.create("churn-drift", "churn", every="1h", config=CONFIG)
    run = client.monitors.run("churn-drift", since=datetime.now(UTC) - timedelta(hours=1))

    assert run.status == "completed"
    a, b = run.result["variants"]["a"], run.result["variants"]["b"]
    assert (a["rows"], b["rows"]) == (1500, 1500)
    assert a["violations"] == [] and {f["name"]: f["status"] for f in a["features"]} == dict.fromkeys(FEATURES, "ok")
    assert {f["name"] for f in b["features"] if f["status"] == "drift"} == {"f1", "f3"}
    assert run.violations == len(b["violations"])
    assert {(v["feature_name"], v["constraint_check_type"]) for v in b["violations"]} == {
        ("f1", "baseline_drift_check"),
        ("f3", "baseline_drift_check"),
    }

    # the report: SageMaker's files per variant, and the whole result
    violations = report(client, run, "b", "constraint_violations.json")
    assert sorted(v["feature_name"] for v in violations["violations"]) == ["f1", "f3"]
    assert all(set(v) == {"feature_name", "constraint_check_type", "description"} for v in violations["violations"])
    assert report(client, run, "a", "constraint_violations.json") == {"violations": []}
    statistics = report(client, run, "b", "statistics.json")
    assert statistics["dataset"]["item_count"] == 1500
    assert [f["name"] for f in statistics["features"]] == FEATURES
    assert json.loads(Path(run.report_uri, "report.json").read_text())["variants"]["b"]["violations"] == b["violations"]

    shown = client.monitors.show("churn-drift")
    assert [r.id for r in shown.runs] == [run.id]


def test_a_second_run_reads_no_file_already_folded(deployed: Callable[..., Client]) -> None:
    client = deployed()
    send(client, draw(300, seed=4), "a")
    client.monitors.create("m", "churn", variant="a", config=CONFIG)
    since = datetime.now(UTC) - timedelta(hours=1)
    first = client.monitors.run("m", since=since)
    files = first.result["variants"]["a"]["files"]
    assert files["folded"] == files["listed"] > 0 and files["reused"] == 0
    send(client, draw(200, seed=5), "a")  # more capture: one more file
    second = client.monitors.run("m", since=since)
    files = second.result["variants"]["a"]["files"]
    assert (files["folded"], files["reused"]) == (1, first.result["variants"]["a"]["files"]["listed"])
    assert second.result["variants"]["a"]["rows"] == 500
    third = client.monitors.run("m", since=since)
    assert third.result["variants"]["a"]["files"]["folded"] == 0
    assert third.result["variants"]["a"]["features"] == second.result["variants"]["a"]["features"]  # same numbers


def test_a_file_is_folded_once_whatever_part_of_it_a_window_takes(
    deployed: Callable[..., Client], settings_home: Path
) -> None:
    client = deployed()
    folder = settings_home / "artifacts" / "capture" / "churn" / "a" / "2024" / "05" / "01" / "10"
    folder.mkdir(parents=True)
    rows = draw(4, seed=6)
    lines = [
        json.dumps(
            {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "encoding": "CSV",
                        "data": rows.iloc[[i]].to_csv(index=False, header=False),
                    },
                },
                "eventMetadata": {"eventId": f"e{i}", "inferenceTime": f"2024-05-01T10:{15 * i:02d}:07Z"},
                "eventVersion": "0",
            }
        )
        for i in range(4)
    ]
    (folder / "f1.jsonl").write_text("\n".join(lines[:2]) + "\n")  # 10:00 and 10:15
    (folder / "f2.jsonl").write_text("\n".join(lines[2:]) + "\n")  # 10:30 and 10:45: after the first window
    client.monitors.create("m", "churn", variant="a")
    since = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    first = client.monitors.run("m", since=since, until=since + timedelta(minutes=20))
    second = client.monitors.run("m", since=since, until=since + timedelta(minutes=20))
    later = client.monitors.run("m", since=since + timedelta(minutes=30), until=since + timedelta(hours=1))
    assert [r.result["variants"]["a"]["files"]["folded"] for r in (first, second, later)] == [2, 0, 0]
    assert [r.result["variants"]["a"]["rows"] for r in (first, second, later)] == [
        2,
        2,
        2,
    ]  # :00 and :15, then :30 and :45


def test_a_window_without_capture_is_reported_no_data(deployed: Callable[..., Client]) -> None:
    client = deployed()
    client.monitors.create("quiet", "churn", variant="a")
    run = client.monitors.run(
        "quiet", since=datetime(2024, 1, 1, tzinfo=UTC), until=datetime(2024, 1, 1, 1, tzinfo=UTC)
    )
    section = run.result["variants"]["a"]
    assert run.status == "completed" and run.violations == 0
    assert (section["rows"], section["status"]) == (0, "no_data")
    assert {f["status"] for f in section["features"]} == {"no_data"}


def test_a_monitor_needs_an_endpoint_that_captures(deployed: Callable[..., Client]) -> None:
    client = deployed(capture=False)
    with pytest.raises(
        FailedPrecondition,
        match=r"endpoint 'churn' does not capture data: enable capture \(modelport endpoints update churn --capture 100\)",
    ):
        client.monitors.create("m", "churn")
    with pytest.raises(NotFound, match="endpoint 'nope' does not exist"):
        client.monitors.create("m", "nope")


def test_caller_mistakes_are_refused_before_anything_is_written(deployed: Callable[..., Client]) -> None:
    client = deployed()
    with pytest.raises(InvalidArgument, match=r"config names unknown feature\(s\) 'income'"):
        client.monitors.create("m", "churn", config={"features": {"income": {"threshold": 0.3}}})
    with pytest.raises(InvalidArgument, match="no variant 'c'"):
        client.monitors.create("m", "churn", variant="c")
    with pytest.raises(InvalidArgument, match="invalid cron expression"):
        client.monitors.create("m", "churn", cron="every hour")
    with pytest.raises(InvalidArgument, match="pass --every or --cron, not both"):
        client.monitors.create("m", "churn", every="1h", cron="0 * * * *")
    assert client.monitors.list() == []
    client.monitors.create("m", "churn")
    with pytest.raises(InvalidArgument, match="empty window"):
        client.monitors.run(
            "m", since=datetime(2024, 1, 1, 1, tzinfo=UTC), until=datetime(2024, 1, 1, 1, 0, 30, tzinfo=UTC)
        )


def test_a_version_without_baseline_fails_the_run_with_what_to_do(deployed: Callable[..., Client]) -> None:
    client = deployed(sample=False)
    client.monitors.create("m", "churn", variant="a")
    with pytest.raises(
        FailedPrecondition, match=r"model version clf:1 .* has no baseline .* modelport monitors baseline clf:1 --data"
    ):
        client.monitors.run("m")
    (failed,) = client.monitors.runs("m")
    assert failed.status == "failed" and "has no baseline" in (failed.error or "")


def test_a_dataset_baseline_replaces_the_registration_one(deployed: Callable[..., Client], tmp_path: Path) -> None:
    client = deployed(sample=False)
    data = tmp_path / "train.parquet"
    draw(3000, seed=7).assign(extra=1).to_parquet(data)  # a column the model does not take is left out
    made = client.monitors.baseline("clf:1", data=data)
    assert (made.ref, made.source) == ("clf:1", "train.parquet, 3000 rows")
    assert [f["name"] for f in made.statistics["features"]] == FEATURES
    assert made.constraints["features"] and "modelport" in made.constraints
    send(client, draw(400, seed=8), "a")
    client.monitors.create("m", "churn", variant="a", config=CONFIG)
    run = client.monitors.run("m", since=datetime.now(UTC) - timedelta(hours=1))
    assert run.result["variants"]["a"]["baseline"].startswith(f"dataset baseline {made.id}")
    assert run.violations == 0
    with pytest.raises(InvalidArgument, match=r"lacks the input column\(s\) 'f4'"):
        draw(10, seed=1).drop(columns="f4").to_csv(tmp_path / "short.csv", index=False)
        client.monitors.baseline("clf:1", data=tmp_path / "short.csv")


def test_sagemaker_baseline_files_are_imported(
    deployed: Callable[..., Client], tmp_path: Path, sqlite_settings: Settings
) -> None:
    settings = sqlite_settings
    client = deployed()
    data = tmp_path / "train.csv"
    draw(2000, seed=9).to_csv(data, index=False)
    made = client.monitors.baseline("clf:1", data=data)
    (tmp_path / "statistics.json").write_text(json.dumps(made.statistics))
    (tmp_path / "constraints.json").write_text(json.dumps(made.constraints))
    imported = client.monitors.baseline(
        "clf:1", statistics=tmp_path / "statistics.json", constraints=tmp_path / "constraints.json"
    )
    assert imported.statistics == made.statistics and imported.source == "imported statistics.json"
    # what the console draws as the baseline is what drift is judged against: the dataset's, not the sample's
    svc = Services.open(settings)
    try:
        mv = svc.registry.get_version(ModelRef.parse("clf:1"))
        baseline, source, _ = svc.monitors.judged_against(mv)
        assert source.startswith(f"dataset baseline {imported.id}") and baseline != mv.baseline
        assert [f["name"] for f in baseline["features"]] == [f["name"] for f in made.statistics["features"]]
    finally:
        svc.close()
    wrong = {**made.statistics, "features": [{**made.statistics["features"][0], "name": "income"}]}
    with pytest.raises(InvalidArgument, match="'income' that clf:1 does not take"):
        client.monitors.baseline("clf:1", statistics=wrong)


def test_deleting_a_monitor_removes_its_runs(deployed: Callable[..., Client]) -> None:
    client = deployed()
    client.monitors.create("m", "churn", every="30m", window="2h")
    monitor = client.monitors.get("m")
    assert (monitor.schedule, monitor.window_s, monitor.next_run_at.minute % 30) == ({"every": 1800}, 7200, 0)
    client.monitors.run("m")
    client.monitors.delete("m")
    with pytest.raises(NotFound, match="monitor 'm' does not exist"):
        client.monitors.show("m")
