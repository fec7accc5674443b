"""``model.tree.*``: decision trees.

A tree is a record type (conventionally ``TreeNode``) whose ``pass`` and
``fail`` fields hold either another node or a leaf (``union<TreeNode, S>``).
``simpleTest`` compares one field of the datum, named by ``field``, with
``value`` using ``operator`` (``<= < >= > == !=``, ``in``/``notIn`` a list,
``isMissing``/``notMissing``, ``alwaysTrue``/``alwaysFalse``).  A null field
compares unequal to everything: ``!=`` and ``notIn`` are true, the rest false.

The batch walk partitions the rows at each node and descends with the rows
that went each way, so each row sees exactly the tests it would alone.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelport.runtimes.pfa.coercion import converter
from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.function import LibFunction
from modelport.runtimes.pfa.library.signature import Impl, Mismatch, Resolution
from modelport.runtimes.pfa.types import BOOLEAN, STRING, AvroType, EnumType, RecordType, UnionType, unite
from modelport.runtimes.pfa.values import branch_of, compare
from modelport.runtimes.pfa.vector import apply_rows, is_rowwise, merge, record_field, rows_in, take

_ORDERING = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
    "!=": operator.ne,
}


def _bad(message: str, name: str) -> PfaRuntimeError:
    return PfaRuntimeError(message, function=name)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def make_simple_test(datum_type: RecordType, name: str) -> Impl:
    """``simpleTest(datum, comparison)`` for datums of ``datum_type``."""
    field_types = {f.name: f.type for f in datum_type.fields}

    def scalar(datum: dict[str, Any], comparison: dict[str, Any]) -> bool:
        op = comparison["operator"]
        if op == "alwaysTrue":
            return True
        if op == "alwaysFalse":
            return False
        field = comparison["field"]
        if field not in field_types:
            raise _bad(f"datum has no field {field!r}", name)
        x = datum[field]
        if op == "isMissing":
            return x is None
        if op == "notMissing":
            return x is not None
        value = comparison["value"]
        if op in ("in", "notIn"):
            if not isinstance(value, list):
                raise _bad("bad value type", name)
            return (x in value) == (op == "in") if x is not None else op == "notIn"
        compare_op = _ORDERING.get(op)
        if compare_op is None:
            raise _bad("invalid comparison operator", name)
        if x is None:
            return op == "!="
        if _number(x):
            if not _number(value):
                raise _bad("bad value type", name)
            if isinstance(value, float) and isinstance(x, int):
                x = float(x)  # compare as doubles, as numpy does for the batch
            return compare_op(x, value)
        field_type = field_types[field]
        if isinstance(field_type, UnionType):
            field_type = branch_of(field_type, x) or field_type
        if isinstance(field_type, EnumType) and value not in field_type.index:
            raise _bad("bad value type", name)
        if type(value) is not type(x) and not isinstance(field_type, EnumType):
            raise _bad("bad value type", name)
        return compare_op(compare(field_type, x, value), 0)

    def vector(datum: Any, comparison: Any) -> Any:
        n = rows_in(datum) if is_rowwise(datum) else rows_in(comparison)
        if isinstance(comparison, dict) and not isinstance(datum, dict):
            op = comparison["operator"]
            if op in ("alwaysTrue", "alwaysFalse"):
                return np.full(n, op == "alwaysTrue")
            field, value = comparison["field"], comparison["value"]
            if op in _ORDERING and field in field_types:
                col = record_field(datum, field, n, datum_type)
                if isinstance(col, np.ndarray) and col.ndim == 1:
                    numeric = col.dtype.kind in "fi" and _number(value)
                    if numeric or (col.dtype.kind == "b" and isinstance(value, bool)):
                        return np.asarray(_ORDERING[op](col, value), dtype=bool)
        return apply_rows(scalar, [datum, comparison], n, BOOLEAN)

    return Impl(scalar, vector)


def _check_comparison(datum: AvroType, node: AvroType, name: str) -> RecordType:
    if not isinstance(datum, RecordType):
        raise Mismatch(f"the datum must be a record, not {datum.describe()}")
    if not isinstance(node, RecordType):
        raise Mismatch(f"the comparison must be a record, not {node.describe()}")
    for needed in ("field", "operator", "value"):
        if needed not in node.field_map:
            raise Mismatch(f"record {node.fullname} needs a {needed!r} field")
    field_t = node.field_map["field"].type
    if isinstance(field_t, EnumType):
        unknown = [s for s in field_t.symbols if s not in datum.field_map]
        if unknown:
            raise Mismatch(f"enum {field_t.fullname} names {unknown[0]!r}, which is not a field of {datum.fullname}")
    elif field_t != STRING:
        raise Mismatch(f"field 'field' of {node.fullname} must be an enum of {datum.fullname}'s fields")
    if node.field_map["operator"].type != STRING:
        raise Mismatch(f"field 'operator' of {node.fullname} must be a string")
    return datum


def _resolve_simple_test(args: Sequence[Any], name: str) -> Resolution:
    from modelport.runtimes.pfa.fcnargs import FcnArg

    if len(args) != 2 or any(isinstance(a, FcnArg) for a in args):
        raise Mismatch(f"expects 2 arguments (datum, comparison), got {len(args)}")
    datum = _check_comparison(args[0].type, args[1].type, name)
    return Resolution([args[0].type, args[1].type], {}, BOOLEAN, make_simple_test(datum, name))


def _tree_shape(node: AvroType) -> tuple[RecordType, AvroType, Callable[[Any], Any] | None, Callable[[Any], bool]]:
    """The node type, the leaf type S, a converter for leaves, and "is this a node?"."""
    if not isinstance(node, RecordType) or "pass" not in node.field_map or "fail" not in node.field_map:
        raise Mismatch("the tree must be a record with 'pass' and 'fail' fields")
    leaves: list[AvroType] = []
    for branch in ("pass", "fail"):
        t = node.field_map[branch].type
        members = t.types if isinstance(t, UnionType) else (t,)
        leaves.extend(m for m in members if m != node and m not in leaves)
    if not leaves:
        raise Mismatch(f"{node.fullname} has no leaf type in 'pass'/'fail'")
    leaf_type = unite(leaves)
    raw = leaves[0] if len(leaves) == 1 else UnionType(tuple(leaves))
    convert = converter(leaf_type, raw)
    field_union = UnionType((node, *leaves))

    def is_node(v: Any) -> bool:
        return branch_of(field_union, v) == node

    return node, leaf_type, convert, is_node


def _walker(
    node_type: RecordType, leaf_type: AvroType, convert: Callable[[Any], Any] | None, is_node: Callable[[Any], bool]
) -> Impl:
    def scalar(datum: Any, tree: dict[str, Any], test: Callable[[Any, Any], bool]) -> Any:
        node = tree
        while True:
            nxt = node["pass"] if test(datum, node) else node["fail"]
            if is_node(nxt):
                node = nxt
                continue
            return convert(nxt) if convert is not None else nxt

    def vector(datum: Any, tree: Any, test: Any) -> Any:
        if not is_rowwise(datum) or is_rowwise(tree):
            n = rows_in(datum) if is_rowwise(datum) else rows_in(tree)
            return apply_rows(scalar, [datum, tree, test], n, leaf_type)
        n = rows_in(datum)
        parts = []
        stack = [(tree, np.arange(n), datum)]
        while stack:
            node, index, rows = stack.pop()
            passed = np.broadcast_to(np.asarray(test.vector(len(index), rows, node), dtype=bool), (len(index),))
            for branch, mask in ((node["pass"], passed), (node["fail"], ~passed)):
                positions = np.flatnonzero(mask)
                if not len(positions):
                    continue
                if is_node(branch):
                    stack.append((branch, index[positions], take(rows, positions)))
                else:
                    parts.append((index[positions], convert(branch) if convert is not None else branch))
        return merge(n, parts, leaf_type)

    return Impl(scalar, vector)


def _resolve_simple_walk(args: Sequence[Any], name: str) -> Resolution:
    from modelport.runtimes.pfa.fcnargs import FcnArg

    if len(args) != 3 or not isinstance(args[2], FcnArg) or isinstance(args[0], FcnArg) or isinstance(args[1], FcnArg):
        raise Mismatch("expects (datum, treeNode, test function)")
    node_type, leaf_type, convert, is_node = _tree_shape(args[1].type)
    test = args[2].specialise([args[0].type, node_type])
    if test.type.ret != BOOLEAN:
        raise Mismatch(f"the test function must return boolean, not {test.type.ret.describe()}")
    return Resolution(
        [args[0].type, node_type, None], {2: test}, leaf_type, _walker(node_type, leaf_type, convert, is_node)
    )


def _resolve_simple_tree(args: Sequence[Any], name: str) -> Resolution:
    from modelport.runtimes.pfa.fcnargs import BoundFcn, FcnArg

    if len(args) != 2 or any(isinstance(a, FcnArg) for a in args):
        raise Mismatch("expects (datum, treeNode)")
    datum = _check_comparison(args[0].type, args[1].type, name)
    node_type, leaf_type, convert, is_node = _tree_shape(args[1].type)
    test = make_simple_test(datum, name)
    bound = BoundFcn(test.scalar, lambda n, d, c: test.vector(d, c))  # type: ignore[misc]
    walk = _walker(node_type, leaf_type, convert, is_node)

    def scalar(datum: Any, tree: Any) -> Any:
        return walk.scalar(datum, tree, test.scalar)

    def vector(datum: Any, tree: Any) -> Any:
        return walk.vector(datum, tree, bound)  # type: ignore[misc]

    return Resolution([args[0].type, node_type], {}, leaf_type, Impl(scalar, vector))


FUNCTIONS: list[LibFunction] = [
    LibFunction("model.tree.simpleTest", resolver=_resolve_simple_test),
    LibFunction("model.tree.simpleWalk", resolver=_resolve_simple_walk),
    LibFunction("model.tree.simpleTree", resolver=_resolve_simple_tree),
]
