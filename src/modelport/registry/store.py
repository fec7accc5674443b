"""SQL persistence of models, versions and aliases; returns domain objects.

One pattern everywhere: validate, open a managed transaction (commit or roll
back), translate database errors into modelport errors here, not above.  The
lookups and listings are :class:`~modelport.registry.reads.RegistryReads`'
(shared with the read-only SQLite reader); this store answers their queries
with SQLAlchemy Core and does the writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from modelport.db.database import Database
from modelport.db.rows import Row, version_from_row
from modelport.db.tables import aliases_table, models_table, utcnow, versions_table
from modelport.domain import Alias, ArtifactFile, Model, ModelVersion, validate_alias, validate_name
from modelport.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelport.registry.reads import RegistryReads


def _tag_filters(column: Any, tags: Mapping[str, str] | None) -> list[Any]:
    return [column[key].as_string() == str(value) for key, value in (tags or {}).items()]


def _upsert_dialect(conn: sa.Connection) -> Any:
    """The dialect module whose ``insert`` has ON CONFLICT (imported here: PostgreSQL's takes ~0.1 s)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql
    from sqlalchemy.dialects import sqlite

    return sqlite


class RegistryStore(RegistryReads):
    """Models, versions and aliases in the registry database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- models -----------------------------------------------------------------

    def create_model(self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None) -> Model:
        validate_name(name)
        try:
            with self.db.write() as conn:
                now = utcnow()
                conn.execute(
                    sa.insert(models_table).values(
                        name=name,
                        description=description,
                        tags=dict(tags or {}),
                        version_counter=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"model {name!r} already exists") from None
        return self.get_model(name)

    def update_model(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Model:
        with self.db.write() as conn:
            row = self._existing_model(conn, name)
            values: dict[str, Any] = {"updated_at": utcnow()}
            if description is not None:
                values["description"] = description
            if tags is not None:
                values["tags"] = {**row["tags"], **{k: v for k, v in tags.items() if v is not None}}
            conn.execute(sa.update(models_table).where(models_table.c.id == row["id"]).values(**values))
        return self.get_model(name)

    def delete_model(self, name: str, *, force: bool = False) -> list[ModelVersion]:
        """Delete a model and all its versions; refused while aliases exist unless forced."""
        with self.db.write() as conn:
            row = self._existing_model(conn, name)
            aliases = self._aliases(conn, row["id"])
            if aliases and not force:
                shown = ", ".join(f"{name}@{a}" for a in sorted(aliases))
                raise Conflict(f"model {name!r} has aliases ({shown}); delete them first or use --force")
            versions = [version_from_row(row["name"], v, aliases) for v in self._version_rows(conn, row["id"])]
            # Its versions and aliases go with it (ON DELETE CASCADE).
            conn.execute(sa.delete(models_table).where(models_table.c.id == row["id"]))
        return versions

    # -- versions ---------------------------------------------------------------

    def add_version(
        self,
        name: str,
        *,
        format: str,
        artifact_uri: str,
        sha256: str,
        size: int,
        files: Sequence[ArtifactFile],
        signature: Mapping[str, Any],
        metrics: Mapping[str, float],
        params: Mapping[str, str],
        tags: Mapping[str, str],
        source: Mapping[str, Any],
        description: str,
        created_by: str,
        baseline: Mapping[str, Any] | None = None,
        conversion: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Insert a version with the next number, creating the model on first use.

        The counter bump is an ``UPDATE … RETURNING`` on the model row: a row
        lock on PostgreSQL, the database write lock on SQLite.  Concurrent
        registrations therefore queue and get distinct consecutive numbers.
        """
        validate_name(name)
        m = models_table.c
        with self.db.write() as conn:
            now = utcnow()
            conn.execute(
                _upsert_dialect(conn).insert(models_table)
                .values(name=name, description="", tags={}, version_counter=0, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            model_id, version = conn.execute(
                sa.update(models_table)
                .where(m.name == name)
                .values(version_counter=m.version_counter + 1, updated_at=now)
                .returning(m.id, m.version_counter)
            ).one()
            values = {
                "model_id": model_id,
                "version": version,
                "format": format,
                "artifact_uri": artifact_uri,
                "sha256": sha256,
                "size": size,
                "files": [f.model_dump() for f in files],
                "signature": dict(signature),
                "metrics": {k: float(v) for k, v in metrics.items()},
                "params": {k: str(v) for k, v in params.items()},
                "tags": {k: str(v) for k, v in tags.items()},
                "source": dict(source),
                "description": description,
                "created_at": now,
                "created_by": created_by,
                "baseline": dict(baseline or {}),
                "conversion": dict(conversion or {}),
            }
            conn.execute(sa.insert(versions_table).values(**values))
            return version_from_row(name, values, {})

    def import_version(self, mv: ModelVersion) -> ModelVersion:
        """Insert ``mv`` under its own number (a container's registry is seeded with the versions it serves).

        The model's counter moves up to that number, so a later registration still gets a new one.
        """
        m = models_table.c
        with self.db.write() as conn:
            now = utcnow()
            conn.execute(
                _upsert_dialect(conn).insert(models_table)
                .values(name=mv.name, description="", tags={}, version_counter=0, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            model_id, counter = conn.execute(sa.select(m.id, m.version_counter).where(m.name == mv.name)).one()
            if mv.version > counter:
                conn.execute(sa.update(models_table).where(m.id == model_id).values(version_counter=mv.version))
            values = {
                "model_id": model_id,
                "version": mv.version,
                "format": mv.format,
                "artifact_uri": mv.artifact_uri,
                "sha256": mv.sha256,
                "size": mv.size,
                "files": [f.model_dump() for f in mv.files],
                "signature": dict(mv.signature),
                "metrics": dict(mv.metrics),
                "params": dict(mv.params),
                "tags": dict(mv.tags),
                "source": dict(mv.source),
                "description": mv.description,
                "created_at": mv.created_at,
                "created_by": mv.created_by,
                "baseline": dict(mv.baseline),
                "conversion": dict(mv.conversion),
            }
            conn.execute(sa.insert(versions_table).values(**values))
            return version_from_row(mv.name, values, {})

    def delete_version(self, name: str, version: int, *, force: bool = False) -> ModelVersion:
        v = versions_table.c
        with self.db.write() as conn:
            model = self._existing_model(conn, name)
            aliases = self._aliases(conn, model["id"])
            row = self._version_row(conn, model["id"], version)
            if row is None:
                raise NotFound(f"model version {name}:{version} does not exist")
            pointing = sorted(a for a, n in aliases.items() if n == version)
            if pointing and not force:
                shown = ", ".join(f"{name}@{a}" for a in pointing)
                raise Conflict(
                    f"model version {name}:{version} is the target of {shown}; move the alias first or use --force"
                )
            deleted = version_from_row(model["name"], row, aliases)
            if pointing:
                a = aliases_table.c
                conn.execute(sa.delete(aliases_table).where(a.model_id == model["id"], a.alias.in_(pointing)))
            conn.execute(sa.update(models_table).where(models_table.c.id == model["id"]).values(updated_at=utcnow()))
            conn.execute(sa.delete(versions_table).where(v.id == row["id"]))
            return deleted

    def referenced_sha256(self) -> set[str]:
        """Every blob some version references (model file or another file)."""
        v = versions_table.c
        with self.db.read() as conn:
            found = set(conn.scalars(sa.select(v.sha256)))
            for files in conn.scalars(sa.select(v.files)):
                found.update(f["sha256"] for f in files or () if f.get("sha256"))
        return found

    def sha256_in_use(self, sha256: str) -> bool:
        """Is a blob referenced by any version (as its model file or another file)?"""
        v = versions_table.c
        with self.db.read() as conn:
            if conn.scalar(sa.select(sa.func.count()).where(v.sha256 == sha256)):
                return True
            # Secondary files (the original of a converted model) live in the files list.
            for files in conn.scalars(sa.select(v.files)):
                if any(f.get("sha256") == sha256 for f in files or ()):
                    return True
            return False

    # -- aliases ----------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        validate_alias(alias)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidArgument(f"invalid version {version!r}: expected a positive integer")
        v, a = versions_table.c, aliases_table.c
        with self.db.write() as conn:
            model = self._existing_model(conn, name)
            exists = conn.scalar(sa.select(v.id).where(v.model_id == model["id"], v.version == version))
            if exists is None:
                raise NotFound(f"model version {name}:{version} does not exist")
            alias_id = conn.scalar(sa.select(a.id).where(a.model_id == model["id"], a.alias == alias))
            if alias_id is None:
                conn.execute(
                    sa.insert(aliases_table).values(model_id=model["id"], alias=alias, version=version, updated_at=utcnow())
                )
            else:
                conn.execute(sa.update(aliases_table).where(a.id == alias_id).values(version=version, updated_at=utcnow()))
        return Alias(name=name, alias=alias, version=version)

    def delete_alias(self, name: str, alias: str) -> None:
        validate_alias(alias)
        a = aliases_table.c
        with self.db.write() as conn:
            model = self._existing_model(conn, name)
            result = conn.execute(sa.delete(aliases_table).where(a.model_id == model["id"], a.alias == alias))
            if not result.rowcount:
                raise NotFound(f"alias {name}@{alias} does not exist")

    # -- the queries of RegistryReads ----------------------------------------------

    def _reading(self) -> contextlib.AbstractContextManager[sa.Connection]:
        return self.db.read()

    def _model_row(self, conn: sa.Connection, name: str) -> Row | None:
        return conn.execute(sa.select(models_table).where(models_table.c.name == name)).mappings().first()

    def _model_rows(
        self, conn: sa.Connection, *, after: str | None, name_contains: str | None, tags: Mapping[str, str], limit: int
    ) -> list[Row]:
        m = models_table.c
        q = sa.select(models_table).order_by(m.name).limit(limit)
        if after is not None:
            q = q.where(m.name > after)
        if name_contains:
            q = q.where(m.name.contains(name_contains, autoescape=True))
        for cond in _tag_filters(m.tags, tags):
            q = q.where(cond)
        return list(conn.execute(q).mappings())

    def _aliases(self, conn: sa.Connection, model_id: int) -> dict[str, int]:
        a = aliases_table.c
        rows = conn.execute(sa.select(a.alias, a.version).where(a.model_id == model_id))
        return {alias: version for alias, version in rows}

    def _latest_version(self, conn: sa.Connection, model_id: int) -> int | None:
        v = versions_table.c
        return conn.scalar(sa.select(sa.func.max(v.version)).where(v.model_id == model_id))

    def _version_row(self, conn: sa.Connection, model_id: int, version: int) -> Row | None:
        v = versions_table.c
        q = sa.select(versions_table).where(v.model_id == model_id, v.version == version)
        return conn.execute(q).mappings().first()

    def _version_rows(
        self,
        conn: sa.Connection,
        model_id: int,
        *,
        before: int | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        v = versions_table.c
        q = sa.select(versions_table).where(v.model_id == model_id).order_by(v.version.desc()).limit(limit)
        if before is not None:
            q = q.where(v.version < before)
        if format:
            q = q.where(v.format == format)
        for cond in _tag_filters(v.tags, tags):
            q = q.where(cond)
        return list(conn.execute(q).mappings())
