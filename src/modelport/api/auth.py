"""Bearer-token checks for the API, by the permission a route needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from modelport.auth import GRANTS
from modelport.errors import Unauthenticated
from modelport.services import Services


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, or the user header when auth is off."""

    name: str
    scope: str | None


def auth_enabled(services: Services) -> bool:
    mode = services.settings.auth
    if mode == "off":
        return False
    if mode == "required":
        return True
    return services.tokens.any_exist()


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme == "AWS4-HMAC-SHA256":
        raise Unauthenticated(
            "AWS Signature V4 is accepted on the SageMaker runtime routes (POST /endpoints/{name}/invocations) "
            "and the SageMaker control plane (POST / with X-Amz-Target); "
            "send 'Authorization: Bearer <token>' here"
        )
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
    return value.strip()


def authorize(services: Services, authorization: str | None, user_hint: str | None, permission: str) -> Principal:
    if not auth_enabled(services):
        return Principal(name=user_hint or "anonymous", scope=None)
    token = services.tokens.verify(bearer(authorization), permission)
    return Principal(name=token.name, scope=token.scope)


def may_read_server_files(scope: str | None) -> bool:
    """Whether a caller may name any file the server can read as an input: auth off, or an admin's token."""
    return scope is None or scope in GRANTS["admin"]


def require(permission: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency that admits callers whose token grants ``permission``."""

    def dependency(request: Request) -> Principal:
        return authorize(
            request.app.state.services,
            request.headers.get("authorization"),
            request.headers.get("x-modelport-user"),
            permission,
        )

    dependency.__name__ = f"require_{permission}"
    return dependency
