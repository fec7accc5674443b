"""Leases: one holder at a time for work every server could do (scheduled monitors, the experiment evaluator).

A lease is a row of the ``leases`` table (migration 0007): its name, who holds
it and until when.  It is taken or renewed by one UPDATE that matches only an
expired lease or one the caller already holds (the first time, one INSERT that
does nothing if another holder inserted it first); both databases serialise
writers on the row, so two holders never both succeed.  A holder renews on
every tick; when it stops or dies, another process takes over once the lease
runs out.
"""

from __future__ import annotations

import abc
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from modelport.db.database import Database
from modelport.db.tables import leases_table


def holder_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def acquire(self, name: str, holder: str, ttl_s: float, now: datetime) -> bool:
        """Take or renew lease ``name`` until ``now + ttl``: True when ``holder`` has it now.

        ``now`` comes from the caller's clock: servers sharing a lease should
        keep their clocks in step (NTP) to well under the ttl.
        """
        lease = leases_table.c
        expires = now + timedelta(seconds=ttl_s)
        with self.db.write() as conn:
            taken = conn.execute(
                sa.update(leases_table)
                .where(lease.name == name, sa.or_(lease.expires_at < now, lease.holder == holder))
                .values(holder=holder, expires_at=expires)
            )
            if taken.rowcount:
                return True
            # RETURNING says whether the row went in (rowcount of a skipped insert is not reliable on psycopg)
            inserted = conn.execute(
                insert_ignoring_duplicates(self.db, leases_table, ["name"])
                .values(name=name, holder=holder, expires_at=expires)
                .returning(lease.name)
            ).first()
            return inserted is not None

    def release(self, name: str, holder: str) -> None:
        """Give a lease up (only ``holder``'s), so another process takes over at once."""
        lease = leases_table.c
        with self.db.write() as conn:
            conn.execute(sa.delete(leases_table).where(lease.name == name, lease.holder == holder))

    def holder(self, name: str, now: datetime) -> str | None:
        """Who holds lease ``name`` at ``now`` (None: nobody, or it ran out)."""
        lease = leases_table.c
        with self.db.read() as conn:
            row = conn.execute(sa.select(lease.holder, lease.expires_at).where(lease.name == name)).first()
        if row is None or row.expires_at < now:
            return None
        return str(row.holder)


def insert_ignoring_duplicates(db: Database, table: sa.Table, keys: list[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` in the database's dialect."""
    if db.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    return insert(table).on_conflict_do_nothing(index_elements=keys)


T = TypeVar("T")
log = logging.getLogger("modelport.leases")


def utcnow() -> datetime:
    return datetime.now(UTC)


class LeasedLoop(abc.ABC, Generic[T]):
    """A thread in every server process; only the holder of the lease ``name`` does the work.

    Every ``interval_s`` the thread takes or renews the lease (``ttl_s``) and,
    while it holds it, makes one pass (:meth:`work`).  A pass that fails is
    logged and the thread goes on; :meth:`stop` waits for the pass in progress
    and hands the lease over at once (a process that dies lets it run out).
    """

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        interval_s: float = 5.0,
        ttl_s: float = 30.0,
    ) -> None:
        self.leases = Leases(db)
        self.name = name
        self.holder = holder or holder_id()
        self.clock = clock
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abc.abstractmethod
    def work(self) -> list[T]:
        """One pass, made while holding the lease (check :meth:`holds_lease` between long steps)."""

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def holds_lease(self) -> bool:
        return self.leases.acquire(self.name, self.holder, self.ttl_s, self.clock())

    def tick(self) -> list[T]:
        """Take or renew the lease; if held, one pass.  Returns what the pass did."""
        if not self.holds_lease():
            return []
        return self.work()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"modelport-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the database is away, a bug: log, try again next tick
                log.exception("%s: a pass failed", self.name)
            self._stop.wait(self.interval_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the pass in progress, and hand the lease over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.leases.release(self.name, self.holder)
        except Exception:  # shutting down with the database away: the lease just expires
            log.debug("could not release the %s lease", self.name, exc_info=True)
