"""``a.*``: array functions.

Index arguments follow PFA: negative indexes count from the end, and
``a.subseq``/``a.remove`` with a range clip it the way Python slices do.
Sums, means and extrema run left to right in both interpreters, so a batch
over a 2-D numeric column gives bit-for-bit the per-record answer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.core import checked_scalar, one
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import NUMBERS, Arr, Fcn, Impl, Nullable, T, Var
from modelport.runtimes.pfa.types import BOOLEAN, DOUBLE, INT, ArrayType, AvroType
from modelport.runtimes.pfa.values import compare
from modelport.runtimes.pfa.vector import apply_rows, is_rowwise, rows_in

A, B = Var("A"), Var("B")
A_NUM = Var("A", NUMBERS)
ARR_A = Arr(A)


def _empty(name: str) -> PfaRuntimeError:
    return PfaRuntimeError("empty array", function=name)


def _index(a: list[Any], i: int, name: str, *, allow_end: bool = False) -> int:
    size = len(a)
    j = i + size if i < 0 else i
    if not 0 <= j < size + (1 if allow_end else 0):
        raise PfaRuntimeError("index out of range", function=name)
    return j


def _matrix_or_rows(kernel: Callable[..., Any], scalar: Callable[..., Any], ret: AvroType) -> Callable[..., Any]:
    """A batch form that runs ``kernel`` on a 2-D numeric column, else row by row."""

    def vector(xs: Any, *rest: Any) -> Any:
        if isinstance(xs, np.ndarray) and xs.ndim == 2 and not any(is_rowwise(r) for r in rest):
            return kernel(np.ascontiguousarray(xs), *rest)
        n = next(rows_in(v) for v in (xs, *rest) if is_rowwise(v))
        return apply_rows(scalar, (xs, *rest), n, ret)

    return vector


def _less(t: AvroType) -> Callable[[Any, Any], bool]:
    if t.is_numeric or t.kind in ("string", "boolean"):
        return lambda x, y: x < y
    return lambda x, y: compare(t, x, y) < 0


# ---------------------------------------------------------------- sums and extrema


def _sum_build(ctx: SimpleNamespace) -> Impl:
    kind = ctx.bindings["A"].kind
    if kind in ("int", "long"):
        scalar = checked_scalar(lambda a: sum(a), kind, "a.sum")
        return Impl(
            scalar,
            _matrix_or_rows(lambda m: np.array([scalar(r) for r in m.tolist()], dtype=np.int64), scalar, ctx.ret),
        )

    def fsum(a: list[float]) -> float:
        total = 0.0
        for x in a:
            total = total + x
        return total

    def fsum_matrix(m: np.ndarray) -> np.ndarray:
        total = np.zeros(m.shape[0])
        for j in range(m.shape[1]):
            total = total + m[:, j]
        return total

    return Impl(fsum, _matrix_or_rows(fsum_matrix, fsum, ctx.ret))


def _product(ctx: SimpleNamespace) -> Impl:
    kind = ctx.bindings["A"].kind

    def prod(a: list[Any]) -> Any:
        total: Any = 1 if kind in ("int", "long") else 1.0
        for x in a:
            total = total * x
        return total

    return Impl(checked_scalar(prod, kind, "a.product") if kind in ("int", "long") else prod)


def _mean(a: list[float]) -> float:
    if not a:
        return math.nan
    total = 0.0
    for x in a:
        total = total + x
    return total / len(a)


def _mean_matrix(m: np.ndarray) -> np.ndarray:
    if m.shape[1] == 0:
        return np.full(m.shape[0], np.nan)
    total = np.zeros(m.shape[0])
    for j in range(m.shape[1]):
        total = total + m[:, j]
    return total / m.shape[1]


def _geomean(a: list[float]) -> float:
    if not a:
        return math.nan
    total = 0.0
    for x in a:
        total = total + one(np.log, x)
    return one(np.exp, total / len(a))


def _lnsum(a: list[float]) -> float:
    total = 0.0
    for x in a:
        total = total + one(np.log, x)
    return total


def _extreme_build(name: str, want_max: bool, want_index: bool) -> Callable[[SimpleNamespace], Impl]:
    def build(ctx: SimpleNamespace) -> Impl:
        less = _less(ctx.bindings["A"])

        def scalar(a: list[Any]) -> Any:
            if not a:
                raise _empty(name)
            best = 0
            for i in range(1, len(a)):
                if less(a[best], a[i]) if want_max else less(a[i], a[best]):
                    best = i
            return best if want_index else a[best]

        def kernel(m: np.ndarray) -> np.ndarray:
            if m.shape[1] == 0:
                raise _empty(name)
            best_value, best_index = m[:, 0], np.zeros(m.shape[0], dtype=np.int64)
            for j in range(1, m.shape[1]):
                col = m[:, j]
                better = (best_value < col) if want_max else (col < best_value)
                best_value = np.where(better, col, best_value)
                best_index = np.where(better, j, best_index)
            return best_index if want_index else best_value

        numeric = ctx.bindings["A"].is_numeric
        return Impl(scalar, _matrix_or_rows(kernel, scalar, ctx.ret) if numeric else None)

    return build


def _extreme_lt(name: str, want_max: bool, want_index: bool) -> Callable[..., Any]:
    def scalar(a: list[Any], lt: Callable[[Any, Any], bool]) -> Any:
        if not a:
            raise _empty(name)
        best = 0
        for i in range(1, len(a)):
            if lt(a[best], a[i]) if want_max else lt(a[i], a[best]):
                best = i
        return best if want_index else a[best]

    return scalar


def _top_n(name: str, want_max: bool, want_index: bool) -> Callable[[SimpleNamespace], Impl]:
    def build(ctx: SimpleNamespace) -> Impl:
        t = ctx.bindings["A"]

        def scalar(a: list[Any], n: int) -> list[Any]:
            if not a:
                raise _empty(name)
            if n < 0:
                raise PfaRuntimeError("n < 0", function=name)
            sign = -1 if want_max else 1

            def by_value(i: int, j: int) -> int:
                return sign * compare(t, a[i], a[j]) or (i > j) - (i < j)

            order = sorted(range(len(a)), key=functools.cmp_to_key(by_value))[:n]
            return order if want_index else [a[i] for i in order]

        return Impl(scalar)

    return build


# ---------------------------------------------------------------- structure


def _subseq(a: list[Any], start: int, end: int) -> list[Any]:
    return a[start:end]


def _head(a: list[Any]) -> Any:
    if not a:
        raise _empty("a.head")
    return a[0]


def _last(a: list[Any]) -> Any:
    if not a:
        raise _empty("a.last")
    return a[-1]


def _tail(a: list[Any]) -> list[Any]:
    if not a:
        raise _empty("a.tail")
    return a[1:]


def _init(a: list[Any]) -> list[Any]:
    if not a:
        raise _empty("a.init")
    return a[:-1]


def _insert(a: list[Any], i: int, item: Any) -> list[Any]:
    j = _index(a, i, "a.insert", allow_end=True)
    return [*a[:j], item, *a[j:]]


def _replace(a: list[Any], i: int, item: Any) -> list[Any]:
    j = _index(a, i, "a.replace")
    return [*a[:j], item, *a[j + 1 :]]


def _remove_range(a: list[Any], start: int, end: int) -> list[Any]:
    out = list(a)
    del out[start:end]
    return out


def _remove_at(a: list[Any], i: int) -> list[Any]:
    j = _index(a, i, "a.remove")
    return a[:j] + a[j + 1 :]


def _rotate(a: list[Any], steps: int) -> list[Any]:
    if steps < 0:
        raise PfaRuntimeError("steps out of range", function="a.rotate")
    if not a:
        return []
    k = steps % len(a)
    return a[k:] + a[:k]


def _sort_build(ctx: SimpleNamespace) -> Impl:
    t = ctx.bindings["A"]
    if t.is_numeric or t.kind in ("string", "boolean"):
        return Impl(sorted)
    return Impl(lambda a: sorted(a, key=functools.cmp_to_key(lambda x, y: compare(t, x, y))))


def _sort_lt(a: list[Any], lt: Callable[[Any, Any], bool]) -> list[Any]:
    return sorted(a, key=functools.cmp_to_key(lambda x, y: -1 if lt(x, y) else (1 if lt(y, x) else 0)))


def _distinct(a: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in a:
        if x not in out:
            out.append(x)
    return out


def _zipmap(a: list[Any], b: list[Any], f: Callable[[Any, Any], Any]) -> list[Any]:
    if len(a) != len(b):
        raise PfaRuntimeError("misaligned arrays", function="a.zipmap")
    return [f(x, y) for x, y in zip(a, b, strict=False)]


def _reduce(name: str, right: bool) -> Callable[..., Any]:
    def scalar(a: list[Any], f: Callable[[Any, Any], Any]) -> Any:
        if not a:
            raise _empty(name)
        if right:
            tally = a[-1]
            for x in reversed(a[:-1]):
                tally = f(x, tally)
            return tally
        tally = a[0]
        for x in a[1:]:
            tally = f(tally, x)
        return tally

    return scalar


def _fold(a: list[Any], zero: Any, f: Callable[[Any, Any], Any]) -> Any:
    tally = zero
    for x in a:
        tally = f(tally, x)
    return tally


def _fold_right(a: list[Any], zero: Any, f: Callable[[Any, Any], Any]) -> Any:
    tally = zero
    for x in reversed(a):
        tally = f(x, tally)
    return tally


def _take_while(a: list[Any], f: Callable[[Any], bool]) -> list[Any]:
    out = []
    for x in a:
        if not f(x):
            break
        out.append(x)
    return out


def _drop_while(a: list[Any], f: Callable[[Any], bool]) -> list[Any]:
    for i, x in enumerate(a):
        if not f(x):
            return a[i:]
    return []


def _index_of(a: list[Any], x: Any) -> int:
    for i, y in enumerate(a):
        if y == x:
            return i
    return -1


def _rindex_of(a: list[Any], x: Any) -> int:
    for i in range(len(a) - 1, -1, -1):
        if a[i] == x:
            return i
    return -1


def _index_where(a: list[Any], f: Callable[[Any], bool]) -> int:
    for i, y in enumerate(a):
        if f(y):
            return i
    return -1


def _starts(a: list[Any], prefix: list[Any]) -> bool:
    return a[: len(prefix)] == prefix


def _ends(a: list[Any], suffix: list[Any]) -> bool:
    return not suffix or a[-len(suffix) :] == suffix


def _len_vector(xs: Any) -> Any:
    if isinstance(xs, np.ndarray) and xs.ndim == 2:
        return np.full(xs.shape[0], xs.shape[1], dtype=np.int64)
    return np.array([len(x) for x in xs], dtype=np.int64)


def _column(j: int, name: str, scalar: Callable[..., Any]) -> Callable[..., Impl]:
    def build(ctx: SimpleNamespace) -> Impl:
        def kernel(m: np.ndarray) -> np.ndarray:
            if m.shape[1] == 0:
                raise _empty(name)
            return m[:, j].copy()

        return Impl(scalar, _matrix_or_rows(kernel, scalar, ctx.ret))

    return build


_BOOL_FCN = Fcn((A,), T(BOOLEAN))

FUNCTIONS: list[LibFunction] = [
    fn("a.len", sig([ARR_A], T(INT), len, _len_vector)),
    fn("a.subseq", sig([ARR_A, T(INT), T(INT)], ARR_A, _subseq)),
    fn("a.head", sig([ARR_A], A, build=_column(0, "a.head", _head))),
    fn("a.last", sig([ARR_A], A, build=_column(-1, "a.last", _last))),
    fn("a.tail", sig([ARR_A], ARR_A, _tail)),
    fn("a.init", sig([ARR_A], ARR_A, _init)),
    fn("a.concat", sig([ARR_A, ARR_A], ARR_A, lambda a, b: a + b)),
    fn("a.append", sig([ARR_A, A], ARR_A, lambda a, x: [*a, x])),
    fn("a.cons", sig([A, ARR_A], ARR_A, lambda x, a: [x, *a])),
    fn("a.insert", sig([ARR_A, T(INT), A], ARR_A, _insert)),
    fn("a.replace", sig([ARR_A, T(INT), A], ARR_A, _replace)),
    fn(
        "a.remove",
        sig([ARR_A, T(INT), T(INT)], ARR_A, _remove_range),
        sig([ARR_A, T(INT)], ARR_A, _remove_at),
    ),
    fn("a.rotate", sig([ARR_A, T(INT)], ARR_A, _rotate)),
    fn("a.reverse", sig([ARR_A], ARR_A, lambda a: a[::-1])),
    fn("a.flatten", sig([Arr(ARR_A)], ARR_A, lambda a: [x for inner in a for x in inner])),
    fn("a.sort", sig([ARR_A], ARR_A, build=_sort_build)),
    fn("a.sortLT", sig([ARR_A, Fcn((A, A), T(BOOLEAN))], ARR_A, _sort_lt)),
    fn("a.distinct", sig([ARR_A], ARR_A, _distinct)),
    fn("a.sum", sig([Arr(A_NUM)], A_NUM, build=_sum_build)),
    fn("a.product", sig([Arr(A_NUM)], A_NUM, build=_product)),
    fn("a.mean", sig([Arr(T(DOUBLE))], T(DOUBLE), _mean, _matrix_or_rows(_mean_matrix, _mean, DOUBLE))),
    fn("a.geomean", sig([Arr(T(DOUBLE))], T(DOUBLE), _geomean)),
    fn("a.lnsum", sig([Arr(T(DOUBLE))], T(DOUBLE), _lnsum)),
    fn("a.max", sig([ARR_A], A, build=_extreme_build("a.max", True, False))),
    fn("a.min", sig([ARR_A], A, build=_extreme_build("a.min", False, False))),
    fn("a.argmax", sig([ARR_A], T(INT), build=_extreme_build("a.argmax", True, True))),
    fn("a.argmin", sig([ARR_A], T(INT), build=_extreme_build("a.argmin", False, True))),
    fn("a.maxLT", sig([ARR_A, Fcn((A, A), T(BOOLEAN))], A, _extreme_lt("a.maxLT", True, False))),
    fn("a.minLT", sig([ARR_A, Fcn((A, A), T(BOOLEAN))], A, _extreme_lt("a.minLT", False, False))),
    fn("a.argmaxLT", sig([ARR_A, Fcn((A, A), T(BOOLEAN))], T(INT), _extreme_lt("a.argmaxLT", True, True))),
    fn("a.argminLT", sig([ARR_A, Fcn((A, A), T(BOOLEAN))], T(INT), _extreme_lt("a.argminLT", False, True))),
    fn("a.maxN", sig([ARR_A, T(INT)], ARR_A, build=_top_n("a.maxN", True, False))),
    fn("a.minN", sig([ARR_A, T(INT)], ARR_A, build=_top_n("a.minN", False, False))),
    fn("a.argmaxN", sig([ARR_A, T(INT)], T(ArrayType(INT)), build=_top_n("a.argmaxN", True, True))),
    fn("a.argminN", sig([ARR_A, T(INT)], T(ArrayType(INT)), build=_top_n("a.argminN", False, True))),
    fn("a.map", sig([ARR_A, Fcn((A,), B)], Arr(B), lambda a, f: [f(x) for x in a])),
    fn("a.mapWithIndex", sig([ARR_A, Fcn((T(INT), A), B)], Arr(B), lambda a, f: [f(i, x) for i, x in enumerate(a)])),
    fn("a.filter", sig([ARR_A, _BOOL_FCN], ARR_A, lambda a, f: [x for x in a if f(x)])),
    fn(
        "a.filterWithIndex",
        sig([ARR_A, Fcn((T(INT), A), T(BOOLEAN))], ARR_A, lambda a, f: [x for i, x in enumerate(a) if f(i, x)]),
    ),
    fn(
        "a.filterMap",
        sig([ARR_A, Fcn((A,), Nullable(B))], Arr(B), lambda a, f: [y for y in (f(x) for x in a) if y is not None]),
    ),
    fn("a.flatMap", sig([ARR_A, Fcn((A,), Arr(B))], Arr(B), lambda a, f: [y for x in a for y in f(x)])),
    fn("a.zipmap", sig([ARR_A, Arr(B), Fcn((A, B), Var("Z"))], Arr(Var("Z")), _zipmap)),
    fn("a.reduce", sig([ARR_A, Fcn((A, A), A)], A, _reduce("a.reduce", False))),
    fn("a.reduceRight", sig([ARR_A, Fcn((A, A), A)], A, _reduce("a.reduceRight", True))),
    fn("a.fold", sig([ARR_A, B, Fcn((B, A), B)], B, _fold)),
    fn("a.foldRight", sig([ARR_A, B, Fcn((A, B), B)], B, _fold_right)),
    fn("a.takeWhile", sig([ARR_A, _BOOL_FCN], ARR_A, _take_while)),
    fn("a.dropWhile", sig([ARR_A, _BOOL_FCN], ARR_A, _drop_while)),
    fn("a.any", sig([ARR_A, _BOOL_FCN], T(BOOLEAN), lambda a, f: any(f(x) for x in a))),
    fn("a.all", sig([ARR_A, _BOOL_FCN], T(BOOLEAN), lambda a, f: all(f(x) for x in a))),
    fn(
        "a.index",
        sig([ARR_A, A], T(INT), _index_of),
        sig([ARR_A, _BOOL_FCN], T(INT), _index_where),
    ),
    fn("a.rindex", sig([ARR_A, A], T(INT), _rindex_of)),
    fn(
        "a.contains",
        sig([ARR_A, A], T(BOOLEAN), lambda a, x: x in a),
        sig([ARR_A, _BOOL_FCN], T(BOOLEAN), lambda a, f: any(f(x) for x in a)),
    ),
    fn(
        "a.count",
        sig([ARR_A, A], T(INT), lambda a, x: sum(1 for y in a if y == x)),
        sig([ARR_A, _BOOL_FCN], T(INT), lambda a, f: sum(1 for y in a if f(y))),
    ),
    fn("a.startswith", sig([ARR_A, ARR_A], T(BOOLEAN), _starts)),
    fn("a.endswith", sig([ARR_A, ARR_A], T(BOOLEAN), _ends)),
    fn("a.union", sig([ARR_A, ARR_A], ARR_A, lambda a, b: _distinct(a + b))),
    fn("a.intersection", sig([ARR_A, ARR_A], ARR_A, lambda a, b: [x for x in _distinct(a) if x in b])),
    fn("a.diff", sig([ARR_A, ARR_A], ARR_A, lambda a, b: [x for x in _distinct(a) if x not in b])),
    fn("a.seteq", sig([ARR_A, ARR_A], T(BOOLEAN), lambda a, b: all(x in b for x in a) and all(y in a for y in b))),
    fn("a.subset", sig([ARR_A, ARR_A], T(BOOLEAN), lambda a, b: all(x in b for x in a))),
    fn("a.disjoint", sig([ARR_A, ARR_A], T(BOOLEAN), lambda a, b: not any(x in b for x in a))),
]
