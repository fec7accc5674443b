"""ORM tables of the registry.  Migrations never import this module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (SQLite has no time zones), returns aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(63), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    tags: Mapped[dict[str, str]] = mapped_column(sa.JSON, nullable=False, default=dict)
    # The highest version ever assigned; never decreases, so deleted versions are not reused.
    version_counter: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (sa.UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    format: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    artifact_uri: Mapped[str] = mapped_column(sa.Text, nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    files: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, nullable=False, default=list)
    signature: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    metrics: Mapped[dict[str, float]] = mapped_column(sa.JSON, nullable=False, default=dict)
    params: Mapped[dict[str, str]] = mapped_column(sa.JSON, nullable=False, default=dict)
    tags: Mapped[dict[str, str]] = mapped_column(sa.JSON, nullable=False, default=dict)
    source: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    baseline: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    conversion: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)


class AliasRow(Base):
    __tablename__ = "aliases"
    __table_args__ = (sa.UniqueConstraint("model_id", "alias"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False)
    alias: Mapped[str] = mapped_column(sa.String(63), nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class TokenRow(Base):
    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(63), nullable=False)
    scope: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the secret encrypted with the server key (modelport/server_key.py), for SigV4; NULL before 0006
    sealed_secret: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class EndpointRow(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(63), nullable=False, unique=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    failure_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    variant_status: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class EndpointConfigRow(Base):
    __tablename__ = "endpoint_configs"
    __table_args__ = (sa.UniqueConstraint("endpoint_id", "revision"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    action: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")


class TransformJobRow(Base):
    __tablename__ = "transform_jobs"

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(32), nullable=False, unique=True)
    model: Mapped[str] = mapped_column(sa.String(140), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    # Fixed when the job is created (inputs, schema, outputs); every run works from it.
    plan: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    progress: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    failure_code: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # Who runs it: a resume is refused while that process is alive and beating.
    runner_host: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    runner_pid: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    runs: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_by: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Also the heartbeat of a running job.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
