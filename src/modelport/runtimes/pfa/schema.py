"""Reading Avro type declarations (schemas) out of a PFA document.

Named types may be declared anywhere a type is allowed (``input``, a cell, a
function parameter, a ``new`` expression) and referenced by name from any
other place, before or after the declaration.  So the registry first sweeps
the whole document for named declarations, then resolves references.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelport.runtimes.pfa.errors import PfaSyntaxError, PfaUnsupported, join_path
from modelport.runtimes.pfa.types import (
    PRIMITIVE_TYPES,
    ArrayType,
    AvroType,
    EnumType,
    Field,
    MapType,
    RecordType,
    UnionType,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAMED_KINDS = ("record", "enum", "fixed")


def _fullname(name: Any, namespace: Any, path: str) -> str:
    if not isinstance(name, str) or not all(_NAME.match(p) for p in name.split(".")):
        raise PfaSyntaxError(f"invalid Avro type name {name!r}", path)
    if "." in name:
        return name
    if namespace:
        if not isinstance(namespace, str):
            raise PfaSyntaxError(f"invalid Avro namespace {namespace!r}", path)
        return f"{namespace}.{name}"
    return name


def _namespace_of(fullname: str) -> str | None:
    return fullname.rsplit(".", 1)[0] if "." in fullname else None


class TypeRegistry:
    """Parses Avro type JSON, sharing named types across one document."""

    def __init__(self) -> None:
        self._named: dict[str, AvroType] = {}
        self._declarations: dict[str, tuple[Any, str]] = {}

    def prescan(self, data: Any, path: str = "", namespace: str | None = None) -> None:
        """Register every named type declared anywhere in ``data``."""
        if isinstance(data, dict):
            kind = data.get("type")
            if kind in _NAMED_KINDS and "name" in data and ("fields" in data or "symbols" in data or "size" in data):
                fullname = _fullname(data["name"], data.get("namespace", namespace), path)
                self._declare(fullname, data, path)
                namespace = _namespace_of(fullname)
            for key, value in data.items():
                self.prescan(value, join_path(path, key), namespace)
        elif isinstance(data, list):
            for i, value in enumerate(data):
                self.prescan(value, join_path(path, i), namespace)

    def _declare(self, fullname: str, data: dict[str, Any], path: str) -> None:
        if fullname in self._declarations:
            if _canonical(self._declarations[fullname][0]) != _canonical(data):
                raise PfaSyntaxError(f"Avro type {fullname!r} is declared twice with different definitions", path)
            return
        self._declarations[fullname] = (data, path)
        kind = data["type"]
        if kind == "fixed":
            raise PfaUnsupported("unsupported Avro type 'fixed'", path)
        if kind == "enum":
            symbols = data.get("symbols")
            if not isinstance(symbols, list) or not all(isinstance(s, str) and _NAME.match(s) for s in symbols):
                raise PfaSyntaxError(f"enum {fullname!r} needs a list of symbol names", join_path(path, "symbols"))
            if len(set(symbols)) != len(symbols):
                raise PfaSyntaxError(f"enum {fullname!r} repeats a symbol", join_path(path, "symbols"))
            self._named[fullname] = EnumType(fullname, tuple(symbols))
        else:
            self._named[fullname] = RecordType(fullname)

    def resolve_declarations(self) -> None:
        """Attach fields to every declared record (after :meth:`prescan`)."""
        for fullname, (data, path) in self._declarations.items():
            record = self._named[fullname]
            if isinstance(record, RecordType):
                record.set_fields(self._fields(fullname, data, path))

    def _fields(self, fullname: str, data: dict[str, Any], path: str) -> list[Field]:
        from modelport.runtimes.pfa.values import decode_json  # values depends on types, not schema

        raw = data.get("fields")
        fields_path = join_path(path, "fields")
        if not isinstance(raw, list):
            raise PfaSyntaxError(f"record {fullname!r} needs a list of fields", fields_path)
        fields: list[Field] = []
        for i, item in enumerate(raw):
            where = join_path(fields_path, i)
            if not isinstance(item, dict) or "name" not in item or "type" not in item:
                raise PfaSyntaxError("a record field needs a 'name' and a 'type'", where)
            name = item["name"]
            if not isinstance(name, str) or not _NAME.match(name):
                raise PfaSyntaxError(f"invalid field name {name!r}", where)
            if any(f.name == name for f in fields):
                raise PfaSyntaxError(f"record {fullname!r} repeats field {name!r}", where)
            ftype = self.parse(item["type"], join_path(where, "type"), _namespace_of(fullname))
            if "default" in item:
                default = decode_json(ftype, item["default"], join_path(where, "default"))
                fields.append(Field(name, ftype, True, default))
            else:
                fields.append(Field(name, ftype))
        return fields

    def parse(self, data: Any, path: str, namespace: str | None = None) -> AvroType:
        """The type an Avro schema JSON value stands for."""
        if isinstance(data, str):
            if data in PRIMITIVE_TYPES:
                return PRIMITIVE_TYPES[data]
            return self._lookup(data, namespace, path)
        if isinstance(data, list):
            return self._union(data, path, namespace)
        if not isinstance(data, dict):
            raise PfaSyntaxError(f"expected an Avro type, found {_short(data)}", path)
        kind = data.get("type")
        if isinstance(kind, (dict, list)):
            return self.parse(kind, join_path(path, "type"), namespace)
        if kind in PRIMITIVE_TYPES:
            return PRIMITIVE_TYPES[kind]
        if kind == "array":
            if "items" not in data:
                raise PfaSyntaxError("array type needs 'items'", path)
            return ArrayType(self.parse(data["items"], join_path(path, "items"), namespace))
        if kind == "map":
            if "values" not in data:
                raise PfaSyntaxError("map type needs 'values'", path)
            return MapType(self.parse(data["values"], join_path(path, "values"), namespace))
        if kind in _NAMED_KINDS:
            if "name" not in data:
                raise PfaSyntaxError(f"{kind} type needs a 'name'", path)
            fullname = _fullname(data["name"], data.get("namespace", namespace), path)
            if fullname not in self._named:
                # Declared in a place the prescan did not see (a document
                # built in pieces): declare and resolve it now.
                self._declare(fullname, data, path)
                record = self._named[fullname]
                if isinstance(record, RecordType):
                    record.set_fields(self._fields(fullname, data, path))
            elif _canonical(self._declarations[fullname][0]) != _canonical(data):
                raise PfaSyntaxError(f"Avro type {fullname!r} is declared twice with different definitions", path)
            return self._named[fullname]
        if isinstance(kind, str):
            return self._lookup(kind, namespace, path)
        raise PfaSyntaxError(f"expected an Avro type, found {_short(data)}", path)

    def _lookup(self, name: str, namespace: str | None, path: str) -> AvroType:
        candidates = [f"{namespace}.{name}", name] if namespace and "." not in name else [name]
        for candidate in candidates:
            if candidate in self._named:
                return self._named[candidate]
        # A short name may refer to a type declared inside some namespace.
        matches = [t for full, t in self._named.items() if full.rsplit(".", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        raise PfaSyntaxError(f"unknown Avro type {name!r}", path)

    def _union(self, data: list[Any], path: str, namespace: str | None) -> AvroType:
        if not data:
            raise PfaSyntaxError("a union type needs at least one member", path)
        members: list[AvroType] = []
        for i, item in enumerate(data):
            member = self.parse(item, join_path(path, i), namespace)
            if isinstance(member, UnionType):
                raise PfaSyntaxError("a union may not directly contain another union", join_path(path, i))
            if member in members or (member.kind in ("array", "map") and any(m.kind == member.kind for m in members)):
                raise PfaSyntaxError(f"union repeats the type {member.describe()}", join_path(path, i))
            members.append(member)
        return members[0] if len(members) == 1 else UnionType(tuple(members))


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
