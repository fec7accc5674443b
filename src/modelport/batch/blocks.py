"""Cutting an input object into blocks: the unit of model calls, checkpoints and Dask partitions.

Blocks sit on a fixed grid, so every reader cuts an object the same way — the
local engine reading it from the start, a Dask task seeking into the middle
of it, a resumed job skipping what was done:

- text (CSV, JSON Lines): block ``k`` holds the lines that *start* in the
  byte window ``[data_start + k·B, data_start + (k+1)·B)`` of the
  (decompressed) object, ``B`` being the max payload; a window a long line
  covers entirely is an empty block.  An object of ``S`` bytes has
  ``ceil((S - data_start) / B)`` blocks.
- Parquet: each row group is cut into equal slices of about ``B``
  uncompressed bytes.
- ``split=none``: the whole object is block 0.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

READ_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class TextBlock:
    index: int
    start: int
    """Offset of the block's first byte in the (decompressed) object."""
    data: bytes


def open_stream(raw: IO[bytes], gzipped: bool) -> IO[bytes]:
    return gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[return-value]


def read_first_line(stream: IO[bytes], header: bool) -> tuple[bytes, int, bytes]:
    """The header line (without BOM and line end; empty without a header), where data starts,
    and the data bytes already read past that point (to hand to :func:`text_blocks`)."""
    first = stream.read(len(_BOM))
    bom = len(_BOM) if first == _BOM else 0
    rest = b"" if bom else first
    if not header:
        return b"", bom, rest
    if b"\n" in rest:  # a header shorter than the bytes sniffed for a BOM
        cut = rest.index(b"\n") + 1
        line, leftover = rest[:cut], rest[cut:]
    else:
        line, leftover = rest + stream.readline(), b""
    return line.rstrip(b"\r\n"), bom + len(line), leftover


def count_blocks(size: int, data_start: int, block_bytes: int) -> int:
    return max(0, -(-(size - data_start) // block_bytes))


def text_blocks(
    stream: IO[bytes],
    *,
    pos: int,
    data_start: int,
    block_bytes: int,
    first: int = 0,
    stop: int | None = None,
    head: bytes = b"",
) -> Iterator[TextBlock]:
    """Blocks ``first`` … ``stop - 1`` (or to the end), reading ``stream`` from offset ``pos``.

    ``pos`` must be where block ``first`` starts (see :func:`seek_block`); ``head`` holds
    bytes from ``pos`` on that were already read from ``stream``.
    """
    buf = bytearray(head)
    eof = False
    k = first
    while stop is None or k < stop:
        while not buf and not eof:
            chunk = stream.read(READ_CHUNK)
            eof = not chunk
            buf += chunk
        if not buf and data_start + k * block_bytes >= pos:
            return  # past the last window of the object
        limit = data_start + (k + 1) * block_bytes
        if pos >= limit:  # a long line covered this whole window: no line starts in it
            yield TextBlock(index=k, start=pos, data=b"")
            k += 1
            continue
        while True:
            idx = buf.find(b"\n", max(limit - 1 - pos, 0))
            if idx >= 0 or eof:
                break
            chunk = stream.read(max(READ_CHUNK, limit - pos - len(buf)))
            eof = not chunk
            buf += chunk
        end = idx + 1 if idx >= 0 else len(buf)
        yield TextBlock(index=k, start=pos, data=bytes(buf[:end]))
        del buf[:end]
        pos += end
        k += 1


def whole_block(stream: IO[bytes], pos: int, head: bytes = b"") -> TextBlock:
    return TextBlock(index=0, start=pos, data=head + stream.read())


def seek_block(raw: Any, *, data_start: int, index: int, block_bytes: int) -> int:
    """Position a seekable, uncompressed file where block ``index`` starts; returns that offset."""
    if index == 0:
        raw.seek(data_start)
        return data_start
    offset = data_start + index * block_bytes - 1
    raw.seek(offset)
    while True:
        chunk = raw.read(1 << 16)
        if not chunk:
            break
        i = chunk.find(b"\n")
        if i >= 0:
            offset += i + 1
            break
        offset += len(chunk)
    raw.seek(offset)
    return offset


def count_lines(data: bytes) -> int:
    """Physical lines in a block (a last line without a line end counts)."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def line_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every line in a block, line ends excluded."""
    spans = []
    start = 0
    n = len(data)
    while start < n:
        end = data.find(b"\n", start)
        if end < 0:
            end = n
        stop = end - 1 if end > start and data[end - 1 : end] == b"\r" else end
        spans.append((start, stop))
        start = end + 1
    return spans


# -- Parquet ----------------------------------------------------------------------


def parquet_slices(metadata: Any, block_bytes: int) -> list[tuple[int, int]]:
    """Per row group: (rows, rows per block), from the file's footer only.

    A block holds about ``block_bytes`` of the rows *in memory*: fixed-width
    columns count their width (encoded sizes understate them), others their
    uncompressed size.
    """
    widths = []
    for field in metadata.schema.to_arrow_schema():
        try:
            widths.append(field.type.bit_width // 8)
        except ValueError:
            widths.append(0)  # variable width: counted from the row group's sizes below
    out = []
    for g in range(metadata.num_row_groups):
        rg = metadata.row_group(g)
        rows = rg.num_rows
        variable = sum(rg.column(c).total_uncompressed_size for c in range(rg.num_columns) if not widths[c])
        size = max(rows * sum(widths) + variable, 1)
        pieces = max(1, -(-size // block_bytes))
        out.append((rows, max(1, -(-rows // pieces))))
    return out


def parquet_block_count(slices: list[tuple[int, int]]) -> int:
    return sum(-(-rows // per) for rows, per in slices if rows)


def parquet_blocks(
    parquet_file: Any, slices: list[tuple[int, int]], *, columns: list[str] | None, first: int = 0, stop: int | None = None
) -> Iterator[tuple[int, Any]]:
    """(block index, pyarrow Table) for blocks ``first`` … ``stop - 1``; a row group is read once, in slices."""
    import pyarrow as pa

    base = 0
    for g, (rows, per) in enumerate(slices):
        count = -(-rows // per) if rows else 0
        if stop is not None and base >= stop:
            return
        if base + count <= first:
            base += count
            continue
        k = base
        pending: Any = None
        for batch in parquet_file.iter_batches(batch_size=per, row_groups=[g], columns=columns, use_threads=True):
            table = pa.Table.from_batches([batch])
            pending = table if pending is None else pa.concat_tables([pending, table])
            while pending.num_rows >= per:
                if first <= k and (stop is None or k < stop):
                    yield k, pending.slice(0, per).combine_chunks()
                k += 1
                pending = pending.slice(per)
        if pending is not None and pending.num_rows and first <= k and (stop is None or k < stop):
            yield k, pending.combine_chunks()
        base += count
