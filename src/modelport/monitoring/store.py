"""Monitors, their runs, folded capture, dataset baselines and leases in the registry database.

Every write is one transaction: a run is inserted finished, with the report
it points at written inside that transaction (a failure leaves neither); a
scheduled run is claimed by moving ``next_run_at`` with a compare-and-set, so
two schedulers can never both run one due time; a lease is taken or renewed
by one UPDATE (or, the first time, one INSERT) that succeeds only when the
lease expired or is already the caller's (:mod:`modelport.db.leases`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from modelport.db.database import Database
from modelport.db.leases import Leases, insert_ignoring_duplicates
from modelport.db.tables import (
    baselines_table,
    capture_folds_table,
    monitor_alerts_table,
    monitor_runs_table,
    monitors_table,
    utcnow,
)
from modelport.domain import validate_name
from modelport.errors import AlreadyExists, NotFound
from modelport.monitoring.monitor import DatasetBaseline, Monitor, MonitorAlert, MonitorRun

if TYPE_CHECKING:  # NumPy: only for folded capture (`monitors list` reads monitors without it)
    from modelport.monitoring.profiles import Profile

#: rows inserted per statement when saving folds
_INSERT_ROWS = 500


@dataclass(frozen=True)
class NewRun:
    """A finished run, before it has an id."""

    status: str
    trigger: str
    since: datetime
    until: datetime
    result: dict[str, Any]
    violations: int
    started_at: datetime
    finished_at: datetime
    error: str | None = None


@dataclass
class Fold:
    """A capture file folded on one binning, as stored."""

    path: str
    first_at: datetime
    last_at: datetime
    records: int
    profiles: dict[str, Profile]
    undecodable: dict[str, int]
    errors: dict[str, int]


class MonitorStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- monitors -----------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        endpoint: str,
        variant: str | None,
        schedule: dict[str, Any],
        window_s: int,
        config: dict[str, Any],
        next_run_at: datetime | None,
        created_by: str,
    ) -> Monitor:
        validate_name(name, "monitor name")
        now = utcnow()
        try:
            with self.db.write() as conn:
                conn.execute(
                    sa.insert(monitors_table).values(
                        name=name,
                        endpoint=endpoint,
                        variant=variant,
                        schedule=schedule,
                        window_s=window_s,
                        config=config,
                        next_run_at=next_run_at,
                        created_by=created_by,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"monitor {name!r} already exists") from None
        return self.get(name)

    def get(self, name: str) -> Monitor:
        with self.db.read() as conn:
            return _monitor(self._row(conn, name))

    def list(self) -> builtins.list[Monitor]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(monitors_table).order_by(monitors_table.c.name))
            return [_monitor(r) for r in rows]

    def delete(self, name: str) -> None:
        with self.db.write() as conn:
            row = self._row(conn, name)
            # its runs and alerts go with it (ON DELETE CASCADE)
            conn.execute(sa.delete(monitors_table).where(monitors_table.c.id == row.id))

    def due(self, now: datetime) -> builtins.list[Monitor]:
        """Monitors whose next scheduled run is at or before ``now``, the most overdue first."""
        m = monitors_table.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(monitors_table)
                .where(m.next_run_at.is_not(None), m.next_run_at <= now)
                .order_by(m.next_run_at)
            )
            return [_monitor(r) for r in rows]

    def claim(self, name: str, due_at: datetime, next_run_at: datetime | None) -> bool:
        """Move a monitor's next run from ``due_at`` to ``next_run_at``; False when someone else already did."""
        m = monitors_table.c
        with self.db.write() as conn:
            result = conn.execute(
                sa.update(monitors_table)
                .where(m.name == name, m.next_run_at == due_at)
                .values(next_run_at=next_run_at, updated_at=utcnow())
            )
            return bool(result.rowcount)

    # -- runs -----------------------------------------------------------------------

    def add_run(self, monitor: str, run: NewRun, write_report: Callable[[int], str | None] | None = None) -> MonitorRun:
        """Insert a finished run; ``write_report(run id)`` writes its report inside the same transaction.

        If the report cannot be written the run is not recorded either (the
        caller records the failure): a run row never points at a report that
        is not there.
        """
        with self.db.write() as conn:
            row = self._row(conn, monitor)
            run_id = conn.execute(
                sa.insert(monitor_runs_table)
                .values(
                    monitor_id=row.id,
                    status=run.status,
                    trigger=run.trigger,
                    since=run.since,
                    until=run.until,
                    result=run.result,
                    violations=run.violations,
                    error=run.error,
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                )
                .returning(monitor_runs_table.c.id)
            ).scalar_one()
            if write_report is not None:
                uri = write_report(run_id)
                if uri:
                    conn.execute(
                        sa.update(monitor_runs_table).where(monitor_runs_table.c.id == run_id).values(report_uri=uri)
                    )
        return self.get_run(monitor, run_id)

    def runs(self, monitor: str, *, limit: int = 20) -> builtins.list[MonitorRun]:
        """The last runs, newest first."""
        r = monitor_runs_table.c
        with self.db.read() as conn:
            row = self._row(conn, monitor)
            rows = conn.execute(
                sa.select(monitor_runs_table).where(r.monitor_id == row.id).order_by(r.id.desc()).limit(limit)
            )
            return [_run(x, monitor) for x in rows]

    def get_run(self, monitor: str, run_id: int) -> MonitorRun:
        r = monitor_runs_table.c
        with self.db.read() as conn:
            row = self._row(conn, monitor)
            found = conn.execute(sa.select(monitor_runs_table).where(r.monitor_id == row.id, r.id == run_id)).first()
        if found is None:
            raise NotFound(f"monitor {monitor!r} has no run {run_id}")
        return _run(found, monitor)

    def alerts(self, monitor: str, *, limit: int = 50) -> builtins.list[MonitorAlert]:
        a = monitor_alerts_table.c
        with self.db.read() as conn:
            row = self._row(conn, monitor)
            rows = conn.execute(
                sa.select(monitor_alerts_table).where(a.monitor_id == row.id).order_by(a.last_at.desc()).limit(limit)
            )
            return [
                MonitorAlert(
                    id=x.id,
                    monitor=monitor,
                    key=x.key,
                    state=x.state,
                    payload=dict(x.payload or {}),
                    first_at=x.first_at,
                    last_at=x.last_at,
                    delivered_at=x.delivered_at,
                    attempts=x.attempts,
                    last_error=x.last_error,
                )
                for x in rows
            ]

    # -- folded capture ------------------------------------------------------------------

    def folded_paths(
        self, endpoint: str, variant: str, binning: str | None, start: datetime, stop: datetime
    ) -> set[str]:
        """Files already folded on ``binning`` (None: on any) whose records start in ``[start, stop)``."""
        f = capture_folds_table.c
        where = [f.endpoint == endpoint, f.variant == variant, f.first_at >= start, f.first_at < stop]
        if binning is not None:
            where.append(f.binning == binning)
        with self.db.read() as conn:
            return {path for (path,) in conn.execute(sa.select(f.path).where(*where))}

    def folds(self, endpoint: str, variant: str, binning: str, since: datetime, until: datetime) -> builtins.list[Fold]:
        """Folded files with records in ``[since, until)`` (by their first and last inference time)."""
        from modelport.monitoring.profiles import Profile

        f = capture_folds_table.c
        columns = [f.path, f.first_at, f.last_at, f.records, f.profiles, f.undecodable, f.errors]
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(*columns)
                .where(
                    f.endpoint == endpoint,
                    f.variant == variant,
                    f.binning == binning,
                    f.first_at < until,
                    f.last_at >= since - timedelta(minutes=1),
                )
                .order_by(f.first_at, f.path)
            )
            return [
                Fold(
                    path=r.path,
                    first_at=r.first_at,
                    last_at=r.last_at,
                    records=r.records,
                    profiles={minute: Profile.from_json(p) for minute, p in (r.profiles or {}).items()},
                    undecodable={k: int(v) for k, v in (r.undecodable or {}).items()},
                    errors={k: int(v) for k, v in (r.errors or {}).items()},
                )
                for r in rows
            ]

    def save_folds(self, endpoint: str, variant: str, binning: str, folded: Iterable[Any]) -> int:
        """Store folded files (:class:`~modelport.monitoring.capture.FoldedFile`); one already stored is kept.

        Returns how many were new (two runs folding the same file at once store it once).
        """
        now = utcnow()
        rows = [
            {
                "endpoint": endpoint,
                "variant": variant,
                "path": f.url,
                "binning": binning,
                "first_at": f.first,
                "last_at": f.last,
                "records": f.records,
                "profiles": {minute: p.to_json() for minute, p in f.profiles.items()},
                "undecodable": f.undecodable,
                "errors": f.errors,
                "predictions": f.predictions,
                "folded_at": now,
            }
            for f in folded
        ]
        if not rows:
            return 0
        insert = self._insert_ignoring_duplicates(capture_folds_table, ["path", "binning"]).returning(
            capture_folds_table.c.id
        )
        added = 0
        with self.db.write() as conn:
            for i in range(0, len(rows), _INSERT_ROWS):
                added += len(conn.execute(insert, rows[i : i + _INSERT_ROWS]).all())
        return added

    def predictions(self, endpoint: str, variant: str, since: datetime, until: datetime) -> builtins.list[bytes]:
        """The predictions tables (Parquet) of the files with records in ``[since, until)``, one per file.

        Predictions do not depend on the binning: of a file folded on several, one copy is returned.
        """
        f = capture_folds_table.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(f.path, f.predictions)
                .where(
                    f.endpoint == endpoint,
                    f.variant == variant,
                    f.first_at < until,
                    f.last_at >= since - timedelta(minutes=1),
                    f.predictions.is_not(None),
                )
                .order_by(f.first_at, f.path)
            )
            seen: dict[str, bytes] = {}
            for path, blob in rows:
                seen.setdefault(path, bytes(blob))
            return list(seen.values())

    # -- dataset baselines ----------------------------------------------------------------

    def add_baseline(
        self,
        model: str,
        version: int,
        *,
        statistics: dict[str, Any],
        constraints: dict[str, Any],
        source: str,
        created_by: str,
    ) -> DatasetBaseline:
        with self.db.write() as conn:
            baseline_id = conn.execute(
                sa.insert(baselines_table)
                .values(
                    model=model,
                    version=version,
                    statistics=statistics,
                    constraints=constraints,
                    source=source,
                    created_by=created_by,
                    created_at=utcnow(),
                )
                .returning(baselines_table.c.id)
            ).scalar_one()
            row = conn.execute(sa.select(baselines_table).where(baselines_table.c.id == baseline_id)).one()
        return _baseline(row)

    def latest_baseline(self, model: str, version: int) -> DatasetBaseline | None:
        """The newest dataset baseline of a model version, if any."""
        b = baselines_table.c
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(baselines_table).where(b.model == model, b.version == version).order_by(b.id.desc()).limit(1)
            ).first()
        return _baseline(row) if row is not None else None

    # -- leases (db/leases.py; kept here for the scheduler and its tests) -----------------

    def acquire(self, name: str, holder: str, ttl_s: float, now: datetime) -> bool:
        """Take or renew lease ``name`` until ``now + ttl``: True when ``holder`` has it now."""
        return Leases(self.db).acquire(name, holder, ttl_s, now)

    def release(self, name: str, holder: str) -> None:
        """Give a lease up (only ``holder``'s), so another process takes over at once."""
        Leases(self.db).release(name, holder)

    def lease_holder(self, name: str, now: datetime) -> str | None:
        return Leases(self.db).holder(name, now)

    # -- helpers ----------------------------------------------------------------------

    def _insert_ignoring_duplicates(self, table: sa.Table, keys: builtins.list[str]) -> Any:
        return insert_ignoring_duplicates(self.db, table, keys)

    @staticmethod
    def _row(conn: sa.Connection, name: str) -> sa.Row[Any]:
        validate_name(name, "monitor name")
        row = conn.execute(sa.select(monitors_table).where(monitors_table.c.name == name)).first()
        if row is None:
            raise NotFound(f"monitor {name!r} does not exist")
        return row


def _monitor(row: sa.Row[Any]) -> Monitor:
    return Monitor(
        id=row.id,
        name=row.name,
        endpoint=row.endpoint,
        variant=row.variant,
        schedule=dict(row.schedule or {}),
        window_s=row.window_s,
        config=dict(row.config or {}),
        next_run_at=row.next_run_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _run(row: sa.Row[Any], monitor: str) -> MonitorRun:
    return MonitorRun(
        id=row.id,
        monitor=monitor,
        status=row.status,
        trigger=row.trigger,
        since=row.since,
        until=row.until,
        result=dict(row.result or {}),
        violations=row.violations,
        report_uri=row.report_uri,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _baseline(row: sa.Row[Any]) -> DatasetBaseline:
    return DatasetBaseline(
        id=row.id,
        model=row.model,
        version=row.version,
        statistics=dict(row.statistics or {}),
        constraints=dict(row.constraints or {}),
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
    )
