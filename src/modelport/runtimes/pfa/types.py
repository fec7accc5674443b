"""Avro types as the PFA type checker sees them.

Records and enums are *named*: two record types are the same type when their
full names are equal, which is also how recursive types (a ``TreeNode`` whose
``pass`` field may hold another ``TreeNode``) stay finite.  Two non-Avro types
join them for the checker: :class:`FcnType` for function references and
:data:`EXCEPTION` for ``{"error": ...}``, which fits wherever a value is
expected because it never produces one.

Numeric promotion follows PFA: a ``long`` slot accepts an ``int``; ``float``
accepts ``int`` and ``long``; ``double`` accepts every number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NUMERIC_RANK = {"int": 0, "long": 1, "float": 2, "double": 3}
PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


class AvroType:
    """Base of every type; ``kind`` is the Avro type name (``record``, ``double``...)."""

    kind: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.kind in NUMERIC_RANK

    @property
    def is_integral(self) -> bool:
        return self.kind in ("int", "long")

    def describe(self) -> str:
        """A short human-readable name for error messages."""
        return self.kind

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


@dataclass(frozen=True, eq=True, repr=False)
class PrimitiveType(AvroType):
    kind: str  # type: ignore[misc]


NULL = PrimitiveType("null")
BOOLEAN = PrimitiveType("boolean")
INT = PrimitiveType("int")
LONG = PrimitiveType("long")
FLOAT = PrimitiveType("float")
DOUBLE = PrimitiveType("double")
BYTES = PrimitiveType("bytes")
STRING = PrimitiveType("string")
PRIMITIVE_TYPES = {t.kind: t for t in (NULL, BOOLEAN, INT, LONG, FLOAT, DOUBLE, BYTES, STRING)}


@dataclass(frozen=True, eq=True, repr=False)
class ArrayType(AvroType):
    items: AvroType
    kind: str = field(default="array", init=False)

    def describe(self) -> str:
        return f"array<{self.items.describe()}>"


@dataclass(frozen=True, eq=True, repr=False)
class MapType(AvroType):
    values: AvroType
    kind: str = field(default="map", init=False)

    def describe(self) -> str:
        return f"map<{self.values.describe()}>"


@dataclass(frozen=True)
class Field:
    """One record field; ``default`` is already decoded when ``has_default``."""

    name: str
    type: AvroType
    has_default: bool = False
    default: Any = None


class RecordType(AvroType):
    """A named record; fields are attached after construction so types may recurse."""

    kind = "record"

    def __init__(self, fullname: str) -> None:
        self.fullname = fullname
        self.fields: tuple[Field, ...] = ()
        self.field_map: dict[str, Field] = {}

    def set_fields(self, fields: Iterable[Field]) -> None:
        self.fields = tuple(fields)
        self.field_map = {f.name: f for f in self.fields}

    @property
    def name(self) -> str:
        return self.fullname.rsplit(".", 1)[-1]

    def describe(self) -> str:
        return self.fullname

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordType) and other.fullname == self.fullname

    def __hash__(self) -> int:
        return hash(("record", self.fullname))


class EnumType(AvroType):
    """A named enumeration of symbols; values are the symbol strings."""

    kind = "enum"

    def __init__(self, fullname: str, symbols: tuple[str, ...]) -> None:
        self.fullname = fullname
        self.symbols = symbols
        self.index = {s: i for i, s in enumerate(symbols)}

    @property
    def name(self) -> str:
        return self.fullname.rsplit(".", 1)[-1]

    def describe(self) -> str:
        return self.fullname

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumType) and other.fullname == self.fullname

    def __hash__(self) -> int:
        return hash(("enum", self.fullname))


@dataclass(frozen=True, eq=True, repr=False)
class UnionType(AvroType):
    types: tuple[AvroType, ...]
    kind: str = field(default="union", init=False)

    def describe(self) -> str:
        return "union<" + ",".join(t.describe() for t in self.types) + ">"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnionType) and set(other.types) == set(self.types)

    def __hash__(self) -> int:
        return hash(("union", frozenset(self.types)))

    @property
    def is_nullable(self) -> bool:
        return NULL in self.types


@dataclass(frozen=True, eq=True, repr=False)
class FcnType(AvroType):
    """The type of a function reference: parameter types and return type."""

    params: tuple[AvroType, ...]
    ret: AvroType
    kind: str = field(default="function", init=False)

    def describe(self) -> str:
        return "fcn(" + ", ".join(p.describe() for p in self.params) + " -> " + self.ret.describe() + ")"


@dataclass(frozen=True, eq=True, repr=False)
class ExceptionType(AvroType):
    """The type of ``{"error": ...}``: never yields a value, so fits anywhere."""

    kind: str = field(default="exception", init=False)


EXCEPTION = ExceptionType()


def accepts(expected: AvroType, actual: AvroType) -> bool:
    """Whether a slot of type ``expected`` can hold a value of type ``actual``."""
    if isinstance(actual, ExceptionType):
        return True
    if isinstance(expected, UnionType):
        if isinstance(actual, UnionType):
            return all(any(accepts(e, a) for e in expected.types) for a in actual.types)
        return any(accepts(e, actual) for e in expected.types)
    if isinstance(actual, UnionType):
        return all(accepts(expected, a) for a in actual.types)
    if expected.is_numeric and actual.is_numeric:
        return NUMERIC_RANK[actual.kind] <= NUMERIC_RANK[expected.kind]
    if isinstance(expected, ArrayType):
        return isinstance(actual, ArrayType) and accepts(expected.items, actual.items)
    if isinstance(expected, MapType):
        return isinstance(actual, MapType) and accepts(expected.values, actual.values)
    if isinstance(expected, FcnType):
        return (
            isinstance(actual, FcnType)
            and len(expected.params) == len(actual.params)
            and all(accepts(a, e) for e, a in zip(expected.params, actual.params, strict=False))
            and accepts(expected.ret, actual.ret)
        )
    return expected == actual


def widest_number(types: Iterable[AvroType]) -> AvroType:
    return max(types, key=lambda t: NUMERIC_RANK[t.kind])


def unite(types: Iterable[AvroType]) -> AvroType:
    """The narrowest type holding all of ``types``: a wider number, one that
    accepts the rest, or else a union (the result type of ``if``/``cond``)."""
    found = [t for t in types if not isinstance(t, ExceptionType)]
    if not found:
        return EXCEPTION
    if all(t.is_numeric for t in found):
        return widest_number(found)
    for candidate in found:
        if all(accepts(candidate, t) for t in found):
            return candidate
    members: list[AvroType] = []
    for t in found:
        for m in t.types if isinstance(t, UnionType) else (t,):
            if not any(accepts(x, m) for x in members):
                members = [x for x in members if not accepts(m, x)] + [m]
    numbers = [m for m in members if m.is_numeric]
    if len(numbers) > 1:
        members = [m for m in members if not m.is_numeric] + [widest_number(numbers)]
    return members[0] if len(members) == 1 else UnionType(tuple(members))


def without_null(t: AvroType) -> AvroType:
    """``union<null, X>`` -> ``X``; ``union<null, X, Y>`` -> ``union<X, Y>``."""
    if not isinstance(t, UnionType):
        return t
    rest = tuple(m for m in t.types if m != NULL)
    return rest[0] if len(rest) == 1 else UnionType(rest)


def is_nullable(t: AvroType) -> bool:
    return t == NULL or (isinstance(t, UnionType) and NULL in t.types)
