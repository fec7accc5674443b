"""The registry's lookups and listings, written once over a few single-table queries.

Two backends answer those queries: :class:`~modelport.registry.store.RegistryStore`
with SQLAlchemy Core (SQLite and PostgreSQL, reads and writes), and
:class:`~modelport.db.sqlite_reads.SQLiteRegistryReads` with the stdlib
:mod:`sqlite3` (the CLI's everyday reads of a SQLite home, without importing
SQLAlchemy).  Resolving ``churn@champion``, paging and the error messages are
here; each backend only says how to fetch a row.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from modelport.db.rows import Row, model_from_row, version_from_row
from modelport.domain import Model, ModelRef, ModelVersion, Page, validate_name
from modelport.errors import InvalidArgument, NotFound

MAX_PAGE = 1000


def encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        value = None
    # encode_token wrote a name or a row number: anything else (true, 2^63, a list) was forged, and
    # reached the database as a 500 (OverflowError, ArgumentError)
    if not (isinstance(value, str) or (type(value) is int and -(2**63) <= value < 2**63)):
        shown = token if len(token) <= 40 else token[:40] + "…"
        raise InvalidArgument(f"invalid page token {shown!r}: pass back the next_page_token of a previous page")
    return value


def newest_first(query: Any, key: Any, page_token: str | None, limit: int) -> Any:
    """A SQLAlchemy ``query`` newest first by the integer column ``key``, from where the page ``page_token``
    ended, one row past ``limit`` (so :func:`next_token` can tell whether another page follows)."""
    before = decode_token(page_token)
    query = query.order_by(key.desc()).limit(limit + 1)
    if before is not None:
        if not isinstance(before, int):
            raise InvalidArgument("invalid page token: pass back the next_page_token of a previous page")
        query = query.where(key < before)
    return query


def next_token(rows: Sequence[Any], limit: int, key: str) -> str | None:
    """The token of the page after ``rows`` (fetched by :func:`newest_first`), None on the last page."""
    return encode_token(getattr(rows[limit - 1], key)) if len(rows) > limit else None


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or limit < 1 or limit > MAX_PAGE:
        raise InvalidArgument(f"invalid limit {limit!r}: expected 1 to {MAX_PAGE}")
    return limit


class RegistryReads(ABC):
    """Models, versions and aliases looked up; a backend implements the ``_``-queries below.

    ``conn`` is whatever :meth:`_reading` yields; ``tags`` filters match every
    ``key=value`` (values compared as strings); ``limit=None`` is no limit.
    """

    # -- the queries a backend answers ----------------------------------------------

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]:
        """A read transaction: the queries of one lookup see one snapshot."""

    @abstractmethod
    def _model_row(self, conn: Any, name: str) -> Row | None:
        """The ``models`` row named ``name``."""

    @abstractmethod
    def _model_rows(
        self, conn: Any, *, after: str | None, name_contains: str | None, tags: Mapping[str, str], limit: int
    ) -> list[Row]:
        """``models`` rows by name, after ``after``, whose name contains ``name_contains`` (literally)."""

    @abstractmethod
    def _aliases(self, conn: Any, model_id: int) -> dict[str, int]:
        """A model's aliases: alias → version."""

    @abstractmethod
    def _latest_version(self, conn: Any, model_id: int) -> int | None:
        """A model's highest version number still registered."""

    @abstractmethod
    def _version_row(self, conn: Any, model_id: int, version: int) -> Row | None:
        """The ``model_versions`` row of one version."""

    @abstractmethod
    def _version_rows(
        self,
        conn: Any,
        model_id: int,
        *,
        before: int | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """A model's ``model_versions`` rows, newest first, below ``before``, of ``format``."""

    # -- lookups ----------------------------------------------------------------------

    def get_model(self, name: str) -> Model:
        with self._reading() as conn:
            return self._model(conn, self._existing_model(conn, name))

    def list_models(
        self,
        *,
        limit: int = 100,
        page_token: str | None = None,
        name_contains: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[Model]:
        check_limit(limit)
        after = decode_token(page_token)
        with self._reading() as conn:
            rows = self._model_rows(
                conn,
                after=None if after is None else str(after),
                name_contains=name_contains or None,
                tags=tags or {},
                limit=limit + 1,
            )
            items = [self._model(conn, r) for r in rows[:limit]]
        token = encode_token(items[-1].name) if len(rows) > limit else None
        return Page[Model](items=items, next_page_token=token)

    def get_version(self, ref: ModelRef | str) -> ModelVersion:
        """Resolve ``name:v``, ``name@alias`` or ``name`` (the latest version)."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._reading() as conn:
            model = self._existing_model(conn, ref.name)
            aliases = self._aliases(conn, model["id"])
            if ref.alias is not None:
                if ref.alias not in aliases:
                    raise NotFound(f"alias {ref} does not exist")
                number = aliases[ref.alias]
            elif ref.version is not None:
                number = ref.version
            else:
                latest = self._latest_version(conn, model["id"])
                if latest is None:
                    raise NotFound(f"model {ref.name!r} has no versions")
                number = latest
            row = self._version_row(conn, model["id"], number)
            if row is None:
                raise NotFound(f"model version {ref.name}:{number} does not exist")
            return version_from_row(model["name"], row, aliases)

    def list_versions(
        self,
        name: str,
        *,
        limit: int = 100,
        page_token: str | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[ModelVersion]:
        check_limit(limit)
        before = decode_token(page_token)
        with self._reading() as conn:
            model = self._existing_model(conn, name)
            aliases = self._aliases(conn, model["id"])
            if before is not None and not isinstance(before, int):
                raise InvalidArgument("invalid page token: pass back the next_page_token of a previous page")
            rows = self._version_rows(
                conn, model["id"], before=before, format=format or None, tags=tags or {}, limit=limit + 1
            )
            items = [version_from_row(model["name"], r, aliases) for r in rows[:limit]]
        token = encode_token(items[-1].version) if len(rows) > limit else None
        return Page[ModelVersion](items=items, next_page_token=token)

    # -- shared with the writes ---------------------------------------------------------

    def _existing_model(self, conn: Any, name: str) -> Row:
        validate_name(name)
        row = self._model_row(conn, name)
        if row is None:
            raise NotFound(f"model {name!r} does not exist")
        return row

    def _model(self, conn: Any, row: Row) -> Model:
        return model_from_row(
            row, latest_version=self._latest_version(conn, row["id"]), aliases=self._aliases(conn, row["id"])
        )
