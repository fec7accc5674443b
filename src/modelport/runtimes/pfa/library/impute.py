"""``impute.*``: replacing or rejecting missing (null) and non-finite values."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import FLOATS, Impl, Nullable, T, Var
from modelport.runtimes.pfa.types import BOOLEAN
from modelport.runtimes.pfa.vector import from_rows, is_rowwise, row_values, rows_in

A = Var("A")
A_FLOAT = Var("A", FLOATS)


def _default_on_null(ctx: SimpleNamespace) -> Impl:
    ret = ctx.ret

    def scalar(x: Any, default: Any) -> Any:
        return default if x is None else x

    def vector(x: Any, default: Any) -> Any:
        if isinstance(x, np.ndarray) and x.dtype != object:
            return x  # a typed column holds no nulls
        n = rows_in(x) if is_rowwise(x) else rows_in(default)
        xs, ds = row_values(x, n), row_values(default, n)
        return from_rows([d if v is None else v for v, d in zip(xs, ds, strict=False)], ret)

    return Impl(scalar, vector)


def _error_on_null(ctx: SimpleNamespace) -> Impl:
    ret = ctx.ret

    def scalar(x: Any) -> Any:
        if x is None:
            raise PfaRuntimeError("encountered null", function="impute.errorOnNull")
        return x

    def vector(x: Any) -> Any:
        if isinstance(x, np.ndarray) and x.dtype != object:
            return x
        values = row_values(x, rows_in(x))
        for v in values:
            scalar(v)
        return from_rows(values, ret)

    return Impl(scalar, vector)


def _error_on_non_num(x: float) -> float:
    if math.isnan(x):
        raise PfaRuntimeError("encountered nan", function="impute.errorOnNonNum")
    if math.isinf(x):
        raise PfaRuntimeError("encountered +inf" if x > 0 else "encountered -inf", function="impute.errorOnNonNum")
    return x


def _error_on_non_num_vector(x: Any) -> Any:
    if not np.all(np.isfinite(x)):
        for v in np.asarray(x).tolist():
            _error_on_non_num(v)
    return x


FUNCTIONS: list[LibFunction] = [
    fn("impute.defaultOnNull", sig([Nullable(A), A], A, build=_default_on_null)),
    fn("impute.errorOnNull", sig([Nullable(A)], A, build=_error_on_null)),
    fn("impute.isnan", sig([A_FLOAT], T(BOOLEAN), math.isnan, np.isnan)),
    fn("impute.isinf", sig([A_FLOAT], T(BOOLEAN), math.isinf, np.isinf)),
    fn("impute.isnum", sig([A_FLOAT], T(BOOLEAN), math.isfinite, np.isfinite)),
    fn("impute.errorOnNonNum", sig([A_FLOAT], A_FLOAT, _error_on_non_num, _error_on_non_num_vector)),
    fn(
        "impute.defaultOnNonNum",
        sig(
            [A_FLOAT, A_FLOAT],
            A_FLOAT,
            lambda x, d: x if math.isfinite(x) else d,
            lambda x, d: np.where(np.isfinite(x), x, d),
        ),
    ),
]
