"""Alerts: one per persisting violation, deduplicated while it lasts, delivered to a signed webhook.

Each run of a monitor hands :meth:`Alerter.process` its violations (drift and
data-quality checks, quality thresholds breached).  A violation is keyed by
``variant/feature/check``:

- a key not firing before → a new *firing* alert (a ``monitor_alerts`` row) and a webhook;
- a key still violated → the same alert, ``last_at`` moved on, **no** new webhook;
- a firing key absent from this run → the alert is *resolved*, and a webhook says so;
- a key that comes back after being resolved → a new alert.

Delivery never fails a run: the webhook is POSTed with retries (exponential
backoff) and a timeout; the outcome is recorded on the alerts it carried
(``delivered_at``, ``attempts``, ``last_error``).  Alerts whose change was not
delivered are sent again by the next run (firing ones while they fire,
resolved ones for a day).

The webhook body is JSON (:func:`payload`), signed with HMAC-SHA256 over
``"{timestamp}." + body`` with the monitor's secret::

    X-Modelport-Timestamp: 1714564800
    X-Modelport-Signature: sha256=<hex>

Receivers check it with :func:`verify` (docs/monitoring.md has a standalone
snippet).  Secrets and webhook URLs (a Slack URL *is* a secret) are never
logged: errors name the host only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelport import __version__
from modelport.db.database import Database
from modelport.db.tables import monitor_alerts_table, utcnow

log = logging.getLogger("modelport.monitoring.alerts")

SIGNATURE_HEADER = "X-Modelport-Signature"
TIMESTAMP_HEADER = "X-Modelport-Timestamp"
DELIVERY_HEADER = "X-Modelport-Delivery"
PAYLOAD_VERSION = "1"
RESEND_RESOLVED_FOR = timedelta(days=1)
"""How long an undelivered 'resolved' notice is retried by later runs."""
MAX_BACKOFF_S = 30.0
_KEY_LENGTH = 255


class AlertsConfig(BaseModel):
    """The ``alerts:`` section of a monitor's config."""

    model_config = ConfigDict(extra="forbid")

    webhook: str | None = None
    """URL the alerts are POSTed to (http or https); none: alerts are only recorded."""
    secret_env: str | None = None
    """Name of the environment variable (of the process running the monitor) holding the signing secret."""
    secret: str | None = Field(default=None, repr=False)
    """The signing secret itself (stored in the monitor's config: prefer ``secret_env``)."""
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Per attempt."""
    attempts: int = Field(default=4, ge=1, le=10)
    """Tries per delivery (the first and the retries)."""
    backoff_s: float = Field(default=0.5, ge=0, le=MAX_BACKOFF_S)
    """Wait before the first retry; doubled each time (capped at 30 s)."""

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"alerts.webhook must be an http:// or https:// URL, not {_redact(value)!r}")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> AlertsConfig:
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("alerts: give secret or secret_env, not both")
        return self

    def public(self) -> dict[str, Any]:
        """For display: the secret masked, the webhook reduced to its host."""
        data = self.model_dump()
        if data.get("secret"):
            data["secret"] = "********"
        if data.get("webhook"):
            data["webhook"] = _redact(data["webhook"])
        return data


@dataclass(frozen=True)
class Violation:
    """One failed check of a run, in SageMaker's violation terms, for one variant."""

    variant: str
    feature_name: str
    constraint_check_type: str
    description: str = ""

    @property
    def key(self) -> str:
        key = f"{self.variant}/{self.feature_name}/{self.constraint_check_type}"
        if len(key) <= _KEY_LENGTH:
            return key
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"{key[: _KEY_LENGTH - 17]}~{digest}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], variant: str | None = None) -> Violation:
        """A ``constraint_violations.json`` entry (plus ``variant``) or this class's own fields."""
        return cls(
            variant=str(data.get("variant", variant) or ""),
            feature_name=str(data.get("feature_name") or data.get("metric_name") or ""),
            constraint_check_type=str(data.get("constraint_check_type") or ""),
            description=str(data.get("description") or ""),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "variant": self.variant,
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


@dataclass(frozen=True)
class Alert:
    id: int
    monitor_id: int
    key: str
    state: str
    """``firing`` or ``resolved``."""
    violation: Violation
    first_at: datetime
    last_at: datetime
    resolved_at: datetime | None
    delivered_at: datetime | None
    """When the latest change (firing, then resolved) reached the webhook."""
    attempts: int
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "status": self.state,
            **self.violation.to_json(),
            "first_at": _iso(self.first_at),
            "last_at": _iso(self.last_at),
            "resolved_at": _iso(self.resolved_at),
            "delivered_at": _iso(self.delivered_at),
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


@dataclass
class AlertOutcome:
    """What one run did to the alerts."""

    fired: list[Alert] = field(default_factory=list)
    ongoing: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    delivery: Delivery | None = None
    """None: nothing to send, or no webhook configured."""

    def to_json(self) -> dict[str, Any]:
        return {
            "fired": [a.key for a in self.fired],
            "ongoing": [a.key for a in self.ongoing],
            "resolved": [a.key for a in self.resolved],
            "delivery": None
            if self.delivery is None
            else {
                "ok": self.delivery.ok,
                "attempts": self.delivery.attempts,
                "status": self.delivery.status,
                "error": self.delivery.error,
            },
        }


class MonitorLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def endpoint(self) -> str: ...


# -- signing ---------------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` of ``b"{timestamp}." + body``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """Whether a webhook request is ours and recent: the signature matches and the timestamp is within
    ``tolerance_s`` of ``now`` (a replayed old request fails).  ``headers`` are matched case-insensitively."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    try:
        sent = int(stamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), given)


def _redact(url: str) -> str:
    """Scheme and host only: webhook URLs carry secrets in their path or query (Slack, Teams…)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


# -- delivery ------------------------------------------------------------------------------


class WebhookSender:
    """POSTs signed JSON with retries; never raises.  ``sleep`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.sleep = sleep
        self.clock = clock

    def deliver(self, url: str, body: bytes, *, secret: str | None, config: AlertsConfig) -> Delivery:
        delivery_id = str(uuid.uuid4())
        error: str | None = None
        status: int | None = None
        for attempt in range(1, config.attempts + 1):
            if attempt > 1:
                self.sleep(min(config.backoff_s * 2 ** (attempt - 2), MAX_BACKOFF_S))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"modelport/{__version__}",
                DELIVERY_HEADER: delivery_id,  # the same on every try: receivers can drop repeats
            }
            if secret is not None:
                stamp = str(int(self.clock()))  # signed afresh on every try: the timestamp stays recent
                headers[TIMESTAMP_HEADER] = stamp
                headers[SIGNATURE_HEADER] = sign(secret, stamp, body)
            try:
                response = self._post(url, body, headers, config.timeout_s)
            except httpx.TimeoutException:
                status, error = None, f"no answer from {_redact(url)} within {config.timeout_s:g} s"
                continue
            except httpx.HTTPError as exc:
                status, error = None, f"cannot reach {_redact(url)}: {type(exc).__name__}"
                continue
            status = response.status_code
            if 200 <= status < 300:
                return Delivery(ok=True, attempts=attempt, status=status)
            error = f"{_redact(url)} answered {status}"
            if status < 500 and status not in (408, 429):
                return Delivery(ok=False, attempts=attempt, status=status, error=error)  # retrying will not help
        return Delivery(ok=False, attempts=config.attempts, status=status, error=error)

    def _post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> httpx.Response:
        if self._client is not None:
            return self._client.post(url, content=body, headers=headers, timeout=timeout)
        with httpx.Client(follow_redirects=False, trust_env=False) as client:
            return client.post(url, content=body, headers=headers, timeout=timeout)


def payload(
    monitor: MonitorLike, alerts: Sequence[Alert], *, run: Mapping[str, Any] | None, sent_at: datetime, firing: int
) -> dict[str, Any]:
    """The webhook body (docs/monitoring.md, "Alerts")."""
    return {
        "version": PAYLOAD_VERSION,
        "monitor": monitor.name,
        "monitor_id": monitor.id,
        "endpoint": monitor.endpoint,
        "run": dict(run) if run is not None else None,
        "sent_at": _iso(sent_at),
        "firing": firing,
        "alerts": [
            {k: v for k, v in a.to_json().items() if k not in ("delivered_at", "attempts", "last_error")}
            for a in alerts
        ],
    }


# -- the alerter ------------------------------------------------------------------------------


class Alerter:
    """Keeps ``monitor_alerts`` in step with each run's violations and notifies the webhook."""

    def __init__(
        self,
        db: Database,
        *,
        sender: WebhookSender | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.sender = sender or WebhookSender()
        # secret_env names a variable of the process running the monitor, read when a run delivers
        # (not a modelport setting: settings.py has no say in which variable a monitor names)
        self.environ = os.environ if environ is None else environ
        self.clock = clock

    def process(
        self,
        monitor: MonitorLike,
        violations: Sequence[Violation | Mapping[str, Any]],
        *,
        config: AlertsConfig | Mapping[str, Any] | None = None,
        run: Mapping[str, Any] | None = None,
    ) -> AlertOutcome:
        """Record this run's violations as alerts (fire, keep, resolve) and deliver the changes."""
        conf = config if isinstance(config, AlertsConfig) else AlertsConfig.model_validate(config or {})
        current: dict[str, Violation] = {}
        for v in violations:
            violation = v if isinstance(v, Violation) else Violation.from_dict(v)
            current[violation.key] = violation
        now = self.clock()
        outcome = AlertOutcome()
        t = monitor_alerts_table.c
        with self.db.write() as conn:
            firing = {
                row.key: row
                for row in conn.execute(
                    sa.select(monitor_alerts_table).where(t.monitor_id == monitor.id, t.state == "firing")
                )
            }
            for key, violation in current.items():
                row = firing.get(key)
                if row is None:
                    alert_id = conn.execute(
                        sa.insert(monitor_alerts_table)
                        .values(
                            monitor_id=monitor.id,
                            key=key,
                            state="firing",
                            payload=violation.to_json(),
                            first_at=now,
                            last_at=now,
                            attempts=0,
                        )
                        .returning(t.id)
                    ).scalar_one()
                    outcome.fired.append(self._get(conn, alert_id))
                else:
                    conn.execute(
                        sa.update(monitor_alerts_table)
                        .where(t.id == row.id)
                        .values(last_at=now, payload=violation.to_json())
                    )
                    outcome.ongoing.append(self._get(conn, row.id))
            for key, row in firing.items():
                if key not in current:
                    conn.execute(
                        sa.update(monitor_alerts_table)
                        .where(t.id == row.id)
                        .values(state="resolved", resolved_at=now, delivered_at=None, attempts=0, last_error=None)
                    )
                    outcome.resolved.append(self._get(conn, row.id))
            pending = [
                self._alert(row)
                for row in conn.execute(
                    sa.select(monitor_alerts_table)
                    .where(
                        t.monitor_id == monitor.id,
                        t.delivered_at.is_(None),
                        sa.or_(t.state == "firing", t.resolved_at >= now - RESEND_RESOLVED_FOR),
                    )
                    .order_by(t.id)
                )
            ]
        if conf.webhook and pending:
            outcome.delivery = self._deliver(monitor, conf, pending, run, firing=len(current))
        return outcome

    def _deliver(
        self,
        monitor: MonitorLike,
        conf: AlertsConfig,
        alerts: list[Alert],
        run: Mapping[str, Any] | None,
        *,
        firing: int,
    ) -> Delivery:
        assert conf.webhook is not None
        secret = conf.secret
        delivery: Delivery
        if conf.secret_env is not None:
            secret = self.environ.get(conf.secret_env) or None
        if conf.secret_env is not None and secret is None:
            delivery = Delivery(ok=False, attempts=0, error=f"alerts.secret_env: ${conf.secret_env} is not set")
        else:
            body = orjson.dumps(payload(monitor, alerts, run=run, sent_at=self.clock(), firing=firing))
            try:
                delivery = self.sender.deliver(conf.webhook, body, secret=secret, config=conf)
            except Exception as exc:  # a bug in delivery must not fail the run: record it
                delivery = Delivery(ok=False, attempts=1, error=f"delivery failed: {type(exc).__name__}")
        if not delivery.ok:
            log.warning(
                "monitor %s: webhook delivery of %d alert(s) failed after %d attempt(s): %s",
                monitor.name,
                len(alerts),
                delivery.attempts,
                delivery.error,
            )
        t = monitor_alerts_table.c
        with self.db.write() as conn:
            conn.execute(
                sa.update(monitor_alerts_table)
                .where(t.id.in_([a.id for a in alerts]))
                .values(
                    attempts=t.attempts + delivery.attempts,
                    delivered_at=self.clock() if delivery.ok else None,
                    last_error=None if delivery.ok else delivery.error,
                )
            )
        return delivery

    def list(self, monitor_id: int, *, limit: int = 100, state: str | None = None) -> list[Alert]:
        """The alert log of a monitor, newest first (``monitors show``)."""
        t = monitor_alerts_table.c
        query = sa.select(monitor_alerts_table).where(t.monitor_id == monitor_id)
        if state is not None:
            query = query.where(t.state == state)
        with self.db.read() as conn:
            return [self._alert(r) for r in conn.execute(query.order_by(t.last_at.desc(), t.id.desc()).limit(limit))]

    def _get(self, conn: sa.Connection, alert_id: int) -> Alert:
        row = conn.execute(sa.select(monitor_alerts_table).where(monitor_alerts_table.c.id == alert_id)).one()
        return self._alert(row)

    @staticmethod
    def _alert(row: Any) -> Alert:
        return Alert(
            id=row.id,
            monitor_id=row.monitor_id,
            key=row.key,
            state=row.state,
            violation=Violation.from_dict(row.payload or {}),
            first_at=row.first_at,
            last_at=row.last_at,
            resolved_at=row.resolved_at,
            delivered_at=row.delivered_at,
            attempts=row.attempts,
            last_error=row.last_error,
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
