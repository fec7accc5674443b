"""SQL persistence of models, versions and aliases; returns domain objects.

One pattern everywhere: validate, open a managed session (commit or roll
back), translate database errors into modelport errors here, not above.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelport.db.database import Database
from modelport.db.tables import AliasRow, ModelRow, ModelVersionRow, utcnow
from modelport.domain import (
    Alias,
    ArtifactFile,
    Model,
    ModelRef,
    ModelVersion,
    Page,
    validate_alias,
    validate_name,
)
from modelport.errors import AlreadyExists, Conflict, InvalidArgument, NotFound

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


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or limit < 1 or limit > MAX_PAGE:
        raise InvalidArgument(f"invalid limit {limit!r}: expected 1 to {MAX_PAGE}")
    return limit


def _tag_filters(column: Any, tags: Mapping[str, str] | None) -> list[Any]:
    return [column[key].as_string() == str(value) for key, value in (tags or {}).items()]


class RegistryStore:
    """Models, versions and aliases in the registry database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- models -----------------------------------------------------------------

    def create_model(self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None) -> Model:
        validate_name(name)
        try:
            with self.db.write() as s:
                now = utcnow()
                s.add(
                    ModelRow(
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

    def get_model(self, name: str) -> Model:
        validate_name(name)
        with self.db.read() as s:
            return self._model(s, self._model_row(s, name))

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
        q = sa.select(ModelRow).order_by(ModelRow.name).limit(limit + 1)
        if after is not None:
            q = q.where(ModelRow.name > str(after))
        if name_contains:
            q = q.where(ModelRow.name.contains(name_contains, autoescape=True))
        for cond in _tag_filters(ModelRow.tags, tags):
            q = q.where(cond)
        with self.db.read() as s:
            rows = list(s.scalars(q))
            items = [self._model(s, r) for r in rows[:limit]]
        token = encode_token(items[-1].name) if len(rows) > limit else None
        return Page[Model](items=items, next_page_token=token)

    def update_model(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Model:
        with self.db.write() as s:
            row = self._model_row(s, name)
            if description is not None:
                row.description = description
            if tags is not None:
                row.tags = {**row.tags, **{k: v for k, v in tags.items() if v is not None}}
            row.updated_at = utcnow()
        return self.get_model(name)

    def delete_model(self, name: str, *, force: bool = False) -> list[ModelVersion]:
        """Delete a model and all its versions; refused while aliases exist unless forced."""
        with self.db.write() as s:
            row = self._model_row(s, name)
            aliases = self._aliases(s, row.id)
            if aliases and not force:
                shown = ", ".join(f"{name}@{a}" for a in sorted(aliases))
                raise Conflict(f"model {name!r} has aliases ({shown}); delete them first or use --force")
            versions = [self._version(s, row, v, aliases) for v in self._version_rows(s, row.id)]
            s.delete(row)
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
        with self.db.write() as s:
            now = utcnow()
            insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert  # type: ignore[union-attr]
            s.execute(
                insert(ModelRow)
                .values(name=name, description="", tags={}, version_counter=0, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            model_id, version = s.execute(
                sa.update(ModelRow)
                .where(ModelRow.name == name)
                .values(version_counter=ModelRow.version_counter + 1, updated_at=now)
                .returning(ModelRow.id, ModelRow.version_counter)
            ).one()
            row = ModelVersionRow(
                model_id=model_id,
                version=version,
                format=format,
                artifact_uri=artifact_uri,
                sha256=sha256,
                size=size,
                files=[f.model_dump() for f in files],
                signature=dict(signature),
                metrics={k: float(v) for k, v in metrics.items()},
                params={k: str(v) for k, v in params.items()},
                tags={k: str(v) for k, v in tags.items()},
                source=dict(source),
                description=description,
                created_at=now,
                created_by=created_by,
                baseline=dict(baseline or {}),
                conversion=dict(conversion or {}),
            )
            s.add(row)
            s.flush()
            model = s.get_one(ModelRow, model_id)
            return self._version(s, model, row, {})

    def get_version(self, ref: ModelRef | str) -> ModelVersion:
        """Resolve ``name:v``, ``name@alias`` or ``name`` (the latest version)."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self.db.read() as s:
            model = self._model_row(s, ref.name)
            aliases = self._aliases(s, model.id)
            if ref.alias is not None:
                if ref.alias not in aliases:
                    raise NotFound(f"alias {ref} does not exist")
                number = aliases[ref.alias]
            elif ref.version is not None:
                number = ref.version
            else:
                latest = s.scalar(sa.select(sa.func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == model.id))
                if latest is None:
                    raise NotFound(f"model {ref.name!r} has no versions")
                number = latest
            row = s.scalar(
                sa.select(ModelVersionRow).where(ModelVersionRow.model_id == model.id, ModelVersionRow.version == number)
            )
            if row is None:
                raise NotFound(f"model version {ref.name}:{number} does not exist")
            return self._version(s, model, row, aliases)

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
        with self.db.read() as s:
            model = self._model_row(s, name)
            aliases = self._aliases(s, model.id)
            q = (
                sa.select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.version.desc())
                .limit(limit + 1)
            )
            if before is not None:
                if not isinstance(before, int):
                    raise InvalidArgument("invalid page token: pass back the next_page_token of a previous page")
                q = q.where(ModelVersionRow.version < before)
            if format:
                q = q.where(ModelVersionRow.format == format)
            for cond in _tag_filters(ModelVersionRow.tags, tags):
                q = q.where(cond)
            rows = list(s.scalars(q))
            items = [self._version(s, model, r, aliases) for r in rows[:limit]]
        token = encode_token(items[-1].version) if len(rows) > limit else None
        return Page[ModelVersion](items=items, next_page_token=token)

    def delete_version(self, name: str, version: int, *, force: bool = False) -> ModelVersion:
        with self.db.write() as s:
            model = self._model_row(s, name)
            aliases = self._aliases(s, model.id)
            row = s.scalar(
                sa.select(ModelVersionRow).where(ModelVersionRow.model_id == model.id, ModelVersionRow.version == version)
            )
            if row is None:
                raise NotFound(f"model version {name}:{version} does not exist")
            pointing = sorted(a for a, v in aliases.items() if v == version)
            if pointing and not force:
                shown = ", ".join(f"{name}@{a}" for a in pointing)
                raise Conflict(
                    f"model version {name}:{version} is the target of {shown}; move the alias first or use --force"
                )
            deleted = self._version(s, model, row, aliases)
            if pointing:
                s.execute(sa.delete(AliasRow).where(AliasRow.model_id == model.id, AliasRow.alias.in_(pointing)))
            s.delete(row)
            model.updated_at = utcnow()
            return deleted

    def referenced_sha256(self) -> set[str]:
        """Every blob some version references (model file or another file)."""
        with self.db.read() as s:
            found = set(s.scalars(sa.select(ModelVersionRow.sha256)))
            for files in s.scalars(sa.select(ModelVersionRow.files)):
                found.update(f["sha256"] for f in files or () if f.get("sha256"))
        return found

    def sha256_in_use(self, sha256: str) -> bool:
        """Is a blob referenced by any version (as its model file or another file)?"""
        with self.db.read() as s:
            if s.scalar(sa.select(sa.func.count()).where(ModelVersionRow.sha256 == sha256)):
                return True
            # Secondary files (the original of a converted model) live in the files list.
            for files in s.scalars(sa.select(ModelVersionRow.files)):
                if any(f.get("sha256") == sha256 for f in files or ()):
                    return True
            return False

    # -- aliases ----------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        validate_alias(alias)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidArgument(f"invalid version {version!r}: expected a positive integer")
        with self.db.write() as s:
            model = self._model_row(s, name)
            exists = s.scalar(
                sa.select(ModelVersionRow.id).where(ModelVersionRow.model_id == model.id, ModelVersionRow.version == version)
            )
            if exists is None:
                raise NotFound(f"model version {name}:{version} does not exist")
            row = s.scalar(sa.select(AliasRow).where(AliasRow.model_id == model.id, AliasRow.alias == alias))
            if row is None:
                s.add(AliasRow(model_id=model.id, alias=alias, version=version, updated_at=utcnow()))
            else:
                row.version = version
                row.updated_at = utcnow()
        return Alias(name=name, alias=alias, version=version)

    def delete_alias(self, name: str, alias: str) -> None:
        validate_alias(alias)
        with self.db.write() as s:
            model = self._model_row(s, name)
            result = s.execute(sa.delete(AliasRow).where(AliasRow.model_id == model.id, AliasRow.alias == alias))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"alias {name}@{alias} does not exist")

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _model_row(s: Session, name: str) -> ModelRow:
        validate_name(name)
        row = s.scalar(sa.select(ModelRow).where(ModelRow.name == name))
        if row is None:
            raise NotFound(f"model {name!r} does not exist")
        return row

    @staticmethod
    def _aliases(s: Session, model_id: int) -> dict[str, int]:
        rows = s.execute(sa.select(AliasRow.alias, AliasRow.version).where(AliasRow.model_id == model_id))
        return {alias: version for alias, version in rows}

    @staticmethod
    def _version_rows(s: Session, model_id: int) -> list[ModelVersionRow]:
        return list(
            s.scalars(
                sa.select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model_id)
                .order_by(ModelVersionRow.version.desc())
            )
        )

    def _model(self, s: Session, row: ModelRow) -> Model:
        latest = s.scalar(sa.select(sa.func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == row.id))
        return Model(
            name=row.name,
            description=row.description,
            tags=dict(row.tags or {}),
            latest_version=latest,
            aliases=self._aliases(s, row.id),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _version(s: Session, model: ModelRow, row: ModelVersionRow, aliases: Mapping[str, int]) -> ModelVersion:
        return ModelVersion(
            name=model.name,
            version=row.version,
            format=row.format,
            artifact_uri=row.artifact_uri,
            sha256=row.sha256,
            size=row.size,
            files=[ArtifactFile(**f) for f in row.files or ()],
            signature=dict(row.signature or {}),
            metrics=dict(row.metrics or {}),
            params=dict(row.params or {}),
            tags=dict(row.tags or {}),
            source=dict(row.source or {}),
            description=row.description,
            aliases=sorted(a for a, v in aliases.items() if v == row.version),
            created_at=row.created_at,
            created_by=row.created_by,
            baseline=dict(row.baseline or {}),
            conversion=dict(row.conversion or {}),
        )
