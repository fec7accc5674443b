"""``modelport server``: the control API (and, later, every endpoint) over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from modelport.cli.common import AccessLogOpt, HomeOpt, LogLevelOpt, settings_for


def server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: LogLevelOpt = None,
    access_log: AccessLogOpt = None,
    home: HomeOpt = None,
) -> None:
    """Serve the control API (/api/v1, /docs), /ping and /metrics."""
    from modelport.server import serve

    settings = settings_for(home).with_overrides(log_level=log_level, access_log=access_log)
    serve(settings, host=host, port=port, workers=workers)
