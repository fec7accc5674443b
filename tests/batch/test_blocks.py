"""The block grid: every reader cuts an object the same way, wherever it starts."""

from __future__ import annotations

import gzip
import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelport.batch.blocks import (
    count_blocks,
    parquet_block_count,
    parquet_blocks,
    parquet_slices,
    read_first_line,
    seek_block,
    text_blocks,
)


def _text(seed: int, lines: int) -> bytes:
    rng = random.Random(seed)
    out = [b"a,b,c\n"]
    for i in range(lines):
        width = rng.choice([1, 5, 20, 200])  # some lines longer than a block
        out.append(f"{i},{'x' * width}\n".encode())
    if seed % 2:
        out.append(b"last-line-without-newline")
    return b"".join(out)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block", [7, 64, 1000])
def test_sequential_and_seeking_readers_agree(seed: int, block: int) -> None:
    data = _text(seed, 300)
    stream = io.BytesIO(data)
    _, start, head = read_first_line(stream, True)
    sequential = list(text_blocks(stream, pos=start, data_start=start, block_bytes=block, head=head))
    assert len(sequential) == count_blocks(len(data), start, block)
    assert b"".join(b.data for b in sequential) == data[start:]
    assert [b.index for b in sequential] == list(range(len(sequential)))
    for b in sequential:  # every block starts at a line start (or is empty)
        assert b.start == start or data[b.start - 1 : b.start] == b"\n" or not b.data
    for first in range(0, len(sequential), 3):
        raw = io.BytesIO(data)
        pos = seek_block(raw, data_start=start, index=first, block_bytes=block)
        ranged = list(text_blocks(raw, pos=pos, data_start=start, block_bytes=block, first=first, stop=first + 3))
        assert ranged == sequential[first : first + 3]


def test_a_gzip_stream_gives_the_same_blocks() -> None:
    data = _text(1, 500)
    plain = io.BytesIO(data)
    _, start, head = read_first_line(plain, True)
    zipped = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(data)))
    _, zstart, zhead = read_first_line(zipped, True)
    assert zstart == start
    assert list(text_blocks(zipped, pos=start, data_start=start, block_bytes=100, head=zhead)) == list(
        text_blocks(plain, pos=start, data_start=start, block_bytes=100, head=head)
    )


def test_a_byte_order_mark_is_not_part_of_the_header() -> None:
    assert read_first_line(io.BytesIO(b"\xef\xbb\xbfa,b\n1,2\n"), True) == (b"a,b", 7, b"")
    assert read_first_line(io.BytesIO(b"\xef\xbb\xbf1,2\n"), False) == (b"", 3, b"")
    assert read_first_line(io.BytesIO(b"1,2\n"), False) == (b"", 0, b"1,2")
    assert read_first_line(io.BytesIO(b"a\n1\n"), True) == (b"a", 2, b"1")


def test_parquet_row_groups_are_cut_in_slices(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = pa.table({"x": list(range(1000)), "y": [float(i) for i in range(1000)]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=300)
    pf = pq.ParquetFile(tmp_path / "t.parquet")
    slices = parquet_slices(pf.metadata, block_bytes=1500)
    assert sum(rows for rows, _ in slices) == 1000
    blocks = list(parquet_blocks(pf, slices, columns=["x", "y"]))
    assert [k for k, _ in blocks] == list(range(parquet_block_count(slices)))
    assert pa.concat_tables([t for _, t in blocks]).equals(table)
    middle = list(parquet_blocks(pf, slices, columns=["x"], first=2, stop=5))
    assert [k for k, _ in middle] == [2, 3, 4]
    assert [t.column("x").to_pylist() for _, t in middle] == [t.column("x").to_pylist() for k, t in blocks[2:5]]
