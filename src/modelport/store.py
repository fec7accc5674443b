"""The artifact store: content-addressed, atomic, verified (fsspec).

Blobs live at ``<root>/blobs/sha256/<2 hex>/<64 hex>``.  A blob becomes
visible only once complete: locally it is written to ``<root>/tmp/`` and
renamed into place; on S3 a single PUT or a multipart upload is not
visible until it completes.  Every read verifies the sha256, so a tampered
or truncated artifact is refused instead of loaded (pickles run code when
loaded: only verified bytes ever reach them).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from modelport.domain import ArtifactUpload
from modelport.errors import DataLoss, InvalidArgument, MissingExtra, NotFound, PayloadTooLarge, Unavailable
from modelport.s3 import s3_error
from modelport.spool import spool_path, sweep

if TYPE_CHECKING:
    import fsspec

CHUNK = 1024 * 1024
_SHA_HEX = frozenset("0123456789abcdef")


def url_protocol(url: str) -> str:
    """The protocol fsspec picks for ``url`` (``file`` for a plain path).

    ``fsspec.utils.get_protocol``'s rule, without importing fsspec (~0.1 s):
    every command opens the store, most never touch a blob.
    """
    parts = re.split(r"(\:\:|\://)", url, maxsplit=1)
    return parts[0] if len(parts) > 1 else "file"


def check_sha256(value: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _SHA_HEX:
        raise InvalidArgument(f"invalid sha256 {value!r}: expected 64 lowercase hex digits")
    return value


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The sha256 hex digest and size of a local file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def spool_stream(chunks: Iterable[bytes], dest: IO[bytes], *, limit: int) -> tuple[str, int]:
    """Copy chunks to ``dest`` while hashing; refuse more than ``limit`` bytes."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"upload exceeds the limit of {limit} bytes")
        digest.update(chunk)
        dest.write(chunk)
    return digest.hexdigest(), size


class ArtifactStore:
    """Content-addressed blobs on a local folder or an S3 prefix."""

    def __init__(
        self, root: str, *, cache_dir: Path, s3_endpoint_url: str | None = None, spool_dir: Path | None = None
    ) -> None:
        self.root = root.rstrip("/")
        self.cache_dir = cache_dir
        #: where uploads are spooled before they are hashed and stored (never the system's /tmp)
        self.spool_dir = spool_dir or cache_dir.parent / "tmp"
        self.s3_endpoint_url = s3_endpoint_url
        protocol = url_protocol(self.root)
        self.is_local = protocol in ("file", "local")
        options: dict[str, Any] = {}
        if protocol == "s3":
            try:
                import s3fs  # noqa: F401
            except ImportError:
                raise MissingExtra.for_extra("s3", "an s3:// artifact store") from None
            if s3_endpoint_url:
                options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
            # Listings must see what another process just wrote.
            options["use_listings_cache"] = False
        elif not self.is_local:
            raise InvalidArgument(f"unsupported artifact store {root!r}: expected a local folder or s3://bucket/prefix")
        if self.is_local:
            self.root = os.path.abspath(os.path.expanduser(self.root))
            Path(self.root, "tmp").mkdir(parents=True, exist_ok=True)
        self._protocol = protocol
        self._fs_options = options

    @functools.cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The filesystem, made on first use."""
        import fsspec

        return fsspec.filesystem(self._protocol, **self._fs_options)

    def sweep_spool(self) -> list[Path]:
        """Remove spool and partial files that processes killed mid-upload left behind."""
        removed = sweep(self.spool_dir)
        if self.is_local:
            removed += sweep(Path(self.root, "tmp"))
        return removed

    # -- addressing -------------------------------------------------------------

    def uri_for(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self.root}/blobs/sha256/{sha256[:2]}/{sha256}"

    def key(self, path: str) -> str:
        return f"{self.root}/{path.lstrip('/')}"

    # -- writing ----------------------------------------------------------------

    def put_file(self, local_path: str | os.PathLike[str], sha256: str | None = None) -> ArtifactUpload:
        """Store a local file under its sha256; a no-op if the blob exists."""
        digest, size = sha256_file(local_path)
        if sha256 is not None and digest != sha256:
            raise InvalidArgument(f"upload is corrupted: sha256 is {digest}, the client announced {sha256}")
        uri = self.uri_for(digest)
        # Stamped first, existing blob or not: garbage collection spares a blob uploaded within its grace period.
        self.write_object(f"uploads/{digest}", repr(time.time()).encode())
        with self._io("write"):
            if self.fs.exists(uri):
                return ArtifactUpload(uri=uri, sha256=digest, size=size)
            if self.is_local:
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
                tmp = spool_path(Path(self.root, "tmp"), ".part")
                shutil.copyfile(local_path, tmp)
                os.chmod(tmp, 0o444)  # artifacts are immutable
                os.replace(tmp, uri)
            else:
                self.fs.put_file(str(local_path), uri)
        return ArtifactUpload(uri=uri, sha256=digest, size=size)

    def put_stream(self, chunks: Iterable[bytes], *, limit: int, sha256: str | None = None) -> ArtifactUpload:
        """Spool a stream to a temp file (hashing, size-limited), then store it."""
        tmp = spool_path(self.spool_dir, ".upload")
        try:
            with open(tmp, "wb") as fh:
                digest, _ = spool_stream(chunks, fh, limit=limit)
            if sha256 is not None and digest != sha256:
                raise InvalidArgument(f"upload is corrupted: sha256 is {digest}, the client announced {sha256}")
            return self.put_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> ArtifactUpload:
        return self.put_stream([data], limit=len(data) + 1)

    def write_object(self, path: str, data: bytes, *, root: str | None = None) -> str:
        """Write a non-blob object (capture files, reports) atomically under ``root`` (default the store root)."""
        base = (root or self.root).rstrip("/")
        uri = f"{base}/{path.lstrip('/')}"
        local = url_protocol(base) in ("file", "local")
        with self._io("write"):
            if local:
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(uri).with_name(f".{Path(uri).name}.{uuid.uuid4().hex}.part")
                tmp.write_bytes(data)
                os.replace(tmp, uri)
            else:
                fs = self.fs if root is None else self._filesystem(base)
                fs.pipe_file(uri, data)  # a single PUT: visible only when complete
        return uri

    def _filesystem(self, root: str) -> fsspec.AbstractFileSystem:
        import fsspec

        return fsspec.filesystem(url_protocol(root), **self._options_for(root))

    def _options_for(self, root: str) -> dict[str, Any]:
        if url_protocol(root) == "s3" and self.s3_endpoint_url:
            return {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}, "use_listings_cache": False}
        return {}

    def delete(self, sha256: str) -> None:
        """Remove a blob.  Only garbage collection calls this (see Registry.collect_garbage)."""
        uri = self.uri_for(sha256)
        with self._io("delete"):
            with contextlib.suppress(FileNotFoundError):
                if self.is_local and Path(uri).exists():
                    os.chmod(uri, 0o644)
                self.fs.rm_file(uri)
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.key(f"uploads/{sha256}"))

    def blobs(self) -> Iterator[tuple[str, int]]:
        """Every stored blob: (sha256, size)."""
        with self._io("read"):
            found = self.fs.find(self.key("blobs/sha256"), detail=True)
        for path, info in found.items():
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
                yield name, int(info.get("size") or 0)

    def uploaded_at(self, sha256: str) -> float | None:
        """When a blob was last uploaded (its stamp), or None for a blob stored before stamps existed."""
        with self._io("read"):
            try:
                return float(self.fs.cat_file(self.key(f"uploads/{sha256}")))
            except (FileNotFoundError, ValueError):
                return None

    # -- reading ----------------------------------------------------------------

    def exists(self, sha256: str) -> bool:
        with self._io("read"):
            return bool(self.fs.exists(self.uri_for(sha256)))

    def local_path(self, uri: str, sha256: str) -> Path:
        """A verified local copy of a blob (the blob itself when the store is local)."""
        check_sha256(sha256)
        if self.is_local:
            path = Path(uri)
            if not path.exists():
                raise NotFound(f"artifact {uri} is missing from the store")
            self._verify(path, sha256, uri)
            return path
        cached = self.cache_dir / "sha256" / sha256[:2] / sha256
        if cached.exists():
            try:
                self._verify(cached, sha256, uri)
                return cached
            except DataLoss:
                cached.unlink(missing_ok=True)  # a damaged cache copy: fetch it again
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{sha256}.{uuid.uuid4().hex}.part")
        with self._io("read"):
            try:
                self.fs.get_file(uri, str(tmp))
            except FileNotFoundError:
                raise NotFound(f"artifact {uri} is missing from the store") from None
        try:
            self._verify(tmp, sha256, uri)
        except DataLoss:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, cached)
        return cached

    def open_chunks(self, uri: str, sha256: str) -> Iterator[bytes]:
        """Stream a verified blob (verification happens before the first byte)."""
        path = self.local_path(uri, sha256)
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    @staticmethod
    def _verify(path: Path, sha256: str, uri: str) -> None:
        digest, _ = sha256_file(path)
        if digest != sha256:
            raise DataLoss(
                f"artifact {uri} failed its integrity check (sha256 {digest}, registered {sha256}): "
                "it was modified or corrupted after registration and will not be loaded"
            )

    @contextlib.contextmanager
    def _io(self, what: str) -> Iterator[None]:
        try:
            yield
        except (NotFound, DataLoss, InvalidArgument):
            raise
        except PermissionError as exc:
            raise Unavailable(f"artifact store {self.root}: permission denied ({what}): {exc}") from None
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise Unavailable(f"artifact store {self.root} is unavailable ({what}): {exc}") from None
        except Exception as exc:
            error = None if self.is_local else s3_error(exc, f"artifact store {self.root}")
            if error is None:
                raise
            raise error from None
