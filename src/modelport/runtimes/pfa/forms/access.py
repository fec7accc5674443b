"""Reaching into values: ``attr`` + ``path`` (and ``to``), ``cell`` and ``pool``.

A path step is a field name (a string literal) into a record, a string key
into a map, or an int index into an array.  Cells and pools are read-only
here: their values are compile-time constants, so a cell lookup costs
nothing per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelport.runtimes.pfa.coercion import coerce
from modelport.runtimes.pfa.errors import PfaRuntimeError, PfaSyntaxError, PfaUnsupported, join_path
from modelport.runtimes.pfa.fcnargs import FcnArg
from modelport.runtimes.pfa.node import Node, constant
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import ArrayType, AvroType, MapType, RecordType, accepts
from modelport.runtimes.pfa.vector import apply_rows, is_rowwise, record_field


def _steps(c: Any, path_data: Any, path: str, scope: Scope) -> list[Node]:
    if not isinstance(path_data, list) or not path_data:
        raise PfaSyntaxError("'path' must be a non-empty list of expressions", path)
    inner = scope.child(sealed_above=True, sealed_within=True)
    return [c.compile(p, join_path(path, i), inner) for i, p in enumerate(path_data)]


def _index_error(name: str) -> PfaRuntimeError:
    return PfaRuntimeError("array index out of range", function=name)


def _key_error(key: Any, name: str) -> PfaRuntimeError:
    return PfaRuntimeError(f"key {key!r} not found", function=name)


def _get_item(v: Any, key: Any, kind: str, name: str) -> Any:
    if kind == "array":
        if key < 0 or key >= len(v):
            raise _index_error(name)
        return v[key]
    try:
        return v[key]
    except KeyError:
        raise _key_error(key, name) from None


class _Step:
    """One step of a path: what it reads and the type it leads to."""

    def __init__(self, base_type: AvroType, step: Node, path: str) -> None:
        self.node = step
        if isinstance(base_type, RecordType):
            if not step.is_const or not isinstance(step.const, str):
                raise PfaSyntaxError(
                    f"a path into record {base_type.fullname} needs a field name (a string literal)", path
                )
            if step.const not in base_type.field_map:
                raise PfaSyntaxError(f"record {base_type.fullname} has no field {step.const!r}", path)
            self.kind, self.field = "record", step.const
            self.type = base_type.field_map[step.const].type
            self.record = base_type
        elif isinstance(base_type, MapType):
            if step.type.kind != "string":
                raise PfaSyntaxError(f"a map key must be a string, not {step.type.describe()}", path)
            self.kind, self.type = "map", base_type.values
        elif isinstance(base_type, ArrayType):
            if step.type.kind not in ("int", "long"):
                raise PfaSyntaxError(f"an array index must be an int, not {step.type.describe()}", path)
            self.kind, self.type = "array", base_type.items
        else:
            raise PfaSyntaxError(f"cannot follow a path into {base_type.describe()}", path)
        self.base_type = base_type


def attr_path(base: Node, steps: Sequence[Node], path: str, *, name: str = "attr") -> Node:
    """``base`` followed along ``steps`` (nodes), type-checked."""
    plan: list[_Step] = []
    t = base.type
    for i, step in enumerate(steps):
        s = _Step(t, step, join_path(join_path(path, "path"), i))
        plan.append(s)
        t = s.type
    node = base
    for s in plan:
        node = _apply_step(node, s, name)
    return node


def _apply_step(base: Node, s: _Step, name: str) -> Node:
    if s.kind == "record":
        field = s.field
        if base.is_const:
            return constant(s.type, base.const[field])
        get = base.run
        vget = base.vec
        record = s.record

        def run_field(frame: list[Any]) -> Any:
            return get(frame)[field]

        def vec_field(vframe: Any) -> Any:
            v = vget(vframe)  # type: ignore[misc]
            return record_field(v, field, vframe.n, record) if is_rowwise(v) else v[field]

        return Node(s.type, run_field, vec_field if vget is not None else None, children=[base])

    kind = s.kind
    key_node = s.node
    if base.is_const and key_node.is_const:
        try:
            return constant(s.type, _get_item(base.const, key_node.const, kind, name))
        except PfaRuntimeError:
            pass  # raise it per row, as the document asks
    get, key = base.run, key_node.run

    def run(frame: list[Any]) -> Any:
        return _get_item(get(frame), key(frame), kind, name)

    vec = None
    if base.vec is not None and key_node.vec is not None:
        vbase, vkey, ret = base.vec, key_node.vec, s.type

        def vec(vframe: Any) -> Any:
            v, k = vbase(vframe), vkey(vframe)  # type: ignore[misc]
            if not is_rowwise(v) and not is_rowwise(k):
                return _get_item(v, k, kind, name)
            if kind == "array" and isinstance(v, np.ndarray) and v.ndim == 2 and not is_rowwise(k):
                if k < 0 or k >= v.shape[1]:
                    raise _index_error(name)
                return v[:, k].copy()
            return apply_rows(lambda a, b: _get_item(a, b, kind, name), [v, k], vframe.n, ret)

    return Node(s.type, run, vec, children=[base, key_node])


def compile_attr(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    inner = scope.child(sealed_above=True, sealed_within=True)
    base = c.compile(data["attr"], join_path(path, "attr"), inner)
    steps = _steps(c, data["path"], join_path(path, "path"), scope)
    if "to" not in data:
        return attr_path(base, steps, path)
    return _updated(c, base, steps, data["to"], path, scope)


def _updated(c: Any, base: Node, steps: list[Node], to: Any, path: str, scope: Scope) -> Node:
    """``{"attr": x, "path": [...], "to": v or fcn}``: a copy of x with one place replaced."""
    plan: list[_Step] = []
    t = base.type
    for i, step in enumerate(steps):
        s = _Step(t, step, join_path(join_path(path, "path"), i))
        plan.append(s)
        t = s.type
    leaf = t
    arg = c.compile_argument(to, join_path(path, "to"), scope.child(sealed_above=True, sealed_within=True))
    if isinstance(arg, FcnArg):
        fcn = arg.specialise([leaf])
        if len(fcn.type.params) != 1 or not accepts(leaf, fcn.type.ret):
            raise PfaSyntaxError(f"'to' function must take and return {leaf.describe()}", join_path(path, "to"))
        replace: Callable[[list[Any]], Callable[[Any], Any]] = fcn.bind
        to_node = None
    else:
        if not accepts(leaf, arg.type):
            raise PfaSyntaxError(f"'to' must be {leaf.describe()}, not {arg.type.describe()}", join_path(path, "to"))
        to_node = coerce(arg, leaf)
        replace = _constant_change(to_node.run)
    keys = [s.node.run for s in plan]
    kinds = [s.kind for s in plan]
    fields = [getattr(s, "field", None) for s in plan]
    get = base.run

    def rebuild(value: Any, frame: list[Any], depth: int, change: Callable[[Any], Any]) -> Any:
        if depth == len(plan):
            return change(value)
        kind = kinds[depth]
        key: Any = fields[depth] if kind == "record" else keys[depth](frame)
        inner = _get_item(value, key, kind, "attr")
        new_inner = rebuild(inner, frame, depth + 1, change)
        if kind == "array":
            return [*value[:key], new_inner, *value[key + 1 :]]
        out = dict(value)
        out[key] = new_inner
        return out

    def run(frame: list[Any]) -> Any:
        return rebuild(get(frame), frame, 0, replace(frame))

    children = [base, *steps] + ([to_node] if to_node is not None else [])
    # A batch form would need a frame per row for the 'to' function: per record only.
    return Node(base.type, run, None, children=children)


def _constant_change(value_run: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Callable[[Any], Any]]:
    """``to: expr``: the replacement ignores the old value."""

    def replace(frame: list[Any]) -> Callable[[Any], Any]:
        value = value_run(frame)
        return lambda old: value

    return replace


def compile_cell(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    name = data["cell"]
    if "to" in data:
        raise PfaUnsupported(f"modifying cell {name!r} ('to') is unsupported: cells are read-only in modelport", path)
    if name not in c.cells:
        raise PfaSyntaxError(f"unknown cell {name!r}", join_path(path, "cell"))
    cell = c.cells[name]
    base = constant(cell.type, cell.value)
    if "path" not in data:
        return base
    return attr_path(base, _steps(c, data["path"], join_path(path, "path"), scope), path, name="cell")


def compile_pool(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    name = data["pool"]
    if "to" in data or "del" in data:
        raise PfaUnsupported(
            f"modifying pool {name!r} ('to'/'del') is unsupported: pools are read-only in modelport", path
        )
    if name not in c.pools:
        raise PfaSyntaxError(f"unknown pool {name!r}", join_path(path, "pool"))
    pool = c.pools[name]
    base = constant(MapType(pool.type), pool.value)
    return attr_path(base, _steps(c, data["path"], join_path(path, "path"), scope), path, name="pool")
