"""`modelport monitors …`: tables, JSON, report files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from modelport.client import Client
from tests.monitoring.conftest import draw, trained  # noqa: F401  (a fixture)


def test_monitor_commands(cli, home: Path, trained: tuple[Path, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    model, train = trained
    assert cli("models", "register", str(model), "--name", "clf", "--sample", str(train))[0] == 0
    assert cli("endpoints", "create", "churn", "--variant", "a=clf:1", "--capture", "100")[0] == 0
    assert cli("endpoints", "create", "quiet", "--variant", "a=clf:1")[0] == 0
    with Client(home=home) as client:
        client.endpoints.invoke("churn", draw(400, seed=3, shift={"f0": 2.0}))

    code, _, err = cli("monitors", "create", "m", "--endpoint", "quiet")
    assert (
        code == 1
        and err.startswith("error: endpoint 'quiet' does not capture data: enable capture")
        and err.count("\n") == 1
    )
    config = tmp_path / "monitor.yaml"
    config.write_text("min_samples: 100\nfeatures:\n  f4: {enabled: false}\n")
    code, out, err = cli("monitors", "create", "m", "--endpoint", "churn", "--every", "1h", "--config", str(config))
    assert code == 0, err
    assert "Created monitor m on churn: every 1h, window 1h; next run" in out

    code, out, err = cli("monitors", "run", "m", "--since", "-1h")
    assert code == 0, err  # violations are a result, not an error
    assert "400 rows, 0 undecodable records; files 1 folded, 0 reused; status violations" in out
    assert "f0" in out and "drift" in out and "baseline_drift_check" in out and "f4" not in out.split("Violations")[0]
    assert "report: " in out

    code, out, _ = cli("monitors", "run", "m", "--since", "-1h", "--json")
    run = json.loads(out)
    assert run["result"]["variants"]["a"]["files"] == {"listed": 1, "folded": 0, "reused": 1}
    assert [v["feature_name"] for v in run["result"]["variants"]["a"]["violations"]] == ["f0"]

    code, out, _ = cli("monitors", "show", "m")
    assert code == 0 and "Runs" in out and "baseline_drift_check" in out
    assert json.loads(cli("monitors", "show", "m", "--json")[1])["monitor"]["config"]["min_samples"] == 100
    assert [m["name"] for m in json.loads(cli("monitors", "list", "--json")[1])] == ["m"]
    assert "every 1h" in cli("monitors", "list")[1]

    code, _, err = cli("monitors", "run", "m", "--since", "yesterday")
    assert (
        code == 1
        and err == "error: invalid --since 'yesterday': expected a time like 2024-05-01T10:00 (UTC), 'now' or -2h\n"
    )

    data = tmp_path / "train.csv"
    draw(1000, seed=4).to_csv(data, index=False)
    code, out, err = cli("monitors", "baseline", "clf:1", "--data", str(data), "--output", str(tmp_path / "base"))
    assert code == 0, err
    assert "Baseline 1 of clf:1 from train.csv, 1000 rows: 5 features, 1,000 rows" in out
    statistics = json.loads((tmp_path / "base" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "base" / "constraints.json").read_text())
    assert statistics["dataset"]["item_count"] == 1000 and len(constraints["features"]) == 5
    code, out, err = cli(
        "monitors", "baseline", "clf:1", "--statistics", str(tmp_path / "base" / "statistics.json"), "--json"
    )
    assert code == 0 and json.loads(out)["source"] == "imported statistics.json"

    assert cli("monitors", "delete", "m", "--yes")[0] == 0
    code, _, err = cli("monitors", "show", "m")
    assert (code, err) == (1, "error: monitor 'm' does not exist\n")
