"""The durable queue of asynchronous inferences in the registry database (docs/async.md).

Every request is one ``async_inferences`` row.  A worker *claims* a row by
writing its holder id and a lease deadline on it, renews the lease while it
works (:meth:`AsyncQueue.heartbeat`) and ends it with :meth:`finish` or
:meth:`retry`; every one of these writes matches only a row the caller still
holds, so a worker that lost its lease (it stalled, another took over) cannot
overwrite the outcome.  A worker that dies (``kill -9``) simply stops renewing:
once its lease runs out the row is claimable again, and the next worker resumes
it (the transform job it recorded keeps the blocks already scored).

PostgreSQL claims with ``SELECT … FOR UPDATE SKIP LOCKED``: any number of
workers on any number of servers take different rows without waiting on each
other.  SQLite serialises writers (``BEGIN IMMEDIATE``), so the same select and
update run as one transaction and two claims never get the same row.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from modelport.db.database import Database
from modelport.db.tables import async_inferences_table, leases_table, utcnow
from modelport.domain import Page
from modelport.errors import Conflict, InvalidArgument, NotFound
from modelport.registry.reads import check_limit, newest_first, next_token

AsyncStatus = Literal["queued", "running", "completed", "failed", "expired", "cancelled", "dead_letter"]
STATUSES: tuple[str, ...] = ("queued", "running", "completed", "failed", "expired", "cancelled", "dead_letter")
FINAL = frozenset({"completed", "failed", "expired", "cancelled", "dead_letter"})
#: worker registrations in the leases table (for the backlog-per-worker gauge)
WORKER_LEASE_PREFIX = "async-worker/"


def worker_lease(holder: str, endpoint: str | None) -> tuple[str, str]:
    """The (name, holder) of the lease a worker keeps while it lives: the name fits the leases table's 63
    characters whatever the host name; the holder says which endpoint it works (``*``: all)."""
    import hashlib

    return (
        f"{WORKER_LEASE_PREFIX}{hashlib.sha256(holder.encode()).hexdigest()[:24]}",
        f"{endpoint or '*'} {holder}",
    )


class AsyncInference(BaseModel):
    """One asynchronous inference request and what became of it."""

    model_config = ConfigDict(frozen=True)

    id: str
    endpoint: str
    variant: str
    model: str
    status: AsyncStatus
    input_location: str
    output_location: str
    failure_location: str
    request: dict[str, Any] = Field(default_factory=dict)
    """content_type, accept, custom_attributes, notification."""
    attempts: int
    max_attempts: int
    timeout_s: float
    expires_at: datetime
    not_before: datetime
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    job_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    created_by: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    progress: dict[str, Any] | None = None
    """While it runs (and after): its transform job's fraction done, records, bytes done and total."""

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @field_serializer("request")
    def _public_request(self, request: dict[str, Any]) -> dict[str, Any]:
        """Shown without the webhook secret, and webhook URLs cut to their host (they often carry secrets)."""
        notification = dict(request.get("notification") or {})
        if notification.get("secret"):
            notification["secret"] = "********"
        for key in ("success_url", "error_url"):
            if notification.get(key):
                notification[key] = _redact(notification[key])
        return {**request, "notification": notification}


@dataclass(frozen=True)
class Backlog:
    """What an autoscaler scales on, per endpoint: requests not finished, the oldest waiting one's age."""

    endpoint: str
    queued: int
    running: int
    oldest_age_s: float

    @property
    def size(self) -> int:
        return self.queued + self.running


class AsyncQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- submit -----------------------------------------------------------------------------

    def enqueue(self, values: dict[str, Any]) -> tuple[AsyncInference, bool]:
        """Insert a request; the same id again returns the first one (``False``: not new).

        The id is the idempotency key: a client that retries a submission it got no answer to gets the
        request it made, never a second one.  The same id for another endpoint is a conflict.
        """
        now = utcnow()
        row = {
            "attempts": 0,
            "cancel_requested": False,
            "result": {},
            "created_at": now,
            "updated_at": now,
            "not_before": now,
            **values,
            "status": "queued",
        }
        from modelport.db.leases import insert_ignoring_duplicates

        with self.db.write() as conn:
            inserted = conn.execute(
                insert_ignoring_duplicates(self.db, async_inferences_table, ["id"])
                .values(**row)
                .returning(async_inferences_table.c.seq)
            ).first()
            found = self._get(conn, values["id"])
        if inserted is None and found.endpoint != values["endpoint"]:
            raise Conflict(f"inference id {values['id']!r} is already used by endpoint {found.endpoint!r}")
        return found, inserted is not None

    # -- reads ------------------------------------------------------------------------------

    def get(self, inference_id: str) -> AsyncInference:
        with self.db.read() as conn:
            return self._get(conn, inference_id)

    def list(
        self,
        *,
        endpoint: str | None = None,
        status: str | None = None,
        created_by: str | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[AsyncInference]:
        check_limit(limit)
        if status is not None and status not in STATUSES:
            raise InvalidArgument(f"invalid async status {status!r}: expected one of {', '.join(STATUSES)}")
        a = async_inferences_table.c
        q = newest_first(sa.select(async_inferences_table), a.seq, page_token, limit)
        if endpoint:
            q = q.where(a.endpoint == endpoint)
        if status:
            q = q.where(a.status == status)
        if created_by is not None:
            q = q.where(a.created_by == created_by)
        with self.db.read() as conn:
            rows = list(conn.execute(q))
        return Page[AsyncInference](items=[_inference(r) for r in rows[:limit]], next_page_token=next_token(rows, limit, "seq"))

    def backlog(self, now: datetime | None = None) -> builtins.list[Backlog]:
        """Per endpoint with anything queued or running."""
        now = now or utcnow()
        a = async_inferences_table.c
        q = (
            sa.select(a.endpoint, a.status, sa.func.count(), sa.func.min(a.created_at))
            .where(a.status.in_(("queued", "running")))
            .group_by(a.endpoint, a.status)
        )
        by: dict[str, dict[str, Any]] = {}
        with self.db.read() as conn:
            for endpoint, status, count, oldest in conn.execute(q):
                entry = by.setdefault(endpoint, {"queued": 0, "running": 0, "oldest": None})
                entry[status] = int(count)
                oldest = _aware(oldest)
                if oldest is not None and (entry["oldest"] is None or oldest < entry["oldest"]):
                    entry["oldest"] = oldest
        return [
            Backlog(
                endpoint=name,
                queued=e["queued"],
                running=e["running"],
                oldest_age_s=max(0.0, (now - e["oldest"]).total_seconds()) if e["oldest"] else 0.0,
            )
            for name, e in sorted(by.items())
        ]

    def workers(self, now: datetime | None = None) -> dict[str, int]:
        """Live worker processes by the endpoint they work (``*``: every endpoint); see :func:`worker_lease`."""
        lease = leases_table.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(lease.holder).where(
                    lease.name.like(f"{WORKER_LEASE_PREFIX}%"), lease.expires_at >= (now or utcnow())
                )
            )
            holders = [r.holder for r in rows]
        out: dict[str, int] = {}
        for holder in holders:
            endpoint = holder.partition(" ")[0]
            out[endpoint] = out.get(endpoint, 0) + 1
        return out

    # -- the worker's side -----------------------------------------------------------------

    def claim(
        self,
        holder: str,
        lease_s: float,
        now: datetime | None = None,
        *,
        inference_id: str | None = None,
        endpoint: str | None = None,
    ) -> AsyncInference | None:
        """Take the oldest claimable request (or ``inference_id`` if it is claimable): queued and due, or
        running under a lease that ran out.

        The attempt counter goes up on every claim (a worker that died mid-run used one).
        """
        now = now or utcnow()
        a = async_inferences_table.c
        due = sa.or_(
            sa.and_(a.status == "queued", a.not_before <= now),
            sa.and_(a.status == "running", a.lease_expires_at < now),
        )
        q = sa.select(a.seq, a.started_at).where(due).order_by(a.not_before, a.seq).limit(1)
        if inference_id is not None:
            q = q.where(a.id == inference_id)
        if endpoint is not None:
            q = q.where(a.endpoint == endpoint)
        with self.db.read() as conn:  # idle queues cost a read, not a write lock (SQLite: BEGIN IMMEDIATE)
            if conn.execute(q).first() is None:
                return None
        if not self.db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        with self.db.write() as conn:
            found = conn.execute(q).first()
            if found is None:
                return None
            conn.execute(
                sa.update(async_inferences_table)
                .where(a.seq == found.seq)
                .values(
                    status="running",
                    lease_holder=holder,
                    lease_expires_at=now + timedelta(seconds=lease_s),
                    attempts=a.attempts + 1,
                    started_at=found.started_at or now,
                    updated_at=now,
                )
            )
            row = conn.execute(sa.select(async_inferences_table).where(a.seq == found.seq)).one()
        return _inference(row)

    def heartbeat(self, inference_id: str, holder: str, lease_s: float, **values: Any) -> AsyncInference | None:
        """Renew the lease (and record ``values``); None when ``holder`` no longer has the row."""
        now = utcnow()
        return self._as_holder(
            inference_id, holder, lease_expires_at=now + timedelta(seconds=lease_s), updated_at=now, **values
        )

    def finish(
        self,
        inference_id: str,
        holder: str,
        status: str,
        *,
        error_code: str | None = None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> AsyncInference | None:
        """Record the outcome (a final status); None when ``holder`` lost the row meanwhile."""
        if status not in FINAL:
            raise ValueError(f"not a final status: {status}")
        now = utcnow()
        values: dict[str, Any] = {
            "status": status, "error_code": error_code, "error": error, "finished_at": now, "updated_at": now,
            "lease_holder": None, "lease_expires_at": None,
        }  # fmt: skip
        if result is not None:
            values["result"] = result
        return self._as_holder(inference_id, holder, **values)

    def retry(
        self, inference_id: str, holder: str, *, delay_s: float, error_code: str, error: str
    ) -> AsyncInference | None:
        """Back in the queue, due in ``delay_s`` (the backoff); None when ``holder`` lost the row."""
        now = utcnow()
        return self._as_holder(
            inference_id, holder, status="queued", lease_holder=None, lease_expires_at=None, error_code=error_code,
            error=error, not_before=now + timedelta(seconds=delay_s), updated_at=now,
        )  # fmt: skip

    def _as_holder(self, inference_id: str, holder: str, **values: Any) -> AsyncInference | None:
        """Update a running request while ``holder`` still has its lease; None when it lost it meanwhile."""
        a = async_inferences_table.c
        with self.db.write() as conn:
            done = conn.execute(
                sa.update(async_inferences_table)
                .where(a.id == inference_id, a.lease_holder == holder, a.status == "running")
                .values(**values)
            )
            if not done.rowcount:
                return None
            return self._get(conn, inference_id)

    def update_result(self, inference_id: str, result: dict[str, Any]) -> None:
        """After the outcome: what the notification did (no lease needed)."""
        a = async_inferences_table.c
        with self.db.write() as conn:
            conn.execute(
                sa.update(async_inferences_table).where(a.id == inference_id).values(result=result, updated_at=utcnow())
            )

    # -- cancel -----------------------------------------------------------------------------

    def cancel(self, inference_id: str) -> AsyncInference:
        """A queued request is cancelled now; a running one is asked to stop (its worker stops within
        seconds and records ``cancelled``); a finished one cannot be cancelled (a cancelled one: no-op)."""
        now = utcnow()
        a = async_inferences_table.c
        with self.db.write() as conn:
            found = self._get(conn, inference_id)
            if found.status == "cancelled":
                return found
            if found.final:
                raise Conflict(f"async inference {inference_id} already ended: {found.status}")
            if found.status == "queued":
                conn.execute(
                    sa.update(async_inferences_table)
                    .where(a.id == inference_id, a.status == "queued")
                    .values(
                        status="cancelled", finished_at=now, updated_at=now, error_code="CANCELLED",
                        error="cancelled before it ran",
                    )
                )
            else:
                conn.execute(
                    sa.update(async_inferences_table)
                    .where(a.id == inference_id)
                    .values(cancel_requested=True, updated_at=now)
                )
            return self._get(conn, inference_id)

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _get(conn: sa.Connection, inference_id: str) -> AsyncInference:
        row = conn.execute(sa.select(async_inferences_table).where(async_inferences_table.c.id == inference_id)).first()
        if row is None:
            raise NotFound(f"no async inference {inference_id!r}")
        return _inference(row)


def _redact(url: str) -> str:
    from modelport.monitoring.alerts import _redact as redact

    return redact(url)


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _inference(row: Any) -> AsyncInference:
    data = dict(row._mapping)
    data.pop("seq", None)
    return AsyncInference.model_validate(data)
