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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from modelport.domain import (
    Alias,
    ArtifactFile,
    Model,
    ModelRef,
    ModelVersion,
    Page,
    RegisterOptions,
    RegisterRequest,
    validate_name,
)
from modelport.errors import Conflict, InvalidArgument, ModelportError, NotFound
from modelport.formats import check_format, detect_format
from modelport.registry.store import RegistryStore
from modelport.store import ArtifactStore

log = logging.getLogger(__name__)


def default_user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "unknown"


class Registry:
    """Models, versions, aliases and their artifacts, in-process."""

    def __init__(
        self,
        store: RegistryStore,
        artifacts: ArtifactStore,
        *,
        user: str | None = None,
        served: Callable[[], dict[str, list[str]]] | None = None,
    ) -> None:
        self.db = store
        self.artifacts = artifacts
        self.user = user or default_user()
        # ``name:N`` → endpoints serving it; deleting a served version is refused.
        self.served = served or (lambda: {})

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
        sample: str | Path | None = None,
        to_onnx: bool = False,
        force: bool = False,
        atol: float = 1e-4,
    ) -> ModelVersion:
        """Store a local model file (and its sample) and register the next version of ``name``."""
        validate_name(name)
        path = Path(path)
        if not path.is_file():
            raise InvalidArgument(f"model file {str(path)!r} does not exist or is not a file")
        if format:
            check_format(format)
        sample_upload = None
        if sample is not None:
            sample = Path(sample)
            if not sample.is_file():
                raise InvalidArgument(f"sample file {str(sample)!r} does not exist or is not a file")
            from modelport.frames import table_format

            table_format(sample)
            sample_upload = self.artifacts.put_file(sample)
        upload = self.artifacts.put_file(path)
        request = RegisterRequest(
            name=name,
            format=format,
            filename=path.name,
            sha256=upload.sha256,
            size=upload.size,
            description=description,
            metrics=dict(metrics or {}),
            params={k: str(v) for k, v in (params or {}).items()},
            tags=dict(tags or {}),
            signature=dict(signature or {}),
            source={"path": str(path.resolve()), **dict(source or {})},
            options=RegisterOptions(
                sample_sha256=sample_upload.sha256 if sample_upload else None,
                sample_filename=sample.name if isinstance(sample, Path) else None,
                to_onnx=to_onnx,
                force=force,
                atol=atol,
            ),
        )
        return self.register_uploaded(request, created_by=self.user)

    def register_uploaded(self, req: RegisterRequest, *, created_by: str) -> ModelVersion:
        """Prepare and record a version whose bytes are already in the store (the server's path)."""
        from modelport.frames import read_table, table_format
        from modelport.registration import prepare  # the runtimes, NumPy, pandas: only to register

        validate_name(req.name)
        opts = req.options
        staged = [req.sha256, *([opts.sample_sha256] if opts.sample_sha256 else [])]
        for sha in staged:
            if not self.artifacts.exists(sha):
                raise InvalidArgument(f"artifact sha256 {sha} is not in the store: upload it before registering")
        uri = self.artifacts.uri_for(req.sha256)
        written = list(staged)
        try:
            path = self.artifacts.local_path(uri, req.sha256)
            fmt = detect_format(path, req.format, filename=req.filename)
            sample = None
            if opts.sample_sha256:
                sample_path = self.artifacts.local_path(self.artifacts.uri_for(opts.sample_sha256), opts.sample_sha256)
                sample = read_table(sample_path, fmt=table_format(opts.sample_filename or "sample.csv"))
            prepared = prepare(path, fmt, sample=sample, signature=req.signature or None, options=opts)
            files = [ArtifactFile(role="model", uri=uri, sha256=req.sha256, size=req.size, filename=req.filename, format=fmt)]
            if prepared.onnx_bytes is not None:
                onnx = self.artifacts.put_bytes(prepared.onnx_bytes)
                written.append(onnx.sha256)
                stem = Path(req.filename).name.split(".")[0] or "model"
                files = [
                    ArtifactFile(role="model", uri=onnx.uri, sha256=onnx.sha256, size=onnx.size, filename=f"{stem}.onnx", format="onnx"),
                    files[0].model_copy(update={"role": "original"}),
                ]
            primary = files[0]
            return self.db.add_version(
                req.name,
                format=prepared.format,
                artifact_uri=primary.uri,
                sha256=primary.sha256,
                size=primary.size,
                files=files,
                signature=prepared.signature.to_dict(),
                metrics=req.metrics,
                params=req.params,
                tags=req.tags,
                source=req.source,
                description=req.description,
                created_by=created_by,
                baseline=prepared.baseline,
                conversion=prepared.conversion,
            )
        except BaseException:
            for sha in written:
                self._collect(sha)
            raise
        finally:
            if opts.sample_sha256:
                self._collect(opts.sample_sha256)

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
        served = self.served()
        self._check_not_served([ref for ref in served if ref.split(":")[0] == name], served)
        deleted = self.db.delete_model(name, force=force)
        for v in deleted:
            for f in v.files:
                self._collect(f.sha256)
        return deleted

    def delete_version(self, ref: str | ModelRef, *, force: bool = False) -> ModelVersion:
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if parsed.version is None:
            raise InvalidArgument(f"delete needs an explicit version: {parsed.name}:N, not {parsed}")
        self._check_not_served([f"{parsed.name}:{parsed.version}"])
        deleted = self.db.delete_version(parsed.name, parsed.version, force=force)
        for f in deleted.files:
            self._collect(f.sha256)
        return deleted

    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        return self.db.set_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self.db.delete_alias(name, alias)

    def _check_not_served(self, refs: list[str], served: dict[str, list[str]] | None = None) -> None:
        served = self.served() if served is None else served
        for ref in refs:
            if served.get(ref):
                raise Conflict(
                    f"model version {ref} is served by endpoint{'s' if len(served[ref]) > 1 else ''} "
                    f"{', '.join(served[ref])}; update or delete the endpoint first"
                )

    def _collect(self, sha256: str) -> None:
        """Remove a blob no version references any more (best effort)."""
        try:
            if not self.db.sha256_in_use(sha256):
                self.artifacts.delete(sha256)
        except (ModelportError, NotFound, OSError) as exc:
            log.warning("could not remove unreferenced artifact %s: %s", sha256, exc)


MAX_LIST = 1000
