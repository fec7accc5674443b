"""The OpenAPI document of the control API, as the server really answers.

FastAPI's generated document promises a 422 with its own validation body; the
server answers every error in the JSON envelope with the status of one
table (:mod:`modelport.api.errors`).  So each operation's 422 is replaced by a
``default`` response with the envelope's schema, the bearer token is declared,
and path parameters carry the patterns the registry checks (documented here
only: the registry's own checks give the better messages).  A fuzzer reading
this document (``tests/api/test_fuzz.py``) then holds the server to it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from modelport.domain import NAME_MAX, NAME_PATTERN

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["NOT_FOUND"]},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}

#: what the registry accepts in each path parameter (schemas for documentation; the checks live in domain.py)
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": NAME_MAX},
    "alias": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_-]*$", "maxLength": NAME_MAX},
    "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
    # 1 to 2^63-1: 18 digits are always in range (the server takes the rest of 19 too)
    "version": {"type": "string", "pattern": r"^(latest|[1-9][0-9]{0,17})$"},
}

_ERROR_RESPONSE = {
    "description": "An error in the JSON envelope; the status comes from the code (400 INVALID_ARGUMENT, "
    "401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ALREADY_EXISTS/CONFLICT, "
    "413 PAYLOAD_TOO_LARGE, …)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def describe(app: FastAPI) -> dict[str, Any]:
    """The document ``/openapi.json`` serves (built once per app)."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for item in doc.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses["default"] = _ERROR_RESPONSE
                for param in operation.get("parameters", ()):
                    if param.get("in") == "path" and param["name"] in PATH_PARAMETERS:
                        param["schema"] = {**PATH_PARAMETERS[param["name"]], "title": param["schema"].get("title")}
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR_SCHEMA
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `modelport tokens create`; needed once auth is on (MODELPORT_AUTH)",
            }
        }
        doc["security"] = [{"bearer": []}]
        app.openapi_schema = doc
    return app.openapi_schema


def methods_at(app: FastAPI, path: str) -> list[str]:
    """The methods the document lists for ``path`` (what a 405's ``Allow`` header says), HEAD with GET."""
    methods: set[str] = set()
    for template, item in describe(app)["paths"].items():
        parts = re.split(r"(\{[^}]*\})", template)
        if re.fullmatch("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts), path):
            methods |= {m.upper() for m in item}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
