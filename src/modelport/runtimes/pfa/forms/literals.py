"""Literal values and ``new`` (building records, maps and arrays)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from modelport.runtimes.pfa.coercion import coerce
from modelport.runtimes.pfa.errors import PfaSyntaxError, join_path
from modelport.runtimes.pfa.node import Node, constant
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import (
    BOOLEAN,
    BYTES,
    DOUBLE,
    FLOAT,
    INT,
    INT_MAX,
    INT_MIN,
    LONG,
    LONG_MAX,
    LONG_MIN,
    NULL,
    STRING,
    ArrayType,
    MapType,
    RecordType,
    accepts,
)
from modelport.runtimes.pfa.values import decode_json
from modelport.runtimes.pfa.vector import VRecord, apply_rows, broadcast, dtype_for, is_rowwise, numeric_items


def compile_json_literal(data: Any, path: str) -> Node:
    """``null``, ``true``, ``3`` (int, or long if it needs 64 bits), ``2.5`` (double)."""
    if data is None:
        return constant(NULL, None)
    if isinstance(data, bool):
        return constant(BOOLEAN, data)
    if isinstance(data, int):
        if INT_MIN <= data <= INT_MAX:
            return constant(INT, data)
        if LONG_MIN <= data <= LONG_MAX:
            return constant(LONG, data)
        raise PfaSyntaxError(f"integer {data} is out of range for long", path)
    return constant(DOUBLE, float(data))


def string_literal(value: str) -> Node:
    return constant(STRING, value)


def _typed(kind: str, data: dict[str, Any], path: str) -> Node:
    value = data[kind]
    avro_type = {"int": INT, "long": LONG, "float": FLOAT, "double": DOUBLE, "string": STRING}[kind]
    return constant(avro_type, decode_json(avro_type, value, join_path(path, kind)))


def compile_int(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    return _typed("int", data, path)


def compile_long(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    return _typed("long", data, path)


def compile_float(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    return _typed("float", data, path)


def compile_double(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    return _typed("double", data, path)


def compile_string(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    return _typed("string", data, path)


def compile_base64(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    try:
        return constant(BYTES, base64.b64decode(data["base64"], validate=True))
    except (binascii.Error, TypeError, ValueError):
        raise PfaSyntaxError("invalid base64 data", join_path(path, "base64")) from None


def compile_typed_value(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    """``{"type": T, "value": V}``: any value written in Avro's JSON encoding."""
    avro_type = c.parse_type(data["type"], join_path(path, "type"))
    return constant(avro_type, decode_json(avro_type, data["value"], join_path(path, "value")))


def compile_new(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    """``{"new": {...} | [...], "type": T}``: a record, map or array from expressions."""
    avro_type = c.parse_type(data["type"], join_path(path, "type"))
    items = data["new"]
    where = join_path(path, "new")
    inner = scope.child(sealed_above=True, sealed_within=True)
    if isinstance(avro_type, RecordType):
        if not isinstance(items, dict):
            raise PfaSyntaxError(f"'new' of record {avro_type.fullname} needs an object of field expressions", where)
        return _new_record(c, avro_type, items, where, inner)
    if isinstance(avro_type, MapType):
        if not isinstance(items, dict):
            raise PfaSyntaxError("'new' of a map needs an object of expressions", where)
        return _new_map(c, avro_type, items, where, inner)
    if isinstance(avro_type, ArrayType):
        if not isinstance(items, list):
            raise PfaSyntaxError("'new' of an array needs a list of expressions", where)
        return _new_array(c, avro_type, items, where, inner)
    raise PfaSyntaxError(f"'new' builds records, maps and arrays, not {avro_type.describe()}", join_path(path, "type"))


def _element(c: Any, expected: Any, expr: Any, path: str, scope: Scope) -> Node:
    node = c.compile(expr, path, scope)
    if not accepts(expected, node.type):
        raise PfaSyntaxError(f"expected {expected.describe()}, found {node.type.describe()}", path)
    return coerce(node, expected)


def _new_record(c: Any, t: RecordType, items: dict[str, Any], path: str, scope: Scope) -> Node:
    unknown = sorted(set(items) - set(t.field_map))
    if unknown:
        raise PfaSyntaxError(f"record {t.fullname} has no field {unknown[0]!r}", path)
    fields: dict[str, Node] = {}
    for f in t.fields:
        if f.name in items:
            fields[f.name] = _element(c, f.type, items[f.name], join_path(path, f.name), scope)
        elif f.has_default:
            fields[f.name] = constant(f.type, f.default)
        else:
            raise PfaSyntaxError(f"record {t.fullname} is missing field {f.name!r}", path)
    names = list(fields)
    nodes = [fields[n] for n in names]
    if all(n.is_const for n in nodes):
        return constant(t, {n: node.const for n, node in zip(names, nodes, strict=False)})
    runs = [n.run for n in nodes]
    vecs = [n.vec for n in nodes]

    def run(frame: list[Any]) -> Any:
        return {n: r(frame) for n, r in zip(names, runs, strict=False)}

    def vec(vframe: Any) -> Any:
        values = [v(vframe) for v in vecs]  # type: ignore[misc]
        if not any(is_rowwise(v) for v in values):
            return dict(zip(names, values, strict=False))
        return VRecord(dict(zip(names, values, strict=False)), vframe.n)

    return Node(t, run, vec if all(v is not None for v in vecs) else None, children=nodes)


def _new_map(c: Any, t: MapType, items: dict[str, Any], path: str, scope: Scope) -> Node:
    keys = list(items)
    nodes = [_element(c, t.values, items[k], join_path(path, k), scope) for k in keys]
    if all(n.is_const for n in nodes):
        return constant(t, {k: n.const for k, n in zip(keys, nodes, strict=False)})
    runs = [n.run for n in nodes]
    vecs = [n.vec for n in nodes]

    def build(*values: Any) -> dict[str, Any]:
        return dict(zip(keys, values, strict=False))

    def run(frame: list[Any]) -> Any:
        return build(*[r(frame) for r in runs])

    def vec(vframe: Any) -> Any:
        values = [v(vframe) for v in vecs]  # type: ignore[misc]
        if not any(is_rowwise(v) for v in values):
            return build(*values)
        return apply_rows(build, values, vframe.n, t)

    return Node(t, run, vec if all(v is not None for v in vecs) else None, children=nodes)


def _new_array(c: Any, t: ArrayType, items: list[Any], path: str, scope: Scope) -> Node:
    nodes = [_element(c, t.items, item, join_path(path, i), scope) for i, item in enumerate(items)]
    if all(n.is_const for n in nodes):
        return constant(t, [n.const for n in nodes])
    runs = [n.run for n in nodes]
    vecs = [n.vec for n in nodes]
    stack = numeric_items(t)

    def run(frame: list[Any]) -> Any:
        return [r(frame) for r in runs]

    def vec(vframe: Any) -> Any:
        values = [v(vframe) for v in vecs]  # type: ignore[misc]
        if not any(is_rowwise(v) for v in values):
            return values
        if stack:
            # One column per element: the 2-D form the model functions consume.
            out = np.empty((vframe.n, len(values)), dtype=dtype_for(t.items))
            for j, v in enumerate(values):
                out[:, j] = broadcast(v, vframe.n, t.items)
            return out
        return apply_rows(lambda *xs: list(xs), values, vframe.n, t)

    return Node(t, run, vec if all(v is not None for v in vecs) else None, children=nodes)
