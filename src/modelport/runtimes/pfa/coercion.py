"""Numeric promotion of values: an ``int`` going where a ``double`` is expected.

The type checker lets a ``double`` slot accept an ``int`` expression; this
module inserts the conversion so that a value's Python (and numpy)
representation always matches the slot's declared type: ``3`` becomes
``3.0`` once it is a double, in both interpreters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from modelport.runtimes.pfa.node import Node, constant
from modelport.runtimes.pfa.types import ArrayType, AvroType, MapType, UnionType, accepts
from modelport.runtimes.pfa.values import branch_of
from modelport.runtimes.pfa.vector import is_rowwise, object_array, row_values

Converter = Callable[[Any], Any]


def converter(target: AvroType, actual: AvroType) -> Converter | None:
    """A function converting values of ``actual`` to ``target``'s representation, or ``None``."""
    if target.kind in ("float", "double") and actual.kind in ("int", "long"):
        return float
    if isinstance(target, ArrayType) and isinstance(actual, ArrayType):
        inner = converter(target.items, actual.items)
        return None if inner is None else (lambda v: [inner(x) for x in v])
    if isinstance(target, MapType) and isinstance(actual, MapType):
        inner_map = converter(target.values, actual.values)
        return None if inner_map is None else (lambda v: {k: inner_map(x) for k, x in v.items()})
    if isinstance(target, UnionType):
        members = actual.types if isinstance(actual, UnionType) else (actual,)
        per_member = {m: _member_converter(target, m) for m in members}
        if all(c is None for c in per_member.values()):
            return None
        if not isinstance(actual, UnionType):
            return per_member[actual]

        def convert_union(v: Any) -> Any:
            c = per_member.get(branch_of(actual, v))  # type: ignore[arg-type]
            return v if c is None else c(v)

        return convert_union
    return None


def _member_converter(target: UnionType, actual: AvroType) -> Converter | None:
    if actual in target.types:
        return None
    for member in target.types:
        if accepts(member, actual):
            return converter(member, actual)
    return None


def coerce(node: Node, target: AvroType) -> Node:
    """``node`` with its values converted into ``target``'s representation."""
    convert = converter(target, node.type)
    if convert is None:
        return node
    if node.is_const:
        return constant(target, convert(node.const))
    inner_run, inner_vec = node.run, node.vec
    to_float = floats_expected(target, node.type)

    def run(frame: list[Any]) -> Any:
        return convert(inner_run(frame))

    def vec(vframe: Any) -> Any:
        return convert_vector(convert, to_float, inner_vec(vframe), vframe.n)  # type: ignore[misc]

    return Node(target, run, vec if inner_vec is not None else None, children=(node,))


def convert_vector(convert: Converter, to_float: bool, v: Any, n: int) -> Any:
    """Apply a value converter to a vector value."""
    if not is_rowwise(v):
        return convert(v)
    if to_float and v.dtype != object:
        return v.astype(np.float64)
    return object_array([convert(x) for x in row_values(v, n)])


def floats_expected(target: AvroType, actual: AvroType) -> bool:
    """Whether converting ``actual`` to ``target`` only turns integers into floats."""
    if target.kind in ("float", "double") and actual.kind in ("int", "long"):
        return True
    return (
        isinstance(target, ArrayType) and isinstance(actual, ArrayType) and floats_expected(target.items, actual.items)
    )
