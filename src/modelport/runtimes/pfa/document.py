"""Reading a PFA document (JSON or YAML) and checking its top-level fields."""

from __future__ import annotations

import json
from typing import Any

from modelport.runtimes.pfa.errors import PfaSyntaxError, PfaUnsupported

TOP_LEVEL_FIELDS = frozenset(
    {
        "name",
        "method",
        "input",
        "output",
        "begin",
        "action",
        "end",
        "fcns",
        "zero",
        "merge",
        "cells",
        "pools",
        "randseed",
        "doc",
        "version",
        "metadata",
        "options",
    }
)
REQUIRED_FIELDS = ("input", "output", "action")


def load_document(document: dict[str, Any] | str | bytes) -> dict[str, Any]:
    """The document as a JSON object; JSON text is tried first, then YAML."""
    if isinstance(document, dict):
        data: Any = document
    else:
        if isinstance(document, (bytes, bytearray)):
            try:
                document = bytes(document).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PfaSyntaxError(f"a PFA document must be UTF-8 text: {exc}") from None
        if not isinstance(document, str):
            raise PfaSyntaxError(f"a PFA document must be a dict, str or bytes, not {type(document).__name__}")
        data = _parse_text(document)
    if not isinstance(data, dict):
        raise PfaSyntaxError(f"a PFA document must be a JSON object, not {type(data).__name__}")
    return data


def _parse_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as json_error:
        if text.lstrip().startswith("{"):
            # Meant as JSON: the JSON error is the useful one.
            raise PfaSyntaxError(f"invalid JSON: {json_error}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as yaml_error:
        where = getattr(yaml_error, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(yaml_error, "problem", None) or str(yaml_error)
        raise PfaSyntaxError(f"invalid YAML{at}: {problem}") from None


def check_top_level(data: dict[str, Any]) -> None:
    """Refuse unknown or missing top-level fields and methods other than ``map``."""
    unknown = sorted(set(data) - TOP_LEVEL_FIELDS)
    if unknown:
        raise PfaSyntaxError(f"unexpected top-level field {unknown[0]!r}")
    missing = [f for f in REQUIRED_FIELDS if f not in data]
    if missing:
        raise PfaSyntaxError(
            "missing top-level field" + ("s " if len(missing) > 1 else " ") + ", ".join(repr(m) for m in missing)
        )
    method = data.get("method", "map")
    if method not in ("map", "emit", "fold"):
        raise PfaSyntaxError(f'\'method\' must be "map", "emit" or "fold", not {method!r}', "method")
    if method != "map":
        raise PfaUnsupported(f'unsupported PFA method {method!r}: only "map" is supported', "method")
    for field in ("zero", "merge"):
        if field in data:
            raise PfaUnsupported(
                f'unsupported top-level field {field!r}: it belongs to method "fold", which is unsupported', field
            )
    for field in ("name", "doc"):
        if field in data and not isinstance(data[field], str):
            raise PfaSyntaxError(f"{field!r} must be a string", field)
    for field in ("version", "randseed"):
        if field in data and (not isinstance(data[field], int) or isinstance(data[field], bool)):
            raise PfaSyntaxError(f"{field!r} must be an integer", field)
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise PfaSyntaxError("'metadata' must map names to strings", "metadata")
    if not isinstance(data.get("options", {}), dict):
        raise PfaSyntaxError("'options' must be an object", "options")
    for field in ("cells", "pools", "fcns"):
        if field in data and not isinstance(data[field], dict):
            raise PfaSyntaxError(f"{field!r} must be an object", field)
