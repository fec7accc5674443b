"""The registry service: the artifact store and the database, kept consistent.

Registration writes the blob first (content-addressed, so it is invisible
until a version names it), then the version row in one transaction.  When
the database write fails the blob is removed again unless another version
already shares it, so no orphan is left behind.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modelport.domain import (
    Alias,
    ArtifactFile,
    Model,
    ModelRef,
    ModelVersion,
    Page,
    RegisterRequest,
    validate_name,
)
from modelport.errors import InvalidArgument, ModelportError, NotFound
from modelport.formats import detect_format
from modelport.registry.store import RegistryStore
from modelport.store import ArtifactStore

log = logging.getLogger(__name__)


def default_user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "unknown"


class Registry:
    """Models, versions, aliases and their artifacts, in-process."""

    def __init__(self, store: RegistryStore, artifacts: ArtifactStore, *, user: str | None = None) -> None:
        self.db = store
        self.artifacts = artifacts
        self.user = user or default_user()

    # -- registration ------------------------------------------------------------

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
        source: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Store a local model file as the next version of ``name``."""
        validate_name(name)
        path = Path(path)
        if not path.is_file():
            raise InvalidArgument(f"model file {str(path)!r} does not exist or is not a file")
        fmt = detect_format(path, format)
        upload = self.artifacts.put_file(path)
        request = RegisterRequest(
            name=name,
            format=fmt,
            filename=path.name,
            sha256=upload.sha256,
            size=upload.size,
            description=description,
            metrics=dict(metrics or {}),
            params={k: str(v) for k, v in (params or {}).items()},
            tags=dict(tags or {}),
            signature=dict(signature or {}),
            source={"path": str(path.resolve()), **dict(source or {})},
        )
        return self.register_uploaded(request, created_by=self.user)

    def register_uploaded(self, req: RegisterRequest, *, created_by: str) -> ModelVersion:
        """Record a version whose blobs are already in the store (the server's path)."""
        validate_name(req.name)
        if not req.format:
            raise InvalidArgument("format is required when registering an uploaded artifact")
        shas = [req.sha256, *(f.sha256 for f in req.extra_files)]
        for sha in shas:
            if not self.artifacts.exists(sha):
                raise InvalidArgument(f"artifact sha256 {sha} is not in the store: upload it before registering")
        uri = self.artifacts.uri_for(req.sha256)
        primary = ArtifactFile(role="model", uri=uri, sha256=req.sha256, size=req.size, filename=req.filename, format=req.format)
        files = [primary, *req.extra_files]
        try:
            return self.db.add_version(
                req.name,
                format=req.format,
                artifact_uri=uri,
                sha256=req.sha256,
                size=req.size,
                files=files,
                signature=req.signature,
                metrics=req.metrics,
                params=req.params,
                tags=req.tags,
                source=req.source,
                description=req.description,
                created_by=created_by,
            )
        except BaseException:
            for sha in shas:
                self._collect(sha)
            raise

    # -- reads ------------------------------------------------------------------

    def get_model(self, name: str) -> Model:
        return self.db.get_model(name)

    def list_models(self, **filters: Any) -> Page[Model]:
        return self.db.list_models(**filters)

    def get_version(self, ref: str | ModelRef) -> ModelVersion:
        return self.db.get_version(ref)

    def list_versions(self, name: str, **filters: Any) -> Page[ModelVersion]:
        return self.db.list_versions(name, **filters)

    def iter_versions(self, name: str) -> Iterator[ModelVersion]:
        token: str | None = None
        while True:
            page = self.db.list_versions(name, limit=MAX_LIST, page_token=token)
            yield from page.items
            if not page.next_page_token:
                return
            token = page.next_page_token

    def artifact_path(self, version: ModelVersion, role: str = "model") -> Path:
        """A local, sha256-verified path to one of a version's files."""
        f = version.file(role) if version.files else ArtifactFile(
            uri=version.artifact_uri, sha256=version.sha256, size=version.size, filename="model"
        )
        return self.artifacts.local_path(f.uri, f.sha256)

    # -- writes -----------------------------------------------------------------

    def create_model(self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None) -> Model:
        return self.db.create_model(name, description=description, tags=tags)

    def update_model(self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None) -> Model:
        return self.db.update_model(name, description=description, tags=tags)

    def delete_model(self, name: str, *, force: bool = False) -> list[ModelVersion]:
        deleted = self.db.delete_model(name, force=force)
        for v in deleted:
            for f in v.files:
                self._collect(f.sha256)
        return deleted

    def delete_version(self, ref: str | ModelRef, *, force: bool = False) -> ModelVersion:
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if parsed.version is None:
            raise InvalidArgument(f"delete needs an explicit version: {parsed.name}:N, not {parsed}")
        deleted = self.db.delete_version(parsed.name, parsed.version, force=force)
        for f in deleted.files:
            self._collect(f.sha256)
        return deleted

    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        return self.db.set_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self.db.delete_alias(name, alias)

    def _collect(self, sha256: str) -> None:
        """Remove a blob no version references any more (best effort)."""
        try:
            if not self.db.sha256_in_use(sha256):
                self.artifacts.delete(sha256)
        except (ModelportError, NotFound, OSError) as exc:
            log.warning("could not remove unreferenced artifact %s: %s", sha256, exc)


MAX_LIST = 1000
