"""Captured requests decoded many at a time give each record exactly what the data plane's decode_request gives it."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from modelport.errors import ModelportError
from modelport.monitoring.inputs import InputDecoder
from modelport.monitoring.payloads import Payloads
from modelport.serving.codecs.request import decode_request
from modelport.signature import ColumnSpec, Signature

NUMBERS = Signature(inputs=tuple(ColumnSpec(n, "float64") for n in ("a", "b", "c", "d")))
NARROW = Signature(inputs=tuple(ColumnSpec(n, "float32") for n in ("a", "b", "c")))
MIXED = Signature(inputs=(ColumnSpec("a", "float64"), ColumnSpec("n", "int64"), ColumnSpec("plan", "string")))


def reference(body: bytes, content_type: str, signature: Signature) -> dict[str, np.ndarray] | str:
    """What the data plane makes of one request: its columns, or its error message."""
    try:
        return dict(decode_request(body, content_type or None, signature, sniff_missing=True))
    except ModelportError as exc:
        return exc.message


def same_value(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":  # bit for bit: NaN equals NaN, -0.0 is not 0.0
        return bool((a.view(f"u{a.itemsize}") == b.view(f"u{b.itemsize}")).all())
    return bool((a == b).all()) if a.dtype != object else a.tolist() == b.tolist()


def check(bodies: list[tuple[bytes, str]], signature: Signature) -> None:
    """Decode the bodies together (as capture holds them: text as such, other bytes BASE64) and compare each
    record with decode_request of its body alone."""
    data, types, encodings = [], [], []
    for body, ctype in bodies:
        media = ctype.split(";")[0].strip()
        if media in ("text/csv", "application/json"):
            data.append(body.decode("utf-8"))
            encodings.append("CSV" if media == "text/csv" else "JSON")
        else:
            data.append(base64.b64encode(body).decode())
            encodings.append("BASE64")
        types.append(ctype)
    decoded = InputDecoder(signature).decode(Payloads.of(data, types, encodings))
    for i, (body, ctype) in enumerate(bodies):
        expected = reference(body, ctype, signature)
        if isinstance(expected, str):
            assert decoded.failures.get(i) == expected, (i, body, ctype)
            continue
        assert i not in decoded.failures, (i, body, decoded.failures[i])
        mine = decoded.records == i
        order = np.argsort(decoded.rows[mine], kind="stable")
        assert decoded.rows[mine][order].tolist() == list(range(int(mine.sum()))), (i, body)
        for name, column in expected.items():
            assert same_value(np.asarray(decoded.columns[name])[mine][order], column), (i, body, name)


def number(rng: np.random.Generator) -> str:
    """A number as callers write them: ints, short and long floats, exponents, signed zeros, huge and tiny."""
    kind = rng.integers(0, 12)
    if kind == 0:
        return str(int(rng.integers(-1000, 1000)))
    if kind == 1:
        return repr(float(rng.standard_normal()))  # 17 digits
    if kind == 2:
        return f"{rng.standard_normal():.4f}"
    if kind == 3:
        return f"{rng.standard_normal() * 10.0 ** rng.integers(-30, 30):.6e}"
    if kind == 4:
        return str(rng.choice(["0", "-0", "0.0", "-0.0", "0e0", "-0E-3"]))
    if kind == 5:
        return str(rng.integers(10**15, 10**18)) + "123"  # beyond 2**53: rounded
    if kind == 6:
        return f"{rng.standard_normal():.25g}"  # more digits than a double holds
    return f"{rng.uniform(-100, 100):.{int(rng.integers(0, 8))}f}"


def rows_text(rng: np.random.Generator, width: int, n_rows: int) -> list[list[str]]:
    return [[number(rng) for _ in range(width)] for _ in range(n_rows)]


def json_rows(rows: list[list[str]], rng: np.random.Generator) -> str:
    space = rng.integers(0, 3)  # orjson's compact form, Python json's ", ", or pretty
    if space == 0:
        inner = "[" + "],[".join(",".join(r) for r in rows) + "]"
        return '{"instances":[' + inner + "]}"
    if space == 1:
        inner = "[" + "], [".join(", ".join(r) for r in rows) + "]"
        return '{"instances": [' + inner + "]}"
    inner = ",\n    ".join("[" + ", ".join(r) + "]" for r in rows)
    return '{\n  "inputs": [\n    ' + inner + "\n  ]\n}\n"


def random_bodies(rng: np.random.Generator, width: int, n: int) -> list[tuple[bytes, str]]:
    """Mostly good rows of numbers in JSON and CSV, some of every kind of trouble."""
    bodies: list[tuple[bytes, str]] = []
    for _ in range(n):
        n_rows = int(rng.choice([1, 1, 1, 2, 3]))
        rows = rows_text(rng, width, n_rows)
        kind = rng.integers(0, 20)
        if kind < 8:
            bodies.append((json_rows(rows, rng).encode(), "application/json"))
        elif kind < 13:
            text = "\n".join(",".join(r) for r in rows) + ("\n" if rng.random() < 0.7 else "")
            bodies.append((text.encode(), "text/csv"))
        elif kind == 13:  # a value the data plane refuses or reads its own way
            bad = str(rng.choice(["NaN", "Infinity", "-Infinity", "null", "true", '"1.5"', "1e400", "[1]", "01", ".5"]))
            rows[0][int(rng.integers(0, width))] = bad
            bodies.append((json_rows(rows, rng).encode(), "application/json"))
        elif kind == 14:  # a row of another width, or none
            if rng.random() < 0.5:
                rows[-1] = rows[-1][:-1] if width > 1 else [*rows[-1], "1"]
                bodies.append((json_rows(rows, rng).encode(), "application/json"))
            else:
                bodies.append((b'{"instances": []}', "application/json"))
        elif kind == 15:  # other shapes of the same rows
            shape = int(rng.integers(0, 4))
            values = [[json.loads(v) if v not in ("-0",) else 0 for v in r] for r in rows]
            if shape == 0:
                doc: Any = {"instances": values, "params": {"x": 1}}
            elif shape == 1:
                doc = values
            elif shape == 2:
                doc = {"dataframe_split": {"columns": list("abcd")[:width], "data": values}}
            else:
                doc = {"dataframe_records": [dict(zip("abcd", r, strict=False)) for r in values]}
            bodies.append((json.dumps(doc).encode(), "application/json"))
        elif kind == 16:  # CSV cells the codec reads its own way
            cells = [
                [str(rng.choice(["", "NaN", "nan", "inf", "-inf", '"2.5"', " 3", "x", "1e400", "NA"])), *r[1:]]
                for r in rows
            ]
            bodies.append(("\n".join(",".join(c) for c in cells).encode(), "text/csv"))
        elif kind == 17:  # broken JSON, empty bodies, a header line
            bodies.append(
                (
                    str(
                        rng.choice(['{"instances": [[1, 2', "", " ", "[]", "{}", ",".join("abcd"[:width]) + "\n"])
                    ).encode(),
                    str(rng.choice(["application/json", "text/csv"])),
                )
            )
        elif kind == 18:  # CSV with a header, columns in another order
            names = list("abcd"[:width])
            frame = pd.DataFrame([[float(v) for v in r] for r in rows], columns=names)
            bodies.append((frame[names[::-1]].to_csv(index=False).encode(), "text/csv; header=present"))
        else:  # types the data plane reads one by one, or not at all
            frame = pd.DataFrame([[float(v) for v in r] for r in rows], columns=list("abcd"[:width]))
            sink = io.BytesIO()
            frame.to_parquet(sink)
            bodies.append(
                (sink.getvalue(), "application/vnd.apache.parquet")
                if rng.random() < 0.6
                else (b"1,2,3,4\n", "text/plain")
            )
    return bodies


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_bodies_decode_as_each_alone(seed: int) -> None:
    rng = np.random.default_rng(seed)
    check(random_bodies(rng, 4, 600), NUMBERS)


def test_narrower_columns_decode_as_each_alone() -> None:
    rng = np.random.default_rng(7)
    bodies = random_bodies(rng, 3, 300)
    bodies.append((b'{"instances": [[1e39, 1, 2]]}', "application/json"))  # beyond float32
    check(bodies, NARROW)


def test_a_signature_of_several_types_decodes_as_each_alone() -> None:
    rows = [
        (b"1.5,2,free\n", "text/csv"),
        (b"1.5,2.5,free\n", "text/csv"),  # a fraction for an integer
        (orjson.dumps({"instances": [[1.5, 2, "pro"], [0.5, 3, "team"]]}), "application/json"),
        (orjson.dumps({"instances": [[1.5, 2, "pro"], [0.5, True, "team"]]}), "application/json"),
        (orjson.dumps({"dataframe_records": [{"a": 1.0, "n": 1, "plan": "x"}]}), "application/json"),
        (orjson.dumps({"a": 2.0, "n": 5, "plan": "y"}), "application/json"),
        (b"plan,a,n\nfree,1,2\n", "text/csv"),
        (b'"1.0",2,"a, quoted"\n', "text/csv"),
        (b"1.0,,free\n", "text/csv"),  # a missing integer
    ]
    check(rows * 3, MIXED)


@pytest.mark.parametrize(
    "body",
    [
        '{"instances":[[1,2,3,4]]}',
        '{"instances": [[-0, 1, 2, 3]]}',  # orjson reads the integer -0 as 0: +0.0
        '{"instances": [[-0.0, -0e0, 0, 3]]}',
        '{"inputs":[[1,2,3,4],[5,6,7,8]]}',
        '{"instances":[[1e400,2,3,4]]}',  # beyond float64: inf, refused
        '{"instances":[[1e-400,2,3,4]]}',
        '{"instances":[[123456789012345678901234567890,2,3,4]]}',
        '{"instances":[[NaN,2,3,4]]}',
        '{"instances":[[null,2,3,4]]}',
        '{"instances":[[true,2,3,4]]}',
        '{"instances":[["1",2,3,4]]}',
        '{"instances":[[1,2,3]]}',
        '{"instances":[[1,2,3,4],[1,2,3]]}',
        '{"instances":[[1,2,3,4,5],[1,2,3]]}',  # widths that add up
        '{"instances":[]}',
        '{"instances":[[1,2,3,4]],"params":{}}',
        '{"instances":[[1,2,3,4]],"inputs":[[1,2,3,4]]}',
        '{"instances":[[1,2,3,4]]}{"instances":[[1,2,3,4]]}',
        '\ufeff{"instances":[[1,2,3,4]]}',
        ' \r\n{ "instances" :\t[ [ 1 , 2 , 3 , 4 ] ] } \n',
        '{"instances":[[1,2,3,4]], }',
        '{"instances":[[01,2,3,4]]}',
        '{"instances":[[1.,2,3,4]]}',
    ],
)
def test_rows_of_numbers_read_at_once_match_the_codec(body: str) -> None:
    good = (b'{"instances":[[0.1,0.2,0.3,0.4]]}', "application/json")
    check([good, (body.encode(), "application/json"), good], NUMBERS)
