"""``cast.*``: number precision changes and one-hot "fanouts".

``cast.int``/``cast.long`` round a floating value half up (``floor(x + 0.5)``)
and raise "int overflow"/"long overflow" outside the range, NaN included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.core import overflow
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import FLOATS, NUMBERS, AnyEnum, Arr, Impl, T, Var
from modelport.runtimes.pfa.types import (
    BOOLEAN,
    DOUBLE,
    FLOAT,
    INT,
    INT_MAX,
    INT_MIN,
    LONG,
    LONG_MAX,
    LONG_MIN,
    STRING,
    ArrayType,
    AvroType,
)

A_NUM = Var("A", NUMBERS)


def _to_integer(kind: str, name: str) -> Callable[[SimpleNamespace], Impl]:
    lo, hi = (INT_MIN, INT_MAX) if kind == "int" else (LONG_MIN, LONG_MAX)

    def build(ctx: SimpleNamespace) -> Impl:
        from_float = ctx.bindings["A"].kind in FLOATS

        def scalar(x: Any) -> int:
            if from_float:
                if not math.isfinite(x):
                    raise overflow(kind, name)
                x = math.floor(x + 0.5)
            if x < lo or x > hi:
                raise overflow(kind, name)
            return int(x)

        def vector(x: Any) -> Any:
            if from_float:
                r = np.floor(np.asarray(x, dtype=np.float64) + 0.5)
                if not np.all(np.isfinite(r)) or np.any((r < lo) | (r >= float(hi) + 1.0)):
                    raise overflow(kind, name)
                return r.astype(np.int64)
            x = np.asarray(x, dtype=np.int64)
            if np.any((x < lo) | (x > hi)):
                raise overflow(kind, name)
            return x

        return Impl(scalar, vector)

    return build


def _to_float(x: Any) -> Any:
    return float(x)


def _to_float_vector(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64)


def _fanout(name: str, item: AvroType) -> LibFunction:
    one: Any = 1.0 if item.kind in FLOATS else (1 if item.kind in ("int", "long") else True)
    zero: Any = 0.0 if item.kind in FLOATS else (0 if item.kind in ("int", "long") else False)

    def hot(flags: list[bool]) -> list[Any]:
        return [one if f else zero for f in flags]

    def from_enum(ctx: SimpleNamespace) -> Impl:
        symbols = ctx.bindings["E"].symbols
        return Impl(lambda x: hot([x == s for s in symbols]))

    def from_string(x: str, dictionary: list[str], out_of_range: bool) -> list[Any]:
        if len(set(dictionary)) != len(dictionary):
            raise PfaRuntimeError("non-distinct values in dictionary", function=name)
        flags = [x == s for s in dictionary]
        return hot([*flags, x not in dictionary] if out_of_range else flags)

    def from_int(x: int, minimum: int, maximum: int, out_of_range: bool) -> list[Any]:
        flags = [x == i for i in range(minimum, maximum)]
        return hot([*flags, x < minimum or x >= maximum] if out_of_range else flags)

    ret = T(ArrayType(item))
    return fn(
        name,
        sig([AnyEnum("E")], ret, build=from_enum),
        sig([T(STRING), Arr(T(STRING)), T(BOOLEAN)], ret, from_string),
        sig([T(INT), T(INT), T(INT), T(BOOLEAN)], ret, from_int),
    )


def _enum_to_int(ctx: SimpleNamespace) -> Impl:
    index = ctx.bindings["E"].index
    return Impl(lambda x: index[x])


FUNCTIONS: list[LibFunction] = [
    fn("enum.toString", sig([AnyEnum("E")], T(STRING), str, lambda x: x)),
    fn("enum.toInt", sig([AnyEnum("E")], T(INT), build=_enum_to_int)),
    fn(
        "enum.numSymbols",
        sig([AnyEnum("E")], T(INT), build=lambda ctx: Impl(lambda x, k=len(ctx.bindings["E"].symbols): k)),
    ),
    fn("cast.int", sig([A_NUM], T(INT), build=_to_integer("int", "cast.int"))),
    fn("cast.long", sig([A_NUM], T(LONG), build=_to_integer("long", "cast.long"))),
    fn("cast.float", sig([A_NUM], T(FLOAT), _to_float, _to_float_vector)),
    fn("cast.double", sig([A_NUM], T(DOUBLE), _to_float, _to_float_vector)),
    _fanout("cast.fanoutBoolean", BOOLEAN),
    _fanout("cast.fanoutInt", INT),
    _fanout("cast.fanoutLong", LONG),
    _fanout("cast.fanoutFloat", FLOAT),
    _fanout("cast.fanoutDouble", DOUBLE),
]
