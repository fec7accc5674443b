"""Parquet request bodies (``application/vnd.apache.parquet``, ``application/x-parquet``, ``application/parquet``).

Columns are taken by name, in any order (a pandas index stored in the file is
ignored); a model whose only input is a tensor
(``X`` of shape ``[-1, 4]``) takes either a column ``X`` of fixed-size lists
or 4 numeric columns, in file order.  Nulls are missing values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.errors import InvalidArgument, UnsupportedMediaType
from modelport.serving.codecs.columns import from_table
from modelport.signature import Signature


def _to_numpy(column: Any) -> np.ndarray:
    import pyarrow as pa

    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        rows = column.to_pylist()
        try:
            return np.asarray(rows)
        except ValueError:
            out = np.empty(len(rows), dtype=object)
            out[:] = rows
            return out
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        return np.asarray(column.to_pylist(), dtype=object)
    return column.to_numpy()  # zero-copy for numeric columns without nulls; nulls become NaN


def decode_parquet(body: bytes, signature: Signature) -> dict[str, Any]:
    """A Parquet file → named columns (not yet validated)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # a `modelport build` image leaves pyarrow out (170 MB): Parquet is the one body that needs it
        raise UnsupportedMediaType(
            "this server cannot read Parquet bodies (pyarrow is not installed here): send CSV or JSON"
        ) from None

    try:
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(f"invalid Parquet body: {reason}") from None
    if table.num_rows == 0:
        raise InvalidArgument("the Parquet body has no rows")
    # pandas stores a non-default index as extra columns its metadata names; they are not inputs.
    index_columns = {c for c in (table.schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
    keep = [i for i, n in enumerate(table.column_names) if n not in index_columns]
    names = [str(table.column_names[i]) for i in keep]
    columns = [_to_numpy(table.column(i)) for i in keep]
    return from_table(names, columns, signature, "the Parquet table")
