"""PFA values in Python, and their conversion from JSON and caller data.

The per-record interpreter holds every value as plain Python:

    null -> None        boolean -> bool     int, long -> int
    float, double -> float                  string, enum -> str
    bytes -> bytes      array -> list       map -> dict (str keys)
    record -> dict (field name -> value)    union -> the member's value

Values are never mutated in place (every library function builds a new list
or dict), which is what lets one compiled engine score from many threads and
lets constants be shared between calls.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument
from modelport.runtimes.pfa.errors import PfaSyntaxError, join_path
from modelport.runtimes.pfa.types import (
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    ArrayType,
    AvroType,
    EnumType,
    MapType,
    RecordType,
    UnionType,
)

_SPECIAL_FLOATS = {
    "NaN": math.nan,
    "nan": math.nan,
    "Infinity": math.inf,
    "inf": math.inf,
    "-Infinity": -math.inf,
    "-inf": -math.inf,
}


class ValueMismatch(InvalidArgument):
    """A value that does not fit its declared type; ``path`` says where in it."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(f"{reason} (at {path})" if path else reason)
        self.reason = reason
        self.path = path


def _is_bool(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not _is_bool(v)


def _is_float(v: Any) -> bool:
    return isinstance(v, (float, np.floating))


def member_name(t: AvroType) -> str:
    """The name a union member goes by in Avro's JSON encoding (``{"double": 1.5}``)."""
    if isinstance(t, (RecordType, EnumType)):
        return t.fullname
    return t.kind


def _tagged_member(union: UnionType, value: Any) -> tuple[AvroType, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        for member in union.types:
            name = member_name(member)
            if tag == name or (isinstance(member, (RecordType, EnumType)) and tag == member.name):
                return member, inner
    return None


def convert(t: AvroType, v: Any, path: str, *, tagged_unions: bool) -> Any:
    """Check ``v`` against ``t`` and return the internal value.

    ``tagged_unions`` reads Avro's JSON encoding of unions (``{"double": 1.5}``)
    first, as literals and cell initialisers use it; caller data is tried
    untagged first.  Both readings are accepted either way.
    """
    kind = t.kind
    if kind == "null":
        if v is None:
            return None
    elif kind == "boolean":
        if _is_bool(v):
            return bool(v)
    elif kind == "int" or kind == "long":
        if _is_int(v) or (_is_float(v) and math.isfinite(v) and float(v).is_integer() and not tagged_unions):
            value = int(v)
            lo, hi = (INT_MIN, INT_MAX) if kind == "int" else (LONG_MIN, LONG_MAX)
            if not lo <= value <= hi:
                raise ValueMismatch(f"{value} is out of range for {kind}", path)
            return value
    elif kind == "float" or kind == "double":
        if _is_int(v) or _is_float(v):
            return float(v)
        if isinstance(v, str) and v in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[v]
    elif kind == "string":
        if isinstance(v, str):
            return v
    elif kind == "bytes":
        if isinstance(v, bytes):
            return v
        if isinstance(v, str):
            try:
                return v.encode("latin-1")  # Avro's JSON encoding of bytes
            except UnicodeEncodeError:
                raise ValueMismatch("bytes given as a string must only use code points below 256", path) from None
    elif isinstance(t, EnumType):
        if isinstance(v, str):
            if v in t.index:
                return v
            raise ValueMismatch(f"{v!r} is not a symbol of enum {t.fullname}", path)
    elif isinstance(t, ArrayType):
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, (list, tuple)):
            return [convert(t.items, x, join_path(path, i), tagged_unions=tagged_unions) for i, x in enumerate(v)]
    elif isinstance(t, MapType):
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {k: convert(t.values, x, join_path(path, k), tagged_unions=tagged_unions) for k, x in v.items()}
    elif isinstance(t, RecordType):
        if isinstance(v, dict):
            return _convert_record(t, v, path, tagged_unions)
    elif isinstance(t, UnionType):
        return _convert_union(t, v, path, tagged_unions)
    raise ValueMismatch(f"expected a value of type {t.describe()}, found {_short(v)}", path)


def _convert_record(t: RecordType, v: dict[str, Any], path: str, tagged_unions: bool) -> dict[str, Any]:
    extra = set(v) - set(t.field_map)
    if extra:
        raise ValueMismatch(f"record {t.fullname} has no field {sorted(extra)[0]!r}", path)
    out: dict[str, Any] = {}
    for f in t.fields:
        if f.name in v:
            out[f.name] = convert(f.type, v[f.name], join_path(path, f.name), tagged_unions=tagged_unions)
        elif f.has_default:
            out[f.name] = f.default
        else:
            raise ValueMismatch(f"record {t.fullname} is missing field {f.name!r}", path)
    return out


def _convert_union(t: UnionType, v: Any, path: str, tagged_unions: bool) -> Any:
    if v is None:
        if any(m.kind == "null" for m in t.types):
            return None
        raise ValueMismatch(f"null is not allowed for type {t.describe()}", path)
    tagged = _tagged_member(t, v)
    if tagged is not None and tagged_unions:
        return convert(tagged[0], tagged[1], path, tagged_unions=tagged_unions)
    member = branch_of(t, v)
    if member is not None:
        try:
            return convert(member, v, path, tagged_unions=tagged_unions)
        except ValueMismatch:
            pass
    for member in t.types:
        try:
            return convert(member, v, path, tagged_unions=tagged_unions)
        except ValueMismatch:
            continue
    if tagged is not None:
        return convert(tagged[0], tagged[1], path, tagged_unions=tagged_unions)
    raise ValueMismatch(f"expected a value of type {t.describe()}, found {_short(v)}", path)


def decode_json(t: AvroType, v: Any, path: str) -> Any:
    """A literal or initial value in Avro's JSON encoding, as an internal value."""
    try:
        return convert(t, v, path, tagged_unions=True)
    except ValueMismatch as exc:
        raise PfaSyntaxError(exc.reason, exc.path) from None


def _matches(t: AvroType, v: Any, exact: bool) -> bool:
    kind = t.kind
    if kind == "null":
        return v is None
    if kind == "boolean":
        return isinstance(v, bool)
    if kind in ("int", "long"):
        return isinstance(v, int) and not isinstance(v, bool) and (kind == "long" or INT_MIN <= v <= INT_MAX)
    if kind in ("float", "double"):
        return isinstance(v, float) or (not exact and isinstance(v, int) and not isinstance(v, bool))
    if kind == "string":
        return isinstance(v, str)
    if kind == "bytes":
        return isinstance(v, bytes)
    if isinstance(t, EnumType):
        return isinstance(v, str) and v in t.index
    if kind == "array":
        return isinstance(v, list)
    if isinstance(t, RecordType):
        return isinstance(v, dict) and v.keys() == t.field_map.keys()
    if kind == "map":
        return isinstance(v, dict)
    return False


def branch_of(t: AvroType, v: Any) -> AvroType | None:
    """Which member of a union an internal value belongs to (``None``: none)."""
    members = t.types if isinstance(t, UnionType) else (t,)
    # Records before maps (a record is also a dict), exact numbers before promotion.
    ordered = sorted(members, key=lambda m: 0 if m.kind in ("record", "enum") else 1)
    for exact in (True, False):
        for member in ordered:
            if _matches(member, v, exact):
                return member
    return None


def compare(t: AvroType, x: Any, y: Any) -> int:
    """Order two values of type ``t``: -1, 0 or 1 (PFA's ``cmp``)."""
    if isinstance(t, EnumType):
        a, b = t.index[x], t.index[y]
        return (a > b) - (a < b)
    if isinstance(t, ArrayType):
        for xi, yi in zip(x, y, strict=False):
            c = compare(t.items, xi, yi)
            if c:
                return c
        return (len(x) > len(y)) - (len(x) < len(y))
    if isinstance(t, MapType):
        return compare(ArrayType(t.values), [x[k] for k in sorted(x)], [y[k] for k in sorted(y)]) or (
            (sorted(x) > sorted(y)) - (sorted(x) < sorted(y))
        )
    if isinstance(t, RecordType):
        for f in t.fields:
            c = compare(f.type, x[f.name], y[f.name])
            if c:
                return c
        return 0
    if isinstance(t, UnionType):
        bx, by = branch_of(t, x), branch_of(t, y)
        ix, iy = t.types.index(bx), t.types.index(by)  # type: ignore[arg-type]
        if ix != iy:
            return (ix > iy) - (ix < iy)
        return compare(bx, x, y)  # type: ignore[arg-type]
    if t.kind == "null":
        return 0
    return (x > y) - (x < y)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
