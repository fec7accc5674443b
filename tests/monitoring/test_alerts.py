"""Alerts: fire once per persisting violation, resolve when it goes, a signed webhook a real HTTP listener checks."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from modelport.db.tables import monitors_table
from modelport.monitoring.alerts import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Alerter,
    AlertsConfig,
    Violation,
    WebhookSender,
    sign,
    verify,
)
from modelport.services import Services
from tests.infra import free_port

SECRET = "s3cr3t-for-tests"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DRIFT = Violation("a", "age", "baseline_drift_check", "PSI 0.31 > 0.2")
TYPE = Violation("a", "plan", "data_type_check", "12% of values are not strings")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    valid: bool

    @property
    def doc(self) -> Any:
        return json.loads(self.body)


@dataclass
class Listener:
    """A real HTTP server on 127.0.0.1 that checks each request's signature and answers as scripted."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Answers for the next requests, in order (then 200)."""
    delay_s: float = 0.0
    seen: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def listener() -> Iterator[Listener]:
    port = free_port()
    state = Listener(url=f"http://127.0.0.1:{port}/hooks/secret-path-token")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = dict(self.headers.items())
            state.received.append(Received(headers, body, verify(SECRET, headers, body)))
            state.seen.set()
            if state.delay_s:
                threading.Event().wait(state.delay_s)  # a slow receiver (the sender's timeout is shorter)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Monitor:
    id: int
    name: str
    endpoint: str


@pytest.fixture
def monitor(services: Services) -> Monitor:
    with services.db.write() as conn:
        monitor_id = conn.execute(
            sa.insert(monitors_table)
            .values(name="churn-drift", endpoint="churn", schedule={}, window_s=3600, config={}, created_by="t")
            .returning(monitors_table.c.id)
        ).scalar_one()
    return Monitor(monitor_id, "churn-drift", "churn")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def alerter(services: Services, clock: Clock, sleeps: list[float]) -> Alerter:
    return Alerter(services.db, sender=WebhookSender(sleep=sleeps.append), environ={"HOOK_SECRET": SECRET}, clock=clock)


def config(listener: Listener, **extra: Any) -> dict[str, Any]:
    return {"webhook": listener.url, "secret_env": "HOOK_SECRET", **extra}


def test_fire_once_while_it_persists_then_resolve(
    alerter: Alerter, monitor: Monitor, listener: Listener, clock: Clock
) -> None:
    first = alerter.process(monitor, [DRIFT], config=config(listener), run={"id": 1})
    assert [a.key for a in first.fired] == ["a/age/baseline_drift_check"] and first.delivery and first.delivery.ok
    assert len(listener.received) == 1 and listener.received[0].valid
    doc = listener.received[0].doc
    assert (doc["version"], doc["monitor"], doc["monitor_id"], doc["endpoint"], doc["run"], doc["firing"]) == (
        "1",
        "churn-drift",
        monitor.id,
        "churn",
        {"id": 1},
        1,
    )
    assert [
        (a["status"], a["variant"], a["feature_name"], a["constraint_check_type"], a["description"])
        for a in doc["alerts"]
    ] == [("firing", "a", "age", "baseline_drift_check", "PSI 0.31 > 0.2")]

    clock.advance(hours=1)
    second = alerter.process(monitor, [DRIFT, TYPE], config=config(listener), run={"id": 2})
    assert [a.key for a in second.ongoing] == [DRIFT.key] and [a.key for a in second.fired] == [TYPE.key]
    assert [a["feature_name"] for a in listener.received[1].doc["alerts"]] == ["plan"]  # the new one only

    clock.advance(hours=1)
    third = alerter.process(monitor, [DRIFT, TYPE], config=config(listener), run={"id": 3})
    assert third.delivery is None and len(listener.received) == 2  # nothing new: no webhook
    assert third.ongoing[0].last_at == clock.now and third.ongoing[0].first_at == T0

    clock.advance(hours=1)
    fourth = alerter.process(monitor, [TYPE], config=config(listener), run={"id": 4})
    assert [a.key for a in fourth.resolved] == [DRIFT.key]
    resolved = listener.received[2].doc["alerts"]
    assert [(a["status"], a["feature_name"], a["resolved_at"]) for a in resolved] == [
        ("resolved", "age", clock.now.isoformat())
    ]
    assert all(r.valid for r in listener.received)

    clock.advance(hours=1)
    fifth = alerter.process(monitor, [DRIFT, TYPE], config=config(listener), run={"id": 5})
    assert [a.key for a in fifth.fired] == [DRIFT.key] and fifth.fired[0].id != first.fired[0].id  # back: a new alert
    log = alerter.list(monitor.id)
    assert [(a.key, a.state) for a in log] == [(DRIFT.key, "firing"), (TYPE.key, "firing"), (DRIFT.key, "resolved")]
    assert all(a.delivered_at is not None and a.last_error is None for a in log)


def test_retries_with_exponential_backoff(
    alerter: Alerter, monitor: Monitor, listener: Listener, sleeps: list[float]
) -> None:
    listener.statuses = [503, 500, 200]
    outcome = alerter.process(monitor, [DRIFT], config=config(listener, backoff_s=0.25))
    assert outcome.delivery is not None and (outcome.delivery.ok, outcome.delivery.attempts) == (True, 3)
    assert sleeps == [0.25, 0.5]
    assert len(listener.received) == 3 and all(r.valid for r in listener.received)
    assert len({r.headers["X-Modelport-Delivery"] for r in listener.received}) == 1  # one delivery id for the retries
    assert alerter.list(monitor.id)[0].attempts == 3


def test_a_failed_delivery_is_recorded_and_sent_again_by_the_next_run(
    alerter: Alerter, monitor: Monitor, listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    down = {
        "webhook": f"http://127.0.0.1:{free_port()}/hooks/secret-path-token",
        "secret_env": "HOOK_SECRET",
        "attempts": 3,
    }
    with caplog.at_level(logging.WARNING):
        outcome = alerter.process(monitor, [DRIFT], config=down)  # never raises into the run
    assert outcome.delivery is not None and not outcome.delivery.ok and outcome.delivery.attempts == 3
    alert = alerter.list(monitor.id)[0]
    assert alert.delivered_at is None and alert.attempts == 3
    assert alert.last_error is not None and alert.last_error.startswith("cannot reach http://127.0.0.1:")
    assert "secret-path-token" not in caplog.text + alert.last_error and SECRET not in caplog.text
    assert "webhook delivery of 1 alert(s) failed after 3 attempt(s)" in caplog.text

    again = alerter.process(monitor, [DRIFT], config=config(listener))  # still firing, never told: told now
    assert again.ongoing and again.delivery is not None and again.delivery.ok
    assert [a["status"] for a in listener.received[0].doc["alerts"]] == ["firing"]
    assert alerter.list(monitor.id)[0].delivered_at is not None


def test_a_client_error_is_not_retried(
    alerter: Alerter, monitor: Monitor, listener: Listener, sleeps: list[float]
) -> None:
    listener.statuses = [404]
    outcome = alerter.process(monitor, [DRIFT], config=config(listener))
    assert outcome.delivery is not None and (
        outcome.delivery.ok,
        outcome.delivery.attempts,
        outcome.delivery.status,
    ) == (False, 1, 404)
    assert (
        sleeps == [] and alerter.list(monitor.id)[0].last_error == f"{listener.url.split('/hooks')[0]}/… answered 404"
    )


def test_a_slow_receiver_times_out(alerter: Alerter, monitor: Monitor, listener: Listener) -> None:
    listener.delay_s = 2.0
    outcome = alerter.process(monitor, [DRIFT], config=config(listener, timeout_s=0.2, attempts=2))
    assert outcome.delivery is not None and not outcome.delivery.ok
    assert outcome.delivery.error is not None and outcome.delivery.error.endswith("within 0.2 s")


def test_a_missing_secret_variable_is_recorded_not_sent_unsigned(
    alerter: Alerter, monitor: Monitor, listener: Listener
) -> None:
    outcome = alerter.process(monitor, [DRIFT], config={"webhook": listener.url, "secret_env": "NOT_SET"})
    assert outcome.delivery is not None and outcome.delivery.error == "alerts.secret_env: $NOT_SET is not set"
    assert listener.received == []


def test_without_a_webhook_alerts_are_only_recorded(alerter: Alerter, monitor: Monitor) -> None:
    outcome = alerter.process(
        monitor, [{"variant": "a", "feature_name": "age", "constraint_check_type": "baseline_drift_check"}]
    )
    assert outcome.delivery is None and [a.state for a in alerter.list(monitor.id)] == ["firing"]


def test_signature_verification() -> None:
    body = b'{"alerts": []}'
    headers = {TIMESTAMP_HEADER: "1714564800", SIGNATURE_HEADER: sign(SECRET, 1714564800, body)}
    assert verify(SECRET, headers, body, now=1714564800 + 10)
    assert not verify(SECRET, headers, body + b" ", now=1714564800)  # tampered body
    assert not verify("other", headers, body, now=1714564800)  # wrong secret
    assert not verify(SECRET, headers, body, now=1714564800 + 3600)  # replayed an hour later
    assert not verify(SECRET, {SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, body)  # no timestamp
    assert sign(SECRET, 1714564800, body).startswith("sha256=") and len(sign(SECRET, 1, body)) == 7 + 64


def test_alerts_config_validation() -> None:
    with pytest.raises(ValidationError, match="alerts.webhook must be an http:// or https:// URL"):
        AlertsConfig(webhook="ftp://example.com/x")
    with pytest.raises(ValidationError, match="give secret or secret_env, not both"):
        AlertsConfig(webhook="https://example.com/x", secret="a", secret_env="B")
    shown = AlertsConfig(webhook="https://hooks.slack.com/services/T000/B000/XXXX", secret="hush").public()
    assert shown["webhook"] == "https://hooks.slack.com/…" and shown["secret"] == "********"
    assert "hush" not in repr(AlertsConfig(secret="hush"))


def test_long_keys_stay_within_the_column() -> None:
    v = Violation("a", "f" * 400, "baseline_drift_check")
    assert len(v.key) == 255 and v.key != Violation("a", "f" * 399 + "g", "baseline_drift_check").key


def test_the_documented_verification_snippet_accepts_a_real_delivery(
    alerter: Alerter, monitor: Monitor, listener: Listener
) -> None:
    """docs/monitoring.md's standalone snippet, run as written against what the webhook received."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    section = doc.split("### Verifying the signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    alerter.process(monitor, [DRIFT], config=config(listener))
    got = listener.received[0]
    assert namespace["verify"](SECRET, got.headers, got.body)
    assert not namespace["verify"](SECRET, got.headers, got.body.replace(b"age", b"AGE"))
