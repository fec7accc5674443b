"""The data-plane routes, as a plain ASGI app in front of the control API.

The hot path skips the web framework: one path check, one body read with
the size limit enforced before anything is buffered, one call into
:class:`~modelport.serving.dataplane.DataPlane`, one response.  Each protocol
renders errors in its own envelope:

- SageMaker runtime (``POST /endpoints/{name}/invocations``):
  ``x-amzn-ErrorType`` + JSON ``message``; bad payloads are ``ModelError``
  (424, with ``OriginalStatusCode``) as when a SageMaker container answers
  4xx; unknown endpoint or variant is ``ValidationError`` (400).
- Container contract (single-endpoint mode: ``GET /ping``, ``POST /invocations``):
  MLflow-style ``{"error_code", "message"}`` with the plain HTTP status.
- Open Inference Protocol v2 (``/v2/…``): ``{"error": "<message>"}``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from modelport import __version__
from modelport.api.auth import auth_enabled, authorize
from modelport.api.errors import http_status
from modelport.errors import ModelportError, NotFound, PayloadTooLarge
from modelport.serving.codecs.v2 import compress_response, error_body, model_metadata
from modelport.serving.dataplane import DataPlane, InvokeRequest

_INVOKE = re.compile(r"^/endpoints/([^/]+)/invocations$")
_V2_MODEL = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$")

Headers = list[tuple[bytes, bytes]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(scope: Scope, receive: Receive, limit: int, headers: dict[str, str] | None = None) -> bytes:
    """The request body, refused with PAYLOAD_TOO_LARGE before it is buffered past ``limit``."""
    length = (headers if headers is not None else _headers(scope)).get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body of {int(length)} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


async def respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- error envelopes ----------------------------------------------------------------


def sagemaker_error(exc: ModelportError, endpoint: str, variant: str | None) -> tuple[int, Headers, bytes]:
    code = exc.code
    body: dict[str, Any]
    if code == "NOT_FOUND" and not exc.details.get("variant"):
        status, kind = 400, "ValidationError"
        body = {"message": f"Endpoint {endpoint} of account modelport not found."}
    elif code == "INVALID_ARGUMENT" and exc.details.get("field") == "target_variant":
        status, kind, body = 400, "ValidationError", {"message": exc.message}
    elif code in ("INVALID_ARGUMENT", "UNSUPPORTED_MEDIA_TYPE", "NOT_ACCEPTABLE", "MODEL_ERROR", "DEADLINE_EXCEEDED"):
        original = http_status(code) if code != "MODEL_ERROR" else 500
        kind_of = "client" if original < 500 else "server"
        status, kind = 424, "ModelError"
        body = {
            "OriginalStatusCode": original,
            "OriginalMessage": exc.message,
            "LogStreamArn": f"modelport:endpoint/{endpoint}",
            "message": f'Received {kind_of} error ({original}) from {exc.details.get("served_by") or variant or "primary"} '
            f'with message "{exc.message}".',
        }
    elif code == "PAYLOAD_TOO_LARGE":
        status, kind, body = 413, "ValidationError", {"message": f"{exc.message} (Request {endpoint} has oversize body.)"}
    elif code == "NOT_READY":
        status, kind, body = 429, "ModelNotReadyException", {"message": exc.message}
    elif code == "UNAUTHENTICATED":
        status, kind, body = 401, "UnrecognizedClientException", {"message": exc.message}
    elif code == "PERMISSION_DENIED":
        status, kind, body = 403, "AccessDeniedException", {"message": exc.message}
    elif code == "UNAVAILABLE":
        status, kind, body = 503, "ServiceUnavailable", {"message": exc.message}
    else:
        status, kind, body = 500, "InternalFailure", {"message": exc.message}
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", f"{kind}:".encode()),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
    ]
    return status, headers, orjson.dumps(body)


_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    406: "BAD_REQUEST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    424: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "TEMPORARILY_UNAVAILABLE",
}


def container_error(exc: ModelportError) -> tuple[int, Headers, bytes]:
    status = http_status(exc.code)
    if exc.code == "MODEL_ERROR":
        status = 500
    body = {"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": exc.message}
    return status, [(b"content-type", b"application/json")], orjson.dumps(body)


def v2_error(exc: ModelportError) -> tuple[int, Headers, bytes]:
    status = http_status(exc.code)
    if status in (409, 412, 424):
        status = 400 if exc.code != "MODEL_ERROR" else 500
    return status, [(b"content-type", b"application/json")], error_body(exc.message)


# -- the app -------------------------------------------------------------------------


class DataPlaneApp:
    """Routes data-plane paths to the DataPlane; everything else to ``fallback``."""

    def __init__(self, fallback: ASGIApp, state: Any, *, single_endpoint: str | None = None) -> None:
        self.fallback = fallback
        self.state = state  # where the lifespan put `services`, `dataplane`
        self.single = single_endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            handler = self._route(scope["method"], path)
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.fallback(scope, receive, send)

    def _route(self, method: str, path: str) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
        if path.startswith("/endpoints/") and path.endswith("/invocations"):
            return self._sagemaker
        if path.startswith("/v2"):
            return self._v2
        if self.single is not None:
            if path == "/invocations":
                return self._container
            if path == "/ping":
                return self._ping
            if path == "/execution-parameters":
                return self._execution_parameters
        return None

    @property
    def dataplane(self) -> DataPlane:
        return self.state.dataplane  # type: ignore[no-any-return]

    def _authorize(self, headers: dict[str, str]) -> None:
        services = self.state.services
        if not auth_enabled(services):  # the common local case, without building a principal
            return
        authorize(services, headers.get("authorization"), None, "invoke")

    # SageMaker runtime ----------------------------------------------------------------

    async def _sagemaker(self, scope: Scope, receive: Receive, send: Send, name: str | None = None) -> None:
        if name is None:
            match = _INVOKE.match(scope["path"])
            name = match.group(1) if match else ""
        headers = _headers(scope)
        if scope["method"] != "POST":
            await respond(send, 405, orjson.dumps({"message": "use POST"}), [(b"content-type", b"application/json")])
            return
        variant = headers.get("x-amzn-sagemaker-target-variant")
        try:
            self._authorize(headers)
            body = await read_body(scope, receive, self.state.services.settings.max_request_bytes, headers)
            result = await self.dataplane.invoke(
                InvokeRequest(
                    endpoint=name,
                    body=body,
                    content_type=headers.get("content-type"),
                    accept=headers.get("accept"),
                    target_variant=variant,
                    inference_id=headers.get("x-amzn-sagemaker-inference-id"),
                    sniff_missing=True,
                )
            )
        except ModelportError as exc:
            status, extra, payload = sagemaker_error(exc, name, variant)
            await respond(send, status, payload, extra)
            return
        out: Headers = [
            (b"content-type", result.content_type.encode()),
            (b"x-amzn-invoked-production-variant", result.variant.encode()),
            (b"x-amzn-requestid", result.request_id.encode()),
            (b"x-amzn-sagemaker-inference-id", result.inference_id.encode("latin-1", "replace")),
        ]
        custom = headers.get("x-amzn-sagemaker-custom-attributes")
        if custom is not None:
            out.append((b"x-amzn-sagemaker-custom-attributes", custom.encode("latin-1")))
        await respond(send, 200, result.body, out)

    # container contract (single endpoint) ---------------------------------------------

    async def _container(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await respond(send, 405, b'{"message":"use POST"}', [(b"content-type", b"application/json")])
            return
        headers = _headers(scope)
        try:
            self._authorize(headers)
            body = await read_body(scope, receive, self.state.services.settings.max_request_bytes, headers)
            result = await self.dataplane.invoke(
                InvokeRequest(
                    endpoint=self.single or "",
                    body=body,
                    content_type=headers.get("content-type"),
                    accept=headers.get("accept"),
                    target_variant=headers.get("x-amzn-sagemaker-target-variant"),
                    inference_id=headers.get("x-amzn-sagemaker-inference-id"),
                )
            )
        except ModelportError as exc:
            status, headers_, payload = container_error(exc)
            await respond(send, status, payload, headers_)
            return
        out: Headers = [(b"content-type", result.content_type.encode())]
        custom = headers.get("x-amzn-sagemaker-custom-attributes")
        if custom is not None:
            out.append((b"x-amzn-sagemaker-custom-attributes", custom.encode("latin-1")))
        await respond(send, 200, result.body, out)

    async def _ping(self, scope: Scope, receive: Receive, send: Send) -> None:
        ready = self.dataplane.manager.ready
        await respond(send, 200 if ready else 503, b"", [])

    async def _execution_parameters(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = orjson.dumps({"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6})
        await respond(send, 200, body, [(b"content-type", b"application/json")])

    # Open Inference Protocol v2 --------------------------------------------------------

    async def _v2(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") or "/"
        method = scope["method"]
        headers = _headers(scope)
        json_type = [(b"content-type", b"application/json")]
        manager = self.dataplane.manager
        try:
            if path == "/v2/health/live":
                await respond(send, 200 if method == "GET" else 405, b"", [])
                return
            if path == "/v2/health/ready":
                await respond(send, 200 if manager.ready else 400, b"", [])
                return
            if path == "/v2":
                body = orjson.dumps({"name": "modelport", "version": __version__, "extensions": ["binary_tensor_data"]})
                await respond(send, 200, body, json_type)
                return
            match = _V2_MODEL.match(path)
            if match is None:
                raise NotFound(f"no such route: {method} {scope['path']}")
            name, version_text, action = match.group(1), match.group(2), match.group(3)
            version = _v2_version(version_text)
            if action == "/ready":
                try:
                    ep = manager.get(name)
                    if version is not None:
                        ep.variant_for_version(version)
                    ok = True
                except ModelportError:
                    ok = False
                await respond(send, 200 if ok else 400, b"", [])
                return
            if action == "/infer":
                if method != "POST":
                    await respond(send, 405, b'{"error":"Method Not Allowed"}', json_type)
                    return
                self._authorize(headers)
                body = await read_body(scope, receive, self.state.services.settings.max_request_bytes, headers)
                reply, extra, _ = await self.dataplane.infer_v2(name, version, body, headers)
                reply, encoding = compress_response(reply, headers.get("accept-encoding"))
                out: Headers = [(k.lower().encode(), v.encode()) for k, v in {**extra, **encoding}.items()]
                await respond(send, 200, reply, out)
                return
            if method != "GET":
                await respond(send, 405, b'{"error":"Method Not Allowed"}', json_type)
                return
            self._authorize(headers)
            ep = manager.get(name)
            live = [v for v in ep.variants.values() if not v.spec.shadow]
            chosen = ep.variant_for_version(version) if version is not None else ep.variants[ep.router.names[0]]
            meta = model_metadata(
                name,
                sorted({str(v.version.version) for v in live}),
                chosen.signature,
                _platform(chosen.version.format),
            )
            await respond(send, 200, orjson.dumps(meta), json_type)
        except ModelportError as exc:
            status, headers_, payload = v2_error(exc)
            await respond(send, status, payload, headers_)


def _v2_version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise NotFound(f"unknown version {text!r}: versions are integers", details={"variant": True})
    return int(text)


def _platform(fmt: str) -> str:
    return {"onnx": "onnxruntime_onnx", "pmml": "pmml_jpmml", "pfa": "pfa_modelport"}.get(fmt, f"{fmt}_modelport")
