"""Reading an input object as blocks: what the local pipeline's reader thread and each Dask task run."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from modelport.batch.blocks import (
    count_blocks,
    open_stream,
    parquet_block_count,
    parquet_blocks,
    parquet_slices,
    read_first_line,
    seek_block,
    text_blocks,
    whole_block,
)
from modelport.batch.inputs import InputObject, filesystem
from modelport.batch.plan import Plan
from modelport.errors import InvalidArgument, Unavailable
from modelport.runtimes.base import first_line


@dataclass
class RawBlock:
    obj: int
    index: int
    data: bytes | None
    """The block's bytes (CSV, JSON Lines)."""
    table: Any
    """The block's rows (Parquet)."""
    in_bytes: int
    """How much of the input object this block stands for (progress only)."""


@dataclass(frozen=True)
class ObjectEnd:
    """The reader reached the end of an object, which has ``blocks`` blocks."""

    obj: int
    blocks: int


def read_object(
    plan: Plan,
    obj: int,
    *,
    first: int = 0,
    stop: int | None = None,
    skip: frozenset[int] | set[int] = frozenset(),
    s3_endpoint_url: str | None = None,
) -> Iterator[RawBlock | ObjectEnd]:
    """Blocks ``first`` … ``stop - 1`` of object ``obj`` except ``skip``; an ObjectEnd after the last one."""
    info = plan.objects[obj]
    fs, path = filesystem(info.url, s3_endpoint_url)
    try:
        size = fs.size(path)
    except FileNotFoundError:
        raise InvalidArgument(f"input {info.name!r} ({info.url}) no longer exists") from None
    if size != info.size:
        raise InvalidArgument(
            f"input {info.name!r} changed since the job was created ({info.size} → {size} bytes): start a new job"
        )
    try:
        with fs.open(path, "rb") as raw:
            if plan.input_format == "parquet":
                yield from _parquet(plan, obj, info, raw, first, stop, skip)
            else:
                yield from _text(plan, obj, info, raw, first, stop, skip)
    except OSError as exc:
        raise Unavailable(f"cannot read input {info.name!r}: {first_line(exc)}") from None
    except EOFError as exc:
        raise InvalidArgument(f"input {info.name!r} is truncated: {first_line(exc)}") from None


def _text(
    plan: Plan, obj: int, info: InputObject, raw: Any, first: int, stop: int | None, skip: frozenset[int] | set[int]
) -> Iterator[RawBlock | ObjectEnd]:
    stream = open_stream(raw, info.gzip)
    header, data_start, head = read_first_line(stream, plan.header)
    if plan.header and plan.input_format == "csv":
        _check_header(plan, info, header)
    if plan.split == "none":
        block = whole_block(stream, data_start, head)
        if plan.max_payload and len(block.data) > plan.max_payload:
            _too_large(plan, info, len(block.data))
        yield RawBlock(obj=obj, index=0, data=block.data, table=None, in_bytes=info.size)
        yield ObjectEnd(obj=obj, blocks=1)
        return
    pos = data_start
    if first and not info.gzip:
        pos = seek_block(raw, data_start=data_start, index=first, block_bytes=plan.block_bytes)
        start, head = first, b""
    else:
        start = 0  # a gzip stream is read from its start; the blocks before `first` are skipped
    end = pos
    last_raw = raw.tell() if info.gzip else 0
    blocks = text_blocks(
        stream, pos=pos, data_start=data_start, block_bytes=plan.block_bytes, first=start, stop=stop, head=head
    )
    for block in blocks:
        end = block.start + len(block.data)
        if info.gzip:
            now = raw.tell()
            in_bytes, last_raw = now - last_raw, now
        else:
            in_bytes = len(block.data)
        if block.index < first or block.index in skip:
            continue
        yield RawBlock(obj=obj, index=block.index, data=block.data, table=None, in_bytes=in_bytes)
    if stop is None:
        total = end if info.gzip else info.size
        yield ObjectEnd(obj=obj, blocks=count_blocks(total, data_start, plan.block_bytes))


def _check_header(plan: Plan, info: InputObject, header: bytes) -> None:
    names = next(csv.reader([header.decode("utf-8", errors="replace")]), [])
    if names != plan.schema.names:
        raise InvalidArgument(
            f"input {info.name!r} has the columns {', '.join(names[:12])}; the first input has "
            f"{', '.join(plan.schema.names[:12])}: one job reads files of one layout"
        )


def _too_large(plan: Plan, info: InputObject, size: int) -> None:
    raise InvalidArgument(
        f"input {info.name!r} is {size:,} bytes, over the max payload of {plan.max_payload:,} bytes for one "
        "request (split none sends each object whole): raise --max-payload or use --split line"
    )


def _parquet(
    plan: Plan, obj: int, info: InputObject, raw: Any, first: int, stop: int | None, skip: frozenset[int] | set[int]
) -> Iterator[RawBlock | ObjectEnd]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(raw, buffer_size=1 << 20, pre_buffer=False)  # stream pages: no whole row group in memory
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a file that is not Parquet
        raise InvalidArgument(f"input {info.name!r} is not a Parquet file: {first_line(exc)}") from None
    names = plan.schema.names
    missing = [n for n in names if n not in pf.schema_arrow.names]
    if missing:
        raise InvalidArgument(f"input {info.name!r} lacks the column(s) {', '.join(missing)} the first input has")
    rows = max(pf.metadata.num_rows, 1)
    if plan.split == "none":
        if plan.max_payload and info.size > plan.max_payload:
            _too_large(plan, info, info.size)
        yield RawBlock(obj=obj, index=0, data=None, table=pf.read(columns=names), in_bytes=info.size)
        yield ObjectEnd(obj=obj, blocks=1)
        return
    slices = parquet_slices(pf.metadata, plan.block_bytes)
    for index, table in parquet_blocks(pf, slices, columns=names, first=first, stop=stop):
        if index in skip:
            continue
        yield RawBlock(obj=obj, index=index, data=None, table=table, in_bytes=info.size * table.num_rows // rows)
    if stop is None:
        yield ObjectEnd(obj=obj, blocks=parquet_block_count(slices))


def parquet_layout(plan: Plan, obj: int, s3_endpoint_url: str | None = None) -> list[tuple[int, int]]:
    """(rows, rows per block) per row group of a Parquet input, read from its footer."""
    import pyarrow.parquet as pq

    info = plan.objects[obj]
    fs, path = filesystem(info.url, s3_endpoint_url)
    with fs.open(path, "rb") as raw:
        return parquet_slices(pq.ParquetFile(raw).metadata, plan.block_bytes)
