"""The pandas-free CSV reader returns what the pandas one does, for every body.

Serving images for ONNX models leave pandas out; ``decode_csv`` then reads
the body with the ``csv`` module and numpy, as it reads every small body where
pandas is installed.  Each body here is decoded three times: by pandas' C
parser (the reference), as served with pandas installed, and with pandas
unimportable; the answers must be the same arrays (dtype, values bit for bit,
missing values in the same places) or all an ``InvalidArgument``.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from modelport.errors import InvalidArgument
from modelport.serving.codecs import csv_body
from modelport.serving.codecs.csv_body import NUMERIC_NA, decode_csv
from modelport.signature import ColumnSpec, Signature

NAMES = ["a", "b", "c", "d"]

NUMBERS = [
    "0", "1", "-1", "+1", "-0", "+0", "007", "42", "1.", "-.5", ".5", "+.5", "5.0", "-0.0", "1e5", "1E-5",
    "2.5e+3", "1.e3", "1e", "e5", ".", "+", "-", "1.2.3", "--1", "+-1", "1_000", " 1", "1 ", "\t2", "2\t",
    "12345678901234567890", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
    "-9223372036854775809", "9223372036854775807", "9223372036854775808", "99999999999999999999999",
    "0.1000000000000000055511151231257827021181583404541015625", "123456789012345678901234567890e-10",
    "2.2250738585072011e-308", "9007199254740993", "9007199254740993.0", "1e400", "-1e400", "1e-400",
    "4.9e-324", "1.7976931348623157e308", "0x10", "\u0661", "\uff11", "1 2",
]  # fmt: skip
SPECIALS = [
    "inf", "-inf", "+inf", "Infinity", "-INFINITY", "+infinity", "INF", "iNf", "inf ", "infinit", "nan", "NAN",
    "NaN ", "+nan", "nan(1)",
]  # fmt: skip
MISSING = [*NUMERIC_NA, "NA ", " NA", "na", "n/a", "Null", "NONE", "#NA", "  "]
BOOLS = ["true", "false", "True", "False", "TRUE", "FALSE", "tRuE", " true", "true ", "yes", "no", "t", "f", "1.0"]
STRINGS = [
    "x", "hello world", "é", "\x00", '"1"', '""', '" "', '"a,b"', '"say ""hi"""', '"line\nbreak"', '"cr\r\nlf"',
    'a"b', '"ab"cd', '"7" ', ' "8"', '"NA"', '"true"', "'q'", "\\", "#", "a;b",
]  # fmt: skip
POOLS = {
    "ints": ["0", "1", "-7", "+3", "007", "42", "-0"],
    "floats": ["1.5", "-2.25", ".5", "5.", "1e3", "-1.5E-3", "0.1", "3"],
    "numbers": NUMBERS + SPECIALS,
    "missing": [*MISSING, "1", "2.5"],
    "bools": [*BOOLS, "NA", ""],
    "strings": [*STRINGS, "x", "y"],
    "all": NUMBERS + SPECIALS + MISSING + BOOLS + STRINGS,
}

CORPUS = [
    "1,2\n3,4\n",
    "a,b\n1,2\n",
    "1.,.5\n+1,-0\n",
    "1e5,1E-5\n2.5e+3,-1.5e-3\n",
    "12345678901234567890,1\n",
    "18446744073709551615,1\n1,1\n",
    "-1,1\n18446744073709551615,1\n",
    "99999999999999999999,1\n-1,1\n",
    "1" + "0" * 5000 + ",1\n2.5,1\n",  # more digits than int() converts
    "0.10000000000000000555111512312578270211815834045410156250001,1\n",
    "inf,-inf\nInfinity,-INFINITY\n",
    ",NA\nN/A,NaN\nnan,-nan\nNULL,null\nNone,#N/A\n",
    "NAN,1\n",
    "NA ,1\n",
    " NA,1\n",
    '"1","2"\n"3","4"\n',
    '"",1\n2,""\n',
    "1,\n,2\n",
    "true,false\nTrue,FALSE\n",
    "true,1\nNA,2\n",
    '"a,b","say ""hi"""\n"line\nbreak",x\n',
    " 1 , 2 \n3,4\n",
    "1,2\r\n3,4\r\n",
    "1,2\r3,4\r",
    "1,2\n\n  \n\t\n3,4\n",
    "\ufeff1,2\n3,4\n",
    "\ufeffa,b\n1,2\n",
    "1,2\n3\n",
    "1,2\n3,4,5\n",
    "1,2,\n3,4\n",
    '1,"2\n',
    '"a\nb",c\n1,2\n',
    "a,b\n",
    "\n\n",
    "",
]

SIGNATURES = {
    "floats": lambda k: Signature(inputs=tuple(ColumnSpec(n, "float64") for n in NAMES[:k])),
    "tensor": lambda k: Signature(inputs=(ColumnSpec("X", "float32", (-1, k)),)),
    "strings": lambda k: Signature(inputs=tuple(ColumnSpec(n, "string") for n in NAMES[:k])),
    "bools": lambda k: Signature(inputs=tuple(ColumnSpec(n, "bool") for n in NAMES[:k])),
    "ints": lambda k: Signature(inputs=tuple(ColumnSpec(n, "int64") for n in NAMES[:k])),
    "mixed": lambda k: Signature(
        inputs=tuple(ColumnSpec(n, t) for n, t in zip(NAMES[:k], ["float64", "string", "bool", "int64"], strict=False))
    ),
    "none": lambda k: Signature(),
}


@contextmanager
def pandas_unimportable() -> Iterator[None]:
    saved = sys.modules.get("pandas")
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError
    csv_body._pandas.cache_clear()
    try:
        yield
    finally:
        sys.modules["pandas"] = saved  # type: ignore[assignment]
        csv_body._pandas.cache_clear()


def outcome(body: bytes, signature: Signature, header: bool | None) -> Any:
    try:
        return decode_csv(body, signature, header)
    except InvalidArgument as exc:
        assert "\n" not in str(exc), str(exc)
        return exc


def refused_deliberately(body: bytes, error: InvalidArgument) -> bool:
    """Where pandas is erratic the pandas-free reader refuses the body (the only differences allowed).

    - an integer beyond 64 bits: pandas makes it text, a Python int or a float depending on the order
      of the cells;
    - a header or blank line ending in a lone CR followed by a row starting with an empty value: pandas
      drops that comma or not depending on the character after it.
    """
    found = re.search(r"'([^']*)' at row \d+ is an integer beyond 64 bits", str(error))
    if found is not None:
        digits = found[1].strip()
        return len(digits) > 20 or not -(2**63) <= int(digits) < 2**63
    return "after a line ending in a lone CR" in str(error) and b"\r," in body


def cells(arr: np.ndarray) -> list[Any]:
    """The values with their types, NaN as a marker (NaN != NaN) and the sign of zero kept."""
    flat = arr.ravel().tolist()
    return [("nan",) if isinstance(v, float) and v != v else (type(v), v, str(v)) for v in flat]


@contextmanager
def pandas_for_every_body() -> Iterator[None]:
    """The reference: pandas' C parser reads the body whatever its size."""
    saved = csv_body.SMALL_BODY
    csv_body.SMALL_BODY = -1
    try:
        yield
    finally:
        csv_body.SMALL_BODY = saved


def assert_same(body: bytes, signature: Signature, header: bool | None) -> None:
    """pandas-free (pandas unimportable) and as served (pandas installed, a small body read without it) = pandas."""
    with pandas_for_every_body():
        reference = outcome(body, signature, header)
    served = outcome(body, signature, header)
    with pandas_unimportable():
        without = outcome(body, signature, header)
    where = f"body {body!r}, inputs {[(c.name, c.dtype) for c in signature.inputs]}, header={header}"
    compare(reference, served, f"{where} (served with pandas installed)")
    if isinstance(without, InvalidArgument) and refused_deliberately(body, without):
        return
    compare(reference, without, f"{where} (without pandas)")


def compare(expected: Any, got: Any, where: str) -> None:
    if isinstance(expected, InvalidArgument) or isinstance(got, InvalidArgument):
        assert type(expected) is type(got), f"{where}: pandas {expected!r}, other {got!r}"
        return
    assert list(expected) == list(got), where
    for name, column in expected.items():
        assert (got[name].dtype, got[name].shape) == (column.dtype, column.shape), f"{where}, {name}: {got[name]!r} != {column!r}"
        assert cells(got[name]) == cells(column), f"{where}, {name}: {got[name]!r} != {column!r}"


def random_body(rng: random.Random) -> tuple[bytes, int]:
    k = rng.randint(1, 4)
    pools = [POOLS[rng.choice(list(POOLS))] for _ in range(k)]
    lines = []
    if rng.random() < 0.3:
        lines.append(",".join(NAMES[:k]))
    for _ in range(rng.randint(1, 5)):
        row = [rng.choice(pool) for pool in pools]
        if rng.random() < 0.08:
            row = row[: rng.randint(0, k)] if rng.random() < 0.5 else [*row, rng.choice(NUMBERS)]
        lines.append(rng.choice([",", ",", ", "]).join(row))
        if rng.random() < 0.05:
            lines.append(rng.choice(["", "  ", "\t", " \t "]))
    ending = rng.choice(["\n", "\n", "\r\n", "\r"])
    text = ending.join(lines) + (ending if rng.random() < 0.8 else "")
    if rng.random() < 0.05:
        text = "\ufeff" + text
    return text.encode(), k


def bodies(count: int, seed: int = 0) -> Iterator[tuple[bytes, Signature, bool | None]]:
    rng = random.Random(seed)
    for _ in range(count):
        body, k = random_body(rng)
        for kind in rng.sample(list(SIGNATURES), 3):
            yield body, SIGNATURES[kind](k), rng.choice([None, None, True, False])


@pytest.mark.parametrize("body", CORPUS)
def test_tricky_bodies_decode_the_same_without_pandas(body: str) -> None:
    for make in SIGNATURES.values():
        for k in (1, 2, 3):
            for header in (None, True, False):
                assert_same(body.encode(), make(k), header)


def test_random_bodies_decode_the_same_without_pandas() -> None:
    for body, signature, header in bodies(3000):
        assert_same(body, signature, header)
