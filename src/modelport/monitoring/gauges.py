"""The latest finished run of each monitor, as the ``/metrics`` gauges show it (see :mod:`modelport.metrics`)."""

from __future__ import annotations

import sqlalchemy as sa

from modelport.db.database import Database
from modelport.db.tables import monitor_runs_table, monitors_table
from modelport.metrics import RunSnapshot, run_snapshot


def latest_runs(db: Database) -> list[RunSnapshot]:
    """Per monitor, its newest run that finished without an error (one query; the scrape's cache limits how often)."""
    r, m = monitor_runs_table.c, monitors_table.c
    newest = (
        sa.select(sa.func.max(r.id).label("id"))
        .where(r.finished_at.is_not(None), r.error.is_(None))
        .group_by(r.monitor_id)
        .subquery()
    )
    query = (
        sa.select(m.name, m.endpoint, r.result, r.finished_at)
        .join(monitors_table, m.id == r.monitor_id)
        .where(r.id.in_(sa.select(newest.c.id)))
        .order_by(m.name)
    )
    with db.read() as conn:
        return [
            run_snapshot(name, endpoint, result or {}, finished_at)
            for name, endpoint, result, finished_at in conn.execute(query)
        ]
