"""Endpoints in the registry database: current revision, history, status."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from modelport.db.database import Database
from modelport.db.rows import config_from_row, endpoint_from_row
from modelport.db.tables import endpoint_configs_table, endpoints_table, utcnow
from modelport.domain import validate_name
from modelport.endpoints.config import ConfigRevision, Endpoint, EndpointConfig
from modelport.errors import AlreadyExists, Conflict, NotFound


class EndpointStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, config: EndpointConfig, *, created_by: str) -> Endpoint:
        validate_name(name, "endpoint name")
        try:
            with self.db.write() as conn:
                now = utcnow()
                endpoint_id = conn.execute(
                    sa.insert(endpoints_table)
                    .values(name=name, revision=1, status="creating", variant_status={}, created_at=now, updated_at=now)
                    .returning(endpoints_table.c.id)
                ).scalar_one()
                conn.execute(self._insert_config(endpoint_id, 1, config, "create", created_by))
        except IntegrityError:
            raise AlreadyExists(f"endpoint {name!r} already exists") from None
        return self.get(name)

    def add_revision(
        self, name: str, config: EndpointConfig, *, action: str, created_by: str, expected_revision: int | None = None
    ) -> Endpoint:
        """Make ``config`` the current revision (the previous ones stay in the history).

        ``expected_revision``: only if that is still the current revision (else CONFLICT, nothing written).
        """
        with self.db.write() as conn:
            row = self._row(conn, name)
            if expected_revision is not None and row.revision != expected_revision:
                raise Conflict(
                    f"endpoint {name!r} changed meanwhile: revision {row.revision} is current, not {expected_revision}"
                )
            revision = row.revision + 1
            conn.execute(
                sa.update(endpoints_table)
                .where(endpoints_table.c.id == row.id)
                .values(revision=revision, status="updating", failure_reason=None, updated_at=utcnow())
            )
            conn.execute(self._insert_config(row.id, revision, config, action, created_by))
        return self.get(name)

    def get(self, name: str) -> Endpoint:
        with self.db.read() as conn:
            row = self._row(conn, name)
            return self._endpoint(row, self._config(conn, row.id, row.revision))

    def list(self) -> list[Endpoint]:
        with self.db.read() as conn:
            rows = list(conn.execute(sa.select(endpoints_table).order_by(endpoints_table.c.name)))
            return [self._endpoint(r, self._config(conn, r.id, r.revision)) for r in rows]

    def page(
        self, *, after: str = "", limit: int = 50, name_contains: str = ""
    ) -> tuple[builtins.list[Endpoint], bool]:
        """Endpoints by name after ``after``, with their current configs in the same query (the console's list):
        at most ``limit``, and whether more follow."""
        e, c = endpoints_table.c, endpoint_configs_table.c
        query = (
            sa.select(endpoints_table, c.config.label("current_config"))
            .join(endpoint_configs_table, sa.and_(c.endpoint_id == e.id, c.revision == e.revision))
            .where(e.name > after)
            .order_by(e.name)
            .limit(limit + 1)
        )
        if name_contains:
            query = query.where(e.name.contains(name_contains, autoescape=True))
        with self.db.read() as conn:
            rows = list(conn.execute(query))
        endpoints = [self._endpoint(r, config_from_row(r.current_config, r.revision)) for r in rows[:limit]]
        return endpoints, len(rows) > limit

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(endpoints_table)) or 0)

    def revisions(self) -> dict[str, int]:
        """name → current revision: the one cheap query servers poll."""
        e = endpoints_table.c
        with self.db.read() as conn:
            return {name: rev for name, rev in conn.execute(sa.select(e.name, e.revision))}

    def history(self, name: str, *, limit: int | None = None) -> builtins.list[ConfigRevision]:
        c = endpoint_configs_table.c
        with self.db.read() as conn:
            row = self._row(conn, name)
            configs = conn.execute(
                sa.select(endpoint_configs_table)
                .where(c.endpoint_id == row.id)
                .order_by(c.revision.desc())
                .limit(limit)
            )
            return [
                ConfigRevision(
                    endpoint=name,
                    revision=r.revision,
                    config=EndpointConfig.model_validate(r.config),
                    created_at=r.created_at,
                    created_by=r.created_by,
                    action=r.action,
                )
                for r in configs
            ]

    def variant_since(self, name: str, variant: str) -> datetime | None:
        """When ``variant`` began serving what it serves now (same model, same role: live or shadow).

        The revisions are read newest first until one differs; None when the
        current revision has no such variant.
        """
        c = endpoint_configs_table.c
        since = None
        current: tuple[Any, Any] | None = None
        with self.db.read() as conn:
            row = self._row(conn, name)
            revisions = conn.execute(
                sa.select(c.config, c.created_at).where(c.endpoint_id == row.id).order_by(c.revision.desc())
            )
            for config, created_at in revisions:
                spec = next((v for v in config.get("variants", []) if v.get("name") == variant), None)
                key = None if spec is None else (spec.get("model"), bool(spec.get("shadow")))
                if current is None:
                    if key is None:
                        return None
                    current = key
                if key != current:
                    break
                since = created_at
        return since

    def revision(self, name: str, revision: int) -> EndpointConfig:
        with self.db.read() as conn:
            row = self._row(conn, name)
            return self._config(conn, row.id, revision)

    def delete(self, name: str) -> None:
        with self.db.write() as conn:
            row = self._row(conn, name)
            # Its configurations go with it (ON DELETE CASCADE).
            conn.execute(sa.delete(endpoints_table).where(endpoints_table.c.id == row.id))

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
        e = endpoints_table.c
        with self.db.write() as conn:
            result = conn.execute(
                sa.update(endpoints_table)
                .where(e.name == name, e.revision == revision)
                .values(status=status, failure_reason=reason, variant_status=variants or {}, updated_at=utcnow())
            )
            return bool(result.rowcount)

    def models_in_use(self) -> dict[str, builtins.list[str]]:
        """``name:N`` → endpoints whose current config serves it."""
        e, c = endpoints_table.c, endpoint_configs_table.c
        used: dict[str, builtins.list[str]] = {}
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(e.name, c.config).join(
                    endpoint_configs_table, sa.and_(c.endpoint_id == e.id, c.revision == e.revision)
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
    def _insert_config(endpoint_id: int, revision: int, config: EndpointConfig, action: str, by: str) -> sa.Insert:
        return sa.insert(endpoint_configs_table).values(
            endpoint_id=endpoint_id,
            revision=revision,
            config=config.model_dump(mode="json", context={"secrets": True}),
            action=action,
            created_at=utcnow(),
            created_by=by,
        )

    @staticmethod
    def _row(conn: sa.Connection, name: str) -> sa.Row[Any]:
        validate_name(name, "endpoint name")
        row = conn.execute(sa.select(endpoints_table).where(endpoints_table.c.name == name)).first()
        if row is None:
            raise NotFound(f"endpoint {name!r} does not exist")
        return row

    @staticmethod
    def _config(conn: sa.Connection, endpoint_id: int, revision: int) -> EndpointConfig:
        c = endpoint_configs_table.c
        config = conn.scalar(sa.select(c.config).where(c.endpoint_id == endpoint_id, c.revision == revision))
        return config_from_row(config, revision)

    @staticmethod
    def _endpoint(row: sa.Row[Any], config: EndpointConfig) -> Endpoint:
        return endpoint_from_row(row._mapping, config)
