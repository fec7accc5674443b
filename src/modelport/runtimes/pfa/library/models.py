"""``model.reg.*`` and ``model.cluster.*``: regression and clustering scorers.

The batch forms loop over coefficients and cluster centres (a handful) and
apply numpy over the rows, accumulating left to right exactly as the
per-record forms do.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.linalg import dot_row
from modelport.runtimes.pfa.library.signature import Arr, Fcn, Impl, Map, Rec, T, Var, rec
from modelport.runtimes.pfa.types import DOUBLE, INT, ArrayType, MapType
from modelport.runtimes.pfa.vector import apply_rows, is_rowwise, merge, rows_in

VEC = Arr(T(DOUBLE))


def _is_matrix(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype != object


# ---------------------------------------------------------------- model.reg.linear


def _linear(datum: list[float], model: dict[str, Any]) -> float:
    coeff = model["coeff"]
    if len(coeff) != len(datum):
        raise PfaRuntimeError("misaligned coeff", function="model.reg.linear")
    return dot_row(coeff, datum) + model["const"]


def _linear_vector(datum: Any, model: Any) -> Any:
    if is_rowwise(model) or not _is_matrix(datum):
        return apply_rows(_linear, [datum, model], rows_in(datum) if is_rowwise(datum) else rows_in(model), DOUBLE)
    coeff = model["coeff"]
    if len(coeff) != datum.shape[1]:
        raise PfaRuntimeError("misaligned coeff", function="model.reg.linear")
    datum = np.ascontiguousarray(datum, dtype=np.float64)
    total = np.zeros(datum.shape[0])
    for j, c in enumerate(coeff):
        total = total + c * datum[:, j]
    return total + model["const"]


def _linear_multi(datum: list[float], model: dict[str, Any]) -> list[float]:
    coeff, const = model["coeff"], model["const"]
    if len(const) != len(coeff):
        raise PfaRuntimeError("misaligned const", function="model.reg.linear")
    if any(len(row) != len(datum) for row in coeff):
        raise PfaRuntimeError("misaligned coeff", function="model.reg.linear")
    return [dot_row(row, datum) + c for row, c in zip(coeff, const, strict=False)]


def _linear_multi_vector(datum: Any, model: Any) -> Any:
    if is_rowwise(model) or not _is_matrix(datum):
        n = rows_in(datum) if is_rowwise(datum) else rows_in(model)
        return apply_rows(_linear_multi, [datum, model], n, ArrayType(DOUBLE))
    coeff, const = model["coeff"], model["const"]
    if len(const) != len(coeff):
        raise PfaRuntimeError("misaligned const", function="model.reg.linear")
    if any(len(row) != datum.shape[1] for row in coeff):
        raise PfaRuntimeError("misaligned coeff", function="model.reg.linear")
    datum = np.ascontiguousarray(datum, dtype=np.float64)
    out = np.empty((datum.shape[0], len(coeff)))
    for i, (row, c) in enumerate(zip(coeff, const, strict=False)):
        total = np.zeros(datum.shape[0])
        for j, a in enumerate(row):
            total = total + a * datum[:, j]
        out[:, i] = total + c
    return out


def _linear_map(datum: dict[str, float], model: dict[str, Any]) -> float:
    coeff = model["coeff"]
    total = 0.0
    for key in sorted(coeff):
        total = total + coeff[key] * datum.get(key, 0.0)
    return total + model["const"]


def _linear_map_multi(datum: dict[str, float], model: dict[str, Any]) -> dict[str, float]:
    coeff, const = model["coeff"], model["const"]
    out = {}
    for outer in sorted(set(coeff) | set(const)):
        total = 0.0
        row = coeff.get(outer, {})
        for key in sorted(row):
            total = total + row[key] * datum.get(key, 0.0)
        out[outer] = total + const.get(outer, 0.0)
    return out


# ---------------------------------------------------------------- model.cluster.closest


def _squared_distance(x: list[float], center: list[float]) -> float:
    if len(center) != len(x):
        raise PfaRuntimeError("dimensions of vectors do not match", function="model.cluster.closest")
    total = 0.0
    for a, b in zip(x, center, strict=False):
        d = a - b
        total = total + d * d
    return total


def _closest(datum: Any, clusters: list[dict[str, Any]], metric: Callable[..., float] | None = None) -> Any:
    if not clusters:
        raise PfaRuntimeError("no clusters", function="model.cluster.closest")
    best, best_distance = 0, None
    for i, cluster in enumerate(clusters):
        d = metric(datum, cluster["center"]) if metric else _squared_distance(datum, cluster["center"])
        if best_distance is None or d < best_distance:
            best, best_distance = i, d
    return clusters[best]


def _closest_build(ctx: SimpleNamespace) -> Impl:
    ret = ctx.ret

    def vector(datum: Any, clusters: Any, metric: Any = None) -> Any:
        n = rows_in(datum) if is_rowwise(datum) else rows_in(clusters)
        if is_rowwise(clusters) or (metric is None and not _is_matrix(datum)):
            return apply_rows(_closest, [datum, clusters] + ([metric] if metric else []), n, ret)
        if not clusters:
            raise PfaRuntimeError("no clusters", function="model.cluster.closest")
        best = np.zeros(n, dtype=np.int64)
        best_distance = None
        for k, cluster in enumerate(clusters):
            if metric is not None:
                d = np.broadcast_to(np.asarray(metric.vector(n, datum, cluster["center"]), dtype=np.float64), (n,))
            else:
                d = _squared_distance_vector(datum, cluster["center"])
            if best_distance is None:
                best_distance = d
                continue
            better = d < best_distance
            best = np.where(better, k, best)
            best_distance = np.where(better, d, best_distance)
        parts = [(np.flatnonzero(best == k), c) for k, c in enumerate(clusters)]
        return merge(n, [(index, c) for index, c in parts if len(index)], ret)

    return Impl(_closest, vector)


def _squared_distance_vector(datum: np.ndarray, center: list[float]) -> np.ndarray:
    if len(center) != datum.shape[1]:
        raise PfaRuntimeError("dimensions of vectors do not match", function="model.cluster.closest")
    datum = np.ascontiguousarray(datum, dtype=np.float64)
    total = np.zeros(datum.shape[0])
    for j, c in enumerate(center):
        d = datum[:, j] - c
        total = total + d * d
    return total


def _closest_n(
    n: int, datum: Any, clusters: list[dict[str, Any]], metric: Callable[..., float] | None = None
) -> list[Any]:
    if n < 0:
        raise PfaRuntimeError("n must be nonnegative", function="model.cluster.closestN")
    distances = [metric(datum, c["center"]) if metric else _squared_distance(datum, c["center"]) for c in clusters]
    # Stable: equally distant clusters keep their order.
    order = sorted(range(len(clusters)), key=lambda i: distances[i])
    return [clusters[i] for i in order[:n]]


_LINEAR = ("datum", "model")
_CLUSTER = rec("C", center=VEC)
_ANY_CLUSTER = rec("C", center=Var("B"))
_METRIC = Fcn((Var("A"), Var("B")), T(DOUBLE))

FUNCTIONS: list[LibFunction] = [
    fn(
        "model.reg.linear",
        sig([VEC, rec("M", coeff=VEC, const=T(DOUBLE))], T(DOUBLE), _linear, _linear_vector, names=_LINEAR),
        sig(
            [VEC, rec("M", coeff=Arr(VEC), const=VEC)],
            T(ArrayType(DOUBLE)),
            _linear_multi,
            _linear_multi_vector,
            names=_LINEAR,
        ),
        sig([Map(T(DOUBLE)), rec("M", coeff=Map(T(DOUBLE)), const=T(DOUBLE))], T(DOUBLE), _linear_map),
        sig(
            [Map(T(DOUBLE)), rec("M", coeff=Map(Map(T(DOUBLE))), const=Map(T(DOUBLE)))],
            T(MapType(DOUBLE)),
            _linear_map_multi,
        ),
    ),
    fn(
        "model.cluster.closest",
        sig([VEC, Arr(_CLUSTER)], Rec("C"), build=_closest_build, names=("datum", "clusters")),
        sig(
            [Var("A"), Arr(_ANY_CLUSTER), _METRIC],
            Rec("C"),
            build=_closest_build,
            names=("datum", "clusters", "metric"),
        ),
    ),
    fn(
        "model.cluster.closestN",
        sig([T(INT), VEC, Arr(_CLUSTER)], Arr(Rec("C")), _closest_n),
        sig([T(INT), Var("A"), Arr(_ANY_CLUSTER), _METRIC], Arr(Rec("C")), _closest_n),
    ),
]
