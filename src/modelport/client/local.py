"""The SDK in-process: straight to the registry database and artifact store."""

from __future__ import annotations

import builtins
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelport.client.base import ModelsAPI, TokensAPI
from modelport.domain import Alias, Model, ModelVersion, NewToken, Page, Token
from modelport.services import Services


class LocalModels(ModelsAPI):
    def __init__(self, services: Services) -> None:
        self._svc = services
        self._reg = services.registry

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
        return self._reg.list_models(limit=limit, page_token=page_token, name_contains=name_contains, tags=tags)

    def get(self, name: str) -> Model:
        return self._reg.get_model(name)

    def show(self, ref: str) -> ModelVersion:
        return self._reg.get_version(ref)

    def versions(
        self,
        name: str,
        *,
        limit: int = 100,
        page_token: str | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[ModelVersion]:
        return self._reg.list_versions(name, limit=limit, page_token=page_token, format=format, tags=tags)

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
    def __init__(self, services: Services) -> None:
        self._tokens = services.tokens

    def create(self, scope: str, name: str | None = None) -> NewToken:
        return self._tokens.create(scope, name)

    def list(self) -> list[Token]:
        return self._tokens.list()

    def revoke(self, token_id: str) -> None:
        self._tokens.revoke(token_id)
