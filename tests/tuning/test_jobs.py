"""Tuning jobs end to end: parallel trials on SQLite and PostgreSQL, killed and resumed, failures with reasons."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelport.errors import InvalidArgument
from modelport.services import Services
from modelport.settings import Settings
from modelport.tuning.spec import TuningSpec

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _cli_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **settings.to_env()}
    env["PYTHONPATH"] = os.pathsep.join([SRC, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


@pytest.mark.slow
def test_a_killed_job_resumes_keeping_its_trials_and_never_counting_one_twice(
    services: Services, settings: Settings, make_spec: Callable[..., TuningSpec], wait_for: Callable[..., Any]
) -> None:
    """20 trials, 2 at a time, on SQLite and PostgreSQL; the runner is killed with -9 mid-job and resumed."""
    svc = services.tuning
    spec = make_spec("slow_quadratic", name="killed", objectives=["score:max"], params=["x=float:-5:5"], trials=20, parallel=2)
    svc.create(spec, created_by="test")
    runner = subprocess.Popen(
        [sys.executable, "-c", "from modelport.cli.main import main; main()", "tune", "resume", "killed", "--json"],
        env=_cli_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: svc.get("killed").finished_trials >= 6, timeout=120, what="six trials")
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    before = svc.get("killed")
    assert before.status == "running"  # its runner is dead: nothing recorded an end
    kept = {t.number: t for t in before.trials if t.state == "complete"}
    interrupted = {t.number for t in before.trials if t.state == "running"}

    job = svc.run("killed")

    assert job.status == "completed", job.failure_reason
    assert [t.number for t in job.trials] == list(range(20))
    assert all(t.state == "complete" for t in job.trials)
    assert job.runs == 2
    for number, trial in kept.items():  # kept as they were: same parameters, same result, not rerun
        assert job.trials[number].finished_at == trial.finished_at
        assert job.trials[number].metrics == trial.metrics
    for number in interrupted:  # rerun under the same number, with the same parameters
        assert job.trials[number].attempts == 2
        assert job.trials[number].params == next(t.params for t in before.trials if t.number == number)
    assert job.best is not None and job.best.metrics["score"] == max(t.metrics["score"] for t in job.trials)


@pytest.mark.slow
def test_eight_parallel_workers_on_sqlite_never_see_a_locked_database(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    spec = make_spec("quadratic", name="eight", objectives=["score:max"], params=["x=float:-5:5"], trials=48, parallel=8)
    started = time.monotonic()
    job = svc.run(svc.create(spec, created_by="test").name)
    assert job.status == "completed", job.failure_reason
    assert [t.state for t in job.trials] == ["complete"] * 48, [t.reason for t in job.trials if t.reason]
    assert time.monotonic() - started < 90


@pytest.mark.slow
def test_failed_trials_carry_their_reason_and_max_failed_stops_the_job(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    flaky = make_spec("flaky", name="flaky", objectives=["score:max"], params=["x=float:0:1"], trials=30, parallel=1, max_failed=3, strategy="random")
    job = svc.run(svc.create(flaky, created_by="t").name)
    assert job.status == "failed"
    assert job.counts()["failed"] == 3
    assert job.failure_reason is not None and job.failure_reason.startswith("3 trials failed (--max-failed 3); last: trial ")
    assert job.failure_reason.endswith("ValueError: x too big")

    silent = make_spec("no_objective", name="silent", trials=1, parallel=1)
    job = svc.run(svc.create(silent, created_by="t").name)
    assert job.status == "failed"
    assert job.trials[0].reason == "the trial ended without reporting objective val_auc (it reported: other)"
    assert job.failure_reason == f"no trial completed; last: trial 0: {job.trials[0].reason}"

    crash = make_spec("crash", name="crash", trials=1, parallel=1)
    job = svc.run(svc.create(crash, created_by="t").name)
    assert job.trials[0].reason == "the trial's worker process died (exit code 3)"

    frozen = make_spec("freeze", name="frozen", trials=1, parallel=1, heartbeat_timeout_s=3)
    job = svc.run(svc.create(frozen, created_by="t").name)
    assert job.trials[0].reason == "no heartbeat for 3s: the trial's worker was stopped"


@pytest.mark.slow
def test_stop_kills_running_trials_and_resume_goes_on(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec], wait_for: Callable[..., Any]
) -> None:
    svc = make_services(sqlite_settings).tuning
    svc.create(make_spec("slow_quadratic", name="halt", objectives=["score:max"], params=["x=float:-5:5"], trials=30, parallel=2), created_by="t")
    svc.start("halt")
    wait_for(lambda: svc.get("halt").finished_trials >= 2, what="two trials")
    svc.stop("halt")
    job = wait_for(lambda: (j := svc.get("halt")).done and j, what="the job to stop")
    assert job.status == "stopped" and job.outcome["reason"] == "stopped"
    assert job.finished_trials < 30
    svc.store.set_outcome("halt", {**job.outcome, "registered_versions": ["halt-model:1"]})  # `tune register` between
    job = svc.run("halt")
    assert job.status == "completed" and job.finished_trials == 30
    assert job.outcome["registered_versions"] == ["halt-model:1"]  # the resumed run's outcome keeps what was registered


@pytest.mark.slow
def test_median_early_stopping_prunes_trials_that_trail_through_the_worker_round_trip(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    spec = make_spec("quadratic", name="pruned", objectives=["score:max"], params=["x=float:-5:5"], trials=16, parallel=1, strategy="random", early_stop="median")
    job = svc.run(svc.create(spec, created_by="t").name)
    pruned = [t for t in job.trials if t.state == "pruned"]
    assert job.status == "completed" and pruned
    assert all(t.reason and t.reason.startswith("pruned at step ") and t.intermediate for t in pruned)
    assert all(t.number >= 5 for t in pruned)  # the median needs five complete trials first

    spec = make_spec("quadratic", name="hyperband", objectives=["score:max"], params=["x=float:-5:5"], trials=16, parallel=2, strategy="hyperband")
    job = svc.run(svc.create(spec, created_by="t").name)
    assert job.status == "completed" and job.finished_trials == 16
    assert all(t.intermediate for t in job.trials)


@pytest.mark.slow
def test_a_target_ends_the_job_early_and_a_timeout_stops_its_trials(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    space: dict[str, Any] = {"objectives": ["score:max"], "params": ["x=float:-5:5"], "parallel": 1, "strategy": "random", "seed": 3}
    job = svc.run(svc.create(make_spec("quadratic", name="target", trials=200, target="score>=-0.5", **space), created_by="t").name)
    assert (job.status, job.outcome["reason"]) == ("completed", "target")
    assert job.best is not None and job.best.metrics["score"] >= -0.5 and job.finished_trials < 200
    assert job.trials[-1].number == job.best.number  # no trial started after the one that reached it

    job = svc.run(svc.create(make_spec("slow_quadratic", name="timeout", trials=500, timeout_s="2s", **space), created_by="t").name)
    assert (job.status, job.outcome["reason"]) == ("completed", "timeout")
    assert 2.0 <= job.outcome["run_seconds"] < 6.0 and job.finished_trials < 500


@pytest.mark.slow
def test_bayesian_search_on_a_gaussian_process(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    """--sampler gp: Optuna's GPSampler proposes the trials after its random start; it closes in on the optimum."""
    svc = make_services(sqlite_settings).tuning
    spec = make_spec(
        "quadratic", name="gp", objectives=["score:max"], params=["x=float:-5:5"], trials=16, parallel=1, sampler="gp"
    )
    assert spec.sampler == "gp"
    job = svc.run(svc.create(spec, created_by="test").name)
    assert job.status == "completed", job.failure_reason
    guided = [t.params["x"] for t in job.trials if t.number >= 10]  # GPSampler starts with 10 random trials
    assert min(abs(x - 2.0) for x in guided) < 0.5
    with pytest.raises(InvalidArgument, match="--sampler gp is bayesian search's model: it does not apply to --strategy random"):
        make_spec(strategy="random", sampler="gp")
    with pytest.raises(InvalidArgument, match="unknown sampler 'bo': expected tpe or gp"):
        make_spec(sampler="bo")
