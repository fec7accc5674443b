"""The SDK in-process: straight to the registry database and artifact store."""

from __future__ import annotations

import builtins
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.client.base import ModelsAPI, TokensAPI
from modelport.domain import Alias, Model, ModelVersion, NewToken, Page, Token

if TYPE_CHECKING:
    from modelport.db.sqlite_reads import SQLiteReads
    from modelport.registry.service import Registry
    from modelport.services import Services
    from modelport.settings import Settings


class LocalHome:
    """A modelport home in-process: its :class:`~modelport.services.Services`, opened when first needed.

    Reads of a SQLite home at this modelport's schema go through a read-only
    stdlib connection (:mod:`modelport.db.sqlite_reads`), so ``modelport
    models list`` never imports SQLAlchemy.  Any other home has its services
    opened at once: a stale or unreachable database is refused when the
    client is made, as it always was.
    """

    def __init__(self, settings: Settings) -> None:
        from modelport.db.sqlite_reads import open_reads

        self.settings = settings
        self._services: Services | None = None
        self._sqlite = open_reads(settings.resolved_database_url)
        if self._sqlite is None:
            self.services  # noqa: B018 -- opened (and checked) now

    @property
    def services(self) -> Services:
        if self._services is None:
            from modelport.services import Services

            self._services = Services.open(self.settings)
        return self._services

    @property
    def reads(self) -> Services | SQLiteReads:
        """What answers reads: the services once they are open (their connections are there), else the reader."""
        if self._services is not None or self._sqlite is None:
            return self.services
        return self._sqlite

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._services is not None:
            self._services.close()
            self._services = None


class LocalModels(ModelsAPI):
    def __init__(self, home: LocalHome) -> None:
        self._home = home

    @property
    def _reg(self) -> Registry:
        return self._home.services.registry

    def register(
        self,
        path: str | Path,
        name: str,
        *,
        format: str | None = None,
        description: str = "",
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
        sample: str | Path | None = None,
        to_onnx: bool = False,
        force: bool = False,
        atol: float = 1e-4,
        trust: bool = False,
    ) -> ModelVersion:
        return self._reg.register(
            path,
            name,
            format=format,
            description=description,
            metrics=metrics,
            params=params,
            tags=tags,
            signature=signature,
            sample=sample,
            to_onnx=to_onnx,
            force=force,
            atol=atol,
            trust=trust,
        )

    def list(
        self,
        *,
        limit: int = 100,
        page_token: str | None = None,
        name_contains: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[Model]:
        reads = self._home.reads.registry
        return reads.list_models(limit=limit, page_token=page_token, name_contains=name_contains, tags=tags)

    def get(self, name: str) -> Model:
        return self._home.reads.registry.get_model(name)

    def show(self, ref: str) -> ModelVersion:
        return self._home.reads.registry.get_version(ref)

    def versions(
        self,
        name: str,
        *,
        limit: int = 100,
        page_token: str | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[ModelVersion]:
        reads = self._home.reads.registry
        return reads.list_versions(name, limit=limit, page_token=page_token, format=format, tags=tags)

    def update(self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None) -> Model:
        return self._reg.update_model(name, description=description, tags=tags)

    def delete(self, ref: str, *, force: bool = False) -> builtins.list[ModelVersion]:
        target = self._delete_target(ref)
        if target.version is None:
            return self._reg.delete_model(target.name, force=force)
        return [self._reg.delete_version(target, force=force)]

    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        return self._reg.set_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self._reg.delete_alias(name, alias)

    def _verified_path(self, mv: ModelVersion) -> Path:
        return self._reg.model_path(mv)

    def download(self, ref: str, dest: str | Path, *, role: str = "model") -> Path:
        mv = self._reg.get_version(ref)
        src = self._reg.artifact_path(mv, role)
        target = Path(dest)
        if target.is_dir():
            target = target / mv.file(role).filename
        shutil.copyfile(src, target)
        return target


class LocalTokens(TokensAPI):
    def __init__(self, home: LocalHome) -> None:
        self._home = home

    def create(self, scope: str, name: str | None = None) -> NewToken:
        return self._home.services.tokens.create(scope, name)

    def list(self) -> list[Token]:
        return self._home.reads.tokens.list()

    def revoke(self, token_id: str) -> None:
        self._home.services.tokens.revoke(token_id)
