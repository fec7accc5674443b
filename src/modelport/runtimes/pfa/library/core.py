"""Core operators: arithmetic, comparison, logic, bitwise, ``max``/``min``.

``int`` is 32-bit and ``long`` 64-bit as in PFA: results outside the range
raise "int overflow"/"long overflow" in both interpreters (the batch form
computes in int64 and checks, detecting 64-bit wrap-around exactly).
``/`` always divides as doubles; ``//`` floors; ``%`` takes the sign of the
divisor and ``%%`` the sign of the dividend.  ``&&``, ``||``, ``&&&`` and
``|||`` short-circuit, so they are compiled as special forms (see
:mod:`forms.logic`) and only their types live here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import INTEGERS, NUMBERS, Impl, T, Var
from modelport.runtimes.pfa.types import (
    BOOLEAN,
    DOUBLE,
    INT,
    INT_MAX,
    INT_MIN,
    LONG,
    LONG_MAX,
    LONG_MIN,
    NULL,
    UnionType,
)
from modelport.runtimes.pfa.values import compare

A_NUM = Var("A", NUMBERS)
A_INT = Var("A", INTEGERS)
A = Var("A")
MAYBE_BOOL = UnionType((BOOLEAN, NULL))


def one(ufunc: Callable[..., Any], *args: float) -> float:
    """A float ufunc on one value via a 1-element array: the path a column takes.

    (A 0-d numpy call may take another code path, a last bit apart.)
    """
    return float(ufunc(*[np.array((a,), dtype=np.float64) for a in args])[0])


def on_columns(ufunc: Callable[..., Any]) -> Callable[..., Any]:
    """``ufunc`` over full, contiguous float64 columns, even for uniform arguments.

    numpy takes shortcuts for a scalar operand (``x ** 2.0`` becomes ``x * x``)
    that the general loop used per record does not, so every operand is
    given as a column of its own.
    """

    def vector(*args: Any) -> Any:
        columns = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args])
        return ufunc(*[np.ascontiguousarray(c) for c in columns])

    return vector


def overflow(kind: str, name: str) -> PfaRuntimeError:
    return PfaRuntimeError(f"{kind} overflow", function=name)


def _bounds(kind: str) -> tuple[int, int]:
    return (INT_MIN, INT_MAX) if kind == "int" else (LONG_MIN, LONG_MAX)


def checked_scalar(op: Callable[..., int], kind: str, name: str) -> Callable[..., int]:
    """An integer operation on Python ints with PFA's range check."""
    lo, hi = _bounds(kind)

    def scalar(*args: int) -> int:
        r = op(*args)
        if r < lo or r > hi:
            raise overflow(kind, name)
        return r

    return scalar


def _i64(v: Any) -> np.ndarray:
    return np.asarray(v, dtype=np.int64)


def _int_vector(op: Callable[..., Any], name: str) -> Callable[..., Any]:
    # 32-bit operands cannot overflow int64 under + - *: compute, then check.
    def vector(*args: Any) -> Any:
        r = op(*[_i64(a) for a in args])
        if np.any((r < INT_MIN) | (r > INT_MAX)):
            raise overflow("int", name)
        return r

    return vector


def _long_add(x: Any, y: Any) -> np.ndarray:
    x, y = _i64(x), _i64(y)
    r = x + y
    if np.any(((x ^ r) & (y ^ r)) < 0):
        raise overflow("long", "+")
    return r


def _long_sub(x: Any, y: Any) -> np.ndarray:
    x, y = _i64(x), _i64(y)
    r = x - y
    if np.any(((x ^ y) & (x ^ r)) < 0):
        raise overflow("long", "-")
    return r


def _long_mul(x: Any, y: Any) -> np.ndarray:
    x, y = _i64(x), _i64(y)
    r = x * y
    safe_x = np.where(x == 0, 1, x)
    bad = (x != 0) & ((r // safe_x != y) | ((x == -1) & (y == LONG_MIN)))
    if np.any(bad):
        raise overflow("long", "*")
    return r


def _long_neg(x: Any) -> np.ndarray:
    x = _i64(x)
    if np.any(x == LONG_MIN):
        raise overflow("long", "u-")
    return -x


_LONG_VECTORS = {"+": _long_add, "-": _long_sub, "*": _long_mul}
_PY_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def _arith(name: str) -> LibFunction:
    op = _PY_OPS[name]

    def build(ctx: SimpleNamespace) -> Impl:
        kind = ctx.bindings["A"].kind
        if kind == "int":
            return Impl(checked_scalar(op, "int", name), _int_vector(op, name))
        if kind == "long":
            return Impl(checked_scalar(op, "long", name), _LONG_VECTORS[name])
        return Impl(op, op)

    return fn(name, sig([A_NUM, A_NUM], A_NUM, build=build))


def _divide_scalar(x: float, y: float) -> float:
    try:
        return x / y
    except ZeroDivisionError:  # PFA divides as IEEE doubles: inf or nan
        with np.errstate(all="ignore"):
            return float(np.float64(x) / np.float64(y))


def _zero_check(y: Any, name: str) -> None:
    if np.any(np.asarray(y) == 0):
        raise PfaRuntimeError("integer division by zero", function=name)


def _floor_divide(ctx: SimpleNamespace) -> Impl:
    lo, hi = _bounds(ctx.bindings["A"].kind)
    kind = ctx.bindings["A"].kind

    def scalar(x: int, y: int) -> int:
        if y == 0:
            raise PfaRuntimeError("integer division by zero", function="//")
        r = x // y
        if r < lo or r > hi:
            raise overflow(kind, "//")
        return r

    def vector(x: Any, y: Any) -> Any:
        x, y = _i64(x), _i64(y)
        _zero_check(y, "//")
        if np.any((x == lo) & (y == -1)):
            raise overflow(kind, "//")
        return np.floor_divide(x, y)

    return Impl(scalar, vector)


def _negate(ctx: SimpleNamespace) -> Impl:
    kind = ctx.bindings["A"].kind
    if kind == "int":
        return Impl(checked_scalar(operator.neg, "int", "u-"), _int_vector(operator.neg, "u-"))
    if kind == "long":
        return Impl(checked_scalar(operator.neg, "long", "u-"), _long_neg)
    return Impl(operator.neg, np.negative)


def _modulo(ctx: SimpleNamespace) -> Impl:
    if ctx.bindings["A"].kind in INTEGERS:

        def scalar(k: int, n: int) -> int:
            if n == 0:
                raise PfaRuntimeError("integer division by zero", function="%")
            return k % n

        def vector(k: Any, n: Any) -> Any:
            _zero_check(n, "%")
            return np.mod(_i64(k), _i64(n))

        return Impl(scalar, vector)
    return Impl(lambda k, n: one(np.mod, k, n), on_columns(np.mod))


def _remainder(ctx: SimpleNamespace) -> Impl:
    if ctx.bindings["A"].kind in INTEGERS:

        def scalar(k: int, n: int) -> int:
            if n == 0:
                raise PfaRuntimeError("integer division by zero", function="%%")
            r = abs(k) % abs(n)
            return -r if k < 0 else r

        def vector(k: Any, n: Any) -> Any:
            _zero_check(n, "%%")
            return np.fmod(_i64(k), _i64(n))

        return Impl(scalar, vector)
    return Impl(lambda k, n: one(np.fmod, k, n), on_columns(np.fmod))


def _power(ctx: SimpleNamespace) -> Impl:
    kind = ctx.bindings["A"].kind
    if kind not in INTEGERS:
        return Impl(lambda x, y: one(np.power, x, y), on_columns(np.power))
    lo, hi = _bounds(kind)

    def scalar(x: int, y: int) -> int:
        if y >= 0:
            if abs(x) > 1 and y > 64:  # certainly out of range; avoid a huge bignum
                raise overflow(kind, "**")
            r = x**y
        elif x == 0:
            raise overflow(kind, "**")
        else:
            r = int(x**y)  # |x| >= 1: truncates toward zero, as Java's cast does
        if r < lo or r > hi:
            raise overflow(kind, "**")
        return r

    return Impl(scalar)


def _comparison(name: str, op: Callable[[Any, Any], bool], test: Callable[[int], bool]) -> LibFunction:
    def build(ctx: SimpleNamespace) -> Impl:
        t = ctx.bindings["A"]
        if t.is_numeric or t.kind in ("boolean", "string", "bytes"):
            vector = (lambda x, y: np.asarray(op(x, y), dtype=bool)) if t.kind != "bytes" else None
            return Impl(op, vector)
        if name in ("==", "!=") and t.kind == "enum":
            return Impl(op, lambda x, y: np.asarray(op(x, y), dtype=bool))
        if name in ("==", "!=") and t.kind != "union":
            return Impl(op)
        return Impl(lambda x, y: test(compare(t, x, y)))

    return fn(name, sig([A, A], T(BOOLEAN), build=build))


def _cmp(ctx: SimpleNamespace) -> Impl:
    t = ctx.bindings["A"]
    if t.is_numeric or t.kind in ("boolean", "string"):
        return Impl(lambda x, y: (x > y) - (x < y), _cmp_vector)
    return Impl(lambda x, y: compare(t, x, y))


def _cmp_vector(x: Any, y: Any) -> Any:
    return np.asarray(x > y, dtype=np.int64) - np.asarray(x < y, dtype=np.int64)


def _extremum(is_max: bool) -> Callable[[SimpleNamespace], Impl]:
    def build(ctx: SimpleNamespace) -> Impl:
        t = ctx.bindings["A"]
        if t.is_numeric or t.kind in ("boolean", "string"):
            if is_max:
                return Impl(lambda x, y: x if x >= y else y, lambda x, y: np.where(np.asarray(x >= y), x, y))
            return Impl(lambda x, y: x if x < y else y, lambda x, y: np.where(np.asarray(x < y), x, y))
        if is_max:
            return Impl(lambda x, y: x if compare(t, x, y) >= 0 else y)
        return Impl(lambda x, y: x if compare(t, x, y) < 0 else y)

    return build


def _kleene_not(x: bool | None) -> bool | None:
    return None if x is None else not x


def _bitwise(name: str, op: Callable[..., int], arity: int) -> LibFunction:
    return fn(
        name,
        sig([T(INT)] * arity, T(INT), op, op),
        sig([T(LONG)] * arity, T(LONG), op, op),
    )


FUNCTIONS = [
    _arith("+"),
    _arith("-"),
    _arith("*"),
    fn("/", sig([T(DOUBLE), T(DOUBLE)], T(DOUBLE), _divide_scalar, np.divide)),
    fn("//", sig([A_INT, A_INT], A_INT, build=_floor_divide)),
    fn("u-", sig([A_NUM], A_NUM, build=_negate)),
    fn("%", sig([A_NUM, A_NUM], A_NUM, build=_modulo)),
    fn("%%", sig([A_NUM, A_NUM], A_NUM, build=_remainder)),
    fn("**", sig([A_NUM, A_NUM], A_NUM, build=_power)),
    _comparison("==", operator.eq, lambda c: c == 0),
    _comparison("!=", operator.ne, lambda c: c != 0),
    _comparison("<", operator.lt, lambda c: c < 0),
    _comparison("<=", operator.le, lambda c: c <= 0),
    _comparison(">", operator.gt, lambda c: c > 0),
    _comparison(">=", operator.ge, lambda c: c >= 0),
    fn("cmp", sig([A, A], T(INT), build=_cmp)),
    fn("max", sig([A, A], A, build=_extremum(True))),
    fn("min", sig([A, A], A, build=_extremum(False))),
    fn("!", sig([T(BOOLEAN)], T(BOOLEAN), operator.not_, np.logical_not)),
    fn("^^", sig([T(BOOLEAN), T(BOOLEAN)], T(BOOLEAN), operator.ne, np.logical_xor)),
    fn("!!!", sig([T(MAYBE_BOOL)], T(MAYBE_BOOL), _kleene_not)),
    _bitwise("&", operator.and_, 2),
    _bitwise("|", operator.or_, 2),
    _bitwise("^", operator.xor, 2),
    _bitwise("~", operator.invert, 1),
]
