"""Control-API requests: bodies bounded in size, strict JSON, finite numbers, no NUL characters.

- :class:`RequestLimits` (ASGI middleware): a body over ``max_api_body_bytes``
  is 413 PAYLOAD_TOO_LARGE in the JSON envelope, refused on its
  Content-Length before a byte is read, or as it streams in (a body without
  Content-Length is buffered up to the limit, then handed on).  Artifact
  uploads (``PUT /api/v1/artifacts/{sha256}``) stream to disk under their
  own ``max_upload_bytes`` and are left alone.  A NUL character (``%00``) in
  the path or the query string is 400: PostgreSQL cannot store or compare it
  (a 500), SQLite's JSON paths choke on it (a tag filter was a 503).
- :class:`StrictJSONRoute`: bodies are parsed by orjson, which refuses
  ``NaN``, ``Infinity``, numbers that overflow a double, invalid UTF-8 and
  nesting deeper than 1024 levels (Python's ``json`` accepts the first three:
  a NaN metric was stored as null); a string holding ``\u0000`` is refused too.
- :class:`RequestBody`: the base of the control API's request models; its
  float fields refuse ``"nan"`` / ``"inf"`` strings too.

The data plane (``/v2``, ``/endpoints/…``) never reaches this code: it has its
own limit (``max_request_bytes``) and codecs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.api.dataplane import declared_length
from modelport.api.errors import error_response

#: paths whose bodies are not JSON and have a limit of their own: artifact uploads, and the one async input route
UPLOAD_PREFIX = "/api/v1/artifacts/"
UPLOAD_PATHS = frozenset({"/api/v1/async-inputs"})


class RequestBody(BaseModel):
    """Base of every control-API request model: NaN and infinities are refused, even as strings."""

    model_config = ConfigDict(allow_inf_nan=False)


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            # orjson.JSONDecodeError is a json.JSONDecodeError: FastAPI answers it as invalid input
            doc = orjson.loads(body)
            if b"\\u0000" in body and _holds_nul(doc):
                raise json.JSONDecodeError("a string holds a NUL character (\\u0000)", "", 0)
            self._json = doc
        return self._json


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed strictly (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


class RequestLimits:
    """Refuse control-API bodies over ``limit`` bytes (413) and NUL in paths or queries (400), before routing."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            refusal = error_response("INVALID_ARGUMENT", "the path or query string holds a NUL character (%00)")
            await refusal(scope, receive, send)
            return
        if scope["path"].startswith(UPLOAD_PREFIX) or scope["path"] in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        length: int | None = None
        for key, value in scope["headers"]:
            if key.lower() == b"content-length":
                length = declared_length(value.decode("latin-1"))
        if length is not None:
            if length > self.limit:
                await self._refuse(scope, receive, send, f"request body of {length} bytes")
                return
            await self.app(scope, receive, send)  # the server stops the body at its Content-Length
            return
        # no Content-Length (chunked): read up to the limit here, then replay it
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, "request body")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, what: str) -> None:
        message = (
            f"{what} exceeds the control API's limit of {self.limit} bytes (MODELPORT_MAX_API_BODY_BYTES); "
            "artifacts are uploaded with PUT /api/v1/artifacts/{sha256}"
        )
        await error_response("PAYLOAD_TOO_LARGE", message)(scope, receive, send)


@asynccontextmanager
async def spooled(
    request: Request, *, limit: int, folder: Path, what: str, carries: str
) -> AsyncIterator[tuple[Path, int]]:
    """The request's body streamed to a spool file (never held in memory): its path and size, removed after.

    413 on a declared Content-Length over ``limit`` before a byte is read, or as soon as the bytes
    received pass it; an invalid Content-Length and an empty body are 400.  ``what`` names the body in
    the messages ("upload", "input"), ``carries`` what it must hold ("the artifact bytes").
    """
    from modelport.errors import InvalidArgument, PayloadTooLarge
    from modelport.spool import spool_path

    declared = request.headers.get("content-length")
    if declared is not None:
        length = declared_length(declared)
        if length is None:
            raise InvalidArgument(f"invalid Content-Length {declared[:40]!r}")
        if length > limit:
            raise PayloadTooLarge(f"{what} of {length} bytes exceeds the limit of {limit} bytes")
    tmp = spool_path(folder, ".upload")
    try:
        total = 0
        with open(tmp, "wb") as fh:
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise PayloadTooLarge(f"{what} exceeds the limit of {limit} bytes")
                fh.write(chunk)  # local disk, chunks of at most a few hundred KiB
        if total == 0:
            raise InvalidArgument(f"empty upload: the request body must carry {carries}")
        yield tmp, total
    finally:
        tmp.unlink(missing_ok=True)
