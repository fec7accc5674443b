"""Where a job's records come from: files, folders, prefixes and globs, local or on S3.

The list of input objects is made once, when the job is created, and kept
with the job: a resumed job reads exactly the objects the first run read,
even if the folder changed since.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelport.errors import InvalidArgument, MissingExtra, NotFound, Unavailable
from modelport.s3 import s3_errors

if TYPE_CHECKING:
    import fsspec

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputObject:
    """One input file: its URL, the name its output takes, its size, whether it is gzipped."""

    url: str
    name: str
    size: int
    gzip: bool

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "name": self.name, "size": self.size, "gzip": self.gzip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputObject:
        return cls(url=data["url"], name=data["name"], size=int(data["size"]), gzip=bool(data["gzip"]))


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def storage_options(url: str, s3_endpoint_url: str | None) -> dict[str, Any]:
    """fsspec options for a URL: S3-compatible endpoint, no stale listings."""
    if not is_s3(url):
        return {}
    try:
        import s3fs  # noqa: F401
    except ImportError:
        raise MissingExtra.for_extra("s3", "s3:// inputs and outputs") from None
    options: dict[str, Any] = {"use_listings_cache": False}
    if s3_endpoint_url:
        options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
    return options


def filesystem(url: str, s3_endpoint_url: str | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem holding ``url`` and the path on it (local paths made absolute)."""
    if "://" in url and not is_s3(url) and not url.startswith("file://"):
        raise InvalidArgument(f"unsupported location {url!r}: expected a local path or s3://bucket/key")
    if not is_s3(url):
        url = os.path.abspath(os.path.expanduser(url.removeprefix("file://")))
    import fsspec.core  # ~0.1 s: only for a job's inputs and outputs, not for every job record read

    fs, path = fsspec.core.url_to_fs(url, **storage_options(url, s3_endpoint_url))
    return fs, path


def full_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return fs.unstrip_protocol(path) if "s3" in _protocols(fs) else path


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


def list_inputs(url: str, *, s3_endpoint_url: str | None = None, compression: str = "auto") -> list[InputObject]:
    """The input objects ``url`` names, sorted by name; hidden (``.``/``_``) files in folders are skipped."""
    fs, path = filesystem(url, s3_endpoint_url)
    try:
        with s3_errors(f"input {url}"):
            entries = _list(fs, path, url)
    except (PermissionError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise NotFound(f"input {url!r} does not exist") from None
        raise Unavailable(f"cannot list input {url!r}: {exc}") from None
    if not entries:
        raise InvalidArgument(f"no input files match {url!r}")
    objects = []
    for rel, p, size in entries:
        gz = compression == "gzip" or (compression == "auto" and p.lower().endswith(".gz"))
        objects.append(InputObject(url=full_url(fs, p), name=rel, size=int(size or 0), gzip=gz))
    return objects


def _list(fs: fsspec.AbstractFileSystem, path: str, url: str) -> list[tuple[str, str, int]]:
    """(relative name, path, size) for each object."""
    if _GLOB_CHARS & set(path):
        found = fs.glob(path, detail=True)
        base = _glob_base(path)
        return sorted(
            (posixpath.relpath(p, base) if base else p, p, info.get("size", 0))
            for p, info in found.items()
            if info.get("type") == "file"
        )
    if fs.isfile(path):
        return [(posixpath.basename(path), path, fs.size(path))]
    if fs.isdir(path):
        root = path.rstrip("/")
        found = fs.find(root, detail=True)
        out = []
        for p, info in found.items():
            rel = posixpath.relpath(p, root)
            if info.get("type") == "file" and not _hidden(rel):
                out.append((rel, p, info.get("size", 0)))
        return sorted(out)
    if is_s3(url):
        # An S3 prefix that is not a "folder": every key that starts with it (SageMaker S3Prefix).
        parent = posixpath.dirname(path)
        found = fs.find(parent, detail=True, prefix=posixpath.basename(path)) if parent else {}
        return sorted(
            (posixpath.relpath(p, parent), p, info.get("size", 0))
            for p, info in found.items()
            if info.get("type") == "file" and p.startswith(path)
        )
    raise FileNotFoundError(path)


def _glob_base(path: str) -> str:
    """The folder part of a glob before its first wildcard (output names are relative to it)."""
    parts = path.split("/")
    fixed = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return "/".join(fixed)
