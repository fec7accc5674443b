"""``map.*``: functions on maps (string keys).

Maps are unordered in PFA; ``map.keys``/``map.values`` return insertion
order, and ``map.argmax``/``map.argmin`` break ties by the smallest key.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import Arr, Fcn, Impl, Map, T, Var
from modelport.runtimes.pfa.types import BOOLEAN, INT, STRING, ArrayType
from modelport.runtimes.pfa.values import compare

A, B = Var("A"), Var("B")
MAP_A = Map(A)


def _remove(m: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k != key}


def _update(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    out.update(overlay)
    return out


def _join(maps: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in maps:
        out.update(m)
    return out


def _zipmap(a: dict[str, Any], b: dict[str, Any], f: Callable[[Any, Any], Any]) -> dict[str, Any]:
    if a.keys() != b.keys():
        raise PfaRuntimeError("misaligned maps", function="map.zipmap")
    return {k: f(a[k], b[k]) for k in a}


def _arg_extreme(name: str, want_max: bool) -> Callable[[SimpleNamespace], Impl]:
    def build(ctx: SimpleNamespace) -> Impl:
        t = ctx.bindings["A"]

        def scalar(m: dict[str, Any]) -> str:
            if not m:
                raise PfaRuntimeError("empty map", function=name)
            best = None
            for k in sorted(m):
                if best is None:
                    best = k
                    continue
                c = compare(t, m[k], m[best])
                if (c > 0) if want_max else (c < 0):
                    best = k
            return best  # type: ignore[return-value]

        return Impl(scalar)

    return build


FUNCTIONS: list[LibFunction] = [
    fn("map.len", sig([MAP_A], T(INT), len)),
    fn("map.keys", sig([MAP_A], T(ArrayType(STRING)), lambda m: list(m))),
    fn("map.values", sig([MAP_A], Arr(A), lambda m: list(m.values()))),
    fn(
        "map.containsKey",
        sig([MAP_A, T(STRING)], T(BOOLEAN), lambda m, k: k in m),
        sig([MAP_A, Fcn((T(STRING),), T(BOOLEAN))], T(BOOLEAN), lambda m, f: any(f(k) for k in m)),
    ),
    fn(
        "map.containsValue",
        sig([MAP_A, A], T(BOOLEAN), lambda m, x: any(v == x for v in m.values())),
        sig([MAP_A, Fcn((A,), T(BOOLEAN))], T(BOOLEAN), lambda m, f: any(f(v) for v in m.values())),
    ),
    fn("map.add", sig([MAP_A, T(STRING), A], MAP_A, lambda m, k, v: {**m, k: v}), partial=True),
    fn("map.remove", sig([MAP_A, T(STRING)], MAP_A, _remove)),
    fn("map.only", sig([MAP_A, Arr(T(STRING))], MAP_A, lambda m, keys: {k: v for k, v in m.items() if k in keys})),
    fn(
        "map.except", sig([MAP_A, Arr(T(STRING))], MAP_A, lambda m, keys: {k: v for k, v in m.items() if k not in keys})
    ),
    fn("map.update", sig([MAP_A, MAP_A], MAP_A, _update)),
    fn("map.split", sig([MAP_A], Arr(MAP_A), lambda m: [{k: v} for k, v in m.items()])),
    fn("map.join", sig([Arr(MAP_A)], MAP_A, _join)),
    fn("map.argmax", sig([MAP_A], T(STRING), build=_arg_extreme("map.argmax", True))),
    fn("map.argmin", sig([MAP_A], T(STRING), build=_arg_extreme("map.argmin", False))),
    fn("map.map", sig([MAP_A, Fcn((A,), B)], Map(B), lambda m, f: {k: f(v) for k, v in m.items()})),
    fn(
        "map.mapWithKey",
        sig([MAP_A, Fcn((T(STRING), A), B)], Map(B), lambda m, f: {k: f(k, v) for k, v in m.items()}),
    ),
    fn("map.filter", sig([MAP_A, Fcn((A,), T(BOOLEAN))], MAP_A, lambda m, f: {k: v for k, v in m.items() if f(v)})),
    fn(
        "map.filterWithKey",
        sig([MAP_A, Fcn((T(STRING), A), T(BOOLEAN))], MAP_A, lambda m, f: {k: v for k, v in m.items() if f(k, v)}),
    ),
    fn("map.zipmap", sig([MAP_A, Map(B), Fcn((A, B), Var("Z"))], Map(Var("Z")), _zipmap)),
]
