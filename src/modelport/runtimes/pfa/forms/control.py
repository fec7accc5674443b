"""Control flow: ``do``, ``if``, ``cond``, ``while``, ``do``/``until``, ``for``,
``foreach`` and ``forkey``/``forval``.

Batched, ``if`` and ``cond`` partition the rows by their predicate and run
each branch only on the rows that take it (a branch that would fail on
other rows, such as a guarded division, behaves exactly as per record).
Loops have no batch form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelport.runtimes.pfa.coercion import coerce
from modelport.runtimes.pfa.errors import PfaSyntaxError, join_path
from modelport.runtimes.pfa.node import Node, constant
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import BOOLEAN, NULL, ArrayType, MapType, accepts, unite
from modelport.runtimes.pfa.vector import is_rowwise, merge


def sequence(nodes: Sequence[Node]) -> Node:
    """Run ``nodes`` in order; the value is the last one's (null when empty)."""
    if not nodes:
        return constant(NULL, None)
    if len(nodes) == 1:
        return nodes[0]
    runs = [n.run for n in nodes]
    vecs = [n.vec for n in nodes]
    last_type = nodes[-1].type

    def run(frame: list[Any]) -> Any:
        for r in runs[:-1]:
            r(frame)
        return runs[-1](frame)

    def vec(vframe: Any) -> Any:
        for v in vecs[:-1]:
            v(vframe)  # type: ignore[misc]
        return vecs[-1](vframe)  # type: ignore[misc]

    return Node(last_type, run, vec if all(v is not None for v in vecs) else None, children=nodes)


def compile_do(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    return c.compile_block(data["do"], join_path(path, "do"), scope)


def predicate(c: Any, data: Any, path: str, scope: Scope) -> Node:
    node = c.compile(data, path, scope.child(sealed_above=True, sealed_within=True))
    if node.type != BOOLEAN:
        raise PfaSyntaxError(f"a predicate must be boolean, not {node.type.describe()}", path)
    return node


def compile_if(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    pred = predicate(c, data["if"], join_path(path, "if"), scope)
    then = c.compile_block(data["then"], join_path(path, "then"), scope)
    if "else" not in data:
        return _conditional([(pred, then)], None, NULL)
    otherwise = c.compile_block(data["else"], join_path(path, "else"), scope)
    result = unite([then.type, otherwise.type])
    return _conditional([(pred, coerce(then, result))], coerce(otherwise, result), result)


def compile_cond(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    clauses_data = data["cond"]
    where = join_path(path, "cond")
    if not isinstance(clauses_data, list) or not clauses_data:
        raise PfaSyntaxError("'cond' needs a list of {if, then} clauses", where)
    clauses = []
    for i, clause in enumerate(clauses_data):
        at = join_path(where, i)
        if not isinstance(clause, dict) or set(clause) != {"if", "then"}:
            raise PfaSyntaxError("each 'cond' clause must be an {if, then} object without 'else'", at)
        pred = predicate(c, clause["if"], join_path(at, "if"), scope)
        clauses.append((pred, c.compile_block(clause["then"], join_path(at, "then"), scope)))
    if "else" not in data:
        return _conditional(clauses, None, NULL)
    otherwise = c.compile_block(data["else"], join_path(path, "else"), scope)
    result = unite([b.type for _, b in clauses] + [otherwise.type])
    return _conditional([(p, coerce(b, result)) for p, b in clauses], coerce(otherwise, result), result)


def _conditional(clauses: list[tuple[Node, Node]], otherwise: Node | None, result: Any) -> Node:
    runs = [(p.run, b.run) for p, b in clauses]
    other_run = otherwise.run if otherwise is not None else None
    has_value = otherwise is not None

    def run(frame: list[Any]) -> Any:
        for p, b in runs:
            if p(frame):
                value = b(frame)
                return value if has_value else None
        return other_run(frame) if other_run is not None else None

    nodes = [n for pair in clauses for n in pair] + ([otherwise] if otherwise is not None else [])
    if any(n.vec is None for n in nodes):
        return Node(result, run, None, children=nodes)
    vecs = [(p.vec, b.vec) for p, b in clauses]
    other_vec = otherwise.vec if otherwise is not None else None

    def vec(vframe: Any) -> Any:
        parts: list[tuple[np.ndarray, Any]] = []
        rows = np.arange(vframe.n)
        remaining = vframe
        for p, b in vecs:
            if not len(rows):
                break
            chosen = p(remaining)  # type: ignore[misc]
            if not is_rowwise(chosen):
                if chosen:
                    parts.append((rows, b(remaining)))  # type: ignore[misc]
                    rows = rows[:0]
                continue
            taken = np.flatnonzero(chosen)
            if len(taken) == len(rows):
                parts.append((rows, b(remaining)))  # type: ignore[misc]
                rows = rows[:0]
                break
            if len(taken):
                parts.append((rows[taken], b(remaining.take(taken))))  # type: ignore[misc]
            left = np.flatnonzero(~np.asarray(chosen, dtype=bool))
            remaining, rows = remaining.take(left), rows[left]
        if len(rows) and other_vec is not None:
            parts.append((rows, other_vec(remaining)))
        if not has_value:
            return None
        if len(parts) == 1 and len(parts[0][0]) == vframe.n:
            return parts[0][1]
        return merge(vframe.n, parts, result)

    return Node(result, run, vec, children=nodes)


def compile_while(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    loop = scope.child()
    pred = predicate(c, data["while"], join_path(path, "while"), loop)
    body = c.compile_block(data["do"], join_path(path, "do"), loop)
    p, b = pred.run, body.run

    def run(frame: list[Any]) -> None:
        while p(frame):
            b(frame)

    return Node(NULL, run, None, children=[pred, body], pure=False)


def compile_do_until(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    loop = scope.child()
    body = c.compile_block(data["do"], join_path(path, "do"), loop)
    pred = predicate(c, data["until"], join_path(path, "until"), loop)
    p, b = pred.run, body.run

    def run(frame: list[Any]) -> None:
        while True:
            b(frame)
            if p(frame):
                return

    return Node(NULL, run, None, children=[pred, body], pure=False)


def compile_for(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    from modelport.runtimes.pfa.forms.symbols import compile_let, compile_set

    loop = scope.child()
    init = compile_let(c, {"let": data["for"]}, join_path(path, "for"), loop)
    pred = predicate(c, data["while"], join_path(path, "while"), loop)
    step_data = data["step"]
    if not isinstance(step_data, dict) or not set(step_data) <= set(
        data["for"] if isinstance(data["for"], dict) else {}
    ):
        raise PfaSyntaxError("'step' may only update the loop variables declared in 'for'", join_path(path, "step"))
    step = compile_set(c, {"set": step_data}, join_path(path, "step"), loop)
    body = c.compile_block(data["do"], join_path(path, "do"), loop)
    i, p, s, b = init.run, pred.run, step.run, body.run

    def run(frame: list[Any]) -> None:
        i(frame)
        while p(frame):
            b(frame)
            s(frame)

    return Node(NULL, run, None, children=[init, pred, step, body], pure=False)


def compile_foreach(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    name = data["foreach"]
    if "seq" in data and not isinstance(data["seq"], bool):
        raise PfaSyntaxError("'seq' must be true or false", join_path(path, "seq"))
    items = c.compile(data["in"], join_path(path, "in"), scope.child(sealed_above=True, sealed_within=True))
    if not isinstance(items.type, ArrayType):
        raise PfaSyntaxError(f"'foreach' iterates over an array, not {items.type.describe()}", join_path(path, "in"))
    loop = scope.child()
    slot = _declare_loop_var(name, items.type.items, join_path(path, "foreach"), loop)
    body = c.compile_block(data["do"], join_path(path, "do"), loop)
    get, b = items.run, body.run

    def run(frame: list[Any]) -> None:
        for value in get(frame):
            frame[slot] = value
            b(frame)

    return Node(NULL, run, None, children=[items, body], pure=False)


def compile_forkeyval(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    items = c.compile(data["in"], join_path(path, "in"), scope.child(sealed_above=True, sealed_within=True))
    if not isinstance(items.type, MapType):
        raise PfaSyntaxError(
            f"'forkey'/'forval' iterates over a map, not {items.type.describe()}", join_path(path, "in")
        )
    loop = scope.child()
    from modelport.runtimes.pfa.types import STRING

    key_slot = _declare_loop_var(data["forkey"], STRING, join_path(path, "forkey"), loop)
    value_slot = _declare_loop_var(data["forval"], items.type.values, join_path(path, "forval"), loop)
    body = c.compile_block(data["do"], join_path(path, "do"), loop)
    get, b = items.run, body.run

    def run(frame: list[Any]) -> None:
        for key, value in get(frame).items():
            frame[key_slot] = key
            frame[value_slot] = value
            b(frame)

    return Node(NULL, run, None, children=[items, body], pure=False)


def _declare_loop_var(name: Any, avro_type: Any, path: str, scope: Scope) -> int:
    from modelport.runtimes.pfa.forms.symbols import _valid

    if not isinstance(name, str) or not _valid(name):
        raise PfaSyntaxError(f"{name!r} is not a valid symbol name", path)
    if scope.lookup(name) is not None:
        raise PfaSyntaxError(f"symbol {name!r} may not be redeclared or shadowed", path)
    return scope.declare(name, avro_type).slot


def check_accepts(expected: Any, node: Node, path: str, what: str) -> None:
    if not accepts(expected, node.type):
        raise PfaSyntaxError(f"{what} must be {expected.describe()}, not {node.type.describe()}", path)
