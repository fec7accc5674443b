"""``la.*``: linear algebra on arrays (vectors) and arrays of arrays (matrices).

Only the array forms are implemented; PFA's map-of-maps forms are refused.
``la.dot`` sums left to right in both interpreters (not through BLAS) so a
batch gives the per-record answer exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import Arr, Fcn, T
from modelport.runtimes.pfa.types import DOUBLE, ArrayType
from modelport.runtimes.pfa.vector import apply_rows, is_rowwise, rows_in

VEC = Arr(T(DOUBLE))
MAT = Arr(Arr(T(DOUBLE)))
VEC_T = ArrayType(DOUBLE)
MAT_T = ArrayType(VEC_T)


def _check_matrix(m: list[list[float]], name: str) -> tuple[int, int]:
    if not m or not m[0]:
        raise PfaRuntimeError("too few rows/cols", function=name)
    cols = len(m[0])
    if any(len(row) != cols for row in m):
        raise PfaRuntimeError("ragged columns", function=name)
    return len(m), cols


def dot_row(row: list[float], x: list[float]) -> float:
    total = 0.0
    for a, b in zip(row, x, strict=False):
        total = total + a * b
    return total


def _matvec(m: list[list[float]], x: list[float]) -> list[float]:
    _, cols = _check_matrix(m, "la.dot")
    if len(x) != cols:
        raise PfaRuntimeError("misaligned matrices", function="la.dot")
    return [dot_row(row, x) for row in m]


def _matvec_vector(m: Any, x: Any) -> Any:
    if is_rowwise(m) or not (isinstance(x, np.ndarray) and x.ndim == 2):
        return apply_rows(_matvec, [m, x], rows_in(x) if is_rowwise(x) else rows_in(m), VEC_T)
    _, cols = _check_matrix(m, "la.dot")
    if x.shape[1] != cols:
        raise PfaRuntimeError("misaligned matrices", function="la.dot")
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty((x.shape[0], len(m)))
    for i, row in enumerate(m):
        total = np.zeros(x.shape[0])
        for j, a in enumerate(row):
            total = total + a * x[:, j]
        out[:, i] = total
    return out


def _matmat(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    _, inner = _check_matrix(a, "la.dot")
    rows_b, cols_b = _check_matrix(b, "la.dot")
    if inner != rows_b:
        raise PfaRuntimeError("misaligned matrices", function="la.dot")
    columns = [[row[j] for row in b] for j in range(cols_b)]
    return [[dot_row(row, col) for col in columns] for row in a]


def _elementwise(name: str, op: Callable[[float, float], float]) -> LibFunction:
    def vectors(x: list[float], y: list[float]) -> list[float]:
        if len(x) != len(y):
            raise PfaRuntimeError("misaligned matrices", function=name)
        return [op(a, b) for a, b in zip(x, y, strict=False)]

    def matrices(x: list[list[float]], y: list[list[float]]) -> list[list[float]]:
        if len(x) != len(y):
            raise PfaRuntimeError("misaligned matrices", function=name)
        return [vectors(a, b) for a, b in zip(x, y, strict=False)]

    return fn(name, sig([VEC, VEC], T(VEC_T), vectors), sig([MAT, MAT], T(MAT_T), matrices), partial=True)


def _transpose(m: list[list[float]]) -> list[list[float]]:
    rows, cols = _check_matrix(m, "la.transpose")
    return [[m[i][j] for i in range(rows)] for j in range(cols)]


def _inverse(m: list[list[float]]) -> list[list[float]]:
    rows, cols = _check_matrix(m, "la.inverse")
    a = np.array(m, dtype=np.float64)
    if rows == cols:
        try:
            return np.linalg.inv(a).tolist()
        except np.linalg.LinAlgError:
            pass
    return np.linalg.pinv(a).tolist()


def _det(m: list[list[float]]) -> float:
    rows, cols = _check_matrix(m, "la.det")
    if rows != cols:
        raise PfaRuntimeError("non-square matrix", function="la.det")
    return float(np.linalg.det(np.array(m, dtype=np.float64)))


def _trace(m: list[list[float]]) -> float:
    total = 0.0
    for i, row in enumerate(m):
        if i < len(row):
            total = total + row[i]
    return total


FUNCTIONS: list[LibFunction] = [
    fn(
        "la.dot",
        sig([MAT, VEC], T(VEC_T), _matvec, _matvec_vector),
        sig([MAT, MAT], T(MAT_T), _matmat),
        partial=True,
    ),
    _elementwise("la.add", lambda a, b: a + b),
    _elementwise("la.sub", lambda a, b: a - b),
    fn(
        "la.scale",
        sig([VEC, T(DOUBLE)], T(VEC_T), lambda x, s: [a * s for a in x]),
        sig([MAT, T(DOUBLE)], T(MAT_T), lambda x, s: [[a * s for a in row] for row in x]),
        partial=True,
    ),
    fn(
        "la.map",
        sig([MAT, Fcn((T(DOUBLE),), T(DOUBLE))], T(MAT_T), lambda x, f: [[f(a) for a in row] for row in x]),
        partial=True,
    ),
    fn("la.transpose", sig([MAT], T(MAT_T), _transpose), partial=True),
    fn("la.inverse", sig([MAT], T(MAT_T), _inverse), partial=True),
    fn("la.det", sig([MAT], T(DOUBLE), _det), partial=True),
    fn("la.trace", sig([MAT], T(DOUBLE), _trace), partial=True),
]
