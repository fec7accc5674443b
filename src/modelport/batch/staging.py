"""The job's staging area: committed block parts, their records, finished objects.

A block is committed by writing its output part, then its record
(``b<k>.json``: records, lines, bad rows); the record's presence is the
commit, so a part without a record is an unfinished block and is redone.
Local files are fsync'd and renamed into place; S3 objects exist only once
their PUT completed.  A resumed run lists what is committed and does the
rest — the staging area *is* the checkpoint, which is also what lets Dask
workers commit blocks without asking the coordinator.

Layout: ``o<object>/b<block>.part``, ``o<object>/b<block>.json``,
``o<object>/done.json`` (the object is complete; its output is written when
the layout is one output per object).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import uuid
from typing import Any

from modelport.batch.inputs import filesystem, is_s3
from modelport.errors import Unavailable


class Staging:
    def __init__(self, url: str, s3_endpoint_url: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.local = not is_s3(url)
        self.fs, self.path = filesystem(self.url, s3_endpoint_url)

    # -- naming -----------------------------------------------------------------

    def _obj(self, obj: int) -> str:
        return posixpath.join(self.path, f"o{obj:06d}")

    def _part(self, obj: int, block: int) -> str:
        return posixpath.join(self._obj(obj), f"b{block:09d}.part")

    def _record(self, obj: int, block: int) -> str:
        return posixpath.join(self._obj(obj), f"b{block:09d}.json")

    # -- writing ----------------------------------------------------------------

    def commit_block(self, obj: int, block: int, data: bytes, record: dict[str, Any]) -> None:
        """Make a block's output durable, then mark it committed."""
        self._write(self._part(obj, block), data)
        self._write(self._record(obj, block), json.dumps(record, separators=(",", ":")).encode())

    def mark_done(self, obj: int, summary: dict[str, Any]) -> None:
        self._write(posixpath.join(self._obj(obj), "done.json"), json.dumps(summary).encode())

    def _write(self, path: str, data: bytes) -> None:
        try:
            if self.local:
                folder = os.path.dirname(path)
                os.makedirs(folder, exist_ok=True)
                tmp = f"{path}.{uuid.uuid4().hex}.tmp"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
                _fsync_dir(folder)
            else:
                self.fs.pipe_file(path, data)
        except OSError as exc:
            raise Unavailable(f"cannot write the job's staging area {self.url}: {exc}") from None

    # -- reading ----------------------------------------------------------------

    def read_part(self, obj: int, block: int) -> bytes:
        path = self._part(obj, block)
        if self.local:
            with open(path, "rb") as fh:
                return fh.read()
        return bytes(self.fs.cat_file(path))

    def committed(self, obj: int) -> dict[int, dict[str, Any]]:
        """Block index → its record, for every committed block of an object."""
        out: dict[int, dict[str, Any]] = {}
        for name in self._names(self._obj(obj)):
            if name.startswith("b") and name.endswith(".json"):
                out[int(name[1:-5])] = json.loads(self._read(posixpath.join(self._obj(obj), name)))
        return out

    def done(self) -> dict[int, dict[str, Any]]:
        """Object index → its summary, for every finished object."""
        out: dict[int, dict[str, Any]] = {}
        for name in self._names(self.path):
            if name.startswith("o"):
                marker = posixpath.join(self.path, name, "done.json")
                if self._exists(marker):
                    out[int(name[1:])] = json.loads(self._read(marker))
        return out

    def _names(self, folder: str) -> list[str]:
        try:
            if self.local:
                return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
            return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(folder, detail=False))
        except FileNotFoundError:
            return []

    def _read(self, path: str) -> bytes:
        if self.local:
            with open(path, "rb") as fh:
                return fh.read()
        return bytes(self.fs.cat_file(path))

    def _exists(self, path: str) -> bool:
        return os.path.exists(path) if self.local else bool(self.fs.exists(path))

    # -- clean-up ---------------------------------------------------------------

    def drop_parts(self, obj: int, blocks: list[int]) -> None:
        """Remove an object's parts once its output is written (records stay, for the errors file)."""
        paths = [self._part(obj, b) for b in blocks]
        if self.local:
            for p in paths:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
        elif paths:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(paths)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.local:
                import shutil

                shutil.rmtree(self.path, ignore_errors=True)
            elif self.fs.exists(self.path):
                self.fs.rm(self.path, recursive=True)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
