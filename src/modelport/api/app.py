"""The ASGI app factory: the only place (with the CLI root) that wires parts together."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport import __version__, logs
from modelport.api.access import AccessLog
from modelport.api.auth import authorize
from modelport.api.bodies import RequestLimits
from modelport.api.dataplane import DataPlaneApp
from modelport.api.errors import error_response, install_error_handlers, install_fallback_handler
from modelport.api.openapi import describe
from modelport.api.rsgi import RSGIApp
from modelport.errors import ModelportError
from modelport.metrics import Metrics, RunSnapshot
from modelport.services import Services
from modelport.serving.plane import Serving
from modelport.settings import Settings

log = logging.getLogger("modelport.server")


class MetricsMiddleware:
    """Counts requests and times them, labelled by route template (bounded cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = route_template(scope)
            method = scope["method"]
            self.metrics.http_requests.labels(method, template, str(status)).inc()
            self.metrics.http_latency.labels(method, template).observe(time.perf_counter() - start)


def route_template(scope: Scope) -> str:
    """The request path with its parameters put back as ``{name}`` (bounded label values)."""
    if "endpoint" not in scope:
        return "unmatched"
    parts = scope["path"].split("/")
    names = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    return "/".join(f"{{{names[p]}}}" if p in names else p for p in parts)


def create_app(
    settings: Settings | None = None, *, services: Services | None = None, single_endpoint: str | None = None
) -> ASGIApp:
    """Build the server app; ``services`` may be injected (tests), else opened from settings.

    ``single_endpoint`` serves one endpoint's data plane only (what a container
    runs): ``/ping`` reports that endpoint's readiness, ``/invocations`` calls it,
    and the control API is not mounted.
    """
    settings = settings or (services.settings if services else Settings.from_env())

    def latest_monitor_runs() -> list[RunSnapshot]:
        # the monitoring gauges of every worker come from the database (monitors run in one process)
        from modelport.monitoring.gauges import latest_runs

        svc: Services | None = getattr(app.state, "services", None)
        return [] if svc is None else latest_runs(svc.db)

    metrics = Metrics(settings.metrics_dir, monitor_runs=latest_monitor_runs)

    def async_backlog() -> Any:
        svc: Services | None = getattr(app.state, "services", None)
        if svc is None:
            return [], {}
        queue = svc.async_inference.queue
        return queue.backlog(), queue.workers()

    from modelport.async_inference.gauges import AsyncGauges

    metrics.add_collector(AsyncGauges(async_backlog))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        svc = services or Services.open(settings)
        app.state.services = svc
        await anyio.to_thread.run_sync(svc.artifacts.sweep_spool)  # what a kill -9 mid-upload left behind
        serving = Serving(svc, metrics, only=None if single_endpoint is None else [single_endpoint])
        app.state.dataplane = serving.dataplane
        await serving.start()
        scheduler = None
        if settings.monitor_scheduler and single_endpoint is None:
            from modelport.monitoring.scheduler import MonitorScheduler

            scheduler = MonitorScheduler(svc.monitors)
            scheduler.start()
        evaluator = None
        if single_endpoint is None:
            from modelport.experiments.evaluator import ExperimentEvaluator

            evaluator = ExperimentEvaluator(svc.experiments, interval_s=settings.experiment_interval_s)
            evaluator.start()
        async_worker = None
        if settings.async_worker:
            from modelport.async_inference.worker import AsyncWorker

            async_worker = AsyncWorker(svc.async_inference, endpoint=single_endpoint)
            async_worker.start()
        try:
            yield
        finally:
            if async_worker is not None:
                await anyio.to_thread.run_sync(async_worker.stop)
            if evaluator is not None:
                await anyio.to_thread.run_sync(evaluator.stop)
            if scheduler is not None:
                await anyio.to_thread.run_sync(scheduler.stop)
            await serving.stop()
            if owned:
                svc.close()

    app = FastAPI(
        title="modelport",
        version=__version__,
        description="Self-hosted ML deployment: registry, endpoints, batch, tuning, monitoring.",
        lifespan=lifespan,
        # served below, behind a read token: the schema lists every route
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.metrics = metrics
    if services is not None:
        app.state.services = services
    install_error_handlers(app)
    install_fallback_handler(app)
    if single_endpoint is None:
        # imported here: a container serving one endpoint mounts none of them (~0.2 s of its start-up)
        from modelport.api.routes import (
            artifacts,
            endpoints,
            experiments,
            feedback,
            jobs,
            models,
            monitors,
            sagemaker,
            tokens,
        )
        from modelport.api.routes import async_inference as async_routes
        from modelport.api.routes import tuning as tuning_routes

        for router in (
            models.router,
            artifacts.router,
            tokens.router,
            endpoints.router,
            feedback.router,
            jobs.router,
            monitors.router,
            experiments.router,
            tuning_routes.router,
            async_routes.router,
        ):
            app.include_router(router, prefix="/api/v1")
        app.include_router(sagemaker.router)  # POST / with X-Amz-Target: the SageMaker control plane
        from modelport.ui.routes import router as console

        app.include_router(console)

    @app.get("/ping", include_in_schema=False)
    def ping() -> Response:
        return Response(status_code=200)

    @app.get("/api/v1/info", tags=["server"])
    def info(request: Request) -> dict[str, Any]:
        svc: Services = request.app.state.services
        authorize(svc, request.headers.get("authorization"), None, "read")
        return {
            "name": "modelport",
            "version": __version__,
            "database": svc.db.display_url,
            "artifacts": svc.artifacts.root,
            "auth": svc.settings.auth,
        }

    def read_allowed(request: Request) -> Response | None:
        """None when the caller may read, else the 401/403 answer."""
        try:
            authorize(request.app.state.services, request.headers.get("authorization"), None, "read")
        except ModelportError as exc:
            return error_response(exc.code, exc.message)
        return None

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> Response:
        return read_allowed(request) or JSONResponse(app.openapi())

    app.openapi = lambda: describe(app)  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        return read_allowed(request) or get_swagger_ui_html(openapi_url="/openapi.json", title="modelport")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> Response:
        return read_allowed(request) or get_redoc_html(openapi_url="/openapi.json", title="modelport")

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        return read_allowed(request) or Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(RequestLimits, limit=settings.max_api_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts the 413s too
    return DataPlaneApp(app, app.state, single_endpoint=single_endpoint)


def app_from_env() -> ASGIApp:
    """Factory for server worker processes: settings come from MODELPORT_* variables."""
    settings = Settings.from_env()
    logs.configure(settings.log_level, access_log=settings.access_log)
    return create_app(settings, single_endpoint=settings.serve_endpoint)


def rsgi_app_from_env() -> RSGIApp:
    """The same app for granian's RSGI interface (what ``modelport server`` runs), with its access log."""
    app = app_from_env()
    assert isinstance(app, DataPlaneApp)
    return RSGIApp(app, AccessLog.if_enabled())
