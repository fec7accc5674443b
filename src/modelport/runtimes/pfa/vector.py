"""Values for a whole batch of rows at once: the vectorised interpreter's data.

A *vector value* is either

* **uniform** - one plain Python value (see :mod:`values`) that every row
  shares: literals, cells, pools, anything computed only from them; or
* **per-row** - a numpy array with the rows on axis 0 (``float64`` for
  float/double, ``int64`` for int/long, ``bool`` for boolean, a 2-D array for
  arrays of numbers of equal length, ``object`` holding plain values for
  everything else), or a :class:`VRecord` of per-field vector values.

Every per-row value can be turned back into plain per-row values
(:func:`row_values`) and built from them (:func:`from_rows`), so any function
without a numpy implementation still runs inside a vectorised evaluation,
row by row, on exactly the code the per-record interpreter uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelport.runtimes.pfa.types import ArrayType, AvroType, RecordType, UnionType

_NUMERIC_DTYPES: dict[str, np.dtype[Any]] = {
    "boolean": np.dtype(bool),
    "int": np.dtype(np.int64),
    "long": np.dtype(np.int64),
    "float": np.dtype(np.float64),
    "double": np.dtype(np.float64),
}


class VRecord:
    """A record for every row: field name -> vector value."""

    __slots__ = ("fields", "n")

    def __init__(self, fields: dict[str, Any], n: int) -> None:
        self.fields = fields
        self.n = n

    def __repr__(self) -> str:
        return f"VRecord({self.fields!r}, n={self.n})"


class VFrame:
    """The slots of one function body for a batch of ``n`` rows."""

    __slots__ = ("n", "slots")

    def __init__(self, slots: list[Any], n: int) -> None:
        self.slots = slots
        self.n = n

    def take(self, index: np.ndarray) -> VFrame:
        """The same frame restricted to the rows in ``index`` (positions)."""
        return VFrame([take(v, index) for v in self.slots], len(index))


def is_rowwise(v: Any) -> bool:
    return isinstance(v, VRecord) or (isinstance(v, np.ndarray) and v.ndim > 0)


def rows_in(v: Any) -> int:
    """The number of rows of a per-row vector value."""
    return v.n if isinstance(v, VRecord) else len(v)


def dtype_for(t: AvroType) -> np.dtype:
    """The numpy dtype of a per-row column of type ``t``."""
    return _NUMERIC_DTYPES.get(t.kind, np.dtype(object))


def numeric_items(t: AvroType) -> bool:
    """Whether per-row arrays of type ``t`` can be a 2-D numeric array."""
    return isinstance(t, ArrayType) and t.items.kind in _NUMERIC_DTYPES


def take(v: Any, index: np.ndarray) -> Any:
    if isinstance(v, np.ndarray) and v.ndim > 0:
        return v[index]
    if isinstance(v, VRecord):
        return VRecord({k: take(f, index) for k, f in v.fields.items()}, len(index))
    return v


def object_array(values: Sequence[Any], *, flat: bool = False) -> np.ndarray:
    """A 1-D object array holding ``values`` as they are.

    ``flat`` promises no value is a list, so numpy may copy them in one go
    (it would otherwise try to broadcast nested lists).
    """
    out = np.empty(len(values), dtype=object)
    if flat:
        out[:] = values
        return out
    for i, value in enumerate(values):
        out[i] = value
    return out


def _holds_lists(t: AvroType) -> bool:
    members = t.types if isinstance(t, UnionType) else (t,)
    return any(isinstance(m, (ArrayType, UnionType)) for m in members)


def row_values(v: Any, n: int) -> list[Any]:
    """The plain per-row values of a vector value."""
    if isinstance(v, VRecord):
        columns = {k: row_values(f, n) for k, f in v.fields.items()}
        return [{k: col[i] for k, col in columns.items()} for i in range(n)]
    if isinstance(v, np.ndarray) and v.ndim > 0:
        return v.tolist()  # object columns hold plain values, which tolist() keeps
    return [v] * n


def from_rows(values: Sequence[Any], t: AvroType) -> Any:
    """A per-row vector value holding ``values`` (plain values of type ``t``)."""
    n = len(values)
    if isinstance(t, RecordType):
        return VRecord({f.name: from_rows([r[f.name] for r in values], f.type) for f in t.fields}, n)
    dtype = dtype_for(t)
    if dtype.kind != "O":
        return np.array(values, dtype=dtype).reshape(n)
    if numeric_items(t) and not n:
        return np.empty((0, 0), dtype=dtype_for(t.items))  # type: ignore[attr-defined]
    if numeric_items(t) and len({len(r) for r in values}) == 1:
        return np.array(values, dtype=dtype_for(t.items)).reshape(n, len(values[0]))  # type: ignore[attr-defined]
    return object_array(values, flat=not _holds_lists(t))


def broadcast(v: Any, n: int, t: AvroType) -> Any:
    """A per-row vector value, repeating ``v`` if it is uniform."""
    if is_rowwise(v):
        return v
    if isinstance(t, RecordType) and isinstance(v, dict):
        return VRecord({f.name: broadcast(v[f.name], n, f.type) for f in t.fields}, n)
    dtype = dtype_for(t)
    if dtype.kind != "O":
        return np.full(n, v, dtype=dtype)
    if numeric_items(t) and isinstance(v, list):
        return np.tile(np.asarray(v, dtype=dtype_for(t.items)), (n, 1)).reshape(n, len(v))  # type: ignore[attr-defined]
    return object_array([v] * n)


def _as_objects(v: Any, n: int) -> np.ndarray:
    if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 1:
        return v
    return object_array(row_values(v, n))


def merge(n: int, parts: Sequence[tuple[np.ndarray, Any]], t: AvroType) -> Any:
    """Scatter per-subset results back into one per-row value.

    ``parts`` pairs row positions (together covering ``range(n)``) with the
    vector value computed for those rows.
    """
    if isinstance(t, RecordType):
        fields = {}
        for f in t.fields:
            sub = [(index, _field(v, f.name, len(index), t)) for index, v in parts]
            fields[f.name] = merge(n, sub, f.type)
        return VRecord(fields, n)
    dtype = dtype_for(t)
    if dtype.kind != "O":
        out = np.empty(n, dtype=dtype)
        for index, v in parts:
            out[index] = v
        return out
    if numeric_items(t):
        full = [broadcast(v, len(index), t) for index, v in parts]
        widths = {f.shape[1] for f in full if isinstance(f, np.ndarray) and f.ndim == 2}
        if len(widths) == 1 and all(isinstance(f, np.ndarray) and f.ndim == 2 for f in full):
            out2 = np.empty((n, widths.pop()), dtype=dtype_for(t.items))  # type: ignore[attr-defined]
            for (index, _), f in zip(parts, full, strict=False):
                out2[index] = f
            return out2
    out = np.empty(n, dtype=object)
    for index, v in parts:
        out[index] = _as_objects(v, len(index))
    return out


def _field(v: Any, name: str, n: int, t: RecordType) -> Any:
    if isinstance(v, VRecord):
        return v.fields[name]
    if isinstance(v, dict):
        return v[name]
    # An object column of record dicts (from a row-by-row function).
    return from_rows([r[name] for r in row_values(v, n)], t.field_map[name].type)


def apply_rows(fn: Callable[..., Any], args: Sequence[Any], n: int, ret: AvroType) -> Any:
    """Run a per-record function on every row and collect a per-row result."""
    columns = [row_values(a, n) if is_rowwise(a) else None for a in args]
    results = []
    for i in range(n):
        results.append(fn(*[a if c is None else c[i] for a, c in zip(args, columns, strict=False)]))
    return from_rows(results, ret)


def record_field(v: Any, name: str, n: int, t: RecordType) -> Any:
    """One field of a vector record value (uniform records give uniform fields)."""
    return _field(v, name, n, t)
