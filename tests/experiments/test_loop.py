"""The decision loop on an injected clock with in-process traffic: rollback on a breached guardrail, the sample-
ratio check, fixed mode waiting for its sample size, bandit weights, one evaluator across processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from modelport.client import Client
from modelport.endpoints.counters import ArmCounters, ArmCounts, MinuteRow
from modelport.experiments.evaluator import LEASE, ExperimentEvaluator
from modelport.services import Services
from tests.experiments.conftest import Clock, events, feedback, service, traffic, weights


def test_a_treatment_failing_one_request_in_five_is_rolled_back(deploy: Callable[..., Client]) -> None:
    """b is the better model on accuracy, but fails 20% of its requests: the error-rate guardrail wins."""
    client = deploy(control="weak", treatment="flaky")
    clock = Clock()
    svc = service(client, clock)
    svc.start(
        "exp1",
        endpoint="churn",
        control="a",
        treatment="b",
        metric="accuracy",
        guardrails=["error_rate:+0.5pp"],
        on_win="promote",
        created_by="alice",
    )
    served = traffic(client, 300, seed=11, rows=1)
    failed = [s for s in served if s.failed]
    assert failed and {s.variant for s in failed} == {"b"}
    feedback(client, served)
    clock.advance(5)
    ended = svc.evaluate("exp1")
    assert (ended.status, ended.decision) == ("ended", "guardrail_breached")
    (guardrail,) = ended.result["guardrails"]
    assert guardrail["status"] == "breached" and guardrail["treatment_value"] > 0.1 > guardrail["control_value"]
    assert "guardrail error_rate:+0.5pp breached" in (ended.stop_reason or "")
    assert weights(client) == {"a": 100.0, "b": 0.0}  # all traffic back to the control at once
    revision = client.endpoints.history("churn")[0]
    assert (revision.action, revision.created_by) == ("experiment", "experiment:exp1")
    assert revision.config.comment.startswith("experiment exp1: guardrail breached: guardrail error_rate:+0.5pp")
    assert revision.config.routing.experiment is None
    assert events(client, "exp1") == ["started", "ended", "rolled_back"]


def test_a_sample_ratio_mismatch_blocks_decisions(deploy: Callable[..., Client]) -> None:
    """52.5/47.5 over 20k requests routed by weight on a 50/50 split: flagged, and nothing acts on it."""
    client = deploy()
    clock = Clock()
    svc = service(client, clock)
    experiment = svc.start(
        "exp1", endpoint="churn", control="a", treatment="b", metric="error_rate", on_win="promote", created_by="x"
    )
    minute = experiment.started_at.replace(second=0, microsecond=0)
    counters = ArmCounters(client.services.db)
    counters.write(
        "test:1",
        [
            MinuteRow("churn", "a", minute, ArmCounts(requests=10_500), model="weak:1", experiment="exp1"),
            # b far worse, too
            MinuteRow(
                "churn",
                "b",
                minute,
                ArmCounts(requests=9_500, errors=400, failures=400),
                model="good:1",
                experiment="exp1",
            ),
            # counted before the experiment took the weights: not its
            MinuteRow("churn", "b", minute, ArmCounts(requests=5_000), model="good:1"),
        ],
    )
    clock.now = minute + timedelta(minutes=2)
    looked = svc.evaluate("exp1")
    assert (looked.status, looked.decision) == ("running", "srm")
    assert looked.result["srm"]["flagged"] and looked.result["srm"]["p_value"] < 1e-6
    assert looked.result["srm"]["observed"] == {"a": 10_500, "b": 9_500}
    assert weights(client) == {"a": 50.0, "b": 50.0}  # blocked: no promotion of the (apparent) winner
    assert events(client, "exp1") == ["started", "decision"]

    missing = MinuteRow("churn", "b", minute, ArmCounts(requests=1_000), model="good:1", experiment="exp1")
    counters.write("test:2", [missing])  # the requests another server had not written yet
    clock.advance(5)
    looked = svc.evaluate("exp1")
    assert not looked.result["srm"]["flagged"]
    assert (looked.status, looked.decision) == ("ended", "control_wins")
    assert weights(client) == {"a": 100.0, "b": 0.0}


def test_fixed_mode_waits_for_its_sample_size(deploy: Callable[..., Client]) -> None:
    client = deploy()
    clock = Clock()
    svc = service(client, clock)
    svc.start(
        "exp1", endpoint="churn", control="a", treatment="b", metric="accuracy", mode="fixed", max_samples=400,
        created_by="x",
    )  # fmt: skip
    feedback(client, traffic(client, 100, seed=21))  # ~250 labelled rows per arm: b is clearly better already
    clock.advance(5)
    looked = svc.evaluate("exp1")
    assert (looked.status, looked.decision) == ("running", "running")
    assert looked.result["reason"].startswith("fixed horizon: ") and looked.result["p_value"] is None
    feedback(client, traffic(client, 120, seed=22, first_tag=1000))
    clock.advance(5)
    ended = svc.evaluate("exp1")
    assert (ended.status, ended.decision) == ("ended", "treatment_wins")
    assert weights(client) == {"a": 50.0, "b": 50.0}  # --on-win none: decided, nothing moved


def test_a_bandit_moves_traffic_to_the_better_arm_and_keeps_exploring(deploy: Callable[..., Client]) -> None:
    client = deploy()
    clock = Clock()
    svc = service(client, clock, seed=3)
    svc.start("bandit", endpoint="churn", control="a", treatment="b", metric="accuracy", mode="bandit",
              min_share=0.1, created_by="x")  # fmt: skip
    assert weights(client) == {"a": 50.0, "b": 50.0}
    feedback(client, traffic(client, 40, seed=31))
    clock.advance(5)
    looked = svc.evaluate("bandit")
    assert looked.status == "running"
    shares = looked.result["bandit"]["weights"]
    assert shares["b"] > 0.8 and shares["a"] >= 0.1 - 1e-9
    now = weights(client)
    assert now["b"] > now["a"] >= 10.0 - 1e-6 and abs(sum(now.values()) - 100.0) < 1e-3
    revision = client.endpoints.history("churn")[0]
    assert (revision.action, revision.created_by) == ("experiment", "experiment:bandit")
    assert revision.config.comment.startswith("experiment bandit: bandit: a ")
    assert events(client, "bandit") == ["started", "weights"]


def test_one_evaluator_across_processes(deploy: Callable[..., Client], make_services: Callable[..., Services]) -> None:
    client = deploy()
    clock = Clock()
    client.experiments.start("exp1", "churn", "a", "b", metric="accuracy")
    settings = client.settings
    evaluators = []
    for holder in ("server-1", "server-2"):
        svc = make_services(settings).experiments
        svc.clock = clock
        evaluators.append(ExperimentEvaluator(svc, holder=holder, interval_s=0.05))
    barrier = threading.Barrier(2)
    looked: dict[str, list] = {}

    def tick(e: ExperimentEvaluator) -> None:
        barrier.wait()
        looked[e.holder] = e.tick()

    threads = [threading.Thread(target=tick, args=(e,)) for e in evaluators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(v) for v in looked.values()) == [0, 1]  # one of them looked
    first, second = evaluators if looked["server-1"] else evaluators[::-1]
    assert first.leases.holder(LEASE, clock()) == first.holder
    clock.advance(first.ttl_s + 1)  # the holder died: its lease runs out, the other takes over
    assert [e.name for e in second.tick()] == ["exp1"]
    second.start()
    second.stop()
    assert second.leases.holder(LEASE, clock()) is None  # handed over on stop
    assert client.experiments.get("exp1").evaluated_at is not None


@pytest.mark.parametrize(("test", "flagged"), [("chi-square", True), ("sequential", False)])
def test_what_flags_a_sample_ratio_mismatch(deploy: Callable[..., Client], test: str, flagged: bool) -> None:
    """51.25/48.75 over 20,000 requests: chi-square p = 0.0004 flags it (the default, the usual bar); the
    anytime-valid p-value (0.012) asks for more evidence before it blocks a decision."""
    client = deploy()
    clock = Clock()
    svc = service(client, clock)
    experiment = svc.start(
        "exp1", endpoint="churn", control="a", treatment="b", metric="error_rate", srm=test, created_by="x"
    )
    assert experiment.spec.srm == test
    minute = experiment.started_at.replace(second=0, microsecond=0)
    ArmCounters(client.services.db).write(
        "test:1",
        [
            MinuteRow("churn", "a", minute, ArmCounts(requests=10_250), model="weak:1", experiment="exp1"),
            MinuteRow("churn", "b", minute, ArmCounts(requests=9_750), model="good:1", experiment="exp1"),
        ],
    )
    clock.now = minute + timedelta(minutes=2)
    looked = svc.evaluate("exp1")
    assert looked.result["srm"]["flagged"] is flagged
    assert looked.result["srm"]["p_value"] < 0.001 < looked.result["srm"]["sequential_p_value"]
    assert (looked.decision == "srm") is flagged
    if flagged:
        assert "chi-square p = 0.00041 < 0.001" in looked.result["reason"]
