"""``m.*``, ``m.special.*`` and the link functions ``m.link.*``.

Both interpreters call the same numpy ufuncs (one value at a time, or a
contiguous column at a time) so their results agree to the last bit; plain
``math`` functions may differ from numpy's SIMD kernels in the last place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.core import checked_scalar, on_columns, one, overflow
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import FLOATS, NUMBERS, Arr, Impl, Map, T, Var
from modelport.runtimes.pfa.types import (
    DOUBLE,
    FLOAT,
    INT,
    INT_MAX,
    INT_MIN,
    LONG,
    LONG_MAX,
    LONG_MIN,
    ArrayType,
    MapType,
)
from modelport.runtimes.pfa.vector import is_rowwise

A_NUM = Var("A", NUMBERS)


def contiguous(v: Any) -> Any:
    """Columns into ufuncs are made contiguous: strided inputs may take other code paths."""
    return np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v


def ufunc_impl(ufunc: Callable[..., Any]) -> Impl:
    def scalar(*args: float) -> float:
        return one(ufunc, *args)

    return Impl(scalar, on_columns(ufunc))


def _unary(name: str, ufunc: Callable[..., Any]) -> LibFunction:
    impl = ufunc_impl(ufunc)
    return fn(name, sig([T(DOUBLE)], T(DOUBLE), impl.scalar, impl.vector))


def _binary(name: str, ufunc: Callable[..., Any]) -> LibFunction:
    impl = ufunc_impl(ufunc)
    return fn(name, sig([T(DOUBLE), T(DOUBLE)], T(DOUBLE), impl.scalar, impl.vector))


def _abs(ctx: SimpleNamespace) -> Impl:
    kind = ctx.bindings["A"].kind
    if kind in FLOATS:
        return Impl(abs, np.abs)
    lo = INT_MIN if kind == "int" else LONG_MIN

    def vector(x: Any) -> Any:
        x = np.asarray(x, dtype=np.int64)
        if np.any(x == lo):
            raise overflow(kind, "m.abs")
        return np.abs(x)

    return Impl(checked_scalar(abs, kind, "m.abs"), vector)


def _round(kind: str) -> Impl:
    lo, hi = (INT_MIN, INT_MAX) if kind == "int" else (LONG_MIN, LONG_MAX)

    def scalar(x: float) -> int:
        r = math.floor(x + 0.5) if math.isfinite(x) else None
        if r is None or r < lo or r > hi:
            raise overflow(kind, "m.round")
        return int(r)

    def vector(x: Any) -> Any:
        r = np.floor(contiguous(x) + 0.5)
        # Exact bounds: float64 cannot hold LONG_MAX, so compare against 2**63.
        if not np.all(np.isfinite(r)) or np.any((r < lo) | (r >= float(hi) + 1.0)):
            raise overflow(kind, "m.round")
        return r.astype(np.int64)

    return Impl(scalar, vector)


def _signum_scalar(x: float) -> int:
    return 0 if x != x or x == 0 else (1 if x > 0 else -1)


def _signum_vector(x: Any) -> Any:
    return np.where(x > 0, 1, np.where(x < 0, -1, 0)).astype(np.int64)


def _log_base(x: float, base: int) -> float:
    if base <= 0:
        raise PfaRuntimeError("base must be positive", function="m.log")
    return one(lambda a, b: np.log(a) / np.log(b), x, float(base))


def _log_base_vector(x: Any, base: Any) -> Any:
    if np.any(np.asarray(base) <= 0):
        raise PfaRuntimeError("base must be positive", function="m.log")
    return on_columns(lambda a, b: np.log(a) / np.log(b))(x, base)


def _copysign(ctx: SimpleNamespace) -> Impl:
    if ctx.bindings["A"].kind in FLOATS:
        return ufunc_impl(np.copysign)
    kind = ctx.bindings["A"].kind
    return Impl(checked_scalar(lambda m, s: abs(m) * (-1 if s < 0 else 1), kind, "m.copysign"))


def _safe_lgamma(x: float) -> float:
    try:
        return math.lgamma(x)
    except ValueError:  # a pole: 0, -1, -2, ...
        return math.inf


def _special(name: str, f: Callable[[float], float]) -> LibFunction:
    # No numpy ufunc exists: both paths call the same math function per value.
    per_value = np.frompyfunc(f, 1, 1)
    return fn(
        name,
        sig(
            [T(DOUBLE)],
            T(DOUBLE),
            lambda x: float(f(x)),
            lambda x: np.asarray(per_value(x), dtype=np.float64),
        ),
    )


_erf = np.frompyfunc(math.erf, 1, 1)


# ---------------------------------------------------------------- link functions


def _logit(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def _probit(x: Any) -> Any:
    return (np.asarray(_erf(x / math.sqrt(2.0)), dtype=np.float64) + 1.0) / 2.0


def _cloglog(x: Any) -> Any:
    return 1.0 - np.exp(-np.exp(x))


def _loglog(x: Any) -> Any:
    return np.exp(-np.exp(-x))


def _cauchit(x: Any) -> Any:
    return 0.5 + np.arctan(x) / math.pi


def _softplus(x: Any) -> Any:
    return np.log1p(np.exp(x))


def _relu(x: Any) -> Any:
    return np.where(np.isnan(x), x, np.maximum(x, 0.0))


def _link(name: str, kernel: Callable[[Any], Any]) -> LibFunction:
    """A link function on a double, an array of doubles or a map of doubles."""

    def scalar(x: float) -> float:
        return one(kernel, x)

    def vector(x: Any) -> Any:
        return np.asarray(kernel(contiguous(np.asarray(x, dtype=np.float64))), dtype=np.float64)

    def on_array(xs: list[float]) -> list[float]:
        return [float(v) for v in kernel(np.asarray(xs, dtype=np.float64))]

    def on_array_vector(xs: Any) -> Any:
        if isinstance(xs, np.ndarray) and xs.ndim == 2:
            return np.asarray(kernel(np.ascontiguousarray(xs, dtype=np.float64)), dtype=np.float64)
        return _rows(on_array, xs)

    def on_map(m: dict[str, float]) -> dict[str, float]:
        return dict(zip(m, on_array(list(m.values())), strict=False))

    return fn(
        name,
        sig([T(DOUBLE)], T(DOUBLE), scalar, vector),
        sig([Arr(T(DOUBLE))], T(ArrayType(DOUBLE)), on_array, on_array_vector),
        sig([Map(T(DOUBLE))], T(MapType(DOUBLE)), on_map),
    )


def _rows(f: Callable[[Any], Any], xs: Any) -> Any:
    from modelport.runtimes.pfa.vector import apply_rows, row_values

    n = len(xs) if is_rowwise(xs) else 1
    return apply_rows(f, [xs], n, ArrayType(DOUBLE)) if is_rowwise(xs) else f(row_values(xs, n)[0])


def softmax_list(xs: list[float]) -> list[float]:
    """Softmax with the maximum subtracted first (no overflow), summing left to right."""
    if not xs:
        raise PfaRuntimeError("empty input", function="m.link.softmax")
    top = xs[0]
    for v in xs[1:]:
        top = v if v > top else top
    exps = [float(e) for e in np.exp(np.asarray(xs, dtype=np.float64) - top)]
    total = 0.0
    for e in exps:
        total = total + e
    return [e / total for e in exps]


def _softmax_vector(xs: Any) -> Any:
    if not (isinstance(xs, np.ndarray) and xs.ndim == 2):
        return _rows(softmax_list, xs)
    if xs.shape[1] == 0:
        raise PfaRuntimeError("empty input", function="m.link.softmax")
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    top = xs[:, 0]
    for j in range(1, xs.shape[1]):
        top = np.where(xs[:, j] > top, xs[:, j], top)
    exps = np.exp(np.ascontiguousarray(xs - top[:, None]))
    total = np.zeros(xs.shape[0])
    for j in range(xs.shape[1]):
        total = total + exps[:, j]
    return exps / total[:, None]


def _softmax_map(m: dict[str, float]) -> dict[str, float]:
    return dict(zip(m, softmax_list(list(m.values())), strict=False))


_LINKS: dict[str, Callable[[Any], Any]] = {
    "logit": _logit,
    "probit": _probit,
    "cloglog": _cloglog,
    "loglog": _loglog,
    "cauchit": _cauchit,
    "softplus": _softplus,
    "relu": _relu,
    "tanh": np.tanh,
}


def _links(prefix: str, names: tuple[str, ...]) -> list[LibFunction]:
    out = [_link(prefix + name, _LINKS[name]) for name in names if name != "softmax"]
    if "softmax" in names:
        out.append(
            fn(
                prefix + "softmax",
                sig([Arr(T(DOUBLE))], T(ArrayType(DOUBLE)), softmax_list, _softmax_vector),
                sig([Map(T(DOUBLE))], T(MapType(DOUBLE)), _softmax_map),
            )
        )
    return out


_UNARY = {
    "sqrt": np.sqrt,
    "exp": np.exp,
    "expm1": np.expm1,
    "ln": np.log,
    "log10": np.log10,
    "ln1p": np.log1p,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "floor": np.floor,
    "ceil": np.ceil,
    "rint": np.rint,
}

FUNCTIONS = [
    *(_unary("m." + name, uf) for name, uf in _UNARY.items()),
    _binary("m.atan2", np.arctan2),
    _binary("m.hypot", np.hypot),
    fn("m.pi", sig([], T(DOUBLE), lambda: math.pi)),
    fn("m.e", sig([], T(DOUBLE), lambda: math.e)),
    fn("m.abs", sig([A_NUM], A_NUM, build=_abs)),
    fn(
        "m.round",
        sig([T(FLOAT)], T(INT), build=lambda ctx: _round("int")),
        sig([T(DOUBLE)], T(LONG), build=lambda ctx: _round("long")),
    ),
    fn("m.signum", sig([T(DOUBLE)], T(INT), _signum_scalar, _signum_vector)),
    fn("m.log", sig([T(DOUBLE), T(INT)], T(DOUBLE), _log_base, _log_base_vector)),
    fn("m.copysign", sig([A_NUM, A_NUM], A_NUM, build=_copysign)),
    _special("m.special.erf", math.erf),
    _special("m.special.erfc", math.erfc),
    _special("m.special.lnGamma", _safe_lgamma),
    *_links("m.link.", (*_LINKS, "softmax")),
    # PFA 0.7 spelled these model.reg.norm.*; older documents still use them.
    *_links("model.reg.norm.", ("softmax", "logit", "probit", "cloglog", "loglog", "cauchit")),
]
