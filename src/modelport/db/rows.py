"""Rows of the registry tables → domain objects, one conversion for every reader.

The SQLAlchemy stores (registry, tokens, endpoints) and the read-only SQLite
reader (:mod:`modelport.db.sqlite_reads`) both build their results here, so
the two paths cannot drift apart.  A row is a mapping of column name to value
as SQLAlchemy's column types return it: JSON columns decoded, timestamps as
aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelport.domain import ArtifactFile, Model, ModelVersion, Token
from modelport.endpoints.config import Endpoint, EndpointConfig
from modelport.errors import NotFound

Row = Mapping[Any, Any]


def model_from_row(row: Row, *, latest_version: int | None, aliases: dict[str, int]) -> Model:
    return Model(
        name=row["name"],
        description=row["description"],
        tags=dict(row["tags"] or {}),
        latest_version=latest_version,
        aliases=aliases,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def version_from_row(name: str, row: Row, aliases: Mapping[str, int]) -> ModelVersion:
    """A version from its row (or the values just inserted)."""
    return ModelVersion(
        name=name,
        version=row["version"],
        format=row["format"],
        artifact_uri=row["artifact_uri"],
        sha256=row["sha256"],
        size=row["size"],
        files=[ArtifactFile(**f) for f in row["files"] or ()],
        signature=dict(row["signature"] or {}),
        metrics=dict(row["metrics"] or {}),
        params=dict(row["params"] or {}),
        tags=dict(row["tags"] or {}),
        source=dict(row["source"] or {}),
        description=row["description"],
        aliases=sorted(a for a, n in aliases.items() if n == row["version"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        baseline=dict(row["baseline"] or {}),
        conversion=dict(row["conversion"] or {}),
    )


def token_from_row(row: Row) -> Token:
    return Token(
        id=row["id"],
        name=row["name"],
        scope=row["scope"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        sigv4=row["sealed_secret"] is not None,
    )


def config_from_row(config: Mapping[str, Any] | None, revision: int) -> EndpointConfig:
    """An endpoint's configuration at ``revision`` (``None``: no such revision)."""
    if config is None:
        raise NotFound(f"revision {revision} does not exist")
    return EndpointConfig.model_validate(config)


def endpoint_from_row(row: Row, config: EndpointConfig) -> Endpoint:
    return Endpoint(
        name=row["name"],
        revision=row["revision"],
        config=config,
        status=row["status"],
        failure_reason=row["failure_reason"],
        variant_status=dict(row["variant_status"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
