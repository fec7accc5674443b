"""Library function signatures: type patterns and how arguments match them.

A signature is a list of parameter *patterns* and a return pattern, e.g.
``+`` is ``(A, A) -> A`` with ``A`` any number.  Matching binds each type
variable to the narrowest type that holds every argument bound to it, so
``{"+": [1, 2.5]}`` is ``double``.  Function-reference parameters are
matched last: their parameter types come from the variables already bound,
their return type binds new ones (``a.map(array<A>, fcn(A -> B)) -> array<B>``).

An :class:`Impl` is what a matched signature runs: ``scalar`` on plain values
and, when there is one, ``vector`` on vector values (see :mod:`vector`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from modelport.runtimes.pfa.types import (
    NULL,
    NUMERIC_RANK,
    ArrayType,
    AvroType,
    EnumType,
    FcnType,
    MapType,
    RecordType,
    UnionType,
    accepts,
    unite,
    without_null,
)

NUMBERS = frozenset(NUMERIC_RANK)
INTEGERS = frozenset({"int", "long"})
FLOATS = frozenset({"float", "double"})


class Mismatch(Exception):
    """Arguments that do not fit a signature (becomes a PfaSyntaxError)."""


class Pattern(ABC):
    @abstractmethod
    def describe(self) -> str:
        """How the pattern reads in an error message."""


@dataclass(frozen=True)
class T(Pattern):
    """A concrete type (numeric promotion applies)."""

    type: AvroType

    def describe(self) -> str:
        return self.type.describe()


@dataclass(frozen=True)
class Var(Pattern):
    """A type variable, optionally restricted to some kinds (``NUMBERS``)."""

    name: str
    kinds: frozenset[str] | None = None

    def describe(self) -> str:
        return self.name if self.kinds is None else f"{self.name}:{'|'.join(sorted(self.kinds))}"


@dataclass(frozen=True)
class Arr(Pattern):
    items: Pattern

    def describe(self) -> str:
        return f"array<{self.items.describe()}>"


@dataclass(frozen=True)
class Map(Pattern):
    values: Pattern

    def describe(self) -> str:
        return f"map<{self.values.describe()}>"


@dataclass(frozen=True)
class Rec(Pattern):
    """Any record having (at least) these fields; binds ``name`` to the record type."""

    name: str
    fields: tuple[tuple[str, Pattern], ...] = ()

    def describe(self) -> str:
        inner = ", ".join(f"{k}: {p.describe()}" for k, p in self.fields)
        return f"{self.name}{{{inner}}}"


@dataclass(frozen=True)
class AnyEnum(Pattern):
    name: str

    def describe(self) -> str:
        return f"{self.name}:enum"


@dataclass(frozen=True)
class Nullable(Pattern):
    """``union<null, X>``; also matches a plain ``X`` or ``null``."""

    inner: Pattern

    def describe(self) -> str:
        return f"union<null,{self.inner.describe()}>"


@dataclass(frozen=True)
class Fcn(Pattern):
    params: tuple[Pattern, ...]
    ret: Pattern

    def describe(self) -> str:
        return "fcn(" + ", ".join(p.describe() for p in self.params) + " -> " + self.ret.describe() + ")"


def rec(name: str, **fields: Pattern) -> Rec:
    return Rec(name, tuple(fields.items()))


@dataclass(frozen=True)
class Impl:
    """What a resolved call runs; ``vector`` is ``None`` when only row by row."""

    scalar: Callable[..., Any]
    vector: Callable[..., Any] | None = None


Builder = Callable[[SimpleNamespace], Impl]


@dataclass(frozen=True)
class Sig:
    params: tuple[Pattern, ...]
    ret: Pattern | Callable[[dict[str, AvroType]], AvroType]
    build: Builder
    #: parameter names, for ``{"fcn": ..., "fill": {name: ...}}`` references
    names: tuple[str, ...] | None = None

    def describe(self) -> str:
        ret = self.ret.describe() if isinstance(self.ret, Pattern) else "..."
        return "(" + ", ".join(p.describe() for p in self.params) + ") -> " + ret


@dataclass
class Resolution:
    """A matched call: argument target types, the return type and the implementation."""

    targets: list[AvroType | None]
    fcn_args: dict[int, Any]
    ret: AvroType
    impl: Impl
    bindings: dict[str, AvroType] = field(default_factory=dict)


def _collect(p: Pattern, t: AvroType, found: dict[str, list[AvroType]]) -> None:
    if isinstance(p, Var):
        found.setdefault(p.name, []).append(t)
    elif isinstance(p, Arr):
        if not isinstance(t, ArrayType):
            raise Mismatch(f"expected an array, found {t.describe()}")
        _collect(p.items, t.items, found)
    elif isinstance(p, Map):
        if not isinstance(t, MapType):
            raise Mismatch(f"expected a map, found {t.describe()}")
        _collect(p.values, t.values, found)
    elif isinstance(p, Rec):
        if not isinstance(t, RecordType):
            raise Mismatch(f"expected a record, found {t.describe()}")
        found.setdefault(p.name, []).append(t)
        for fname, fp in p.fields:
            if fname not in t.field_map:
                raise Mismatch(f"record {t.fullname} has no field {fname!r}")
            _collect(fp, t.field_map[fname].type, found)
    elif isinstance(p, AnyEnum):
        if not isinstance(t, EnumType):
            raise Mismatch(f"expected an enum, found {t.describe()}")
        found.setdefault(p.name, []).append(t)
    elif isinstance(p, Nullable) and t != NULL:
        _collect(p.inner, without_null(t), found)


def _bind(name: str, types: list[AvroType]) -> AvroType:
    if all(t.is_numeric for t in types):
        return max(types, key=lambda t: NUMERIC_RANK[t.kind])
    for candidate in types:
        if all(accepts(candidate, t) for t in types):
            return candidate
    raise Mismatch(f"{name} cannot be both " + " and ".join(t.describe() for t in types))


def resolve_pattern(p: Pattern, bindings: dict[str, AvroType]) -> AvroType:
    if isinstance(p, T):
        return p.type
    if isinstance(p, (Var, Rec, AnyEnum)):
        if p.name not in bindings:
            raise Mismatch(f"cannot infer type {p.name}")
        return bindings[p.name]
    if isinstance(p, Arr):
        return ArrayType(resolve_pattern(p.items, bindings))
    if isinstance(p, Map):
        return MapType(resolve_pattern(p.values, bindings))
    if isinstance(p, Nullable):
        inner = resolve_pattern(p.inner, bindings)
        if inner == NULL:
            return NULL
        members = inner.types if isinstance(inner, UnionType) else (inner,)
        return inner if NULL in members else UnionType((NULL, *members))
    if isinstance(p, Fcn):
        return FcnType(tuple(resolve_pattern(x, bindings) for x in p.params), resolve_pattern(p.ret, bindings))
    raise TypeError(p)


def _check_nested(p: Pattern, bindings: dict[str, AvroType]) -> None:
    """Variable kinds, and the field types of record patterns (not covered by ``accepts``)."""
    if isinstance(p, Var) and p.kinds is not None and bindings[p.name].kind not in p.kinds:
        raise Mismatch(f"{p.name} must be one of {', '.join(sorted(p.kinds))}, not {bindings[p.name].describe()}")
    if isinstance(p, Rec):
        record = bindings[p.name]
        for fname, fp in p.fields:
            target = resolve_pattern(fp, bindings)
            actual = record.field_map[fname].type  # type: ignore[attr-defined]
            if not accepts(target, actual):
                raise Mismatch(
                    f"field {fname!r} of {record.describe()} must be {target.describe()}, not {actual.describe()}"
                )
    for child in _children(p):
        _check_nested(child, bindings)


def _children(p: Pattern) -> Sequence[Pattern]:
    if isinstance(p, Arr):
        return (p.items,)
    if isinstance(p, Map):
        return (p.values,)
    if isinstance(p, Nullable):
        return (p.inner,)
    if isinstance(p, Rec):
        return tuple(fp for _, fp in p.fields)
    return ()


def match(sig: Sig, args: Sequence[Any], name: str) -> Resolution:
    """Match compiled arguments (nodes with ``.type``, or function arguments) to ``sig``."""
    from modelport.runtimes.pfa.fcnargs import FcnArg  # fcnargs imports the library registry

    if len(args) != len(sig.params):
        raise Mismatch(f"expects {len(sig.params)} argument{'s' if len(sig.params) != 1 else ''}, got {len(args)}")
    found: dict[str, list[AvroType]] = {}
    for p, a in zip(sig.params, args, strict=False):
        if isinstance(p, Fcn) != isinstance(a, FcnArg):
            raise Mismatch("expected a function reference" if isinstance(p, Fcn) else "unexpected function reference")
        if not isinstance(p, Fcn):
            _collect(p, a.type, found)
    bindings = {k: _bind(k, v) for k, v in found.items()}
    fcn_args: dict[int, Any] = {}
    for i, (p, a) in enumerate(zip(sig.params, args, strict=False)):
        if isinstance(p, Fcn):
            params = [resolve_pattern(x, bindings) for x in p.params]
            specialised = a.specialise(params)
            if len(specialised.type.params) != len(params):
                raise Mismatch(
                    f"function argument {i + 1} must take {len(params)} parameters, not {len(specialised.type.params)}"
                )
            for expected, declared in zip(params, specialised.type.params, strict=False):
                if not accepts(declared, expected):
                    raise Mismatch(
                        f"function argument {i + 1} takes {declared.describe()} where {expected.describe()} is passed"
                    )
            ret_found: dict[str, list[AvroType]] = {}
            _collect(p.ret, specialised.type.ret, ret_found)
            for k, v in ret_found.items():
                bindings[k] = _bind(k, v + ([bindings[k]] if k in bindings else []))
            expected_ret = resolve_pattern(p.ret, bindings)
            if not accepts(expected_ret, specialised.type.ret):
                raise Mismatch(
                    f"function argument {i + 1} returns {specialised.type.ret.describe()}, not {expected_ret.describe()}"
                )
            fcn_args[i] = specialised
    targets: list[AvroType | None] = []
    for p, a in zip(sig.params, args, strict=False):
        if isinstance(p, Fcn):
            targets.append(None)
            continue
        _check_nested(p, bindings)
        target = resolve_pattern(p, bindings)
        if not accepts(target, a.type):
            raise Mismatch(f"expected {target.describe()}, found {a.type.describe()}")
        targets.append(target)
    ret = sig.ret(bindings) if not isinstance(sig.ret, Pattern) else resolve_pattern(sig.ret, bindings)
    ctx = SimpleNamespace(name=name, bindings=bindings, targets=targets, ret=ret, fcn_args=fcn_args)
    return Resolution(targets, fcn_args, ret, sig.build(ctx), bindings)


def united(*names: str) -> Callable[[dict[str, AvroType]], AvroType]:
    """A return type that unites several bound variables."""
    return lambda b: unite(b[n] for n in names)
