"""Run the app on granian's RSGI interface (a bare app measured: RSGI ~45k req/s, ASGI ~31k, uvicorn ~14k).

The data-plane routes run natively on RSGI; the control API is the same
FastAPI (ASGI) app behind a bridge (:mod:`modelport.api.rsgi`).

Workers are separate processes that rebuild the settings from the
environment, so :func:`serve` exports them before starting granian.  SIGTERM
makes granian stop accepting, finish in-flight requests and run the app's
lifespan shutdown.

The server owns its port.  On Linux granian has each worker bind its own
socket with SO_REUSEPORT, which lets a second server on the same port join in
silently and share its connections.  So :func:`listen` binds one socket here,
without SO_REUSEPORT, before anything else starts (a port held by anyone is a
one-line error), and the workers inherit that socket and accept from it.
The price: connections go to whichever worker accepts first rather than
being hashed evenly across workers, so a burst of keep-alive connections can
land mostly on one worker.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from modelport import logs
from modelport.errors import FailedPrecondition, InvalidArgument
from modelport.services import Services
from modelport.settings import Settings

log = logging.getLogger("modelport.server")


def check_ready(settings: Settings) -> None:
    """Create a fresh schema, refuse a stale one (with the command that fixes it)."""
    services = Services.open(settings)
    try:
        if settings.serve_endpoint:
            services.endpoints.get(settings.serve_endpoint)
    finally:
        services.close()


def _event_loop(loops: Any) -> Any:
    """uvloop when installed (measured: ~1.6x the data plane's req/s over asyncio's loop).

    Chosen explicitly: granian's "auto" would prefer rloop if present, which
    measured worse here (p99 spikes above 100 ms under load).
    """
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return loops.asyncio
    return loops.uvloop


BACKLOG = 1024  # granian's default


def listen(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening socket on ``host:port`` that no other process can share.

    SO_REUSEADDR lets a restarted server bind while old connections linger in
    TIME_WAIT; without SO_REUSEPORT, a port anyone listens on (another
    modelport server included) is refused with EADDRINUSE.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidArgument(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    except OverflowError:
        raise InvalidArgument(f"invalid port {port}: ports are 0-65535") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise FailedPrecondition(f"port {port} is already in use") from None
        raise FailedPrecondition(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _granian_on(listener: socket.socket) -> type[Any]:
    """granian's process server, made to serve on ``listener`` (inherited by every worker) instead of binding.

    granian already works this way where SO_REUSEPORT is not used (its
    non-Linux path): the parent holds one socket and the workers accept from
    it.  ``_init_shared_socket`` is that step, and the only one replaced.  Should
    a granian release rename it, granian would bind a SO_REUSEPORT socket of
    its own, which ``listener`` refuses: the server fails to start, loudly,
    rather than sharing its port.
    """
    from granian._granian import SocketHolder
    from granian.server.mp import MPServer

    # SocketHolder(fd, is_unix_socket, backlog) is how granian itself rebuilds one (its pickling)
    holder = SocketHolder(listener.fileno(), False, BACKLOG)  # type: ignore[call-arg]

    class OwnedSocketServer(MPServer):  # type: ignore[misc]
        def _init_shared_socket(self) -> None:
            self._ssp: Any = None
            self._shd: Any = holder
            self._sfd: Any = listener.fileno()
            self._sso: Any = None  # the socket stays ours: serve() closes it, not granian

    return OwnedSocketServer


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    listener: socket.socket | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, on ``listener`` if given (a socket already bound, e.g. by ``--detach``)."""
    logs.configure(settings.log_level, access_log=settings.access_log)
    if listener is None:
        listener = listen(host, port)
    else:
        host, port = listener.getsockname()[:2]
    try:
        check_ready(settings)
        _run(settings, listener, host=host, port=port, workers=workers)
    finally:
        listener.close()


def _run(settings: Settings, listener: socket.socket, *, host: str, port: int, workers: int) -> None:
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    metrics_dir: Path | None = None
    if workers > 1:
        metrics_dir = Path(tempfile.mkdtemp(prefix="modelport-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        settings = settings.with_overrides(metrics_dir=metrics_dir)
    env = settings.to_env()
    env.pop("MODELPORT_URL", None)
    env.pop("MODELPORT_TOKEN", None)
    os.environ.update(env)
    try:
        _granian_on(listener)(
            "modelport.api.app:rsgi_app_from_env",
            address=host,
            port=port,
            interface=Interfaces.RSGI,  # measured: ~1.45x ASGI's req/s for a bare app on this granian
            workers=workers,
            factory=True,
            loop=_event_loop(Loops),
            log_access=False,  # modelport writes its own (modelport.api.access): with endpoint, variant, inference id
            log_level=LogLevels(settings.log_level),
            log_dictconfig=logs.granian_config(),
            respawn_failed_workers=True,
        ).serve()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
