"""The one table from error codes to HTTP statuses, and the JSON error body.

Control-API errors are ``{"error": {"code": ..., "message": ...}}``; the
data-plane protocols render the same errors in their own envelopes.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from modelport.api.openapi import methods_at
from modelport.errors import ModelportError

HTTP_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "NOT_ACCEPTABLE": 406,
    "ALREADY_EXISTS": 409,
    "CONFLICT": 409,
    "FAILED_PRECONDITION": 412,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "MODEL_ERROR": 424,
    "NOT_READY": 503,
    "DEADLINE_EXCEEDED": 504,
    "DATA_LOSS": 500,
    "UNAVAILABLE": 503,
    "MISSING_EXTRA": 501,
    "INTERNAL": 500,
}

_STATUS_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_ARGUMENT",
}


def http_status(code: str) -> int:
    return HTTP_STATUS.get(code, 500)


def error_response(code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if code == "UNAUTHENTICATED" else None
    return Response(
        orjson.dumps({"error": body}),
        status_code=http_status(code),
        media_type="application/json",
        headers=headers,
    )


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # orjson's reason: NaN, Infinity, too deep, bad UTF-8, syntax
            return f"invalid JSON body: {err.get('ctx', {}).get('error', 'not JSON')}"
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModelportError)
    async def _modelport_error(_req: Request, exc: ModelportError) -> Response:
        return error_response(exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> Response:
        return error_response("INVALID_ARGUMENT", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(req: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "INTERNAL")
        message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such route: {req.method} {req.url.path}"
        elif exc.status_code == 405:
            message = f"method {req.method} is not allowed on {req.url.path}"
            # RFC 9110: a 405 says what is allowed (Starlette's header names only the first route's methods)
            headers["Allow"] = ", ".join(methods_at(req.app, req.scope["path"])) or headers.get("Allow", "")
        resp = error_response(code, message)
        resp.status_code = exc.status_code
        resp.headers.update(headers)
        return resp


def install_fallback_handler(app: FastAPI) -> None:
    """A bug still answers in the JSON envelope, and the traceback goes to the log only."""
    import logging

    log = logging.getLogger("modelport.api")

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %r", req.method, req.scope["path"])  # %r: control characters escaped
        return error_response("INTERNAL", f"internal error ({type(exc).__name__}); see the server log")
