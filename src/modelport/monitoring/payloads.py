"""Captured bodies, many at a time: grouped by what they are, BASE64 undone, joined for one parse.

A capture record holds, per side, the body's text as it was sent (SageMaker's
``encoding`` ``CSV`` or ``JSON``) or BASE64 of its bytes (anything else).
The request and reply decoders (:mod:`.inputs`, :mod:`.replies`) start from
here: records grouped by media type, CSV header parameter and encoding
(:func:`group_bodies`), and a group's texts joined into one document
(:func:`joined_lines`, :func:`framed_json`) in Arrow's C++ kernels, without a
Python string per record.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelport.errors import InvalidArgument, ModelportError
from modelport.serving.codecs.json_body import loads


@dataclass
class Payloads:
    """The captured bodies of one side of many records: Arrow string arrays (``data`` null: no body)."""

    data: Any
    content_types: Any
    encodings: Any

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def of(cls, data: Sequence[str | None], content_types: Sequence[str], encodings: Sequence[str]) -> Payloads:
        import pyarrow as pa

        return cls(pa.array(data, pa.string()), pa.array(content_types, pa.string()), pa.array(encodings, pa.string()))


class CountMismatch(Exception):
    """The joined bodies gave another number of rows than their parts announce."""


def message(exc: BaseException) -> str:
    """What to report for a body that could not be read."""
    if isinstance(exc, ModelportError):
        return exc.message
    if isinstance(exc, CountMismatch):
        return "the body's rows could not be counted"
    return f"{type(exc).__name__}: {exc}"


def media(content_type: str) -> tuple[str, str]:
    """``(type, header parameter)`` of a Content-Type, lower case."""
    head, _, rest = content_type.partition(";")
    header = ""
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "header":
            header = value.strip().strip('"').lower()
    return head.strip().lower(), header


@dataclass
class BodyGroup:
    """Records whose bodies are of one kind, and their bodies."""

    media: str
    header: str
    """``text/csv``'s header parameter (``present``, ``absent``, or empty)."""
    encoding: str
    """As captured (``CSV``, ``JSON``), ``TEXT`` (BASE64 of UTF-8 text) or ``BINARY``."""
    records: np.ndarray
    """Record indices, ascending."""
    bodies: Any
    """One body per record: an Arrow string array (``binary`` for BINARY)."""
    content_types: Any
    """The records' Content-Types as captured (Arrow strings)."""

    def __len__(self) -> int:
        return len(self.records)

    def texts(self, positions: Sequence[int] | np.ndarray | None = None) -> list[Any]:
        """Bodies as Python objects (str, or bytes for BINARY), of all or of some positions in the group."""
        bodies = self.bodies if positions is None else self.bodies.take(np.asarray(positions, dtype=np.int64))
        return bodies.to_pylist()  # type: ignore[no-any-return]


def group_bodies(payloads: Payloads, failures: dict[int, str], what: str, *, required: bool = True) -> list[BodyGroup]:
    """Records by (media type, header parameter, encoding), BASE64 bodies decoded (``TEXT`` or ``BINARY``).

    A record without a body is a failure when ``required`` (requests), else
    skipped (replies: capture of outputs can be off).
    """
    import pyarrow as pa

    data, types, encodings = payloads.data, payloads.content_types, payloads.encodings
    n = len(data)
    if not n:
        return []
    present = data.is_valid().to_numpy(zero_copy_only=False) if data.null_count else np.ones(n, dtype=bool)
    type_codes, type_names = _codes(types)
    encoding_codes, encoding_names = _codes(encodings)
    pairs = type_codes * len(encoding_names) + encoding_codes
    members: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for pair in np.unique(pairs).tolist():
        ctype, encoding = type_names[pair // len(encoding_names)], encoding_names[pair % len(encoding_names)]
        chosen = np.flatnonzero((pairs == pair) & present) if len(type_names) * len(encoding_names) > 1 else None
        if chosen is None:
            chosen = np.flatnonzero(present) if data.null_count else np.arange(n, dtype=np.int64)
        if len(chosen):
            members.setdefault((*media(ctype), encoding), []).append(chosen)
    if required and data.null_count:
        for i in np.flatnonzero(~present).tolist():
            failures[i] = f"the record holds no captured {what}"
    groups: list[BodyGroup] = []
    for (kind, header, encoding), parts in members.items():
        records = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))
        taken = pa.array(records)
        bodies = data.take(taken) if len(records) != n else data
        ctypes = types.take(taken) if len(records) != n else types
        if encoding != "BASE64":
            groups.append(BodyGroup(kind, header, encoding, records, bodies, ctypes))
            continue
        decoded: dict[str, list[tuple[int, Any, Any]]] = {"TEXT": [], "BINARY": []}
        for i, body, ctype in zip(records.tolist(), bodies.to_pylist(), ctypes.to_pylist(), strict=True):
            try:
                blob = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                failures[i] = f"the captured {what} is not valid BASE64"
                continue
            try:
                decoded["TEXT"].append((i, blob.decode("utf-8"), ctype))
            except UnicodeDecodeError:
                decoded["BINARY"].append((i, blob, ctype))
        for encoding_, items in decoded.items():
            if items:
                indices, blobs, kinds = zip(*items, strict=True)
                groups.append(
                    BodyGroup(
                        kind,
                        header,
                        encoding_,
                        np.asarray(indices, dtype=np.int64),
                        pa.array(blobs, pa.string() if encoding_ == "TEXT" else pa.binary()),
                        pa.array(kinds, pa.string()),
                    )
                )
    return groups


def _codes(values: Any) -> tuple[np.ndarray, list[str]]:
    """Each value's position among the distinct values, and the distinct values."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(values)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


# -- joining a group's bodies ---------------------------------------------------------


def buffer_bytes(texts: Any) -> bytes:
    """The characters of a string array (no nulls), one after the other."""
    import pyarrow as pa

    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32 if texts.type == pa.string() else np.int64)
    start, stop = int(offsets[texts.offset]), int(offsets[texts.offset + len(texts)])
    data = texts.buffers()[2]
    return data[start:stop].to_pybytes() if data is not None else b""


def joined_lines(texts: Any) -> bytes:
    """``"\\n".join(texts) + "\\n"`` of a string array (no nulls), in C."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(texts):
        return b""
    return buffer_bytes(pc.binary_join_element_wise(texts, pa.scalar("\n"), pa.scalar("")))


def framed_json(texts: Any) -> bytes:
    """One line ``{"b":<body>}`` per body: JSON lines in which a body that is not one JSON value (empty, two
    documents) breaks the line it is on, so Arrow's reader cannot take it for another body's part."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return buffer_bytes(pc.binary_join_element_wise(pa.scalar('{"b":'), texts, pa.scalar("}\n"), pa.scalar("")))


def after_first_line(text: str) -> str:
    body = text.lstrip(" \t\r\n\ufeff")
    end = body.find("\n")
    return "" if end < 0 else body[end + 1 :]


def positions(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """0..n-1 for each record of n rows, concatenated."""
    sizes = np.asarray(counts, dtype=np.int64)
    total = int(sizes.sum())
    if total == len(sizes):
        return np.zeros(total, dtype=np.int64)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total, dtype=np.int64) - starts


@dataclass(frozen=True)
class Invalid:
    """A body that is not JSON, and why."""

    message: str


def parse_all(texts: list[str]) -> list[Any]:
    """Each body's JSON document: one orjson call for all; else each alone, as the codec reads it (NaN tokens
    allowed), or why it is not JSON."""
    try:
        docs = orjson.loads("[" + ",".join(texts) + "]")
        if len(docs) == len(texts):
            return docs  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        pass
    out: list[Any] = []
    for text in texts:
        try:
            out.append(loads(text.encode("utf-8")))
        except InvalidArgument as exc:  # the codec's message
            out.append(Invalid(exc.message))
    return out
