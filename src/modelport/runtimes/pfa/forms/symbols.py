"""Symbols: references (``"x"``, ``"input.field.0"``), ``let`` and ``set``."""

from __future__ import annotations

import difflib
from typing import Any

from modelport.runtimes.pfa.coercion import coerce
from modelport.runtimes.pfa.errors import PfaSyntaxError, join_path
from modelport.runtimes.pfa.node import Node, constant
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import EXCEPTION, INT, NULL, STRING, accepts

_SYMBOL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def _valid(name: str) -> bool:
    return bool(name) and not name[0].isdigit() and all(ch in _SYMBOL_CHARS for ch in name)


def compile_reference(c: Any, text: str, path: str, scope: Scope) -> Node:
    """A symbol, or ``a.b.0`` meaning ``{"attr": "a", "path": [{"string": "b"}, 0]}``."""
    from modelport.runtimes.pfa.forms.access import attr_path

    if "." in text:
        head, *rest = text.split(".")
        base = symbol(head, path, scope)
        steps = [constant(INT, int(p)) if p.lstrip("-").isdigit() else constant(STRING, p) for p in rest]
        return attr_path(base, steps, path)
    return symbol(text, path, scope)


def symbol(name: str, path: str, scope: Scope) -> Node:
    if not _valid(name):
        raise PfaSyntaxError(f"{name!r} is not a valid symbol name", path)
    found = scope.lookup(name)
    if found is None:
        known = scope.visible_names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; in scope: {', '.join(known)}" if known else "")
        raise PfaSyntaxError(f"unknown symbol {name!r}{hint}", path)
    sym, depth = found
    slot = sym.slot
    if depth == 0:
        return Node(sym.type, lambda frame: frame[slot], lambda vframe: vframe.slots[slot])
    # An inline function reading its surroundings: walk the frame links.
    layout = scope.layout
    for _ in range(depth):
        layout.captures = True
        layout = layout.parent  # type: ignore[assignment]

    def run(frame: list[Any]) -> Any:
        for _ in range(depth):
            frame = frame[0]
        return frame[slot]

    return Node(sym.type, run, None)


def compile_let(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    bindings = data["let"]
    where = join_path(path, "let")
    if not isinstance(bindings, dict) or not bindings:
        raise PfaSyntaxError("'let' needs an object of {name: expression}", where)
    if scope.sealed_within:
        raise PfaSyntaxError(
            "new variable bindings are forbidden in this scope (an argument or predicate); wrap the expression in 'do'",
            where,
        )
    value_scope = scope.child(sealed_above=True, sealed_within=True)
    compiled = []
    for name, expr in bindings.items():
        if not _valid(name):
            raise PfaSyntaxError(f"{name!r} is not a valid symbol name", join_path(where, name))
        if scope.lookup(name) is not None:
            raise PfaSyntaxError(f"symbol {name!r} may not be redeclared or shadowed", join_path(where, name))
        node = c.compile(expr, join_path(where, name), value_scope)
        if node.type == EXCEPTION:
            raise PfaSyntaxError(
                f"symbol {name!r} would be bound to an error, which has no value", join_path(where, name)
            )
        compiled.append((name, node))
    slots = [(scope.declare(name, node.type).slot, node) for name, node in compiled]
    return _assign(slots)


def compile_set(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    bindings = data["set"]
    where = join_path(path, "set")
    if not isinstance(bindings, dict) or not bindings:
        raise PfaSyntaxError("'set' needs an object of {name: expression}", where)
    value_scope = scope.child(sealed_above=True, sealed_within=True)
    slots = []
    for name, expr in bindings.items():
        found = scope.lookup(name)
        if found is None:
            raise PfaSyntaxError(f"unknown symbol {name!r}", join_path(where, name))
        if not scope.writable(name):
            raise PfaSyntaxError(
                f"symbol {name!r} may not be modified here (not inside an argument, a predicate, or from a function body)",
                join_path(where, name),
            )
        sym, _ = found
        node = c.compile(expr, join_path(where, name), value_scope)
        if not accepts(sym.type, node.type):
            raise PfaSyntaxError(
                f"symbol {name!r} is {sym.type.describe()}; cannot set it to {node.type.describe()}",
                join_path(where, name),
            )
        slots.append((sym.slot, coerce(node, sym.type)))
    assign = _assign(slots)
    # Batched evaluation runs each branch on its own copy of the frame, so an
    # assignment there would not reach the enclosing rows: set runs per record.
    return Node(NULL, assign.run, None, children=assign.children, pure=False)


def _assign(slots: list[tuple[int, Node]]) -> Node:
    runs = [(slot, node.run) for slot, node in slots]
    vecs = [(slot, node.vec) for slot, node in slots]

    def run(frame: list[Any]) -> None:
        # All values first: {"let": {"a": ..., "b": ...}} binds simultaneously.
        values = [(slot, r(frame)) for slot, r in runs]
        for slot, value in values:
            frame[slot] = value

    def vec(vframe: Any) -> None:
        values = [(slot, v(vframe)) for slot, v in vecs]  # type: ignore[misc]
        for slot, value in values:
            vframe.slots[slot] = value

    vectorised = vec if all(v is not None for _, v in vecs) else None
    return Node(NULL, run, vectorised, children=[n for _, n in slots], pure=False)
