"""CSV request bodies (``text/csv``), SageMaker and MLflow style.

- One row per line, comma-separated, RFC 4180 quoting, UTF-8.
- A header is recognised when the first row's cells are exactly the
  signature's input names, in any order (the columns are then taken by
  name); otherwise the columns are positional in signature order, as
  SageMaker sends them.  ``text/csv; header=present`` / ``header=absent``
  (RFC 4180's parameter) overrides the guess.  For a model whose only input is a
  numeric tensor (``X`` of shape ``[-1, 4]``), a first row that is not all
  numbers is a header.
- Numbers are parsed per column by pandas' C parser (a 6 MiB body takes tens of
  milliseconds); empty cells and ``NA``/``NaN``/``null`` are missing values in
  numeric columns, and only empty cells are missing in string columns.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument
from modelport.serving.codecs.columns import tensor_input
from modelport.signature import ColumnSpec, Signature

#: cells read as a missing value in numeric columns (a subset of pandas' defaults)
NUMERIC_NA = ["", "NA", "N/A", "NaN", "nan", "-nan", "NULL", "null", "None", "#N/A"]
_TRUE = {"true", "t", "yes", "1", "1.0"}
_FALSE = {"false", "f", "no", "0", "0.0"}


def _first_row(text: str) -> list[str]:
    for line in text.splitlines():
        if line.strip():
            return [c.strip() for c in next(csv.reader([line]))]
    return []


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell in NUMERIC_NA
    return True


def decode_csv(body: bytes, signature: Signature, header: bool | None = None) -> dict[str, Any]:
    """A CSV body → named columns (not yet validated); ``header`` None = recognise it."""
    import pandas as pd

    body = body.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")  # the first line is the first row
    if not body:
        raise InvalidArgument("empty CSV body: send one row per line")
    head_end = body.find(b"\n", 0, 1 << 20)
    try:
        first = _first_row(body[: head_end if head_end >= 0 else 1 << 20].decode("utf-8"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidArgument(f"invalid CSV: {exc}") from None

    names = signature.input_names
    tensor = tensor_input(signature)
    if header is None:
        if not names:
            header = True  # nothing to position the columns against: the first row names them
        elif tensor is not None and tensor.dtype not in ("string", "bool"):
            header = not all(_is_number(c) for c in first)
        else:
            header = len(first) == len(names) and set(first) == set(names)

    # column order in the body, and the spec of each column
    if tensor is not None:
        width = tensor.shape[1] if len(tensor.shape) == 2 else -1
        if width not in (-1, len(first)):
            raise InvalidArgument(
                f"CSV rows have {len(first)} values, expected {width} (the values of input {tensor.name!r})"
            )
        order = [f"{tensor.name}[{i}]" for i in range(len(first))]
        specs: list[ColumnSpec | None] = [ColumnSpec(o, tensor.dtype) for o in order]
    elif header:
        if names and (len(first) != len(names) or set(first) != set(names)):
            raise InvalidArgument(
                f"CSV header names {', '.join(first) or 'nothing'}; expected the input names {', '.join(names)}"
            )
        order = first
        by_name = {s.name: s for s in signature.inputs}
        specs = [by_name.get(n) for n in order]
    else:
        if not names:
            raise InvalidArgument("this model has no input signature: send a CSV header naming the columns")
        if len(first) != len(names):
            raise InvalidArgument(f"CSV rows have {len(first)} values, expected {len(names)} ({', '.join(names)})")
        order = names
        specs = list(signature.inputs)

    na_values = {
        i: ([""] if spec is not None and spec.dtype == "string" else NUMERIC_NA) for i, spec in enumerate(specs)
    }
    dtypes = {i: object for i, spec in enumerate(specs) if spec is not None and spec.dtype == "string"}
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            header=None,
            skiprows=1 if header else 0,
            index_col=False,
            dtype=dtypes or None,
            na_values=na_values,
            keep_default_na=False,
            skipinitialspace=True,
            encoding="utf-8",
            engine="c",
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise InvalidArgument("the CSV body has a header but no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(f"invalid CSV: {first_line}") from None
    if frame.shape[1] != len(order):
        raise InvalidArgument(f"CSV rows have {frame.shape[1]} values, expected {len(order)} ({', '.join(order)})")
    if frame.shape[0] == 0:
        raise InvalidArgument("the CSV body has a header but no rows")

    columns = [_column(frame.iloc[:, i], spec, order[i]) for i, spec in enumerate(specs)]
    if tensor is not None:
        return {tensor.name: np.column_stack(columns)}
    return dict(zip(order, columns, strict=True))


def _column(series: Any, spec: ColumnSpec | None, name: str) -> np.ndarray:
    """One parsed column as the numpy array its spec wants; a clear error for a cell that is not a number."""
    import pandas as pd

    kind = series.dtype.kind if isinstance(series.dtype, np.dtype) else "O"
    if spec is None or spec.dtype == "string":
        values = series.to_numpy(dtype=object) if kind == "O" else series.to_numpy()
        if kind == "O":
            values = np.where(pd.isna(values), None, values)
        return values
    if spec.dtype == "bool":
        if kind in "biuf":
            return series.to_numpy()
        lowered = series.astype(object).map(lambda v: v.strip().lower() if isinstance(v, str) else v)
        bad = ~lowered.isin(_TRUE | _FALSE) & lowered.notna()
        if bad.any():
            _bad_cell(series, bad, name, "true/false")
        return lowered.map(lambda v: v in _TRUE if isinstance(v, str) else np.nan).to_numpy()
    if kind in "biuf":
        return series.to_numpy()
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        _bad_cell(series, bad, name, f"a number ({spec.dtype})")
    return numbers.to_numpy()


def _bad_cell(series: Any, bad: Any, name: str, expected: str) -> None:
    row = int(np.flatnonzero(bad.to_numpy())[0])
    cell = series.iloc[row]
    if expected != "true/false" and str(cell).strip().lower() in ("true", "false"):
        raise InvalidArgument(f"CSV column {name!r}: {cell!r} at row {row} is a boolean (true/false), not {expected}")
    raise InvalidArgument(f"CSV column {name!r}: {cell!r} at row {row} is not {expected}")
