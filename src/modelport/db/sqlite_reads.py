"""The registry read through the standard library: the CLI's everyday reads without SQLAlchemy.

``modelport models list`` and its kind spent a third of their start-up
importing SQLAlchemy to run a few SELECTs.  On a SQLite database at this
modelport's schema they read through :mod:`sqlite3` instead: a read-only
connection (``mode=ro``: nothing run on it can write) to the same WAL
database, one deferred transaction per lookup, as SQLAlchemy's read engine
does.  The lookups themselves (:class:`~modelport.registry.reads.RegistryReads`)
and the row → domain conversion (:mod:`modelport.db.rows`) are the stores'
own; only the SELECTs are written here.

:func:`open_reads` answers ``None`` for anything else: PostgreSQL, a URL with
options, a database that does not exist yet, has no schema revision or
another one, or cannot be opened.  The caller then opens the SQLAlchemy
:class:`~modelport.services.Services`, which creates the database or says
what is wrong, in one place.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelport.db import SCHEMA_HEAD
from modelport.db.rows import Row, config_from_row, endpoint_from_row, token_from_row
from modelport.domain import Token
from modelport.endpoints.config import Endpoint
from modelport.errors import Unavailable
from modelport.registry.reads import RegistryReads

#: the columns of the tables read here that SQLAlchemy stores as JSON text and as naive UTC timestamps
#: (db/tables.py; tests/db checks the two lists against the tables)
JSON_COLUMNS = frozenset(
    {"tags", "files", "signature", "metrics", "params", "source", "baseline", "conversion", "config", "variant_status"}
)
TIME_COLUMNS = frozenset({"created_at", "updated_at", "last_used_at"})
#: the tables read here
TABLES = ("models", "model_versions", "aliases", "tokens", "endpoints", "endpoint_configs")

# sqlite:///relative.db or sqlite:////absolute.db, nothing SQLAlchemy would decode or pass to the driver
_SQLITE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///([^?%]+)")


def open_reads(url: str) -> SQLiteReads | None:
    """A reader of the SQLite database at ``url`` if it is at this modelport's schema, else ``None``."""
    match = _SQLITE_URL.fullmatch(url)
    if match is None or match[1] == ":memory:" or not Path(match[1]).is_file():
        return None
    uri = Path(match[1]).absolute().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        heads = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:  # no schema yet, not a database, unreadable: SQLAlchemy's path says which
        heads = []
    if heads != [(SCHEMA_HEAD,)]:
        conn.close()
        return None
    return SQLiteReads(conn, url)


class SQLiteReads:
    """The read side of :class:`~modelport.services.Services` on a SQLite home: ``registry``, ``tokens``, ``endpoints``."""

    def __init__(self, conn: sqlite3.Connection, url: str) -> None:
        self._conn = conn
        self._url = url
        self._lock = threading.Lock()  # one connection, one transaction at a time
        self.registry = SQLiteRegistryReads(self)
        self.tokens = SQLiteTokenReads(self)
        self.endpoints = SQLiteEndpointReads(self)

    @contextlib.contextmanager
    def reading(self) -> Iterator[SQLiteReads]:
        """A deferred read transaction; an unusable database is one line, as on SQLAlchemy's path."""
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                try:
                    yield self
                finally:
                    self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
                raise Unavailable(f"database {self._url} is unavailable: {first}") from None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [{n: _decode(n, v) for n, v in zip(names, values, strict=True)} for values in cursor]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self._conn.close()


def _decode(column: str, value: Any) -> Any:
    """A stored value as SQLAlchemy's column type returns it."""
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json.loads(value)
    if column in TIME_COLUMNS:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def _where(conditions: Sequence[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """`` WHERE a AND b …`` and its parameters, from ``(sql, parameters)`` pairs."""
    if not conditions:
        return "", []
    return " WHERE " + " AND ".join(sql for sql, _ in conditions), [p for _, params in conditions for p in params]


def _tag_conditions(tags: Mapping[str, str] | None) -> list[tuple[str, list[Any]]]:
    """What SQLAlchemy renders for ``tags[key].as_string() == value`` on SQLite."""
    return [
        ("CAST(JSON_EXTRACT(tags, ?) AS VARCHAR) = ?", [f'$."{key}"', str(value)])
        for key, value in (tags or {}).items()
    ]


class SQLiteRegistryReads(RegistryReads):
    """The queries of :class:`~modelport.registry.reads.RegistryReads` in SQLite's SQL."""

    def __init__(self, db: SQLiteReads) -> None:
        self._db = db

    def _reading(self) -> contextlib.AbstractContextManager[SQLiteReads]:
        return self._db.reading()

    def _model_row(self, conn: SQLiteReads, name: str) -> Row | None:
        return next(iter(conn.rows("SELECT * FROM models WHERE name = ?", [name])), None)

    def _model_rows(
        self, conn: SQLiteReads, *, after: str | None, name_contains: str | None, tags: Mapping[str, str], limit: int
    ) -> list[Row]:
        conditions: list[tuple[str, list[Any]]] = [("name > ?", [after])] if after is not None else []
        if name_contains:  # SQLAlchemy's contains(…, autoescape=True)
            escaped = name_contains.replace("/", "//").replace("%", "/%").replace("_", "/_")
            conditions.append(("name LIKE '%' || ? || '%' ESCAPE '/'", [escaped]))
        where, params = _where(conditions + _tag_conditions(tags))
        return conn.rows(f"SELECT * FROM models{where} ORDER BY name LIMIT ?", [*params, limit])

    def _aliases(self, conn: SQLiteReads, model_id: int) -> dict[str, int]:
        rows = conn.rows("SELECT alias, version FROM aliases WHERE model_id = ?", [model_id])
        return {r["alias"]: r["version"] for r in rows}

    def _latest_version(self, conn: SQLiteReads, model_id: int) -> int | None:
        return conn.value("SELECT max(version) FROM model_versions WHERE model_id = ?", [model_id])  # type: ignore[no-any-return]

    def _version_row(self, conn: SQLiteReads, model_id: int, version: int) -> Row | None:
        rows = conn.rows("SELECT * FROM model_versions WHERE model_id = ? AND version = ?", [model_id, version])
        return next(iter(rows), None)

    def _version_rows(
        self,
        conn: SQLiteReads,
        model_id: int,
        *,
        before: int | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        conditions: list[tuple[str, list[Any]]] = [("model_id = ?", [model_id])]
        if before is not None:
            conditions.append(("version < ?", [before]))
        if format:
            conditions.append(("format = ?", [format]))
        where, params = _where(conditions + _tag_conditions(tags))
        sql = f"SELECT * FROM model_versions{where} ORDER BY version DESC LIMIT ?"
        return conn.rows(sql, [*params, -1 if limit is None else limit])


class SQLiteTokenReads:
    """:meth:`~modelport.auth.TokenStore.list` in SQLite's SQL."""

    def __init__(self, db: SQLiteReads) -> None:
        self._db = db

    def list(self) -> list[Token]:
        with self._db.reading() as conn:
            return [token_from_row(r) for r in conn.rows("SELECT * FROM tokens ORDER BY created_at")]


class SQLiteEndpointReads:
    """:meth:`~modelport.endpoints.store.EndpointStore.list` in SQLite's SQL."""

    def __init__(self, db: SQLiteReads) -> None:
        self._db = db

    def list(self) -> list[Endpoint]:
        with self._db.reading() as conn:
            return [
                endpoint_from_row(r, config_from_row(self._config(conn, r["id"], r["revision"]), r["revision"]))
                for r in conn.rows("SELECT * FROM endpoints ORDER BY name")
            ]

    @staticmethod
    def _config(conn: SQLiteReads, endpoint_id: int, revision: int) -> Any:
        sql = "SELECT config FROM endpoint_configs WHERE endpoint_id = ? AND revision = ?"
        rows = conn.rows(sql, [endpoint_id, revision])
        return rows[0]["config"] if rows else None
