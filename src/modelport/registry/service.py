"""The registry service: the artifact store and the database, kept consistent.

Registration writes the blob first (content-addressed, so it is invisible
until a version names it), then the version row in one transaction.  When
the database write fails the blob is removed again unless another version
already shares it, so no orphan is left behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
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
    check_metrics,
    check_version,
    validate_name,
)
from modelport.errors import Conflict, FailedPrecondition, InvalidArgument
from modelport.formats import check_format, detect_format
from modelport.pickles import PICKLE_FORMATS, check_pickle
from modelport.registry.store import RegistryStore
from modelport.settings import default_user
from modelport.store import ArtifactStore

log = logging.getLogger(__name__)


@dataclass
class GarbageReport:
    """What `modelport gc` found and removed."""

    grace_s: float
    dry_run: bool
    blobs: int = 0
    referenced: int = 0
    kept: int = 0
    deleted: list[str] = field(default_factory=list)
    freed_bytes: int = 0


class Registry:
    """Models, versions, aliases and their artifacts, in-process."""

    def __init__(
        self,
        store: RegistryStore,
        artifacts: ArtifactStore,
        *,
        user: str | None = None,
        served: Callable[[], dict[str, list[str]]] | None = None,
        allow_pickle: bool = True,
    ) -> None:
        self.db = store
        self.allow_pickle = allow_pickle
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
        trust: bool = False,
        isolate: bool = False,
    ) -> ModelVersion:
        """Store a local model file (and its sample) and register the next version of ``name``.

        ``trust``: a pickle may import code outside the allow-list (modelport/pickles.py).
        ``isolate``: a pickle is loaded in a child process, never in this one (a server's way).
        """
        validate_name(name)
        check_metrics(metrics or {})
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
                trust=trust,
            ),
        )
        return self.register_uploaded(request, created_by=self.user, isolate=isolate)

    def register_uploaded(self, req: RegisterRequest, *, created_by: str, isolate: bool = False) -> ModelVersion:
        """Prepare and record a version whose bytes are already in the store (the server's path).

        A pickle is scanned before anything unpickles it; with ``isolate`` (the
        server) it is then loaded in a child process, never in this one.
        """
        from modelport.frames import read_table, table_format
        from modelport.registration import prepare, prepare_in_child  # the runtimes, NumPy, pandas: only to register

        validate_name(req.name)
        opts = req.options
        staged = [req.sha256, *([opts.sample_sha256] if opts.sample_sha256 else [])]
        for sha in staged:
            if not self.artifacts.exists(sha):
                raise InvalidArgument(f"artifact sha256 {sha} is not in the store: upload it before registering")
        # Nothing is deleted here, even on failure: another registration may have uploaded the same
        # bytes and be about to reference them.  Unreferenced blobs go with `modelport gc`.
        uri = self.artifacts.uri_for(req.sha256)
        path = self.artifacts.local_path(uri, req.sha256)  # verified: the bytes hash to req.sha256
        size = path.stat().st_size
        if req.size is not None and req.size != size:
            raise InvalidArgument(f"declared size {req.size} does not match the artifact's {size} bytes")
        fmt = detect_format(path, req.format, filename=req.filename)
        sample_file = None
        if opts.sample_sha256:
            sample_path = self.artifacts.local_path(self.artifacts.uri_for(opts.sample_sha256), opts.sample_sha256)
            sample_file = (sample_path, table_format(opts.sample_filename or "sample.csv"))
        check_pickle(path, fmt, trusted=opts.trust, allow_pickle=self.allow_pickle)
        declared = req.signature or None
        if isolate and fmt in PICKLE_FORMATS:
            prepared = prepare_in_child(path, fmt, sample=sample_file, signature=declared, options=opts)
        else:
            sample = read_table(sample_file[0], fmt=sample_file[1]) if sample_file else None
            prepared = prepare(path, fmt, sample=sample, signature=declared, options=opts)
        files = [ArtifactFile(role="model", uri=uri, sha256=req.sha256, size=size, filename=req.filename, format=fmt)]
        if prepared.onnx_bytes is not None:
            onnx = self.artifacts.put_bytes(prepared.onnx_bytes)
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

    def model_path(self, version: ModelVersion) -> Path:
        """The verified file a version is loaded from; a pickle is refused when pickles are not allowed."""
        if version.format in PICKLE_FORMATS and not self.allow_pickle:
            raise FailedPrecondition(
                f"{version.ref} is a {version.format} pickle and pickles are refused here (MODELPORT_ALLOW_PICKLE=false)"
            )
        return self.artifact_path(version)

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
        return self.db.delete_model(name, force=force)  # blobs stay until `modelport gc`

    def delete_version(self, ref: str | ModelRef, *, force: bool = False) -> ModelVersion:
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if parsed.version is None:
            raise InvalidArgument(f"delete needs an explicit version: {parsed.name}:N, not {parsed}")
        self._check_not_served([f"{parsed.name}:{parsed.version}"])
        return self.db.delete_version(parsed.name, parsed.version, force=force)  # blobs stay until `modelport gc`

    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        return self.db.set_alias(name, alias, check_version(version))

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

    def collect_garbage(self, *, grace_s: float = 3600.0, dry_run: bool = False) -> GarbageReport:
        """Delete blobs no version references and nobody uploaded within ``grace_s``.

        Registrations never delete (a failed one leaves its upload behind), so
        this is the one place blobs go.  A registration in flight uploaded its
        bytes moments ago: the grace period spares them, and each candidate is
        checked against the database again right before it is deleted.
        """
        report = GarbageReport(grace_s=grace_s, dry_run=dry_run)
        referenced = self.db.referenced_sha256()
        cutoff = time.time() - grace_s
        for sha256, size in self.artifacts.blobs():
            report.blobs += 1
            if sha256 in referenced:
                report.referenced += 1
                continue
            uploaded = self.artifacts.uploaded_at(sha256)
            if (uploaded is not None and uploaded > cutoff) or self.db.sha256_in_use(sha256):
                report.kept += 1
                continue
            if not dry_run:
                self.artifacts.delete(sha256)
            report.deleted.append(sha256)
            report.freed_bytes += size
        log.info("gc: %d blobs, %d deleted (%d bytes), %d within the grace period", report.blobs, len(report.deleted), report.freed_bytes, report.kept)
        return report


MAX_LIST = 1000
