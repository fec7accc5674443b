"""``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``: the SageMaker control plane over AWS JSON 1.1.

What boto3's ``sagemaker`` client sends when ``endpoint_url`` is this server
(PROTOCOLS.md §6): a JSON body of PascalCase members, signed with AWS
Signature V4 (access key id = a token's id, secret access key = the token).
Describe* and List* need a token with ``read``, everything else ``admin``;
bearer tokens work too.  Errors are AWS's JSON shape, which botocore turns
into ``ClientError`` with the code:

    400  {"__type": "ValidationException", "message": "Could not find endpoint \\"arn:…\\"."}
         x-amzn-ErrorType: ValidationException:
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from modelport.api import sigv4
from modelport.api.auth import auth_enabled, bearer
from modelport.errors import ModelportError, Unauthenticated
from modelport.sagemaker.context import DEFAULT_REGION, Caller
from modelport.sagemaker.control import operation
from modelport.services import Services

router = APIRouter()

CONTENT_TYPE = "application/x-amz-json-1.1"

#: the AWS error each modelport code is answered with, when the operation did not name one
AWS_ERRORS: dict[str, tuple[int, str]] = {
    "INVALID_ARGUMENT": (400, "ValidationException"),
    "NOT_FOUND": (400, "ValidationException"),
    "ALREADY_EXISTS": (400, "ValidationException"),
    "CONFLICT": (400, "ResourceInUse"),
    "FAILED_PRECONDITION": (400, "ValidationException"),
    "MISSING_EXTRA": (400, "ValidationException"),
    "PAYLOAD_TOO_LARGE": (413, "ValidationException"),
    "UNAUTHENTICATED": (403, "UnrecognizedClientException"),
    "PERMISSION_DENIED": (403, "AccessDeniedException"),
    "NOT_READY": (400, "ThrottlingException"),
    "UNAVAILABLE": (503, "ServiceUnavailable"),
}
#: statuses of the codes operations name
AWS_STATUS = {**sigv4.STATUS, "MissingAuthenticationTokenException": 403}


def aws_error(exc: ModelportError) -> Response:
    kind = exc.details.get("aws_error")
    if kind is not None:
        status = AWS_STATUS.get(kind, 400)
    else:
        status, kind = AWS_ERRORS.get(exc.code, (500, "InternalFailure"))
    body = orjson.dumps({"__type": kind, "message": exc.message})
    headers = {"x-amzn-ErrorType": f"{kind}:", "x-amzn-RequestId": str(uuid.uuid4())}
    return Response(body, status_code=status, media_type=CONTENT_TYPE, headers=headers)


def authenticate(
    services: Services,
    request: Request,
    body: bytes,
    permission: str,
    *,
    now: datetime,
) -> Caller:
    """Who calls, if their bearer token or AWS signature is good and grants ``permission``."""
    headers: Mapping[str, str] = {k.lower(): v for k, v in request.headers.items()}
    authorization = headers.get("authorization")
    if not auth_enabled(services):
        try:
            region = sigv4.parse(authorization).region if authorization and sigv4.is_sigv4(authorization) else DEFAULT_REGION
        except Unauthenticated:  # nobody checks the signature: any header will do
            region = DEFAULT_REGION
        return Caller(headers.get("x-modelport-user") or "anonymous", region)
    credential = sigv4.parse(authorization) if authorization and sigv4.is_sigv4(authorization) else None
    region = credential.region if credential is not None else DEFAULT_REGION
    if not authorization:
        raise Unauthenticated(
            "this server requires a token: sign with AWS Signature V4 (access key id = the token's id, "
            "secret access key = the token) or send 'Authorization: Bearer <token>'",
            details={"aws_error": "MissingAuthenticationTokenException"},
        )
    if credential is None:
        token = services.tokens.verify(bearer(authorization), permission)
        return Caller(token.name, region)
    stamp = sigv4.request_time(credential, headers, now)
    try:
        token, secret = services.tokens.signing_secret(credential.access_key)
    except Unauthenticated as exc:
        raise sigv4.refused(sigv4.UNRECOGNIZED, exc.message) from None
    sigv4.check(
        credential,
        secret,
        stamp,
        method=request.method,
        path=request.url.path,
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )
    services.tokens.grant(token, permission)  # after the signature: scopes are told only to the token's holder
    return Caller(token.name, region)


@router.post("/", include_in_schema=False)
async def sagemaker_control(request: Request) -> Response:
    """One SageMaker operation: target from ``X-Amz-Target``, input from the JSON body."""
    services: Services = request.app.state.services
    try:
        name, op = operation(request.headers.get("x-amz-target"))
        raw = await request.body()
        caller = await anyio.to_thread.run_sync(
            lambda: authenticate(services, request, raw, op.permission, now=datetime.now(UTC))
        )
        try:
            body: Any = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            return aws_error(
                ModelportError(f"the body is not JSON: {exc}", details={"aws_error": "SerializationException"})
            )
        reply = await anyio.to_thread.run_sync(services.sagemaker.call, name, body, caller)
    except ModelportError as exc:
        return aws_error(exc)
    return Response(orjson.dumps(reply), media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": str(uuid.uuid4())})
