"""Endpoints in the registry database: current revision, history, status."""

from __future__ import annotations

import builtins
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelport.db.database import Database
from modelport.db.tables import EndpointConfigRow, EndpointRow, utcnow
from modelport.domain import validate_name
from modelport.endpoints.config import ConfigRevision, Endpoint, EndpointConfig
from modelport.errors import AlreadyExists, NotFound


class EndpointStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, config: EndpointConfig, *, created_by: str) -> Endpoint:
        validate_name(name, "endpoint name")
        try:
            with self.db.write() as s:
                now = utcnow()
                row = EndpointRow(
                    name=name, revision=1, status="creating", variant_status={}, created_at=now, updated_at=now
                )
                s.add(row)
                s.flush()
                s.add(self._config_row(row.id, 1, config, "create", created_by))
        except IntegrityError:
            raise AlreadyExists(f"endpoint {name!r} already exists") from None
        return self.get(name)

    def add_revision(self, name: str, config: EndpointConfig, *, action: str, created_by: str) -> Endpoint:
        """Make ``config`` the current revision (the previous ones stay in the history)."""
        with self.db.write() as s:
            row = self._row(s, name)
            row.revision += 1
            row.status = "updating"
            row.failure_reason = None
            row.updated_at = utcnow()
            s.add(self._config_row(row.id, row.revision, config, action, created_by))
        return self.get(name)

    def get(self, name: str) -> Endpoint:
        with self.db.read() as s:
            row = self._row(s, name)
            return self._endpoint(row, self._config(s, row.id, row.revision))

    def list(self) -> list[Endpoint]:
        with self.db.read() as s:
            rows = list(s.scalars(sa.select(EndpointRow).order_by(EndpointRow.name)))
            return [self._endpoint(r, self._config(s, r.id, r.revision)) for r in rows]

    def revisions(self) -> dict[str, int]:
        """name → current revision: the one cheap query servers poll."""
        with self.db.read() as s:
            return {name: rev for name, rev in s.execute(sa.select(EndpointRow.name, EndpointRow.revision))}

    def history(self, name: str) -> builtins.list[ConfigRevision]:
        with self.db.read() as s:
            row = self._row(s, name)
            configs = s.scalars(
                sa.select(EndpointConfigRow)
                .where(EndpointConfigRow.endpoint_id == row.id)
                .order_by(EndpointConfigRow.revision.desc())
            )
            return [
                ConfigRevision(
                    endpoint=name,
                    revision=c.revision,
                    config=EndpointConfig.model_validate(c.config),
                    created_at=c.created_at,
                    created_by=c.created_by,
                    action=c.action,
                )
                for c in configs
            ]

    def revision(self, name: str, revision: int) -> EndpointConfig:
        with self.db.read() as s:
            row = self._row(s, name)
            return self._config(s, row.id, revision)

    def delete(self, name: str) -> None:
        with self.db.write() as s:
            s.delete(self._row(s, name))

    def set_status(
        self,
        name: str,
        revision: int,
        status: str,
        *,
        reason: str | None = None,
        variants: dict[str, dict[str, Any]] | None = None,
    ) -> bool:
        """Record what a server made of a revision; ignored if the revision is no longer current."""
        with self.db.write() as s:
            result = s.execute(
                sa.update(EndpointRow)
                .where(EndpointRow.name == name, EndpointRow.revision == revision)
                .values(status=status, failure_reason=reason, variant_status=variants or {}, updated_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def models_in_use(self) -> dict[str, builtins.list[str]]:
        """``name:N`` → endpoints whose current config serves it."""
        used: dict[str, builtins.list[str]] = {}
        with self.db.read() as s:
            rows = s.execute(
                sa.select(EndpointRow.name, EndpointConfigRow.config).join(
                    EndpointConfigRow,
                    sa.and_(
                        EndpointConfigRow.endpoint_id == EndpointRow.id,
                        EndpointConfigRow.revision == EndpointRow.revision,
                    ),
                )
            )
            for name, config in rows:
                for v in config.get("variants", []):
                    users = used.setdefault(v["model"], [])
                    if name not in users:
                        users.append(name)
        return used

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _config_row(endpoint_id: int, revision: int, config: EndpointConfig, action: str, by: str) -> EndpointConfigRow:
        return EndpointConfigRow(
            endpoint_id=endpoint_id,
            revision=revision,
            config=config.model_dump(mode="json"),
            action=action,
            created_at=utcnow(),
            created_by=by,
        )

    @staticmethod
    def _row(s: Session, name: str) -> EndpointRow:
        validate_name(name, "endpoint name")
        row = s.scalar(sa.select(EndpointRow).where(EndpointRow.name == name))
        if row is None:
            raise NotFound(f"endpoint {name!r} does not exist")
        return row

    @staticmethod
    def _config(s: Session, endpoint_id: int, revision: int) -> EndpointConfig:
        row = s.scalar(
            sa.select(EndpointConfigRow).where(
                EndpointConfigRow.endpoint_id == endpoint_id, EndpointConfigRow.revision == revision
            )
        )
        if row is None:
            raise NotFound(f"revision {revision} does not exist")
        return EndpointConfig.model_validate(row.config)

    @staticmethod
    def _endpoint(row: EndpointRow, config: EndpointConfig) -> Endpoint:
        return Endpoint(
            name=row.name,
            revision=row.revision,
            config=config,
            status=row.status,  # type: ignore[arg-type]
            failure_reason=row.failure_reason,
            variant_status=dict(row.variant_status or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
