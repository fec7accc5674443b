"""/api/v1/experiments in process, the remote SDK over it, the evaluator in the app's lifespan, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modelport.client import Client
from modelport.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from modelport.services import Services
from modelport.settings import Settings
from tests import infra
from tests.monitoring.conftest import InProcess, in_process, remote_client

__all__ = ["in_process"]


@pytest.fixture
def api(in_process: Callable[..., InProcess], tmp_path: Path, models: dict[str, Path]) -> InProcess:
    app = in_process(tokens=("admin", "read"), monitor_scheduler=False, experiment_interval_s=0.1)
    svc = Services.open(Settings(home=tmp_path / "home0"))
    try:
        for name in ("weak", "good"):
            svc.registry.register(models[name], name, sample=models["sample"], trust=True)
        variants = [
            {"name": "a", "requested": "weak:1", "weight": 100},
            {"name": "b", "requested": "good:1", "weight": 0},
        ]
        svc.endpoints.create("churn", variants, capture={"enabled": True}, created_by="me")
        svc.endpoints.create("quiet", variants, created_by="me")
    finally:
        svc.close()
    return app


def test_read_scope_looks_admin_acts(api: InProcess) -> None:
    body = {"name": "exp1", "endpoint": "churn", "control": "a", "treatment": "b", "metric": "accuracy"}
    assert api.post("/api/v1/experiments", json=body).status_code == 401
    r = api.post("/api/v1/experiments", json=body, token="read")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "PERMISSION_DENIED")
    r = api.post("/api/v1/experiments", json=body, token="admin")
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["spec"]["metric"], r.json()["created_by"]) == (
        "running",
        "accuracy",
        "admin-token",
    )
    assert "state" not in r.json()
    assert [e["name"] for e in api.get("/api/v1/experiments", token="read").json()] == ["exp1"]
    assert api.get("/api/v1/experiments?status=ended", token="read").json() == []
    shown = api.get("/api/v1/experiments/exp1", token="read").json()
    assert [e["kind"] for e in shown["events"]] == ["started"]
    assert api.post("/api/v1/experiments/exp1/stop", token="read").status_code == 403
    r = api.post("/api/v1/experiments/exp1/stop", json={"reason": "done", "restore": True}, token="admin")
    assert (r.status_code, r.json()["decision"], r.json()["stop_reason"]) == (200, "stopped", "done")
    weights = {
        v["name"]: v["weight"] for v in api.get("/api/v1/endpoints/churn", token="read").json()["config"]["variants"]
    }
    assert weights == {"a": 100.0, "b": 0.0}


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"control": "c"}, 400, "INVALID_ARGUMENT", "control 'c' is not a variant of endpoint 'churn'"),
        ({"endpoint": "nope"}, 404, "NOT_FOUND", "endpoint 'nope' does not exist"),
        ({"endpoint": "quiet"}, 412, "FAILED_PRECONDITION", "endpoint 'quiet' does not capture its replies"),
        ({"mode": "bayes"}, 400, "INVALID_ARGUMENT", "mode"),
        ({"guardrails": ["error_rate:lots"]}, 400, "INVALID_ARGUMENT", "invalid guardrail 'error_rate:lots'"),
        ({"name": "Bad Name"}, 400, "INVALID_ARGUMENT", "invalid experiment name"),
    ],
)
def test_caller_mistakes_in_the_error_envelope(
    api: InProcess, body: dict, status: int, code: str, message: str
) -> None:
    full = {"name": "exp1", "endpoint": "churn", "control": "a", "treatment": "b", "metric": "accuracy", **body}
    r = api.post("/api/v1/experiments", json=full, token="admin")
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert message in r.json()["error"]["message"]
    assert api.get("/api/v1/experiments", token="read").json() == []


def test_the_remote_sdk_raises_the_same_errors(api: InProcess, tmp_path: Path) -> None:
    with remote_client(api, tmp_path / "client", "admin") as remote:
        started = remote.experiments.start("exp1", "churn", "a", "b", metric="accuracy", guardrails=["error_rate:+1pp"])
        assert (started.status, started.spec.guardrails) == ("running", ["error_rate:+1pp"])
        with pytest.raises(Conflict, match="experiment 'exp1' is already running on endpoint 'churn'"):
            remote.experiments.start("exp2", "churn", "a", "b", metric="accuracy")
        with pytest.raises(InvalidArgument, match="treatment 'z' is not a variant"):
            remote.experiments.start("exp2", "churn", "a", "z")
        with pytest.raises(FailedPrecondition, match="does not capture its replies"):
            remote.experiments.start("exp2", "quiet", "a", "b", metric="reward")
        with pytest.raises(NotFound, match="experiment 'nope' does not exist"):
            remote.experiments.show("nope")
        assert [e.name for e in remote.experiments.list(endpoint="churn")] == ["exp1"]
        assert remote.experiments.get("exp1").spec.metric == "accuracy"
        # the evaluator runs in the app's lifespan: it looks within its interval
        infra.wait_for(lambda: remote.experiments.get("exp1").evaluated_at is not None, 30, "the evaluator's look")
        details = remote.experiments.show("exp1")
        assert details.experiment.result["decision"] == "running"
        assert details.experiment.result["guardrails"][0]["guardrail"] == "error_rate:+1pp"
        stopped = remote.experiments.stop("exp1")
        assert stopped.decision == "stopped"
        with pytest.raises(Conflict, match="has already ended"):
            remote.experiments.stop("exp1")


def test_the_cli(cli, deploy: Callable[..., Client]) -> None:  # type: ignore[no-untyped-def]
    deploy()
    code, _, err = cli("experiments", "start", "exp1", "--endpoint", "churn", "--control", "a", "--treatment", "c")
    assert code == 1 and err.count("\n") == 1, err
    assert err == "error: treatment 'c' is not a variant of endpoint 'churn'; its variants: a, b\n"
    code, out, err = cli(
        "experiments", "start", "exp1", "-e", "churn", "--control", "a", "--treatment", "b", "--metric", "accuracy",
        "--guardrail", "error_rate:+0.5pp", "--guardrail", "latency_p99:+20%", "--on-win", "promote", "--split", "80/20",
    )  # fmt: skip
    assert code == 0, err
    assert "Started experiment exp1 on churn: a vs b on accuracy (sequential)" in out
    code, out, _ = cli("experiments", "show", "exp1", "--json")
    shown = json.loads(out)
    assert shown["experiment"]["spec"]["guardrails"] == ["error_rate:+0.5pp", "latency_p99:+20%"]
    assert shown["experiment"]["spec"]["split"] == {"a": 80.0, "b": 20.0}
    code, out, _ = cli("experiments", "show", "exp1")
    assert code == 0 and "exp1 on churn: a (control) vs b (treatment), accuracy (higher is better)" in out
    assert "decision: running" in out and "started" in out
    code, out, _ = cli("experiments", "list", "--json")
    assert [e["name"] for e in json.loads(out)] == ["exp1"]
    code, out, _ = cli("experiments", "stop", "exp1", "--reason", "enough")
    assert code == 0 and "Stopped experiment exp1; the endpoint's weights stay as they are" in out
    code, _, err = cli("experiments", "stop", "exp1")
    assert (code, err) == (1, "error: experiment 'exp1' has already ended (stopped): nothing to stop\n")
    code, out, _ = cli("experiments", "list")
    assert code == 0 and "stopped" in out
