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

Files are decoded many at a time (up to ``BATCH_RECORDS`` records), so a
second of traffic per file does not mean a decoder set-up per second.
"""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import orjson

from modelport.errors import NotFound
from modelport.monitoring.payloads import DecodedOutputs, InputDecoder, OutputDecoder, Payloads, feature_columns
from modelport.monitoring.profiles import Binning, Profile, fold_groups
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


# -- records --------------------------------------------------------------------------


@dataclass
class CaptureRecords:
    """The records of capture files, field by field."""

    stamps: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="datetime64[s]"))
    """Inference time of each record (UTC, to the second)."""
    ids: list[str | None] = field(default_factory=list)
    inputs: Payloads = field(default_factory=lambda: Payloads([], [], []))
    outputs: Payloads = field(default_factory=lambda: Payloads([], [], []))
    unreadable: int = 0
    """Lines that are not capture records."""

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concat(cls, parts: Sequence[CaptureRecords]) -> CaptureRecords:
        out = cls(stamps=np.concatenate([p.stamps for p in parts]) if parts else cls().stamps)
        for p in parts:
            out.ids += p.ids
            for mine, theirs in ((out.inputs, p.inputs), (out.outputs, p.outputs)):
                mine.data += theirs.data
                mine.content_types += theirs.content_types
                mine.encodings += theirs.encodings
            out.unreadable += p.unreadable
        return out


class _Irregular(Exception):
    """A line that is not a capture record, somewhere in the file."""


_CAPTURE = operator.itemgetter("captureData")
_META = operator.itemgetter("eventMetadata")
_TIME = operator.itemgetter("inferenceTime")
_ID = operator.methodcaller("get", "inferenceId")
_DATA = operator.methodcaller("get", "data")
_TYPE = operator.methodcaller("get", "observedContentType", "")
_ENCODING = operator.methodcaller("get", "encoding", "")


class _Body(msgspec.Struct):  # the field names are SageMaker's
    data: str | None = None
    observedContentType: str = ""
    encoding: str = ""


class _Capture(msgspec.Struct):
    endpointInput: _Body | None = None
    endpointOutput: _Body | None = None


class _Meta(msgspec.Struct):
    inferenceTime: str
    inferenceId: str | None = None
    eventId: str | None = None


class _Record(msgspec.Struct):
    captureData: _Capture
    eventMetadata: _Meta


_RECORDS = msgspec.json.Decoder(list[_Record])


def parse_records(data: bytes) -> CaptureRecords:
    """A capture file's records; lines that are not records are counted, not fatal.

    The usual file is parsed in one call into typed records (msgspec skips the
    fields a monitor does not read, ~3x quicker than dicts); a file with a line
    that is not a record is read line by line.
    """
    lines = data.strip().split(b"\n")
    if lines == [b""]:
        return CaptureRecords()
    try:
        return _typed(_RECORDS.decode(b"[" + b",".join(lines) + b"]"))
    except (msgspec.DecodeError, _Irregular):
        pass
    good, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            _columns([record], 0)
            good.append(record)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, _Irregular):
            bad += 1
    return _columns(good, bad)


def _stamps(times: list[str]) -> np.ndarray:
    """``2024-05-01T10:15:02Z`` (SageMaker's form; fractions of a second dropped) → datetime64[s].

    A file holds a few distinct seconds: each is parsed once.
    """
    distinct = list(dict.fromkeys(times))
    if not all(type(t) is str and len(t) >= 19 and t[10] == "T" for t in distinct):
        raise _Irregular()
    try:
        parsed = np.array([t[:19] for t in distinct], dtype="datetime64[s]")
    except ValueError:
        raise _Irregular() from None
    if len(distinct) == len(times):
        return parsed  # type: ignore[no-any-return]
    position = {t: i for i, t in enumerate(distinct)}
    return parsed[np.fromiter(map(position.__getitem__, times), dtype=np.int64, count=len(times))]  # type: ignore[no-any-return]


def _typed(records: list[_Record]) -> CaptureRecords:
    metas = [r.eventMetadata for r in records]
    ids = [m.inferenceId for m in metas]
    if None in ids:
        ids = [i if i is not None else m.eventId for i, m in zip(ids, metas, strict=True)]
    out = CaptureRecords(stamps=_stamps([m.inferenceTime for m in metas]), ids=ids)
    captures = [r.captureData for r in records]
    for bodies, payloads in (
        ([c.endpointInput for c in captures], out.inputs),
        ([c.endpointOutput for c in captures], out.outputs),
    ):
        present = [b if b is not None else _NO_BODY for b in bodies] if None in bodies else bodies
        payloads.data = [b.data for b in present]  # type: ignore[union-attr]
        payloads.content_types = [b.observedContentType for b in present]  # type: ignore[union-attr]
        payloads.encodings = [b.encoding for b in present]  # type: ignore[union-attr]
    return out


_NO_BODY = _Body()


def _columns(records: list[Any], unreadable: int) -> CaptureRecords:
    captures = list(map(_CAPTURE, records))
    metas = list(map(_META, records))
    times = list(map(_TIME, metas))
    if set(map(type, times)) - {str} or set(map(type, captures)) - {dict}:
        raise _Irregular()
    stamps = _stamps(times)
    ids = list(map(_ID, metas))
    if None in ids:
        ids = [i if i is not None else m.get("eventId") for i, m in zip(ids, metas, strict=True)]
    if set(map(type, ids)) - {str, type(None)}:
        ids = [None if i is None else str(i) for i in ids]
    out = CaptureRecords(stamps=stamps, ids=ids, unreadable=unreadable)
    for side, payloads in (("endpointInput", out.inputs), ("endpointOutput", out.outputs)):
        bodies = list(map(operator.methodcaller("get", side), captures))
        present = [b if b is not None else {} for b in bodies] if None in bodies else bodies
        if set(map(type, present)) - {dict}:
            raise _Irregular()
        payloads.data = list(map(_DATA, present))
        if set(map(type, payloads.data)) - {str, type(None)}:
            raise _Irregular()
        payloads.content_types = list(map(_TYPE, present))
        payloads.encodings = list(map(_ENCODING, present))
        if set(map(type, payloads.content_types)) - {str} or set(map(type, payloads.encodings)) - {str}:
            raise _Irregular()
    return out


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
    """Fold capture files on ``binning``, decoding many files' records together; yields them in order."""
    inputs = InputDecoder(signature)
    outputs = OutputDecoder(signature)
    batch: list[tuple[CaptureFile, CaptureRecords]] = []
    size = 0
    for file in files:
        records = parse_records(location.read(file.url))
        batch.append((file, records))
        size += len(records)
        if size >= batch_records:
            yield from _fold_batch(batch, inputs, outputs, binning)
            batch, size = [], 0
    if batch:
        yield from _fold_batch(batch, inputs, outputs, binning)


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
    batch: list[tuple[CaptureFile, CaptureRecords]] = []
    size = 0
    for file in files:
        records = parse_records(location.read(file.url))
        batch.append((file, records))
        size += len(records)
        if size >= batch_records:
            yield from _predictions_batch(batch, outputs)
            batch, size = [], 0
    if batch:
        yield from _predictions_batch(batch, outputs)


#: the binning under which :func:`fold_predictions` files are stored (no profiles: monitors never read them)
PREDICTIONS_ONLY = "predictions-only"


def _predictions_batch(batch: list[tuple[CaptureFile, CaptureRecords]], outputs: OutputDecoder) -> list[FoldedFile]:
    folded, every, file_of = _start_batch(batch)
    if len(every):
        _predictions(folded, outputs.decode(every.outputs), file_of, every)
    return folded


def _start_batch(
    batch: list[tuple[CaptureFile, CaptureRecords]],
) -> tuple[list[FoldedFile], CaptureRecords, np.ndarray]:
    """Each file's fold (records, lines that are no record, first and last time), and the batch's records."""
    folded = [FoldedFile(file.url, file.hour, records=len(records)) for file, records in batch]
    for f, (file, records) in zip(folded, batch, strict=True):
        if records.unreadable:
            minute = minute_key(file.hour)
            f.undecodable[minute] = f.undecodable.get(minute, 0) + records.unreadable
            f.note(
                "a line is not a capture record (JSON with captureData and eventMetadata.inferenceTime)",
                records.unreadable,
            )
        if len(records):
            f.first_at = _utc(records.stamps.min())
            f.last_at = _utc(records.stamps.max())
    every = CaptureRecords.concat([records for _, records in batch])
    file_of = np.repeat(np.arange(len(batch), dtype=np.int64), [len(r) for _, r in batch])
    return folded, every, file_of


def _fold_batch(
    batch: list[tuple[CaptureFile, CaptureRecords]], inputs: InputDecoder, outputs: OutputDecoder, binning: Binning
) -> list[FoldedFile]:
    folded, every, file_of = _start_batch(batch)
    if not len(every):
        return folded
    minute_of = every.stamps.astype("datetime64[m]").astype(np.int64)
    first_minute = int(minute_of.min())
    span = int(minute_of.max()) - first_minute + 1
    record_group = file_of * span + (minute_of - first_minute)

    def key(group: int) -> tuple[int, str]:
        k, offset = divmod(group, span)
        return k, minute_key(_utc(np.datetime64(first_minute + offset, "m")))

    decoded = inputs.decode(every.inputs)
    for record, message in decoded.failures.items():
        k, minute = key(int(record_group[record]))
        folded[k].undecodable[minute] = folded[k].undecodable.get(minute, 0) + 1
        folded[k].note(message)

    if len(decoded.records):  # one fold for every (file, minute) group of the batch
        keys, row_group = np.unique(record_group[decoded.records], return_inverse=True)
        # rows in a canonical order (record, then row): a file folds to the same numbers in any batch
        order = np.lexsort((decoded.rows, decoded.records, row_group))
        columns = {
            name: np.asarray(values)[order]
            for name, values in feature_columns(decoded.columns, binning.names, inputs.signature).items()
        }
        for group, profile in zip(
            keys.tolist(), fold_groups(columns, binning, row_group[order], len(keys)), strict=True
        ):
            k, minute = key(group)
            folded[k].profiles[minute] = profile

    _predictions(folded, outputs.decode(every.outputs), file_of, every)
    return folded


def _utc(stamp: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(stamp.astype("datetime64[s]").astype(np.int64)), UTC)


def _predictions(folded: list[FoldedFile], decoded: DecodedOutputs, file_of: np.ndarray, every: CaptureRecords) -> None:
    """Each file's predictions table, as Parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for record, message in decoded.failures.items():
        folded[int(file_of[record])].note(f"reply: {message}")
    table = decoded.table()
    if table is None:
        return
    records, rows, labels, values, scores = table
    order = np.lexsort((rows, records))
    records = records[order]
    taken = pa.array(order)
    table = pa.table(
        {
            "inference_id": pa.array(every.ids, pa.string()).take(pa.array(records)),
            "time": pa.array(every.stamps[records], pa.timestamp("s", tz="UTC")),
            "row": pa.array(rows[order]),
            "label": labels.take(taken),
            "prediction": values.take(taken),
            "scores": scores.take(taken),
        },
        schema=predictions_schema(),
    )
    files = file_of[records]
    bounds = np.flatnonzero(np.diff(files)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64).tolist()
    stops = np.concatenate([bounds, [len(files)]]).astype(np.int64).tolist()
    for a, b in zip(starts, stops, strict=True):
        sink = pa.BufferOutputStream()
        pq.write_table(table.slice(a, b - a), sink, compression="zstd", write_statistics=False)
        folded[int(files[a])].predictions = sink.getvalue().to_pybytes()


def predictions_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("inference_id", pa.string()),
            ("time", pa.timestamp("s", tz="UTC")),
            ("row", pa.int64()),
            ("label", pa.string()),
            ("prediction", pa.float64()),
            ("scores", pa.list_(pa.float64())),
        ]
    )


def read_predictions(blobs: Sequence[bytes | None]) -> Any:
    """The predictions tables of several folded files as one Arrow table (with the schema above)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(b)) for b in blobs if b]
    if not tables:
        return predictions_schema().empty_table()
    return pa.concat_tables(tables)
