"""Who is looking at the console: the token kept in a cookie, and the CSRF check of every action.

The login form takes a token (any token that may read) and keeps it in an
HttpOnly, SameSite=Strict cookie (``Secure`` whenever the browser would honour
it: HTTPS, or a loopback host, which browsers treat as secure). Every page
verifies it again, so a revoked token is sent back to the login with a message.

Actions are POSTs carrying a CSRF value: double-submit, a random value kept in a
second HttpOnly cookie and echoed by the page (a hidden field, or the
``X-Modelport-CSRF`` header of the "Try it" call). SameSite=Strict already keeps
other sites' requests cookie-less; the echo closes what is left.

The token is never logged and never written into a page.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from modelport.api.auth import auth_enabled
from modelport.auth import GRANTS
from modelport.domain import Token
from modelport.errors import PermissionDenied, Unauthenticated
from modelport.services import Services

SESSION_COOKIE = "modelport_console"
CSRF_COOKIE = "modelport_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-modelport-csrf"
#: how long the browser keeps the cookies; the token's own validity is checked on every request
MAX_AGE_S = 12 * 3600
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class Viewer:
    """The person at the browser: a token's name and what it may do."""

    name: str
    admin: bool
    invoke: bool
    auth: bool  # False when the server runs without tokens (everyone may act)
    csrf: str


class LoginNeeded(Exception):
    """No usable token: back to the login page with ``message``."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def viewer(services: Services, cookies: Mapping[str, str]) -> Viewer:
    """The viewer behind the request's cookies; LoginNeeded when there is none (or it no longer works)."""
    csrf = cookies.get(CSRF_COOKIE) or ""
    if not auth_enabled(services):
        return Viewer(name=services.settings.user or "anonymous", admin=True, invoke=True, auth=False, csrf=csrf)
    secret = cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginNeeded()
    token = check_token(services, secret)
    return Viewer(
        name=token.name,
        admin=token.scope in GRANTS["admin"],
        invoke=token.scope in GRANTS["invoke"],
        auth=True,
        csrf=csrf,
    )


def check_token(services: Services, secret: str) -> Token:
    """The token, if it may read; LoginNeeded with the reason otherwise."""
    try:
        return services.tokens.verify(secret.strip(), "read")
    except Unauthenticated:
        raise LoginNeeded("that token is not valid (unknown, revoked or expired): log in again") from None
    except PermissionDenied:
        raise LoginNeeded("that token may not read: the console needs a read or admin token") from None


def csrf_ok(cookies: Mapping[str, str], sent: str | None) -> bool:
    expected = cookies.get(CSRF_COOKIE)
    return bool(expected) and bool(sent) and hmac.compare_digest(str(expected), str(sent))


def secure_cookie(scheme: str, host: str, forwarded_proto: str | None) -> bool:
    """Mark cookies Secure where the browser keeps them: HTTPS (also behind a proxy) or a loopback host."""
    if scheme == "https" or (forwarded_proto or "").split(",")[0].strip() == "https":
        return True
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return hostname in LOOPBACK


def console_authorization(headers: Mapping[str, str]) -> str | None:
    """``Bearer <token>`` for a "Try it" call from the console (session cookie + echoed CSRF header), else None.

    What the data plane accepts in place of an Authorization header, so the
    browser can call an endpoint's REST route without the page ever seeing the token.
    """
    raw = headers.get("cookie")
    sent = headers.get(CSRF_HEADER)
    if not raw or not sent:
        return None
    cookies = parse_cookies(raw)
    secret = cookies.get(SESSION_COOKIE)
    if not secret or not csrf_ok(cookies, sent):
        return None
    return f"Bearer {secret}"


def parse_cookies(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in out:
            out[name] = value.strip().strip('"')
    return out
