"""The errors a PFA document can raise, placed in modelport's error tree.

    InvalidArgument
    └── PfaError              the document cannot be loaded
        ├── PfaSyntaxError    malformed: bad JSON/YAML, a missing field, a bad
        │                     Avro type, wrong arity, an undefined symbol, a
        │                     type mismatch; the message says where
        └── PfaUnsupported    valid PFA outside modelport's subset; the message
                              names the construct
    ModelFailure
    └── PfaRuntimeError       the document raised while scoring ({"error": ...},
                              int overflow, integer division by zero, ...)

Load-time errors are the uploader's fault, so they are INVALID_ARGUMENT; a
runtime error is the model failing on a row, so it is MODEL_ERROR.
"""

from __future__ import annotations

import re

from modelport.errors import InvalidArgument, ModelFailure


class PfaError(InvalidArgument):
    """A PFA document that cannot be loaded."""


class PfaSyntaxError(PfaError):
    """A malformed PFA document; the message names the place (``action[0].let.x``)."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{message} (at {path})" if path else message)
        self.path = path


class PfaUnsupported(PfaError):
    """A valid PFA construct that this engine does not implement."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{message} (at {path})" if path else message)
        self.path = path


class PfaRuntimeError(ModelFailure):
    """A PFA document raised while scoring a row."""

    def __init__(self, message: str, code: int | None = None, *, function: str | None = None) -> None:
        text = f"{function}: {message}" if function else message
        super().__init__(f"PFA runtime error: {text}")
        self.pfa_message = message
        self.pfa_code = code


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def join_path(path: str, key: str | int) -> str:
    """Extend a document path: ``action[0]`` + ``"let"`` -> ``action[0].let``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'
