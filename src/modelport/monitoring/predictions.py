"""The predictions table: one row per scored row of the captured replies, kept per capture file.

Columns (:func:`predictions_schema`): ``inference_id``, ``time`` (UTC, to the
second), ``row`` (its position in the request), ``label``, ``prediction``
(regression) and ``scores`` (probabilities in the model's class order).  Each
folded file keeps its rows as Parquet (zstd; no dictionary for the ids, which
are all distinct); a run reads its window's as one DataFrame to join ground
truth and estimate quality (:func:`predictions_frame`), with ``scores`` as
Arrow lists (pandas' ``ArrowDtype``): a million rows of probabilities in one
buffer rather than a million arrays.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from modelport.monitoring.replies import DecodedOutputs

if TYPE_CHECKING:
    import pandas as pd


def predictions_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("inference_id", pa.string()),
            ("time", pa.timestamp("s", tz="UTC")),
            ("row", pa.int64()),
            ("label", pa.string()),
            ("prediction", pa.float64()),
            ("scores", pa.list_(pa.float64())),
        ]
    )


def predictions_by_file(
    decoded: DecodedOutputs, file_of: np.ndarray, ids: Any, stamps: np.ndarray
) -> Iterator[tuple[int, bytes]]:
    """``(file, Parquet bytes)`` of each file that has rows: its replies' rows in (record, row) order.

    ``file_of``, ``ids`` and ``stamps`` give each record's file, inference id and time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    found = decoded.table()
    if found is None:
        return
    records, rows, labels, values, scores = found
    order = np.lexsort((rows, records))
    records = records[order]
    taken = pa.array(order)
    table = pa.table(
        {
            "inference_id": ids.take(pa.array(records)),
            "time": pa.array(stamps[records], pa.timestamp("s", tz="UTC")),
            "row": pa.array(rows[order]),
            "label": labels.take(taken),
            "prediction": values.take(taken),
            "scores": scores.take(taken),
        },
        schema=predictions_schema(),
    )
    files = file_of[records]
    bounds = np.flatnonzero(np.diff(files)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64).tolist()
    stops = np.concatenate([bounds, [len(files)]]).astype(np.int64).tolist()
    for a, b in zip(starts, stops, strict=True):
        sink = pa.BufferOutputStream()
        # ids are distinct: a dictionary of them would only cost time and bytes (half the writing, a fifth of the size)
        pq.write_table(
            table.slice(a, b - a), sink, compression="zstd", write_statistics=False, use_dictionary=["label"]
        )
        yield int(files[a]), sink.getvalue().to_pybytes()


def read_predictions(blobs: Sequence[bytes | None]) -> Any:
    """The predictions tables of several folded files as one Arrow table (with the schema above)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.ParquetFile(io.BytesIO(b)).read() for b in blobs if b]  # half the time of read_table's set-up
    if not tables:
        return predictions_schema().empty_table()
    return pa.concat_tables(tables)


def predictions_frame(blobs: Sequence[bytes | None], since: datetime, until: datetime) -> pd.DataFrame:
    """The rows of the predictions tables made in ``[since, until)``, as a DataFrame; ``scores`` as Arrow lists."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    table = read_predictions(blobs)
    if table.num_rows:
        instant = pa.timestamp("us", tz="UTC")
        times = table.column("time").cast(instant)
        first, last = pc.min_max(times).values()
        if first.as_py() < since or last.as_py() >= until:  # files at the window's edges hold rows outside it
            inside = pc.and_(
                pc.greater_equal(times, pa.scalar(since, instant)), pc.less(times, pa.scalar(until, instant))
            )
            table = table.filter(inside)
    # (Parquet names a list's items "element": the type is compared by kind, not by equality with list_(float64))
    return table.to_pandas(types_mapper=lambda kind: pd.ArrowDtype(kind) if pa.types.is_list(kind) else None)
