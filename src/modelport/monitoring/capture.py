"""Captured traffic of a window: which files, what they hold, folded per minute.

The data plane writes capture files to
``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<stamp>-<id>.jsonl``
(``serving/capture.py``; the destination is the endpoint's
``capture.destination``, else ``<artifacts root>/capture``), one JSON line
per request in SageMaker's shape, the hour folder being the hour of the
records' inference time.  A monitor lists the hour folders a window
overlaps, and folds each file once (:func:`fold_files`):

- inputs decoded with the variant's signature, as the data plane decoded
  them (:mod:`modelport.monitoring.payloads`), counted on the reference's
  bins per minute of inference time: ``{"YYYY-mm-ddTHH:MM": Profile}``;
- replies decoded into a predictions table (Parquet): ``inference_id``,
  ``time`` (UTC), ``row`` (in its request), ``label``, ``prediction``
  (regression), ``scores`` (probabilities in the model's class order), for
  joining ground truth later;
- records that cannot be decoded counted per minute with the codec's
  message: they are reported, never fatal.

Files are decoded many at a time (about ``BATCH_RECORDS`` records), so a
second of traffic per file does not mean a decoder set-up per second; while
a batch is folded, the next is decoded and the one after read and parsed,
each in its own thread (:func:`fold_files`).
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from modelport.errors import NotFound
from modelport.monitoring.inputs import DecodedInputs, InputDecoder, feature_columns
from modelport.monitoring.predictions import predictions_by_file
from modelport.monitoring.profiles import Binning, Profile, fold_groups
from modelport.monitoring.records import CaptureRecords, ParsedFiles, parse_files
from modelport.monitoring.replies import DecodedOutputs, OutputDecoder
from modelport.s3 import s3_errors
from modelport.signature import Signature

if TYPE_CHECKING:
    import fsspec

MINUTE_FORMAT = "%Y-%m-%dT%H:%M"
#: records decoded together across files
BATCH_RECORDS = 50_000
#: distinct decoding errors kept per file (with their counts)
MAX_ERRORS = 5


def minute_key(t: datetime) -> str:
    return t.astimezone(UTC).strftime(MINUTE_FORMAT)


def floor_minute(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def capture_root(destination: str | None, artifacts_root: str) -> str:
    """Where an endpoint's capture files live: its ``capture.destination``, else the store's ``capture/``."""
    return (destination or f"{artifacts_root.rstrip('/')}/capture").rstrip("/")


@dataclass(frozen=True)
class CaptureFile:
    url: str
    hour: datetime
    size: int = 0


@dataclass
class CaptureLocation:
    """A capture root, local or on S3 (picklable: Dask workers read the files themselves)."""

    root: str
    s3_endpoint_url: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @functools.cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        import fsspec

        options: dict[str, Any] = {"use_listings_cache": False}
        if self.s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": self.s3_endpoint_url}
        try:
            import s3fs  # noqa: F401
        except ImportError:
            from modelport.errors import MissingExtra

            raise MissingExtra.for_extra("s3", "capture on S3") from None
        return fsspec.filesystem("s3", **options)

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "s3_endpoint_url": self.s3_endpoint_url}

    def folder(self, endpoint: str, variant: str, hour: datetime) -> str:
        return f"{self.root}/{endpoint}/{variant}/{hour:%Y/%m/%d/%H}"

    def files(self, endpoint: str, variant: str, since: datetime, until: datetime) -> list[CaptureFile]:
        """The capture files of every hour folder that overlaps ``[since, until)``, in name (time) order."""
        found: list[CaptureFile] = []
        hour = floor_hour(since)
        while hour < until:
            folder = self.folder(endpoint, variant, hour)
            found += [CaptureFile(url, hour, size) for url, size in sorted(self._names(folder))]
            hour += timedelta(hours=1)
        return found

    def _names(self, folder: str) -> list[tuple[str, int]]:
        """``(url, size)`` of the capture files in one hour folder."""
        if not self.is_s3:
            try:
                with os.scandir(folder) as entries:
                    return [
                        (e.path, e.stat().st_size)
                        for e in entries
                        if e.name.endswith(".jsonl") and not e.name.startswith(".")
                    ]
            except (FileNotFoundError, NotADirectoryError):
                return []
        with s3_errors(f"capture at {self.root}"):
            try:
                entries = self.fs.ls(folder, detail=True)
            except FileNotFoundError:
                return []
        return [
            (f"s3://{e['name'].removeprefix('s3://')}", int(e.get("size") or 0))
            for e in entries
            if e["name"].endswith(".jsonl") and e.get("type", "file") == "file"
        ]

    def read(self, url: str) -> bytes:
        if not self.is_s3:
            try:
                with open(url, "rb") as fh:
                    return fh.read()
            except FileNotFoundError:
                raise NotFound(f"capture file {url} disappeared") from None
        with s3_errors(f"capture at {self.root}"):
            try:
                return bytes(self.fs.cat_file(url))
            except FileNotFoundError:
                raise NotFound(f"capture file {url} disappeared") from None


# -- folding ----------------------------------------------------------------------------


@dataclass
class FoldedFile:
    """One capture file folded on one binning."""

    url: str
    hour: datetime
    records: int = 0
    profiles: dict[str, Profile] = field(default_factory=dict)
    """Minute of inference time → the profile of its decoded rows."""
    undecodable: dict[str, int] = field(default_factory=dict)
    """Minute → records whose request could not be decoded (lines that are no record: the hour's first minute)."""
    errors: dict[str, int] = field(default_factory=dict)
    """The first distinct decoding messages, with how many records each."""
    predictions: bytes | None = None
    """Parquet: inference_id, time, row, label, prediction, scores (None when no reply was read)."""
    first_at: datetime | None = None
    last_at: datetime | None = None

    @property
    def first(self) -> datetime:
        return self.first_at or self.hour

    @property
    def last(self) -> datetime:
        return self.last_at or self.hour

    def note(self, message: str, n: int = 1) -> None:
        if message in self.errors or len(self.errors) < MAX_ERRORS:
            self.errors[message] = self.errors.get(message, 0) + n


def fold_file(file: CaptureFile, location: CaptureLocation, signature: Signature, binning: Binning) -> FoldedFile:
    """Fold one capture file (see :func:`fold_files`)."""
    return next(iter(fold_files([file], location, signature, binning)))


def fold_files(
    files: Sequence[CaptureFile],
    location: CaptureLocation,
    signature: Signature,
    binning: Binning,
    *,
    batch_records: int = BATCH_RECORDS,
) -> Iterator[FoldedFile]:
    """Fold capture files on ``binning``, decoding many files' records together; yields them in order.

    Three stages, each in its thread, a batch apart: files read and parsed,
    bodies decoded, rows folded (here).  Reading, Arrow's readers and kernels
    and pandas' CSV parser release the GIL, so the stages run side by side.
    """
    inputs = InputDecoder(signature)
    outputs = OutputDecoder(signature)
    parsed = _ahead(_parsed(files, location, batch_records), "modelport-capture-reader")
    for batch in _ahead(_decoded(parsed, inputs, outputs), "modelport-capture-decoder"):
        yield from _fold_batch(batch, inputs.signature, binning)


@dataclass
class _Batch:
    """Files read, parsed and decoded together."""

    files: list[CaptureFile]
    parsed: ParsedFiles
    inputs: DecodedInputs | None = None
    outputs: DecodedOutputs | None = None


def _parsed(files: Sequence[CaptureFile], location: CaptureLocation, batch_records: int) -> Iterator[_Batch]:
    """Files read and parsed, about ``batch_records`` lines at a time."""
    batch: list[CaptureFile] = []
    blobs: list[bytes] = []
    newlines: list[int] = []
    for file in files:
        blob = location.read(file.url)
        batch.append(file)
        blobs.append(blob)
        newlines.append(blob.count(b"\n"))
        if sum(newlines) >= batch_records:
            yield _Batch(batch, parse_files(blobs, newlines))
            batch, blobs, newlines = [], [], []
    if batch:
        yield _Batch(batch, parse_files(blobs, newlines))


def _decoded(batches: Iterator[_Batch], inputs: InputDecoder, outputs: OutputDecoder) -> Iterator[_Batch]:
    for batch in batches:
        records = batch.parsed.records
        batch.inputs, batch.outputs = inputs.decode(records.inputs), outputs.decode(records.outputs)
        yield batch


T = TypeVar("T")


def _ahead(items: Iterator[T], name: str) -> Iterator[T]:
    """The items of an iterator made by a thread, one ahead of the consumer.

    At most two items wait besides the one being consumed (memory stays flat);
    an error is raised to the consumer when it would have had the item.  When
    the consumer stops early, the thread stops and ``items`` is closed.
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # an iterator that is itself ahead stops its thread

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            more, item = handoff.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        thread.join()


def fold_predictions(
    files: Sequence[CaptureFile],
    location: CaptureLocation,
    signature: Signature,
    *,
    batch_records: int = BATCH_RECORDS,
) -> Iterator[FoldedFile]:
    """The replies of capture files only: each file's predictions table, no input profiles.

    What experiments read to join feedback with the arm that served it (the
    variant is the capture folder); stored like a monitor's folds
    (:data:`PREDICTIONS_ONLY` as the binning), so a file is read once.
    """
    outputs = OutputDecoder(signature)
    for read in _parsed(files, location, batch_records):
        folded, file_of = _start_files(read)
        every = read.parsed.records
        if len(every):
            _predictions(folded, outputs.decode(every.outputs), file_of, every)
        yield from folded


#: the binning under which :func:`fold_predictions` files are stored (no profiles: monitors never read them)
PREDICTIONS_ONLY = "predictions-only"


def _start_files(read: _Batch) -> tuple[list[FoldedFile], np.ndarray]:
    """Each file's fold (records, lines that are no record, first and last time), and each record's file."""
    batch, parsed = read.files, read.parsed
    folded = [FoldedFile(file.url, file.hour, records=n) for file, n in zip(batch, parsed.counts, strict=True)]
    stamps = parsed.records.stamps
    start = 0
    for f, file, n, unreadable in zip(folded, batch, parsed.counts, parsed.unreadable, strict=True):
        if unreadable:
            minute = minute_key(file.hour)
            f.undecodable[minute] = f.undecodable.get(minute, 0) + unreadable
            f.note("a line is not a capture record (JSON with captureData and eventMetadata.inferenceTime)", unreadable)
        if n:
            f.first_at = _utc(stamps[start : start + n].min())
            f.last_at = _utc(stamps[start : start + n].max())
        start += n
    return folded, np.repeat(np.arange(len(batch), dtype=np.int64), parsed.counts)


def _fold_batch(read: _Batch, signature: Signature, binning: Binning) -> list[FoldedFile]:
    folded, file_of = _start_files(read)
    every = read.parsed.records
    if not len(every):
        return folded
    minute_of = every.stamps.astype("datetime64[m]").astype(np.int64)
    first_minute = int(minute_of.min())
    span = int(minute_of.max()) - first_minute + 1
    record_group = file_of * span + (minute_of - first_minute)

    def key(group: int) -> tuple[int, str]:
        k, offset = divmod(group, span)
        return k, minute_key(_utc(np.datetime64(first_minute + offset, "m")))

    decoded = read.inputs
    assert decoded is not None and read.outputs is not None
    for record in sorted(decoded.failures):  # in record order: the messages a file keeps do not depend on grouping
        k, minute = key(int(record_group[record]))
        folded[k].undecodable[minute] = folded[k].undecodable.get(minute, 0) + 1
        folded[k].note(decoded.failures[record])

    if len(decoded.records):  # one fold for every (file, minute) group of the batch
        keys, row_group = np.unique(record_group[decoded.records], return_inverse=True)
        # rows in a canonical order (record, then row): a file folds to the same numbers in any batch
        order = np.lexsort((decoded.rows, decoded.records, row_group))
        columns = {
            name: np.asarray(values)[order]
            for name, values in feature_columns(decoded.columns, binning.names, signature).items()
        }
        for group, profile in zip(
            keys.tolist(), fold_groups(columns, binning, row_group[order], len(keys)), strict=True
        ):
            k, minute = key(group)
            folded[k].profiles[minute] = profile

    _predictions(folded, read.outputs, file_of, every)
    return folded


def _utc(stamp: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(stamp.astype("datetime64[s]").astype(np.int64)), UTC)


def _predictions(folded: list[FoldedFile], decoded: DecodedOutputs, file_of: np.ndarray, every: CaptureRecords) -> None:
    """Each file's predictions table, as Parquet bytes; replies that could not be read noted."""
    for record in sorted(decoded.failures):
        folded[int(file_of[record])].note(f"reply: {decoded.failures[record]}")
    for k, blob in predictions_by_file(decoded, file_of, every.ids, every.stamps):
        folded[k].predictions = blob
