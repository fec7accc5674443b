"""The console's frame: the router, templates, sections, login, static files, and the page/action wrappers.

Pages are plain (sync) route functions: FastAPI runs them on its thread pool,
so reading the database for a page never holds the event loop that serves
predictions. ``@page`` turns "not logged in" into the login page, a missing
thing into the 404 page, a bad parameter into a one-line message; ``@action``
additionally checks the CSRF echo and the admin scope.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import anyio
from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from modelport import __version__
from modelport.api.auth import auth_enabled
from modelport.errors import ModelportError, NotFound, PermissionDenied
from modelport.services import Services
from modelport.ui import session
from modelport.ui.session import LoginNeeded, Viewer

log = logging.getLogger("modelport.ui")

router = APIRouter(prefix="/ui", include_in_schema=False)

templates = Environment(
    loader=PackageLoader("modelport.ui", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def brief(detail: Any) -> str:
    """An event's detail in a line: ``key: value`` pairs, the spec left out (it is on the page already)."""
    if not isinstance(detail, dict):
        return str(detail)
    parts = []
    for key, value in detail.items():
        if key == "spec":
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        parts.append(f"{key}: {text}")
    return "; ".join(parts)


templates.filters["brief"] = brief


@dataclass(frozen=True)
class Section:
    """A top-level page of the console."""

    title: str
    path: str


SECTIONS: tuple[Section, ...] = (
    Section("Models", "/ui/models"),
    Section("Endpoints", "/ui/endpoints"),
    Section("Monitoring", "/ui/monitoring"),
    Section("Experiments", "/ui/experiments"),
    Section("Tuning", "/ui/tuning"),
    Section("Jobs", "/ui/jobs"),
)


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def viewer_of(request: Request) -> Viewer:
    return session.viewer(services_of(request), request.cookies)


def render(request: Request, template: str, status_code: int = 200, viewer: Viewer | None = None, **context: Any) -> HTMLResponse:
    html = templates.get_template(template).render(
        request=request,
        viewer=viewer,
        sections=SECTIONS,
        path=request.url.path,
        version=__version__,
        message=request.query_params.get("msg"),
        error=request.query_params.get("error"),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


#: no inline scripts, nothing from elsewhere: the console works offline and an injected <script> does not run
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def to_login(request: Request, message: str = "") -> Response:
    query = {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
    if message:
        query["error"] = message
    response = RedirectResponse(f"/ui/login?{urlencode(query)}", status_code=303)
    if message:  # the cookie holds a token that no longer works
        response.delete_cookie(session.SESSION_COOKIE, path="/")
    return response


def not_found(request: Request, message: str, viewer: Viewer | None = None) -> HTMLResponse:
    return render(request, "404.html", status_code=404, viewer=viewer, what=message)


def page(fn: Callable[..., Response]) -> Callable[..., Response]:
    """A console page: logged-in viewer passed as ``viewer``; NotFound → 404 page; other errors → a message."""

    @functools.wraps(fn)
    def wrapper(request: Request, **params: Any) -> Response:
        started = time.perf_counter()
        try:
            viewer = viewer_of(request)
        except LoginNeeded as exc:
            return to_login(request, exc.message)
        fresh = not viewer.csrf  # no login set it (auth off, or cookies cleared): this page does
        if fresh:
            viewer = dataclasses.replace(viewer, csrf=session.new_csrf())
        try:
            response = fn(request, viewer=viewer, **params)
        except NotFound as exc:
            response = not_found(request, exc.message, viewer)
        except ModelportError as exc:
            response = render(request, "error.html", status_code=400, viewer=viewer, what=exc.message)
        if fresh:
            _set_cookie(request, response, session.CSRF_COOKIE, viewer.csrf)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    # FastAPI reads the parameters it passes from the signature: request and the path parameters only
    wrapper.__signature__ = _without_viewer(fn)  # type: ignore[attr-defined]
    return wrapper


def _without_viewer(fn: Callable[..., Any]) -> Any:
    import inspect

    sig = inspect.signature(fn)
    return sig.replace(parameters=[p for name, p in sig.parameters.items() if name != "viewer"])


def action(fn: Callable[..., tuple[str, str]]) -> Callable[..., Any]:
    """A console action (POST, form-encoded): CSRF echo and admin scope checked, run off the event loop, then a
    redirect to the URL it returns (with ``msg``), or back with the error."""

    async def wrapper(request: Request, **params: Any) -> Response:
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        back = _local(form.get("back") or request.headers.get("referer") or "/ui")

        def run() -> Response:
            try:
                viewer = viewer_of(request)
            except LoginNeeded as exc:
                return to_login(request, exc.message)
            if not session.csrf_ok(request.cookies, form.get(session.CSRF_FIELD)):
                return render(request, "error.html", status_code=403, viewer=viewer, what="the form is stale (CSRF check failed): reload the page and try again")
            if not viewer.admin:
                return render(request, "error.html", status_code=403, viewer=viewer, what=f"token {viewer.name!r} may only look: changing things needs an admin token")
            try:
                where, note = fn(request, viewer=viewer, form=form, **params)
            except NotFound as exc:
                return not_found(request, exc.message, viewer)
            except (ModelportError, ValueError) as exc:
                text = exc.message if isinstance(exc, ModelportError) else str(exc)
                return RedirectResponse(_with(back, error=text), status_code=303)
            return RedirectResponse(_with(where, msg=note), status_code=303)

        return await anyio.to_thread.run_sync(run)

    wrapper.__name__ = fn.__name__
    wrapper.__signature__ = _action_signature(fn)  # type: ignore[attr-defined]
    return wrapper


def _action_signature(fn: Callable[..., Any]) -> Any:
    import inspect

    sig = inspect.signature(fn)
    return sig.replace(parameters=[p for name, p in sig.parameters.items() if name not in ("viewer", "form")])


def _local(url: str) -> str:
    """Only console paths on this server (no open redirect)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/ui") else "/ui"
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith(("msg=", "error=")))
    return path + (f"?{query}" if query else "")


def _with(url: str, **extra: str) -> str:
    url = _local(url)
    sep = "&" if "?" in url else "?"
    return url + sep + urlencode(extra)


# -- login ----------------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request) -> Response:
    services = services_of(request)
    if not auth_enabled(services):
        return RedirectResponse("/ui", status_code=303)
    csrf = request.cookies.get(session.CSRF_COOKIE) or session.new_csrf()
    response = render(request, "login.html", next=_local(request.query_params.get("next") or "/ui"), csrf=csrf)
    _set_cookie(request, response, session.CSRF_COOKIE, csrf)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    services = services_of(request)
    nxt = _local(form.get("next") or "/ui")
    if not session.csrf_ok(request.cookies, form.get(session.CSRF_FIELD)):
        return RedirectResponse(f"/ui/login?{urlencode({'next': nxt, 'error': 'the login form is stale: try again'})}", status_code=303)
    secret = (form.get("token") or "").strip()
    try:
        if not secret:
            raise LoginNeeded("enter a token")
        await anyio.to_thread.run_sync(session.check_token, services, secret)
    except LoginNeeded as exc:
        return RedirectResponse(f"/ui/login?{urlencode({'next': nxt, 'error': exc.message})}", status_code=303)
    response = RedirectResponse(nxt, status_code=303)
    _set_cookie(request, response, session.SESSION_COOKIE, secret)
    _set_cookie(request, response, session.CSRF_COOKIE, session.new_csrf())  # a fresh value per login
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    if not session.csrf_ok(request.cookies, form.get(session.CSRF_FIELD)):
        raise PermissionDenied("the form is stale (CSRF check failed): reload the page")
    response = RedirectResponse("/ui/login?msg=" + quote("logged out"), status_code=303)
    response.delete_cookie(session.SESSION_COOKIE, path="/")
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=session.MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=session.secure_cookie(request.url.scheme, request.headers.get("host", ""), request.headers.get("x-forwarded-proto")),
    )


# -- static files ---------------------------------------------------------------------------------

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".txt": "text/plain; charset=utf-8"}


@functools.cache
def _static_files() -> dict[str, bytes]:
    """The console's static files, read once (a cache keyed by the requested name grew with every unknown URL)."""
    folder = resources.files("modelport.ui") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")}


def _static(name: str) -> bytes | None:
    return _static_files().get(name)


@router.get("/static/{name}")
def static(name: str) -> Response:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    body = _static(name) if suffix in STATIC_TYPES else None
    if body is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        body,
        media_type=STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def json_response(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})
