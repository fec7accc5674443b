"""The short-circuit operators ``&&``, ``||`` and Kleene's ``&&&``, ``|||``.

They are library functions in PFA but must not evaluate their second
argument when the first decides: per record that is Python's ``and``/``or``;
batched, the second argument runs only on the undecided rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.runtimes.pfa.errors import PfaSyntaxError, join_path
from modelport.runtimes.pfa.node import Node
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import BOOLEAN, NULL, UnionType, accepts
from modelport.runtimes.pfa.vector import is_rowwise, object_array, row_values

MAYBE_BOOLEAN = UnionType((BOOLEAN, NULL))


def compile_lazy(c: Any, name: str, items: list[Any], path: str, scope: Scope) -> Node:
    if len(items) != 2:
        raise PfaSyntaxError(f"{name} expects 2 arguments, got {len(items)}", path)
    inner = scope.child(sealed_above=True, sealed_within=True)
    x, y = (c.compile(item, join_path(path, i), inner) for i, item in enumerate(items))
    kleene = name in ("&&&", "|||")
    expected = MAYBE_BOOLEAN if kleene else BOOLEAN
    for i, node in enumerate((x, y)):
        if not accepts(expected, node.type):
            raise PfaSyntaxError(
                f"{name} argument {i + 1} must be {expected.describe()}, not {node.type.describe()}", join_path(path, i)
            )
    if kleene:
        return _kleene(name == "&&&", x, y)
    return _boolean(name == "&&", x, y)


def _boolean(is_and: bool, x: Node, y: Node) -> Node:
    xr, yr = x.run, y.run
    run = (lambda frame: xr(frame) and yr(frame)) if is_and else (lambda frame: xr(frame) or yr(frame))
    if x.vec is None or y.vec is None:
        return Node(BOOLEAN, run, None, children=[x, y])
    xv, yv = x.vec, y.vec

    def vec(vframe: Any) -> Any:
        first = xv(vframe)
        if not is_rowwise(first):
            return yv(vframe) if bool(first) == is_and else bool(first)
        undecided = np.flatnonzero(first if is_and else ~first)
        out = np.array(first, dtype=bool, copy=True)
        if len(undecided):
            out[undecided] = yv(vframe.take(undecided))
        return out

    return Node(BOOLEAN, run, vec, children=[x, y])


def _kleene_value(is_and: bool, a: Any, b_thunk: Any) -> Any:
    decisive = not is_and  # && is decided by a False, || by a True
    if a is decisive:
        return decisive
    b = b_thunk()
    if b is decisive:
        return decisive
    if a is None or b is None:
        return None
    return not decisive


def _kleene(is_and: bool, x: Node, y: Node) -> Node:
    xr, yr = x.run, y.run

    def run(frame: list[Any]) -> Any:
        return _kleene_value(is_and, xr(frame), lambda: yr(frame))

    if x.vec is None or y.vec is None:
        return Node(MAYBE_BOOLEAN, run, None, children=[x, y])
    xv, yv = x.vec, y.vec
    decisive = not is_and

    def vec(vframe: Any) -> Any:
        first = xv(vframe)
        firsts = row_values(first, vframe.n)
        undecided = np.array([i for i, a in enumerate(firsts) if a is not decisive], dtype=np.int64)
        seconds: dict[int, Any] = {}
        if len(undecided):
            values = row_values(yv(vframe.take(undecided)), len(undecided))
            seconds = dict(zip(undecided.tolist(), values, strict=False))
        return object_array([_kleene_value(is_and, a, lambda i=i: seconds[i]) for i, a in enumerate(firsts)])

    return Node(MAYBE_BOOLEAN, run, vec, children=[x, y])
