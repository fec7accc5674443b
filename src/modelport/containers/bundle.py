"""A model bundle: what ``/opt/ml/model`` holds in a container (and what a SageMaker ``model.tar.gz`` carries).

Layout::

    modelport.json          the endpoint (name, config) and every version it serves, as the registry has them
    artifacts/<sha256>      each file those versions load, named by its checksum

:func:`write_bundle` reads a target (an endpoint, or a version ``M:V``) from a
registry, checking each artifact against its registered sha256 on the way;
:func:`load_bundle` seeds a fresh registry with it, under the same version
numbers, so the container answers exactly as the registry's endpoint would.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.domain import ModelRef, ModelVersion
from modelport.endpoints.config import EndpointConfig, Variant
from modelport.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound
from modelport.services import Services
from modelport.store import sha256_file

MANIFEST = "modelport.json"
BUNDLE_FORMAT = 1
#: the variant a version target is served as (SageMaker's default name for a single variant)
DEFAULT_VARIANT = "AllTraffic"


@dataclass(frozen=True)
class Bundle:
    """What a container serves: one endpoint and the versions behind its variants."""

    endpoint: str
    config: EndpointConfig
    versions: list[ModelVersion]

    @property
    def formats(self) -> list[str]:
        return sorted({v.format for v in self.versions})

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "endpoint": self.endpoint,
            "config": self.config.model_dump(mode="json"),
            "versions": [v.model_dump(mode="json") for v in self.versions],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bundle:
        if data.get("format") != BUNDLE_FORMAT:
            raise InvalidArgument(f"{MANIFEST} is bundle format {data.get('format')!r}; this modelport reads {BUNDLE_FORMAT}")
        return cls(
            endpoint=data["endpoint"],
            config=EndpointConfig.model_validate(data["config"]),
            versions=[ModelVersion.model_validate(v) for v in data["versions"]],
        )


def is_version_target(target: str) -> bool:
    """``churn:3`` / ``churn@prod`` name a version; a bare name is an endpoint."""
    return ":" in target or "@" in target


def resolve(services: Services, target: str) -> Bundle:
    """The endpoint (all its variants and shadows, weights, capture and routing) or version ``target`` names."""
    if is_version_target(target):
        mv = services.registry.get_version(ModelRef.parse(target))
        config = EndpointConfig(variants=[Variant(name=DEFAULT_VARIANT, model=mv.ref, requested=target)])
        return Bundle(endpoint=mv.name, config=config, versions=[mv])
    try:
        endpoint = services.endpoints.get(target)
    except NotFound:
        raise NotFound(
            f"no endpoint {target!r} (a model version is NAME:VERSION or NAME@ALIAS; see `modelport endpoints list`)"
        ) from None
    versions: dict[str, ModelVersion] = {}
    for v in endpoint.config.variants:
        if v.model not in versions:
            versions[v.model] = services.registry.get_version(v.model)
    return Bundle(endpoint=endpoint.name, config=endpoint.config, versions=list(versions.values()))


def _served_files(mv: ModelVersion) -> list[tuple[str, str]]:
    """(uri, sha256) of the files serving loads: the model file (the first when the version has no file list)."""
    if not mv.files:
        return [(mv.artifact_uri, mv.sha256)]
    return [(f.uri, f.sha256) for f in mv.files if f.role != "original"]


def write_bundle(services: Services, bundle: Bundle, folder: Path) -> list[Path]:
    """Copy each served artifact into ``folder/artifacts`` (checksum-verified) and write the manifest."""
    artifacts = folder / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for mv in bundle.versions:
        for uri, sha in _served_files(mv):
            out = artifacts / sha
            if not out.exists():
                try:
                    source = services.artifacts.local_path(uri, sha)  # verified against the registered sha256
                except DataLoss as exc:
                    raise DataLoss(f"{mv.ref}: {exc.message}") from None
                shutil.copyfile(source, out)
            digest, _ = sha256_file(out)  # and again once copied: what the image carries is what was registered
            if digest != sha:
                raise DataLoss(f"{mv.ref}: the copy of artifact {sha} hashes to {digest}")
            written.append(out)
    (folder / MANIFEST).write_text(json.dumps(bundle.to_json(), indent=1, sort_keys=True))
    return written


def read_bundle(folder: Path) -> Bundle:
    path = folder / MANIFEST
    if not path.is_file():
        raise FailedPrecondition(f"{folder} has no {MANIFEST}: it is not a modelport model bundle")
    return Bundle.from_json(json.loads(path.read_text()))


def find_bundle(model_dir: Path, scratch: Path) -> Path:
    """The folder holding the manifest: ``model_dir`` itself, or a ``model.tar.gz`` in it extracted to ``scratch``."""
    if (model_dir / MANIFEST).is_file():
        return model_dir
    archive = model_dir / "model.tar.gz"
    if archive.is_file():
        out = scratch / "model"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(out, filter="data")
            else:  # Python 3.11 before 3.11.4 (Debian 12's 3.11.2): the same refusals, by hand
                tar.extractall(out, members=_plain_members(tar, archive))
        return out
    raise FailedPrecondition(f"{model_dir} holds neither {MANIFEST} nor model.tar.gz: nothing to serve")


def _plain_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """The archive's files and folders, refusing what the "data" filter refuses: links, devices, paths leaving it."""
    members = tar.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in parts:
            raise FailedPrecondition(f"{archive.name}: member {m.name!r} is not a plain file inside the archive")
    return members


def load_bundle(services: Services, folder: Path) -> Bundle:
    """Seed an empty registry with the bundle's versions and endpoint; artifacts are linked, not copied."""
    bundle = read_bundle(folder)
    store = services.artifacts
    for mv in bundle.versions:
        files = []
        for f in mv.files:
            uri = store.uri_for(f.sha256)
            if f.role != "original":
                _link(folder / "artifacts" / f.sha256, Path(uri))
            files.append(f.model_copy(update={"uri": uri}))
        if not mv.files:
            _link(folder / "artifacts" / mv.sha256, Path(store.uri_for(mv.sha256)))
        services.registry.db.import_version(
            mv.model_copy(update={"files": files, "artifact_uri": store.uri_for(mv.sha256)})
        )
    config = bundle.config
    services.endpoints.create(
        bundle.endpoint,
        [{**v.model_dump(), "requested": None} for v in config.variants],  # pinned: an alias does not exist here
        capture=config.capture,
        routing=config.routing,
        created_by="modelport-container",
    )
    return bundle


def _link(source: Path, blob: Path) -> None:
    if not source.is_file():
        raise FailedPrecondition(f"the model bundle lacks artifact {source.name} ({source})")
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        os.symlink(source.resolve(), blob)
