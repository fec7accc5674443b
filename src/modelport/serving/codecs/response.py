"""Model outputs → a reply body, in the type the caller's ``Accept`` prefers.

    body, content_type = encode_response({"label": labels, "probabilities": proba}, "text/csv", classes)

- ``application/json`` (also for no ``Accept`` or ``*/*``): ``{"predictions": …}``
  — one output gives its values (``[0, 1]``, or nested lists for a 2-D output),
  several give one record per row (``[{"label": 0, "probabilities": [0.9, 0.1]}, …]``).
  NaN and infinities are ``null``; float32 values keep their short form.
- ``text/csv``: one line per row, no header (SageMaker style) unless
  ``Accept: text/csv; header=present``; 2-D outputs are flattened
  (``probabilities`` → ``proba_<class>``, see :func:`modelport.frames.outputs_to_columns`);
  a missing value is an empty cell.
- ``application/xml`` / ``text/xml``:
  ``<predictions><prediction><label>0</label><proba_0>0.9</proba_0>…</prediction>…</predictions>``,
  with the same flattened columns; a missing value is an empty element.

The JSON path touches neither pandas nor per-value Python code for a single
output: orjson serializes the numpy arrays directly.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import orjson

from modelport.errors import Internal
from modelport.frames import outputs_to_columns
from modelport.serving.codecs.media import negotiate
from modelport.signature import Batch

JSON = "application/json"
CSV = "text/csv"
XML_TYPES = ("application/xml", "text/xml")
#: in the server's order of preference (the first one answers ``*/*``)
SUPPORTED_RESPONSE_TYPES = (JSON, CSV, *XML_TYPES)

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
#: replies up to this many rows are built as records by orjson (~1 µs a row); longer ones are cut from one dump per output
SMALL_REPLY_ROWS = 8
_ORJSON_KINDS = "biuf"  # dtypes orjson serializes straight from the array buffer
_XML_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def encode_response(outputs: Batch, accept: str | None, classes: list[Any] | None) -> tuple[bytes, str]:
    """Encode outputs for the negotiated type; returns ``(body, content_type)``.

    NotAcceptable (listing the supported types) when ``accept`` allows none of them.
    """
    if accept is None or accept == "*/*" or accept == JSON:
        return encode_json(outputs), JSON
    media = negotiate(accept, SUPPORTED_RESPONSE_TYPES)
    if media.type == JSON:
        return encode_json(outputs), JSON
    if media.type == CSV:
        header = media.params.get("header", "").lower() == "present"
        return encode_csv(outputs, classes, header=header), "text/csv; charset=utf-8"
    return encode_xml(outputs, classes), media.type


# -- JSON -----------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _orjson_reads(arr: np.ndarray) -> bool:
    return arr.dtype.kind in _ORJSON_KINDS and arr.dtype.isnative and arr.dtype.itemsize <= 8


def _json_values(arr: np.ndarray) -> Any:
    """The array itself when orjson can read its buffer; else plain Python values."""
    if _orjson_reads(arr):
        return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    return arr.tolist()


def _record_ready(arr: np.ndarray) -> bool:
    """Whether orjson renders this array's rows, taken one by one, as :func:`_row_fragments` does."""
    return (_orjson_reads(arr) and arr.flags.c_contiguous) or arr.dtype.kind in "OUS"


def _row_fragments(arr: np.ndarray) -> tuple[list[bytes], bool]:
    """Each row of an output as JSON text, and whether the rows still need their ``[ ]``.

    Numeric arrays are serialized once by orjson and cut at the row
    boundaries — numbers, ``true``/``false`` and ``null`` contain neither ``,``
    nor ``],[`` — which is several times faster than building a Python
    object per row; float32 values also keep their short form (0.1, not
    0.10000000149011612).
    """
    if arr.shape[0] and arr.ndim <= 2 and _orjson_reads(arr):
        text = orjson.dumps(np.ascontiguousarray(arr), option=_NUMPY)
        if arr.ndim == 1:
            return text[1:-1].split(b","), False
        return text[2:-2].split(b"],["), True
    values = arr.tolist() if arr.ndim == 1 else list(arr)
    return [orjson.dumps(value, option=_NUMPY, default=_default) for value in values], False


@lru_cache(maxsize=256)
def _record_template(names: tuple[str, ...], bracketed: tuple[bool, ...]) -> bytes:
    """``b'{"label":%b,"probabilities":[%b]}'``: one C-level ``%`` per row fills it."""
    fields = []
    for name, wrap in zip(names, bracketed, strict=True):
        key = orjson.dumps(name).replace(b"%", b"%%")
        fields.append(key + (b":[%b]" if wrap else b":%b"))
    return b"{" + b",".join(fields) + b"}"


def encode_json(outputs: Batch) -> bytes:
    """``{"predictions": …}``: a single output's values, or one record per row."""
    arrays = {
        name: value if type(value) is np.ndarray and value.ndim else np.atleast_1d(np.asarray(value))
        for name, value in outputs.items()
    }
    if len(arrays) == 1:
        (arr,) = arrays.values()
        return orjson.dumps({"predictions": _json_values(arr)}, option=_NUMPY, default=_default)
    if not arrays:
        return b'{"predictions":[]}'
    rows = len(next(iter(arrays.values())))
    if rows <= SMALL_REPLY_ROWS and all(len(arr) == rows and _record_ready(arr) for arr in arrays.values()):
        # a few rows (one request's share of a batch): orjson builds the records itself
        names = [str(name) for name in arrays]
        # integers as Python ints: orjson knows numpy's int64 but not the longlong ONNX Runtime returns
        columns = [arr.tolist() if arr.ndim == 1 and arr.dtype.kind in "biu" else arr for arr in arrays.values()]
        rows_out = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        return orjson.dumps({"predictions": rows_out}, option=_NUMPY, default=_default)
    parts = [_row_fragments(arr) for arr in arrays.values()]
    columns = [rows for rows, _ in parts]
    if len({len(c) for c in columns}) > 1:
        counts = ", ".join(f"{name} {len(c)}" for name, c in zip(arrays, columns, strict=True))
        raise Internal(f"outputs have different numbers of rows: {counts}")
    template = _record_template(tuple(map(str, arrays)), tuple(wrap for _, wrap in parts))
    records = [template % row for row in zip(*columns, strict=True)]
    return b'{"predictions":[' + b",".join(records) + b"]}"


# -- CSV and XML ----------------------------------------------------------------


def _cells(arr: np.ndarray) -> list[str]:
    """Each value as text: shortest float form, '' for a missing value."""
    if arr.dtype.kind == "f":
        text = arr.astype(str)
        nan = np.isnan(arr)
        return (np.where(nan, "", text) if nan.any() else text).tolist()
    if arr.dtype.kind in "biu":
        return arr.astype(str).tolist()
    return [
        ""
        if v is None or (isinstance(v, float) and v != v)
        else v.decode("utf-8", "replace")
        if isinstance(v, bytes)
        else str(v)
        for v in arr.tolist()
    ]


def _flat_columns(outputs: Batch, classes: list[Any] | None) -> dict[str, np.ndarray]:
    arrays = {
        name: value if type(value) is np.ndarray and value.ndim else np.atleast_1d(np.asarray(value))
        for name, value in outputs.items()
    }
    return outputs_to_columns(arrays, classes)


def _csv_quote(cell: str) -> str:
    if any(c in cell for c in ',"\r\n') or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


def encode_csv(outputs: Batch, classes: list[Any] | None, *, header: bool = False) -> bytes:
    """One line per row, columns flattened; a header line only when asked."""
    columns = _flat_columns(outputs, classes)
    cells = []
    for arr in columns.values():
        col = _cells(arr)
        if arr.dtype.kind not in "biuf":
            col = [_csv_quote(c) for c in col]
        cells.append(col)
    lines = [",".join(row) for row in zip(*cells, strict=True)]
    if header:
        lines.insert(0, ",".join(_csv_quote(n) for n in columns))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _xml_tag(name: str) -> str:
    """A column name as an element name (characters XML forbids become '_')."""
    if _XML_NAME.match(name) and not name.lower().startswith("xml"):
        return name
    tag = re.sub(r"[^\w.\-]", "_", name)
    return tag if re.match(r"^[A-Za-z_]", tag) and not tag.lower().startswith("xml") else f"_{tag}"


def encode_xml(outputs: Batch, classes: list[Any] | None) -> bytes:
    """``<predictions><prediction><name>value</name>…</prediction>…</predictions>``."""
    columns = _flat_columns(outputs, classes)
    tags = [_xml_tag(n) for n in columns]
    cells = [_cells(arr) for arr in columns.values()]
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<predictions>']
    for row in zip(*cells, strict=True):
        parts.append("<prediction>")
        for tag, cell in zip(tags, row, strict=True):
            parts.append(f"<{tag}>{escape(cell)}</{tag}>" if cell else f"<{tag}/>")
        parts.append("</prediction>")
    parts.append("</predictions>\n")
    return "".join(parts).encode("utf-8")
