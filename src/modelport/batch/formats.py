"""Records in and out: parsing blocks of CSV, JSON Lines and Parquet into Arrow tables, and writing them back.

Every block of a job is parsed with the job's fixed schema (chosen once, see
:mod:`modelport.batch.plan`), so all blocks agree on column names and types
whichever engine or run reads them.  Writing is deterministic: the same
table always gives the same bytes, which is what makes a resumed job's
output byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from modelport.batch.blocks import line_spans
from modelport.runtimes.base import first_line

#: errors a malformed record raises while being parsed
PARSE_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError, orjson.JSONDecodeError)


# -- schemas ------------------------------------------------------------------------


def schema_to_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def schema_from_text(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def arrow_type(dtype: str) -> pa.DataType:
    """The Arrow type a signature dtype is parsed as.

    Numbers are parsed at their widest (float64, int64, uint64) and narrowed by
    the model's validation, which refuses what does not fit the column
    (``1e39`` for float32, naming the column) as on every other path, where
    Arrow would have made it ``inf`` or a parse error.
    """
    if dtype == "string":
        return pa.string()
    if dtype == "bool":
        return pa.bool_()
    kind = np.dtype(dtype).kind
    return pa.float64() if kind == "f" else pa.int64() if kind == "i" else pa.uint64()


# -- parsing ------------------------------------------------------------------------


def parse_text(data: bytes, fmt: str, schema: pa.Schema, *, json_rows: bool = False) -> pa.Table:
    """A block of CSV or JSON Lines as a table of ``schema``; raises one of PARSE_ERRORS when a record is bad."""
    if not data or data.isspace():  # isspace stops at the first non-space; strip would copy the block
        return schema.empty_table()
    if fmt == "csv":
        return _parse_csv(data, schema)
    if json_rows:
        return _parse_json_rows(data, schema)
    return _parse_json_objects(data, schema)


def _parse_csv(data: bytes, schema: pa.Schema) -> pa.Table:
    # One thread per block: the engines already parse one block while others are scored.
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=schema.names, use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )


def _parse_json_objects(data: bytes, schema: pa.Schema) -> pa.Table:
    table = pajson.read_json(
        pa.py_buffer(data),
        read_options=pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, len(data) // 2 + 1)),
        parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )
    return table.select(schema.names)


def _parse_json_rows(data: bytes, schema: pa.Schema) -> pa.Table:
    """JSON Lines whose records are arrays (``[5.1, 3.5, 1.4, 0.2]``): columns by position."""
    rows = [orjson.loads(data[s:e]) for s, e in line_spans(data) if data[s:e].strip()]
    width = len(schema)
    for row in rows:
        if not isinstance(row, list) or len(row) != width:
            raise ValueError(f"expected an array of {width} values, got {orjson.dumps(row).decode()[:80]}")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table([pa.array(list(col), type=f.type) for col, f in zip(columns, schema, strict=True)], schema=schema)


def isolate_bad_lines(
    data: bytes, fmt: str, schema: pa.Schema, *, json_rows: bool = False
) -> tuple[bytes, list[int], list[tuple[int, str]]]:
    """Parse a block line by line: (the good lines, their line numbers in the block, (line, reason) per bad one).

    Only used when a whole block failed to parse, to name the records at fault.
    """
    good: list[bytes] = []
    good_lines: list[int] = []
    bad: list[tuple[int, str]] = []
    for i, (s, e) in enumerate(line_spans(data)):
        line = data[s:e]
        if not line.strip():
            continue
        try:
            table = parse_text(line + b"\n", fmt, schema, json_rows=json_rows)
            if table.num_rows != 1:
                raise ValueError("not one record")
        except PARSE_ERRORS as exc:
            bad.append((i, bad_column(line, fmt, schema, json_rows) or f"cannot parse the record: {first_line(exc)}"))
            continue
        good.append(line)
        good_lines.append(i)
    return b"\n".join(good) + (b"\n" if good else b""), good_lines, bad


def bad_column(line: bytes, fmt: str, schema: pa.Schema, json_rows: bool) -> str | None:
    """Which column of a record that does not parse holds a value its type refuses, said as validation says it.

    None when the record is broken as a whole (a bad quote, a wrong number of values).
    """
    try:
        if fmt == "csv":
            texts = _parse_csv(line + b"\n", pa.schema([pa.field(n, pa.string()) for n in schema.names]))
            if texts.num_rows != 1:
                return None
            values = [texts.column(i)[0].as_py() for i in range(len(schema))]
        else:
            doc = orjson.loads(line)
            if json_rows:
                if not isinstance(doc, list) or len(doc) != len(schema):
                    return None
                values = doc
            elif isinstance(doc, dict):
                values = [doc.get(n) for n in schema.names]
            else:
                return None
    except PARSE_ERRORS:
        return None
    for field, value in zip(schema, values, strict=True):
        dtype = (field.metadata or {}).get(b"dtype", b"").decode()  # the signature's, set by the plan
        reason = _refused(field.type, dtype, value, from_text=fmt == "csv")
        if reason is not None:
            return f"column {field.name!r}: {reason}"
    return None


def _refused(kind: pa.DataType, dtype: str, value: Any, *, from_text: bool) -> str | None:
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if value is None or not (numeric or pa.types.is_boolean(kind)):
        return None
    expected = "a number" if pa.types.is_floating(kind) else "an integer" if numeric else "true/false"
    if numeric and (isinstance(value, bool) or (from_text and str(value).strip().lower() in ("true", "false"))):
        return f"expected {dtype or expected}, got a boolean (true/false)"
    if dtype:
        expected = f"{expected} ({dtype})"
    if from_text:
        try:
            pc.cast(pa.array([value]), kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return f"{value!r} is not {expected}"
        return None
    if pa.types.is_boolean(kind) and not isinstance(value, bool):
        return f"{value!r} is not {expected}"
    if numeric and (isinstance(value, str | list | dict) or (pa.types.is_integer(kind) and isinstance(value, float))):
        return f"{value!r} is not {expected}"
    return None


def blank_lines(data: bytes) -> list[int]:
    """Line numbers (in the block) of the blank lines, which hold no record; one regex scan when there are none."""
    if not _BLANK.search(data):
        return []
    return [i for i, (s, e) in enumerate(line_spans(data)) if not data[s:e].strip()]


_BLANK = re.compile(rb"^[ \t\r]*\n", re.MULTILINE)


# -- writing ------------------------------------------------------------------------


def csv_header(names: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(names)
    return out.getvalue().encode()


def csv_bytes(table: pa.Table) -> bytes:
    """Rows as CSV without a header: text as it came (quoted only when it holds a comma, quote or line end)."""
    if table.num_rows == 0:
        return b""
    if table.num_columns == 0:
        return b"\n" * table.num_rows
    texts = [_csv_texts(table.column(i)) for i in range(table.num_columns)]
    line = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, ",")
    return _string_data(pc.binary_join_element_wise(line, pa.scalar("\n"), ""))


def _csv_texts(col: pa.ChunkedArray) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = arr.type
    if pa.types.is_floating(t):
        texts = pc.if_else(pc.is_nan(arr), pa.scalar(""), pc.cast(arr, pa.string()))
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        texts = pc.cast(arr, pa.string())
    elif pa.types.is_boolean(t):
        texts = pc.if_else(arr, pa.scalar("true"), pa.scalar("false"))
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        texts = _quoted(arr.cast(pa.string()))
    else:
        texts = _quoted(_json_texts(arr))  # lists, structs, dates…: their JSON text
    return pc.fill_null(texts, pa.scalar(""))


def _quoted(texts: pa.Array) -> pa.Array:
    needs = pc.match_substring_regex(texts, r'[",\r\n]')
    quoted = pc.binary_join_element_wise(
        pa.scalar('"'), pc.replace_substring(texts, '"', '""'), pa.scalar('"'), ""
    )
    return pc.if_else(needs, quoted, texts)


def jsonl_bytes(table: pa.Table) -> bytes:
    """Rows as JSON Lines objects, keys in column order; NaN and infinities become null."""
    if table.num_rows == 0:
        return b""
    parts: list[Any] = []
    for i, name in enumerate(table.column_names):
        parts.append(("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":")
        parts.append(_json_texts(table.column(i)))
    parts.append("}\n" if parts else "{}\n")
    if len(parts) == 1:
        return b"{}\n" * table.num_rows
    rows = pc.binary_join_element_wise(*parts, "")
    return _string_data(rows)


def _json_texts(col: pa.ChunkedArray) -> pa.Array:
    """Each value of a column as JSON text."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        texts = pc.cast(arr, pa.string())
    elif pa.types.is_floating(t):
        finite = pc.is_finite(arr)
        texts = pc.if_else(finite, pc.cast(arr, pa.string()), pa.scalar("null"))
    elif pa.types.is_boolean(t):
        texts = pc.if_else(arr, pa.scalar("true"), pa.scalar("false"))
    else:
        opts = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        texts = pa.array(
            [orjson.dumps(v, default=str, option=opts).decode() for v in arr.to_pylist()], type=pa.string()
        )
    return pc.fill_null(texts, pa.scalar("null"))


def _string_data(arr: Any) -> bytes:
    """The concatenated bytes of a string array (no copies of each value)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if arr.type == pa.large_string():
        arr = arr.cast(pa.string())
    offsets = arr.buffers()[1]
    data = arr.buffers()[2]
    import numpy as np

    offs = np.frombuffer(offsets, dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    return bytes(memoryview(data)[offs[0] : offs[-1]]) if data is not None else b""


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def encode(table: pa.Table, fmt: str) -> bytes:
    """A block's output rows in the job's output format (Parquet blocks travel as Arrow IPC)."""
    if fmt == "csv":
        return csv_bytes(table)
    if fmt == "jsonl":
        return jsonl_bytes(table)
    return ipc_bytes(table)
