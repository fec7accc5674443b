"""From trial to endpoint: the best model registered with its lineage, served; serving costs as objectives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from modelport.client import Client
from modelport.services import Services
from modelport.settings import Settings
from modelport.tuning.front import dominates
from modelport.tuning.spec import TuningSpec


@pytest.mark.slow
def test_the_best_trial_is_registered_as_onnx_with_its_lineage_and_served_by_an_endpoint(
    sqlite_settings: Settings, make_spec: Callable[..., TuningSpec]
) -> None:
    spec = make_spec(name="bc-search", trials=4, parallel=2, register_best="bc", alias="tuned", to_onnx=True)
    with Client(settings=sqlite_settings) as client:
        job = client.tuning.submit(spec)
        assert job.status == "completed" and job.outcome["registered"] == "bc:1"
        version = client.models.show("bc@tuned")
        assert job.best is not None
        assert version.format == "onnx" and version.conversion["parity"]["ok"]
        assert version.source["tuning_job"] == "bc-search" and version.source["trial"] == job.best.number
        assert version.params == {k: str(v) for k, v in job.best.params.items()}
        assert version.metrics["val_auc"] == job.best.metrics["val_auc"]

        rows = pd.read_parquet(job.best.artifacts["sample"]).head(3)
        client.endpoints.create("bc", ["main=bc@tuned"])
        result = client.invoke("bc", rows)
        assert len(json.loads(result.body)["predictions"]) == 3

        # any complete trial's model can be registered later
        other = next(t for t in job.trials if t.number != job.best.number)
        later = client.tuning.register("bc-search", trial=other.number, model_name="bc-other", to_onnx=False)
        assert later.source["trial"] == other.number and later.format == "sklearn"
        assert client.tuning.show("bc-search").outcome["registered_versions"] == ["bc:1", "bc-other:1"]


@pytest.mark.slow
def test_a_multi_objective_run_on_quality_and_serving_cost_reports_its_pareto_front(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    spec = make_spec(
        name="front",
        objectives=["val_auc:max", "model_size_bytes:min"],
        constraints=["latency_p99_ms<=1000"],
        trials=6,
        parallel=2,
        strategy="random",
    )
    job = svc.run(svc.create(spec, created_by="t").name)
    assert job.status == "completed", job.failure_reason
    complete = [t for t in job.trials if t.state == "complete"]
    assert all({"latency_p50_ms", "latency_p99_ms", "model_size_bytes"} <= set(t.metrics) for t in complete)
    assert all(0 < t.metrics["latency_p50_ms"] <= t.metrics["latency_p99_ms"] for t in complete)
    front = [t for t in complete if t.pareto]
    assert front and job.best in front
    for t in complete:  # the front is exactly the trials nothing beats on both objectives
        beaten = any(dominates(o.values or [], t.values or [], [True, False]) for o in complete)
        assert t.pareto == (not beaten)


@pytest.mark.slow
def test_a_constraint_on_a_reported_metric_keeps_the_best_within_it(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], make_spec: Callable[..., TuningSpec]
) -> None:
    svc = make_services(sqlite_settings).tuning
    spec = make_spec(name="small-trees", constraints=["leaves<=2"], params=["max_depth=int:1:8"], trials=8, parallel=1, strategy="grid")
    job = svc.run(svc.create(spec, created_by="t").name)
    assert sorted(t.params["max_depth"] for t in job.trials) == list(range(1, 9))  # the grid, once each
    assert job.best is not None and job.best.metrics["leaves"] <= 2
    assert any(not t.feasible and t.metrics["val_auc"] > job.best.metrics["val_auc"] for t in job.trials)


def test_registering_a_trial_without_a_model_says_why(
    sqlite_settings: Settings, make_services: Callable[[Settings], Services], workdir: Path
) -> None:
    from modelport.errors import FailedPrecondition
    from modelport.tuning.store import TrialStart
    from modelport.tuning.trials import TrialResult

    services = make_services(sqlite_settings)
    spec = TuningSpec.build(name="nomodel", objectives=["score:max"], params=["x=float:0:1"], trial="mp_tuning_trials:quadratic", workdir=str(workdir))
    services.tuning.create(spec, created_by="t")
    store = services.tuning.store
    job_id = store.job_id("nomodel")
    store.record(job_id, ended=[], started=[TrialStart(0, {"x": 0.5})])
    store.record(job_id, ended=[TrialResult(0, "complete", {"score": 1.0}, values=[1.0])], started=[])
    with pytest.raises(FailedPrecondition, match="trial 0 of nomodel left no model: a trial function registers by returning"):
        services.tuning.register("nomodel", model_name="m")
