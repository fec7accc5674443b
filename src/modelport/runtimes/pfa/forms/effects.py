"""``doc``, ``error`` and ``log``, and the forms this engine refuses."""

from __future__ import annotations

from typing import Any

from modelport.runtimes.pfa.errors import PfaRuntimeError, PfaSyntaxError, PfaUnsupported, join_path
from modelport.runtimes.pfa.node import Node, constant
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import EXCEPTION, INT_MAX, INT_MIN, NULL


def compile_doc(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    if not isinstance(data["doc"], str):
        raise PfaSyntaxError("'doc' must be a string", join_path(path, "doc"))
    return constant(NULL, None)


def compile_error(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    message = data["error"]
    if not isinstance(message, str):
        raise PfaSyntaxError("'error' must be a string message", join_path(path, "error"))
    code = data.get("code")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool) or not INT_MIN <= code <= INT_MAX):
        raise PfaSyntaxError("'code' must be an int", join_path(path, "code"))

    def run(frame: Any) -> Any:
        raise PfaRuntimeError(message, code)

    # Batched, this only runs for a non-empty set of rows that reached it.
    return Node(EXCEPTION, run, run, pure=False)


def compile_log(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
    """Type-checked, then ignored: modelport keeps no PFA log."""
    items = data["log"] if isinstance(data["log"], list) else [data["log"]]
    inner = scope.child(sealed_above=True, sealed_within=True)
    for i, item in enumerate(items):
        c.compile(item, join_path(join_path(path, "log"), i), inner)
    if "namespace" in data and not isinstance(data["namespace"], str):
        raise PfaSyntaxError("'namespace' must be a string", join_path(path, "namespace"))
    return constant(NULL, None)


def refuse(what: str) -> Any:
    def compile_refused(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
        raise PfaUnsupported(f"unsupported PFA special form {what}", path)

    return compile_refused


def misplaced(what: str) -> Any:
    def compile_misplaced(c: Any, data: dict[str, Any], path: str, scope: Scope) -> Node:
        raise PfaSyntaxError(f"{what} can only appear as a function argument", path)

    return compile_misplaced
