"""A monitor run turns late labels into quality per variant, estimates it without labels, and alerts a webhook."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from modelport.client import Client
from tests.monitoring.conftest import CONFIG, FEATURES, draw

SECRET = "s3cret-for-the-test"


class Hook:
    """A real HTTP listener on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self) -> list[dict]:
        out = []
        for headers, body in self.received:
            stamp = headers["x-modelport-timestamp"]
            expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(
                headers["x-modelport-signature"], f"sha256={expected}"
            )  # as docs/monitoring.md says
            out.append(json.loads(body))
        return out


@pytest.fixture
def hook() -> Iterator[Hook]:
    listener = Hook()
    yield listener
    listener.server.shutdown()


def truth(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Labels by the rule the model learnt, one in six flipped: a model that is right ~83% of the time."""
    rule = (frame["f0"] + 0.3 * frame["f1"] - 0.5 * frame["f3"] > 1.5).astype(int).to_numpy()
    flip = np.random.default_rng(seed).random(len(frame)) < 1 / 6
    return np.where(flip, 1 - rule, rule)


def test_labels_become_quality_per_variant_and_breaches_reach_the_webhook(
    deployed: Callable[..., Client], trained: tuple[Path, Path], hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = deployed()
    model = joblib.load(trained[0])
    rows = {"a": draw(240, seed=11), "b": draw(240, seed=12)}
    for variant, frame in rows.items():
        for i in range(len(frame)):
            client.endpoints.invoke("churn", frame.iloc[[i]], variant=variant, inference_id=f"{variant}-{i}")
    client.endpoints.close()  # type: ignore[attr-defined]  # capture written

    labels, expected = [], {}
    for variant, frame in rows.items():
        y = truth(frame, seed=len(variant))
        labelled = np.arange(len(frame)) % 5 != 0  # 4 in 5 get a label, days later in real life
        labels += [{"inference_id": f"{variant}-{i}", "label": int(y[i])} for i in np.flatnonzero(labelled)]
        x = frame[FEATURES][labelled]
        proba = model.predict_proba(x)
        expected[variant] = {
            "accuracy": accuracy_score(y[labelled], model.predict(x)),
            "f1_macro": f1_score(y[labelled], model.predict(x), average="macro"),
            "roc_auc": roc_auc_score(y[labelled], proba[:, 1]),
            "log_loss": log_loss(y[labelled], proba),
        }
    now = datetime.now(UTC).isoformat()
    labels += [{"inference_id": f"ghost-{i}", "label": 1, "timestamp": now} for i in range(3)]  # ids never served
    client.send_feedback("churn", labels)

    monkeypatch.setenv("HOOK_SECRET", SECRET)
    config = {**CONFIG, "quality": {"accuracy": 0.95}, "alerts": {"webhook": hook.url, "secret_env": "HOOK_SECRET"}}
    client.monitors.create("churn-quality", "churn", config=config)
    run = client.monitors.run("churn-quality", since=datetime.now(UTC) - timedelta(hours=1))

    for variant in ("a", "b"):
        section = run.result["variants"][variant]
        quality = section["quality"]
        assert (quality["task"], quality["predictions"], quality["labelled"]) == ("classification", 240, 192)
        assert quality["coverage"] == pytest.approx(0.8)
        for metric, value in expected[variant].items():
            got = quality["metrics"][metric]
            assert got["value"] == pytest.approx(value, abs=1e-9), metric
        low, high = quality["metrics"]["accuracy"]["ci"]
        assert low < expected[variant]["accuracy"] < high
        estimated = section["estimate"]["metrics"]["accuracy"]["value"]
        assert 0.5 < estimated <= 1.0  # the label-free estimate sits beside the realized value
        [breach] = section["quality_violations"]  # accuracy ~0.83 < 0.95
        assert (breach["feature_name"], breach["constraint_check_type"]) == ("accuracy", "model_quality_check")
    assert sum(run.result["variants"][v]["quality"]["unmatched"] for v in ("a", "b")) >= 3

    [payload] = hook.payloads()  # one delivery for the run, signed
    fired = {(a["variant"], a["feature_name"]) for a in payload["alerts"] if a["status"] == "firing"}
    assert fired == {("a", "accuracy"), ("b", "accuracy")}  # no drift: traffic drawn as in training

    again = client.monitors.run("churn-quality", since=datetime.now(UTC) - timedelta(hours=1))
    assert again.violations == run.violations
    assert len(hook.received) == 1  # still violated: deduplicated, no second webhook
    shown = client.monitors.show("churn-quality")
    assert {a.state for a in shown.alerts} == {"firing"} and len(shown.alerts) >= 2
