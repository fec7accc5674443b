"""``metric.*``: distances between vectors and similarities between numbers.

The vector metrics take a per-component similarity function and arrays
whose components may be null (skipped; the total is rescaled by
``missingWeight``).  A batch runs the similarity over one component column
at a time when the arrays are 2-D numeric columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.core import one
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import Arr, Fcn, Nullable, T, Var
from modelport.runtimes.pfa.types import DOUBLE
from modelport.runtimes.pfa.vector import apply_rows, is_rowwise, rows_in

LN2 = math.log(2.0)
SIMILARITY = Fcn((Var("A"), Var("B")), T(DOUBLE))
XS, YS = Arr(Nullable(Var("A"))), Arr(Nullable(Var("B")))
WEIGHTS = Arr(T(DOUBLE))
_NAMES = ("similarity", "x", "y")

Step = Callable[[Any, Any], Any]


def _abs_diff(x: Any, y: Any) -> Any:
    return np.abs(x - y) if is_rowwise(x) or is_rowwise(y) else abs(x - y)


def _gaussian(x: Any, y: Any, sigma: Any) -> Any:
    d = x - y
    return np.exp(-LN2 * (d * d) / (sigma * sigma))


def _simple_euclidean(x: list[float], y: list[float]) -> float:
    if len(x) != len(y):
        raise PfaRuntimeError("dimensions of vectors do not match", function="metric.simpleEuclidean")
    total = 0.0
    for a, b in zip(x, y, strict=False):
        d = a - b
        total = total + d * d
    return one(np.sqrt, total)


def _column(v: Any, j: int) -> Any:
    return np.ascontiguousarray(v[:, j]) if isinstance(v, np.ndarray) else v[j]


def _width(v: Any) -> int | None:
    if isinstance(v, np.ndarray):
        return v.shape[1] if v.ndim == 2 and v.dtype != object else None
    return len(v) if isinstance(v, list) else None


def _simple_euclidean_vector(x: Any, y: Any) -> Any:
    wx, wy = _width(x), _width(y)
    n = rows_in(x) if is_rowwise(x) else rows_in(y)
    if wx is None or wy is None:
        return apply_rows(_simple_euclidean, [x, y], n, DOUBLE)
    if wx != wy:
        raise PfaRuntimeError("dimensions of vectors do not match", function="metric.simpleEuclidean")
    total = np.zeros(n)
    for j in range(wx):
        d = _column(x, j) - _column(y, j)
        total = total + d * d
    return np.sqrt(total)


def _metric_scalar(name: str, increment: Step, finalize: Callable[[Any], Any]) -> Callable[..., float]:
    def scalar(
        similarity: Callable[[Any, Any], float], x: list[Any], y: list[Any], weights: list[float] | None = None
    ) -> float:
        if weights is None:
            weights = [1.0] * len(x)
        if len(y) != len(x) or len(weights) != len(x):
            raise PfaRuntimeError("dimensions of vectors do not match", function=name)
        tally, numer, denom = 0.0, 0.0, 0.0
        for xi, yi, w in zip(x, y, weights, strict=False):
            if xi is not None and yi is not None:
                tally = increment(tally, similarity(xi, yi))
                denom = denom + w
            numer = numer + w
        if denom == 0.0:
            return float(finalize(math.nan))
        return float(finalize(tally * numer / denom))

    return scalar


def _has_null(v: Any) -> bool:
    return isinstance(v, list) and any(c is None for c in v)


def _metric(name: str, increment: Step, finalize: Callable[[Any], Any]) -> LibFunction:
    """A metric over nullable components, as PFA's ``metric.euclidean`` family."""
    scalar = _metric_scalar(name, increment, finalize)

    def vector(similarity: Any, x: Any, y: Any, weights: Any = None) -> Any:
        n = next(rows_in(v) for v in (x, y, weights) if is_rowwise(v))
        wx, wy = _width(x), _width(y)
        args = [similarity, x, y] + ([] if weights is None else [weights])
        if wx is None or wy is None or is_rowwise(weights) or _has_null(x) or _has_null(y):
            return apply_rows(scalar, args, n, DOUBLE)
        if weights is None:
            weights = [1.0] * wx
        if wx != wy or len(weights) != wx:
            raise PfaRuntimeError("dimensions of vectors do not match", function=name)
        tally: Any = np.zeros(n)
        numer = 0.0
        for j in range(wx):
            tally = increment(tally, similarity.vector(n, _column(x, j), _column(y, j)))
            numer = numer + weights[j]
        if numer == 0.0:  # nothing was compared: NaN, as per record
            return np.full(n, float(finalize(math.nan)))
        # Per record the rescaling is tally * numer / denom with denom == numer
        # when nothing is missing (a 2-D numeric column has no nulls).
        return finalize(tally * numer / numer)

    return fn(
        name,
        sig([SIMILARITY, XS, YS], T(DOUBLE), scalar, vector, names=_NAMES),
        sig([SIMILARITY, XS, YS, WEIGHTS], T(DOUBLE), scalar, vector, names=(*_NAMES, "missingWeight")),
    )


def _sqrt(t: Any) -> Any:
    return np.sqrt(t) if is_rowwise(t) else one(np.sqrt, t)


def _chebyshev_step(tally: Any, s: Any) -> Any:
    if is_rowwise(tally) or is_rowwise(s):
        return np.where(s > tally, s, tally)
    return s if s > tally else tally


_chebyshev_scalar = _metric_scalar("metric.minkowski", _chebyshev_step, lambda t: t)


def _minkowski(
    similarity: Callable[[Any, Any], float], x: list[Any], y: list[Any], p: float, weights: list[float] | None = None
) -> float:
    if math.isnan(p) or p <= 0:
        raise PfaRuntimeError("Minkowski parameter p must be positive", function="metric.minkowski")
    if math.isinf(p):
        return _chebyshev_scalar(similarity, x, y, weights)
    inner = _metric_scalar(
        "metric.minkowski", lambda t, s: t + one(np.power, s, p), lambda t: one(np.power, t, 1.0 / p)
    )
    return inner(similarity, x, y, weights)


FUNCTIONS: list[LibFunction] = [
    fn("metric.absDiff", sig([T(DOUBLE), T(DOUBLE)], T(DOUBLE), _abs_diff, _abs_diff, names=("x", "y"))),
    fn(
        "metric.gaussianSimilarity",
        sig(
            [T(DOUBLE), T(DOUBLE), T(DOUBLE)],
            T(DOUBLE),
            lambda x, y, s: one(_gaussian, x, y, s),
            _gaussian,
            names=("x", "y", "sigma"),
        ),
    ),
    fn(
        "metric.simpleEuclidean",
        sig([Arr(T(DOUBLE)), Arr(T(DOUBLE))], T(DOUBLE), _simple_euclidean, _simple_euclidean_vector),
    ),
    _metric("metric.euclidean", lambda t, s: t + s * s, _sqrt),
    _metric("metric.squaredEuclidean", lambda t, s: t + s * s, lambda t: t),
    _metric("metric.taxicab", lambda t, s: t + s, lambda t: t),
    _metric("metric.chebyshev", _chebyshev_step, lambda t: t),
    fn(
        "metric.minkowski",
        sig([SIMILARITY, XS, YS, T(DOUBLE)], T(DOUBLE), _minkowski, names=(*_NAMES, "p")),
        sig([SIMILARITY, XS, YS, T(DOUBLE), WEIGHTS], T(DOUBLE), _minkowski, names=(*_NAMES, "p", "missingWeight")),
    ),
]
