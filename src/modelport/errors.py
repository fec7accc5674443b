"""The modelport error tree.

Every error a caller can see is a :class:`ModelportError` carrying a neutral
``code``; the HTTP status for each code lives in one table at the API edge
(:mod:`modelport.api.errors`), and each wire protocol renders the same error
in its own envelope.  Third-party errors are translated where they are
raised (the registry turns an ``IntegrityError`` into :class:`AlreadyExists`),
never by matching message text.

    ModelportError
    ├── InvalidArgument        INVALID_ARGUMENT     the caller sent something wrong
    ├── NotFound               NOT_FOUND            no such model / version / alias / token
    ├── AlreadyExists          ALREADY_EXISTS       a name is taken
    ├── Conflict               CONFLICT             the state forbids it (alias points here)
    ├── FailedPrecondition     FAILED_PRECONDITION  environment not ready (stale schema)
    ├── Unauthenticated        UNAUTHENTICATED      no or unknown token
    ├── PermissionDenied       PERMISSION_DENIED    token lacks the scope
    ├── PayloadTooLarge        PAYLOAD_TOO_LARGE    body over the limit
    ├── RequestTimeout         REQUEST_TIMEOUT      the client sent its body too slowly
    ├── UnsupportedMediaType   UNSUPPORTED_MEDIA_TYPE
    ├── NotAcceptable          NOT_ACCEPTABLE
    ├── NotReady               NOT_READY            loading, try again
    ├── DeadlineExceeded       DEADLINE_EXCEEDED    took too long
    ├── ModelFailure           MODEL_ERROR          the model raised while predicting
    ├── DataLoss               DATA_LOSS            an artifact failed its sha256 check
    ├── Unavailable            UNAVAILABLE          a dependency (database, store, server) is unreachable
    ├── MissingExtra           MISSING_EXTRA        an optional dependency is not installed
    └── Internal               INTERNAL             a bug: report it
"""

from __future__ import annotations

from typing import Any, ClassVar


class ModelportError(Exception):
    """Base of every error modelport raises on purpose."""

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Dask, worker pools): keep details.
        return (_rebuild, (self.code, self.message, self.details))


class InvalidArgument(ModelportError):
    code = "INVALID_ARGUMENT"


class NotFound(ModelportError):
    code = "NOT_FOUND"


class AlreadyExists(ModelportError):
    code = "ALREADY_EXISTS"


class Conflict(ModelportError):
    code = "CONFLICT"


class FailedPrecondition(ModelportError):
    code = "FAILED_PRECONDITION"


class Unauthenticated(ModelportError):
    code = "UNAUTHENTICATED"


class PermissionDenied(ModelportError):
    code = "PERMISSION_DENIED"


class PayloadTooLarge(ModelportError):
    code = "PAYLOAD_TOO_LARGE"


class RequestTimeout(ModelportError):
    code = "REQUEST_TIMEOUT"


class UnsupportedMediaType(ModelportError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class NotAcceptable(ModelportError):
    code = "NOT_ACCEPTABLE"


class NotReady(ModelportError):
    code = "NOT_READY"


class DeadlineExceeded(ModelportError):
    code = "DEADLINE_EXCEEDED"


class ModelFailure(ModelportError):
    code = "MODEL_ERROR"


class DataLoss(ModelportError):
    code = "DATA_LOSS"


class Unavailable(ModelportError):
    code = "UNAVAILABLE"


class MissingExtra(ModelportError):
    code = "MISSING_EXTRA"

    @classmethod
    def for_extra(cls, extra: str, what: str) -> MissingExtra:
        return cls(f"{what} needs the optional dependencies: pip install 'modelport[{extra}]'")


class Internal(ModelportError):
    code = "INTERNAL"


ERRORS_BY_CODE: dict[str, type[ModelportError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        Conflict,
        FailedPrecondition,
        Unauthenticated,
        PermissionDenied,
        PayloadTooLarge,
        RequestTimeout,
        UnsupportedMediaType,
        NotAcceptable,
        NotReady,
        DeadlineExceeded,
        ModelFailure,
        DataLoss,
        Unavailable,
        MissingExtra,
        Internal,
    )
}


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> ModelportError:
    """Rebuild the error a server sent, so remote and local callers see the same class."""
    return ERRORS_BY_CODE.get(code, Internal)(message, details=details)


def _rebuild(code: str, message: str, details: dict[str, Any]) -> ModelportError:
    return error_from_code(code, message, details)
