"""Reading and writing tabular files: CSV, JSON Lines, Parquet (optionally gzipped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument

TABLE_FORMATS = ("csv", "jsonl", "parquet")


def table_format(path: str | Path, declared: str | None = None) -> str:
    if declared:
        if declared not in TABLE_FORMATS:
            raise InvalidArgument(f"unknown table format {declared!r}: expected one of {', '.join(TABLE_FORMATS)}")
        return declared
    name = str(path).lower().removesuffix(".gz")
    if name.endswith((".csv", ".txt", ".tsv")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise InvalidArgument(f"cannot tell the format of {Path(path).name!r}: expected .csv, .jsonl or .parquet (optionally .gz)")


def read_table(path: str | Path, *, fmt: str | None = None, header: bool | None = True) -> Any:
    """A file as a DataFrame; a one-line InvalidArgument when it cannot be read."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"data file {str(path)!r} does not exist or is not a file")
    kind = table_format(path, fmt)
    try:
        if kind == "csv":
            return pd.read_csv(path, header=0 if header else None)
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(f"cannot read {path.name!r} as {kind}: {first}") from None


def write_table(frame: Any, path: str | Path, *, fmt: str | None = None) -> None:
    path = Path(path)
    kind = table_format(path, fmt)
    compression = "gzip" if str(path).lower().endswith(".gz") else None
    if kind == "csv":
        frame.to_csv(path, index=False, compression=compression)
    elif kind == "jsonl":
        frame.to_json(path, orient="records", lines=True, compression=compression)
    else:
        frame.to_parquet(path, index=False)


def outputs_to_columns(outputs: dict[str, np.ndarray], classes: list[Any] | None = None) -> dict[str, np.ndarray]:
    """Flatten outputs into table columns: ``probabilities`` → ``proba_<class>``, other 2-D → ``name_<i>``."""
    cols: dict[str, np.ndarray] = {}
    for name, value in outputs.items():
        arr = np.asarray(value)
        if arr.ndim <= 1:
            cols[name] = arr
            continue
        flat = arr.reshape(arr.shape[0], -1)
        if name == "probabilities" and classes is not None and len(classes) == flat.shape[1]:
            labels = [str(c) for c in classes]
            for i, label in enumerate(labels):
                cols[f"proba_{label}"] = flat[:, i]
        else:
            for i in range(flat.shape[1]):
                cols[f"{name}_{i}"] = flat[:, i]
    return cols
