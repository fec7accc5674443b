"""What the SageMaker API keeps beside modelport's own objects: one record per resource, by kind and name.

A SageMaker model is a modelport model version plus the container fields it
was created with; an endpoint config exists only here (modelport writes a
config as a revision of an endpoint); an endpoint and a transform job are
modelport's, and the record keeps the SageMaker side of them (which config an
endpoint runs, a job's request).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from modelport.db.database import Database
from modelport.db.tables import sagemaker_resources_table, utcnow
from modelport.errors import AlreadyExists, NotFound

Kind = Literal["model", "endpoint-config", "endpoint", "transform-job"]


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    name: str
    target: str | None
    """The modelport object: ``name:N``, an endpoint's name, a transform job's id."""
    body: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime


class RecordStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, kind: Kind, name: str, *, target: str | None, body: dict[str, Any], created_by: str) -> Record:
        now = utcnow()
        try:
            with self.db.write() as conn:
                conn.execute(
                    sa.insert(sagemaker_resources_table).values(
                        kind=kind, name=name, target=target, body=body, created_by=created_by, created_at=now, updated_at=now
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"{kind} {name!r} already exists") from None
        return Record(kind, name, target, body, created_by, now, now)

    def put(self, kind: Kind, name: str, *, target: str | None, body: dict[str, Any], created_by: str) -> Record:
        """Add the record, or replace the target and body of the one there (its creation time stays)."""
        r = sagemaker_resources_table.c
        with self.db.write() as conn:
            done = conn.execute(
                sa.update(sagemaker_resources_table)
                .where(r.kind == kind, r.name == name)
                .values(target=target, body=body, updated_at=utcnow())
            ).rowcount
        if done:
            return self.get(kind, name)
        try:
            return self.add(kind, name, target=target, body=body, created_by=created_by)
        except AlreadyExists:  # added meanwhile by another request: ours is the later write
            return self.put(kind, name, target=target, body=body, created_by=created_by)

    def find(self, kind: Kind, name: str) -> Record | None:
        r = sagemaker_resources_table.c
        with self.db.read() as conn:
            row = conn.execute(sa.select(sagemaker_resources_table).where(r.kind == kind, r.name == name)).first()
        return None if row is None else _record(row)

    def get(self, kind: Kind, name: str) -> Record:
        found = self.find(kind, name)
        if found is None:
            raise NotFound(f"{kind} {name!r} does not exist")
        return found

    def list(self, kind: Kind) -> builtins.list[Record]:
        r = sagemaker_resources_table.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(sagemaker_resources_table).where(r.kind == kind).order_by(r.name))
            return [_record(row) for row in rows]

    def delete(self, kind: Kind, name: str) -> bool:
        r = sagemaker_resources_table.c
        with self.db.write() as conn:
            return bool(conn.execute(sa.delete(sagemaker_resources_table).where(r.kind == kind, r.name == name)).rowcount)


def _record(row: sa.Row[Any]) -> Record:
    return Record(row.kind, row.name, row.target, dict(row.body or {}), row.created_by, row.created_at, row.updated_at)
