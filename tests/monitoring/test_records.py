"""Capture lines read by Arrow's reader give the records reading them line by line gives; lines that are not
records are counted the same."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from modelport.endpoints.config import CaptureConfig
from modelport.monitoring.records import CaptureRecords, parse_files, parse_lines
from modelport.serving.capture import CaptureEvent, RecordEncoder

T0 = 1714557605.0  # 2024-05-01T10:00:05Z


def lines(rng: np.random.Generator, n: int) -> list[bytes]:
    """Capture lines as the data plane writes them: CSV, JSON and BASE64 bodies, replies or not, ids or not."""
    encoder = RecordEncoder()
    out = []
    for i in range(n):
        kind = rng.integers(0, 6)
        if kind == 0:
            body, ctype = f"{rng.standard_normal()},{i}\n".encode(), "text/csv"
        elif kind == 1:
            body, ctype = orjson.dumps({"instances": [[float(rng.standard_normal()), i]]}), "application/json"
        elif kind == 2:
            body, ctype = b"\x00\x01PAR1" + bytes(rng.integers(0, 256, 20, dtype=np.uint8)), "application/x-parquet"
        elif kind == 3:  # text a JSON reader must unescape: quotes, newlines, non-ASCII, the words NaN and Infinity
            body, ctype = 'caf\u00e9 "NaN",Infinity\n\ttab \\ \u2603'.encode(), "text/csv"
        elif kind == 4:
            body, ctype = b'{"dataframe_records": [{"a": "NaN"}]}', "application/json; charset=utf-8"
        else:
            body, ctype = b"", "text/csv"
        config = CaptureConfig(
            enabled=True, capture_output=bool(rng.random() < 0.7), capture_input=bool(rng.random() < 0.95)
        )
        event = CaptureEvent(
            "churn",
            "a",
            config,
            body,
            ctype,
            b'{"predictions": [1]}',
            "application/json",
            f"id-{i}" if rng.random() < 0.8 else None,
            T0 + float(rng.integers(0, 3600)) + float(rng.random()),
        )
        out.append(encoder.line(event))
    return out


def as_lists(records: CaptureRecords) -> dict[str, object]:
    return {
        "stamps": records.stamps.astype("datetime64[s]").astype(np.int64).tolist(),
        "ids": records.ids.to_pylist(),
        **{
            f"{side}.{field}": getattr(getattr(records, side), field).to_pylist()
            for side in ("inputs", "outputs")
            for field in ("data", "content_types", "encodings")
        },
    }


def line_by_line(blobs: list[bytes]) -> tuple[dict[str, object], list[int], list[int]]:
    parts = [parse_lines(b) for b in blobs]
    return (
        as_lists(CaptureRecords.concat([r for r, _ in parts])),
        [len(r) for r, _ in parts],
        [bad for _, bad in parts],
    )


def test_files_read_together_hold_the_records_of_their_lines() -> None:
    rng = np.random.default_rng(1)
    blobs = [b"\n".join(lines(rng, int(rng.integers(1, 60)))) + b"\n" for _ in range(12)]
    blobs.append(b"\n".join(lines(rng, 5)))  # no newline at the end
    parsed = parse_files(blobs)
    records, counts, unreadable = line_by_line(blobs)
    assert (as_lists(parsed.records), parsed.counts, parsed.unreadable) == (records, counts, unreadable)
    assert sum(counts) == len(parsed.records) > 0 and not any(unreadable)


GOOD = (
    b'{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT","data":"1,2\\n",'
    b'"encoding":"CSV"}},"eventMetadata":{"eventId":"e1","inferenceTime":"2024-05-01T10:00:05Z"},"eventVersion":"0"}'
)


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"",  # a blank line
        GOOD + GOOD,  # two records on one line
        GOOD.replace(b'"eventVersion":"0"', b'"eventVersion":NaN'),  # a token JSON has not
        GOOD.replace(b'"eventVersion":"0"', b'"eventVersion":Infinity'),
        GOOD.replace(b'"eventVersion":"0"', b'"eventVersion":0'),  # a number where the writer puts text
        GOOD.replace(b'"eventVersion":"0"', b'"extra":{"x":1}'),  # a field more
        GOOD.replace(b'"eventId":"e1",', b'"eventId":"e1","eventId":"e2",'),  # a field twice
        GOOD.replace(b'"mode":"INPUT",', b""),  # a field less (still a record)
        GOOD.replace(b'"observedContentType":"text/csv",', b""),  # no content type: ""
        GOOD.replace(b'"text/csv"', b"null"),  # a null content type: not a record
        GOOD.replace(b'"1,2\\n"', b"null"),  # no body
        GOOD.replace(b'"1,2\\n"', b"12"),  # a body that is not text
        GOOD.replace(b'"2024-05-01T10:00:05Z"', b'"yesterday"'),
        GOOD.replace(b'"2024-05-01T10:00:05Z"', b'"2024-05-01T10:00:05.123+02:00"'),
        GOOD.replace(b',"inferenceTime":"2024-05-01T10:00:05Z"', b""),
        GOOD.replace(b'"eventId":"e1"', b'"inferenceId":17'),  # an id that is a number: its text
        GOOD.replace(b'"captureData":{', b'"captureData":{"endpointOutput":"x",'),
        b"\xef\xbb\xbf" + GOOD,  # a byte-order mark
        GOOD.replace(b"1,2", b"\xff\xfe"),  # not UTF-8
        GOOD.replace(b"1,2", b"caf\xc3\xa9"),  # UTF-8
        GOOD.replace(b"1,2", b"\\ud800"),  # half a surrogate pair
        GOOD.replace(b"1,2", b"1\t2"),  # a control character unescaped
        b"[" + GOOD + b"]",
        b"null",
        b"{}",
        GOOD[:-1] + b"\n}",  # a record over two lines
    ],
)
def test_a_line_that_is_not_a_plain_record_reads_as_line_by_line(line: bytes) -> None:
    blob = GOOD + b"\n" + line + b"\n" + GOOD + b"\n"
    others = b"\n".join(lines(np.random.default_rng(2), 5)) + b"\n"
    parsed = parse_files([others, blob, others])
    expected = line_by_line([others, blob, others])
    assert (as_lists(parsed.records), parsed.counts, parsed.unreadable) == expected


def test_base64_bodies_are_kept_as_captured() -> None:
    body = bytes(range(256))
    event = CaptureEvent(
        "churn", "a", CaptureConfig(enabled=True), body, "application/octet-stream", b"", None, "x", T0
    )
    parsed = parse_files([RecordEncoder().line(event) + b"\n"] * 2)
    assert parsed.records.inputs.encodings.to_pylist() == ["BASE64"] * 2
    assert base64.b64decode(parsed.records.inputs.data[0].as_py()) == body
