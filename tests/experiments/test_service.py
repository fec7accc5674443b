"""Starting, judging and stopping experiments in process, with real traffic, capture and feedback."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from modelport.client import Client
from modelport.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from modelport.settings import Settings
from tests.experiments.conftest import Clock, events, feedback, service, traffic, weights


def history(client: Client) -> list[tuple[int, str, str]]:
    return [(r.revision, r.action, r.created_by) for r in client.endpoints.history("churn")]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"control": "c"}, InvalidArgument, "control 'c' is not a variant of endpoint 'churn'; its variants: a, b"),
        ({"treatment": "a"}, InvalidArgument, "control and treatment are both 'a'"),
        ({"endpoint": "nope"}, NotFound, "endpoint 'nope' does not exist"),
        ({"metric": "happiness"}, InvalidArgument, "unknown metric 'happiness': use accuracy, error, reward"),
        ({"metric": "output:probabilities"}, InvalidArgument, "needs the class's position"),
        ({"metric": "output:probabilities[2]"}, FailedPrecondition, "returns probabilities of 2 classes"),
        ({"metric": "output:prediction"}, FailedPrecondition, "has no 'prediction' output"),
        ({"mode": "bayes"}, InvalidArgument, "invalid mode 'bayes'"),
        ({"mode": "fixed"}, InvalidArgument, "a fixed-mode experiment needs its sample size"),
        ({"alpha": 0.7}, InvalidArgument, "invalid alpha 0.7"),
        ({"mde": "lots"}, InvalidArgument, "invalid MDE 'lots'"),
        ({"guardrails": ["error_rate"]}, InvalidArgument, "invalid guardrail 'error_rate'"),
        ({"guardrails": ["speed:+1%"]}, InvalidArgument, "invalid guardrail 'speed:+1%': unknown metric"),
        ({"unit": "cookie:id"}, InvalidArgument, "invalid routing unit 'cookie:id': expected header:NAME"),
        ({"unit": "header:Authorization"}, InvalidArgument, "Authorization does not identify a caller"),
        ({"split": "90-10"}, InvalidArgument, "invalid split '90-10'"),
        ({"mode": "bandit", "split": "90/10"}, InvalidArgument, "a bandit sets its own weights"),
        ({"promote_alias": "champion"}, InvalidArgument, "add --on-win promote"),
        ({"on_win": "party"}, InvalidArgument, "invalid --on-win 'party'"),
    ],
)
def test_bad_input_is_refused_before_anything_changes(
    deploy: Callable[..., Client], options: dict, error: type, message: str
) -> None:
    client = deploy()
    before = client.endpoints.get("churn")
    args = {"endpoint": "churn", "control": "a", "treatment": "b", "metric": "accuracy", **options}
    with pytest.raises(error, match=re.escape(message)):
        client.experiments.start("exp1", args.pop("endpoint"), args.pop("control"), args.pop("treatment"), **args)
    assert client.endpoints.get("churn").revision == before.revision
    assert client.experiments.list() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "bandit"}, "treatment 's' is a shadow: a shadow experiment takes no --mode bandit"),
        ({"unit": "header:X-User-Id"}, "a shadow experiment takes no --unit"),
        ({"split": "90/10"}, "a shadow experiment takes no --split"),
        (
            {"metric": "accuracy"},
            "metric 'accuracy' cannot be read for shadow 's': a shadow's answers are not captured",
        ),
        ({"metric": "agreement"}, "use it as a guardrail of a shadow experiment (--guardrail agreement:-2pp)"),
        ({"guardrails": ["abs_diff:+5%"]}, "the live variant's |Δ| from itself is 0, so the margin is absolute"),
        ({"control": "s", "treatment": "a"}, "control 's' of endpoint 'churn' is a shadow"),
    ],
)
def test_what_a_shadow_experiment_refuses(deploy: Callable[..., Client], options: dict, message: str) -> None:
    client = deploy()
    client.endpoints.update("churn", shadows=["s=good:1"])
    revision = client.endpoints.get("churn").revision
    args = {"control": "a", "treatment": "s", "metric": "error_rate", **options}
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        client.experiments.start("exp1", "churn", args.pop("control"), args.pop("treatment"), **args)
    assert client.endpoints.get("churn").revision == revision and client.experiments.list() == []


def test_shadow_metrics_need_a_shadow(deploy: Callable[..., Client]) -> None:
    client = deploy()
    with pytest.raises(InvalidArgument, match="metric 'agreement' compares a shadow with the live variant"):
        client.experiments.start("exp1", "churn", "a", "b", metric="error_rate", guardrails=["agreement:-2pp"])


def test_a_shadow_that_fails_more_is_taken_off(deploy: Callable[..., Client]) -> None:
    """A shadow experiment: same requests to both, no weights taken, no sample ratio; the shadow's failures
    breach the error-rate guardrail and rollback removes the shadow (the live traffic never moved)."""
    client = deploy(control="good", treatment="flaky")
    client.endpoints.update("churn", shadows=["s=flaky:1"])
    clock = Clock()
    svc = service(client, clock)
    started = svc.start(
        "shadow1",
        endpoint="churn",
        control="a",
        treatment="s",
        metric="error_rate",
        guardrails=["error_rate:+0.5pp", "agreement:-2pp"],
        created_by="alice",
    )
    assert started.spec.shadow and weights(client) == {"a": 100.0, "b": 0.0}
    assert client.endpoints.get("churn").config.routing.experiment == "shadow1"
    traffic(client, 200, seed=11)
    clock.advance(5)
    ended = svc.evaluate("shadow1")
    assert (ended.status, ended.decision) == ("ended", "guardrail_breached")
    result = ended.result
    assert result["srm"] is None
    assert result["arms"]["a"]["n"] == result["arms"]["s"]["n"] == 200  # the same requests
    assert result["arms"]["a"]["value"] == 0 and 0.1 < result["arms"]["s"]["value"] < 0.3
    report = result["shadow"]
    assert report["pairs"] == 200 and report["failures"]["shadow_failures"] == 40
    assert report["agreement"]["rate"] == 1.0  # where it answers, it answers as the live model does
    agreement = next(g for g in result["guardrails"] if g["guardrail"] == "agreement:-2pp")
    assert agreement["status"] != "breached"
    config = client.endpoints.get("churn").config
    assert [v.name for v in config.variants] == ["a", "b"] and weights(client) == {"a": 100.0, "b": 0.0}
    assert events(client, "shadow1") == ["started", "ended", "rolled_back"]
    assert client.experiments.show("shadow1").events[-1].detail["removed"] == ["s"]
    revision = client.endpoints.history("churn")[0]
    assert (revision.action, revision.created_by) == ("experiment", "experiment:shadow1")


def test_a_shadow_that_wins_goes_live(deploy: Callable[..., Client]) -> None:
    """The live model fails one request in five, the shadow none: the shadow wins on the same requests and is
    promoted to a live variant with the control's traffic."""
    client = deploy(control="flaky", treatment="good")
    client.endpoints.update("churn", shadows=["s=good:1"])
    clock = Clock()
    svc = service(client, clock)
    svc.start("shadow2", endpoint="churn", control="a", treatment="s", on_win="promote", created_by="alice")
    traffic(client, 200, seed=12)
    clock.advance(5)
    ended = svc.evaluate("shadow2")
    assert (ended.status, ended.decision) == ("ended", "treatment_wins")
    live = {v.name: (v.weight, v.shadow) for v in client.endpoints.get("churn").config.variants}
    assert live == {"a": (0.0, False), "b": (0.0, False), "s": (100.0, False)}
    assert events(client, "shadow2") == ["started", "ended", "promoted"]
    served = traffic(client, 5, seed=13, first_tag=1001)
    assert {s.variant for s in served} == {"s"}


def test_a_feedback_metric_needs_captured_replies(deploy: Callable[..., Client]) -> None:
    client = deploy(capture=False)
    for metric in ("accuracy", "reward", "output:probabilities[1]"):
        with pytest.raises(
            FailedPrecondition,
            match=r"does not capture its replies: enable capture \(modelport endpoints update churn --capture 100\)",
        ):
            client.experiments.start("exp1", "churn", "a", "b", metric=metric)
    with pytest.raises(FailedPrecondition, match="metric 'accuracy'"):
        client.experiments.start("exp1", "churn", "a", "b", metric="error_rate", guardrails=["accuracy:-1pp"])
    client.experiments.start("exp1", "churn", "a", "b", metric="error_rate")  # the data plane's: no capture needed
    assert client.experiments.get("exp1").status == "running"


def test_two_experiments_on_one_endpoint(deploy: Callable[..., Client]) -> None:
    client = deploy()
    client.experiments.start("exp1", "churn", "a", "b", metric="accuracy")
    revision = client.endpoints.get("churn").revision
    with pytest.raises(
        Conflict,
        match=r"experiment 'exp1' is already running on endpoint 'churn': stop it first \(modelport experiments stop exp1\)",
    ):
        client.experiments.start("exp2", "churn", "b", "a", metric="accuracy")
    assert client.endpoints.get("churn").revision == revision
    assert [e.name for e in client.experiments.list()] == ["exp1"]


def test_start_takes_the_weights_in_one_revision_named_after_the_experiment(deploy: Callable[..., Client]) -> None:
    client = deploy()
    experiment = client.experiments.start("exp1", "churn", "a", "b", metric="accuracy", split="90/10")
    assert weights(client) == {"a": 90.0, "b": 10.0}  # the arms' pool (100) split 90/10
    assert history(client)[0] == (2, "experiment", "experiment:exp1")
    assert client.endpoints.history("churn")[0].config.comment == "experiment exp1: started: a 90%, b 10%"
    assert experiment.spec.split == {"a": 90.0, "b": 10.0} and experiment.created_by
    assert events(client, "exp1") == ["started"]
    routing = client.endpoints.get("churn").config.routing
    assert (routing.experiment, routing.unit) == ("exp1", None)  # capture records name the experiment

    stopped = client.experiments.stop("exp1", reason="enough")
    assert (stopped.status, stopped.decision, stopped.stop_reason) == ("ended", "stopped", "enough")
    assert weights(client) == {"a": 90.0, "b": 10.0}  # nothing restored unless asked
    assert client.endpoints.get("churn").config.routing.experiment is None  # the experiment let go
    with pytest.raises(Conflict, match="has already ended"):
        client.experiments.stop("exp1")

    client.experiments.start("exp2", "churn", "a", "b", metric="accuracy")
    assert weights(client) == {"a": 50.0, "b": 50.0}
    client.experiments.stop("exp2", restore=True)
    assert weights(client) == {"a": 90.0, "b": 10.0}  # as before exp2 started
    assert events(client, "exp2") == ["started", "stopped", "restored"]
    assert history(client)[0] == (5, "experiment", "experiment:exp2")


def test_a_unit_makes_assignment_sticky_for_the_experiment(deploy: Callable[..., Client]) -> None:
    client = deploy()
    client.experiments.start("exp1", "churn", "a", "b", metric="accuracy", unit="header:X-User-Id")
    routing = client.endpoints.get("churn").config.routing
    assert (routing.unit, routing.salt, routing.experiment) == ("header:X-User-Id", "exp1", "exp1")
    client.experiments.stop("exp1")  # the split stays, and so does each unit's arm
    routing = client.endpoints.get("churn").config.routing
    assert (routing.unit, routing.salt, routing.experiment) == ("header:X-User-Id", "exp1", None)


def test_the_sdk_sends_the_unit_header(deploy: Callable[..., Client]) -> None:
    """``invoke(..., headers=…)`` carries the unit id: a user keeps the arm, users spread over both."""
    from tests.experiments.conftest import draw

    client = deploy()
    client.experiments.start("exp1", "churn", "a", "b", metric="error_rate", unit="header:X-User-Id")
    row = draw(1, seed=2)
    arms = {}
    for user in range(40):
        seen = {client.endpoints.invoke("churn", row, headers={"X-User-Id": f"u{user}"}).variant for _ in range(3)}
        assert len(seen) == 1
        arms[user] = seen.pop()
    assert set(arms.values()) == {"a", "b"}


def test_weights_changed_by_hand_stop_the_experiment(deploy: Callable[..., Client]) -> None:
    client = deploy()
    clock = Clock()
    svc = service(client, clock)
    svc.start("exp1", endpoint="churn", control="a", treatment="b", metric="accuracy", created_by="alice")
    client.endpoints.update("churn", capture=50)  # not the arms: adopted
    clock.advance(5)
    assert svc.evaluate("exp1").status == "running"
    client.endpoints.update("churn", weights={"b": 80})
    clock.advance(5)
    ended = svc.evaluate("exp1")
    assert (ended.status, ended.decision) == ("ended", "stopped")
    assert "the arms were changed by hand (b weight 50 → 80, revision 4 by" in (ended.stop_reason or "")
    assert events(client, "exp1") == ["started", "manual_change", "ended"]
    assert weights(client) == {"a": 50.0, "b": 80.0}  # the hand's change stands


def test_a_better_treatment_wins_and_is_promoted(deploy: Callable[..., Client]) -> None:
    """Ground truth fed back says b is right more often: b wins, takes all traffic, the alias follows."""
    client = deploy()
    client.models.set_alias("good", "champion", 1)
    client.models.set_alias("weak", "champion", 1)
    clock = Clock()
    svc = service(client, clock)
    svc.start(
        "exp1",
        endpoint="churn",
        control="a",
        treatment="b",
        metric="accuracy",
        on_win="promote",
        promote_alias="champion",
        created_by="alice",
    )
    served = traffic(client, 30, seed=3)
    feedback(client, served)
    clock.advance(5)
    early = svc.evaluate("exp1")  # ~75 labelled rows per arm: too few to decide
    assert (early.status, early.decision) == ("running", "running")
    served = traffic(client, 150, seed=4, first_tag=100)
    feedback(client, served)
    clock.advance(5)
    ended = svc.evaluate("exp1")
    assert (ended.status, ended.decision) == ("ended", "treatment_wins")
    result = ended.result
    assert result["arms"]["b"]["value"] > 0.95 > result["arms"]["a"]["value"]
    assert result["lift"]["ci"][0] > 0 and result["p_value"] <= 0.05
    assert weights(client) == {"a": 0.0, "b": 100.0}
    revision = client.endpoints.history("churn")[0]
    assert (revision.action, revision.created_by) == ("experiment", "experiment:exp1")
    assert revision.config.comment.startswith("experiment exp1: treatment wins: treatment better: difference ")
    assert events(client, "exp1") == ["started", "ended", "promoted", "alias_moved"]
    assert client.models.show("good@champion").version == 1


def test_an_a_a_experiment_decides_nothing(deploy: Callable[..., Client]) -> None:
    client = deploy(control="good", treatment="good")
    clock = Clock()
    svc = service(client, clock)
    svc.start("aa", endpoint="churn", control="a", treatment="b", metric="accuracy", on_win="promote", created_by="x")
    for seed in (5, 6):
        feedback(client, traffic(client, 80, seed=seed, first_tag=seed * 1000))
        clock.advance(5)
        looked = svc.evaluate("aa")
        assert (looked.status, looked.decision) == ("running", "running")
    assert min(a["n"] for a in looked.result["arms"].values()) >= 100
    assert weights(client) == {"a": 50.0, "b": 50.0}


def test_feedback_after_the_end_is_ignored(deploy: Callable[..., Client]) -> None:
    client = deploy()
    clock = Clock()
    svc = service(client, clock)
    svc.start("exp1", endpoint="churn", control="a", treatment="b", metric="accuracy", created_by="x")
    served = traffic(client, 60, seed=8)
    feedback(client, served[:30])
    clock.advance(5)
    looked = svc.evaluate("exp1")
    labelled = {arm: a["n"] for arm, a in looked.result["arms"].items()}
    svc.stop("exp1", by="x")
    feedback(client, served[30:])  # labels for the arms' ids, sent after the end: stored (monitors use them) …
    clock.advance(5)
    after = svc.evaluate("exp1")  # … but an ended experiment takes no more looks
    assert {arm: a["n"] for arm, a in after.result["arms"].items()} == labelled
    assert after.result == looked.result


def test_a_look_that_fails_is_recorded_once(deploy: Callable[..., Client]) -> None:
    client = deploy()
    clock = Clock()
    svc = service(client, clock)
    svc.start("exp1", endpoint="churn", control="a", treatment="b", metric="accuracy", created_by="x")

    def broken(*args: object, **kwargs: object) -> None:
        raise FailedPrecondition("the capture store is away")

    svc.reader.read = broken  # type: ignore[method-assign]
    for _ in range(3):
        with pytest.raises(FailedPrecondition):
            svc.evaluate("exp1")
    assert events(client, "exp1") == ["started", "error"]
    assert client.experiments.get("exp1").status == "running"


def test_start_look_and_stop_on_both_databases(deploy: Callable[..., Client], settings: Settings) -> None:
    """The service on SQLite and PostgreSQL: start, a look with captured and labelled traffic, a hand change."""
    client = deploy(settings=settings)
    clock = Clock()
    svc = service(client, clock)
    svc.start("exp1", endpoint="churn", control="a", treatment="b", metric="accuracy", created_by="x")
    with pytest.raises(Conflict):
        svc.start("exp2", endpoint="churn", control="b", treatment="a", metric="accuracy", created_by="x")
    feedback(client, traffic(client, 20, seed=41))
    clock.advance(5)
    looked = svc.evaluate("exp1")
    assert looked.status == "running" and sum(a["n"] for a in looked.result["arms"].values()) == 100
    client.endpoints.update("churn", weights={"a": 10})
    clock.advance(5)
    assert svc.evaluate("exp1").decision == "stopped"
    assert events(client, "exp1") == ["started", "manual_change", "ended"]
