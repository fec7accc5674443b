"""Experiments and their events in the registry database (SQL Core; domain objects out).

Every write is one transaction.  At most one experiment runs per endpoint: a
unique index on ``endpoint`` over the running rows (migration 0008) makes two
starts at once on one endpoint fail the second, whatever the database.  An
experiment ends by a compare-and-set on ``status = 'running'``, so of two
processes ending it (the evaluator deciding, a user stopping) only one acts.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from modelport.db.database import Database
from modelport.db.tables import experiment_events_table, experiments_table, utcnow
from modelport.domain import validate_name
from modelport.errors import AlreadyExists, Conflict, NotFound
from modelport.experiments.experiment import Experiment, ExperimentEvent, ExperimentSpec

#: (kind, detail) of an event to record
NewEvent = tuple[str, dict[str, Any]]


class ExperimentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        name: str,
        *,
        endpoint: str,
        control: str,
        treatment: str,
        spec: ExperimentSpec,
        state: dict[str, Any],
        created_by: str,
        started_at: datetime,
    ) -> Experiment:
        """Insert a running experiment: ALREADY_EXISTS for a taken name, CONFLICT when one runs on the endpoint."""
        validate_name(name, "experiment name")
        e = experiments_table.c
        try:
            with self.db.write() as conn:
                if conn.scalar(sa.select(e.id).where(e.name == name)) is not None:
                    raise AlreadyExists(f"experiment {name!r} already exists")
                self._check_free(conn, endpoint)
                conn.execute(
                    sa.insert(experiments_table).values(
                        name=name,
                        endpoint=endpoint,
                        control=control,
                        treatment=treatment,
                        spec=spec.model_dump(mode="json"),
                        status="running",
                        decision="running",
                        state=state,
                        result={},
                        created_by=created_by,
                        started_at=started_at,
                    )
                )
        except IntegrityError:  # a start on another connection won the race
            with self.db.read() as conn:
                if conn.scalar(sa.select(e.id).where(e.name == name)) is not None:
                    raise AlreadyExists(f"experiment {name!r} already exists") from None
                self._check_free(conn, endpoint)
            raise
        return self.get(name)

    @staticmethod
    def _check_free(conn: sa.Connection, endpoint: str) -> None:
        e = experiments_table.c
        running = conn.scalar(sa.select(e.name).where(e.endpoint == endpoint, e.status == "running"))
        if running is not None:
            raise Conflict(
                f"experiment {running!r} is already running on endpoint {endpoint!r}: "
                f"stop it first (modelport experiments stop {running})"
            )

    def discard(self, name: str) -> None:
        """Remove an experiment whose start failed after it was inserted (its events go with it)."""
        with self.db.write() as conn:
            conn.execute(sa.delete(experiments_table).where(experiments_table.c.name == name))

    def get(self, name: str) -> Experiment:
        with self.db.read() as conn:
            return _experiment(self._row(conn, name))

    def list(self, *, status: str | None = None, endpoint: str | None = None) -> builtins.list[Experiment]:
        """Newest first."""
        e = experiments_table.c
        query = sa.select(experiments_table).order_by(e.started_at.desc(), e.id.desc())
        if status is not None:
            query = query.where(e.status == status)
        if endpoint is not None:
            query = query.where(e.endpoint == endpoint)
        with self.db.read() as conn:
            return [_experiment(r) for r in conn.execute(query)]

    def events(self, name: str, *, limit: int = 100) -> builtins.list[ExperimentEvent]:
        """The latest events, oldest first."""
        v = experiment_events_table.c
        with self.db.read() as conn:
            row = self._row(conn, name)
            rows = list(
                conn.execute(
                    sa.select(experiment_events_table)
                    .where(v.experiment_id == row.id)
                    .order_by(v.id.desc())
                    .limit(limit)
                )
            )
        return [ExperimentEvent(id=r.id, kind=r.kind, detail=dict(r.detail or {}), at=r.at) for r in reversed(rows)]

    def record(
        self,
        name: str,
        *,
        state: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        decision: str | None = None,
        evaluated_at: datetime | None = None,
        events: Sequence[NewEvent] = (),
        at: datetime | None = None,
        running_only: bool = True,
    ) -> bool:
        """Save a look (state, result, decision) and its events in one transaction.

        With ``running_only`` nothing is written once the experiment has ended (False is returned):
        a look that raced with a stop does not overwrite what the stop recorded.
        """
        e = experiments_table.c
        values: dict[str, Any] = {}
        if state is not None:
            values["state"] = state
        if result is not None:
            values["result"] = result
        if decision is not None:
            values["decision"] = decision
        if evaluated_at is not None:
            values["evaluated_at"] = evaluated_at
        with self.db.write() as conn:
            row = self._row(conn, name)
            if running_only and row.status != "running":
                return False
            if values:
                conn.execute(sa.update(experiments_table).where(e.id == row.id).values(**values))
            self._insert_events(conn, row.id, events, at or utcnow())
        return True

    def finish(
        self,
        name: str,
        *,
        decision: str,
        reason: str,
        ended_at: datetime,
        state: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        events: Sequence[NewEvent] = (),
    ) -> bool:
        """End a running experiment (compare-and-set on its status): False when it had ended already."""
        e = experiments_table.c
        values: dict[str, Any] = {"status": "ended", "decision": decision, "stop_reason": reason, "ended_at": ended_at}
        if state is not None:
            values["state"] = state
        if result is not None:
            values["result"] = result
        with self.db.write() as conn:
            row = self._row(conn, name)
            done = conn.execute(
                sa.update(experiments_table).where(e.id == row.id, e.status == "running").values(**values)
            )
            if not done.rowcount:
                return False
            self._insert_events(conn, row.id, events, ended_at)
        return True

    def add_events(self, name: str, events: Sequence[NewEvent], at: datetime | None = None) -> None:
        """Events on an experiment whatever its status (what happened after it ended, say)."""
        with self.db.write() as conn:
            self._insert_events(conn, self._row(conn, name).id, events, at or utcnow())

    @staticmethod
    def _insert_events(conn: sa.Connection, experiment_id: int, events: Sequence[NewEvent], at: datetime) -> None:
        if events:
            conn.execute(
                sa.insert(experiment_events_table),
                [{"experiment_id": experiment_id, "kind": kind, "detail": detail, "at": at} for kind, detail in events],
            )

    @staticmethod
    def _row(conn: sa.Connection, name: str) -> sa.Row[Any]:
        validate_name(name, "experiment name")
        row = conn.execute(sa.select(experiments_table).where(experiments_table.c.name == name)).first()
        if row is None:
            raise NotFound(f"experiment {name!r} does not exist")
        return row


def _experiment(row: sa.Row[Any]) -> Experiment:
    return Experiment(
        id=row.id,
        name=row.name,
        endpoint=row.endpoint,
        control=row.control,
        treatment=row.treatment,
        spec=ExperimentSpec.model_validate(row.spec or {}),
        status=row.status,
        decision=row.decision,
        result=dict(row.result or {}),
        stop_reason=row.stop_reason,
        created_by=row.created_by,
        started_at=row.started_at,
        evaluated_at=row.evaluated_at,
        ended_at=row.ended_at,
        state=dict(row.state or {}),
    )
