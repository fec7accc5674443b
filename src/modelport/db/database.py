"""The registry database: engines, managed transactions, schema migrations.

SQLite runs in WAL mode with two engines on one file: readers use deferred
transactions (they never block each other or a writer), writers start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead
of failing with "database is locked" when a read lock is upgraded.
PostgreSQL uses one engine; version numbers are serialised by a row lock on
the model (see :mod:`modelport.registry.store`).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from modelport.db import SCHEMA_HEAD, UPGRADE_HINT
from modelport.errors import FailedPrecondition, InvalidArgument, Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_engine(url: sa.URL, *, immediate: bool) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself, so we choose IMMEDIATE for writers.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


#: the PostgreSQL driver modelport installs (the ``[postgres]`` extra)
POSTGRES_DRIVER = "psycopg"


def database_url(url: str) -> sa.URL:
    """Parse a database URL, accepting the spellings other tools write.

    ``postgres://`` (Heroku, Render, libpq's own docs) is ``postgresql://``,
    which SQLAlchemy does not know under that name; a PostgreSQL URL without a
    driver gets psycopg, the driver ``modelport[postgres]`` installs (SQLAlchemy
    2.0 would otherwise look for psycopg2).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidArgument(
            f"invalid database URL {url!r}: expected e.g. sqlite:///path/modelport.db "
            "or postgresql+psycopg://user@host:5432/db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=f"postgresql+{driver or POSTGRES_DRIVER}")
    return parsed


class Database:
    """Owns the engines; hands out connections in a transaction that commits or rolls back."""

    def __init__(self, url: str) -> None:
        parsed = database_url(url)
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        try:
            if self.is_sqlite:
                if parsed.database and parsed.database != ":memory:":
                    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                self.read_engine = _sqlite_engine(parsed, immediate=False)
                self.write_engine = _sqlite_engine(parsed, immediate=True)
            else:
                self.read_engine = self.write_engine = sa.create_engine(
                    parsed, pool_pre_ping=True, pool_size=8, max_overflow=16
                )
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            raise InvalidArgument(
                f"database URL {parsed.render_as_string(hide_password=True)!r} needs a driver that is not "
                f"installed ({exc}); for PostgreSQL: pip install 'modelport[postgres]'"
            ) from None

    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self._guard(), self.read_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction that commits on success and rolls back on any error."""
        with self._guard(), self.write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise Unavailable(self._unavailable(exc)) from None

    def _unavailable(self, exc: OperationalError) -> str:
        """One line: drivers explain on several (psycopg adds "Is the server running…?" hints)."""
        lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
        if self.is_sqlite:
            return f"database {self.display_url} is unavailable: {lines[0].strip()}"
        host = self.url.host or self.url.query.get("host") or "localhost"  # ?host=/run/postgresql: a socket folder
        where = f"{host}:{self.url.port or 5432}"
        return f"database {self.display_url} is unavailable (PostgreSQL at {where}): {lines[0].strip()}"

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()

    # -- schema ---------------------------------------------------------------

    @staticmethod
    def head_revision() -> str:
        return SCHEMA_HEAD

    def current_revision(self) -> str | None:
        """The revision in Alembic's version table; ``None`` for a database without one."""
        with self._guard(), self.read_engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            heads = list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        if len(heads) > 1:
            raise FailedPrecondition(f"database {self.display_url} has several schema revisions: {', '.join(heads)}")
        return heads[0] if heads else None

    def upgrade(self, revision: str = "head") -> str | None:
        """Apply migrations up to ``revision``; returns the revision the schema is now at."""
        from alembic import command
        from alembic.config import Config

        with self._guard(), self._migration_lock(), self.write_engine.connect() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
        return self.current_revision()

    def ensure_schema(self) -> None:
        """Create the schema in an empty database; refuse a stale one with the fix."""
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is None:
            with self._guard(), self.read_engine.connect() as conn:
                tables = sa.inspect(conn).get_table_names()
            if tables and "models" in tables:
                raise FailedPrecondition(
                    f"database {self.display_url} has modelport tables but no schema revision; "
                    f"run `{UPGRADE_HINT}` or point MODELPORT_DATABASE_URL at an empty database"
                )
            self.upgrade()
            return
        raise FailedPrecondition(
            f"database schema of {self.display_url} is at revision {current}, this modelport needs {head}: "
            f"run `{UPGRADE_HINT}`"
        )

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Serialise concurrent first-time set-ups (20 processes on a fresh home)."""
        if self.is_sqlite:
            db = self.url.database
            if not db or db == ":memory:":
                yield
                return
            lock_path = Path(db).expanduser().with_suffix(".migrate.lock")
            with open(lock_path, "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        else:
            with self.write_engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(715517)"))
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(715517)"))
                    conn.commit()
