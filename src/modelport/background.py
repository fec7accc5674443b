"""A server in the background: started detached, waited for, stopped.

``modelport server --detach`` binds the port itself (so a port in use is an
error before anything starts, and nothing else can take the port while the
server starts), runs ``modelport server`` on that socket as a process of its
own (a new session, output to a log file), returns once the server answers
its health route, and records the process in ``<home>/run/server-PORT.json``;
``modelport server --stop`` reads that record, sends SIGTERM (the graceful
stop) and waits until the process is gone.  :func:`wait_ready` is also
``modelport wait-ready URL``, for a server started any other way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from modelport.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from modelport.processes import process_alive
from modelport.settings import Settings

HEALTH_ROUTE = "/ping"  # 200 once a worker has loaded every endpoint (in `modelport serve NAME`: that one)


@dataclass(frozen=True)
class Detached:
    """A server started with ``--detach``."""

    pid: int
    url: str
    port: int
    log: str


def base_url(url: str) -> str:
    """``localhost:8080`` → ``http://localhost:8080`` (no trailing slash)."""
    url = url.strip().rstrip("/")
    if not url:
        raise InvalidArgument("empty URL")
    return url if "://" in url else f"http://{url}"


def wait_ready(
    url: str,
    timeout: float = 30.0,
    *,
    interval: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    alive: Callable[[], bool] | None = None,
) -> float:
    """Poll ``GET url/ping`` until it answers 200; the seconds waited.

    Unavailable after ``timeout`` seconds, naming the last thing seen
    (connection refused, a status); ``alive`` returning False (a process that
    exited) stops the wait early with the same error.
    """
    target = base_url(url) + HEALTH_ROUTE
    start = clock()
    last = "no answer"
    with httpx.Client(timeout=max(min(interval * 10, 2.0), 0.5)) as client:
        while True:
            try:
                status = client.get(target).status_code
                if status == 200:
                    return clock() - start
                last = f"GET {HEALTH_ROUTE} answered {status}"
            except httpx.InvalidURL as exc:
                raise InvalidArgument(f"invalid URL {url!r}: {exc}") from None
            except httpx.TransportError as exc:
                last = _reason(exc)
            if alive is not None and not alive():
                raise Unavailable(f"{base_url(url)} exited before it was ready")
            if clock() - start >= timeout:
                raise Unavailable(f"{base_url(url)} is not ready after {timeout:g} s ({last})")
            time.sleep(interval)


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _record_path(settings: Settings, port: int) -> Path:
    return settings.home / "run" / f"server-{port}.json"


def _local_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def start(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    log_file: Path | None = None,
    timeout: float = 60.0,
) -> Detached:
    """Start ``modelport server`` in the background and return once it answers (its errors are ours).

    ``port`` 0 takes a free port (the answer says which).
    """
    from modelport.server import listen

    listener = listen(host, port)  # here, so that whatever answers on the port is the server started below
    try:
        port = listener.getsockname()[1]
        record = _record_path(settings, port)
        log = (log_file or settings.home / "logs" / f"server-{port}.log").expanduser().resolve()
        record.parent.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings.to_env()}
        env.pop("MODELPORT_URL", None)  # the server serves this home; it is no client of another server
        env.pop("MODELPORT_TOKEN", None)
        fd = listener.fileno()
        command = [sys.executable, "-m", "modelport.cli.main", "server", "--host", host, "--port", str(port)]
        command += ["--workers", str(workers), "--listen-fd", str(fd)]
        with open(log, "ab") as out:
            offset = out.tell()
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                pass_fds=(fd,),
                start_new_session=True,
            )
    finally:
        listener.close()  # the server holds its own copy
    url = _local_url(host, port)
    try:
        wait_ready(url, timeout, alive=lambda: proc.poll() is None)
    except Unavailable:
        if proc.poll() is not None:
            raise FailedPrecondition(_failure(log, offset, proc.returncode)) from None
        _terminate(proc.pid, timeout=30)
        raise Unavailable(f"the server did not answer within {timeout:g} s, so it was stopped; its log: {log}") from None
    detached = Detached(pid=proc.pid, url=url, port=port, log=str(log))
    record.write_text(json.dumps(asdict(detached)))
    return detached


def _failure(log: Path, offset: int, code: int) -> str:
    """What a server that exited at start-up said: its ``error: …`` line, else the last line of its log."""
    with open(log, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    last = lines[-1] if lines else "no output"
    return f"the server exited with {code} before it was ready: {last} (log: {log})"


def stop(settings: Settings, *, port: int, timeout: float = 30.0) -> Detached:
    """Stop the server ``start`` left on ``port``: SIGTERM, then wait until the process is gone."""
    record = _record_path(settings, port)
    try:
        detached = Detached(**json.loads(record.read_text()))
    except FileNotFoundError:
        raise NotFound(f"no server was started with --detach on port {port} (no {record})") from None
    except (ValueError, TypeError):
        record.unlink(missing_ok=True)
        raise NotFound(f"no server was started with --detach on port {port} ({record} was unreadable)") from None
    if not _is_server(detached.pid):
        record.unlink(missing_ok=True)
        raise NotFound(f"the server started on port {port} (pid {detached.pid}) is no longer running")
    _terminate(detached.pid, timeout)
    record.unlink(missing_ok=True)
    return detached


def _is_server(pid: int) -> bool:
    """``pid`` runs (not a zombie) and, where /proc tells, is a modelport process (not a reused pid)."""
    if not process_alive(pid):
        return False
    try:
        return b"modelport" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path(f"/proc/{pid}").exists()  # no /proc here: trust the pid


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _is_server(pid):
        if time.monotonic() >= deadline:
            raise Unavailable(f"the server (pid {pid}) did not stop within {timeout:g} s of SIGTERM")
        time.sleep(0.05)
