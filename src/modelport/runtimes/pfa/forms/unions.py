"""Unions and nulls: ``cast``/``cases``, ``upcast``, ``ifnotnull`` and ``try``."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.runtimes.pfa.coercion import coerce
from modelport.runtimes.pfa.errors import PfaRuntimeError, PfaSyntaxError, join_path
from modelport.runtimes.pfa.node import Node
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import NULL, UnionType, accepts, is_nullable, unite, without_null
from modelport.runtimes.pfa.values import branch_of
from modelport.runtimes.pfa.vector import from_rows, is_rowwise, merge, row_values


def compile_cast(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    from modelport.runtimes.pfa.forms.control import _declare_loop_var

    subject = c.compile(data["cast"], join_path(path, "cast"), scope.child(sealed_above=True, sealed_within=True))
    partial = data.get("partial", False)
    if not isinstance(partial, bool):
        raise PfaSyntaxError("'partial' must be true or false", join_path(path, "partial"))
    cases_data = data["cases"]
    where = join_path(path, "cases")
    if not isinstance(cases_data, list) or not cases_data:
        raise PfaSyntaxError("'cases' needs a list of {as, named, do} objects", where)
    members = subject.type.types if isinstance(subject.type, UnionType) else (subject.type,)
    cases = []
    for i, case in enumerate(cases_data):
        at = join_path(where, i)
        if not isinstance(case, dict) or set(case) != {"as", "named", "do"}:
            raise PfaSyntaxError("each case needs exactly 'as', 'named' and 'do'", at)
        as_type = c.parse_type(case["as"], join_path(at, "as"))
        if as_type not in members:
            raise PfaSyntaxError(
                f"{as_type.describe()} is not a member of {subject.type.describe()}", join_path(at, "as")
            )
        inner = scope.child()
        slot = _declare_loop_var(case["named"], as_type, join_path(at, "named"), inner)
        cases.append((as_type, slot, c.compile_block(case["do"], join_path(at, "do"), inner)))
    covered = {t for t, _, _ in cases}
    if not partial and set(members) - covered:
        missing = ", ".join(m.describe() for m in members if m not in covered)
        raise PfaSyntaxError(f'cases do not cover {missing}; add them or set "partial": true', where)
    result = NULL if partial else unite([b.type for _, _, b in cases])
    table = {t: (slot, (b if partial else coerce(b, result)).run) for t, slot, b in cases}
    get, union = subject.run, subject.type

    def run(frame: list[Any]) -> Any:
        value = get(frame)
        found = table.get(branch_of(union, value))  # type: ignore[arg-type]
        if found is None:
            return None
        slot, body = found
        frame[slot] = value
        out = body(frame)
        return None if partial else out

    return Node(result, run, None, children=[subject, *(b for _, _, b in cases)])


def compile_upcast(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    node = c.compile(data["upcast"], join_path(path, "upcast"), scope.child(sealed_above=True, sealed_within=True))
    target = c.parse_type(data["as"], join_path(path, "as"))
    if not accepts(target, node.type):
        raise PfaSyntaxError(f"cannot upcast {node.type.describe()} to {target.describe()}", path)
    coerced = coerce(node, target)
    return Node(target, coerced.run, coerced.vec, children=[coerced], const=coerced.const)


def compile_ifnotnull(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    from modelport.runtimes.pfa.forms.control import _declare_loop_var

    bindings = data["ifnotnull"]
    where = join_path(path, "ifnotnull")
    if not isinstance(bindings, dict) or not bindings:
        raise PfaSyntaxError("'ifnotnull' needs an object of {name: expression}", where)
    value_scope = scope.child(sealed_above=True, sealed_within=True)
    then_scope = scope.child()
    subjects = []
    for name, expr in bindings.items():
        node = c.compile(expr, join_path(where, name), value_scope)
        if not is_nullable(node.type) or node.type == NULL:
            raise PfaSyntaxError(
                f"{name!r} must be a nullable union, not {node.type.describe()}", join_path(where, name)
            )
        inner_type = without_null(node.type)
        subjects.append((node, _declare_loop_var(name, inner_type, join_path(where, name), then_scope), inner_type))
    then = c.compile_block(data["then"], join_path(path, "then"), then_scope)
    otherwise = c.compile_block(data["else"], join_path(path, "else"), scope) if "else" in data else None
    result = unite([then.type, otherwise.type]) if otherwise is not None else NULL
    if otherwise is not None:
        then, otherwise = coerce(then, result), coerce(otherwise, result)
    gets = [(n.run, slot) for n, slot, _ in subjects]
    then_run = then.run
    else_run = otherwise.run if otherwise is not None else None

    def run(frame: list[Any]) -> Any:
        values = [(g(frame), slot) for g, slot in gets]
        if any(v is None for v, _ in values):
            return else_run(frame) if else_run is not None else None
        for v, slot in values:
            frame[slot] = v
        out = then_run(frame)
        return out if else_run is not None else None

    children = [n for n, _, _ in subjects] + [then] + ([otherwise] if otherwise is not None else [])
    if any(n.vec is None for n in children):
        return Node(result, run, None, children=children)
    vgets = [(n.vec, slot, t) for n, slot, t in subjects]
    then_vec = then.vec
    else_vec = otherwise.vec if otherwise is not None else None

    def vec(vframe: Any) -> Any:
        n = vframe.n
        values = [(g(vframe), slot, t) for g, slot, t in vgets]  # type: ignore[misc]
        present = np.ones(n, dtype=bool)
        for v, _, _ in values:
            if is_rowwise(v):
                if v.dtype == object:
                    present &= np.array([x is not None for x in v], dtype=bool)
            elif v is None:
                present[:] = False
        parts = []
        taken = np.flatnonzero(present)
        if len(taken):
            sub = vframe.take(taken)
            for v, slot, t in values:
                if is_rowwise(v):
                    v = v[taken]
                    sub.slots[slot] = from_rows(row_values(v, len(taken)), t) if v.dtype == object else v
                else:
                    sub.slots[slot] = v
            parts.append((taken, then_vec(sub)))  # type: ignore[misc]
        rest = np.flatnonzero(~present)
        if len(rest) and else_vec is not None:
            parts.append((rest, else_vec(vframe.take(rest))))
        if else_vec is None:
            return None
        return merge(n, parts, result)

    return Node(result, run, vec, children=children)


def compile_try(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    body = c.compile_block(data["try"], join_path(path, "try"), scope)
    allowed = data.get("filter")
    if allowed is not None and (not isinstance(allowed, list) or not all(isinstance(x, (str, int)) for x in allowed)):
        raise PfaSyntaxError("'filter' must be a list of error messages or codes", join_path(path, "filter"))
    result = NULL if body.type in (NULL,) else unite([NULL, body.type])
    inner = coerce(body, result).run if result != NULL else body.run

    def run(frame: list[Any]) -> Any:
        try:
            out = inner(frame)
        except PfaRuntimeError as exc:
            if allowed is not None and exc.pfa_message not in allowed and exc.pfa_code not in allowed:
                raise
            return None
        return out if result != NULL else None

    return Node(result, run, None, children=[body])
