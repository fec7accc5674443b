"""``modelport server`` (in the foreground, or detached and stopped again) and ``modelport wait-ready``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelport.cli.common import AccessLogOpt, HomeOpt, JsonOpt, LogLevelOpt, console, print_json, settings_for
from modelport.errors import InvalidArgument


def server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: LogLevelOpt = None,
    access_log: AccessLogOpt = None,
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Run in the background: return once it answers, print its URL, pid and log file."),
    ] = False,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the server started with --detach on --port (SIGTERM, then wait).")
    ] = False,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", help="With --detach: where its output goes (default HOME/logs/server-PORT.log).",
                     show_default=False),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="With --detach or --stop: seconds to wait for it.", min=0)
    ] = 60.0,
    listen_fd: Annotated[int | None, typer.Option("--listen-fd", hidden=True)] = None,  # set by --detach
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve the control API (/api/v1, /docs), every endpoint, /ping and /metrics."""
    if detach and stop:
        raise InvalidArgument("pass --detach or --stop, not both")
    settings = settings_for(home).with_overrides(log_level=log_level, access_log=access_log)
    if stop:
        from modelport import background

        stopped = background.stop(settings, port=port, timeout=timeout)
        if as_json:
            print_json({"stopped": True, "pid": stopped.pid, "url": stopped.url, "port": stopped.port})
        else:
            console.print(f"stopped the server on port {stopped.port} (pid {stopped.pid})", highlight=False)
        return
    if detach:
        from modelport import background

        started = background.start(settings, host=host, port=port, workers=workers, log_file=log_file, timeout=timeout)
        if as_json:
            print_json({"url": started.url, "pid": started.pid, "port": started.port, "log": started.log})
        else:
            console.print(f"modelport server ready at {started.url} (pid {started.pid}, log {started.log})",
                          highlight=False, soft_wrap=True)
            console.print(f"stop it with: modelport server --stop --port {started.port}", highlight=False)
        return
    if as_json:
        raise InvalidArgument("--json goes with --detach or --stop (a server in the foreground prints its log)")
    import socket

    from modelport.server import serve

    listener = socket.socket(fileno=listen_fd) if listen_fd is not None else None  # bound by `--detach`
    serve(settings, host=host, port=port, workers=workers, listener=listener)


def wait_ready(
    url: Annotated[
        str | None,
        typer.Argument(help="The server, e.g. http://127.0.0.1:8080 or localhost:8080 (default $MODELPORT_URL).",
                       show_default=False),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait before giving up.", min=0)] = 30.0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait until a modelport server answers GET /ping (exit 0), or fail after --timeout (exit 1)."""
    from modelport.background import base_url
    from modelport.background import wait_ready as wait

    url = url or settings_for(home).url
    if not url:
        raise InvalidArgument("pass the server's URL (or set MODELPORT_URL)")
    waited = wait(url, timeout)
    if as_json:
        print_json({"url": base_url(url), "ready": True, "waited_s": round(waited, 3)})
    else:
        console.print(f"{base_url(url)} is ready ({waited:.2f} s)", highlight=False)
