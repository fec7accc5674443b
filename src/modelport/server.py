"""Run the app on granian's RSGI interface (a bare app measured: RSGI ~45k req/s, ASGI ~31k, uvicorn ~14k).

The data-plane routes run natively on RSGI; the control API is the same
FastAPI (ASGI) app behind a bridge (:mod:`modelport.api.rsgi`).

Workers are separate processes that rebuild the settings from the
environment, so :func:`serve` exports them before starting granian.  SIGTERM
makes granian stop accepting, finish in-flight requests and run the app's
lifespan shutdown.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

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


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    check_ready(settings)
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
        Granian(
            "modelport.api.app:rsgi_app_from_env",
            address=host,
            port=port,
            interface=Interfaces.RSGI,  # measured: ~1.45x ASGI's req/s for a bare app on this granian
            workers=workers,
            factory=True,
            loop=_event_loop(Loops),
            log_access=False,
            respawn_failed_workers=True,
        ).serve()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
