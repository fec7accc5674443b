"""Where predictions go, and how they become visible only when complete.

Two layouts, as SageMaker has them:

- *objects* (``--output preds/``): one output per input object, named like
  SageMaker's — ``in/a/data.csv`` → ``preds/a/data.csv.out`` — written as soon
  as that object is done;
- *single* (``--output preds.csv``): one assembled output for all inputs.

Every output is written to a temporary name and renamed into place (locally)
or uploaded as one PUT / multipart upload that only exists once completed
(S3): a reader never sees half a file, and a killed job leaves none behind.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import posixpath
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from modelport.batch.inputs import InputObject, filesystem, is_s3
from modelport.batch.spec import suffix_format
from modelport.errors import InvalidArgument, Unavailable
from modelport.s3 import s3_errors

ERRORS_NAME = "modelport-errors.csv"


@dataclass(frozen=True)
class OutputLayout:
    mode: str
    """``objects`` (one output per input) or ``single`` (one assembled output)."""
    root: str
    """The output folder (objects) or file (single)."""
    fmt: str
    gzip: bool

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "root": self.root, "fmt": self.fmt, "gzip": self.gzip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputLayout:
        return cls(mode=data["mode"], root=data["root"], fmt=data["fmt"], gzip=bool(data["gzip"]))

    @classmethod
    def decide(
        cls, output: str, *, input_format: str, accept: str | None, objects: list[InputObject]
    ) -> OutputLayout:
        s3 = is_s3(output)
        root = output.rstrip("/") if s3 else os.path.abspath(os.path.expanduser(output))
        last = posixpath.basename(output.rstrip("/"))
        folder = output.endswith("/") or (not s3 and os.path.isdir(root)) or "." not in last
        if folder:
            return cls(mode="objects", root=root, fmt=accept or input_format, gzip=False)
        named = suffix_format(last)
        fmt = accept or named or input_format
        gz = last.lower().endswith(".gz")
        if gz and fmt == "parquet":
            raise InvalidArgument(f"output {output!r}: Parquet is compressed inside the file; drop the .gz")
        if any(o.url == root for o in objects):
            raise InvalidArgument(f"output {output!r} is one of the inputs: choose another name")
        return cls(mode="single", root=root, fmt=fmt, gzip=gz)

    def target(self, obj: InputObject) -> str:
        """The output of one input object (objects layout)."""
        return f"{self.root}/{obj.name}.out"

    @property
    def folder(self) -> str:
        """The folder outputs are written in."""
        return self.root if self.mode == "objects" else (self.root.rsplit("/", 1)[0] if "/" in self.root else ".")

    @property
    def errors_url(self) -> str:
        return f"{self.root}/{ERRORS_NAME}" if self.mode == "objects" else f"{self.root}.errors.csv"

    def outputs(self, objects: list[InputObject]) -> list[str]:
        return [self.target(o) for o in objects] if self.mode == "objects" else [self.root]


@contextlib.contextmanager
def atomic_writer(url: str, s3_endpoint_url: str | None = None) -> Iterator[IO[bytes]]:
    """A file that appears at ``url`` only if the ``with`` block completes."""
    fs, path = filesystem(url, s3_endpoint_url)
    if not is_s3(url):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.part")
        try:
            with open(tmp, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return
    with s3_errors(f"output {url}"):  # credentials are first needed when a part is uploaded
        try:
            fh = fs.open(path, "wb", block_size=16 * 1024 * 1024)
        except OSError as exc:
            raise Unavailable(f"cannot write {url}: {exc}") from None
        try:
            yield fh
        except BaseException:
            # Abort the multipart upload: nothing becomes visible.
            with contextlib.suppress(Exception):
                fh.discard()
            fh.closed = True
            raise
        fh.close()


def write_text_output(
    sink: IO[bytes], parts: Iterable[bytes], *, header: bytes = b"", gzipped: bool = False
) -> None:
    """Header then parts, optionally through gzip (deterministic: no name, no time stamp)."""
    if gzipped:
        with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0, filename="", compresslevel=6) as gz:
            _copy(gz, parts, header)
    else:
        _copy(sink, parts, header)


def _copy(sink: Any, parts: Iterable[bytes], header: bytes) -> None:
    if header:
        sink.write(header)
    for part in parts:
        sink.write(part)


def write_parquet_output(sink: IO[bytes], tables: Iterable[Any], schema: Any) -> None:
    """One row group per block, in order."""
    import pyarrow.parquet as pq

    writer = pq.ParquetWriter(sink, schema)
    try:
        for table in tables:
            if table.num_rows:
                writer.write_table(table if table.schema == schema else table.cast(schema))
    finally:
        writer.close()


def write_errors(sink: IO[bytes], rows: Iterable[tuple[str, int, str]]) -> None:
    """The errors file: ``input,row,reason`` per bad record."""
    import csv
    import io

    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["input", "row", "reason"])
    for row in rows:
        writer.writerow(row)
    text.flush()
    text.detach()


def write_output(url: str, s3_endpoint_url: str | None, write: Callable[[IO[bytes]], None]) -> None:
    with atomic_writer(url, s3_endpoint_url) as sink:
        write(sink)
