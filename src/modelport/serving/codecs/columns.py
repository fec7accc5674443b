"""Rows, records and named columns → the columns of a signature.

Every body format ends in one of three shapes, and each is turned into
``{input name: array}`` here before :func:`~modelport.signature.validate_batch`:

- *rows*: positional lists in signature order (``[[5.1, 3.5], …]``);
- *records*: one mapping per row (``[{"a": 1, "b": 2}, …]``);
- *columns*: a mapping of name → values (``{"a": [1, 3], "b": [2, 4]}``).

A signature whose only input is a 2-D tensor (an ONNX ``X`` of shape
``[-1, 4]``) takes rows of 4 values, and a table of 4 unnamed or
differently named columns, as that tensor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument
from modelport.signature import BlockBatch, ColumnSpec, Signature, holds_bool, input_order, uniform_dtype

_ABSENT = object()


def tensor_input(signature: Signature) -> ColumnSpec | None:
    """The signature's single multi-dimensional input, if that is all it takes."""
    if len(signature.inputs) == 1 and len(signature.inputs[0].shape) >= 2:
        return signature.inputs[0]
    return None


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def as_column(values: Any, *, bools: bool = False) -> np.ndarray:
    """Values as an array; ``bools``: they may hold booleans, which must stay visible to validation.

    numpy turns ``[true, 2.5]`` into ``[1.0, 2.5]``; such a list is kept as
    objects instead, so a numeric column refuses the boolean.  Callers pass
    ``bools`` only when the body could hold one (JSON with ``true``/``false``
    in it): the check is a scan in Python.
    """
    try:
        arr = np.asarray(values)
    except ValueError:
        # ragged nested lists: keep the rows as objects, validation names the column
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
        return arr
    if bools and arr.dtype.kind in "iuf" and holds_bool(values):
        return np.array(values, dtype=object)
    return arr




def _fit_rank(spec: ColumnSpec | None, arr: np.ndarray) -> np.ndarray:
    """``[[1], [2]]`` for a 1-D column is the column ``[1, 2]``."""
    if spec is not None and len(spec.shape) == 1 and arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    return arr


def from_rows(rows: Sequence[Any], signature: Signature, where: str, *, bools: bool = False) -> dict[str, Any]:
    """Positional rows in signature order; ``where`` names the field in error messages (``bools``: see :func:`as_column`)."""
    specs = signature.inputs
    if not specs:
        raise InvalidArgument(
            f"{where} holds unnamed rows, but this model has no input signature to name them: send records or columns"
        )
    if len(specs) == 1:
        # one input: each row is that input's value (a scalar, or a tensor row)
        spec = specs[0]
        arr = _fit_rank(spec, as_column(rows, bools=bools))
        if len(spec.shape) == 1 and arr.ndim == 2:
            raise InvalidArgument(f"{where}: rows have {arr.shape[1]} values, expected 1 ({spec.name})")
        return {spec.name: arr}
    fast = None if bools else numeric_rows(rows, signature)
    if fast is not None:
        return fast
    width = len(specs)
    if set(map(type, rows)) != {list} or set(map(len, rows)) != {width}:  # C-speed check; the loop says which row
        for i, row in enumerate(rows):
            if type(row) is not list or len(row) != width:
                got = f"{len(row)} values" if isinstance(row, list) else type_name(row)
                raise InvalidArgument(
                    f"{where}: row {i} has {got}, expected {width} ({', '.join(s.name for s in specs)})"
                )
    if not rows:
        return {s.name: np.empty(0) for s in specs}
    return {
        spec.name: _fit_rank(spec, as_column(values, bools=bools))
        for spec, values in zip(specs, zip(*rows, strict=True), strict=True)
    }


def numeric_rows(rows: Sequence[Any], signature: Signature, *, nan_free: bool = False) -> BlockBatch | None:
    """Rows of numbers for a model of several 1-D numeric inputs, as one matrix; ``None`` when not that case.

    One C-speed conversion; the columns are views of one matrix, which
    runtimes that stack columns take back as is (see runtimes.base.stack_columns).
    Anything else (strings, nulls for integers, ragged rows, numbers beyond
    the columns' range) gets ``None`` and the general path, which says what is
    wrong.  Rows that may hold booleans (numpy would read them as 1 and 0)
    must not come here.  ``nan_free``: the caller knows every value is a
    finite number (see :class:`BlockBatch`).
    """
    order = input_order(signature)
    if len(order) < 2 or not rows:
        return None
    found = _numeric_block(rows, signature, nan_free)
    if found is None or found[0].shape[1] != len(order):
        return None
    return BlockBatch(found[0], order, nan_free=found[1])


def _numeric_block(rows: Sequence[Any], signature: Signature, finite: bool) -> tuple[np.ndarray, bool] | None:
    """Rows of plain numbers for 1-D numeric columns of one dtype, as an ``(n, k)`` matrix, and whether all are finite."""
    dtype = uniform_dtype(signature)
    if dtype is None:
        return None
    try:
        block = np.asarray(rows, dtype=np.float64 if dtype.kind == "f" else None)
    except (ValueError, TypeError):
        return None  # strings, nulls, nested values: the general path names the column
    if block.ndim != 2 or block.dtype.kind not in "iuf":
        return None
    return fit_block(block, dtype, finite, rows)


def fit_block(
    block: np.ndarray, dtype: np.dtype, finite: bool, rows: Sequence[Any] | None = None
) -> tuple[np.ndarray, bool] | None:
    """A parsed ``(n, k)`` matrix of numbers in the columns' one ``dtype``, and whether all its values are finite.

    ``None`` when the general path must say what is wrong (fractions for an
    integer column, a value beyond the column's range).  ``finite``: the
    caller knows every value is a finite number.  Shared with the monitors,
    which parse many captured bodies into one matrix (``monitoring/inputs.py``).
    """
    if block.dtype == dtype:  # float64, or int64
        return block, finite
    if dtype.kind in "iu":
        if block.dtype.kind == "f":
            return None  # fractions for an integer column: the general path says which
        info = np.iinfo(dtype)
        if block.size and (block.min() < info.min or block.max() > info.max):
            return None  # out of the column's range: the general path says where
        return block.astype(dtype), False
    if finite:  # finite float64s: narrowing overflows only past the column's range (no errstate: it costs µs)
        largest = _LARGEST[dtype]
        if rows is not None and len(rows) == 1:  # one row: Python's max over the parsed numbers beats numpy's per-call cost
            too_large = max(rows[0]) > largest or min(rows[0]) < -largest
        else:
            too_large = np.abs(block).max() > largest
        if too_large:
            return None  # the general path says which value is too large
        return block.astype(dtype), True
    with np.errstate(over="ignore"):
        narrow = block.astype(dtype)
    if (np.isinf(narrow) & np.isfinite(block)).any():
        return None
    return narrow, False  # NaN (a null) or inf: validation says where


_LARGEST = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32)}


def from_records(records: Sequence[Any], signature: Signature, where: str, *, bools: bool = False) -> dict[str, Any]:
    """One mapping per row; a key missing from a record is a null where the column allows it (``bools``: see :func:`as_column`)."""
    if set(map(type, records)) != {dict}:
        i, record = next((i, r) for i, r in enumerate(records) if type(r) is not dict)
        raise InvalidArgument(f"{where}: item {i} is {type_name(record)}, expected a record (an object) like item 0")
    keys: set[str] = set().union(*records)
    if signature.inputs:
        specs: list[ColumnSpec | None] = list(signature.inputs)
        names = signature.input_names
        extra = keys.difference(names)
        if extra:
            raise InvalidArgument(
                f"{where}: unexpected input column{'s' if len(extra) > 1 else ''} "
                f"{', '.join(map(repr, sorted(extra)))}; expected {', '.join(names)}"
            )
    else:
        names = list(dict.fromkeys(k for r in records for k in r))
        specs = [None] * len(names)
    # every record holds every name: take the values at C speed
    complete = len(keys) == len(names) and set(map(len, records)) == {len(names)}
    out: dict[str, Any] = {}
    for name, spec in zip(names, specs, strict=True):
        if complete:
            values = list(map(itemgetter(name), records))
        else:
            values = [r.get(name, _ABSENT) for r in records]
            if any(v is _ABSENT for v in values):
                if spec is not None and not spec.nullable:
                    i = next(i for i, v in enumerate(values) if v is _ABSENT)
                    raise InvalidArgument(
                        f"{where}: record {i} has no {name!r}, and this column does not allow missing values"
                    )
                values = [None if v is _ABSENT else v for v in values]
        out[name] = _fit_rank(spec, as_column(values, bools=bools))
    return out


def from_columns(columns: Mapping[str, Any], signature: Signature, *, bools: bool = False) -> dict[str, Any]:
    """Name → values; a value one rank below its column's shape is a single row (``{"a": 1}``)."""
    specs = {s.name: s for s in signature.inputs}
    out: dict[str, Any] = {}
    for name, values in columns.items():
        arr = as_column(values, bools=bools and isinstance(values, list))
        spec = specs.get(name)
        if spec is not None and arr.ndim == len(spec.shape) - 1:
            arr = arr[np.newaxis, ...]
        out[name] = _fit_rank(spec, arr)
    return out


def from_table(names: Sequence[str], columns: Sequence[Any], signature: Signature, where: str) -> dict[str, Any]:
    """Named table columns (a CSV header, Parquet, ``dataframe_split``) → signature columns.

    Names that are the signature's input names are taken as such, in any
    order.  A table whose names do not include a lone tensor input's name is
    that tensor, its columns in table order.
    """
    tensor = tensor_input(signature)
    if tensor is not None and tensor.name not in names:
        width = tensor.shape[1] if len(tensor.shape) == 2 else -1
        if width not in (-1, len(columns)):
            raise InvalidArgument(
                f"{where} has {len(columns)} columns, expected {width} (the values of input {tensor.name!r})"
            )
        if not columns:
            raise InvalidArgument(f"{where} has no columns")
        return {tensor.name: np.column_stack([np.asarray(c) for c in columns])}
    if len(set(names)) != len(names):
        dupe = next(n for n, count in Counter(names).items() if count > 1)
        raise InvalidArgument(f"{where} names column {dupe!r} more than once")
    return dict(zip(map(str, names), columns, strict=True))
