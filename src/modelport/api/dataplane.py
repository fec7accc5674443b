"""The data-plane routes, as a plain ASGI app in front of the control API.

The hot path skips the web framework: one path check, one body read with
the size limit enforced before anything is buffered, one call into
:class:`~modelport.serving.dataplane.DataPlane`, one response.  Each protocol
renders errors in its own envelope:

- SageMaker runtime (``POST /endpoints/{name}/invocations``):
  ``x-amzn-ErrorType`` + JSON ``message``; bad payloads are ``ModelError``
  (424, with ``OriginalStatusCode``) as when a SageMaker container answers
  4xx; unknown endpoint or variant is ``ValidationError`` (400).  With auth
  on, these routes take AWS Signature V4 (what boto3 sends) as well as
  bearer tokens: see :mod:`modelport.api.sigv4`.
- Container contract (single-endpoint mode: ``GET /ping``, ``POST /invocations``):
  MLflow-style ``{"error_code", "message"}`` with the plain HTTP status.
- Open Inference Protocol v2 (``/v2/…``): ``{"error": "<message>"}``.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import anyio
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from modelport import __version__
from modelport.api import sigv4
from modelport.api.auth import auth_enabled, bearer, may_read_server_files
from modelport.api.deadlines import BodyDeadlines
from modelport.api.errors import http_status
from modelport.domain import Token, parse_version
from modelport.errors import Internal, InvalidArgument, ModelportError, NotFound, PayloadTooLarge, Unauthenticated
from modelport.formats import TABLE
from modelport.serving.codecs.v2 import compress_response, error_body, model_metadata
from modelport.serving.dataplane import DataPlane, InvokeRequest
from modelport.ui.session import console_authorization

log = logging.getLogger("modelport.dataplane")

_INVOKE_PREFIX, _INVOKE_SUFFIX = len("/endpoints/"), len("/invocations")
_ASYNC_SUFFIX = len("/async-invocations")
_V2_MODEL = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$")

Headers = list[tuple[str, str]]


class ClientDisconnected(Exception):
    """The client went away before its request body was complete: nobody to answer."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request as every transport can describe it; ``read(limit)`` returns the body."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    read: Callable[[int], Awaitable[bytes]]
    query: str = ""  # the raw query string, for signature checks


class Reply(NamedTuple):
    """An answer, and what the access log says served it (request data: escaped when logged)."""

    status: int
    headers: Headers
    body: bytes
    endpoint: str = ""
    variant: str = ""
    inference_id: str = ""


JSON_TYPE: Headers = [("content-type", "application/json")]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def declared_length(value: str | None) -> int | None:
    """A Content-Length value as a number, or None when absent or not ASCII digits.

    ``str.isdigit`` alone passes ``²`` (Latin-1) and 5,000 digits, which ``int`` refuses;
    a value past 10^18 is read as 10^18 (more than any limit).
    """
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return int(value) if len(value) <= 18 else 10**18


def check_length(headers: Mapping[str, str], limit: int) -> None:
    length = declared_length(headers.get("content-length"))
    if length is not None and length > limit:
        raise PayloadTooLarge(f"request body of {length} bytes exceeds the limit of {limit} bytes")


async def read_body(receive: Receive, limit: int, headers: Mapping[str, str], deadlines: BodyDeadlines) -> bytes:
    """The request body, refused with PAYLOAD_TOO_LARGE before it is buffered past ``limit``,
    and with REQUEST_TIMEOUT when it comes too slowly (:class:`BodyDeadlines`)."""
    check_length(headers, limit)
    chunks: list[bytes] = []
    size = 0
    more = True
    deadline = deadlines.deadline()
    while more:
        message = await deadlines.in_time(receive(), deadline)
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
        deadline += deadlines.allowance(len(chunk))
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def closing(reply: Reply) -> Headers:
    """The reply's headers, with ``Connection: close`` when its body was cut off (the client is still sending it)."""
    return [*reply.headers, ("connection", "close")] if reply.status == 408 else reply.headers


async def respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
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
    elif code == "REQUEST_TIMEOUT":  # botocore retries "RequestTimeout"
        status, kind, body = 408, "RequestTimeout", {"message": exc.message}
    elif code == "NOT_READY":
        status, kind, body = 429, "ModelNotReadyException", {"message": exc.message}
    elif code == "UNAUTHENTICATED" and "aws_error" in exc.details:  # a SigV4 request: what AWS answers
        kind = exc.details["aws_error"]
        status, body = sigv4.STATUS[kind], {"message": exc.message}
    elif code == "UNAUTHENTICATED":
        status, kind, body = 401, "UnrecognizedClientException", {"message": exc.message}
    elif code == "PERMISSION_DENIED":
        status, kind, body = 403, "AccessDeniedException", {"message": exc.message}
    elif code == "UNAVAILABLE":
        status, kind, body = 503, "ServiceUnavailable", {"message": exc.message}
    else:
        status, kind, body = 500, "InternalFailure", {"message": exc.message}
    headers = [
        ("content-type", "application/json"),
        ("x-amzn-errortype", f"{kind}:"),
        ("x-amzn-requestid", str(uuid.uuid4())),
    ]
    return status, headers, orjson.dumps(body)


_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    406: "BAD_REQUEST",
    408: "BAD_REQUEST",
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
    return status, JSON_TYPE, orjson.dumps(body)


def v2_error(exc: ModelportError) -> tuple[int, Headers, bytes]:
    status = http_status(exc.code)
    if status in (409, 412, 424):
        status = 400 if exc.code != "MODEL_ERROR" else 500
    return status, JSON_TYPE, error_body(exc.message)


# -- the app -------------------------------------------------------------------------

Handler = Callable[[Incoming], Awaitable[Reply]]


class DataPlaneApp:
    """Routes data-plane paths to the DataPlane; everything else to ``fallback``.

    The handlers are transport-free (:class:`Incoming` in, :class:`Reply`
    out): this class serves them over ASGI, and :mod:`modelport.api.rsgi`
    over granian's RSGI, which costs less per request.
    """

    def __init__(
        self,
        fallback: ASGIApp,
        state: Any,
        *,
        single_endpoint: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.fallback = fallback
        self.state = state  # where the lifespan put `services`, `dataplane`
        self.single = single_endpoint
        self.clock = clock  # SigV4 signatures are refused beyond 5 minutes from it
        self._deadlines: BodyDeadlines | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.route(scope["path"])
            if handler is not None:
                headers = _headers(scope)

                def read(limit: int) -> Awaitable[bytes]:
                    return read_body(receive, limit, headers, self.deadlines)

                req = Incoming(scope["method"], scope["path"], headers, read, scope["query_string"].decode("latin-1"))
                try:
                    reply = await handler(req)
                except ClientDisconnected:
                    return
                except Exception:
                    reply = self.failure_reply(handler, req)
                await respond(send, reply.status, reply.body, closing(reply))
                return
        await self.fallback(scope, receive, send)

    def route(self, path: str) -> Handler | None:
        if path.startswith("/endpoints/") and path.endswith("/async-invocations"):
            return self.sagemaker_async
        if path.startswith("/endpoints/") and path.endswith("/invocations"):
            return self.sagemaker
        if path.startswith("/v2"):
            return self.v2
        if path == "/healthz":
            return self.healthz
        if path == "/readyz":
            return self.readyz
        if self.single is not None:
            if path == "/invocations":
                return self.container
            if path == "/ping":
                return self.ping
            if path == "/execution-parameters":
                return self.execution_parameters
        return None

    def failure_reply(self, handler: Handler, req: Incoming) -> Reply:
        """For a bug in ``handler`` (call it from ``except``): logged, answered 500 in the protocol's envelope."""
        log.exception("unhandled error in %s %r", req.method, req.path)  # %r: a path's control characters stay escaped
        exc = Internal("internal error in the data plane; the server log has the details")
        if handler == self.v2:
            return Reply(*v2_error(exc))
        if handler in (self.sagemaker, self.sagemaker_async):
            return Reply(*sagemaker_error(exc, "", None))
        return Reply(*container_error(exc))

    @property
    def deadlines(self) -> BodyDeadlines:
        """Cuts off request bodies that come too slowly (made on first use: the settings come with the lifespan)."""
        found = self._deadlines
        if found is None:
            settings = self.state.services.settings
            found = self._deadlines = BodyDeadlines(settings.body_read_timeout_s, settings.body_min_rate)
        return found

    @property
    def dataplane(self) -> DataPlane:
        return self.state.dataplane  # type: ignore[no-any-return]

    @property
    def max_request_bytes(self) -> int:
        return self.state.services.settings.max_request_bytes  # type: ignore[no-any-return]

    def _authorize(self, headers: Mapping[str, str]) -> None:
        services = self.state.services
        if auth_enabled(services):  # checked once; off is the common local case
            services.tokens.verify(bearer(headers.get("authorization")), "invoke")

    async def _read_authorized(self, req: Incoming) -> bytes:
        """The body of a SageMaker runtime call, once its bearer token or AWS Signature V4 is accepted."""
        return (await self._authorized(req))[0]

    async def _authorized(self, req: Incoming) -> tuple[bytes, Token | None]:
        """The body and the caller's token (None: auth is off), once the token or signature is accepted."""
        services = self.state.services
        if not auth_enabled(services):
            return await req.read(self.max_request_bytes), None
        # the console's "Try it" calls with its session cookie and an echoed CSRF value instead (modelport/ui/session.py)
        authorization = req.headers.get("authorization") or console_authorization(req.headers)
        if not authorization:
            raise Unauthenticated(
                "this server requires a token: send 'Authorization: Bearer <token>', or sign with AWS "
                "Signature V4 (access key id = the token's id, secret access key = the token)"
            )
        if not sigv4.is_sigv4(authorization):
            token = services.tokens.verify(bearer(authorization), "invoke")
            return await req.read(self.max_request_bytes), token
        # Everything that needs no body first: a stale or unknown credential is refused before the upload.
        credential = sigv4.parse(authorization)
        stamp = sigv4.request_time(credential, req.headers, self.clock())
        try:
            token, secret = services.tokens.signing_secret(credential.access_key)
        except Unauthenticated as exc:
            raise sigv4.refused(sigv4.UNRECOGNIZED, exc.message) from None
        body = await req.read(self.max_request_bytes)
        sigv4.check(
            credential, secret, stamp, method=req.method, path=req.path, query=req.query, headers=req.headers, body=body
        )
        services.tokens.grant(token, "invoke")  # after the signature: scopes are told only to the token's holder
        return body, token

    # SageMaker runtime ----------------------------------------------------------------

    async def sagemaker(self, req: Incoming) -> Reply:
        name = req.path[_INVOKE_PREFIX:-_INVOKE_SUFFIX]  # route() checked both ends
        if "/" in name or len(req.path) < _INVOKE_PREFIX + _INVOKE_SUFFIX:
            name = ""
        if req.method != "POST":
            return Reply(405, JSON_TYPE, b'{"message":"use POST"}')
        headers = req.headers
        variant = headers.get("x-amzn-sagemaker-target-variant")
        asked_id = headers.get("x-amzn-sagemaker-inference-id") or ""
        try:
            body = await self._read_authorized(req)
            result = await self.dataplane.invoke(
                InvokeRequest(
                    endpoint=name,
                    body=body,
                    content_type=headers.get("content-type"),
                    accept=headers.get("accept"),
                    target_variant=variant,
                    inference_id=headers.get("x-amzn-sagemaker-inference-id"),
                    sniff_missing=True,
                    content_encoding=headers.get("content-encoding"),
                    headers=headers,
                )
            )
        except ModelportError as exc:
            served = exc.details.get("served_by") or variant or ""
            return Reply(*sagemaker_error(exc, name, variant), name, served, asked_id)
        out: Headers = [
            ("content-type", result.content_type),
            ("x-amzn-invoked-production-variant", result.variant),
            ("x-amzn-requestid", result.request_id),
            ("x-amzn-sagemaker-inference-id", _latin1(result.inference_id)),
        ]
        custom = headers.get("x-amzn-sagemaker-custom-attributes")
        if custom is not None:
            out.append(("x-amzn-sagemaker-custom-attributes", custom))
        return Reply(200, out, result.body, name, result.variant, result.inference_id)

    async def sagemaker_async(self, req: Incoming) -> Reply:
        """InvokeEndpointAsync: queue the request, answer 202 with where its output (or error) will be."""
        name = req.path[_INVOKE_PREFIX:-_ASYNC_SUFFIX]
        if "/" in name or len(req.path) < _INVOKE_PREFIX + _ASYNC_SUFFIX:
            name = ""
        if req.method != "POST":
            return Reply(405, JSON_TYPE, b'{"message":"use POST"}')
        headers = req.headers
        asked_id = headers.get("x-amzn-sagemaker-inference-id") or ""
        services = self.state.services
        try:
            _, token = await self._authorized(req)  # the input is at InputLocation: the body is empty
            if self.single is not None and name != self.single:  # a container takes its own endpoint's only
                raise NotFound(f"endpoint {name!r} is not served here")
            ttl = _seconds_header(headers, "X-Amzn-SageMaker-RequestTTLSeconds")
            timeout = _seconds_header(headers, "X-Amzn-SageMaker-InvocationTimeoutSeconds")

            def submit() -> Any:
                return services.async_inference.submit(
                    name,
                    headers.get("x-amzn-sagemaker-inputlocation") or "",
                    inference_id=asked_id or None,
                    content_type=headers.get("x-amzn-sagemaker-content-type") or _data_type(headers.get("content-type")),
                    accept=headers.get("x-amzn-sagemaker-accept") or _data_type(headers.get("accept")),
                    custom_attributes=headers.get("x-amzn-sagemaker-custom-attributes"),
                    ttl_s=ttl,
                    timeout_s=timeout,
                    output_extension=headers.get("x-amzn-sagemaker-s3outputpathextension"),
                    filename=headers.get("x-amzn-sagemaker-filename"),
                    may_read_files=may_read_server_files(None if token is None else token.scope),
                    created_by="" if token is None else token.name,
                )

            item, _ = await anyio.to_thread.run_sync(submit)
        except ModelportError as exc:
            return Reply(*sagemaker_async_error(exc, name), name, "", asked_id)
        body = {"InferenceId": item.id, "OutputLocation": item.output_location, "FailureLocation": item.failure_location}
        out: Headers = [
            ("content-type", "application/json"),
            ("x-amzn-requestid", str(uuid.uuid4())),
            ("x-amzn-sagemaker-outputlocation", _latin1(item.output_location)),
            ("x-amzn-sagemaker-failurelocation", _latin1(item.failure_location)),
        ]
        return Reply(202, out, orjson.dumps(body), name, item.variant, item.id)

    # container contract (single endpoint) ---------------------------------------------

    async def container(self, req: Incoming) -> Reply:
        if req.method != "POST":
            return Reply(405, JSON_TYPE, b'{"message":"use POST"}')
        headers = req.headers
        endpoint = self.single or ""
        try:
            self._authorize(headers)
            body = await req.read(self.max_request_bytes)
            result = await self.dataplane.invoke(
                InvokeRequest(
                    endpoint=endpoint,
                    body=body,
                    content_type=headers.get("content-type"),
                    accept=headers.get("accept"),
                    target_variant=headers.get("x-amzn-sagemaker-target-variant"),
                    inference_id=headers.get("x-amzn-sagemaker-inference-id"),
                    content_encoding=headers.get("content-encoding"),
                    headers=headers,
                )
            )
        except ModelportError as exc:
            served = exc.details.get("served_by") or headers.get("x-amzn-sagemaker-target-variant") or ""
            return Reply(*container_error(exc), endpoint, served, headers.get("x-amzn-sagemaker-inference-id") or "")
        out: Headers = [("content-type", result.content_type)]
        custom = headers.get("x-amzn-sagemaker-custom-attributes")
        if custom is not None:
            out.append(("x-amzn-sagemaker-custom-attributes", custom))
        return Reply(200, out, result.body, endpoint, result.variant, result.inference_id)

    async def ping(self, req: Incoming) -> Reply:
        return Reply(200 if self.ready() else 503, [], b"")

    # lifecycle: liveness (the process answers) vs readiness (send traffic here) ---------

    def draining(self) -> bool:
        """Whether the server was told to stop (its drain file exists): it still serves, but is not ready."""
        flag = self.state.services.settings.drain_file
        return flag is not None and flag.exists()

    def ready(self) -> bool:
        return bool(self.dataplane.manager.ready) and not self.draining()

    async def healthz(self, req: Incoming) -> Reply:
        return Reply(200, JSON_TYPE, b'{"status":"alive"}')

    async def readyz(self, req: Incoming) -> Reply:
        if self.draining():
            return Reply(503, JSON_TYPE, b'{"status":"draining"}')
        if not self.dataplane.manager.ready:
            return Reply(503, JSON_TYPE, b'{"status":"loading"}')
        return Reply(200, JSON_TYPE, b'{"status":"ready"}')

    async def execution_parameters(self, req: Incoming) -> Reply:
        body = orjson.dumps({"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6})
        return Reply(200, JSON_TYPE, body)

    # Open Inference Protocol v2 --------------------------------------------------------

    async def v2(self, req: Incoming) -> Reply:
        path = req.path.rstrip("/") or "/"
        method = req.method
        headers = req.headers
        manager = self.dataplane.manager
        name = ""
        try:
            if path == "/v2/health/live":  # liveness is all that is open: it says nothing about what is served
                return Reply(200 if method == "GET" else 405, [], b"")
            self._authorize(headers)
            if path == "/v2/health/ready":
                return Reply(200 if manager.ready else 400, [], b"")
            if path == "/v2":
                body = orjson.dumps({"name": "modelport", "version": __version__, "extensions": ["binary_tensor_data"]})
                return Reply(200, JSON_TYPE, body)
            match = _V2_MODEL.match(path)
            if match is None:
                raise NotFound(f"no such route: {method} {req.path}")
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
                return Reply(200 if ok else 400, [], b"")
            if action == "/infer":
                if method != "POST":
                    return Reply(405, JSON_TYPE, b'{"error":"Method Not Allowed"}')
                body = await req.read(self.max_request_bytes)
                reply, extra, variant, inference_id = await self.dataplane.infer_v2(name, version, body, headers)
                reply, encoding = compress_response(reply, headers.get("accept-encoding"))
                out = [(k.lower(), v) for k, v in {**extra, **encoding}.items()]
                return Reply(200, out, reply, name, variant.name, inference_id)
            if method != "GET":
                return Reply(405, JSON_TYPE, b'{"error":"Method Not Allowed"}')
            ep = manager.get(name)
            live = [v for v in ep.variants.values() if not v.spec.shadow]
            chosen = ep.variant_for_version(version) if version is not None else ep.variants[ep.router.names[0]]
            meta = model_metadata(
                name,
                sorted({str(v.version.version) for v in live}),
                chosen.signature,
                TABLE[chosen.version.format].platform,
            )
            return Reply(200, JSON_TYPE, orjson.dumps(meta), name)
        except ModelportError as exc:
            return Reply(*v2_error(exc), name, exc.details.get("served_by") or "")


def sagemaker_async_error(exc: ModelportError, endpoint: str) -> tuple[int, Headers, bytes]:
    """InvokeEndpointAsync's errors: a caller's mistake is a ValidationError (400), the rest as InvokeEndpoint."""
    if exc.code in ("INVALID_ARGUMENT", "CONFLICT", "UNSUPPORTED_MEDIA_TYPE", "NOT_ACCEPTABLE"):
        headers = [
            ("content-type", "application/json"),
            ("x-amzn-errortype", "ValidationError:"),
            ("x-amzn-requestid", str(uuid.uuid4())),
        ]
        return 400, headers, orjson.dumps({"message": exc.message})
    return sagemaker_error(exc, endpoint, None)


def _seconds_header(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name.lower())
    if value is None or not value.strip():
        return None
    try:
        return float(int(value.strip()))
    except ValueError:
        raise InvalidArgument(f"{name} must be a whole number of seconds, got {value[:40]!r}") from None


def _data_type(value: str | None) -> str | None:
    """A Content-Type or Accept that describes the data (not the empty request's own JSON framing)."""
    if value is None:
        return None
    kind = value.partition(";")[0].strip().lower()
    if kind in ("", "*/*", "application/x-amz-json-1.1", "application/octet-stream", "binary/octet-stream"):
        return None
    return value


def _latin1(text: str) -> str:
    """A header value every transport can send (non-Latin-1 characters become '?')."""
    return text if text.isascii() else text.encode("latin-1", "replace").decode("latin-1")


def _v2_version(text: str | None) -> int | None:
    return None if text is None else parse_version(text)



