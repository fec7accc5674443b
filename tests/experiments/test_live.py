"""Experiments against a live `modelport server` under steady traffic: a better treatment promoted without a
failed request, a failing treatment rolled back within a minute (the time is measured and printed)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelport.client import Client
from tests import infra
from tests.experiments.conftest import draw, truth

pytestmark = pytest.mark.slow


@pytest.fixture
def live(tmp_path: Path, models: dict[str, Path]) -> Iterator[tuple[infra.LiveServer, Path]]:
    home = tmp_path / "server-home"
    with Client(home=home) as local:  # the models the server unpickles live in tests/: on its PYTHONPATH
        for name in ("weak", "good", "flaky"):
            local.models.register(models[name], name, sample=models["sample"], trust=True)
    env = {"MODELPORT_HOME": str(home), "PYTHONPATH": str(infra.REPO)}
    with infra.live_server(env) as server:
        yield server, home


@dataclass
class Traffic:
    """One client thread calling an endpoint as fast as it answers, single-row requests tagged 1, 2, 3 …,
    sending the ground truth of every answer in batches."""

    url: str
    endpoint: str
    statuses: list[tuple[float, int, str]] = field(default_factory=list)
    """(time, status, variant) of every request."""
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rows = draw(200_000, seed=99)
        labels = truth(rows)
        pending: list[dict] = []
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for i in range(len(rows)):
                if self._stop.is_set():
                    break
                row = rows.iloc[[i]].assign(tag=float(i + 1))
                body = {"dataframe_split": row.to_dict(orient="split", index=False)}
                r = http.post(f"/endpoints/{self.endpoint}/invocations", json=body)
                variant = r.headers.get("x-amzn-invoked-production-variant", "")
                if r.status_code != 200:  # SageMaker's ModelError names the variant in its message
                    found = re.search(r" from (\S+) with message", r.json().get("message", ""))
                    variant = found.group(1) if found else ""
                self.statuses.append((time.monotonic(), r.status_code, variant))
                if r.status_code == 200:
                    pending.append(
                        {"inference_id": r.headers["x-amzn-sagemaker-inference-id"], "label": int(labels[i])}
                    )
                if len(pending) >= 50:
                    http.post(f"/api/v1/endpoints/{self.endpoint}/feedback", json=pending).raise_for_status()
                    pending = []

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def shares(client: Client, endpoint: str) -> dict[str, float]:
    return {v.name: v.weight for v in client.endpoints.get(endpoint).config.live}


def test_a_better_treatment_is_promoted_without_a_failed_request(live: tuple[infra.LiveServer, Path]) -> None:
    server, _ = live
    with Client(url=server.url) as remote:
        remote.endpoints.create("churn", ["a=weak:1:100", "b=good:1:0"], capture=100)
        infra.wait_for(lambda: remote.endpoints.get("churn").status == "in_service", 60, "the endpoint in service")
        with Traffic(server.url, "churn") as traffic:
            infra.wait_for(lambda: len(traffic.statuses) > 20, 30, "traffic")
            remote.experiments.start("exp1", "churn", "a", "b", metric="accuracy", on_win="promote")
            infra.wait_for(lambda: remote.experiments.get("exp1").status == "ended", 180, "the decision")
            promoted_at = time.monotonic()
            infra.wait_for(lambda: any(t > promoted_at + 2 for t, _, _ in traffic.statuses), 30, "traffic after")
        experiment = remote.experiments.show("exp1")
        assert experiment.experiment.decision == "treatment_wins", experiment
        assert shares(remote, "churn") == {"a": 0.0, "b": 100.0}
        revision = remote.endpoints.history("churn")[0]
        assert (revision.action, revision.created_by) == ("experiment", "experiment:exp1")
        assert [s for _, s, _ in traffic.statuses if s != 200] == []  # not one failed request
        after = [v for t, _, v in traffic.statuses if t > promoted_at + 1]
        assert after and set(after) == {"b"}
        print(
            f"\npromotion: {len(traffic.statuses)} requests, none failed; decided on "
            f"{experiment.experiment.result['arms']['a']['n']} + {experiment.experiment.result['arms']['b']['n']} labels"
        )


def test_a_failing_treatment_is_rolled_back_within_a_minute(live: tuple[infra.LiveServer, Path]) -> None:
    server, _ = live
    with Client(url=server.url) as remote:
        remote.endpoints.create("churn", ["a=good:1:100", "b=flaky:1:0"], capture=100)
        infra.wait_for(lambda: remote.endpoints.get("churn").status == "in_service", 60, "the endpoint in service")
        with Traffic(server.url, "churn") as traffic:
            infra.wait_for(lambda: len(traffic.statuses) > 20, 30, "traffic")
            started = time.monotonic()
            remote.experiments.start(
                "exp1", "churn", "a", "b", metric="accuracy", guardrails=["error_rate:+0.5pp"], on_win="promote"
            )
            infra.wait_for(lambda: remote.experiments.get("exp1").status == "ended", 60, "the rollback")
            decided = time.monotonic() - started

            def back() -> bool:
                return any(t > started and v == "b" for t, _, v in traffic.statuses) and all(
                    v == "a" for t, _, v in traffic.statuses[-20:]
                )

            infra.wait_for(back, 30, "traffic back on the control")
            last_b = max(t for t, _, v in traffic.statuses if v == "b")
            restored = last_b - started
        experiment = remote.experiments.get("exp1")
        assert experiment.decision == "guardrail_breached"
        assert shares(remote, "churn") == {"a": 100.0, "b": 0.0}
        assert decided < 60 and restored < 60
        failed = [s for _, s, v in traffic.statuses if s != 200]
        assert failed and all(v == "b" for _, s, v in traffic.statuses if s != 200)
        b_requests = sum(1 for t, _, v in traffic.statuses if v == "b")
        print(
            f"\nrollback: decided {decided:.1f} s after the start, last request to the treatment {restored:.1f} s "
            f"after it; {b_requests} requests reached the treatment, {len(failed)} failed "
            f"({np.mean([s != 200 for _, s, v in traffic.statuses if v == 'b']):.0%})"
        )


def test_an_a_a_experiment_decides_nothing(live: tuple[infra.LiveServer, Path]) -> None:
    server, _ = live
    with Client(url=server.url) as remote:
        remote.endpoints.create("churn", ["a=weak:1:100", "b=weak:1:0"], capture=100)
        infra.wait_for(lambda: remote.endpoints.get("churn").status == "in_service", 60, "the endpoint in service")
        with Traffic(server.url, "churn"):
            remote.experiments.start(
                "aa", "churn", "a", "b", metric="accuracy", guardrails=["error_rate:+0.5pp"], on_win="promote"
            )

            def labelled() -> bool:
                arms = remote.experiments.get("aa").result.get("arms") or {}
                return bool(arms) and min(a["n"] for a in arms.values()) >= 500

            infra.wait_for(labelled, 120, "500 labels per arm")
        experiment = remote.experiments.show("aa")
        assert (experiment.experiment.status, experiment.experiment.decision) == ("running", "running")
        assert shares(remote, "churn") == {"a": 50.0, "b": 50.0}
        assert [e.kind for e in experiment.events] == ["started"]
