"""Transform jobs in the registry database: records, claims, heartbeats, outcomes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from modelport.batch.inputs import InputObject
from modelport.batch.job import JOB_STATUSES, JobProgress, TransformJob
from modelport.batch.outputs import OutputLayout
from modelport.batch.spec import TransformSpec
from modelport.db.database import Database
from modelport.db.tables import jobs_table, utcnow
from modelport.domain import Page
from modelport.errors import Conflict, InvalidArgument, NotFound
from modelport.registry.reads import check_limit, newest_first, next_token


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, job_id: str, *, model: str, spec: TransformSpec, plan: dict[str, Any], progress: JobProgress, created_by: str
    ) -> TransformJob:
        with self.db.write() as conn:
            now = utcnow()
            conn.execute(
                sa.insert(jobs_table).values(
                    id=job_id,
                    model=model,
                    status="pending",
                    spec=spec.model_dump(mode="json"),
                    plan=plan,
                    progress=progress.model_dump(mode="json"),
                    cancel_requested=False,
                    runs=0,
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
            )
        return self.get(job_id)

    def get(self, job_id: str) -> TransformJob:
        with self.db.read() as conn:
            return self._job(self._row(conn, job_id))

    def plan(self, job_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return dict(self._row(conn, job_id).plan)

    def runner(self, job_id: str) -> tuple[str | None, int | None]:
        with self.db.read() as conn:
            row = self._row(conn, job_id)
            return row.runner_host, row.runner_pid

    def list(self, *, status: str | None = None, limit: int = 100, page_token: str | None = None) -> Page[TransformJob]:
        check_limit(limit)
        if status is not None and status not in JOB_STATUSES:
            raise InvalidArgument(f"invalid job status {status!r}: expected one of {', '.join(JOB_STATUSES)}")
        j = jobs_table.c
        q = newest_first(sa.select(jobs_table), j.seq, page_token, limit)
        if status:
            q = q.where(j.status == status)
        with self.db.read() as conn:
            rows = list(conn.execute(q))
            items = [self._job(r) for r in rows[:limit]]
        return Page[TransformJob](items=items, next_page_token=next_token(rows, limit, "seq"))

    def claim(self, job_id: str, *, seen: TransformJob, host: str, pid: int) -> TransformJob:
        """Become the job's runner, if nobody changed it since ``seen`` (two resumes: one wins)."""
        j = jobs_table.c
        with self.db.write() as conn:
            now = utcnow()
            result = conn.execute(
                sa.update(jobs_table)
                .where(j.id == job_id, j.status == seen.status, j.updated_at == seen.updated_at)
                .values(
                    status="running",
                    runner_host=host,
                    runner_pid=pid,
                    runs=j.runs + 1,
                    started_at=sa.func.coalesce(j.started_at, now),
                    finished_at=None,
                    failure_code=None,
                    failure_reason=None,
                    updated_at=now,
                )
            )
            if not result.rowcount:
                raise Conflict(f"job {job_id} was started or changed by another process just now")
        return self.get(job_id)

    def heartbeat(self, job_id: str, progress: JobProgress, *, pid: int) -> bool:
        """Record progress; returns whether a cancel was asked for."""
        j = jobs_table.c
        with self.db.write() as conn:
            conn.execute(
                sa.update(jobs_table)
                .where(j.id == job_id, j.runner_pid == pid)
                .values(progress=progress.model_dump(mode="json"), updated_at=utcnow())
            )
            return bool(conn.scalar(sa.select(j.cancel_requested).where(j.id == job_id)))

    def finish(
        self, job_id: str, status: str, *, progress: JobProgress | None = None, code: str | None = None, reason: str | None = None
    ) -> TransformJob:
        values: dict[str, Any] = {
            "status": status,
            "failure_code": code,
            "failure_reason": reason,
            "finished_at": utcnow(),
            "updated_at": utcnow(),
        }
        if progress is not None:
            values["progress"] = progress.model_dump(mode="json")
        with self.db.write() as conn:
            self._row(conn, job_id)
            conn.execute(sa.update(jobs_table).where(jobs_table.c.id == job_id).values(**values))
        return self.get(job_id)

    def request_cancel(self, job_id: str) -> TransformJob:
        with self.db.write() as conn:
            self._row(conn, job_id)
            conn.execute(
                sa.update(jobs_table)
                .where(jobs_table.c.id == job_id)
                .values(cancel_requested=True, updated_at=utcnow())
            )
        return self.get(job_id)

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _row(conn: sa.Connection, job_id: str) -> sa.Row[Any]:
        if not isinstance(job_id, str) or not job_id or len(job_id) > 32:
            raise InvalidArgument(f"invalid job id {job_id!r}")
        row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"transform job {job_id!r} does not exist")
        return row

    @staticmethod
    def _job(row: sa.Row[Any]) -> TransformJob:
        progress = JobProgress.model_validate(row.progress or {})
        plan = row.plan or {}
        outputs: list[str] = []
        errors_file = None
        if "layout" in plan:
            layout = OutputLayout.from_dict(plan["layout"])
            outputs = layout.outputs([InputObject.from_dict(o) for o in plan.get("objects", [])])
            if progress.bad_records and row.status == "completed":
                errors_file = layout.errors_url
        return TransformJob(
            id=row.id,
            status=row.status,  # type: ignore[arg-type]
            model=row.model,
            spec=TransformSpec.model_validate(row.spec),
            progress=progress,
            outputs=outputs,
            errors_file=errors_file,
            failure_code=row.failure_code,
            failure_reason=row.failure_reason,
            cancel_requested=row.cancel_requested,
            runs=row.runs,
            created_by=row.created_by,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            updated_at=row.updated_at,
        )
