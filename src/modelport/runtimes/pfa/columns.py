"""How PFA values map onto modelport's columns, in both directions.

=====================  ==========================================================
Avro type              column
=====================  ==========================================================
double                 float64
float                  float32 (computed as float64 inside, as PFA engines do)
int, long              int64 (an ``int`` input outside 32 bits is refused)
boolean                bool
string, enum           string (enum symbols are checked)
union<null, X>         X's column, ``nullable``: ``None`` in object columns, or
                       NaN in float columns, is null; null doubles come back NaN
array<number>          a 2-D column ``[-1, -1]`` (rows x items)
anything else          string: one JSON text per row (the engine itself also
                       accepts and returns plain Python values)
=====================  ==========================================================

A record input takes one column per field; any other input is one column
named ``input``.  Outputs likewise: a column per field of a record output,
else one column named ``output``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument
from modelport.runtimes.pfa.types import (
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    NULL,
    ArrayType,
    AvroType,
    EnumType,
    MapType,
    RecordType,
    UnionType,
    without_null,
)
from modelport.runtimes.pfa.values import ValueMismatch, convert
from modelport.runtimes.pfa.vector import VRecord, broadcast, from_rows, object_array, record_field, row_values
from modelport.signature import ColumnSpec

_SCALAR_DTYPES = {
    "boolean": "bool",
    "int": "int64",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "string",
    "enum": "string",
    "bytes": "string",
}


def nullable_member(t: AvroType) -> AvroType | None:
    """``X`` for ``union<null, X>`` with a scalar X, else ``None``."""
    if isinstance(t, UnionType) and NULL in t.types and len(t.types) == 2:
        inner = without_null(t)
        if inner.kind in _SCALAR_DTYPES:
            return inner
    return None


def column_spec(name: str, t: AvroType) -> ColumnSpec:
    """The signature column a value of type ``t`` travels in."""
    inner = nullable_member(t)
    if inner is not None:
        return ColumnSpec(name, _SCALAR_DTYPES[inner.kind], (-1,), nullable=True)
    if t.kind in _SCALAR_DTYPES:
        return ColumnSpec(name, _SCALAR_DTYPES[t.kind])
    if isinstance(t, ArrayType) and t.items.kind in ("boolean", "int", "long", "float", "double"):
        return ColumnSpec(name, _SCALAR_DTYPES[t.items.kind], (-1, -1))
    return ColumnSpec(name, "string", (-1,), nullable=t.kind in ("null", "union"))


def is_json_column(t: AvroType) -> bool:
    """Whether values of ``t`` travel as JSON text in a string column."""
    spec = column_spec("_", t)
    return spec.dtype == "string" and t.kind not in ("string", "enum", "bytes") and nullable_member(t) is None


def columns_for(t: AvroType, default_name: str) -> list[tuple[str, AvroType]]:
    if isinstance(t, RecordType):
        return [(f.name, f.type) for f in t.fields]
    return [(default_name, t)]


# ---------------------------------------------------------------- input


def input_vector(t: AvroType, columns: Mapping[str, Any] | np.ndarray, n: int) -> Any:
    """Caller columns as the vector value of the ``input`` symbol."""
    if isinstance(t, RecordType):
        if not isinstance(columns, Mapping):
            raise InvalidArgument("a record input needs one column per field")
        fields = {}
        for f in t.fields:
            if f.name not in columns:
                raise InvalidArgument(f"missing input column {f.name!r}")
            fields[f.name] = to_vector(f.type, columns[f.name], n, f.name)
        return VRecord(fields, n)
    if isinstance(columns, Mapping):
        if "input" not in columns:
            raise InvalidArgument("missing input column 'input'")
        columns = columns["input"]
    return to_vector(t, columns, n, "input")


def to_vector(t: AvroType, column: Any, n: int, name: str) -> Any:
    """One caller column as a per-row vector value of type ``t``."""
    arr = np.asarray(column) if not isinstance(column, list) else object_array(column)
    if arr.ndim == 0 or len(arr) != n:
        raise InvalidArgument(f"column {name!r} has {0 if arr.ndim == 0 else len(arr)} rows, expected {n}")
    kind = t.kind
    try:
        if kind in ("float", "double") and arr.dtype.kind in "fiub" and arr.ndim == 1:
            return np.ascontiguousarray(arr, dtype=np.float64)
        if kind in ("int", "long") and arr.ndim == 1 and arr.dtype.kind in "iub":
            out = np.ascontiguousarray(arr, dtype=np.int64)
            if kind == "int" and len(out) and (out.min() < INT_MIN or out.max() > INT_MAX):
                raise InvalidArgument(f"column {name!r} holds values outside the 32-bit range of a PFA int")
            return out
        if kind == "boolean" and arr.ndim == 1 and arr.dtype.kind == "b":
            return np.ascontiguousarray(arr)
        if isinstance(t, ArrayType) and arr.ndim == 2 and arr.dtype.kind in "fiub":
            return _matrix(t.items.kind, arr, name)
        raw = arr.tolist() if arr.dtype != object else list(arr)
        fast = _plain_values(t, raw)
        if fast is not None:
            return from_rows(fast, t)
        json_text_values = is_json_column(t) and not _takes_strings(t)
        values = [_value(t, v, name, i, json_text_values) for i, v in enumerate(raw)]
    except ValueMismatch as exc:
        raise InvalidArgument(f"column {name!r}: {exc.reason}") from None
    return from_rows(values, t)


def _matrix(items: str, arr: np.ndarray, name: str) -> np.ndarray:
    """A 2-D numeric column for an array-of-numbers type."""
    if items in ("float", "double"):
        return np.ascontiguousarray(arr, dtype=np.float64)
    if items == "boolean":
        if arr.dtype.kind != "b":
            raise InvalidArgument(f"column {name!r} must hold booleans")
        return np.ascontiguousarray(arr)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise InvalidArgument(f"column {name!r} must hold whole numbers")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if items == "int" and out.size and (out.min() < INT_MIN or out.max() > INT_MAX):
        raise InvalidArgument(f"column {name!r} holds values outside the 32-bit range of a PFA int")
    return out


def _plain_values(t: AvroType, raw: list[Any]) -> list[Any] | None:
    """The common columns (strings, enums, nullable scalars) without per-value dispatch.

    ``None`` sends anything unexpected down the general path, which also
    words the error.
    """
    inner = nullable_member(t)
    kind = (inner or t).kind
    out: list[Any] = []
    if kind in ("string", "enum") and (inner is not None or t.kind in ("string", "enum")):
        symbols = getattr(inner or t, "index", None)
        for v in raw:
            if type(v) is str and (symbols is None or v in symbols):
                out.append(v)
            elif inner is not None and (v is None or (type(v) is float and v != v)):
                out.append(None)
            else:
                return None
        return out
    if inner is None:
        return None
    for v in raw:
        tv = type(v)
        if v is None or (tv is float and v != v):
            out.append(None)  # NaN marks a missing value in a numeric column
        elif kind in ("float", "double") and (tv is float or tv is int):
            out.append(float(v))
        elif (kind == "boolean" and tv is bool) or (tv is int and _integer_fits(kind, v)):
            out.append(v)
        else:
            return None
    return out


def _integer_fits(kind: str, v: int) -> bool:
    if kind == "long":
        return LONG_MIN <= v <= LONG_MAX
    return kind == "int" and INT_MIN <= v <= INT_MAX


def _value(t: AvroType, v: Any, name: str, row: int, json_text_values: bool) -> Any:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, float) and math.isnan(v) and nullable_member(t) is not None:
        v = None  # NaN marks a missing value in a numeric column
    if isinstance(v, str) and json_text_values:
        try:
            v = json.loads(v)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"column {name!r} row {row}: not valid JSON: {exc}") from None
    return convert(t, v, f"{name}[{row}]", tagged_unions=False)


def _takes_strings(t: AvroType) -> bool:
    members = t.types if isinstance(t, UnionType) else (t,)
    return any(m.kind in ("string", "enum", "bytes") for m in members)


# ---------------------------------------------------------------- output


def output_columns(t: AvroType, result: Any, n: int) -> dict[str, np.ndarray] | np.ndarray:
    """A vector result as columns: one per field of a record, else a single array."""
    if isinstance(t, RecordType):
        full = broadcast(result, n, t)
        return {f.name: to_column(f.type, record_field(full, f.name, n, t), n) for f in t.fields}
    return to_column(t, result, n)


def to_column(t: AvroType, v: Any, n: int) -> np.ndarray:
    v = broadcast(v, n, t)
    inner = nullable_member(t)
    if inner is not None:
        values = row_values(v, n)
        if inner.kind in ("float", "double"):
            dtype = np.float32 if inner.kind == "float" else np.float64
            return np.array([math.nan if x is None else x for x in values], dtype=dtype)
        if all(x is not None for x in values):
            return from_rows(values, inner) if inner.kind not in ("enum", "string", "bytes") else object_array(values)
        return object_array(values)
    if t.kind == "float":
        return np.asarray(v, dtype=np.float32)
    if isinstance(t, ArrayType) and isinstance(v, np.ndarray) and v.ndim == 2 and t.items.kind == "float":
        return v.astype(np.float32)
    if isinstance(v, VRecord):
        return object_array(row_values(v, n))
    return v


def json_text(t: AvroType, column: np.ndarray) -> np.ndarray:
    """A column of plain values as JSON text (for string-typed signature columns)."""
    return object_array([json.dumps(_jsonable(x), allow_nan=True) for x in column])


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def example_value(t: AvroType) -> Any:
    """A small valid value of type ``t`` (for synthetic warm-up rows)."""
    if isinstance(t, UnionType):
        return example_value(t.types[0])
    if isinstance(t, RecordType):
        return {f.name: example_value(f.type) for f in t.fields}
    if isinstance(t, EnumType):
        return t.symbols[0]
    if isinstance(t, (ArrayType, MapType)):
        return [] if isinstance(t, ArrayType) else {}
    return {
        "null": None,
        "boolean": False,
        "int": 0,
        "long": 0,
        "float": 0.0,
        "double": 0.0,
        "string": "",
        "bytes": "",
    }.get(t.kind)
