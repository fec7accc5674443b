"""Tuning jobs and trials in the registry database.

While a job runs, only its runner writes its trials (one writer: workers send
results to it), so SQLite never sees two writers racing for a trial row and
never answers "database is locked" however many trials run at once.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from modelport.db.database import Database
from modelport.db.tables import tuning_jobs_table, tuning_trials_table, utcnow
from modelport.domain import Page, validate_name
from modelport.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelport.registry.reads import check_limit, newest_first, next_token
from modelport.tuning.job import TUNING_STATUSES, Trial, TuningJob
from modelport.tuning.spec import TuningSpec
from modelport.tuning.trials import TrialResult

J = tuning_jobs_table.c
T = tuning_trials_table.c


@dataclass(frozen=True)
class TrialStart:
    number: int
    params: dict[str, Any]
    #: the trial ran before (its runner was killed): its row is reset, not inserted
    rerun: bool = False


class TuningStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- jobs -------------------------------------------------------------------------

    def create(self, spec: TuningSpec, *, created_by: str) -> TuningJob:
        assert spec.name is not None
        validate_name(spec.name)
        now = utcnow()
        try:
            with self.db.write() as conn:
                conn.execute(
                    sa.insert(tuning_jobs_table).values(
                        name=spec.name,
                        status="pending",
                        spec=spec.model_dump(mode="json"),
                        outcome={},
                        stop_requested=False,
                        runs=0,
                        created_by=created_by,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"tuning job {spec.name!r} already exists: pick another --name") from None
        return self.get(spec.name)

    def get(self, name: str, *, trials: bool = True) -> TuningJob:
        with self.db.read() as conn:
            row = self._row(conn, name)
            found: builtins.list[Trial] = self._trials(conn, row.id) if trials else []
        return self._job(row, found)

    def list(
        self, *, status: str | None = None, limit: int = 100, page_token: str | None = None, trials: bool = True
    ) -> Page[TuningJob]:
        """Newest first; ``trials=False`` leaves each job's trials (and best) out: a list that stays fast
        however many trials its jobs ran."""
        check_limit(limit)
        if status is not None and status not in TUNING_STATUSES:
            raise InvalidArgument(f"invalid tuning job status {status!r}: expected one of {', '.join(TUNING_STATUSES)}")
        q = newest_first(sa.select(tuning_jobs_table), J.id, page_token, limit)
        if status:
            q = q.where(J.status == status)
        with self.db.read() as conn:
            rows = list(conn.execute(q))
            items = [self._job(r, self._trials(conn, r.id) if trials else []) for r in rows[:limit]]
        return Page[TuningJob](items=items, next_page_token=next_token(rows, limit, "id"))

    def changes(self, name: str) -> tuple[Any, ...]:
        """What a job's page depends on, in one cheap query: it differs once a trial starts or ends or the
        job's status changes (the runner's heartbeat does not count)."""
        with self.db.read() as conn:
            row = self._row(conn, name)
            counted = conn.execute(
                sa.select(sa.func.count(), sa.func.max(T.started_at), sa.func.max(T.finished_at), sa.func.sum(T.attempts)).where(
                    T.job_id == row.id
                )
            ).one()
        return (row.id, row.status, row.stop_requested, row.runs, row.finished_at, repr(row.outcome), *counted)

    def runner(self, name: str) -> tuple[str | None, int | None]:
        with self.db.read() as conn:
            row = self._row(conn, name)
            return row.runner_host, row.runner_pid

    def claim(self, name: str, *, seen: TuningJob, host: str, pid: int) -> TuningJob:
        """Become the job's runner if nobody changed it since ``seen`` (two resumes: one wins)."""
        with self.db.write() as conn:
            now = utcnow()
            result = conn.execute(
                sa.update(tuning_jobs_table)
                .where(J.name == name, J.status == seen.status, J.updated_at == seen.updated_at)
                .values(
                    status="running",
                    runner_host=host,
                    runner_pid=pid,
                    runs=J.runs + 1,
                    stop_requested=False,
                    started_at=sa.func.coalesce(J.started_at, now),
                    finished_at=None,
                    failure_code=None,
                    failure_reason=None,
                    updated_at=now,
                )
            )
            if not result.rowcount:
                raise Conflict(f"tuning job {name} was started or changed by another process just now")
        return self.get(name)

    def heartbeat(self, name: str, *, pid: int) -> bool:
        """The runner is alive; returns whether a stop was asked for."""
        with self.db.write() as conn:
            conn.execute(sa.update(tuning_jobs_table).where(J.name == name, J.runner_pid == pid).values(updated_at=utcnow()))
            return bool(conn.scalar(sa.select(J.stop_requested).where(J.name == name)))

    def finish(
        self, name: str, status: str, *, outcome: dict[str, Any] | None = None, code: str | None = None, reason: str | None = None
    ) -> TuningJob:
        values: dict[str, Any] = {
            "status": status,
            "failure_code": code,
            "failure_reason": reason,
            "finished_at": utcnow(),
            "updated_at": utcnow(),
        }
        with self.db.write() as conn:
            row = self._row(conn, name)
            if outcome is not None:  # a run's outcome over the job's: versions registered before are kept
                values["outcome"] = {**(row.outcome or {}), **outcome}
            conn.execute(sa.update(tuning_jobs_table).where(J.name == name).values(**values))
        return self.get(name)

    def set_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(sa.update(tuning_jobs_table).where(J.name == name).values(outcome=outcome, updated_at=utcnow()))

    def request_stop(self, name: str) -> TuningJob:
        with self.db.write() as conn:
            self._row(conn, name)
            conn.execute(sa.update(tuning_jobs_table).where(J.name == name).values(stop_requested=True, updated_at=utcnow()))
        return self.get(name)

    # -- trials (written by the job's runner only) ----------------------------------------

    def job_id(self, name: str) -> int:
        with self.db.read() as conn:
            return int(self._row(conn, name).id)

    def record(self, job_id: int, *, ended: Sequence[TrialResult], started: Sequence[TrialStart]) -> None:
        """Trials that ended and trials about to start, in one transaction (a trial rerun after a
        crash keeps its row and number; its attempts are counted)."""
        now = utcnow()
        with self.db.write() as conn:
            for r in ended:
                conn.execute(
                    sa.update(tuning_trials_table)
                    .where(T.job_id == job_id, T.number == r.number)
                    .values(
                        state=r.state, metrics=r.metrics, objective_values=r.values, intermediate=r.intermediate,
                        reason=r.reason, artifacts=r.artifacts, finished_at=now,
                    )
                )
            for s in started:
                if s.rerun:
                    conn.execute(
                        sa.update(tuning_trials_table)
                        .where(T.job_id == job_id, T.number == s.number)
                        .values(state="running", params=s.params, metrics={}, objective_values=None, intermediate={},
                                reason=None, artifacts={}, attempts=T.attempts + 1, started_at=now, finished_at=None)
                    )
                else:
                    conn.execute(
                        sa.insert(tuning_trials_table).values(
                            job_id=job_id, number=s.number, state="running", params=s.params, metrics={}, intermediate={},
                            artifacts={}, attempts=1, started_at=now,
                        )
                    )

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _row(conn: sa.Connection, name: str) -> sa.Row[Any]:
        if not isinstance(name, str) or not name or len(name) > 63:
            raise InvalidArgument(f"invalid tuning job name {name!r}")
        row = conn.execute(sa.select(tuning_jobs_table).where(J.name == name)).first()
        if row is None:
            raise NotFound(f"tuning job {name!r} does not exist")
        return row

    @staticmethod
    def _trials(conn: sa.Connection, job_id: int) -> builtins.list[Trial]:
        rows = conn.execute(sa.select(tuning_trials_table).where(T.job_id == job_id).order_by(T.number))
        return [
            Trial(
                number=r.number,
                state=r.state,
                params=r.params or {},
                metrics=r.metrics or {},
                values=r.objective_values,
                intermediate=r.intermediate or {},
                reason=r.reason,
                artifacts=r.artifacts or {},
                attempts=r.attempts,
                started_at=r.started_at,
                finished_at=r.finished_at,
            )
            for r in rows
        ]

    @staticmethod
    def _job(row: sa.Row[Any], trials: builtins.list[Trial]) -> TuningJob:
        from modelport.tuning.job import summarize

        job = TuningJob(
            name=row.name,
            status=row.status,
            spec=TuningSpec.model_validate(row.spec),
            outcome=row.outcome or {},
            stop_requested=row.stop_requested,
            runs=row.runs,
            failure_code=row.failure_code,
            failure_reason=row.failure_reason,
            created_by=row.created_by,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            updated_at=row.updated_at,
        )
        return summarize(job, trials)
