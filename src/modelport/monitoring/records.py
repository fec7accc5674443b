"""Capture lines → records, field by field, as Arrow columns.

The data plane writes one JSON object per line in SageMaker's shape
(``serving/capture.py``).  A monitor reads of each record its inference time
and id and, per side (request, reply), the body's text, content type and
encoding.  The files of a batch are parsed by one call of Arrow's JSON reader
(C++: no Python object per record, and the GIL released, so
:func:`~modelport.monitoring.capture.fold_files` parses the next batch while
it folds this one), keeping only those fields.

Arrow's reader is laxer than JSON: it takes ``NaN`` and ``Infinity``
tokens, a byte-order mark and text that is not UTF-8, and it reads two
objects on one line or skips a blank one.  So it is given every field a
capture record has, all strings (a token of another kind is an error to it),
the bytes are checked for a mark and for UTF-8, and the records must be as
many as the lines.  A file where any of that fails, or whose records miss a
field, hold one of another type or one more, is read line by line instead
(:func:`parse_lines`), where a line that is not a capture record is
counted, never fatal.  Both ways give the same records.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelport.monitoring.payloads import Payloads

_SIDES = ("endpointInput", "endpointOutput")  # SageMaker's field names
#: bytes the reader parses at a time
_BLOCK = 1 << 20


@dataclass
class CaptureRecords:
    """The records of capture files, field by field."""

    stamps: np.ndarray
    """Inference time of each record (UTC, to the second)."""
    ids: Any
    """Inference id of each record (an Arrow string array; the event id when the record has no inference id)."""
    inputs: Payloads
    outputs: Payloads

    def __len__(self) -> int:
        return len(self.stamps)

    @classmethod
    def empty(cls) -> CaptureRecords:
        return cls(np.empty(0, dtype="datetime64[s]"), *_arrays([], [], [], [], [], [], []))

    @classmethod
    def concat(cls, parts: Sequence[CaptureRecords]) -> CaptureRecords:
        import pyarrow as pa

        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]

        def joined(get: Any) -> Any:
            return pa.concat_arrays([get(p) for p in parts])

        return cls(
            np.concatenate([p.stamps for p in parts]),
            joined(operator.attrgetter("ids")),
            *(
                Payloads(
                    joined(operator.attrgetter(f"{side}.data")),
                    joined(operator.attrgetter(f"{side}.content_types")),
                    joined(operator.attrgetter(f"{side}.encodings")),
                )
                for side in ("inputs", "outputs")
            ),
        )


def _arrays(ids: list[Any], *fields: list[Any]) -> tuple[Any, Payloads, Payloads]:
    import pyarrow as pa

    return pa.array(ids, pa.string()), Payloads.of(*fields[:3]), Payloads.of(*fields[3:])


# -- a batch of files at once ----------------------------------------------------------


@dataclass
class ParsedFiles:
    """The records of several files, one after the other, and each file's share."""

    records: CaptureRecords
    counts: list[int]
    """Records of each file, in order."""
    unreadable: list[int]
    """Lines of each file that are not capture records."""


def parse_files(blobs: Sequence[bytes], newlines: Sequence[int] | None = None) -> ParsedFiles:
    """The records of capture files (their bytes), parsed in one call when every file reads exactly.

    ``newlines``: each blob's count of ``\\n``, when the caller has it.
    """
    if newlines is None:
        newlines = [b.count(b"\n") for b in blobs]
    lines = [n + (1 if b and not b.endswith(b"\n") else 0) for b, n in zip(blobs, newlines, strict=True)]
    if len(blobs) > 1:
        records = _read(b"".join(b if not b or b.endswith(b"\n") else b + b"\n" for b in blobs), sum(lines))
        if records is not None:
            return ParsedFiles(records, lines, [0] * len(blobs))
    parts = [parse_records(b) for b in blobs]
    return ParsedFiles(CaptureRecords.concat([r for r, _ in parts]), [len(r) for r, _ in parts], [u for _, u in parts])


def parse_records(data: bytes) -> tuple[CaptureRecords, int]:
    """A capture file's records, and how many of its lines are not capture records."""
    records = _read(data, _lines(data))
    if records is not None:
        return records, 0
    return parse_lines(data)


def _lines(data: bytes) -> int:
    """Lines of a file as the reader counts them (blank ones too: a file with one is read line by line)."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


@functools.cache
def _schema() -> Any:
    """Every field the data plane writes (and SageMaker's capture has), all strings: a line with another field,
    or with a value of another kind (a number, ``NaN``), is read line by line."""
    import pyarrow as pa

    body = pa.struct([(name, pa.string()) for name in ("observedContentType", "mode", "data", "encoding")])
    return pa.schema(
        [
            ("captureData", pa.struct([(side, body) for side in _SIDES])),
            ("eventMetadata", pa.struct([(name, pa.string()) for name in ("eventId", "inferenceTime", "inferenceId")])),
            ("eventVersion", pa.string()),
        ]
    )


def _read(data: bytes, lines: int) -> CaptureRecords | None:
    """Every line's record by Arrow's reader, or None when the lines are not all plain capture records."""
    import pyarrow as pa
    import pyarrow.json as pj

    if not lines:
        return CaptureRecords.empty() if not data.strip() else None
    ascii_only = data.isascii()
    if not ascii_only and data.startswith(b"\xef\xbb\xbf"):
        return None  # a byte-order mark, which the reader skips: JSON has none (one further on is an error to it)
    try:
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(use_threads=False, block_size=_BLOCK),
            parse_options=pj.ParseOptions(explicit_schema=_schema(), unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != lines:
        return None
    records = _from_table(table)
    if records is not None and not ascii_only:
        try:  # the reader does not check that strings are UTF-8
            for array in (records.ids, records.inputs.data, records.outputs.data):
                array.validate(full=True)
        except pa.ArrowInvalid:
            return None
    return records


def _from_table(table: Any) -> CaptureRecords | None:
    import pyarrow.compute as pc

    capture = table.column("captureData").combine_chunks()
    meta = table.column("eventMetadata").combine_chunks()
    if capture.null_count or meta.null_count:
        return None
    times = pc.struct_field(meta, "inferenceTime")
    if times.null_count:
        return None
    distinct = pc.unique(times)
    try:
        parsed = _stamps(distinct.to_pylist())
    except _Irregular:
        return None
    stamps = parsed[pc.index_in(times, value_set=distinct).to_numpy()]
    ids = pc.coalesce(pc.struct_field(meta, "inferenceId"), pc.struct_field(meta, "eventId"))
    sides = []
    for side in _SIDES:
        body = pc.struct_field(capture, side)
        fields = []
        for name in ("data", "observedContentType", "encoding"):
            values = pc.struct_field(body, name)
            if name != "data":
                if values.null_count != body.null_count:
                    return None  # a body whose type or encoding is null or missing: read line by line
                values = pc.fill_null(values, "")
            fields.append(values)
        sides.append(Payloads(*fields))
    return CaptureRecords(stamps, ids, *sides)


# -- line by line ------------------------------------------------------------------


class _Irregular(Exception):
    """A line that is not a capture record."""


_CAPTURE = operator.itemgetter("captureData")
_META = operator.itemgetter("eventMetadata")
_TIME = operator.itemgetter("inferenceTime")
_ID = operator.methodcaller("get", "inferenceId")
_DATA = operator.methodcaller("get", "data")
_TYPE = operator.methodcaller("get", "observedContentType", "")
_ENCODING = operator.methodcaller("get", "encoding", "")


def parse_lines(data: bytes) -> tuple[CaptureRecords, int]:
    """A capture file's records read line by line with orjson, and how many lines are not capture records."""
    good, bad = [], 0
    for line in data.strip().split(b"\n"):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            _columns([record])
            good.append(record)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, _Irregular):
            bad += 1
    return (_columns(good) if good else CaptureRecords.empty()), bad


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


def _columns(records: list[Any]) -> CaptureRecords:
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
    fields: list[list[Any]] = []
    for side in _SIDES:
        bodies = list(map(operator.methodcaller("get", side), captures))
        present = [b if b is not None else {} for b in bodies] if None in bodies else bodies
        if set(map(type, present)) - {dict}:
            raise _Irregular()
        data = list(map(_DATA, present))
        types = list(map(_TYPE, present))
        encodings = list(map(_ENCODING, present))
        if (
            set(map(type, data)) - {str, type(None)}
            or set(map(type, types)) - {str}
            or set(map(type, encodings)) - {str}
        ):
            raise _Irregular()
        fields += [data, types, encodings]
    return CaptureRecords(stamps, *_arrays(ids, *fields))
