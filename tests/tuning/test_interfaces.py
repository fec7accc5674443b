"""The same jobs through the CLI, the HTTP API and the Dask engine; warm starts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelport.services import Services
from modelport.settings import Settings
from modelport.tuning.spec import TuningSpec
from tests.tuning.fixtures import MODULE


@pytest.mark.slow
def test_the_cli_runs_shows_plots_exports_and_registers(
    cli: Callable[..., tuple[int, str, str]], workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)  # the trial module is importable from the current folder
    code, out, err = cli(
        "tune", "run", "--name", "cli-job", "--objective", "val_auc:max", "--param", "max_depth=int:1:6",
        "--trials", "4", "--parallel", "1", "--seed", "3", "--strategy", "random", "--trial", f"{MODULE}:tree", "--json",
    )  # fmt: skip
    assert code == 0, err
    job = json.loads(out)
    assert job["status"] == "completed" and len(job["trials"]) == 4
    assert set(job["importances"]) == {"max_depth"}

    code, out, err = cli("tune", "show", "cli-job", "--plots", str(tmp_path / "plots"))
    assert code == 0, err
    assert "★" in out and "val_auc" in out and "importance" in out
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"history.html", "parallel.html", "importance.html"}
    assert "<svg" in (tmp_path / "plots" / "history.html").read_text()

    code, out, err = cli("tune", "export", "cli-job", "--format", "parquet", "-o", str(tmp_path / "t.parquet"))
    assert code == 0, err
    table = pd.read_parquet(tmp_path / "t.parquet")
    assert list(table["number"]) == [0, 1, 2, 3] and "params.max_depth" in table and "metrics.val_auc" in table

    code, out, err = cli("tune", "register", "cli-job", "--trial", "2", "--name", "from-cli")
    assert (code, out.strip()) == (0, "registered from-cli:1 (sklearn) from cli-job trial 2"), err
    code, out, _ = cli("tune", "list")
    assert "cli-job" in out and "completed" in out


def test_bad_input_is_one_line_on_the_cli(cli: Callable[..., tuple[int, str, str]], workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    cases = [
        (["--param", "d=int:5:1", "--trial", f"{MODULE}:tree"], "error: parameter d: min 5 is greater than max 1"),
        (["--param", "d=int:1:5", "--strategy", "sgd", "--trial", f"{MODULE}:tree"], "error: unknown strategy 'sgd': expected one of bayesian, random, grid, hyperband"),
        (["--param", "d=int:1:5", "--command", "python train.py --depth {d}"], f"error: script 'train.py' does not exist (in {workdir})"),
        (["--param", "d=int:1:5", "--param", "e=int:1:2", "--command", "echo {d}"], "error: the command template does not use parameter e (add {e})"),
        (["--param", "d=int:1:5", "--trial", "absent_module:fn"], f"error: trial module 'absent_module' not found in {workdir}"),
    ]
    for flags, message in cases:
        code, _, err = cli("tune", "run", "--objective", "val_auc:max", *flags)
        assert (code, err.strip()) == (1, message)
    code, _, err = cli("tune", "show", "nope")
    assert (code, err.strip()) == (1, "error: tuning job 'nope' does not exist")


@pytest.mark.slow
def test_the_http_api_starts_shows_exports_and_refuses_with_json_errors(
    in_process: Callable[..., Any], workdir: Path, wait_for: Callable[..., Any]
) -> None:
    app = in_process()
    spec = TuningSpec.build(
        name="api-job", objectives=["val_auc:max"], params=["max_depth=int:1:8"], trials=4, parallel=2, seed=1,
        trial=f"{MODULE}:tree", workdir=str(workdir),
    )  # fmt: skip
    r = app.post("/api/v1/tuning-jobs", json=spec.model_dump(mode="json"))
    assert r.status_code == 201, r.text
    done = wait_for(lambda: (j := app.get("/api/v1/tuning-jobs/api-job").json())["status"] == "completed" and j, what="the job")
    assert len(done["trials"]) == 4 and done["best"]["number"] in range(4)
    csv = app.get("/api/v1/tuning-jobs/api-job/trials", params={"format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 5
    assert app.get("/api/v1/tuning-jobs").json()["items"][0]["name"] == "api-job"
    other = next(t["number"] for t in done["trials"] if t["number"] != done["best"]["number"])
    r = app.post("/api/v1/tuning-jobs/api-job/register", json={"trial": other, "name": "api-other"})
    assert r.status_code == 201 and r.json()["source"]["trial"] == other  # the server unpickled it in a child process

    again = app.post("/api/v1/tuning-jobs/api-job/resume")
    assert again.status_code == 409 and again.json()["error"]["message"] == "tuning job api-job already completed"
    bad = spec.model_dump(mode="json") | {"name": "bad", "params": [{"name": "x", "kind": "float", "low": 5, "high": 1}]}
    r = app.post("/api/v1/tuning-jobs", json=bad)
    assert r.status_code == 400 and r.json()["error"]["message"] == "parameter x: min 5 is greater than max 1"
    assert app.get("/api/v1/tuning-jobs/nope").status_code == 404


@pytest.mark.slow
def test_trials_run_as_tasks_on_a_dask_cluster(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    spec = make_spec("quadratic", name="on-dask", objectives=["score:max"], params=["x=float:-5:5"], trials=6, parallel=2, engine="dask")
    job = svc.run(svc.create(spec, created_by="t").name)
    assert job.status == "completed", job.failure_reason
    assert [t.state for t in job.trials] == ["complete"] * 6
    assert all(t.intermediate for t in job.trials)  # report() values come back with the result


@pytest.mark.slow
def test_a_warm_start_seeds_the_sampler_with_earlier_trials(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    space: dict[str, Any] = {"objectives": ["score:max"], "params": ["x=float:-5:5"], "parallel": 1}
    svc.run(svc.create(make_spec("quadratic", name="earlier", trials=12, strategy="random", seed=1, **space), created_by="t").name)
    cold = svc.run(svc.create(make_spec("quadratic", name="cold", trials=1, seed=5, **space), created_by="t").name)
    warm = svc.run(svc.create(make_spec("quadratic", name="warm", trials=1, seed=5, warm_start="earlier", **space), created_by="t").name)
    # TPE samples at random until it has 10 trials: cold starts at random, warm starts from what "earlier" learnt
    assert warm.trials[0].params != cold.trials[0].params
    assert abs(warm.trials[0].params["x"] - 2) < abs(cold.trials[0].params["x"] - 2)
    assert len(warm.trials) == 1  # the earlier job's trials seed the sampler; they are not this job's trials
