"""CSV request bodies (``text/csv``), SageMaker and MLflow style.

- One row per line, comma-separated, RFC 4180 quoting, UTF-8.
- A header is recognised when the first row's cells are exactly the
  signature's input names, in any order (the columns are then taken by
  name); otherwise the columns are positional in signature order, as
  SageMaker sends them.  ``text/csv; header=present`` / ``header=absent``
  (RFC 4180's parameter) overrides the guess.  For a model whose only input is a
  numeric tensor (``X`` of shape ``[-1, 4]``), a first row that is not all
  numbers is a header.
- Larger bodies are parsed per column by pandas' C parser (a 6 MiB body takes
  tens of milliseconds); empty cells and ``NA``/``NaN``/``null`` are missing values in
  numeric columns, and only empty cells are missing in string columns.
- Bodies up to :data:`SMALL_BODY` (8 KiB: a real-time request of a few rows),
  and every body where pandas is not installed (the slim image of an ONNX
  endpoint), are read by :func:`_read_columns` with the ``csv`` module and
  numpy: the same columns as pandas' (dtypes, values bit for bit, errors),
  pinned by tests/serving/test_csv_without_pandas.py, in ~20 µs for a few rows
  where pandas takes ~0.5 ms; plain numbers take a vectorised path (a 6 MiB
  body in ~0.3 s).  Two bodies pandas types erratically are left to pandas,
  and refused where it is not installed: an integer beyond 64 bits in a
  non-string column, and a row starting with an empty value after a skipped
  line ending in a lone CR.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator
from typing import Any, cast

import numpy as np

from modelport.errors import InvalidArgument
from modelport.serving.codecs.columns import tensor_input
from modelport.signature import ColumnSpec, Signature

#: cells read as a missing value in numeric columns (a subset of pandas' defaults)
NUMERIC_NA = ["", "NA", "N/A", "NaN", "nan", "-nan", "NULL", "null", "None", "#N/A"]
_TRUE = {"true", "t", "yes", "1", "1.0"}
_FALSE = {"false", "f", "no", "0", "0.0"}

# -- the pandas-free reader: the numbers pandas' C parser takes, in ASCII only (float() alone also takes
# "1_000", Arabic digits, "nan", ...); pandas skips ASCII whitespace around a number
_NA = frozenset(NUMERIC_NA)
_SPACE = "[ \t\n\v\f\r]*"
_INT = re.compile(rf"{_SPACE}[+-]?[0-9]+{_SPACE}")
_FLOAT = re.compile(rf"{_SPACE}[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?{_SPACE}")
_INF = {sign + word: (-np.inf if sign == "-" else np.inf) for sign in ("", "+", "-") for word in ("inf", "infinity")}
_NOT_PLAIN = re.compile(r"[^0-9.eE+\-,\n]")
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
# after a skipped line (the header, a blank line) ending in a lone CR, pandas drops a comma or not
# depending on the character after it: such a body is refused rather than guessed at
_BLANK_LINE_CR_COMMA = re.compile(r"(?:\A|[\r\n])[ \t]*\r,")
_LONE_CR = "invalid CSV: a row starts with an empty value after a line ending in a lone CR: end lines with \\n"
_END = '\x1e"\r\n'  # a last line no CSV record ends with: see _rows
#: bodies up to this size are read by the pandas-free reader even where pandas is installed: a call of pandas'
#: C parser costs ~0.5 ms whatever the size, the pandas-free reader ~20 µs for a few rows; they cross at 8-15 KiB
SMALL_BODY = 8 * 1024


class _Erratic(InvalidArgument):
    """A body the pandas-free reader refuses because pandas reads it erratically (see the module's docstring)."""


@functools.cache
def _pandas() -> Any:
    """pandas, or None where it is not installed: looked up once (a failed ``import`` searches sys.path each
    time, ~50 µs a request in an image without pandas)."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


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

    pd = _pandas()
    if pd is not None and len(body) > SMALL_BODY:
        parsed = _read_columns_pandas(pd, body, bool(header), specs)
    else:
        try:
            parsed = _read_columns(body, bool(header), specs, order)
        except _Erratic:
            if pd is None:
                raise
            parsed = _read_columns_pandas(pd, body, bool(header), specs)  # what the server always answered
    if len(parsed) != len(order):
        raise InvalidArgument(f"CSV rows have {len(parsed)} values, expected {len(order)} ({', '.join(order)})")

    columns = [_column(parsed[i], spec, order[i]) for i, spec in enumerate(specs)]
    if tensor is not None:
        return {tensor.name: np.column_stack(columns)}
    return dict(zip(order, columns, strict=True))


def _read_columns_pandas(pd: Any, body: bytes, header: bool, specs: list[ColumnSpec | None]) -> list[np.ndarray]:
    """The body's columns as pandas' C parser types them (missing values are NaN)."""
    na_values = {i: ([""] if _is_string(spec) else NUMERIC_NA) for i, spec in enumerate(specs)}
    dtypes = {i: object for i, spec in enumerate(specs) if _is_string(spec)}
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
    if frame.shape[0] == 0:
        raise InvalidArgument("the CSV body has a header but no rows")
    series = [frame.iloc[:, i] for i in range(frame.shape[1])]
    return [
        s.to_numpy() if isinstance(s.dtype, np.dtype) else s.to_numpy(dtype=object, na_value=np.nan) for s in series
    ]


def _read_columns(body: bytes, header: bool, specs: list[ColumnSpec | None], names: list[str]) -> list[np.ndarray]:
    """The body's columns typed as pandas' C parser types them, without pandas (missing values are NaN)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"invalid CSV: {exc}") from None
    if header:  # pandas skips the first record as the csv module reads it without skipinitialspace
        lines = io.StringIO(text, newline="")
        next(csv.reader(lines), None)
        rest = lines.read()
        if text[: len(text) - len(rest)].endswith("\r") and rest.startswith(","):
            raise _Erratic(_LONE_CR)
        text = rest
    if "\r," in text and _BLANK_LINE_CR_COMMA.search(text):
        raise _Erratic(_LONE_CR)
    plain = None if any(map(_is_string, specs)) else _plain_numbers(text)
    if plain is not None:
        return plain
    rows = _rows(text)
    if not rows:
        raise InvalidArgument("the CSV body has a header but no rows")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) > width:
            raise InvalidArgument(f"invalid CSV: row {i} has {len(row)} values where the first row has {width}")
        if len(row) < width:
            rows[i] = row + [None] * (width - len(row))  # pandas pads a short row with missing values
    specs = specs + [None] * (width - len(specs))  # a width that does not fit the signature is refused later
    names = names + [f"#{i}" for i in range(len(names), width)]
    return [_parse_cells([row[i] for row in rows], _is_string(specs[i]), names[i]) for i in range(width)]


def _rows(text: str) -> list[list[Any]]:
    """The records of a CSV text; blank lines are skipped, an unterminated quote is an error."""
    last = [""]

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            last[0] = line
            yield line
        yield _END  # swallowed into the last field when its quote is never closed

    rows: list[list[Any]] = [
        row
        for row in csv.reader(lines(), skipinitialspace=True)
        if row and not (len(row) == 1 and not row[0].strip(" \t") and not last[0].strip(" \t\r\n"))
    ]
    if rows.pop() != [_END.rstrip()]:
        raise InvalidArgument("invalid CSV: a quoted value is not closed (EOF inside string)")
    return rows


def _plain_numbers(text: str) -> list[np.ndarray] | None:
    """Columns of plain numbers (no quotes, spaces or missing values: the ONNX case), parsed column by column in C.

    Within these characters ``int()`` and ``float()`` take exactly the numbers pandas does; None = take the
    general path.
    """
    data = text.replace("\r\n", "\n").rstrip("\n")
    if not data or '"' in text or "\n\n" in data or _NOT_PLAIN.search(data):
        return None
    cells = data.replace("\n", ",").split(",")
    width, rest = divmod(len(cells), data.count("\n") + 1)
    if rest or not all(line.count(",") == width - 1 for line in data.split("\n")):
        return None
    columns = []
    for i in range(width):
        column = cells[i::width]
        joined = ",".join(column)
        integers = "." not in joined and "e" not in joined and "E" not in joined
        if not integers and _LONG_DIGITS.search(joined):
            return None  # maybe an integer beyond int64 among floats: the general path decides
        try:
            columns.append(np.array(column, dtype=np.int64 if integers else np.float64))
        except (ValueError, OverflowError):
            return None
    return columns


def _parse_cells(cells: list[str | None], string: bool, name: str) -> np.ndarray:
    """One column of cells (None: padding) as pandas types it: int64, uint64, float64, bool or objects."""
    if string:
        return np.array([np.nan if c is None or c == "" else c for c in cells], dtype=object)
    missing = [c is None or c in _NA for c in cells]
    present: list[str] = [c for c, m in zip(cells, missing, strict=True) if not m]  # type: ignore[misc]
    ints = [_int(c) for c in present]
    wide = [i for i in ints if i is not None and not _INT64_MIN <= i <= _INT64_MAX]
    if None not in ints and not any(missing):
        whole = cast(list[int], ints)
        if not wide:
            return np.array(whole, dtype=np.int64)
        if min(whole) >= 0 and max(whole) <= _UINT64_MAX:
            return np.array(whole, dtype=np.uint64)
    if wide:  # pandas types these by the order of the cells (text, Python ints or floats): refuse them
        row = next(r for r, c in enumerate(cells) if c is not None and _int(c) in wide)
        raise _Erratic(
            f"CSV column {name!r}: {cells[row]!r} at row {row} is an integer beyond 64 bits: "
            "write it as a float (with a decimal point) or send it as a string"
        )
    if None not in ints:  # integers with missing values: int64 cast to float64, so "-0" is 0.0
        numbers = iter(ints)
        return np.array([np.nan if m else next(numbers) for m in missing], dtype=np.float64)
    floats = [np.nan if m else _float(c) for c, m in zip(cells, missing, strict=True)]
    if None not in floats:
        return np.array(floats, dtype=np.float64)
    lowered = [c.lower() if c.isascii() else c for c in present]
    if all(c in ("true", "false") for c in lowered):
        flags = iter(c == "true" for c in lowered)
        if not any(missing):
            return np.fromiter(flags, dtype=bool, count=len(cells))
        return np.array([np.nan if m else next(flags) for m in missing], dtype=object)
    return np.array([np.nan if m else c for c, m in zip(cells, missing, strict=True)], dtype=object)


def _int(cell: str) -> int | None:
    """An integer as pandas' C parser reads it; one of more than 20 digits stands as 2**64 (beyond 64 bits either
    way: ``int()`` refuses more than 4,300 digits); None = not an integer."""
    if not _INT.fullmatch(cell):
        return None
    return int(cell) if len(cell.strip()) <= 21 else _UINT64_MAX + 1


def _float(cell: str | None) -> float | None:
    """A number as pandas' C parser reads it (exactly: both round correctly); None = not a number."""
    if cell is None:
        return None
    if _FLOAT.fullmatch(cell):
        return float(cell)
    return _INF.get(cell.lower()) if cell.isascii() else None


def _numbers(values: np.ndarray) -> np.ndarray:
    """``pd.to_numeric(values, errors="coerce")`` of an object column: NaN where a cell is not a number."""
    pd = _pandas()
    if pd is not None:
        return np.asarray(pd.to_numeric(values, errors="coerce"))
    out = [v if isinstance(v, float) else float(v) if isinstance(v, int) else _float(v) for v in values]
    return np.array([np.nan if v is None else v for v in out], dtype=np.float64)


def _is_string(spec: ColumnSpec | None) -> bool:
    return spec is not None and spec.dtype == "string"


def _column(values: np.ndarray, spec: ColumnSpec | None, name: str) -> np.ndarray:
    """One parsed column as the numpy array its spec wants; a clear error for a cell that is not a number."""
    if values.dtype.kind in "biuf":
        return values
    missing: np.ndarray = np.asarray(values != values)  # NaN marks a missing cell
    if spec is None or spec.dtype == "string":
        values = values.copy()
        values[missing] = None
        return values
    if spec.dtype == "bool":
        lowered = [v.strip().lower() if isinstance(v, str) else v for v in values]
        bad = np.array([not (isinstance(v, str) and v in _TRUE | _FALSE) for v in lowered]) & ~missing
        if bad.any():
            _bad_cell(values, bad, name, "true/false")
        flags = [v in _TRUE if isinstance(v, str) else np.nan for v in lowered]
        return np.array(flags, dtype=object if missing.any() else bool)
    numbers = _numbers(values)
    bad = np.isnan(numbers) & ~missing
    if bad.any():
        _bad_cell(values, bad, name, f"a number ({spec.dtype})")
    return numbers


def _bad_cell(values: np.ndarray, bad: np.ndarray, name: str, expected: str) -> None:
    row = int(np.flatnonzero(bad)[0])
    cell = values[row]
    if expected != "true/false" and str(cell).strip().lower() in ("true", "false"):
        raise InvalidArgument(f"CSV column {name!r}: {cell!r} at row {row} is a boolean (true/false), not {expected}")
    raise InvalidArgument(f"CSV column {name!r}: {cell!r} at row {row} is not {expected}")
